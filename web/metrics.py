"""Prometheus metrics counted as things happen: calls and SLA events (from their domain events, after the commit, so
a rolled-back burst is never counted), caller lookups by result (a wrapper around the intake's lookup), and HTTP
requests (a pure ASGI middleware labelling by route template, never by raw path). The rest is read at scrape time
(:mod:`web.runtime.metrics`) and served at ``GET /metrics`` (:mod:`web.resources.metrics`).

Each runtime has its own :class:`CollectorRegistry`, so several apps in one process (tests) do not clash. Counters are
per process: with several instances, sum them in Prometheus. docs/monitoring.md lists every metric.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from directory import CallerNumber
from tickets.calls.callers import CallerLookup, CallerMatch
from tickets.events import CallEndedEvent, CallOfferedEvent, DomainEvent, SlaBreached, SlaWarning

log = logging.getLogger(__name__)
PATH = "/metrics"
#: Queue wait buckets, seconds (a help line answers in seconds to a few minutes).
WAIT_BUCKETS = (5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "(unmatched)"


class Metrics:
    """The app's registry and the metrics counted as things happen (the rest is read at scrape time)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls_offered = Counter(
            "helpline_calls_offered",
            "Calls that reached the IT line, by PBX and what "
            "happened to their ticket (opened: a new ticket; linked: the caller's open "
            "ticket)",
            ["pbx", "ticket"],
            registry=r,
        )
        self.calls_ended = Counter(
            "helpline_calls_ended", "Calls that ended, by PBX and outcome", ["pbx", "outcome"], registry=r
        )
        self.queue_wait = Histogram(
            "helpline_call_wait_seconds",
            "How long ended calls waited in the queue, by PBX and outcome",
            ["pbx", "outcome"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.sla_warnings = Counter("helpline_sla_warnings", "SLA warnings fired, by metric", ["metric"], registry=r)
        self.sla_breaches = Counter("helpline_sla_breaches", "SLA breaches fired, by metric", ["metric"], registry=r)
        self.lookups = Counter(
            "helpline_caller_lookups",
            "Caller lookups of incoming calls, by result (unique, "
            "ambiguous, none, unavailable) and whether the index was stale",
            ["status", "stale"],
            registry=r,
        )
        self.http_requests = Counter(
            "helpline_http_requests",
            "HTTP requests, by method, route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "helpline_http_request_duration_seconds",
            "Time from the request to the response headers, by method and route template",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )

    def on_event(self, event: DomainEvent) -> None:
        """A domain event was published (after its commit): count it. Never raises."""
        try:
            if isinstance(event, CallOfferedEvent):
                self.calls_offered.labels(event.pbx, "opened" if event.opened_ticket else "linked").inc()
            elif isinstance(event, CallEndedEvent):
                outcome = event.outcome or "unknown"
                self.calls_ended.labels(event.pbx, outcome).inc()
                if event.wait_seconds is not None:
                    self.queue_wait.labels(event.pbx, outcome).observe(event.wait_seconds)
            elif isinstance(event, SlaWarning):
                self.sla_warnings.labels(event.metric).inc()
            elif isinstance(event, SlaBreached):
                self.sla_breaches.labels(event.metric).inc()
        except Exception:  # metrics must never break a publisher
            log.exception("metrics: could not count %s", type(event).__name__)

    def counting(self, lookup: CallerLookup) -> CallerLookup:
        """``lookup``, counting its answers by status."""
        return CountingLookup(lookup, self.lookups)


@dataclass
class CountingLookup:
    """A caller lookup that counts its answers (a failure is counted as ``error`` and raised again)."""

    inner: CallerLookup
    counter: Counter

    async def lookup(self, number: CallerNumber) -> CallerMatch:
        try:
            match = await self.inner.lookup(number)
        except Exception:
            self.counter.labels("error", "false").inc()
            raise
        self.counter.labels(match.status.value, "true" if match.stale else "false").inc()
        return match

    def __getattr__(self, name: str) -> Any:  # invalidate(), state() ... of the wrapped lookup
        return getattr(self.inner, name)


# -- HTTP --------------------------------------------------------------------------------------------------------


class HttpMetricsMiddleware:
    """Counts requests and times them to the response headers, labelled by route template (``/api/v1/tickets/{id}``).
    Unknown paths share one label, so scanners cannot blow up the number of series."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
                self.metrics.http_duration.labels(scope["method"], route_template(scope)).observe(
                    time.perf_counter() - started
                )
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.metrics.http_requests.labels(scope["method"], route_template(scope), str(status["code"])).inc()


def route_template(scope: Scope) -> str:
    """The path template of the route ``scope`` went to (the router records it in the scope), or ``(unmatched)``."""
    route = scope.get("route")
    return str(getattr(route, "path", "") or UNMATCHED)
