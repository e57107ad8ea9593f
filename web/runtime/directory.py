"""Directory wiring: the LDAP client, the sync and the caller lookup built from ``[directory]``, and the periodic sync.

After each good sync, phone tickets opened without a requester since the previous good sync are matched again.
The background sync runs once at start-up, then every ``sync_interval`` (incremental, with a full one every
``full_sync_interval``); after a failure it tries again sooner (1 minute, doubling up to the interval). Lookups never
wait for it: they read the local index (and, with ``live_fallback``, ask the directory for numbers it lacks, on a
client of their own with short timeouts, so they never queue behind a sync).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import Callable

from directory import AsyncDirectory, DirectoryClient
from tickets.calls.aliases import TABLE, AliasSource
from tickets.calls.caller_index import DirectoryCallerLookup, LiveFallback, sync_state
from tickets.calls.directory_sync import DirectorySync, SyncReport
from tickets.calls.rematch import rematch_requesters
from tickets.ticket_service import TicketService
from web.settings import DirectorySettings
from web.tasks import cancel_and_wait

log = logging.getLogger(__name__)
RETRY_AFTER_FAILURE = 60.0


class DirectoryService:
    """The pieces one ``[directory]`` needs, and the periodic sync task."""

    def __init__(
        self, settings: DirectorySettings, tickets: TicketService | None = None, aliases: AliasSource = TABLE
    ) -> None:
        self.settings = settings
        self.policy = settings.number_policy()
        self.directory = AsyncDirectory(DirectoryClient(settings.client_config()))
        self.sync = DirectorySync(
            self.directory,
            self.policy,
            removal_guard=settings.removal_guard,
            full_sync_interval=settings.full_sync_interval,
        )
        self.live_directory: AsyncDirectory | None = None
        live = None
        if settings.live_fallback:
            limit = settings.live_timeout.total_seconds()
            config = dataclasses.replace(
                settings.client_config(),
                retries=0,
                connect_timeout=min(settings.connect_timeout.total_seconds(), limit),
                receive_timeout=max(1, math.floor(limit)),
            )
            self.live_directory = AsyncDirectory(DirectoryClient(config), workers=1)
            live = LiveFallback(
                self.live_directory,
                self.sync,
                self.policy,
                timeout=limit,
                cache_ttl=settings.live_cache_ttl.total_seconds(),
            )
        self.lookup = DirectoryCallerLookup(self.policy, live=live, memory_index=True, aliases=aliases)
        self.last_report: SyncReport | None = None
        self.tickets = tickets  #: re-matches phone tickets after a good sync (None: only the index is updated)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def run_sync(
        self, *, dry_run: bool = False, full: bool = False, on_page: Callable[[int, int], None] | None = None
    ) -> SyncReport:
        """One sync now (never two at once in this process): incremental when possible, full with ``full``; after
        a good one, unmatched phone tickets opened since the previous good sync are matched again (when
        ``tickets`` is set)."""
        async with self._lock:
            previous = (await sync_state()).last_ok
            report = await self.sync.run(dry_run=dry_run, full=full, on_page=on_page)
            if dry_run:
                return report
            self.last_report = report
            await self.lookup.refresh()
            if report.ok and self.tickets is not None:
                report.rematched = await rematch_requesters(
                    self.lookup, self.tickets, previous.started_at if previous else None
                )
        return report

    def start(self) -> None:
        self._task = asyncio.create_task(self._periodic(), name="directory-sync")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self.lookup.close()
        self.directory.close()
        if self.live_directory is not None:
            self.live_directory.close()

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
