"""The Starlette application: routes, middleware, error handling, and the runtime's start and stop."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.contrib.starlette import RegisterTortoise

from web import logs, metrics
from web.http.limits import BodyLimit
from web.http.problems import http_exception, server_error
from web.http.request_id import RequestIdMiddleware
from web.resources import apis, console, events, session, webhooks
from web.resources import metrics as metrics_endpoint
from web.runtime import Runtime, build_runtime, db
from web.settings import Settings
from web.version import VERSION

log = logging.getLogger(__name__)


def routes() -> list[BaseRoute]:
    """The declared API operations (in the OpenAPI document), then the plain routes (webhooks, the event stream,
    the console's login and page, /metrics)."""
    declared: list[BaseRoute] = [route for api in apis() for route in api.routes()]
    return (
        declared + webhooks.routes + events.routes() + session.routes() + console.routes() + metrics_endpoint.routes()
    )


def create_app(settings: Settings, runtime: Runtime | None = None) -> Starlette:
    """The ASGI application for ``settings`` (its parts: ``runtime``, else built here)."""
    runtime = runtime or build_runtime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        EXECUTOR_CACHE.clear()  # tortoise caches SQL per table name, not per dialect
        async with RegisterTortoise(app, config=db.tortoise_config(settings.database)):
            log.info(
                "helpline %s starting on database %s; at most %d event streams (%d per agent)",
                VERSION,
                settings.database.redacted_url(),
                runtime.streams.per_process,
                runtime.streams.per_agent,
            )
            await runtime.start()
            try:
                yield
            finally:
                await runtime.stop()
        EXECUTOR_CACHE.clear()

    app = Starlette(
        routes=routes(),
        exception_handlers={HTTPException: http_exception, Exception: server_error},
        lifespan=lifespan,
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(metrics.HttpMetricsMiddleware, metrics=runtime.metrics),
            Middleware(BodyLimit, max_body_bytes=settings.web.max_body_bytes),
        ],
    )
    app.state.runtime = runtime  # the one thing the app carries: read it with web.runtime.runtime_of
    logs.redactor.add_settings(settings)  # never log a configured secret, whoever set up logging
    return app
