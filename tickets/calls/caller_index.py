"""Who is calling, answered from the caller index synced from Active Directory (see tickets/calls/directory_sync.py).

* the caller's raw number is normalised again with the site's :class:`NumberPolicy` (dialling prefixes, extension
  pattern), so ``95551230009`` from the trunk finds ``(555) 123-0009`` in AD;
* disabled accounts are never picked (they are not in the index, and the person is checked as well);
* several enabled people with the number: AMBIGUOUS with the candidates, for the agent to choose;
* no successful sync yet: UNAVAILABLE (we cannot say "nobody"); the last sync failed: the answer comes from the
  last good sync and says ``stale``;
* a local alias (an agent's "this number is ...", tickets/calls/aliases.py) answers before the index, and no sync
  changes it;
* numbers not in the directory still match people entered by hand (``person.phone``);
* optionally (``[directory] live_fallback``), a number nobody has in the index is asked of the directory itself
  (:class:`LiveFallback`): someone added to AD since the last sync is found, and written to the index.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

import phonenumbers

from directory import CallerNumber, DirectoryError, DirectoryPerson, NumberPolicy
from tickets.calls.aliases import TABLE, AliasService, AliasSource
from tickets.calls.callers import CallerMatch, MatchStatus, alias_match
from tickets.clock import Clock, utcnow
from tickets.models import CallerIndexEntry, DirectorySyncRun, DirectoryUsnState, Person

log = logging.getLogger(__name__)
MAX_CANDIDATES = 10
MAX_CACHED = 1024
MAX_IN_MEMORY = 2_000_000  #: numbers; a bigger index stays in the database only


@dataclass(frozen=True)
class SyncState:
    """The directory sync as the lookup and the status endpoints see it."""

    last_ok: DirectorySyncRun | None
    last: DirectorySyncRun | None

    @property
    def synced(self) -> bool:
        return self.last_ok is not None

    @property
    def stale(self) -> bool:
        """The most recent sync failed: the index is what the last good sync left."""
        return self.last is not None and not self.last.ok


async def sync_state() -> SyncState:
    last = await DirectorySyncRun.filter(dry_run=False).order_by("-id").first()
    last_ok = (
        last
        if last is not None and last.ok
        else await DirectorySyncRun.filter(ok=True, dry_run=False).order_by("-id").first()
    )
    return SyncState(last_ok=last_ok, last=last)


class LiveSource(Protocol):
    """The directory, asked directly (:meth:`directory.client.AsyncDirectory.find_by_number`)."""

    async def find_by_number(
        self, digits: str | None = None, extension: str | None = None
    ) -> list[DirectoryPerson]: ...


class PeopleWriter(Protocol):
    """Writes people read live into ``person`` and the index
    (:meth:`tickets.calls.directory_sync.DirectorySync.upsert`)."""

    async def upsert(self, people: Sequence[DirectoryPerson]) -> dict[str, int]: ...


class LiveFallback:
    """Asks the directory for a number the index does not have; bounded by ``timeout``, answers cached.

    The search is loose (the national digits in order, any separators: AD keeps numbers as free text); each
    candidate's numbers are then normalised with the site's policy and must give the caller's key exactly. People
    found are written to the index, so the next call from them is answered locally. When the directory fails or
    is slow, the answer is None (the index's answer stands) and live lookups pause for ``cache_ttl``.
    """

    def __init__(
        self,
        source: LiveSource,
        writer: PeopleWriter,
        policy: NumberPolicy,
        *,
        timeout: float = 2.0,
        cache_ttl: float = 60.0,
    ) -> None:
        self.source = source
        self.writer = writer
        self.policy = policy
        self.timeout = timeout
        self.cache_ttl = cache_ttl
        self._cache: dict[str, tuple[float, tuple[tuple[int, str], ...]]] = {}
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    async def find(self, number: CallerNumber) -> tuple[tuple[int, str], ...] | None:
        """(person id, attribute) of the enabled people with ``number``; None when the directory was not asked."""
        key = number.key
        if key is None:
            return ()
        async with self._lock:  # one live search at a time; the same number twice is one search
            now = time.monotonic()
            cached = self._cache.get(key)
            if cached is not None and cached[0] > now:
                return cached[1]
            if now < self._paused_until:
                return None
            found = await self._search(number, key)
            if found is None:
                self._paused_until = time.monotonic() + self.cache_ttl
                return None
            if len(self._cache) >= MAX_CACHED:
                for stale in [k for k, (until, _) in self._cache.items() if until <= now] or list(self._cache)[:1]:
                    del self._cache[stale]
            self._cache[key] = (time.monotonic() + self.cache_ttl, found)
            return found

    async def _search(self, number: CallerNumber, key: str) -> tuple[tuple[int, str], ...] | None:
        digits = _national_digits(number.e164) if number.e164 else None
        try:
            people = await asyncio.wait_for(self.source.find_by_number(digits, number.extension), self.timeout)
        except (DirectoryError, TimeoutError) as exc:
            log.warning(
                "directory: live lookup failed, answering from the index: %s",
                exc if isinstance(exc, DirectoryError) else f"no answer within {self.timeout:g} s",
            )
            return None
        except Exception:  # a bug: the index's answer stands
            log.exception("directory: live lookup failed")
            return None
        matching: list[tuple[DirectoryPerson, str]] = []
        for person in people:
            attribute = next(
                (a for a, value in person.phones if self.policy.parse(value, person.country).key == key), None
            )
            if attribute is not None and not person.disabled:
                matching.append((person, attribute))
        if not matching:
            return ()
        try:
            ids = await self.writer.upsert([p for p, _ in matching[:MAX_CANDIDATES]])
        except Exception:  # the database is busy or away: the index's answer stands
            log.exception("directory: could not store the people found live")
            return None
        log.info("directory: %s found live (not in the index yet): %d people", key, len(matching))
        return tuple((ids[p.guid], attribute) for p, attribute in matching[:MAX_CANDIDATES] if p.guid in ids)


def _national_digits(e164: str) -> str | None:
    try:
        return str(phonenumbers.national_significant_number(phonenumbers.parse(e164)))
    except phonenumbers.NumberParseException:
        return None


class DirectoryCallerLookup:
    """A :class:`tickets.calls.callers.CallerLookup` over the synced index, no LDAP round trip (unless ``live`` is set
    and the index has nobody for the number).

    With ``memory_index``, the index is also kept in memory (a dict, about 200 bytes per number) and answers in
    microseconds: it is loaded after each sync (:meth:`refresh`), or in the background when this process notices a
    sync made elsewhere; until it is loaded, and for numbers it does not have, the table answers.
    """

    def __init__(
        self,
        policy: NumberPolicy,
        *,
        state_ttl: float = 5.0,
        live: LiveFallback | None = None,
        memory_index: bool = False,
        aliases: AliasSource = TABLE,
    ) -> None:
        self.policy = policy
        self.aliases = aliases
        self.state_ttl = state_ttl
        self.live = live
        self.memory_index = memory_index
        self._state: tuple[float, SyncState] | None = None
        self._memory: tuple[int, dict[str, tuple[tuple[int, str], ...]]] | None = None  #: (sync run id, index)
        self._loading: asyncio.Task[None] | None = None

    def invalidate(self) -> None:
        """Forget the cached sync state (called after each sync)."""
        self._state = None

    async def refresh(self) -> None:
        """After a sync: read the sync state (and the aliases: people may be disabled) again and, with
        ``memory_index``, load the index into memory now."""
        self._state = None
        if isinstance(self.aliases, AliasService):
            self.aliases.invalidate()
        state = await self.state()
        if self.memory_index and state.last_ok is not None and (self._memory or (None,))[0] != state.last_ok.id:
            await self.close()
            await self._load(state)

    async def close(self) -> None:
        """Stop a background load of the in-memory index."""
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loading
        self._loading = None

    async def state(self) -> SyncState:
        now = time.monotonic()
        if self._state is None or now - self._state[0] > self.state_ttl:
            self._state = (now, await sync_state())
        return self._state[1]

    def _in_memory(self, state: SyncState) -> dict[str, tuple[tuple[int, str], ...]] | None:
        """The in-memory index of the last good sync, or None (then a background load starts)."""
        if not self.memory_index or state.last_ok is None:
            return None
        if self._memory is not None and self._memory[0] == state.last_ok.id:
            return self._memory[1]
        if self._loading is None or self._loading.done():
            self._loading = asyncio.create_task(self._load(state), name="caller-index-load")
        return None

    async def _load(self, state: SyncState) -> None:
        if state.last_ok is None:
            return
        try:
            if await CallerIndexEntry.all().count() > MAX_IN_MEMORY:
                log.warning("directory: more than %d numbers: the caller index stays in the database", MAX_IN_MEMORY)
                self.memory_index = False
                return
            rows = await (
                CallerIndexEntry.filter(person__disabled=False)
                .order_by("key", "person_id")
                .values_list("key", "person_id", "attribute")
            )
        except asyncio.CancelledError:
            raise
        except Exception:  # the database is away: the table answers (or fails) as before
            log.exception("directory: could not load the caller index into memory")
            return
        index: dict[str, list[tuple[int, str]]] = {}
        for key, person_id, attribute in rows:
            found = index.setdefault(key, [])
            if len(found) < MAX_CANDIDATES:
                found.append((person_id, sys.intern(attribute)))  # six attribute names, not 100,000 copies
        self._memory = (state.last_ok.id, {key: tuple(found) for key, found in index.items()})

    async def lookup(self, number: CallerNumber) -> CallerMatch:
        local = self.policy.parse(number.raw)
        key = local.key or number.key
        state = await self.state()
        if key is None:
            return CallerMatch(MatchStatus.NONE, stale=state.stale)
        alias = await alias_match(
            key, self.aliases
        )  # an agent's "this number is ...": before (and whatever) the directory says
        if alias is not None:
            return alias
        if not state.synced:
            manual = await _hand_entered(key)
            if manual.status is not MatchStatus.NONE:
                return manual
            found = await self.live.find(local if local.key else number) if self.live else None
            return _from_index(found, False) if found else CallerMatch(MatchStatus.UNAVAILABLE)
        memory = self._in_memory(state)
        if memory is not None and key in memory:
            return _from_index(memory[key], state.stale)
        rows = await (
            CallerIndexEntry.filter(key=key, person__disabled=False)
            .order_by("person_id")
            .limit(MAX_CANDIDATES)
            .values_list("person_id", "attribute")
        )
        if not rows:
            manual = await _hand_entered(key)
            if manual.status is MatchStatus.NONE and self.live is not None:
                found = await self.live.find(local if local.key else number)
                if found:
                    return _from_index(found, state.stale)
            return CallerMatch(manual.status, manual.person_id, manual.candidates, stale=state.stale)
        return _from_index(tuple(rows), state.stale)


def _from_index(rows: tuple[tuple[int, str], ...], stale: bool) -> CallerMatch:
    if len(rows) == 1:
        return CallerMatch(MatchStatus.UNIQUE, person_id=rows[0][0], stale=stale, attribute=rows[0][1])
    return CallerMatch(MatchStatus.AMBIGUOUS, candidates=tuple(r[0] for r in rows), stale=stale)


async def _hand_entered(key: str) -> CallerMatch:
    """People entered by hand (not from the directory) whose phone has ``key``."""
    ids = cast(
        list[int],
        await (  # flat: values, not tuples (tortoise's types)
            Person.filter(phone_key=key, directory_guid__isnull=True, disabled=False)
            .order_by("id")
            .limit(MAX_CANDIDATES)
            .values_list("id", flat=True)
        ),
    )
    if not ids:
        return CallerMatch(MatchStatus.NONE)
    if len(ids) == 1:
        return CallerMatch(MatchStatus.UNIQUE, person_id=ids[0], attribute="phone")
    return CallerMatch(MatchStatus.AMBIGUOUS, candidates=tuple(ids))


@dataclass(frozen=True)
class DirectoryStatus:
    """For GET /api/v1/directory, /readyz and ``helpline directory sync``."""

    configured: bool
    synced: bool
    stale: bool
    last_sync_at: datetime | None
    last_attempt_at: datetime | None
    age_seconds: float | None
    people: int
    disabled_people: int
    numbers: int
    last_error_kind: str | None
    last_error: str | None
    last_full_sync_at: datetime | None = None  # removals are seen by full syncs only
    dc: str | None = None  # the server whose changes the next incremental sync asks for (None: next one is full)


async def directory_status(configured: bool, clock: Clock = utcnow) -> DirectoryStatus:
    state = await sync_state()
    people = await Person.filter(directory_guid__isnull=False, disabled=False).count()
    disabled = await Person.filter(directory_guid__isnull=False, disabled=True).count()
    numbers = await CallerIndexEntry.all().count()
    last_ok_at = state.last_ok.finished_at if state.last_ok else None
    failed = state.last if state.stale else None
    warning = state.last if state.last is not None and state.last.ok and state.last.error else None
    problem = failed or warning
    usn = await DirectoryUsnState.first()  # the one configured directory's watermark (tickets/calls/directory_sync.py)
    return DirectoryStatus(
        configured=configured,
        synced=state.synced,
        stale=state.stale,
        last_sync_at=last_ok_at,
        last_attempt_at=state.last.finished_at if state.last else None,
        age_seconds=(clock() - last_ok_at).total_seconds() if last_ok_at else None,
        people=people,
        disabled_people=disabled,
        numbers=numbers,
        last_error_kind=failed.error_kind if failed else ("removal_guard" if warning else None),
        last_error=problem.error if problem else None,
        last_full_sync_at=usn.full_sync_at if usn else None,
        dc=usn.server if usn and usn.highest_usn is not None else None,
    )
