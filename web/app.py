"""The Starlette application: routes, error handling, and the process's start-up and shutdown."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.contrib.starlette import RegisterTortoise

from tickets.agent_service import AgentService
from tickets.calls.intake import CallIntake, IntakeSettings
from tickets.models import Level
from tickets.person_service import PersonService
from tickets.priority import PriorityMatrix
from tickets.sla.clocks import SlaEngine
from tickets.sla.scheduler import SlaScheduler
from tickets.ticket_service import NumberingPolicy, TicketService
from web import openapi
from web.runtime import db
from web.settings.config import Settings
from web.runtime.directory import DirectoryService
from web.http.limits import BodyLimit
from web.http.problems import http_exception, server_error
from web.resources import agents, calls, directory, pbx, people, service, sla, tickets
from web.resources import notify as notify_api, webhooks
from web.runtime.notify import NotifyRuntime, fan_out
from web.runtime.telephony import PbxListener, start_listeners, stop_listeners
from web.resources import console as console_routes
from web.resources import session as session_routes
from web.live import stream as live_stream
from web.runtime import live as live_wiring
from web.live import queues as live_queues
from web.live.credential_watch import CredentialWatch
from web.live.open_streams import OpenStreams, default_max_streams
from web.resources import queues as queues_api
from web.auth.sessions import LoginLimiter, SessionManager
from web.http.shared_marks import MarkPurger, SharedMarks
from web.version import VERSION
from web import logs, metrics
from web.http.request_id import RequestIdMiddleware

log = logging.getLogger(__name__)
APIS = [service.root, service.api, tickets.api, calls.api, pbx.api, directory.api, people.api, agents.api, sla.api]
APIS.append(notify_api.api)  # /oncall, /alerts (the signed provider webhooks are plain routes: web/resources/webhooks.py)
APIS.append(queues_api.api)  # /queues: the queue board (issue 7)


@dataclass
class Services:
    """The domain services the HTTP resources call."""

    tickets: TicketService
    agents: AgentService
    people: PersonService
    intake: CallIntake
    sla: SlaEngine | None = None


def build_services(settings: Settings, directory: DirectoryService | None = None) -> Services:
    t = settings.tickets
    tickets = TicketService(
        matrix=PriorityMatrix(t.priority_matrix),
        numbering=NumberingPolicy(prefix=t.number_prefix, start=t.number_start),
        default_impact=Level(t.default_impact),
        default_urgency=Level(t.default_urgency),
        vip_urgency=Level(t.vip_urgency) if t.vip_urgency else None,
        sla=SlaEngine(settings.sla.book()),
    )
    numbers = settings.directory.number_policy()
    return Services(
        tickets=tickets,
        agents=AgentService(),
        people=PersonService(region=numbers.region),
        intake=CallIntake(tickets, lookup=directory.lookup if directory else None,
                          settings=IntakeSettings(repeat_window=t.repeat_call_window, numbers=numbers)),
        sla=tickets.sla,
    )


def _sla_scheduler(services: Services, notify: NotifyRuntime | None = None) -> SlaScheduler:
    """The SLA scheduler, started; its events go to whatever the ticket service publishes to (after the commit) and,
    with alerting, to the alert service inside the scheduler's transaction (the alert commits with the event)."""
    assert services.sla is not None
    scheduler = SlaScheduler(services.sla, publish=lambda event: services.tickets.publish(event),
                             handlers=notify.sla_handlers() if notify is not None else ())
    scheduler.start()
    return scheduler


