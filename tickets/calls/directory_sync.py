"""The directory sync: people and their numbers from Active Directory into ``person`` and ``caller_index``.

A full run reads every person (network, no transaction open), then writes everything in one transaction: people are
upserted by objectGUID, and the caller index is rebuilt (one row per enabled person and number key). So a lookup
sees the old index or the new one, never half of each.

After a full run, the next runs are incremental: they ask the same domain controller only for people whose
``uSNChanged`` is above the ``highestCommittedUSN`` it reported before the previous search (``directory_usn``), and
replace only those people's rows. Disabling an account changes it, so an incremental run sees it; a deleted account
is not in any search, so a full run comes back every ``full_sync_interval`` (and whenever the DC that answers is
another one, or its database was restored, or the search scope changed, or no watermark is stored).

Safety rules (a failed sync must never cost the help desk its callers):

* a failed or truncated read changes nothing but the record of the run (``directory_sync``);
* only a complete read marks people who are no longer in the directory, and not when that would remove more than
  ``removal_guard`` of them at once (a wrong base_dn or a service account that lost its read rights looks like
  "everybody left"): then nobody is removed and the run says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from tortoise.transactions import in_transaction

from directory import (
    DcIdentity,
    DirectoryError,
    DirectoryPerson,
    ErrorKind,
    FetchResult,
    NumberPolicy,
    UsnWatermark,
    region_of,
)
from tickets.clock import Clock, utcnow
from tickets.models import CallerIndexEntry, DirectorySyncRun, DirectoryUsnState, Person
from tickets.search import fold

log = logging.getLogger(__name__)
BATCH = 500
KEEP_RUNS = 1000  #: sync records kept (about ten days at the default interval)
#: Person fields the sync owns (a hand edit of these is overwritten by the next sync).
SYNCED_FIELDS = (
    "name",
    "email",
    "phone",
    "phone_key",
    "department",
    "title",
    "office",
    "country",
    "vip",
    "disabled",
)
STATE = "default"  #: the directory_usn row of the (one) configured directory


class PeopleSource(Protocol):
    async def fetch_people(
        self, on_page: Callable[[int, int], None] | None = None, since: UsnWatermark | None = None
    ) -> FetchResult: ...


@dataclass
class SyncReport:
    """What a sync did (or, for a dry run, would do)."""

    ok: bool
    dry_run: bool = False
    mode: str = "full"  #: "full" (everyone read; removals seen) or "incremental" (only people changed since)
    full_reason: str | None = None  #: why this run read everyone
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
        read = (
            (f"full sync ({self.full_reason}): " if self.full_reason else "full sync: ")
            if self.mode == "full"
            else "incremental sync: "
        )
        what = (
            f"{self.people} people, {self.numbers} numbers"
            if self.mode == "full"
            else f"{self.people} people changed since the last sync, {self.numbers} of their numbers"
        )
        text = (
            f"{read}{what} from {self.server}; {verb}: {len(self.added)} added, "
            f"{len(self.changed)} changed, {len(self.disabled)} disabled, {len(self.removed)} removed "
            f"({self.seconds:.2f} s)"
        )
        if self.rematched:
            text += f"; {self.rematched} phone tickets got their requester"
        return text + (f"; {self.warning}" if self.warning else "")


class DirectorySync:
    """Runs syncs from ``source`` with the site's number ``policy``."""

    def __init__(
        self,
        source: PeopleSource,
        policy: NumberPolicy,
        *,
        clock: Clock = utcnow,
        removal_guard: float = 0.5,
        full_sync_interval: timedelta | None = timedelta(hours=24),
    ) -> None:
        self.source = source
        self.policy = policy
        self.clock = clock
        self.removal_guard = removal_guard
        #: a full sync at least this often (removals are only seen then); None or 0: every sync is a full one
        self.full_sync_interval = full_sync_interval

    async def run(
        self, *, dry_run: bool = False, full: bool = False, on_page: Callable[[int, int], None] | None = None
    ) -> SyncReport:
        """One sync: incremental when the stored watermark allows it, else (or with ``full``) a full one."""
        started = self.clock()
        since, reason = await self._plan(full, started)
        try:
            fetched = await self.source.fetch_people(on_page, since=since)
        except DirectoryError as exc:
            report = SyncReport(
                ok=False, dry_run=dry_run, server=exc.server, error_kind=exc.kind.value, error=exc.message
            )
        except Exception as exc:  # a bug or an unforeseen failure: still never a partial write
            log.exception("directory sync failed")
            report = SyncReport(
                ok=False, dry_run=dry_run, error_kind=ErrorKind.PROTOCOL.value, error=f"{type(exc).__name__}: {exc}"
            )
        else:
            if fetched.changes_only:
                report = await self._apply_changes(fetched, started, dry_run)
            else:
                report = await self._apply(fetched, started, dry_run)
                report.full_reason = fetched.full_reason or reason
        report.seconds = (self.clock() - started).total_seconds()
        if not dry_run:
            await self._record(report, started)
        (log.info if report.ok else log.warning)("directory %s", report.summary())
        return report

    async def _plan(self, full: bool, now: datetime) -> tuple[UsnWatermark | None, str | None]:
        """The watermark to read changes since, or None and why everyone must be read."""
        if full:
            return None, "asked for"
        state = await DirectoryUsnState.get_or_none(source=STATE)
        if state is None or state.full_sync_at is None:
            return None, "no earlier full sync"
        if state.highest_usn is None or not state.dc_name or not state.invocation_id or not state.scope:
            return None, "the server does not report update sequence numbers"
        if not self.full_sync_interval:
            return None, "full_sync_interval is 0"
        if now - state.full_sync_at >= self.full_sync_interval:
            return None, "full_sync_interval reached: removals are only seen by a full sync"
        return UsnWatermark(DcIdentity(state.dc_name, state.invocation_id), int(state.highest_usn), state.scope), None

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
            report.warning = (
                f"{len(gone)} of {active_before} people are no longer in the directory; that looks like "
                "a wrong base_dn or user_filter, or a service account that lost its read rights, so "
                "nobody was removed (raise [directory] removal_guard if it is real)"
            )
            gone = []
        report.removed = [p.name for p in gone]
        rows = list(self._index_rows(fetched.people))
        report.numbers = len(rows)
        if dry_run:
            return report
        async with in_transaction():
            ids = {guid: p.id for guid, p in existing.items()}
            ids.update(await self._create(new, wanted, now))
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
                [
                    CallerIndexEntry(key=key, person_id=ids[guid], attribute=attr, written=written[:128])
                    for guid, key, attr, written in rows
                ],
                batch_size=BATCH,
            )
            await _save_state(fetched, now, full=True)
        return report

    async def _apply_changes(self, fetched: FetchResult, now: datetime, dry_run: bool) -> SyncReport:
        """An incremental run: upsert the people read, replace only their index rows, refresh VIP flags."""
        report = SyncReport(
            ok=True, dry_run=dry_run, mode="incremental", server=fetched.server, people=len(fetched.people)
        )
        plan = await self._upsert_plan(fetched.people, fetched.vip_guids)
        report.added, report.changed, report.disabled = plan.added, plan.changed, plan.disabled
        report.numbers = len(plan.rows)
        if dry_run:
            return report
        async with in_transaction():
            await self._write(plan, now)
            await _save_state(fetched, now, full=False)
        return report

    async def upsert(self, people: Sequence[DirectoryPerson], now: datetime | None = None) -> dict[str, int]:
        """Write ``people`` (read live from the directory) as an incremental run would; returns guid -> person id.
        The index rows of people not listed stay as they are."""
        plan = await self._upsert_plan(people, None)
        async with in_transaction():
            return await self._write(plan, now or self.clock())

    async def _upsert_plan(self, people: Sequence[DirectoryPerson], vip_guids: frozenset[str] | None) -> _Upsert:
        wanted = {p.guid: self._values(p) for p in people}
        existing = {p.directory_guid: p for p in await _people_by_guid(list(wanted)) if p.directory_guid is not None}
        plan = _Upsert(
            wanted=wanted, existing={g: p.id for g, p in existing.items()}, rows=list(self._index_rows(people))
        )
        for guid, values in wanted.items():
            person = existing.get(guid)
            if person is None:
                plan.added.append(values["name"])
                continue
            diff = {k: v for k, v in values.items() if getattr(person, k) != v}
            if diff:
                plan.changes[guid] = diff
                (plan.disabled if diff.get("disabled") is True else plan.changed).append(values["name"])
        if vip_guids is not None:  # group membership changes the group, not the member's uSNChanged
            others = await (
                Person.filter(directory_guid__isnull=False)
                .exclude(directory_guid__in=list(wanted))
                .values_list("id", "directory_guid", "vip", "name")
            )
            for person_id, guid, vip, name in others:
                if bool(vip) != (guid in vip_guids):
                    plan.vip[person_id] = guid in vip_guids
                    plan.changed.append(name)
        return plan

    async def _write(self, plan: _Upsert, now: datetime) -> dict[str, int]:
        """Apply ``plan`` inside the caller's transaction; returns guid -> person id of the people in it."""
        ids = dict(plan.existing)
        ids.update(await self._create([g for g in plan.wanted if g not in ids], plan.wanted, now))
        for guid, diff in plan.changes.items():
            await Person.filter(id=ids[guid]).update(**diff, search_text=_search(plan.wanted[guid]), updated_at=now)
        for chunk in _chunks(list(plan.existing.values())):
            await Person.filter(id__in=chunk).update(synced_at=now)
        for flag in (True, False):
            for chunk in _chunks([pid for pid, vip in plan.vip.items() if vip is flag]):
                await Person.filter(id__in=chunk).update(vip=flag, updated_at=now)
        for chunk in _chunks(list(ids.values())):
            await CallerIndexEntry.filter(person_id__in=chunk).delete()
        await CallerIndexEntry.bulk_create(
            [
                CallerIndexEntry(key=key, person_id=ids[guid], attribute=attr, written=written[:128])
                for guid, key, attr, written in plan.rows
            ],
            batch_size=BATCH,
        )
        return ids

    async def _create(self, guids: list[str], wanted: dict[str, dict[str, Any]], now: datetime) -> dict[str, int]:
        """Create the people ``guids`` (inside the caller's transaction); one created meanwhile (by a live
        lookup) is taken as it is and updated."""
        ids: dict[str, int] = {}
        meanwhile = {p.directory_guid: p.id for p in await _people_by_guid(guids)}
        for guid in guids:
            values = wanted[guid]
            if guid in meanwhile:
                await Person.filter(id=meanwhile[guid]).update(
                    **values, search_text=_search(values), synced_at=now, updated_at=now
                )
                ids[guid] = meanwhile[guid]
                continue
            person = await Person.create(
                **values,
                directory_guid=guid,
                search_text=_search(values),
                synced_at=now,
                created_at=now,
                updated_at=now,
            )
            ids[guid] = person.id
        return ids

    def _values(self, p: DirectoryPerson) -> dict[str, Any]:
        """The Person columns for ``p``; its desk phone is the first number in attribute order."""
        phone = next((value for _, value in p.phones), None)
        return {
            "name": p.name[:200],
            "email": (p.mail or None) and p.mail[:254],
            "phone": phone and phone[:64],
            "phone_key": self.policy.parse(phone, p.country).key if phone else None,
            "department": p.department and p.department[:128],
            "title": p.title and p.title[:128],
            "office": p.office and p.office[:128],
            "country": region_of(p.country),
            "vip": p.vip,
            "disabled": p.disabled,
        }

    def _index_rows(self, people: Iterable[DirectoryPerson]) -> Iterable[tuple[str, str, str, str]]:
        """(guid, key, attribute, written) per enabled person and distinct number key; numbers written without
        ``+<country code>`` are read in the person's country (AD's ``c``), else in the site's default region."""
        for p in people:
            if p.disabled:
                continue
            keys: set[str] = set()
            for attribute, value in p.phones:
                key = self.policy.parse(value, p.country).key
                if key and key not in keys:
                    keys.add(key)
                    yield p.guid, key, attribute, value

    async def _record(self, report: SyncReport, started: datetime) -> None:
        await DirectorySyncRun.create(
            started_at=started,
            finished_at=self.clock(),
            ok=report.ok,
            server=report.server and report.server[:255],
            people=report.people,
            numbers=report.numbers,
            added=len(report.added),
            changed=len(report.changed),
            disabled=len(report.disabled),
            removed=len(report.removed),
            error_kind=report.error_kind,
            error=report.error or report.warning,
        )
        # flat: the value or None, not a tuple (tortoise's types)
        newest = cast(int | None, await DirectorySyncRun.all().order_by("-id").first().values_list("id", flat=True))
        if newest is not None and int(newest) > KEEP_RUNS:  # old records go, but never the last good sync
            last_ok = cast(
                int | None, await DirectorySyncRun.filter(ok=True).order_by("-id").first().values_list("id", flat=True)
            )
            await DirectorySyncRun.filter(id__lte=int(newest) - KEEP_RUNS).exclude(id=last_ok or 0).delete()


