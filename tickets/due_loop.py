"""The background loop of work that falls due at known moments (SLA warnings, alert deliveries).

A :class:`DueLoop` does everything due now (:meth:`run_due`), asks when the next thing falls due
(:meth:`next_due`) and sleeps until then, or until :meth:`wake` says something changed. A failed pass (the
database is away) is retried a second later. Several instances may run the same loop: a pass that found work due
but did none (another instance claimed it) waits a moment instead of spinning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from tickets.clock import Clock

log = logging.getLogger(__name__)

#: How long to wait when work is due now but this pass did none (another instance is on it).
CLAIMED_ELSEWHERE = 0.05


class DueLoop:
    """Subclasses implement :meth:`run_due` and :meth:`next_due`; :meth:`start` / :meth:`stop` run the loop."""

    name = "due-loop"

    def __init__(self, clock: Clock, max_sleep: float, wakers: list[Callable[[], None]] | None = None) -> None:
        self.clock = clock
        self.max_sleep = max_sleep  #: seconds: look again at least this often
        self._wakers = wakers  # a list the source of changes calls (this loop's wake is added to it)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run_due(self) -> int:
        """Do everything due now; how much was done."""
        raise NotImplementedError

    async def next_due(self) -> datetime | None:
        """When the next thing falls due (None: nothing is waiting)."""
        raise NotImplementedError

    def wake(self) -> None:
        """Something changed: look again at what is due next."""
        self._wake.set()

    def start(self) -> None:
        if self._wakers is not None:
            self._wakers.append(self.wake)
        self._task = asyncio.create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        if self._wakers is not None:
            with contextlib.suppress(ValueError):
                self._wakers.remove(self.wake)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        """Do what is due, sleep until the next due moment (or a wake-up), forever."""
        while True:
            self._wake.clear()
            try:
                done = await self.run_due()
                nxt = await self.next_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: try again shortly
                log.exception("%s: pass failed; retrying in 1 s", self.name)
                await self._sleep(1.0)
                continue
            delay = self.max_sleep
            if nxt is not None:
                delay = min(max((nxt - self.clock()).total_seconds(), 0.0), self.max_sleep)
                if delay == 0.0 and not done:
                    delay = CLAIMED_ELSEWHERE
            await self._sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        """Until :meth:`wake` or ``seconds`` passed. (Not ``asyncio.wait_for``: on Python 3.11 it swallows a
        cancellation that arrives as the wake-up completes, and :meth:`stop` would wait forever.)"""
        timer = asyncio.get_running_loop().call_later(seconds, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            timer.cancel()
