"""The automatic wrap-up pause (``[[pbx]] wrapup``): after an agent's call of a queue with a wrap-up length ends, the
agent is paused (reason :data:`pbx.phones.WRAP_UP`) in the IT-line queues they are a member of, and unpaused that
long after, unless they changed the pause meanwhile (paused themselves with another reason, or unpaused).

Run by the PBX's listener, so only on the instance that holds the PBX (its leader). Nothing is stored: after a
reconnect, a restart or a takeover, the resync's ``QueueStatus`` shows who is still paused for wrap-up and since when
(``LastPause``), and :meth:`WrapUp.resynced` unpauses them when due (at once if overdue), so nobody stays paused
forever. An agent already paused for another reason when the call ends is left alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta

from pbx import actions
from pbx.connection import AmiConnection, AmiError
from pbx.facts import CallAnswered, CallEnded, CallOffered, CallQueued, Fact, Outcome
from pbx.phones import WRAP_UP, PhoneBoard
from web.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class WrapUp:
    """The wrap-up pauses of one PBX: ``lengths`` by queue, sent over ``connection()`` to the members of
    ``phones()`` (read at each use: a listener elected again has a new connection and tracker)."""

    def __init__(
        self,
        pbx: str,
        lengths: Mapping[str, timedelta],
        *,
        connection: Callable[[], AmiConnection],
        phones: Callable[[], PhoneBoard],
    ) -> None:
        self.pbx = pbx
        self.lengths = {q: length.total_seconds() for q, length in lengths.items() if length > timedelta(0)}
        self.connection = connection
        self.phones = phones
        self.paused = 0  #: wrap-up pauses sent
        self.unpaused = 0  #: ... and ended
        self.failures = 0  #: QueuePause actions refused or not answered
        self._queue: dict[str, str] = {}  #: Linkedid -> its queue, for the calls followed
        self._agent: dict[str, str] = {}  #: Linkedid -> the extension that answered it
        self._timers: dict[str, asyncio.Task[None]] = {}  #: extension -> its wrap-up under way

    @property
    def under_way(self) -> int:
        """Wrap-ups started and not over yet."""
        return len(self._timers)

    def follow(self, facts: Iterable[Fact]) -> None:
        """The call facts of the PBX, in order: an answered call that ends starts its agent's wrap-up."""
        if not self.lengths:
            return
        for fact in facts:
            if isinstance(fact, (CallOffered, CallQueued)) and fact.queue:
                self._queue[fact.linkedid] = fact.queue
            elif isinstance(fact, CallAnswered) and fact.agent_extension:
                self._agent[fact.linkedid] = fact.agent_extension
            elif isinstance(fact, CallEnded):
                queue, extension = self._queue.pop(fact.linkedid, None), self._agent.pop(fact.linkedid, None)
                length = self.lengths.get(queue or "")
                if fact.outcome is Outcome.ANSWERED and extension and length:
                    self._start(extension, length, pause=True)

    def resynced(self) -> None:
        """After a resync: end the wrap-up pauses no timer here follows (started before a reconnect, a restart or
        by another instance) when they are due: ``LastPause`` + the queue's length (now when not known)."""
        board = self.phones()
        now = time.time()
        for extension in board.extensions():
            if extension in self._timers:
                continue
            wrapping = [m for m in board.memberships(extension) if m.paused and m.reason == WRAP_UP]
            if wrapping:
                due = max((m.paused_at or now) + self.lengths.get(m.queue, 0.0) for m in wrapping)
                self._start(extension, max(0.0, due - now), pause=False)

    async def stop(self) -> None:
        timers, self._timers = list(self._timers.values()), {}
        for task in timers:
            await cancel_and_wait(task)

    def _start(self, extension: str, seconds: float, *, pause: bool) -> None:
        old = self._timers.pop(extension, None)
        if old is not None:
            old.cancel()
        task = asyncio.create_task(self._run(extension, seconds, pause), name=f"wrapup:{self.pbx}:{extension}")
        self._timers[extension] = task
        task.add_done_callback(lambda t: self._timers.pop(extension, None) if self._timers.get(extension) is t else 0)

    async def _run(self, extension: str, seconds: float, pause: bool) -> None:
        if pause:
            members = self.phones().memberships(extension)
            if any(m.paused and m.reason != WRAP_UP for m in members):
                return  # paused for another reason already: theirs stands
            for m in members:
                if await self._send(m.interface, m.queue, True):
                    self.paused += 1
        await asyncio.sleep(seconds)
        for m in self.phones().memberships(extension):
            if m.paused and m.reason == WRAP_UP and await self._send(m.interface, m.queue, False):
                self.unpaused += 1

    async def _send(self, interface: str, queue: str, paused: bool) -> bool:
        try:
            answer = await actions.queue_pause(
                self.connection(), interface, paused, queue=queue, reason=WRAP_UP if paused else None
            )
        except AmiError as exc:
            self.failures += 1
            log.warning("PBX %s: wrap-up %s of %s failed: %s", self.pbx, "pause" if paused else "end", interface, exc)
            return False
        if not actions.succeeded(answer):
            self.failures += 1
            log.warning(
                "PBX %s: wrap-up %s of %s refused: %s",
                self.pbx,
                "pause" if paused else "end",
                interface,
                answer.get("Message") or "no reason given",
            )
            return False
        return True
