"""Who is calling, answered from the caller index synced from Active Directory (see tickets/directory_sync.py).

* the caller's raw number is normalised again with the site's :class:`NumberPolicy` (dialling prefixes, extension
  pattern), so ``95551230009`` from the trunk finds ``(555) 123-0009`` in AD;
* disabled accounts are never picked (they are not in the index, and the person is checked as well);
* several enabled people with the number: AMBIGUOUS with the candidates, for the agent to choose;
* no successful sync yet: UNAVAILABLE (we cannot say "nobody"); the last sync failed: the answer comes from the
  last good sync and says ``stale``;
* numbers not in the directory still match people entered by hand (``person.phone``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from directory.numbers import CallerNumber, NumberPolicy
from tickets.callers import CallerMatch, MatchStatus
from tickets.clock import Clock, utcnow
from tickets.models import CallerIndexEntry, DirectorySyncRun, Person

MAX_CANDIDATES = 10


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
    last_ok = last if last is not None and last.ok else await DirectorySyncRun.filter(ok=True, dry_run=False) \
        .order_by("-id").first()
    return SyncState(last_ok=last_ok, last=last)


class DirectoryCallerLookup:
    """A :class:`tickets.callers.CallerLookup` over the synced index; microseconds, no LDAP round trip."""

    def __init__(self, policy: NumberPolicy, *, state_ttl: float = 5.0) -> None:
        self.policy = policy
        self.state_ttl = state_ttl
        self._state: tuple[float, SyncState] | None = None

    def invalidate(self) -> None:
        """Forget the cached sync state (called after each sync)."""
        self._state = None

    async def state(self) -> SyncState:
        now = time.monotonic()
        if self._state is None or now - self._state[0] > self.state_ttl:
            self._state = (now, await sync_state())
        return self._state[1]

    async def lookup(self, number: CallerNumber) -> CallerMatch:
        local = self.policy.parse(number.raw)
        key = local.key or number.key
        state = await self.state()
        if key is None:
            return CallerMatch(MatchStatus.NONE, stale=state.stale)
        if not state.synced:
            manual = await _hand_entered(key)
            return manual if manual.status is not MatchStatus.NONE else CallerMatch(MatchStatus.UNAVAILABLE)
        rows = await (CallerIndexEntry.filter(key=key, person__disabled=False).order_by("person_id")
                      .limit(MAX_CANDIDATES).values_list("person_id", "attribute"))
        if not rows:
            manual = await _hand_entered(key)
            return CallerMatch(manual.status, manual.person_id, manual.candidates, stale=state.stale)
        if len(rows) == 1:
            return CallerMatch(MatchStatus.UNIQUE, person_id=rows[0][0], stale=state.stale, attribute=rows[0][1])
        return CallerMatch(MatchStatus.AMBIGUOUS, candidates=tuple(r[0] for r in rows), stale=state.stale)


async def _hand_entered(key: str) -> CallerMatch:
    """People entered by hand (not from the directory) whose phone has ``key``."""
    ids = await (Person.filter(phone_key=key, directory_guid__isnull=True, disabled=False).order_by("id")
                 .limit(MAX_CANDIDATES).values_list("id", flat=True))
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


async def directory_status(configured: bool, clock: Clock = utcnow) -> DirectoryStatus:
    state = await sync_state()
    people = await Person.filter(directory_guid__isnull=False, disabled=False).count()
    disabled = await Person.filter(directory_guid__isnull=False, disabled=True).count()
    numbers = await CallerIndexEntry.all().count()
    last_ok_at = state.last_ok.finished_at if state.last_ok else None
    failed = state.last if state.stale else None
    warning = state.last if state.last is not None and state.last.ok and state.last.error else None
    return DirectoryStatus(
        configured=configured, synced=state.synced, stale=state.stale, last_sync_at=last_ok_at,
        last_attempt_at=state.last.finished_at if state.last else None,
        age_seconds=(clock() - last_ok_at).total_seconds() if last_ok_at else None,
        people=people, disabled_people=disabled, numbers=numbers,
        last_error_kind=failed.error_kind if failed else ("removal_guard" if warning else None),
        last_error=(failed or warning).error if (failed or warning) else None)
