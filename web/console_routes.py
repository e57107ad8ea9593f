"""The agents' console: ``/`` (the page) and ``/console/...`` (its modules and styles), from ``web/console/``."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

ROOT = Path(__file__).parent / "console"
#: The page loads only its own scripts and styles and talks only to this server.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


async def index(request: Request) -> Response:
    return FileResponse(ROOT / "index.html", media_type="text/html; charset=utf-8", headers=HEADERS)


def routes() -> list[Route | Mount]:
    return [Route("/", index, methods=["GET"], name="console"),
            Mount("/console", app=StaticFiles(directory=ROOT), name="console-assets")]
