"""Queue stats for the console: the PBX's queue boards -> coalesced ``queue.stats`` messages -> who sees which queue.

* :class:`QueueStatsPublisher` (in the process that follows the PBX): when a queue of a
  :class:`pbx.queue_board.QueueBoard` changes, it publishes that queue's stats, at most once per ``interval`` per
  queue (a storm of 200 calls is a few messages a second, not one per event), the last change always included.
  A change of who is a member (rare: a login, a logout, a member first seen) goes out at once, so the calls that
  follow it in the stream are filtered by it.
* :class:`QueueRegistry` (in every web process, fed by the broker with every ``queue.stats`` message, so it works
  the same with several workers behind Redis): the latest stats of each queue, for ``GET /api/v1/queues`` and for
  the SSE filter: who is a member of which queue (:meth:`QueueRegistry.sees`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from pbx.queue_board import QueueBoard, QueueStats
from web.live.message import LiveMessage

log = logging.getLogger(__name__)
STATS = "queue.stats"


def stats_data(pbx: str, stats: QueueStats) -> dict[str, Any]:
    """The JSON of a ``queue.stats`` message (and of an item of ``GET /api/v1/queues``)."""
    return {
        "pbx": pbx,
        "queue": stats.queue,
        "at": stats.at.isoformat().replace("+00:00", "Z"),
        "waiting": stats.waiting,
        "longest_wait_seconds": stats.longest_wait,
        "available": stats.available,
        "busy": stats.busy,
        "paused": stats.paused,
        "unavailable": stats.unavailable,
        "day": stats.day.isoformat(),
        "answered_today": stats.answered_today,
        "abandoned_today": stats.abandoned_today,
        "timed_out_today": stats.timed_out_today,
        "answered_in_time_today": stats.answered_in_time_today,
        "service_level_seconds": stats.service_level_seconds,
        "service_level": stats.service_level,
        "members": [
            {
                "name": m.name,
                "extension": m.extension,
                "interface": m.interface,
                "state": m.state.value,
                "paused_reason": m.paused_reason,
            }
            for m in stats.members
        ],
    }


class QueueStatsPublisher:
    """Publishes ``queue.stats`` for the queues of ``board`` (one PBX) as they change, coalesced per queue."""

    def __init__(self, pbx: str, board: QueueBoard | None, broker: Any, interval: float = 1.0) -> None:
        self.pbx = pbx
        self.board = board if board is not None else QueueBoard(())  # until the listener tells its board
        self.broker = broker
        self.interval = interval
        self.published = 0
        self._pending: set[str] = set()
        self._last: dict[str, float] = {}  #: queue -> loop time of its last message
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self.follow(self.board)

    def follow(self, board: QueueBoard) -> None:
        """Publish the stats of ``board`` (from now on instead of the one followed so far: a listener elected
        again follows its PBX with a fresh tracker and board)."""
        if self.board is not board:
            self.board.on_change = None
        self.board = board
        board.zone = None  # "today" is the server's local day
        board.on_change = self.changed

    def changed(self, queue: str) -> None:
        """The board's ``on_change``: called synchronously while the tracker reads an event."""
        self._pending.add(queue)
        if self._task is not None:
            return  # publishing now: what is still pending is scheduled when that is done
        if self._timer is not None:
            if queue not in self.board.roster_changed:
                return
            self._timer.cancel()  # a member came or went: no waiting for the interval
        self._schedule()

    def stop(self) -> None:
        self.board.on_change = None
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # fed outside the event loop (nothing to publish to)
            return
        due = min(self._due(q) for q in self._pending)
        self._timer = loop.call_later(max(0.0, due - loop.time()), self._fire)

    def _due(self, queue: str) -> float:
        """Loop time from which ``queue`` may be published again."""
        if queue in self.board.roster_changed:
            return float("-inf")
        return self._last.get(queue, float("-inf")) + self.interval

    def _fire(self) -> None:
        self._timer = None
        self._task = asyncio.ensure_future(self._flush())
        self._task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._task = None
        if not task.cancelled() and task.exception() is not None:
            log.error("queue stats of PBX %s could not be published", self.pbx, exc_info=task.exception())
        if self._pending and not task.cancelled():
            self._schedule()

    async def _flush(self) -> None:
        now = asyncio.get_running_loop().time()
        ready = sorted(q for q in self._pending if self._due(q) <= now)
        for queue in ready:
            self._pending.discard(queue)
            self.board.roster_changed.discard(queue)
            self._last[queue] = now
        for queue in ready:  # the stats as they are now, however many changes came since the last message
            await self.broker.publish(STATS, stats_data(self.pbx, self.board.stats(queue)))
            self.published += 1


class QueueRegistry:
    """The latest ``queue.stats`` of every queue of every PBX, as the broker delivered them."""

    def __init__(self) -> None:
        self._latest: dict[tuple[str, str], tuple[dict[str, Any], float]] = {}
        self._extensions: dict[tuple[str, str], frozenset[str]] = {}
        self._names: dict[tuple[str, str], frozenset[str]] = {}  #: members without an extension, by name

    def observe(self, message: LiveMessage) -> None:
        """Called by the broker for every message it delivers."""
        if message.type != STATS:
            return
        data = message.data
        pbx, queue, members = data.get("pbx"), data.get("queue"), data.get("members")
        if not isinstance(pbx, str) or not isinstance(queue, str) or not isinstance(members, list):
            return
        key = (pbx, queue)
        self._latest[key] = (data, time.monotonic())
        self._extensions[key] = frozenset(
            m["extension"] for m in members if isinstance(m, dict) and isinstance(m.get("extension"), str)
        )
        self._names[key] = frozenset(
            m["name"]
            for m in members
            if isinstance(m, dict) and not m.get("extension") and isinstance(m.get("name"), str)
        )

    def sees(self, extension: str | None, name: str, pbx: Any, queue: Any) -> bool:
        """Whether an agent (by extension, else by display name) sees calls of ``queue``: a member does; when
        nobody is known to be a member (not told yet, or an empty queue) everybody does; a call in no queue too."""
        if not isinstance(queue, str):
            return True
        key = (pbx, queue)
        extensions, names = self._extensions.get(key, frozenset()), self._names.get(key, frozenset())
        if not extensions and not names:
            return True
        return (extension is not None and extension in extensions) or name in names

    def snapshot(self) -> list[dict[str, Any]]:
        """Every queue's latest stats, its longest wait counted on to now."""
        now = time.monotonic()
        out = []
        for _, (data, received) in sorted(self._latest.items()):
            item = dict(data)
            if item.get("waiting"):
                item["longest_wait_seconds"] = int(item.get("longest_wait_seconds") or 0) + int(now - received)
            out.append(item)
        return out
