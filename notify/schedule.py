"""On-call schedules: who is on call at a moment, and the shifts of a period. Pure: no I/O, no clock.

A schedule has one rotation: its members take turns, each for ``length`` (one day or one week, or N of them),
handing over at a wall-clock time in the schedule's time zone (``mon 09:00`` for a weekly rotation, ``09:00`` for
a daily one). Hand-offs stay at that local time across daylight-saving changes: a weekly shift that spans the
change is an hour shorter or longer; a hand-off in a skipped hour happens when the clocks jump, one in an hour
that happens twice at its first occurrence.

Overrides (holidays, swaps) put somebody else on call for an interval; the most recently added override that
covers a moment wins. Overrides come from the configuration and from the API (stored in the database).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: The default anchor of every rotation: a Monday. The first member is on call from the first hand-off after it.
DEFAULT_START = date(2024, 1, 1)
_HANDOFF = re.compile(r"^\s*(?:(mon|tue|wed|thu|fri|sat|sun)[a-z]*\s+)?([01]?\d|2[0-3]):([0-5]\d)\s*$", re.I)
_LENGTH = re.compile(r"^\s*(\d+)\s*([dw])\s*$")


class ScheduleError(ValueError):
    """A rotation or override that cannot work, with the fix."""


def parse_handoff(text: str) -> tuple[int | None, time]:
    """``"mon 09:00"`` -> (0, 09:00); ``"09:00"`` -> (None, 09:00)."""
    match = _HANDOFF.match(text)
    if not match:
        raise ScheduleError(f'handoff: write it like "mon 09:00" (weekly) or "09:00" (daily), got {text!r}')
    day = WEEKDAYS.index(match.group(1).lower()[:3]) if match.group(1) else None
    return day, time(int(match.group(2)), int(match.group(3)))


def parse_length(text: str) -> int:
    """``"1w"`` -> 7, ``"1d"`` -> 1, ``"2w"`` -> 14: a rotation length in whole days."""
    match = _LENGTH.match(text)
    if not match or int(match.group(1)) == 0:
        raise ScheduleError(f'length: write it like "1w", "2w" or "1d", got {text!r}')
    return int(match.group(1)) * (7 if match.group(2) == "w" else 1)


@dataclass(frozen=True)
class Override:
    """``person`` is on call from ``start`` to ``end`` (aware datetimes) instead of the rotation."""

    start: datetime
    end: datetime
    person: str
    reason: str = ""
    #: Later overrides win where they overlap (config overrides first, then API overrides by id).
    rank: int = 0


@dataclass(frozen=True)
class Shift:
    """Somebody on call from ``start`` to ``end``; ``override`` tells an override from the rotation."""

    start: datetime
    end: datetime
    person: str | None
    override: bool = False


@dataclass(frozen=True)
class Rotation:
    """Members taking turns of ``days`` days, handing over at ``handoff`` local time (on ``weekday``)."""

    members: tuple[str, ...]
    days: int
    handoff: time
    weekday: int | None = None
    start: date = DEFAULT_START

    @classmethod
    def parse(cls, members: Sequence[str], length: str, handoff: str, start: date | None = None) -> Rotation:
        days = parse_length(length)
        weekday, at = parse_handoff(handoff)
        if weekday is not None and days % 7:
            raise ScheduleError(
                'a hand-off on a weekday needs a length in weeks ("1w"); '
                'for a daily rotation write only the time ("09:00")'
            )
        if not members:
            raise ScheduleError("members: list at least one person")
        return cls(tuple(members), days, at, weekday, start or DEFAULT_START)

    def anchor(self) -> date:
        """The local date of the first hand-off (member 0 starts): the first ``weekday`` on or after ``start``."""
        if self.weekday is None:
            return self.start
        return self.start + timedelta(days=(self.weekday - self.start.weekday()) % 7)


@dataclass(frozen=True)
class Schedule:
    """A named rotation in a time zone, with overrides."""

    name: str
    tz: ZoneInfo
    rotation: Rotation
    overrides: tuple[Override, ...] = field(default_factory=tuple)

    # -- the rotation ----------------------------------------------------------------------------------------

    def handoff_at(self, k: int) -> datetime:
        """The ``k``-th hand-off (0: the first, negative: before it), as an aware UTC datetime.

        Counted on the local calendar, so it stays at the same wall-clock time across DST changes. A hand-off in a
        skipped hour (spring forward) happens at the first valid moment after it.
        """
        day = self.rotation.anchor() + timedelta(days=k * self.rotation.days)
        wall = datetime.combine(day, self.rotation.handoff)
        utc = wall.replace(tzinfo=self.tz).astimezone(UTC)
        if utc.astimezone(self.tz).replace(tzinfo=None) == wall:
            return utc  # (an hour that happens twice: its first occurrence)
        # skipped (spring forward): the moment the clocks jump, the first that shows a later time
        utc = wall.replace(tzinfo=self.tz, fold=1).astimezone(UTC)
        while utc.astimezone(self.tz).replace(tzinfo=None) < wall:
            utc += timedelta(minutes=1)
        return utc

    def turn(self, at: datetime) -> int:
        """The number of the hand-off in force at ``at``."""
        local_day = at.astimezone(self.tz).date()
        k = (local_day - self.rotation.anchor()).days // self.rotation.days
        while self.handoff_at(k) > at:
            k -= 1
        while self.handoff_at(k + 1) <= at:
            k += 1
        return k

    def rotation_at(self, at: datetime) -> str:
        """The rotation member on call at ``at`` (overrides aside)."""
        members = self.rotation.members
        return members[self.turn(at) % len(members)]

    # -- with overrides --------------------------------------------------------------------------------------

    def on_call(self, at: datetime, extra: Iterable[Override] = ()) -> str:
        """Who is on call at ``at`` (aware): the winning override covering it, else the rotation member."""
        best: Override | None = None
        for o in (*self.overrides, *extra):
            if o.start <= at < o.end and (best is None or o.rank >= best.rank):
                best = o
        return best.person if best is not None else self.rotation_at(at)

    def shifts(self, start: datetime, end: datetime, extra: Iterable[Override] = ()) -> list[Shift]:
        """Who is on call from ``start`` to ``end``, as consecutive shifts (overrides cut into the rotation)."""
        overrides = [*self.overrides, *extra]
        cuts = {start, end}
        k = self.turn(start) + 1
        while (h := self.handoff_at(k)) < end:
            cuts.add(h)
            k += 1
        for o in overrides:
            cuts.update(t for t in (o.start, o.end) if start < t < end)
        points = sorted(cuts)
        out: list[Shift] = []
        for a, b in itertools.pairwise(points):
            person = self.on_call(a, overrides[len(self.overrides) :])
            is_override = any(o.start <= a < o.end for o in overrides)
            if out and out[-1].person == person and out[-1].override == is_override:
                out[-1] = Shift(out[-1].start, b, person, is_override)
            else:
                out.append(Shift(a, b, person, is_override))
        return out
