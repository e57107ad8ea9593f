"""Business calendars and business-time arithmetic (pure: no I/O, no ORM).

A calendar is a time zone, weekly working hours (several intervals a day, overnight shifts such as
``22:00-06:00``), public holidays (the ``holidays`` package, by country and subdivision), extra days off, and
days with their own hours (half days, a working Saturday).

Business time is real elapsed time inside working intervals: across a DST change an overnight shift
``22:00-06:00`` lasts 7 or 9 hours. An interval belongs to the day it starts on: a shift starting on a holiday is
off as a whole, one starting the evening before a holiday is worked. Interval boundaries are local wall times; a
boundary that does not exist (inside a spring-forward gap) is read as the moment after the gap.

Arithmetic runs on aware datetimes and returns aware UTC datetimes, exact to the microsecond. The working intervals
are computed once per block of days and searched by bisection; whole blocks are skipped by their total, so a long
target costs one step per two months rather than one per minute.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_package

UTC = UTC
ZERO = timedelta(0)
DAY_MINUTES = 24 * 60
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Consecutive days without any working time after which arithmetic gives up (a calendar gone wrong).
MAX_IDLE_DAYS = 3700
#: Days per block of the timeline index, and how many blocks a calendar keeps (about 70 years).
BLOCK_DAYS = 64
_CACHE_BLOCKS = 400
MICROSECOND = timedelta(microseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = EPOCH.toordinal()
_DAY_MICROS = 86_400_000_000
_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

Minutes = tuple[int, int]


def _micros(t: datetime) -> int:
    """Microseconds since the epoch."""
    d = t - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def _ordinal(micros: int) -> int:
    """The proleptic ordinal of the UTC date of ``micros``."""
    return _EPOCH_ORDINAL + micros // _DAY_MICROS


def _moment(micros: int) -> datetime:
    return EPOCH + MICROSECOND * micros


class _Block:
    """Working intervals of consecutive days as microseconds, with the business time at the end of each."""

    __slots__ = ("done", "ends", "starts", "total")

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self.starts = [s for s, _ in spans]
        self.ends = [e for _, e in spans]
        self.done: list[int] = []
        total = 0
        for s, e in spans:
            total += e - s
            self.done.append(total)
        self.total = total

    def position(self, x: int) -> int:
        """Business time of this block before moment ``x``."""
        i = bisect_right(self.ends, x)  # intervals over by x
        done = self.done[i - 1] if i else 0
        if i < len(self.starts) and self.starts[i] < x:
            done += x - self.starts[i]
        return done

    def moment(self, position: int) -> int:
        """The moment at which ``position`` (0 < position <= total) of business time is reached."""
        j = bisect_left(self.done, position)
        return self.ends[j] - (self.done[j] - position)

    def contains(self, x: int) -> bool:
        i = bisect_right(self.ends, x)
        return i < len(self.starts) and self.starts[i] <= x


class CalendarError(ValueError):
    """A calendar definition that cannot be used; ``key`` names the offending setting."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


def parse_interval(text: str, key: str = "hours") -> Minutes:
    """``"08:00-13:00"`` -> (480, 780). An end at or before the start is on the next day (``"22:00-06:00"``)."""
    match = _INTERVAL.match(text) if isinstance(text, str) else None
    if match is None:
        raise CalendarError(key, f'write working hours as "HH:MM-HH:MM", e.g. "08:00-18:00" (got {text!r})')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise CalendarError(key, f"{text!r} is not a time of day (00:00 to 24:00)")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end == start:
        raise CalendarError(key, f'{text!r} is empty; for a whole day write "00:00-24:00"')
    if end < start:
        end += DAY_MINUTES  # overnight shift
    return start, end


def _check_no_overlap(intervals: list[Minutes], key: str) -> None:
    ordered = sorted(intervals)
    for (s1, e1), (s2, e2) in itertools.pairwise(ordered):
        if s2 < e1:
            raise CalendarError(key, f"intervals {_fmt(s1, e1)} and {_fmt(s2, e2)} overlap")


def _fmt(start: int, end: int) -> str:
    def hm(m: int) -> str:
        return f"{m // 60 % 24 if m != DAY_MINUTES else 24:02d}:{m % 60:02d}"

    return f"{hm(start)}-{hm(end)}"


@dataclass(frozen=True)
class HolidayRules:
    """Days off: a country's public holidays (optionally a subdivision's), extra dates, and days with own hours."""

    country: str | None = None
    subdivision: str | None = None
    extra: frozenset[date] = frozenset()
    #: Dates with their own working hours (a half day, a working Saturday); they win over holidays and weekdays.
    special: Mapping[date, tuple[Minutes, ...]] = field(default_factory=dict)