@dataclass
class _Upsert:
    """What writing some people changes: new ones, changed fields, VIP flags of others, their index rows."""

    wanted: dict[str, dict[str, Any]]
    existing: dict[str, int]
    rows: list[tuple[str, str, str, str]]
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    vip: dict[int, bool] = field(default_factory=dict)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)


async def _people_by_guid(guids: list[str]) -> list[Person]:
    people: list[Person] = []
    for start in range(0, len(guids), BATCH):
        people += await Person.filter(directory_guid__in=guids[start : start + BATCH])
    return people


async def _save_state(fetched: FetchResult, now: datetime, *, full: bool) -> None:
    """Remember where this run left off (inside its transaction: the watermark never runs ahead of the data)."""
    mark = fetched.watermark
    values: dict[str, Any] = {
        "server": fetched.server[:255],
        "dc_name": mark.dc.name[:512] if mark else None,
        "invocation_id": mark.dc.invocation_id if mark else None,
        "highest_usn": mark.usn if mark else None,
        "scope": mark.scope if mark else None,
        "updated_at": now,
    }
    if full:
        values["full_sync_at"] = now
    state = await DirectoryUsnState.get_or_none(source=STATE)
    if state is None:
        await DirectoryUsnState.create(source=STATE, **values)
    else:
        await DirectoryUsnState.filter(id=state.id).update(**values)


def _search(values: dict[str, Any]) -> str:
    return fold(values.get("name"), values.get("email"), values.get("phone"), values.get("department"))


def _chunks(items: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]
