"""[[sla.calendars]] and [[sla.policies]] in the configuration file: the documented shape loads, and every bad
value is refused at start-up naming the file, the entry, the key and the fix."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.sla import POLICIES
from tickets.sla.policy import Metric, TicketFacts
from web.settings import ConfigError, load_settings

HOURS = '[sla.calendars.hours]\nmon = ["08:00-18:00"]\n'
P1 = '[[sla.policies]]\nname = "p1"\n'
ZERO = "[[sla.policies]] p1 resolution: a target must be longer than zero"


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "helpline.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ={})


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    message = str(caught.value)
    assert all(line.startswith(str(tmp_path)) for line in caught.value.problems), message
    return message


def test_the_documented_example_loads(tmp_path: Path) -> None:
    book = load(tmp_path, POLICIES).sla.book()
    assert [p.name for p in book.policies] == ["p1-incidents", "vip", "phone", "default"]
    p1 = book.policies[0]
    assert p1.targets == {Metric.FIRST_RESPONSE: timedelta(minutes=15), Metric.RESOLUTION: timedelta(hours=4)}
    assert p1.calendar.always and p1.warn_at == (50, 75) and p1.pause_statuses == {"pending"}
    office = book.calendars["office"]
    assert office.is_day_off(date(2026, 12, 30)) and office.is_day_off(date(2026, 1, 7))  # extra, and Christmas
    assert book.select(TicketFacts(priority="P1", type="incident", channel="api")).name == "p1-incidents"
    assert book.select(TicketFacts(priority="P1", type="service_request", channel="api")).name == "default"
    assert book.select(TicketFacts(priority="P3", type="incident", channel="phone")).name == "phone"
    assert book.select(TicketFacts(priority="P3", type="incident", channel="phone", vip=True)).name == "vip"


def test_no_sla_section_means_no_policies(tmp_path: Path) -> None:
    book = load(tmp_path, "").sla.book()
    assert book.policies == [] and list(book.calendars) == ["24x7"]


def test_a_day_is_24_business_hours_as_in_servicenow(tmp_path: Path) -> None:
    s = load(tmp_path, '[[sla.policies]]\nname = "p"\nresolution = "3d"\nfirst_response = "1h30m"\ncallback = 1800\n')
    policy = s.sla.book().policies[0]
    assert policy.targets[Metric.RESOLUTION] == timedelta(hours=72)
    assert policy.targets[Metric.FIRST_RESPONSE] == timedelta(minutes=90)
    assert policy.targets[Metric.CALLBACK] == timedelta(minutes=30)


def test_half_days_and_subdivisions(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        '[[sla.calendars]]\nname = "munich"\ntimezone = "Europe/Berlin"\n'
        'holidays = { country = "DE", subdivision = "BY", '
        'half_days = { 2026-12-24 = ["08:00-12:00"] } }\n'
        '[sla.calendars.hours]\nthu = ["08:00-18:00"]\nfri = ["08:00-18:00"]\n',
    )
    cal = s.sla.book().calendars["munich"]
    assert cal.hours_on(date(2026, 12, 24)) == ((480, 720),)
    assert cal.is_day_off(date(2026, 1, 6))  # Epiphany, Bavaria only
    due = cal.add(datetime(2026, 12, 24, 10, 0, tzinfo=UTC), timedelta(hours=2))  # from 11:00 Berlin
    # 1 h until noon on the half day, Friday 25th is Christmas, no hours Mon-Wed: Thursday 31st 09:00 Berlin
    assert due == datetime(2026, 12, 31, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            '[[sla.calendars]]\nname = "office"\ntimezone = "Europe/Mosow"\n' + HOURS,
            "[[sla.calendars]] office: timezone: unknown time zone 'Europe/Mosow'",
        ),
        (
            '[[sla.calendars]]\nname = "office"\n[sla.calendars.hours]\nmon = ["08:00-13:00", "12:00-18:00"]\n',
            "[[sla.calendars]] office: hours.mon: intervals 08:00-13:00 and 12:00-18:00 overlap",
        ),
        (
            '[[sla.calendars]]\nname = "empty"\nhours = {}\n',
            "[[sla.calendars]] empty: hours: no working hours on any day",
        ),
        (
            '[[sla.calendars]]\nname = "office"\n[sla.calendars.hours]\nmon = ["8am-6pm"]\n',
            '[[sla.calendars]] office: hours.mon[0]: write working hours as "HH:MM-HH:MM"',
        ),
        (
            '[[sla.calendars]]\nname = "office"\nholidays = { country = "XX" }\n' + HOURS,
            "[[sla.calendars]] office: holidays.country",
        ),
        ('[[sla.calendars]]\nname = "24x7"\n' + HOURS, "[[sla.calendars]] 24x7 name: '24x7' is built in"),
        (P1 + 'resolution = "0m"\n', ZERO),
        (P1 + "resolution = -60\n", ZERO),
        (P1 + 'resolution = "-1h"\n', "[[sla.policies]] p1 resolution: not a duration"),
        (P1 + 'resolution = "4 hours"\n', "[[sla.policies]] p1 resolution: not a duration"),
        (P1, "[[sla.policies]] p1: set at least one target"),
        (P1 + 'resolution = "4h"\nwarn_at = [50, 100]\n', "[[sla.policies]] p1 warn_at: percentages"),
        (
            P1 + 'resolution = "4h"\nmatch = { priority = ["P5"] }\n',
            "[[sla.policies]] p1 match.priority.0: Input should be 'P1', 'P2', 'P3' or 'P4'",
        ),
        (P1 + 'resolution = "4h"\nmatch = { prio = ["P1"] }\n', "[[sla.policies]] p1 match.prio: unknown key"),
        (P1 + 'resolution = "4h"\npause_statuses = ["resolved"]\n', "[[sla.policies]] p1 pause_statuses.0"),
        (
            P1 + 'resolution = "4h"\ncalendar = "ofice"\n',
            "policy 'p1': calendar 'ofice' is not defined; add a [[sla.calendars]] with name = 'ofice' or use \"24x7\"",
        ),
        (
            '[[sla.policies]]\nname = "all"\nresolution = "4h"\n[[sla.policies]]\nname = "p1"\nresolution = "1h"\n'
            'match = { priority = ["P1"] }\n',
            "policy 'p1' can never match: 'all' before it matches every ticket",
        ),
        (
            '[[sla.policies]]\nname = "a"\nresolution = "4h"\nmatch = { vip = true }\n' * 2,
            "two [[sla.policies]] entries are called 'a'",
        ),
    ],
)
def test_bad_sla_settings_name_the_key_and_the_fix(tmp_path: Path, text: str, expected: str) -> None:
    message = problems(tmp_path, text)
    assert expected in message, message


def test_every_bad_entry_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            tmp_path,
            '[[sla.calendars]]\nname = "a"\ntimezone = "Nowhere/Land"\n'
            + HOURS
            + '[[sla.policies]]\nname = "p1"\nresolution = "0m"\n[[sla.policies]]\nname = "p2"\nfirst_response = "x"\n',
        )
    assert len(caught.value.problems) == 3, caught.value.problems


def test_a_day_in_a_target_is_a_working_day_of_the_policys_calendar(tmp_path: Path) -> None:
    """ "Resolution within 3 business days" on an office calendar is 3 working days, not 72 business hours."""
    s = load(
        tmp_path,
        '[[sla.calendars]]\nname = "office"\ntimezone = "Europe/Moscow"\n'
        '[sla.calendars.hours]\nmon = ["08:00-13:00", "14:00-18:00"]\ntue = ["08:00-18:00"]\n'
        'wed = ["08:00-18:00"]\nthu = ["08:00-18:00"]\nfri = ["08:00-17:00"]\n'
        '[[sla.calendars]]\nname = "short"\nday_hours = 8\n[sla.calendars.hours]\nmon = ["08:00-18:00"]\n'
        '[[sla.policies]]\nname = "office"\ncalendar = "office"\nresolution = "3d"\n'
        'first_response = "4h"\n[sla.policies.match]\npriority = ["P3"]\n'
        '[[sla.policies]]\nname = "short"\ncalendar = "short"\nresolution = "1d2h"\n'
        '[sla.policies.match]\npriority = ["P4"]\n'
        '[[sla.policies]]\nname = "always"\nresolution = "1d"\n',
    )
    targets = {p.name: p.targets for p in s.sla.book().policies}
    assert targets["office"][Metric.RESOLUTION] == timedelta(hours=30), "three 10-hour days"
    assert targets["office"][Metric.FIRST_RESPONSE] == timedelta(hours=4)
    assert targets["short"][Metric.RESOLUTION] == timedelta(hours=10), "day_hours = 8, plus 2 hours"
    assert targets["always"][Metric.RESOLUTION] == timedelta(hours=24), "round the clock, a day is a day"
