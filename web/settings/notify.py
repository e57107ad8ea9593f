"""``[notify]``: on-call people, schedules, escalation policies and the Twilio and Slack channels.

Validated at start-up like every other setting. Secrets (``auth_token``, ``bot_token``, ``signing_secret``) may come
from ``<key>_file`` or from the environment (``HELPLINE_TWILIO_AUTH_TOKEN``, ``HELPLINE_SLACK_BOT_TOKEN``,
``HELPLINE_SLACK_SIGNING_SECRET``, each also with ``_FILE``); they are never shown in messages or logs.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import BeforeValidator, Field, SecretStr, ValidationInfo, field_validator, model_validator

from notify.policy import CHANNELS, Match, OnCallPerson, Policy, Roster, Step, Target
from notify.schedule import Override, Rotation, Schedule, ScheduleError
from tickets.languages import DEFAULT_LANGUAGE, language_problem
from tickets.sla.policy import parse_target
from web.settings.base import Section, did_you_mean, unique_names

NAME = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


def _after(value: Any) -> Any:
    """``"0m"`` is a valid wait (parse_target refuses zero)."""
    if isinstance(value, str) and value.strip() in ("0", "0m", "0s", "0h"):
        return timedelta(0)
    if value == 0:
        return timedelta(0)
    return parse_target(value)


Wait = Annotated[timedelta, BeforeValidator(_after)]


def e164(value: str) -> str:
    """An international number in E.164, or ValueError."""
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        raise ValueError('not a valid international number; write it in E.164, e.g. "+79161234567"')
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class PersonSettings(Section):
    """One ``[[notify.people]]``."""

    name: str = Field(pattern=NAME)
    display_name: str | None = None
    phone: str | None = None
    slack_user: str | None = Field(None, pattern=r"^[UW][A-Z0-9]{2,20}$")
    #: Instead of slack_user: looked up once in Slack (needs the users:read.email scope).
    slack_email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+$")
    channels: list[Literal["sms", "slack"]] = Field(default_factory=lambda: list(CHANNELS))
    #: The language of their SMS and Slack alerts: en, ru or th.
    language: str = DEFAULT_LANGUAGE

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        problem = language_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        return None if value is None else e164(value)

    def person(self) -> OnCallPerson:
        return OnCallPerson(
            self.name,
            self.phone,
            self.slack_user,
            self.display_name,
            tuple(self.channels),
            None if self.slack_user else self.slack_email,
            self.language,
        )


class RotationSettings(Section):
    """``rotation = { members = [...], length = "1w", handoff = "mon 09:00", start = 2026-01-05 }``."""

    members: list[str] = Field(min_length=1)
    length: str = "1w"
    handoff: str = "mon 09:00"
    start: date | None = None

    @model_validator(mode="after")
    def _valid(self) -> RotationSettings:
        try:
            self.build()
        except ScheduleError as exc:
            raise ValueError(str(exc)) from None
        return self

    def build(self) -> Rotation:
        return Rotation.parse(self.members, self.length, self.handoff, self.start)


class OverrideSettings(Section):
    """``overrides = [{ start = 2026-12-31T18:00:00, end = 2027-01-02T09:00:00, person = "olga" }]`` (local time)."""

    start: datetime
    end: datetime
    person: str
    reason: str = ""


class ScheduleSettings(Section):
    """One ``[[notify.schedules]]``."""

    name: str = Field(pattern=NAME)
    timezone: str = "UTC"
    rotation: RotationSettings
    overrides: list[OverrideSettings] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError('not an IANA time zone; e.g. "Europe/Moscow" or "America/New_York"') from None
        return value

    def build(self) -> Schedule:
        tz = ZoneInfo(self.timezone)
        overrides = tuple(Override(_aware(o.start, tz), _aware(o.end, tz), o.person, o.reason) for o in self.overrides)
        return Schedule(self.name, tz, self.rotation.build(), overrides)


def _aware(value: datetime, tz: ZoneInfo) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


class StepSettings(Section):
    """``{ after = "10m", notify = ["schedule:it-secondary"], channels = ["sms"] }``."""

    after: Wait = timedelta(0)
    notify: list[str] = Field(min_length=1)
    channels: list[Literal["sms", "slack"]] = Field(default_factory=list)

    @field_validator("notify")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        for item in value:
            Target.parse(item)
        return value


class MatchSettings(Section):
    """``match = { event = ["sla.breached"], priority = ["P1"], metric = [...], hours = "after_hours", calendar =
    "office" }``."""

    event: list[Literal["sla.warning", "sla.breached"]] = Field(default_factory=list)
    priority: list[Literal["P1", "P2", "P3", "P4"]] = Field(default_factory=list)
    metric: list[Literal["first_response", "resolution", "callback"]] = Field(default_factory=list)
    hours: Literal["business", "after_hours"] | None = None
    calendar: str | None = None

    @model_validator(mode="after")
    def _calendar(self) -> MatchSettings:
        if self.hours is not None and self.calendar is None:
            raise ValueError('hours needs calendar = "NAME" (one of the [[sla.calendars]])')
        return self

    def build(self) -> Match:
        return Match(frozenset(self.event), frozenset(self.priority), frozenset(self.metric), self.hours, self.calendar)


class PolicySettings(Section):
    """One ``[[notify.policies]]``: tried in order, the first that matches an event escalates it."""

    name: str = Field(pattern=NAME)
    match: MatchSettings = MatchSettings()
    steps: list[StepSettings] = Field(min_length=1)
    repeat: int = Field(0, ge=0, le=10)
    repeat_after: Wait = timedelta(minutes=10)
    #: An acknowledgement lasts this long; then, unless the ticket was resolved, the escalation starts again.
    ack_timeout: Wait | None = None

    @field_validator("steps")
    @classmethod
    def _ordered(cls, value: list[StepSettings]) -> list[StepSettings]:
        afters = [s.after for s in value]
        if afters != sorted(afters):
            raise ValueError("list the steps in the order of their after")
        return value

    def build(self) -> Policy:
        steps = tuple(Step(s.after, tuple(Target.parse(t) for t in s.notify), tuple(s.channels)) for s in self.steps)
        return Policy(self.name, steps, self.match.build(), self.repeat, self.repeat_after, self.ack_timeout)


class TwilioSettings(Section):
    """``[notify.twilio]``: SMS through Twilio's Messages API."""

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr
    from_number: str
    api_base_url: str = "https://api.twilio.com"
    #: An SMS is cut to this many segments (160 GSM-7 / 70 UCS-2 characters each, less when split).
    max_segments: int = Field(2, ge=1, le=10)
    #: Ask Twilio to report delivered / undelivered / failed to /api/v1/webhooks/twilio/status.
    status_callbacks: bool = True
    timeout: Wait = timedelta(seconds=10)

    @field_validator("from_number")
    @classmethod
    def _from(cls, value: str) -> str:
        return e164(value)


