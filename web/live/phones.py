"""The agents' phones for the console: the PBX's phone board -> ``agent.phone`` messages, the AMI link -> ``pbx.link``.

* :class:`PhonePublisher` (in the process that follows the PBX): when a phone of a :class:`pbx.phones.PhoneBoard`
  changes, it publishes that phone's state (``agent.phone``), the changes of one pass of the event loop together
  (a phone changes a few times per call, not per event); when the AMI link goes down or comes back, ``pbx.link``.
* :class:`PhoneRegistry` (in every web process, fed by the broker with every message, so it works the same with
  several workers behind Redis): the latest state of each phone and of each PBX link, for
  ``GET /api/v1/agents/me/phone``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from pbx.phones import Phone, PhoneBoard
from pbx.queue_board import QueueBoard
from web.live.message import LiveMessage

log = logging.getLogger(__name__)
PHONE = "agent.phone"
LINK = "pbx.link"


def phone_data(pbx: str, phone: Phone) -> dict[str, Any]:
    """The JSON of an ``agent.phone`` message."""
    return {
        "pbx": pbx,
        "extension": phone.extension,
        "registered": phone.registered,
        "state": phone.state.value,
        "reason": phone.reason,
        "queues": [
            {
                "queue": m.queue,
                "interface": m.interface,
                "paused": m.paused,
                "reason": m.reason or None,
                "paused_at": m.paused_at,
            }
            for m in phone.queues
        ],
        "at": time.time(),
    }


class PhonePublisher:
    """Publishes ``agent.phone`` for the phones of ``board`` (one PBX) as they change, and ``pbx.link``."""

    def __init__(self, pbx: str, broker: Any) -> None:
        self.pbx = pbx
        self.broker = broker
        self.board = PhoneBoard(QueueBoard(()))  # until the listener tells its board
        self.published = 0
        self._pending: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def follow(self, board: PhoneBoard) -> None:
        """Publish the phones of ``board`` from now on (a listener elected again has a fresh tracker)."""
        if self.board is not board:
            self.board.on_change = None
        self.board = board
        board.on_change = self.changed

    def changed(self, extension: str) -> None:
        """The board's ``on_change``: called synchronously while the tracker reads an event."""
        self._pending.add(extension)
        if self._task is None:
            try:
                self._task = asyncio.get_running_loop().create_task(self._flush())
            except RuntimeError:  # fed outside the event loop: nothing to publish to
                return
            self._task.add_done_callback(self._flushed)

    def link(self, up: bool) -> None:
        """The AMI link of this PBX came up (logged in and resynchronised) or went down."""
        try:
            task = asyncio.get_running_loop().create_task(self.broker.publish(LINK, {"pbx": self.pbx, "up": up}))
        except RuntimeError:
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def stop(self) -> None:
        self.board.on_change = None
        for task in [self._task, *self._tasks]:
            if task is not None:
                task.cancel()

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._task = None
        if not task.cancelled() and task.exception() is not None:
            log.error("phone states of PBX %s could not be published", self.pbx, exc_info=task.exception())
        if self._pending and not task.cancelled():
            self.changed(next(iter(self._pending)))

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # the rest of this batch of events first
        pending, self._pending = self._pending, set()
        self.board.take_changed()
        for extension in sorted(pending):
            await self.broker.publish(PHONE, phone_data(self.pbx, self.board.phone(extension)))
            self.published += 1


class PhoneRegistry:
    """The latest ``agent.phone`` of every phone and ``pbx.link`` of every PBX, as the broker delivered them."""

    def __init__(self) -> None:
        self._phones: dict[tuple[str, str], dict[str, Any]] = {}
        self._links: dict[str, bool] = {}

    def observe(self, message: LiveMessage) -> None:
        """Called by the broker for every message it delivers."""
        data = message.data
        pbx = data.get("pbx")
        if not isinstance(pbx, str):
            return
        if message.type == PHONE and isinstance(data.get("extension"), str):
            self._phones[(pbx, data["extension"])] = data
        elif message.type == LINK and isinstance(data.get("up"), bool):
            self._links[pbx] = data["up"]

    def phone(self, extension: str, pbx: str | None = None) -> dict[str, Any] | None:
        """The latest state of the phone ``extension`` (of ``pbx``, else of the first PBX that told of it)."""
        for (name, ext), data in sorted(self._phones.items()):
            if ext == extension and (pbx is None or name == pbx):
                return data
        return None

    def link(self, pbx: str) -> bool | None:
        """Whether PBX ``pbx`` 's AMI link was last said to be up (None: never told)."""
        return self._links.get(pbx)