def create_app(settings: Settings) -> Starlette:
    """The ASGI application for ``settings``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        EXECUTOR_CACHE.clear()  # tortoise caches SQL per table name, not per dialect
        async with RegisterTortoise(app, config=db.tortoise_config(settings.database)):
            await db.prepare(settings.database)
            log.info("helpline %s ready on database %s; at most %d event streams (%d per agent)", VERSION,
                     settings.database.redacted_url(), app.state.streams.per_process, app.state.streams.per_agent)
            await app.state.live.start()  # live events for the console (before anything publishes)
            # built here, inside the running loop (panoramisk binds to the loop it is created in)
            listeners = {p.name: PbxListener(p, app.state.services.intake) for p in settings.pbx}
            app.state.pbx = listeners
            queue_stats = live_queues.follow(listeners, app.state.live)  # queue.stats as each PBX's queues change
            await start_listeners(listeners, settings.database)  # on PostgreSQL: the leader of each PBX only
            if app.state.directory is not None:
                app.state.directory.start()
            if app.state.notify is not None:  # alerting hears ticket changes; SLA events come through the scheduler's
                await app.state.notify.start()  # handler (in its transaction) and again here (their alert is found)
                tickets_service = app.state.services.tickets
                tickets_service.publish = fan_out(tickets_service.publish, app.state.notify.alerts.on_event)
            app.state.sla_scheduler = _sla_scheduler(app.state.services, app.state.notify)
            purger = MarkPurger(app.state.marks)
            purger.start()
            watch = CredentialWatch(app.state.streams, app.state.marks)  # ends streams whose credentials ended
            watch.start()
            try:
                yield
            finally:
                await watch.stop()
                await purger.stop()
                await app.state.sla_scheduler.stop()
                if app.state.notify is not None:
                    await app.state.notify.stop()
                await stop_listeners(listeners)
                for publisher in queue_stats:
                    publisher.stop()
                if app.state.directory is not None:
                    await app.state.directory.stop()
                await app.state.live.stop()
        EXECUTOR_CACHE.clear()

    routes = [route for api in APIS for route in api.routes()] + webhooks.routes
    routes += live_stream.routes() + session_routes.routes() + console_routes.routes()  # not in the OpenAPI document
    app_metrics = metrics.Metrics()  # per app: several apps in one process (tests) do not clash
    routes += metrics.routes()  # /metrics (not in the OpenAPI document)
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_exception, Exception: server_error},
        lifespan=lifespan,
        middleware=[Middleware(RequestIdMiddleware),
                    Middleware(metrics.HttpMetricsMiddleware, metrics=app_metrics),
                    Middleware(BodyLimit, max_body_bytes=settings.web.max_body_bytes)],
    )
    app.state.settings = settings
    app.state.directory = DirectoryService(settings.directory) if settings.directory.enabled else None
    app.state.services = build_services(settings, app.state.directory)
    if app.state.directory is not None:
        app.state.directory.tickets = app.state.services.tickets
    app.state.pbx = {}  # name -> PbxListener, while the app runs
    app.state.live = live_wiring.build_broker(settings.live)
    app.state.streams = OpenStreams(settings.live.max_streams_per_agent,
                                    settings.live.max_streams or default_max_streams())
    live_wiring.attach(app.state.services.tickets, app.state.live)
    logs.redactor.add_settings(settings)  # never log a configured secret, whoever set up logging
    metrics.install(app.state, app_metrics)  # read at scrape time; calls/SLA counted from their domain events
    app.state.services.tickets.publish = fan_out(app.state.services.tickets.publish, app_metrics.on_event)
    app.state.services.intake.lookup = app_metrics.counting(app.state.services.intake.lookup)
    console = settings.console
    app.state.marks = SharedMarks()  # short-lived security state every instance shares (the database)
    app.state.sessions = SessionManager(
        console.secret_key.get_secret_value() if console.secret_key else secrets.token_urlsafe(32),
        int(console.session_ttl.total_seconds()), app.state.marks, secure=console.cookie_secure)
    app.state.login_limiter = LoginLimiter(app.state.marks, console.login_attempts, console.ip_attempts)
    app.state.version = VERSION
    app.state.api_prefix = service.api.prefix
    app.state.openapi = openapi.build(APIS, version=VERSION)
    app.state.notify = (NotifyRuntime(settings, app.state.services.tickets, app.state.services.sla.book.calendars)
                        if settings.notify.enabled and app.state.services.sla is not None else None)
    return app
