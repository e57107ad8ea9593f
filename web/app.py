"""The Starlette application: routes, error handling, and the process's start-up and shutdown."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.contrib.starlette import RegisterTortoise

from tickets.agent_service import AgentService
from tickets.intake import CallIntake, IntakeSettings
from tickets.models import Level
from tickets.person_service import PersonService
from tickets.priority import PriorityMatrix
from tickets.ticket_service import NumberingPolicy, TicketService
from web import db, openapi
from web.config import Settings
from web.limits import BodyLimit
from web.problems import http_exception, server_error
from web.resources import agents, calls, pbx, people, service, tickets
from web.telephony import PbxListener
from web.version import VERSION

log = logging.getLogger(__name__)
APIS = [service.root, service.api, tickets.api, calls.api, pbx.api, people.api, agents.api]


@dataclass
class Services:
    """The domain services the HTTP resources call."""

    tickets: TicketService
    agents: AgentService
    people: PersonService
    intake: CallIntake


def build_services(settings: Settings) -> Services:
    t = settings.tickets
    tickets = TicketService(
        matrix=PriorityMatrix(t.priority_matrix),
        numbering=NumberingPolicy(prefix=t.number_prefix, start=t.number_start),
        default_impact=Level(t.default_impact),
        default_urgency=Level(t.default_urgency),
    )
    region = settings.directory.default_region
    return Services(
        tickets=tickets,
        agents=AgentService(),
        people=PersonService(region=region),
        intake=CallIntake(tickets, settings=IntakeSettings(repeat_window=t.repeat_call_window, region=region)),
    )


def create_app(settings: Settings) -> Starlette:
    """The ASGI application for ``settings``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        EXECUTOR_CACHE.clear()  # tortoise caches SQL per table name, not per dialect
        async with RegisterTortoise(app, config=db.tortoise_config(settings.database)):
            await db.prepare(settings.database)
            log.info("helpline %s ready on database %s", VERSION, settings.database.redacted_url())
            # built here, inside the running loop (panoramisk binds to the loop it is created in)
            listeners = {p.name: PbxListener(p, app.state.services.intake) for p in settings.pbx}
            app.state.pbx = listeners
            for listener in listeners.values():
                await listener.start()
            try:
                yield
            finally:
                for listener in listeners.values():
                    await listener.stop()
        EXECUTOR_CACHE.clear()

    routes = [route for api in APIS for route in api.routes()]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_exception, Exception: server_error},
        lifespan=lifespan,
        middleware=[Middleware(BodyLimit, max_body_bytes=settings.web.max_body_bytes)],
    )
    app.state.settings = settings
    app.state.services = build_services(settings)
    app.state.pbx = {}  # name -> PbxListener, while the app runs
    app.state.version = VERSION
    app.state.api_prefix = service.api.prefix
    app.state.openapi = openapi.build(APIS, version=VERSION)
    return app
