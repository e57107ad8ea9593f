"""The composition root: one typed :class:`Runtime` built from the settings, and its start and stop.

:func:`build_runtime` makes every part of the process and connects them, once: the event bus and the services that
publish to it, the subscription table (:mod:`web.runtime.subscriptions`: who hears which domain event), alerting,
the directory, the live broker, the shared security state. Nothing is rewired afterwards. The app's lifespan calls
:meth:`Runtime.start` and :meth:`Runtime.stop` (what needs the running event loop and the database is made there:
the PBX listeners, the provider clients, the background loops); every CLI command builds the same runtime and uses
the parts it needs.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from tickets.agent_service import AgentService
from tickets.calls.aliases import AliasService
from tickets.calls.callers import PeopleByPhone
from tickets.calls.intake import CallIntake, IntakeSettings
from tickets.canned import CannedResponses
from tickets.events import EventBus
from tickets.merge import TicketLinks
from tickets.models import Level
from tickets.person_service import PersonService
from tickets.priority import PriorityMatrix
from tickets.sla.clocks import SlaEngine
from tickets.sla.scheduler import SlaScheduler
from tickets.ticket_service import NumberingPolicy, TicketService
from web.auth.authorise import Authoriser
from web.auth.sessions import LoginLimiter, SessionManager
from web.http.shared_marks import MarkPurger, SharedMarks
from web.http.webhook_guard import WebhookStats
from web.live.broker import Broker
from web.live.credential_watch import CredentialWatch
from web.live.open_streams import OpenStreams, default_max_streams
from web.live.phones import PhonePublisher
from web.live.queues import QueueStatsPublisher
from web.metrics import Metrics
from web.runtime import db
from web.runtime.directory import DirectoryService
from web.runtime.live import build_broker
from web.runtime.metrics import HelplineCollector, Observed
from web.runtime.notify import NotifyRuntime
from web.runtime.subscriptions import sla_handlers, subscribe_all
from web.runtime.telephony import PbxListener, start_listeners, stop_listeners
from web.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Every part of a running helpline process, connected."""

    settings: Settings
    bus: EventBus
    tickets: TicketService
    #: merging duplicates, parent and child tickets
    links: TicketLinks
    canned: CannedResponses
    agents: AgentService
    people: PersonService
    #: Local aliases ("this number is ..."), read with the site's number policy.
    aliases: AliasService
    intake: CallIntake
    sla: SlaEngine
    scheduler: SlaScheduler
    metrics: Metrics
    #: What /metrics reads at scrape time (registered in ``metrics``' registry).
    collector: HelplineCollector
    live: Broker
    streams: OpenStreams
    marks: SharedMarks
    sessions: SessionManager
    login_limiter: LoginLimiter
    #: Who a request comes from (tokens, sessions) and whether their role may.
    auth: Authoriser
    directory: DirectoryService | None
    alerting: NotifyRuntime | None
    #: Each ``[[pbx]]``'s listener, by name, once started (they bind to the running event loop).
    pbx: dict[str, PbxListener] = field(default_factory=dict)
    #: Webhook requests refused (forged, replayed, malformed...), by source and reason (this process).
    webhook_stats: WebhookStats = field(default_factory=WebhookStats)
    #: Each PBX's queue board, published to the console as it changes.
    queue_stats: list[QueueStatsPublisher] = field(default_factory=list)
    #: Each PBX's phone board and AMI link, published to the console as they change.
    phone_states: list[PhonePublisher] = field(default_factory=list)
    purger: MarkPurger | None = None
    credential_watch: CredentialWatch | None = None

    async def start(self) -> None:
        """Start everything, on a database that is open (the lifespan's ``RegisterTortoise``)."""
        await db.prepare(self.settings.database)
        await self.live.start()  # before anything publishes: the console hears of every change
        for pbx in self.settings.pbx:  # made here: panoramisk binds to the running loop
            stats = QueueStatsPublisher(pbx.name, None, self.live)
            self.queue_stats.append(stats)
            phones = PhonePublisher(pbx.name, self.live)
            self.phone_states.append(phones)
            self.pbx[pbx.name] = PbxListener(
                pbx, self.intake, on_board=stats.follow, on_phones=phones.follow, on_link=phones.link
            )
        await start_listeners(self.pbx, self.settings.database)  # on PostgreSQL: the leader of each PBX only
        if self.directory is not None:
            self.directory.start()
        if self.alerting is not None:
            await self.alerting.start()
        self.scheduler.start()
        self.purger = MarkPurger(self.marks)
        self.purger.start()
        self.credential_watch = CredentialWatch(self.streams, self.marks)  # ends streams whose credentials ended
        self.credential_watch.start()

    async def stop(self) -> None:
        """Stop what :meth:`start` started, the most recent first (safe when nothing was started)."""
        if self.credential_watch is not None:
            await self.credential_watch.stop()
        if self.purger is not None:
            await self.purger.stop()
        await self.scheduler.stop()
        if self.alerting is not None:
            await self.alerting.stop()
        await stop_listeners(self.pbx)
        for stats in self.queue_stats:
            stats.stop()
        self.queue_stats.clear()
        for phones in self.phone_states:
            phones.stop()
        self.phone_states.clear()
        if self.directory is not None:
            await self.directory.stop()
        await self.live.stop()


