"""What /metrics reads at scrape time from the process's parts: each PBX connection and listener, the SLA scheduler,
the alert dispatcher, the live broker, the stream caps, webhook refusals; and two small aggregate queries only the
database answers (the outbox by channel and status, the last directory sync), at most every ``DB_CACHE_SECONDS``,
bounded by ``DB_TIMEOUT``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tickets.calls.intake import CallIntake
from tickets.sla.scheduler import SlaScheduler
from web.http.webhook_guard import WebhookStats
from web.live.broker import Broker
from web.live.open_streams import OpenStreams
from web.runtime.directory import DirectoryService
from web.runtime.notify import NotifyRuntime
from web.runtime.telephony import PbxListener
from web.version import VERSION

log = logging.getLogger(__name__)
#: Database figures are reused for this long (several Prometheus servers scraping do not multiply the queries).
DB_CACHE_SECONDS = 10.0
DB_TIMEOUT = 2.0


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


@dataclass(eq=False)
class Observed:
    """The parts the collector reads (``pbx`` fills in as the listeners start)."""

    pbx: Mapping[str, PbxListener]
    scheduler: SlaScheduler
    intake: CallIntake
    alerting: NotifyRuntime | None
    directory: DirectoryService | None
    live: Broker
    streams: OpenStreams
    webhook_stats: WebhookStats


class HelplineCollector(Collector):
    """Reads the process's parts when Prometheus scrapes."""

    def __init__(self, observed: Observed) -> None:
        self.runtime = observed
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
