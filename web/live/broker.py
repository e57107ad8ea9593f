"""Brokers: where published live messages go and where SSE clients read them from, with replay after a blip.

* :class:`MemoryBroker` (default): one process; ids count up from the start time in microseconds (so they keep
  increasing across a restart); the last ``history`` messages are kept in a ring buffer so a client reconnecting
  with ``Last-Event-ID`` gets what it missed.
* :class:`RedisBroker` (``[live] redis_url``): every worker appends to one Redis stream (``XADD``, capped at
  ``history``) and reads it (``XREAD BLOCK``); the stream's entry ids are the SSE ids, so they agree across workers
  and a client may reconnect to any of them. Replay is ``XRANGE`` after the client's id.

A subscriber whose queue overflows (a stuck client) is dropped; its browser reconnects and replays the gap.
When Redis goes away the feeds are ended the same way and publishing is skipped (counted in ``dropped``) until the
reader sees Redis again: calls and tickets never wait on the console.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Protocol

from web.live.message import LiveMessage
from web.live.phones import PhoneRegistry
from web.live.queues import QueueRegistry
from web.tasks import cancel_and_wait

log = logging.getLogger(__name__)
#: Messages a subscriber may lag behind before it is dropped (and reconnects).
SUBSCRIBER_QUEUE = 1000


class Overflow(Exception):
    """The subscriber fell too far behind."""


class Subscription:
    """One SSE client's feed: the replayed backlog first, then live messages, each at most once, in order."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[LiveMessage | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self.overflowed = False

    def offer(self, message: LiveMessage) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(None)  # wakes the reader, which ends the stream

    def end(self) -> None:
        """End the feed as an overflow does: the client reconnects (with ``Last-Event-ID``) and replays the gap."""
        if self.overflowed:
            return
        self.overflowed = True
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(None)

    async def next(self, timeout: float) -> LiveMessage | None:
        """The next message, or ``None`` after ``timeout`` seconds of silence. Raises :class:`Overflow`."""
        try:
            message = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None
        if message is None:
            raise Overflow()
        return message

    async def batch(self, timeout: float, limit: int = 200) -> list[LiveMessage]:
        """The next message and those already queued behind it (one write for a burst); ``[]`` after ``timeout``
        seconds of silence. Raises :class:`Overflow`."""
        first = await self.next(timeout)
        if first is None:
            return []
        out = [first]
        while len(out) < limit and not self.queue.empty():
            message = self.queue.get_nowait()
            if message is None:
                raise Overflow()
            out.append(message)
        return out


class Broker(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, type: str, data: dict[str, Any]) -> None: ...

    queues: QueueRegistry  #: the latest queue.stats seen (who is in which queue)
    phones: PhoneRegistry  #: the latest agent.phone and pbx.link seen

    def subscribe(self, last_id: str | None) -> contextlib.AbstractAsyncContextManager[Subscription]: ...


class _Fanout:
    """Local subscribers of a broker, and the queue stats it has seen go by (the SSE filter reads them)."""

    def __init__(self) -> None:
        self.subscribers: set[Subscription] = set()
        self.queues = QueueRegistry()
        self.phones = PhoneRegistry()

    def deliver(self, message: LiveMessage) -> None:
        self.queues.observe(message)  # before any client gets it: the membership it tells is used at once
        self.phones.observe(message)
        for sub in list(self.subscribers):
            sub.offer(message)


class MemoryBroker(_Fanout):
    """In-process broker with a ring buffer of the last ``history`` messages."""

    def __init__(self, history: int = 1000) -> None:
        super().__init__()
        self.recent: deque[LiveMessage] = deque(maxlen=history)
        self.last = time.time_ns() // 1000

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, type: str, data: dict[str, Any]) -> None:
        self.last += 1
        message = LiveMessage(str(self.last), type, data)
        self.recent.append(message)
        self.deliver(message)

    @contextlib.asynccontextmanager
    async def subscribe(self, last_id: str | None) -> AsyncIterator[Subscription]:
        sub = Subscription()
        after = _int_id(last_id)
        if after is not None:
            for message in self.recent:  # same task, no await in between: nothing is missed or doubled
                if int(message.id) > after:
                    sub.offer(message)
        self.subscribers.add(sub)
        try:
            yield sub
        finally:
            self.subscribers.discard(sub)