class Calendar:
    """Working time of a team. Build with :meth:`build` (validates) or use :data:`ALWAYS`."""

    def __init__(
        self,
        name: str,
        tz: ZoneInfo | timezone,
        weekly: tuple[tuple[Minutes, ...], ...],
        rules: HolidayRules,
        *,
        always: bool = False,
        working_day: timedelta | None = None,
    ) -> None:
        self.name = name
        self.tz = tz
        self.weekly = weekly
        self.rules = rules
        self.always = always
        #: What a target of "1d" means: the usual working day (the most common length of a day with working
        #: hours; of two as common, the longer), unless set (``day_hours``).
        self.working_day = working_day or _usual_day(weekly)
        self._public: Any = None
        if rules.country:
            self._public = holidays_package.country_holidays(rules.country, subdiv=rules.subdivision)
        self._blocks: dict[int, _Block] = {}

    # -- construction --------------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        name: str,
        *,
        timezone: str = "UTC",
        hours: Mapping[str, Iterable[str]],
        country: str | None = None,
        subdivision: str | None = None,
        extra: Iterable[date] = (),
        special: Mapping[date, Iterable[str]] | None = None,
        day_hours: float | None = None,
    ) -> Calendar:
        """A validated calendar; raises :class:`CalendarError` naming the bad key."""
        try:
            tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise CalendarError(
                "timezone",
                f'unknown time zone {timezone!r}; use an IANA name such as "Europe/Moscow" or "America/New_York"',
            ) from None
        unknown = set(hours) - set(WEEKDAYS)
        if unknown:
            raise CalendarError(f"hours.{sorted(unknown)[0]}", f"not a day; use {', '.join(WEEKDAYS)}")
        weekly: list[tuple[Minutes, ...]] = []
        for day in WEEKDAYS:
            parsed = [parse_interval(text, f"hours.{day}[{i}]") for i, text in enumerate(hours.get(day, ()))]
            _check_no_overlap(parsed, f"hours.{day}")
            weekly.append(tuple(sorted(parsed)))
        # an overnight shift must end before the next day's first interval (Sunday's before Monday's)
        for index, day in enumerate(WEEKDAYS):
            nxt = weekly[(index + 1) % 7]
            spill = max((e for _, e in weekly[index]), default=0) - DAY_MINUTES
            if nxt and spill > nxt[0][0]:
                raise CalendarError(
                    f"hours.{day}",
                    f"the shift ending at {_fmt(0, spill)[6:]} on the next day "
                    f"overlaps {WEEKDAYS[(index + 1) % 7]} {_fmt(*nxt[0])}",
                )
        own: dict[date, tuple[Minutes, ...]] = {}
        for day_off, texts in (special or {}).items():
            key = f"holidays.half_days.{day_off.isoformat()}"
            parsed = [parse_interval(text, key) for text in texts]
            _check_no_overlap(parsed, key)
            own[day_off] = tuple(sorted(parsed))
        extra_days = frozenset(extra)
        both = sorted(extra_days & set(own))
        if both:
            raise CalendarError("holidays.extra", f"{both[0].isoformat()} is both a day off and in half_days; keep one")
        if not any(weekly):
            raise CalendarError(
                "hours",
                "no working hours on any day: the calendar would never count time "
                '(for round the clock use the built-in calendar "24x7")',
            )
        if country is not None:
            try:
                holidays_package.country_holidays(country, subdiv=subdivision, years=2026)
            except NotImplementedError as exc:
                what = "holidays.subdivision" if subdivision and "subdiv" in str(exc).lower() else "holidays.country"
                raise CalendarError(
                    what,
                    f"the holidays package does not know {country!r}"
                    f"{f' / {subdivision!r}' if subdivision else ''}: {exc}",
                ) from None
        elif subdivision is not None:
            raise CalendarError("holidays.subdivision", "needs holidays.country")
        if day_hours is not None and not 0 < day_hours <= 24:
            raise CalendarError(
                "day_hours", 'the hours of a working day (what a target of "1d" means): more than 0, at most 24'
            )
        return cls(
            name,
            tz,
            tuple(weekly),
            HolidayRules(country, subdivision, extra_days, own),
            working_day=timedelta(hours=day_hours) if day_hours else None,
        )

    # -- days ------------------------------------------------------------------------------------------------

    def is_day_off(self, day: date) -> bool:
        """Whether ``day`` is a holiday (public or extra) without own hours."""
        if day in self.rules.special:
            return False
        return day in self.rules.extra or (self._public is not None and day in self._public)

    def hours_on(self, day: date) -> tuple[Minutes, ...]:
        """The working intervals starting on local date ``day`` (minutes after its midnight)."""
        if day in self.rules.special:
            return self.rules.special[day]
        if self.is_day_off(day):
            return ()
        return self.weekly[day.weekday()]

    def _spans(self, ordinal: int) -> list[tuple[int, int]]:
        """Working intervals starting on the local day ``ordinal``, in microseconds since the epoch (UTC)."""
        day = date.fromordinal(ordinal)
        midnight = datetime(day.year, day.month, day.day)
        out: list[tuple[int, int]] = []
        floor = None
        for start, end in self.hours_on(day):
            s = _micros((midnight + timedelta(minutes=start)).replace(tzinfo=self.tz))
            e = _micros((midnight + timedelta(minutes=end)).replace(tzinfo=self.tz))
            if floor is not None and s < floor:  # a boundary inside a DST gap
                s = floor
            if e > s:
                out.append((s, e))
                floor = e
        return out

    def _block(self, index: int) -> _Block:
        """The working intervals of the days ``index * BLOCK_DAYS`` and the following (cached)."""
        block = self._blocks.get(index)
        if block is None:
            if len(self._blocks) >= _CACHE_BLOCKS:
                self._blocks.clear()
            first = index * BLOCK_DAYS
            floor = max((e for _, e in self._spans(first - 1)), default=0)  # a night shift of the day before
            spans: list[tuple[int, int]] = []
            for ordinal in range(first, first + BLOCK_DAYS):
                for s, e in self._spans(ordinal):
                    s = max(s, floor)  # overlaps (a half day after a night shift) count once
                    if e > s:
                        spans.append((s, e))
                        floor = e
            block = self._blocks[index] = _Block(spans)
        return block

    # -- arithmetic ----------------------------------------------------------------------------------------
    #
    # The timeline is cut into blocks of BLOCK_DAYS local days. A block holds its intervals (sorted, disjoint) and
    # the running total of business time at the end of each, so a position inside a block is one binary search
    # and a whole block is skipped by its total. An interval of the block's last day may run into the next
    # block's first day, so a moment is looked up in the block of the day before it too.

    def add(self, t: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of business time after ``t`` (aware UTC).

        From outside working hours, counting starts at the next working interval. A duration that ends exactly
        at the end of an interval gives that end (Friday 18:00), not the next start.
        """
        if duration < ZERO:
            raise ValueError("duration must not be negative")
        if t.tzinfo is None:
            raise ValueError("business-time arithmetic needs aware datetimes")
        if duration == ZERO:
            return t.astimezone(UTC)
        if self.always:
            return t.astimezone(UTC) + duration
        x = _micros(t)
        remaining = duration // MICROSECOND
        index = (_ordinal(x) - 2) // BLOCK_DAYS  # the local date is within a day of the UTC date
        idle = 0
        while True:
            block = self._block(index)
            target = block.position(x) + remaining
            if target <= block.total:
                return _moment(block.moment(target))
            remaining = target - block.total
            idle = idle + 1 if not block.total else 0
            if idle * BLOCK_DAYS > MAX_IDLE_DAYS:
                raise RuntimeError(f"calendar {self.name}: no working time for {MAX_IDLE_DAYS} days")
            index += 1

    def elapsed(self, a: datetime, b: datetime) -> timedelta:
        """Business time between ``a`` and ``b`` (negative when ``b`` is before ``a``)."""
        if a.tzinfo is None or b.tzinfo is None:
            raise ValueError("business-time arithmetic needs aware datetimes")
        if b < a:
            return -self.elapsed(b, a)
        if self.always:
            return b - a
        xa, xb = _micros(a), _micros(b)
        oa, ob = _ordinal(xa), _ordinal(xb)  # UTC dates: the local ones are within a day of them
        total = 0
        for index in range((oa - 2) // BLOCK_DAYS, (ob + 1) // BLOCK_DAYS + 1):
            block = self._block(index)
            if oa + 1 < index * BLOCK_DAYS and (index + 1) * BLOCK_DAYS < ob - 1:  # its days (and spills) lie in (a, b)
                total += block.total
            else:
                total += block.position(xb) - block.position(xa)
        return timedelta(microseconds=total)

    def is_working(self, t: datetime) -> bool:
        """Whether ``t`` falls inside a working interval."""
        if self.always:
            return True
        x = _micros(t)
        ordinal = _ordinal(x)
        return any(self._block(i).contains(x) for i in {(ordinal - 2) // BLOCK_DAYS, (ordinal + 1) // BLOCK_DAYS})

    def next_working(self, t: datetime) -> datetime:
        """``t`` if it is working time, else the start of the next working interval."""
        if self.is_working(t):
            return t.astimezone(UTC)
        return self.add(t, MICROSECOND) - MICROSECOND

    # -- description -----------------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The calendar as configured (for the API)."""
        return {
            "name": self.name,
            "timezone": str(self.tz) if not self.always else "UTC",
            "always": self.always,
            "hours": {day: [_fmt(s, e) for s, e in self.weekly[i]] for i, day in enumerate(WEEKDAYS) if self.weekly[i]},
            "country": self.rules.country,
            "subdivision": self.rules.subdivision,
            "extra_days_off": sorted(d.isoformat() for d in self.rules.extra),
            "half_days": {d.isoformat(): [_fmt(s, e) for s, e in v] for d, v in sorted(self.rules.special.items())},
            "day_hours": self.working_day.total_seconds() / 3600,
        }


#: The built-in round-the-clock calendar ``24x7``: every moment counts, no holidays.
def _usual_day(weekly: tuple[tuple[Minutes, ...], ...]) -> timedelta:
    lengths = [sum(e - s for s, e in day) for day in weekly if day]
    if not lengths:
        return timedelta(hours=24)
    return timedelta(minutes=max(lengths, key=lambda n: (lengths.count(n), n)))


ALWAYS = Calendar("24x7", UTC, tuple(((0, DAY_MINUTES),) for _ in WEEKDAYS), HolidayRules(), always=True)
