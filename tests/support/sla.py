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
from web.settings import load_settings

#: The issue's example: an office calendar in Moscow with a lunch break and Russian holidays, P1 round the clock,
#: a VIP policy, a phone policy with a callback target, and a default.
POLICIES = """
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
"""


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


async def _crash_worker(database_url: str, policies: str, now: str) -> None:
    """Run one SLA scheduler pass whose alert handler kills the process (SIGKILL) after writing the alert, before
    the commit: ``python -m tests.support.sla DATABASE_URL POLICIES_TOML NOW_ISO``."""
    import os
    import signal

    from notify.alerts import AlertService
    from tests.support.notify import notify_raw
    from tickets.events import SlaBreached, SlaWarning
    from tickets.sla.scheduler import SlaScheduler
    from web.runtime import db
    from web.settings import Settings
    from web.settings.notify import NotifySettings

    settings = Settings.model_validate({"database": {"url": database_url}})
    await db.open_orm(settings.database)
    clock = FakeClock(datetime.fromisoformat(now))
    engine = SlaEngine(book(Path(policies).parent, Path(policies).read_text(encoding="utf-8")), clock=clock)
    notify = NotifySettings.model_validate(notify_raw("http://127.0.0.1:9", "http://127.0.0.1:9"))
    alerts = AlertService(notify.roster(), notify.build_policies(), TicketService(clock=clock, sla=engine), clock=clock)

    async def die_after_the_alert(event: SlaWarning | SlaBreached) -> None:
        await alerts.on_due(event)  # the alert and its deliveries are written, not committed
        print("written", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    await SlaScheduler(engine, handlers=[die_after_the_alert], clock=clock).run_due()
    print("survived", flush=True)  # never reached


if __name__ == "__main__":
    import asyncio
    import sys

    asyncio.run(_crash_worker(*sys.argv[1:4]))