class RedisBroker(_Fanout):
    """Broker on a Redis stream shared by every helpline worker."""

    def __init__(self, url: str, *, stream: str = "helpline:live", history: int = 1000) -> None:
        super().__init__()
        import redis.asyncio as redis

        # a Redis that stops answering fails calls within seconds instead of hanging them (XREAD blocks 1 s)
        self.redis = redis.from_url(url, decode_responses=True, socket_connect_timeout=5, socket_timeout=5)
        self.stream = stream
        self.history = history
        self.last = "$"
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        self.dropped = 0  #: messages not published because Redis was down

    async def start(self) -> None:
        try:
            latest = await self.redis.xrevrange(self.stream, count=1)
            self.last = latest[0][0] if latest else "0-0"
            self.connected = True
            await self._recall_queues()
        except Exception as exc:  # the console degrades; tickets and calls do not depend on Redis
            log.warning("live events: Redis is not reachable yet (%s); retrying in the background", exc)
        self._task = asyncio.create_task(self._read(), name="live:redis")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self.redis.aclose()

    async def _recall_queues(self) -> None:
        """A worker that starts late learns the queues (stats, members), the phones and the PBX links from the
        stream's history, oldest first."""
        entries = await self.redis.xrevrange(self.stream, max=self.last, count=self.history)
        for entry_id, fields in reversed(entries):
            if fields.get("type") == "queue.stats":
                self.queues.observe(_from_fields(entry_id, fields))
            elif fields.get("type") in ("agent.phone", "pbx.link"):
                self.phones.observe(_from_fields(entry_id, fields))

    async def publish(self, type: str, data: dict[str, Any]) -> None:
        """Append to the stream; never raises. While Redis is down the message is dropped at once (calls and
        tickets must not wait on the console): the reader notices Redis come back and publishing resumes."""
        if not self.connected:
            self.dropped += 1
            return
        fields = {"type": type, "data": json.dumps(data, ensure_ascii=False)}
        try:
            await self.redis.xadd(self.stream, fields, maxlen=self.history, approximate=True)
        except Exception as exc:
            self.dropped += 1
            self._lost(exc)

    async def _read(self) -> None:
        delay = 0.2
        while True:
            try:
                if self.last == "$":
                    latest = await self.redis.xrevrange(self.stream, count=1)
                    self.last = latest[0][0] if latest else "0-0"
                found = await self.redis.xread({self.stream: self.last}, block=1000, count=500)
                self.connected, delay = True, 0.2
                for _, entries in found:
                    for entry_id, fields in entries:
                        self.last = entry_id
                        self.deliver(_from_fields(entry_id, fields))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._lost(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _lost(self, exc: BaseException) -> None:
        """Redis went away: say so once, and end the SSE feeds (their clients reconnect, and replay what they
        missed once Redis is back) rather than leave them silent."""
        if not self.connected:
            return
        self.connected = False
        log.warning("live events: lost Redis (%s: %s); live events are off until it is back", type(exc).__name__, exc)
        for sub in list(self.subscribers):
            sub.end()

    @contextlib.asynccontextmanager
    async def subscribe(self, last_id: str | None) -> AsyncIterator[Subscription]:
        sub = Subscription()
        self.subscribers.add(sub)  # first: live messages from now are queued while the backlog is read
        backlog: list[LiveMessage] = []
        if last_id and _stream_id(last_id) is not None:
            try:
                entries = await self.redis.xrange(self.stream, min=f"({last_id}", count=self.history)
                backlog = [_from_fields(i, f) for i, f in entries]
            except Exception as exc:
                log.warning("live events: could not replay after %s: %s", last_id, exc)
        if backlog:
            live = []
            while not sub.queue.empty():
                item = sub.queue.get_nowait()
                if item is not None:
                    live.append(item)
            newest = _stream_id(backlog[-1].id)
            for message in backlog + [m for m in live if (_stream_id(m.id) or (0, 0)) > (newest or (0, 0))]:
                sub.offer(message)
        try:
            yield sub
        finally:
            self.subscribers.discard(sub)


def _from_fields(entry_id: str, fields: dict[str, str]) -> LiveMessage:
    try:
        data = json.loads(fields.get("data", "{}"))
    except ValueError:
        data = {}
    return LiveMessage(entry_id, fields.get("type", "unknown"), data if isinstance(data, dict) else {})


def _int_id(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


def _stream_id(value: str) -> tuple[int, int] | None:
    ms, _, seq = value.strip().partition("-")
    if ms.isascii() and ms.isdigit() and seq.isascii() and seq.isdigit() and len(ms) < 19 and len(seq) < 19:
        return int(ms), int(seq)
    return None
