"""``helpline serve``: the HTTP API under uvicorn."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from web.cli.support import with_database
from web.settings import Settings

log = logging.getLogger("helpline")


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    serve = sub.add_parser(
        "serve",
        parents=[common],
        help="run the HTTP API",
        description="Run helpline. An empty database is migrated first; a database with "
        "pending migrations is refused (run `helpline db upgrade`).",
    )
    serve.add_argument("--host", help="listen address (default: [web] host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: [web] port, 8080)")
    serve.set_defaults(run=_serve)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from web.app import create_app
    from web.runtime import db

    with_database(settings, lambda: db.prepare(settings.database))
    host = args.host or settings.web.host
    port = args.port or settings.web.port
    log.info("serving on http://%s:%d (config: %s)", host, port, settings.source)
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,  # our handlers: web.logs
        log_level=settings.log.level or settings.web.log_level,
        access_log=settings.web.access_log,
        proxy_headers=True,
        server_header=False,
        lifespan="on",
        # live-event streams never end by themselves: on shutdown they are cut after 5 s and the
        # browsers reconnect (to another instance, or to this one once it is back)
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1
