"""Business calendars: hand-checked due times around weekends, holidays and DST, bad definitions refused, and the
arithmetic's invariants checked by Hypothesis against a minute-by-minute reference."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickets.sla.calendar import ALWAYS, Calendar, CalendarError

UTC = UTC
MSK, NY, BER = ZoneInfo("Europe/Moscow"), ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
H = timedelta(hours=1)
M = timedelta(minutes=1)


def weekdays(*intervals: str) -> dict[str, list[str]]:
    return {day: list(intervals) for day in WEEKDAYS}


OFFICE_RU = Calendar.build(
    "office",
    timezone="Europe/Moscow",
    country="RU",
    hours={
        "mon": ["08:00-13:00", "14:00-18:00"],
        "tue": ["08:00-18:00"],
        "wed": ["08:00-18:00"],
        "thu": ["08:00-18:00"],
        "fri": ["08:00-17:00"],
    },
    extra=[date(2026, 12, 30)],
)
DESK_US = Calendar.build(
    "desk",
    timezone="America/New_York",
    country="US",
    hours=weekdays("08:00-18:00"),
    special={date(2026, 12, 24): ["08:00-12:00"]},
)
NIGHTS_NY = Calendar.build(
    "nights",
    timezone="America/New_York",
    hours={d: ["22:00-06:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
)
ALL_DAY_BER = Calendar.build(
    "berlin",
    timezone="Europe/Berlin",
    country="DE",
    subdivision="BY",
    hours={d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
)
SHIFTS_BER = Calendar.build(
    "shifts",
    timezone="Europe/Berlin",
    country="DE",
    hours={
        "mon": ["06:00-14:00", "22:00-06:00"],
        "tue": ["09:00-17:00"],
        "wed": ["09:00-12:00", "12:30-17:00"],
        "thu": ["22:00-04:00"],
        "sat": ["10:00-14:00"],
    },
)

#: A half day that overlaps the night shift before it (Sunday 22:00-06:00, then Monday 05:00-09:00).
OVERLAP_NY = Calendar.build(
    "overlap",
    timezone="America/New_York",
    hours={"sun": ["22:00-06:00"], "wed": ["09:00-17:00"]},
    special={date(2026, 11, 30): ["05:00-09:00"], date(2026, 3, 9): ["01:00-03:00"]},
)


def at(tz: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=tz)  # type: ignore[misc]


def local(t: datetime, tz: ZoneInfo) -> tuple[int, ...]:
    lt = t.astimezone(tz)
    return (lt.year, lt.month, lt.day, lt.hour, lt.minute)


# -- hand-checked -----------------------------------------------------------------------------------------------


def test_friday_evening_four_hour_target_is_due_monday_morning() -> None:
    mon_fri = Calendar.build("office", timezone="Europe/Moscow", hours=weekdays("08:00-18:00"))
    due = mon_fri.add(at(MSK, 2026, 11, 27, 17, 30), 4 * H)  # Friday 17:30
    assert local(due, MSK) == (2026, 11, 30, 11, 30)  # Monday 11:30
    assert due.tzinfo == UTC


def test_a_public_holiday_on_monday_moves_the_due_time_to_tuesday() -> None:
    due = DESK_US.add(at(NY, 2026, 5, 22, 17, 30), 4 * H)  # Friday before Memorial Day (May 25)
    assert local(due, NY) == (2026, 5, 26, 11, 30)


def test_a_holiday_on_friday_and_the_weekend_are_skipped() -> None:
    due = OFFICE_RU.add(at(MSK, 2026, 6, 11, 17, 30), 4 * H)  # Thursday; Friday June 12 is Russia Day
    assert local(due, MSK) == (2026, 6, 15, 11, 30)  # Monday: 30 min on Thursday, then 08:00-11:30


def test_russian_new_year_holidays_across_the_year_end() -> None:
    # 2025-12-31 and 2026-01-01..11 are days off in Russia; the first working day is Monday 12 January
    due = OFFICE_RU.add(at(MSK, 2025, 12, 30, 17, 0), 2 * H)
    assert local(due, MSK) == (2026, 1, 12, 9, 0)
    assert OFFICE_RU.elapsed(at(MSK, 2025, 12, 30, 17, 0), at(MSK, 2026, 1, 12, 9, 0)) == 2 * H
    # the extra day off in the configuration (2026-12-30) counts like a public holiday
    assert local(OFFICE_RU.add(at(MSK, 2026, 12, 29, 17, 0), 2 * H), MSK) == (2027, 1, 11, 9, 0)


def test_lunch_break_is_not_counted() -> None:
    assert local(OFFICE_RU.add(at(MSK, 2026, 11, 23, 12, 30), H), MSK) == (2026, 11, 23, 14, 30)
    assert OFFICE_RU.elapsed(at(MSK, 2026, 11, 23, 12, 0), at(MSK, 2026, 11, 23, 15, 0)) == 2 * H


def test_half_day_then_christmas() -> None:
    # Thursday Dec 24 works 08:00-12:00 only; Friday Dec 25 is Christmas
    assert local(DESK_US.add(at(NY, 2026, 12, 24, 11, 0), 2 * H), NY) == (2026, 12, 28, 9, 0)


def test_a_target_ending_with_the_working_day_is_due_at_its_end() -> None:
    assert local(DESK_US.add(at(NY, 2026, 11, 20, 8, 0), 10 * H), NY) == (2026, 11, 20, 18, 0)


def test_overnight_shift_across_new_york_dst_changes() -> None:
    # spring forward (Sunday 2026-03-08 02:00 -> 03:00): the Saturday night shift lasts 7 real hours
    assert NIGHTS_NY.elapsed(at(NY, 2026, 3, 7, 12, 0), at(NY, 2026, 3, 8, 12, 0)) == 7 * H
    # fall back (Sunday 2026-11-01 02:00 -> 01:00): that night lasts 9 hours
    assert NIGHTS_NY.elapsed(at(NY, 2026, 10, 31, 12, 0), at(NY, 2026, 11, 1, 12, 0)) == 9 * H
    # 8 hours from Saturday 22:00 before spring forward: 7 h that night, 1 h the next
    assert local(NIGHTS_NY.add(at(NY, 2026, 3, 7, 22, 0), 8 * H), NY) == (2026, 3, 8, 23, 0)


def test_berlin_dst_days_have_23_and_25_hours() -> None:
    assert ALL_DAY_BER.elapsed(at(BER, 2026, 3, 29, 0, 0), at(BER, 2026, 3, 30, 0, 0)) == 23 * H
    assert ALL_DAY_BER.elapsed(at(BER, 2026, 10, 25, 0, 0), at(BER, 2026, 10, 26, 0, 0)) == 25 * H
    # 24 business hours from Saturday noon end at 13:00 local on Sunday (a 23-hour day)
    assert local(ALL_DAY_BER.add(at(BER, 2026, 3, 28, 12, 0), 24 * H), BER) == (2026, 3, 29, 13, 0)


def test_berlin_office_hours_keep_their_wall_clock_across_dst() -> None:
    office = Calendar.build("office", timezone="Europe/Berlin", country="DE", hours=weekdays("09:00-17:00"))
    due = office.add(at(BER, 2026, 3, 27, 16, 0), 2 * H)  # Friday CET -> Monday CEST
    assert local(due, BER) == (2026, 3, 30, 10, 0)
    assert due - at(BER, 2026, 3, 27, 16, 0) == timedelta(days=2, hours=17)  # 65 h, one lost to DST


def test_bavarian_holiday_counts_for_the_bavaria_calendar_only() -> None:
    epiphany = date(2026, 1, 6)  # Heilige Drei Koenige: Bavaria yes, Berlin no
    assert ALL_DAY_BER.is_day_off(epiphany)
    federal = Calendar.build("de", timezone="Europe/Berlin", country="DE", hours=weekdays("09:00-17:00"))
    assert not federal.is_day_off(epiphany)


def test_a_half_day_overlapping_a_night_shift_counts_once() -> None:
    assert OVERLAP_NY.elapsed(at(NY, 2026, 11, 29, 12, 0), at(NY, 2026, 11, 30, 12, 0)) == 11 * H  # 22-06, 06-09
    assert local(OVERLAP_NY.add(at(NY, 2026, 11, 29, 22, 0), 9 * H), NY) == (2026, 11, 30, 7, 0)


def test_round_the_clock_calendar_is_plain_time() -> None:
    t = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)
    assert ALWAYS.add(t, 15 * M) == t + 15 * M
    assert ALWAYS.elapsed(t, t + 4 * H) == 4 * H


def test_counting_from_outside_working_hours_starts_at_the_next_interval() -> None:
    assert local(OFFICE_RU.add(at(MSK, 2026, 11, 28, 3, 0), 30 * M), MSK) == (2026, 11, 30, 8, 30)
    assert local(OFFICE_RU.next_working(at(MSK, 2026, 11, 23, 13, 20)), MSK) == (2026, 11, 23, 14, 0)
    assert not OFFICE_RU.is_working(at(MSK, 2026, 11, 23, 13, 20))
    assert OFFICE_RU.is_working(at(MSK, 2026, 11, 23, 14, 0))


def test_long_targets_jump_over_weeks_quickly() -> None:
    start = at(MSK, 2026, 1, 5, 10, 0)
    t0 = time.perf_counter()
    due = OFFICE_RU.add(start, 20_000 * H)  # 48 h a week, minus holidays: over eight years
    assert OFFICE_RU.elapsed(start, due) == 20_000 * H
    assert due.year == 2034
    assert time.perf_counter() - t0 < 1.0


def test_naive_datetimes_and_negative_durations_are_refused() -> None:
    with pytest.raises(ValueError):
        OFFICE_RU.add(datetime(2026, 1, 1), H)
    with pytest.raises(ValueError):
        OFFICE_RU.add(at(MSK, 2026, 1, 1), -H)


@pytest.mark.parametrize(
    "kwargs,key,reason",
    [
        ({"timezone": "Mars/Olympus", "hours": weekdays("08:00-18:00")}, "timezone", "unknown time zone"),
        ({"hours": {}}, "hours", "no working hours"),
        ({"hours": {"mon": ["08:00-12:00", "11:00-13:00"]}}, "hours.mon", "overlap"),
        ({"hours": {"mon": ["8-12"]}}, "hours.mon[0]", "HH:MM-HH:MM"),
        ({"hours": {"mon": ["08:00-25:00"]}}, "hours.mon[0]", "not a time of day"),
        ({"hours": {"mon": ["08:00-08:00"]}}, "hours.mon[0]", "empty"),
        ({"hours": {"funday": ["08:00-09:00"]}}, "hours.funday", "not a day"),
        ({"hours": {"sun": ["22:00-07:00"], "mon": ["06:00-10:00"]}}, "hours.sun", "overlaps mon"),
        ({"hours": weekdays("08:00-18:00"), "country": "XX"}, "holidays.country", "does not know"),
        ({"hours": weekdays("08:00-18:00"), "country": "DE", "subdivision": "ZZ"}, "holidays.subdivision", "ZZ"),
        (
            {
                "hours": weekdays("08:00-18:00"),
                "extra": [date(2026, 5, 4)],
                "special": {date(2026, 5, 4): ["08:00-12:00"]},
            },
            "holidays.extra",
            "both",
        ),
    ],
)
def test_bad_calendars_are_refused_with_the_key(kwargs: dict, key: str, reason: str) -> None:
    with pytest.raises(CalendarError) as caught:
        Calendar.build("bad", **kwargs)
    assert caught.value.key == key and reason in caught.value.reason, str(caught.value)


# -- invariants ---------------------------------------------------------------------------------------------------

CALENDARS = [OFFICE_RU, DESK_US, NIGHTS_NY, ALL_DAY_BER, SHIFTS_BER, OVERLAP_NY, ALWAYS]
calendars = st.sampled_from(CALENDARS)
moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40))
short = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3))
PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(calendars, moments, durations)
def test_elapsed_undoes_add(cal: Calendar, t: datetime, d: timedelta) -> None:
    assert cal.elapsed(t, cal.add(t, d)) == d


@PROPS
@given(calendars, moments, durations, durations)
def test_add_is_monotonic_and_additive(cal: Calendar, t: datetime, d1: timedelta, d2: timedelta) -> None:
    small, big = sorted((d1, d2))
    assert t <= cal.add(t, small) <= cal.add(t, big)
    assert cal.add(cal.add(t, d1), d2) == cal.add(t, d1 + d2)


@PROPS
@given(calendars, moments, durations, durations)
def test_elapsed_is_additive_and_never_more_than_real_time(
    cal: Calendar, a: datetime, x: timedelta, y: timedelta
) -> None:
    b, c = a + x, a + x + y
    assert cal.elapsed(a, b) + cal.elapsed(b, c) == cal.elapsed(a, c)
    assert timedelta(0) <= cal.elapsed(a, b) <= b - a
    assert cal.elapsed(b, a) == -cal.elapsed(a, b)


@PROPS
@given(calendars, moments, st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=20)))
def test_the_due_moment_is_working_time(cal: Calendar, t: datetime, d: timedelta) -> None:
    due = cal.add(t, d)
    assert cal.is_working(due - timedelta(microseconds=1))
    start = cal.next_working(t)  # from non-working time, counting starts at the next interval
    assert cal.add(t, d) == cal.add(start, d) and cal.elapsed(t, start) == timedelta(0)


def _brute_working(cal: Calendar, t: datetime) -> bool:
    """Working or not, from the local wall clock alone (valid away from DST-gap boundaries)."""
    lt = t.astimezone(cal.tz)
    minute = lt.hour * 60 + lt.minute
    today, yesterday = lt.date(), lt.date() - timedelta(days=1)
    return any(s <= minute < e for s, e in cal.hours_on(today)) or any(
        s <= minute + 1440 < e for s, e in cal.hours_on(yesterday)
    )


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([OFFICE_RU, DESK_US, NIGHTS_NY, ALL_DAY_BER, SHIFTS_BER]),
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    st.integers(min_value=0, max_value=6 * 24 * 60),
)
def test_elapsed_matches_a_minute_by_minute_count(cal: Calendar, t: datetime, minutes: int) -> None:
    a = t.replace(second=0, microsecond=0)
    counted = sum(_brute_working(cal, a + timedelta(minutes=i)) for i in range(minutes))
    assert cal.elapsed(a, a + timedelta(minutes=minutes)) == timedelta(minutes=counted)
