"""``GET /metrics``: Prometheus metrics, read from the state helpline keeps anyway.

Most figures are read at scrape time by :class:`HelplineCollector` from the counters the components already keep
(each PBX connection and listener, the SLA scheduler, the alert dispatcher, the live broker) and, for figures only
the database knows (the outbox by channel and status, the age of the last good directory sync), from two small
aggregate queries made per scrape (at most every ``DB_CACHE_SECONDS``, bounded by ``DB_TIMEOUT``). What no
component counts is counted here, off the hot path: call and SLA domain events (published after their transaction
commits, so a rolled-back burst is never counted), caller lookups by result (a wrapper around the intake's lookup),
and HTTP requests (a pure ASGI middleware labelling by route template, never by raw path).

Each app has its own :class:`CollectorRegistry`, so several apps in one process (tests) do not clash. Counters are
per process: with several instances, sum them in Prometheus. docs/monitoring.md lists every metric.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from directory import CallerNumber
from tickets.calls.callers import CallerLookup, CallerMatch
from tickets.events import CallEndedEvent, CallOfferedEvent, DomainEvent, SlaBreached, SlaWarning
from web.settings import WebSettings
from web.version import VERSION

if TYPE_CHECKING:
    from web.runtime import Runtime

log = logging.getLogger(__name__)
PATH = "/metrics"
#: Database figures are reused for this long (several Prometheus servers scraping do not multiply the queries).
DB_CACHE_SECONDS = 10.0
DB_TIMEOUT = 2.0
#: Queue wait buckets, seconds (a help line answers in seconds to a few minutes).
WAIT_BUCKETS = (5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "(unmatched)"


class Metrics:
    """The app's registry and the metrics counted as things happen (the rest is read at scrape time)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        #: Reads the runtime's components at scrape time (:func:`install`).
        self.collector: HelplineCollector | None = None
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


# -- read at scrape time -----------------------------------------------------------------------------------------

#: PBX connection counters -> (metric name, help).
PBX_COUNTERS = {
    "logins": ("helpline_ami_logins", "Successful AMI logins"),
    "reconnects": ("helpline_ami_reconnects", "Successful AMI logins after the first (reconnections)"),
    "connect_failures": ("helpline_ami_connect_failures", "AMI connection attempts that did not reach a login"),
    "auth_failures": ("helpline_ami_auth_failures", "AMI logins refused by the PBX (username/secret)"),
    "bytes_received": ("helpline_ami_received_bytes", "Bytes read from the AMI connection"),
    "events_received": ("helpline_ami_events_received", "AMI events parsed (delivered or dropped)"),
    "events_ignored": ("helpline_ami_events_ignored", "AMI events helpline does not use, skipped unparsed"),
    "dropped_events": ("helpline_ami_events_dropped", "AMI events lost because the queue was full (a resync follows)"),
    "malformed_frames": ("helpline_ami_malformed_frames", "AMI frames without Event/Response, dropped"),
    "oversized_frames": ("helpline_ami_oversized_frames", "AMI frames over the size limit, dropped"),
    "invalid_utf8": ("helpline_ami_invalid_utf8", "AMI frames with undecodable bytes (replaced)"),
    "facts_applied": ("helpline_pbx_facts_applied", "Call facts recorded in the database"),
    "fact_retries": ("helpline_pbx_fact_retries", "Call fact recordings retried while the database was away"),
    "facts_failed": ("helpline_pbx_facts_failed", "Call facts dropped because recording them hit an error"),
    "bad_events": ("helpline_pbx_bad_events", "AMI events the call tracker could not read (skipped)"),
    "resyncs": ("helpline_pbx_resyncs", "Resynchronisations with the PBX (after each login, after drops)"),
    "resync_failures": ("helpline_pbx_resync_failures", "Resynchronisations that failed"),
}
STATES = ("connecting", "connected", "auth_failed", "disconnected", "closed")


@dataclass
class DatabaseFigures:
    """What only the database knows, as of ``at``."""

    ok: bool = False
    at: float = 0.0
    deliveries: dict[tuple[str, str], int] = field(default_factory=dict)
    directory_synced_at: float | None = None
    directory_last_ok: bool | None = None


