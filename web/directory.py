"""Directory wiring: the LDAP client, the sync and the caller lookup built from ``[directory]``, and the periodic sync.

After each good sync, phone tickets opened without a requester since the previous good sync are matched again.
The background sync runs once at start-up, then every ``sync_interval``; after a failure it tries again sooner
(1 minute, doubling up to the interval). Lookups never wait for it: they read the local index.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from directory.client import AsyncDirectory, DirectoryClient
from tickets.caller_index import DirectoryCallerLookup, sync_state
from tickets.directory_sync import DirectorySync, SyncReport
from tickets.rematch import rematch_requesters
from tickets.ticket_service import TicketService
from web.config import DirectorySettings

log = logging.getLogger(__name__)
RETRY_AFTER_FAILURE = 60.0


class DirectoryService:
    """The pieces one ``[directory]`` needs, and the periodic sync task."""

    def __init__(self, settings: DirectorySettings) -> None:
        self.settings = settings
        self.policy = settings.number_policy()
        self.directory = AsyncDirectory(DirectoryClient(settings.client_config()))
        self.sync = DirectorySync(self.directory, self.policy, removal_guard=settings.removal_guard)
        self.lookup = DirectoryCallerLookup(self.policy)
        self.last_report: SyncReport | None = None
        self.tickets: TicketService | None = None  #: set by the app: re-matches tickets after a good sync
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def run_sync(self, *, dry_run: bool = False,
                       on_page: Callable[[int, int], None] | None = None) -> SyncReport:
        """One sync now (never two at once in this process); after a good one, unmatched phone tickets opened since
        the previous good sync are matched again (when ``tickets`` is set)."""
        async with self._lock:
            previous = (await sync_state()).last_ok
            report = await self.sync.run(dry_run=dry_run, on_page=on_page)
            if dry_run:
                return report
            self.last_report = report
            self.lookup.invalidate()
            if report.ok and self.tickets is not None:
                report.rematched = await rematch_requesters(self.lookup, self.tickets,
                                                            previous.started_at if previous else None)
        return report

    def start(self) -> None:
        self._task = asyncio.create_task(self._periodic(), name="directory-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.directory.close()

    async def _periodic(self) -> None:
        interval = self.settings.sync_interval.total_seconds()
        delay_after_failure = RETRY_AFTER_FAILURE
        while True:
            try:
                report = await self.run_sync()
            except Exception:  # the database is away, or a bug: log it, keep the schedule
                log.exception("directory sync could not run")
                report = None
            if report is not None and report.ok:
                delay_after_failure = RETRY_AFTER_FAILURE
                await asyncio.sleep(interval)
            else:
                await asyncio.sleep(min(delay_after_failure, interval))
                delay_after_failure = min(delay_after_failure * 2, interval)
