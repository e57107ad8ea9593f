"""The directory sync: people and their numbers from Active Directory into ``person`` and ``caller_index``.

One run reads every person (network, no transaction open), then writes everything in one transaction: people are
upserted by objectGUID, and the caller index is rebuilt (one row per enabled person and number key). So a lookup
sees the old index or the new one, never half of each.

Safety rules (a failed sync must never cost the help desk its callers):

* a failed or truncated read changes nothing but the record of the run (``directory_sync``);
* only a complete read marks people who are no longer in the directory, and not when that would remove more than
  ``removal_guard`` of them at once (a wrong base_dn or a service account that lost its read rights looks like
  "everybody left"): then nobody is removed and the run says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from tortoise.transactions import in_transaction

from directory.client import DirectoryPerson, FetchResult
from directory.errors import DirectoryError, ErrorKind
from directory.numbers import NumberPolicy
from tickets.clock import Clock, utcnow
from tickets.models import CallerIndexEntry, DirectorySyncRun, Person
from tickets.search import fold

log = logging.getLogger(__name__)
BATCH = 500
KEEP_RUNS = 1000  #: sync records kept (about ten days at the default interval)
#: Person fields the sync owns (a hand edit of these is overwritten by the next sync).
SYNCED_FIELDS = ("name", "email", "phone", "phone_key", "department", "title", "vip", "disabled")


class PeopleSource(Protocol):
    async def fetch_people(self, on_page: Callable[[int, int], None] | None = None) -> FetchResult: ...


@dataclass
class SyncReport:
    """What a sync did (or, for a dry run, would do)."""

    ok: bool
    dry_run: bool = False
    server: str | None = None
    people: int = 0
    numbers: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    warning: str | None = None
    rematched: int = 0  #: phone tickets that got their requester after this sync
    error_kind: str | None = None
    error: str | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        if not self.ok:
            return f"sync failed ({self.error_kind}): {self.error}"
        verb = "would change" if self.dry_run else "changed"
        text = (f"{self.people} people, {self.numbers} numbers from {self.server}; {verb}: {len(self.added)} added, "
                f"{len(self.changed)} changed, {len(self.disabled)} disabled, {len(self.removed)} removed "
                f"({self.seconds:.2f} s)")
        if self.rematched:
            text += f"; {self.rematched} phone tickets got their requester"
        return text + (f"; {self.warning}" if self.warning else "")


class DirectorySync:
    """Runs syncs from ``source`` with the site's number ``policy``."""

    def __init__(self, source: PeopleSource, policy: NumberPolicy, *, clock: Clock = utcnow,
                 removal_guard: float = 0.5) -> None:
        self.source = source
        self.policy = policy
        self.clock = clock
        self.removal_guard = removal_guard

    async def run(self, *, dry_run: bool = False, on_page: Callable[[int, int], None] | None = None) -> SyncReport:
        started = self.clock()
        try:
            fetched = await self.source.fetch_people(on_page)
        except DirectoryError as exc:
            report = SyncReport(ok=False, dry_run=dry_run, server=exc.server, error_kind=exc.kind.value,
                                error=exc.message)
        except Exception as exc:  # a bug or an unforeseen failure: still never a partial write
            log.exception("directory sync failed")
            report = SyncReport(ok=False, dry_run=dry_run, error_kind=ErrorKind.PROTOCOL.value,
                                error=f"{type(exc).__name__}: {exc}")
        else:
            report = await self._apply(fetched, started, dry_run)
        report.seconds = (self.clock() - started).total_seconds()
        if not dry_run:
            await self._record(report, started)
        (log.info if report.ok else log.warning)("directory %s", report.summary())
        return report

    async def _apply(self, fetched: FetchResult, now: datetime, dry_run: bool) -> SyncReport:
        report = SyncReport(ok=True, dry_run=dry_run, server=fetched.server, people=len(fetched.people))
        wanted = {p.guid: self._values(p) for p in fetched.people}
        existing = {p.directory_guid: p for p in await Person.filter(directory_guid__isnull=False)}
        new = [guid for guid in wanted if guid not in existing]
        changes: dict[str, dict[str, Any]] = {}
        for guid, values in wanted.items():
            person = existing.get(guid)
            if person is None:
                continue
            diff = {k: v for k, v in values.items() if getattr(person, k) != v}
            if diff:
                changes[guid] = diff
                (report.disabled if diff.get("disabled") is True else report.changed).append(values["name"])
        report.added = [wanted[g]["name"] for g in new]
        gone = [p for guid, p in existing.items() if guid not in wanted and not p.disabled]
        active_before = sum(not p.disabled for p in existing.values())
        if gone and active_before >= 10 and len(gone) > self.removal_guard * active_before:
            report.warning = (f"{len(gone)} of {active_before} people are no longer in the directory; that looks like "
                              "a wrong base_dn or user_filter, or a service account that lost its read rights, so "
                              "nobody was removed (raise [directory] removal_guard if it is real)")
            gone = []
        report.removed = [p.name for p in gone]
        rows = list(self._index_rows(fetched.people))
        report.numbers = len(rows)
        if dry_run:
            return report
        async with in_transaction():
            ids = {guid: p.id for guid, p in existing.items()}
            for guid in new:
                person = await Person.create(**wanted[guid], directory_guid=guid, search_text=_search(wanted[guid]),
                                             synced_at=now, created_at=now, updated_at=now)
                ids[guid] = person.id
            for guid, diff in changes.items():
                await Person.filter(id=ids[guid]).update(**diff, search_text=_search(wanted[guid]), updated_at=now)
            seen = [ids[g] for g in wanted if g not in new]
            for chunk in _chunks(seen):
                await Person.filter(id__in=chunk).update(synced_at=now)
            for chunk in _chunks([p.id for p in gone]):
                await Person.filter(id__in=chunk).update(disabled=True, updated_at=now)
            # numbers of people not read this time but kept (the removal guard held) stay in the index
            kept = [p.id for guid, p in existing.items() if guid not in wanted and not p.disabled and p not in gone]
            await (CallerIndexEntry.exclude(person_id__in=kept) if kept else CallerIndexEntry.all()).delete()
            await CallerIndexEntry.bulk_create(
                [CallerIndexEntry(key=key, person_id=ids[guid], attribute=attr, written=written[:128])
                 for guid, key, attr, written in rows], batch_size=BATCH)
        return report

    def _values(self, p: DirectoryPerson) -> dict[str, Any]:
        """The Person columns for ``p``; its desk phone is the first number in attribute order."""
        phone = next((value for _, value in p.phones), None)
        return {"name": p.name[:200], "email": (p.mail or None) and p.mail[:254], "phone": phone and phone[:64],
                "phone_key": self.policy.parse(phone).key if phone else None,
                "department": p.department and p.department[:128], "title": p.title and p.title[:128],
                "vip": p.vip, "disabled": p.disabled}

    def _index_rows(self, people: Iterable[DirectoryPerson]) -> Iterable[tuple[str, str, str, str]]:
        """(guid, key, attribute, written) per enabled person and distinct number key."""
        for p in people:
            if p.disabled:
                continue
            keys: set[str] = set()
            for attribute, value in p.phones:
                key = self.policy.parse(value).key
                if key and key not in keys:
                    keys.add(key)
                    yield p.guid, key, attribute, value

    async def _record(self, report: SyncReport, started: datetime) -> None:
        await DirectorySyncRun.create(
            started_at=started, finished_at=self.clock(), ok=report.ok, server=report.server and report.server[:255],
            people=report.people, numbers=report.numbers, added=len(report.added), changed=len(report.changed),
            disabled=len(report.disabled), removed=len(report.removed), error_kind=report.error_kind,
            error=report.error or report.warning)
        newest = await DirectorySyncRun.all().order_by("-id").first().values_list("id", flat=True)
        if newest is not None and int(newest) > KEEP_RUNS:  # old records go, but never the last good sync
            last_ok = await DirectorySyncRun.filter(ok=True).order_by("-id").first().values_list("id", flat=True)
            await DirectorySyncRun.filter(id__lte=int(newest) - KEEP_RUNS).exclude(id=last_ok or 0).delete()


def _search(values: dict[str, Any]) -> str:
    return fold(values.get("name"), values.get("email"), values.get("phone"), values.get("department"))


def _chunks(items: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(items), BATCH):
        yield items[start:start + BATCH]
