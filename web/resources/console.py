"""The agents' console: ``/`` (the page) and ``/console/...`` (its modules and styles), from ``web/console/``.

The page is served at ``/`` only; every response of both carries :data:`HEADERS` (the page's policy, and
``nosniff`` on the modules and styles).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

ROOT = Path(__file__).parent.parent / "console"  # web/console/
PAGE = "index.html"
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
    return FileResponse(ROOT / PAGE, media_type="text/html; charset=utf-8", headers=HEADERS)


class ConsoleAssets(StaticFiles):
    """The page's modules and styles, each with :data:`HEADERS`; the page itself is not one of them (it is ``/``)."""

    async def get_response(self, path: str, scope: Any) -> Response:
        if path in (".", PAGE):  # ``path`` is normalised: /console/./index.html and /console//index.html too
            raise HTTPException(404)
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        return response


def routes() -> list[Route | Mount]:
    return [
        Route("/", index, methods=["GET"], name="console"),
        Mount("/console", app=ConsoleAssets(directory=ROOT), name="console-assets"),
    ]
