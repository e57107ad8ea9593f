"""``[[sla.calendars]]`` and ``[[sla.policies]]``: the settings of the SLA engine, validated at start-up.

Mistakes are reported like every other setting: the entry (by name), the key and the fix.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from tickets.sla.calendar import ALWAYS, Calendar, CalendarError
from tickets.sla.policy import DEFAULT_WARN_AT, Conditions, Metric, Policy, PolicyBook, parse_target
from web.settings.base import Section, did_you_mean, unique_names

NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"


def _target(value: Any) -> str | int | float:
    parse_target(value)  # refused here, with the key; turned into time with the policy's calendar (its days)
    return value


Target = Annotated[str | int | float, BeforeValidator(_target)]


class HolidaySettings(Section):
    """``holidays = { country = "RU", subdivision = "...", extra = [...], half_days = {...} }``."""

    country: str | None = Field(None, pattern=r"^[A-Z]{2,3}$")
    subdivision: str | None = Field(None, min_length=1, max_length=16)
    #: More days off, e.g. a company holiday.
    extra: list[date] = Field(default_factory=list)
    #: Dates with their own hours, e.g. {"2026-12-24" = ["08:00-12:00"]} or a working Saturday.
    half_days: dict[date, list[str]] = Field(default_factory=dict)


class CalendarSettings(Section):
    """One ``[[sla.calendars]]``: working hours in a time zone, minus holidays."""

    name: str = Field(pattern=NAME)
    timezone: str = "UTC"
    hours: dict[str, list[str]]
    holidays: HolidaySettings = HolidaySettings()
    #: What a target of "1d" means in hours (default: the calendar's usual working day, e.g. 10 for 08:00-18:00).
    day_hours: float | None = Field(None, gt=0, le=24)

    @field_validator("name")
    @classmethod
    def _not_builtin(cls, value: str) -> str:
        if value == ALWAYS.name:
            raise ValueError(f"{ALWAYS.name!r} is built in (round the clock); pick another name")
        return value

    @model_validator(mode="after")
    def _usable(self) -> CalendarSettings:
        self.build()
        return self

    def build(self) -> Calendar:
        h = self.holidays
        try:
            return Calendar.build(
                self.name,
                timezone=self.timezone,
                hours=self.hours,
                country=h.country,
                subdivision=h.subdivision,
                extra=h.extra,
                special=h.half_days,
                day_hours=self.day_hours,
            )
        except CalendarError as exc:
            raise ValueError(str(exc)) from None


class MatchSettings(Section):
    """``match = { priority = ["P1"], type = ["incident"], group = [...], channel = [...], vip = true }``."""

    priority: list[Literal["P1", "P2", "P3", "P4"]] = Field(default_factory=list)
    type: list[Literal["incident", "service_request"]] = Field(default_factory=list)
    group: list[str] = Field(default_factory=list)
    channel: list[Literal["phone", "web", "api", "email"]] = Field(default_factory=list)
    vip: bool | None = None

    def conditions(self) -> Conditions:
        return Conditions(
            frozenset(self.priority), frozenset(self.type), frozenset(self.group), frozenset(self.channel), self.vip
        )


class PolicySettings(Section):
    """One ``[[sla.policies]]``."""

    name: str = Field(pattern=NAME)
    match: MatchSettings = MatchSettings()
    calendar: str = ALWAYS.name
    first_response: Target | None = None
    resolution: Target | None = None
    #: For missed calls: from the missed call until an agent acts on the ticket.
    callback: Target | None = None
    warn_at: list[int] = Field(default_factory=lambda: list(DEFAULT_WARN_AT))
    pause_statuses: list[Literal["new", "open", "pending"]] = Field(default_factory=lambda: ["pending"])

    @field_validator("warn_at")
    @classmethod
    def _percentages(cls, value: list[int]) -> list[int]:
        if any(not 0 < p < 100 for p in value):
            raise ValueError("percentages of the target between 1 and 99, e.g. [50, 75]")
        if len(set(value)) != len(value):
            raise ValueError("a percentage is listed twice")
        return sorted(value)

    @model_validator(mode="after")
    def _has_a_target(self) -> PolicySettings:
        if not (self.first_response or self.resolution or self.callback):
            raise ValueError('set at least one target: first_response, resolution or callback (e.g. "4h")')
        return self

    def targets(self, calendar: Calendar) -> dict[Metric, timedelta]:
        """The targets as business time on ``calendar`` (a day is its working day)."""
        values = {
            Metric.FIRST_RESPONSE: self.first_response,
            Metric.RESOLUTION: self.resolution,
            Metric.CALLBACK: self.callback,
        }
        return {
            metric: parse_target(value, calendar.working_day) for metric, value in values.items() if value is not None
        }


class SlaSettings(Section):
    """``[sla]``: business calendars and SLA policies (none: tickets have no SLA clocks)."""

    calendars: list[CalendarSettings] = Field(default_factory=list)
    policies: list[PolicySettings] = Field(default_factory=list)

    @field_validator("calendars")
    @classmethod
    def _unique_calendars(cls, value: list[CalendarSettings]) -> list[CalendarSettings]:
        unique_names([c.name for c in value], "sla.calendars")
        return value

    @field_validator("policies")
    @classmethod
    def _policies(cls, value: list[PolicySettings], info: ValidationInfo) -> list[PolicySettings]:
        unique_names([p.name for p in value], "sla.policies")
        known = {c.name for c in info.data.get("calendars", [])} | {ALWAYS.name}
        problems = [
            f"policy {p.name!r}: calendar {p.calendar!r} is not defined{did_you_mean(p.calendar, known)}; add a "
            f'[[sla.calendars]] with name = {p.calendar!r} or use "{ALWAYS.name}"'
            for p in value
            if p.calendar not in known
        ]
        problems += PolicyBook.check_order(Policy(p.name, ALWAYS, {}, p.match.conditions()) for p in value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    def book(self) -> PolicyBook:
        """The calendars and policies, ready for the SLA engine."""
        calendars: dict[str, Calendar] = {ALWAYS.name: ALWAYS}
        for entry in self.calendars:
            calendars[entry.name] = entry.build()
        policies = [
            Policy(
                p.name,
                calendars[p.calendar],
                p.targets(calendar=calendars[p.calendar]),
                p.match.conditions(),
                tuple(p.warn_at),
                frozenset(p.pause_statuses),
            )
            for p in self.policies
        ]
        return PolicyBook(policies, calendars)
