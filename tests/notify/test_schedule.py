"""On-call schedules: who is on call at T, hand-checked, across daylight-saving changes, with overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notify.policy import Match, OnCallPerson, Policy, Roster, Step, Target, plan
from notify.schedule import Override, Rotation, Schedule, ScheduleError

UTC = UTC


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def weekly(
    tz: str,
    members: tuple[str, ...] = ("ann", "bob"),
    handoff: str = "mon 09:00",
    start: date = date(2026, 3, 2),
    length: str = "1w",
) -> Schedule:
    return Schedule("s", ZoneInfo(tz), Rotation.parse(members, length, handoff, start))


def test_weekly_handoff_follows_local_time_across_spring_forward() -> None:
    # New York: EST (UTC-5) until Sunday 8 March 2026, then EDT (UTC-4)
    s = weekly("America/New_York")
    assert s.handoff_at(0) == utc(2026, 3, 2, 14, 0)  # Mon 09:00 EST
    assert s.handoff_at(1) == utc(2026, 3, 9, 13, 0)  # Mon 09:00 EDT: an hour earlier in UTC
    assert s.on_call(utc(2026, 3, 9, 12, 59, 59)) == "ann"
    assert s.on_call(utc(2026, 3, 9, 13, 30)) == "bob"  # 09:30 local: bob, although 7 x 24 h have not passed
    shifts = s.shifts(utc(2026, 3, 2, 14, 0), utc(2026, 3, 16, 13, 0))
    assert [(x.person, x.end - x.start) for x in shifts] == [
        ("ann", timedelta(hours=167)),
        ("bob", timedelta(hours=168)),
    ]


def test_weekly_handoff_across_fall_back() -> None:
    # New York: EDT until Sunday 1 November 2026, then EST; ann has the week of 26 October
    s = weekly("America/New_York")
    assert s.on_call(utc(2026, 10, 26, 13, 0)) == "ann"  # Mon 09:00 EDT: 34 weeks after 2 March, an even turn
    assert s.on_call(utc(2026, 11, 2, 13, 30)) == "ann"  # Mon 08:30 EST: still ann
    assert s.on_call(utc(2026, 11, 2, 14, 0)) == "bob"  # Mon 09:00 EST
    (shift,) = [x for x in s.shifts(utc(2026, 10, 27), utc(2026, 11, 5)) if x.person == "ann"]
    assert shift.end - utc(2026, 10, 26, 13, 0) == timedelta(hours=169)


def test_daily_handoff_in_a_skipped_hour_happens_when_the_clocks_jump() -> None:
    # Berlin: on Sunday 29 March 2026 02:00 CET becomes 03:00 CEST; 02:30 does not exist that day
    s = weekly("Europe/Berlin", ("ann", "bob", "cid"), handoff="02:30", start=date(2026, 3, 27), length="1d")
    assert s.handoff_at(1) == utc(2026, 3, 28, 1, 30)  # 02:30 CET
    assert s.handoff_at(2) == utc(2026, 3, 29, 1, 0)  # 03:00 CEST, the moment the clocks jump
    assert s.handoff_at(3) == utc(2026, 3, 30, 0, 30)  # 02:30 CEST
    assert [s.on_call(utc(2026, 3, 29, 0, 59)), s.on_call(utc(2026, 3, 29, 1, 0))] == ["bob", "cid"]


def test_no_dst_zone_and_times_before_the_first_handoff() -> None:
    s = weekly("Europe/Moscow", ("ivan", "olga", "petr"))
    assert s.handoff_at(0) == utc(2026, 3, 2, 6, 0)  # 09:00 MSK (UTC+3), all year
    assert s.handoff_at(30) == utc(2026, 9, 28, 6, 0)
    assert s.on_call(utc(2026, 3, 2, 5, 59)) == "petr"  # the turn before the first: the last member
    assert s.on_call(utc(2026, 2, 20)) == "olga"
    assert s.on_call(utc(2026, 3, 20)) == "petr"  # third week


def test_two_week_shifts_start_on_the_first_weekday_after_start() -> None:
    s = weekly("UTC", handoff="wed 18:00", start=date(2026, 3, 2), length="2w")
    assert s.handoff_at(0) == utc(2026, 3, 4, 18, 0)
    assert s.on_call(utc(2026, 3, 18, 17, 59)) == "ann" and s.on_call(utc(2026, 3, 18, 18, 0)) == "bob"


def test_overrides_cut_into_the_rotation_and_the_latest_wins() -> None:
    holiday = Override(utc(2026, 3, 4), utc(2026, 3, 6), "cid", "ann on holiday", rank=0)
    swap = Override(utc(2026, 3, 5), utc(2026, 3, 5, 12), "dan", "swap", rank=1)
    s = Schedule("s", ZoneInfo("UTC"), Rotation.parse(["ann", "bob"], "1w", "mon 09:00", date(2026, 3, 2)), (holiday,))
    assert s.on_call(utc(2026, 3, 4, 10)) == "cid"
    assert s.on_call(utc(2026, 3, 5, 6), [swap]) == "dan"
    assert s.on_call(utc(2026, 3, 5, 12), [swap]) == "cid"
    shifts = s.shifts(utc(2026, 3, 3), utc(2026, 3, 10), [swap])
    assert [(x.person, x.start.day, x.start.hour, x.override) for x in shifts] == [
        ("ann", 3, 0, False),
        ("cid", 4, 0, True),
        ("dan", 5, 0, True),
        ("cid", 5, 12, True),
        ("ann", 6, 0, False),
        ("bob", 9, 9, False),
    ]


@pytest.mark.parametrize(
    "members, length, handoff, problem",
    [
        ([], "1w", "mon 09:00", "members"),
        (["a"], "10x", "mon 09:00", "length"),
        (["a"], "1w", "monday 9", "handoff"),
        (["a"], "3d", "mon 09:00", "weeks"),
    ],
)
def test_bad_rotations_say_what_to_write(members: list[str], length: str, handoff: str, problem: str) -> None:
    with pytest.raises(ScheduleError, match=problem):
        Rotation.parse(members, length, handoff)


def test_plan_resolves_the_schedule_when_each_step_is_due() -> None:
    """The hand-off (09:00) falls between the first two steps: the second goes to the new primary."""
    s = Schedule("primary", ZoneInfo("UTC"), Rotation.parse(["ann", "bob"], "1d", "09:00", date(2026, 3, 2)))
    roster = Roster(
        {
            "ann": OnCallPerson("ann", "+15550000001"),
            "bob": OnCallPerson("bob", "+15550000002"),
            "chef": OnCallPerson("chef", "+15550000003", "U0CHEF"),
        },
        {"primary": s},
    )
    policy = Policy(
        "p",
        (
            Step(timedelta(0), (Target("schedule", "primary"), Target("slack", "#ops"))),
            Step(timedelta(minutes=10), (Target("schedule", "primary"),)),
            Step(timedelta(minutes=20), (Target("person", "chef"), Target("schedule", "primary")), channels=("sms",)),
        ),
        Match(),
        repeat=1,
    )
    out = plan(policy, roster, utc(2026, 3, 3, 8, 55))
    assert [(p.round, p.step, p.channel, p.address, p.due_at.strftime("%H:%M")) for p in out] == [
        (0, 0, "sms", "+15550000001", "08:55"),
        (0, 0, "slack", "#ops", "08:55"),  # ann until 09:00
        (0, 1, "sms", "+15550000002", "09:05"),  # bob from 09:00
        (0, 2, "sms", "+15550000003", "09:15"),
        (0, 2, "sms", "+15550000002", "09:15"),  # step channels: SMS only
        (1, 0, "sms", "+15550000002", "09:25"),
        (1, 0, "slack", "#ops", "09:25"),  # round 2: 20m + 10m later
        (1, 1, "sms", "+15550000002", "09:35"),
        (1, 2, "sms", "+15550000003", "09:45"),
        (1, 2, "sms", "+15550000002", "09:45"),
    ]