class HelplineCollector(Collector):
    """Reads the runtime's components when Prometheus scrapes."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.figures = DatabaseFigures()
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Re-read the database figures if they are older than ``DB_CACHE_SECONDS``."""
        async with self._lock:
            if time.monotonic() - self.figures.at < DB_CACHE_SECONDS:
                return
            try:
                self.figures = await asyncio.wait_for(self._read_database(), DB_TIMEOUT)
            except Exception as exc:  # the database is away: report it, keep serving the rest
                log.warning("metrics: cannot read the database figures: %s: %s", type(exc).__name__, exc)
                self.figures = DatabaseFigures(ok=False, at=time.monotonic())

    async def _read_database(self) -> DatabaseFigures:
        from tortoise.functions import Count

        from notify.models import Delivery
        from tickets.calls.caller_index import sync_state

        rows = await Delivery.annotate(n=Count("id")).group_by("channel", "status").values("channel", "status", "n")
        figures = DatabaseFigures(
            ok=True,
            at=time.monotonic(),
            deliveries={(r["channel"], str(getattr(r["status"], "value", r["status"]))): r["n"] for r in rows},
        )
        if self.runtime.directory is not None:
            state = await sync_state()
            if state.last_ok is not None:
                figures.directory_synced_at = state.last_ok.finished_at.timestamp()
            figures.directory_last_ok = state.last.ok if state.last is not None else None
        return figures

    def collect(self) -> Iterator[Metric]:
        yield from self._pbx()
        yield from self._background()
        yield from self._database()

    def _pbx(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("helpline_ami_up", "1 while logged in to the PBX's AMI", labels=["pbx"])
        state = GaugeMetricFamily(
            "helpline_ami_state", "The AMI connection's state (1 for the current one)", labels=["pbx", "state"]
        )
        queued = GaugeMetricFamily("helpline_ami_queue_events", "AMI events waiting to be processed", labels=["pbx"])
        live = GaugeMetricFamily("helpline_pbx_live_calls", "Calls being followed now", labels=["pbx"])
        counters = {key: CounterMetricFamily(name, text, labels=["pbx"]) for key, (name, text) in PBX_COUNTERS.items()}
        for name, listener in dict(self.runtime.pbx).items():
            status = listener.status()
            up.add_metric([name], 1.0 if status.get("ready") else 0.0)
            for s in STATES:
                state.add_metric([name, s], 1.0 if status.get("state") == s else 0.0)
            queued.add_metric([name], float(status.get("queue_size") or 0))
            live.add_metric([name], float(status.get("live_calls") or 0))
            for key, family in counters.items():
                family.add_metric([name], float(status.get(key) or 0))
        yield from (up, state, queued, live, *counters.values())

    def _background(self) -> Iterator[Metric]:
        scheduler = self.runtime.scheduler
        fired = CounterMetricFamily("helpline_sla_events_fired", "SLA warnings and breaches this process fired")
        fired.add_metric([], float(getattr(scheduler, "fired", 0) or 0))
        yield fired
        intake = self.runtime.intake
        national = CounterMetricFamily(
            "helpline_calls_unnormalised_national_numbers",
            "Calls from numbers without +<country code> while [directory] default_region is not set (this process)",
        )
        national.add_metric([], float(intake.national_without_region))
        yield national
        notify = self.runtime.alerting
        if notify is not None:
            c = notify.dispatcher.counters
            for key, text in (
                ("sent", "Alert messages sent"),
                ("retried", "Alert sends that failed and will be retried"),
                ("failed", "Alert sends that failed for good"),
                ("recovered", "Interrupted sends found at the provider (not sent again)"),
            ):
                family = CounterMetricFamily(f"helpline_notify_{key}", f"{text} (this process)")
                family.add_metric([], float(getattr(c, key)))
                yield family
            forged = CounterMetricFamily(
                "helpline_webhooks_forged", "Webhook requests refused for a bad signature", labels=["provider"]
            )
            for provider, n in self.runtime.webhook_stats.forged().items():
                forged.add_metric([provider], float(n))
            yield forged
        refused = CounterMetricFamily(
            "helpline_webhooks_refused",
            "Webhook requests refused, by endpoint and reason "
            "(forged, replayed, stale, malformed, unknown sender or message)",
            labels=["source", "reason"],
        )
        for (source, reason), n in sorted(self.runtime.webhook_stats.rejected.items()):
            refused.add_metric([source, reason], float(n))
        yield refused
        broker = self.runtime.live
        subscribers = GaugeMetricFamily(
            "helpline_live_subscribers", "Clients following the live event stream (GET /api/v1/events) on this process"
        )
        subscribers.add_metric([], float(len(getattr(broker, "subscribers", ()) or ())))
        yield subscribers
        streams = self.runtime.streams  # web/live/open_streams.py
        limit = GaugeMetricFamily(
            "helpline_live_streams_limit",
            "Event streams this process serves at most ([live] max_streams, or from the open-file limit)",
        )
        limit.add_metric([], float(streams.per_process))
        yield limit
        refused = CounterMetricFamily(
            "helpline_live_streams_refused",
            "Event streams refused at a cap (agent_cap: 429, process_cap: 503)",
            labels=["reason"],
        )
        for reason in ("agent_cap", "process_cap"):
            refused.add_metric([reason], float(streams.refused[reason]))
        yield refused
        closed = CounterMetricFamily(
            "helpline_live_streams_ended",
            "Event streams ended because their "
            "credentials did (token revoked, logged out, deactivated, role changed...)",
            labels=["reason"],
        )
        for reason, n in sorted(streams.closed.items()):
            closed.add_metric([reason], float(n))
        yield closed
        info = GaugeMetricFamily("helpline_build_info", "helpline's version (always 1)", labels=["version"])
        info.add_metric([VERSION], 1.0)
        yield info

    def _database(self) -> Iterator[Metric]:
        f = self.figures
        ok = GaugeMetricFamily("helpline_metrics_database_up", "1 if the last read of the database figures worked")
        ok.add_metric([], 1.0 if f.ok else 0.0)
        yield ok
        if not f.ok:
            return
        deliveries = GaugeMetricFamily(
            "helpline_deliveries",
            "Alert deliveries in the outbox (all instances), by channel and status",
            labels=["channel", "status"],
        )
        for (channel, status), n in sorted(f.deliveries.items()):
            deliveries.add_metric([channel, status], float(n))
        yield deliveries
        if self.runtime.directory is not None:
            age = GaugeMetricFamily(
                "helpline_directory_sync_age_seconds",
                "Seconds since the last good directory sync finished (absent: never synced)",
            )
            if f.directory_synced_at is not None:
                age.add_metric([], max(0.0, time.time() - f.directory_synced_at))
            yield age
            last = GaugeMetricFamily("helpline_directory_last_sync_ok", "1 if the latest directory sync worked")
            if f.directory_last_ok is not None:
                last.add_metric([], 1.0 if f.directory_last_ok else 0.0)
            yield last


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


# -- the endpoint ------------------------------------------------------------------------------------------------


def allowed(request: Request, web: WebSettings) -> bool:
    """``[web] metrics_token`` (Bearer) and ``metrics_allow`` (client networks), when set."""
    if web.metrics_allow:
        host = request.client.host if request.client else ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if not any(address in ipaddress.ip_network(net, strict=False) for net in web.metrics_allow):
            return False
    if web.metrics_token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = web.metrics_token.get_secret_value()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
            return False
    return True


async def metrics_endpoint(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    if not allowed(request, runtime.settings.web):
        return PlainTextResponse("metrics: not allowed (see [web] metrics_token / metrics_allow)\n", status_code=403)
    collector = runtime.metrics.collector
    if collector is not None:
        await collector.refresh()
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def routes() -> list[Route]:
    return [Route(PATH, metrics_endpoint, methods=["GET"])]


def install(runtime: Runtime) -> HelplineCollector:
    """Register the scrape-time collector of ``runtime`` in its metrics' registry."""
    collector = HelplineCollector(runtime)
    runtime.metrics.registry.register(collector)
    runtime.metrics.collector = collector
    return collector