def build_runtime(settings: Settings) -> Runtime:
    """Build and connect every part of the process for ``settings`` (nothing is started or connected yet)."""
    t, console = settings.tickets, settings.console
    bus = EventBus()
    sla = SlaEngine(settings.sla.book())
    tickets = TicketService(
        matrix=PriorityMatrix(t.priority_matrix),
        numbering=NumberingPolicy(prefix=t.number_prefix, start=t.number_start),
        default_impact=Level(t.default_impact),
        default_urgency=Level(t.default_urgency),
        vip_urgency=Level(t.vip_urgency) if t.vip_urgency else None,
        sla=sla,
        publish=bus.publish,
    )
    metrics = Metrics()  # per runtime: several apps in one process (tests) do not clash
    numbers = settings.directory.number_policy()
    aliases = AliasService(numbers)  # local aliases: every caller lookup answers them first
    directory = DirectoryService(settings.directory, tickets, aliases) if settings.directory.enabled else None
    intake = CallIntake(
        tickets,
        lookup=metrics.counting(directory.lookup if directory else PeopleByPhone(aliases)),
        settings=IntakeSettings(repeat_window=t.repeat_call_window, numbers=numbers),
    )
    alerting = NotifyRuntime(settings, tickets, sla.book.calendars) if settings.notify.enabled else None
    scheduler = SlaScheduler(sla, publish=bus.publish, handlers=sla_handlers(alerting))
    marks = SharedMarks()  # short-lived security state every instance shares (the database)
    agents = AgentService()
    sessions = SessionManager(
        console.secret_key.get_secret_value() if console.secret_key else secrets.token_urlsafe(32),
        int(console.session_ttl.total_seconds()),
        marks,
        secure=console.cookie_secure,
    )
    live = build_broker(settings.live)
    streams = OpenStreams(settings.live.max_streams_per_agent, settings.live.max_streams or default_max_streams())
    pbx: dict[str, PbxListener] = {}  # filled by Runtime.start()
    webhook_stats = WebhookStats()
    collector = HelplineCollector(Observed(pbx, scheduler, intake, alerting, directory, live, streams, webhook_stats))
    metrics.registry.register(collector)
    runtime = Runtime(
        settings=settings,
        bus=bus,
        tickets=tickets,
        links=TicketLinks(sla=sla, publish=bus.publish),
        canned=CannedResponses(),
        agents=agents,
        people=PersonService(region=numbers.region),
        aliases=aliases,
        intake=intake,
        sla=sla,
        scheduler=scheduler,
        metrics=metrics,
        collector=collector,
        live=live,
        streams=streams,
        marks=marks,
        sessions=sessions,
        login_limiter=LoginLimiter(marks, console.login_attempts, console.ip_attempts),
        auth=Authoriser(agents, sessions),
        directory=directory,
        alerting=alerting,
        pbx=pbx,
        webhook_stats=webhook_stats,
    )
    subscribe_all(runtime)
    return runtime


def runtime_of(where: HTTPConnection | Any) -> Runtime:
    """The runtime of a request's app (or of an app)."""
    app = where.app if isinstance(where, HTTPConnection) else where
    runtime: Runtime = app.state.runtime
    return runtime