class SlackSettings(Section):
    """``[notify.slack]``: messages through a Slack app's bot token."""

    bot_token: SecretStr
    signing_secret: SecretStr | None = None
    api_base_url: str = "https://slack.com/api/"
    timeout: Wait = timedelta(seconds=10)
    #: Who may press Acknowledge: people on the on-call list (mapped), those of them on call now or paged for the
    #: alert (on_call), or anyone in the channel (anyone).
    ack_from: Literal["mapped", "on_call", "anyone"] = "mapped"

    @field_validator("bot_token")
    @classmethod
    def _bot(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("a bot token starts with xoxb- (OAuth & Permissions page of the Slack app)")
        return value


class NotifySettings(Section):
    """``[notify]``: on-call alerting (nothing configured: no alerts)."""

    people: list[PersonSettings] = Field(default_factory=list)
    schedules: list[ScheduleSettings] = Field(default_factory=list)
    policies: list[PolicySettings] = Field(default_factory=list)
    twilio: TwilioSettings | None = None
    slack: SlackSettings | None = None
    #: A claimed delivery not confirmed within this time is looked at again (the process died mid-send).
    lease: Wait = timedelta(minutes=2)
    #: Transient failures are retried for this long, with exponential backoff up to max_backoff.
    retry_for: Wait = timedelta(hours=2)
    max_backoff: Wait = timedelta(minutes=5)
    #: Sent with every alert's links: "Open" goes to {ticket_url}{number}.
    ticket_url: str | None = None

    @field_validator("people")
    @classmethod
    def _people(cls, value: list[PersonSettings]) -> list[PersonSettings]:
        unique_names([p.name for p in value], "notify.people")
        return value

    @field_validator("schedules")
    @classmethod
    def _schedules(cls, value: list[ScheduleSettings], info: ValidationInfo) -> list[ScheduleSettings]:
        unique_names([s.name for s in value], "notify.schedules")
        if "people" not in info.data:
            return value  # the people have errors of their own
        known = {p.name for p in info.data["people"]}
        for s in value:
            names = [*s.rotation.members, *(o.person for o in s.overrides)]
            unknown = sorted({n for n in names if n not in known})
            if unknown:
                raise ValueError(
                    f"schedule {s.name!r}: {unknown[0]!r} is not in [[notify.people]]{did_you_mean(unknown[0], known)}"
                )
        return value

    @model_validator(mode="after")
    def _targets(self) -> NotifySettings:
        unique_names([p.name for p in self.policies], "notify.policies")
        people, schedules = {p.name for p in self.people}, {s.name for s in self.schedules}
        for policy in self.policies:
            for step in policy.steps:
                for text in step.notify:
                    t = Target.parse(text)
                    if t.kind == "person" and t.name not in people:
                        raise ValueError(
                            f"policy {policy.name!r}: {text} is not in [[notify.people]]{did_you_mean(t.name, people)}"
                        )
                    if t.kind == "schedule" and t.name not in schedules:
                        raise ValueError(
                            f"policy {policy.name!r}: {text} is not in [[notify.schedules]]"
                            f"{did_you_mean(t.name, schedules)}"
                        )
                    if t.kind == "slack" and self.slack is None:
                        raise ValueError(f"policy {policy.name!r}: {text} needs [notify.slack]")
        if any(p.phone for p in self.people) and self.policies and self.twilio is None:
            raise ValueError("people have phones but [notify.twilio] is not set: SMS could not be sent")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.policies)

    def roster(self) -> Roster:
        return Roster({p.name: p.person() for p in self.people}, {s.name: s.build() for s in self.schedules})

    def build_policies(self) -> list[Policy]:
        return [p.build() for p in self.policies]
