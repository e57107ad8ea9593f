"""Helpers of the SLA tests: a clock the test moves, policies from TOML through the real configuration loader."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tickets.actor import Actor
from tickets.agent_service import AgentService
from tickets.models import Role
from tickets.sla.clocks import SlaEngine
from tickets.sla.policy import PolicyBook
from tickets.ticket_service import TicketService
from web.config import load_settings

#: The issue's example: an office calendar in Moscow with a lunch break and Russian holidays, P1 round the clock,
#: a VIP policy, a phone policy with a callback target, and a default.
POLICIES = '''
[[sla.calendars]]
name = "office"
timezone = "Europe/Moscow"
holidays = { country = "RU", extra = ["2026-12-30"] }
[sla.calendars.hours]
mon = ["08:00-13:00", "14:00-18:00"]
tue = ["08:00-18:00"]
wed = ["08:00-18:00"]
thu = ["08:00-18:00"]
fri = ["08:00-18:00"]

[[sla.policies]]
name = "p1-incidents"
match = { priority = ["P1"], type = ["incident"] }
calendar = "24x7"
first_response = "15m"
resolution = "4h"
warn_at = [50, 75]

[[sla.policies]]
name = "vip"
match = { vip = true }
calendar = "office"
first_response = "30m"
resolution = "8h"

[[sla.policies]]
name = "phone"
match = { channel = ["phone"] }
calendar = "office"
first_response = "4h"
resolution = "30h"
callback = "30m"

[[sla.policies]]
name = "default"
calendar = "office"
first_response = "4h"
resolution = "30h"
'''


@dataclass
class FakeClock:
    """Now, as the test says."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def book(tmp_path: Path, text: str = POLICIES) -> PolicyBook:
    path = tmp_path / "sla.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ={}).sla.book()


def services(tmp_path: Path, clock: FakeClock, text: str = POLICIES) -> tuple[TicketService, SlaEngine]:
    engine = SlaEngine(book(tmp_path, text), clock=clock)
    return TicketService(clock=clock, sla=engine), engine


async def agent(login: str = "alice") -> Actor:
    return Actor.of(await AgentService().create(login=login, display_name=login.title(), role=Role.AGENT))
