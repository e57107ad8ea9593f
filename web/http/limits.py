"""The request body size limit ([web] max_body_bytes), refused as a problem document like every other error."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """Refuse a request body over ``max_body_bytes`` with ``413 body-too-large``.

    Starlette's own ``max_body_size`` replaces the response to a request whose Content-Length is too large with a
    plain-text one, so helpline limits the size itself: reading a body that is declared or turns out too large
    raises the HTTPException that ``web.http.problems.http_exception`` turns into a problem.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "").strip()
        too_large = declared.isascii() and declared.isdigit() and int(declared) > self.max_body_bytes
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if too_large:
                raise HTTPException(413)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(413)
            return message

        await self.app(scope, limited_receive, send)
