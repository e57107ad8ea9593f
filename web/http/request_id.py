"""Request ids: every HTTP request gets one (the caller's ``X-Request-ID`` if it is sane, else a new one).

The id is kept in a context variable for the request's task, so every log line written while serving it carries
it (see :mod:`web.logs`), and it is echoed in the response's ``X-Request-ID`` header. A pure ASGI middleware: it
does not buffer bodies, so server-sent events stream as before.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
#: What an incoming id may look like (a proxy's UUID, a trace id); anything else is replaced, never logged.
ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_id: ContextVar[str | None] = ContextVar("helpline_request_id", default=None)


def current() -> str | None:
    """The id of the request being served in this task, if any."""
    return request_id.get()


def new_id() -> str:
    return secrets.token_hex(8)


class RequestIdMiddleware:
    """Assigns the request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
        rid = incoming if incoming and ACCEPTABLE.match(incoming) else new_id()
        token = request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
