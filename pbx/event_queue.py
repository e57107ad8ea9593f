"""The ordered, bounded hand-over from the AMI protocol to the one task that consumes events."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar


@dataclass(frozen=True)
class SessionMarker:
    """Put in the event queue (``session_markers=True``) so the consumer sees logins and losses in stream order."""

    kind: str  #: "login" or "lost"
    session: int  #: 1 for the first login, +1 per login
    at: float  #: epoch seconds
    reason: str = ""  #: for "lost": why


T = TypeVar("T")


class EventQueue(Generic[T]):
    """A bounded FIFO for exactly one consumer task; ``put_nowait`` never blocks the protocol.

    Cheaper than ``asyncio.Queue`` per item, and :meth:`get_batch` lets the consumer take everything that is waiting
    (one database transaction for many events). :meth:`put_marker` ignores the bound: markers are never dropped.
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: T) -> bool:
        """Append ``item``; False (not added) if the queue is full."""
        if len(self._items) >= self.maxsize:
            return False
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return True

    def put_marker(self, item: T) -> None:
        """Append ``item`` even if the queue is full."""
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        if self._waiter is not None:
            raise RuntimeError("EventQueue supports a single consumer")
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def get(self) -> T:
        """The oldest item, waiting for one."""
        while not self._items:
            await self._wait()
        return self._items.popleft()

    def get_nowait(self) -> T:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.popleft()

    async def get_batch(self, max_items: int = 1000) -> list[T]:
        """Between 1 and ``max_items`` oldest items, in order, waiting for the first."""
        while not self._items:
            await self._wait()
        items = self._items
        if len(items) <= max_items:
            batch = list(items)
            items.clear()
            return batch
        return [items.popleft() for _ in range(max_items)]

    @property
    def consumer_waiting(self) -> bool:
        """Nothing is queued and the consumer waits for the next item (it has handled everything it took)."""
        return not self._items and self._waiter is not None

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def __len__(self) -> int:
        return len(self._items)
