"""Escalation policies: which events they take, whom each step notifies and when. Pure: no I/O.

A policy's steps fire at ``after`` from the moment the alert opens, unless it was acknowledged; the whole list is
walked again ``repeat`` more times, each round starting ``round_length`` after the previous one (by default the
last step's ``after`` plus ``repeat_after``). :func:`plan` turns an alert into its deliveries: one per step, round,
channel and address, all known when the alert opens (a schedule target is resolved for the moment its step is
due, so a hand-off between steps is honoured).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from notify.schedule import Override, Schedule
from tickets.languages import DEFAULT_LANGUAGE

SMS = "sms"
SLACK = "slack"
SLACK_UPDATE = "slack_update"
CHANNELS = (SMS, SLACK)


@dataclass(frozen=True)
class OnCallPerson:
    """Somebody alerts can reach."""

    name: str
    phone: str | None = None  # E.164
    slack_user: str | None = None
    display_name: str | None = None
    #: The channels to use for this person (those they have an address for).
    channels: tuple[str, ...] = CHANNELS
    #: Looked up once in Slack (users.lookupByEmail) when ``slack_user`` is not given.
    slack_email: str | None = None
    #: The language of their SMS and Slack messages (tickets.languages.LANGUAGES).
    language: str = DEFAULT_LANGUAGE

    def addresses(self) -> list[tuple[str, str]]:
        out = []
        if SMS in self.channels and self.phone:
            out.append((SMS, self.phone))
        if SLACK in self.channels and self.slack_user:
            out.append((SLACK, self.slack_user))
        return out


@dataclass(frozen=True)
class Target:
    """``schedule:NAME``, ``person:NAME`` or ``slack:#channel`` / ``slack:C0123``."""

    kind: str
    name: str

    @classmethod
    def parse(cls, text: str) -> Target:
        kind, sep, name = text.partition(":")
        if not sep or kind not in ("schedule", "person", "slack") or not name.strip():
            raise ValueError(f"notify: {text!r} is not a target; write schedule:NAME, person:NAME or slack:#channel")
        return cls(kind, name.strip())

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class Step:
    after: timedelta
    targets: tuple[Target, ...]
    #: Only these channels for person and schedule targets in this step (empty: each person's channels).
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Match:
    """Which events a policy takes. Empty lists match everything."""

    events: frozenset[str] = frozenset()
    priorities: frozenset[str] = frozenset()
    metrics: frozenset[str] = frozenset()
    #: ``business`` / ``after_hours``: only in / out of the working hours of ``calendar`` (None: always).
    hours: str | None = None
    calendar: str | None = None

    def accepts(self, event: str, priority: str, metric: str | None, working: bool | None) -> bool:
        if self.events and event not in self.events:
            return False
        if self.priorities and priority not in self.priorities:
            return False
        if self.metrics and (metric or "") not in self.metrics:
            return False
        if self.hours is not None and working is not None:
            return working == (self.hours == "business")
        return True


@dataclass(frozen=True)
class Policy:
    name: str
    steps: tuple[Step, ...]
    match: Match = Match()
    repeat: int = 0
    repeat_after: timedelta = timedelta(minutes=10)
    #: An acknowledgement lasts this long; then, unless the ticket was resolved, the escalation starts again.
    ack_timeout: timedelta | None = None

    @property
    def round_length(self) -> timedelta:
        return max(s.after for s in self.steps) + self.repeat_after


@dataclass(frozen=True)
class Planned:
    """One delivery of an alert: ``step`` of ``round`` over ``channel`` to ``address`` (for ``person``)."""

    step: int
    round: int
    channel: str
    address: str
    person: str | None
    due_at: datetime


@dataclass
class Roster:
    """People and schedules by name, and the overrides stored in the database."""

    people: dict[str, OnCallPerson] = field(default_factory=dict)
    schedules: Mapping[str, Schedule] = field(default_factory=dict)

    def on_call(self, schedule: str, at: datetime, extra: Iterable[Override] = ()) -> str | None:
        sched = self.schedules.get(schedule)
        return sched.on_call(at, extra) if sched else None

    def person_by_phone(self, phone: str) -> OnCallPerson | None:
        return next((p for p in self.people.values() if p.phone == phone), None)

    def person_by_slack(self, user: str) -> OnCallPerson | None:
        return next((p for p in self.people.values() if p.slack_user == user), None)


def choose(
    policies: Sequence[Policy], event: str, priority: str, metric: str | None, working: Callable[[str], bool | None]
) -> Policy | None:
    """The first policy that takes the event (``working(calendar)``: is it business hours there now?)."""
    for policy in policies:
        m = policy.match
        if m.accepts(event, priority, metric, working(m.calendar) if m.calendar else None):
            return policy
    return None


def plan(
    policy: Policy,
    roster: Roster,
    opened_at: datetime,
    overrides: Mapping[str, Sequence[Override]] | None = None,
    cycle: int = 0,
) -> list[Planned]:
    """Every delivery of an alert opened at ``opened_at``: steps x rounds x addresses, without duplicates in a step.

    ``cycle``: the escalation started again after an expired acknowledgement; its rounds are numbered after those
    of the earlier cycles (the deliveries stay unique).
    """
    overrides = overrides or {}
    out: list[Planned] = []
    first = cycle * (policy.repeat + 1)
    for rnd in range(policy.repeat + 1):
        start = opened_at + rnd * policy.round_length
        for index, step in enumerate(policy.steps):
            due = start + step.after
            seen: set[tuple[str, str]] = set()
            for target in step.targets:
                for channel, address, person in _addresses(target, step, roster, due, overrides):
                    if (channel, address) not in seen:
                        seen.add((channel, address))
                        out.append(Planned(index, first + rnd, channel, address, person, due))
    return out


def _addresses(
    target: Target, step: Step, roster: Roster, at: datetime, overrides: Mapping[str, Sequence[Override]]
) -> list[tuple[str, str, str | None]]:
    if target.kind == "slack":
        return [(SLACK, target.name, None)]
    name = target.name if target.kind == "person" else roster.on_call(target.name, at, overrides.get(target.name, ()))
    person = roster.people.get(name) if name else None
    if person is None:
        return []
    return [
        (channel, address, person.name)
        for channel, address in person.addresses()
        if not step.channels or channel in step.channels
    ]
