"""SLA policies: which tickets they apply to, their targets per metric, calendar, warnings and pauses.

Policies are tried in order and the first whose conditions all hold wins; a policy without conditions matches
every ticket (put it last as the default). Targets are business time on the policy's calendar.

Durations: ``"15m"``, ``"4h"``, ``"1h30m"``, ``"90s"``, ``"3d"``. A day is one working day of the policy's
calendar (:attr:`Calendar.working_day`): on a Mon-Fri 08:00-18:00 calendar ``"3d"`` is 30 business hours, so
"resolution within 3 business days" means what the desk means by it; on the built-in ``24x7`` a day is 24 hours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

from tickets.sla.calendar import ALWAYS, Calendar

_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")
DEFAULT_WARN_AT = (50, 75)
DEFAULT_PAUSE = frozenset({"pending"})


class Metric(str, Enum):
    """What a clock measures."""

    FIRST_RESPONSE = "first_response"  # until an agent first responds (public comment, status change, answered call)
    RESOLUTION = "resolution"  # until the ticket is resolved
    CALLBACK = "callback"  # from a missed call until an agent calls back or otherwise acts on the ticket

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


def parse_target(value: Any, day: timedelta = timedelta(hours=24)) -> timedelta:
    """A target duration of business time: ``"4h"``, ``"15m"``, ``"1h30m"``, ``"3d"`` (3 x ``day``: a working
    day of the calendar) or a number of seconds. Raises ``ValueError`` for anything else, zero or negative."""
    if isinstance(value, timedelta):
        out = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out = timedelta(seconds=value)
    elif isinstance(value, str) and (match := _DURATION.match(value)) and any(match.groups()):
        d, h, m, s = (int(g or 0) for g in match.groups())
        out = d * day + timedelta(hours=h, minutes=m, seconds=s)
    else:
        raise ValueError("not a duration: write it like 15m, 4h, 1h30m or 3d (3 working days of the calendar)")
    if out <= timedelta(0):
        raise ValueError("a target must be longer than zero")
    return out


def format_duration(d: timedelta) -> str:
    """``timedelta(hours=4, minutes=30)`` -> ``"4h30m"`` (days are written as hours)."""
    seconds = int(d.total_seconds())
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or "0s"


@dataclass(frozen=True)
class TicketFacts:
    """What policy conditions look at."""

    priority: str
    type: str
    channel: str
    group: str | None = None
    vip: bool = False


@dataclass(frozen=True)
class Conditions:
    """All given conditions must hold; an empty set of values means "any"."""

    priority: frozenset[str] = frozenset()
    type: frozenset[str] = frozenset()
    group: frozenset[str] = frozenset()
    channel: frozenset[str] = frozenset()
    vip: bool | None = None

    @property
    def empty(self) -> bool:
        return not (self.priority or self.type or self.group or self.channel) and self.vip is None

    def holds(self, t: TicketFacts) -> bool:
        return (
            (not self.priority or t.priority in self.priority)
            and (not self.type or t.type in self.type)
            and (not self.group or (t.group or "") in self.group)
            and (not self.channel or t.channel in self.channel)
            and (self.vip is None or t.vip == self.vip)
        )

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: sorted(getattr(self, k)) for k in ("priority", "type", "group", "channel") if getattr(self, k)
        }
        if self.vip is not None:
            out["vip"] = self.vip
        return out


@dataclass(frozen=True)
class Policy:
    name: str
    calendar: Calendar
    targets: Mapping[Metric, timedelta]
    conditions: Conditions = Conditions()
    warn_at: tuple[int, ...] = DEFAULT_WARN_AT
    pause_statuses: frozenset[str] = DEFAULT_PAUSE

    def target(self, metric: Metric) -> timedelta | None:
        return self.targets.get(metric)


@dataclass
class PolicyBook:
    """The configured calendars and policies."""

    policies: list[Policy] = field(default_factory=list)
    calendars: dict[str, Calendar] = field(default_factory=lambda: {ALWAYS.name: ALWAYS})

    def select(self, facts: TicketFacts) -> Policy | None:
        """The first policy whose conditions hold for ``facts``."""
        for policy in self.policies:
            if policy.conditions.holds(facts):
                return policy
        return None

    def get(self, name: str | None) -> Policy | None:
        for policy in self.policies:
            if policy.name == name:
                return policy
        return None

    @staticmethod
    def check_order(policies: Iterable[Policy]) -> list[str]:
        """Problems with the order: a policy after a catch-all can never match."""
        problems: list[str] = []
        catch_all: str | None = None
        for policy in policies:
            if catch_all is not None:
                problems.append(
                    f"policy {policy.name!r} can never match: {catch_all!r} before it matches every "
                    "ticket (move the policy without conditions to the end)"
                )
            elif policy.conditions.empty:
                catch_all = policy.name
        return problems
