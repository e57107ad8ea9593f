"""Background tasks of the process's services: stopping one cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (nothing if ``None``) and return once it has finished; its own cancellation is not raised."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class Periodic:
    """A background task that calls :meth:`tick` every ``every`` seconds until stopped. A failing round (the
    database away) is logged once, not at every round, and the next round tries again."""

    #: Names the task and the log lines (``what could not ...``).
    what = "periodic task"

    def __init__(self, every: float) -> None:
        self.every = every
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def tick(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.what)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._failing:
                    log.warning("%s failed (trying again every %g s): %s", self.what, self.every, exc)
                self._failing = True
                continue
            if self._failing:
                log.info("%s works again", self.what)
            self._failing = False
