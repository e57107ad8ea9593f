"""``GET /api/v1/events``: the live stream of one agent, as Server-Sent Events.

Authentication as every API call (bearer token, or the console's session cookie). ``Last-Event-ID`` (or
``?last_event_id=``) replays what was published since. A comment line is sent every ``[live] keepalive`` so proxies
keep the connection open and a dead client is noticed.

Each agent may hold ``[live] max_streams_per_agent`` streams on an instance (else ``429``), the instance
``[live] max_streams`` (else ``503``): :mod:`web.live.open_streams`. A stream whose credentials end (token revoked,
logged out, agent deactivated, role changed) is ended within seconds by :mod:`web.live.credential_watch`.

Who sees what: supervisors and admins everything. An agent sees

* call.ringing / call.answered of calls that ring or were answered at their own extension (the screen pop);
* of the queues they are a member of (:class:`web.live.queues.QueueRegistry`; everybody is, of a queue whose
  members are not known): call.offered, call.queued, call.ringing (the queue board: the console pops a card only
  for its own extension), a short ``call.taken`` for calls another agent answered, and queue.stats. A call in no
  queue yet (offered by ``[[pbx]] contexts``) reaches only supervisors and the agent whose phone it rings;
  ``call.queued`` tells the queue's members when it enters one;
* agent.phone of their own phone (by extension);
* every other event (calls ended, tickets, SLA, pbx.link).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tickets.models import Role
from web.http.problems import ApiError, from_api_error
from web.live.audience import for_agent
from web.live.broker import Broker, Overflow
from web.live.open_streams import OpenStream, OpenStreams
from web.runtime import runtime_of


async def events(request: Request) -> Response:
    runtime = runtime_of(request)
    streams: OpenStreams = runtime.streams
    try:
        agent = await runtime_of(request).auth.authorise(request, Role.AGENT)
        unknown = set(request.query_params) - {"last_event_id"}
        if unknown:
            raise ApiError(400, "invalid-query", f"unknown query parameter {sorted(unknown)[0]!r}")
        opened = streams.admit(
            agent, getattr(request.state, "token_hash", None), getattr(request.state, "session", None)
        )
    except ApiError as exc:
        return from_api_error(exc)
    last_id = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    broker = runtime.live
    keepalive = runtime.settings.live.keepalive.total_seconds()
    return _StreamResponse(
        _frames(opened, broker, last_id, keepalive),
        on_close=lambda: streams.release(opened),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"},
    )


async def _frames(opened: OpenStream, broker: Broker, last_id: str | None, keepalive: float) -> AsyncIterator[bytes]:
    """What the stream sends: what its agent (as the credential watch last read them) may see, until it ends."""
    async with broker.subscribe(last_id) as feed:
        opened.feed = feed
        if opened.ended is not None:
            return
        yield b"retry: 2000\n: ready\n\n"
        while True:
            try:
                messages = await feed.batch(keepalive)
            except Overflow:
                return  # overflowed, or ended by the credential watch: the client reconnects with Last-Event-ID
            if not messages:
                yield b": keep-alive\n\n"
                continue
            agent, queues = opened.agent, broker.queues
            frames = [shown.frame for shown in (for_agent(m, agent, queues) for m in messages) if shown is not None]
            if frames:
                yield b"".join(frames)


class _StreamResponse(StreamingResponse):
    """A streaming response that says when its connection is done, however it ends (also when the client went
    away before the first byte), and closes its generator at once (its subscription goes with it)."""

    def __init__(self, content: AsyncIterator[bytes], *, on_close: Callable[[], None], **kw: object) -> None:
        super().__init__(content, **kw)  # type: ignore[arg-type]
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.on_close()
            await self.body_iterator.aclose()  # type: ignore[attr-defined]


def routes(prefix: str = "/api/v1") -> list[Route]:
    return [Route(f"{prefix}/events", events, methods=["GET"], name="events")]
