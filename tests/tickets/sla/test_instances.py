"""Two ``helpline serve`` processes on one database: every SLA warning and breach is written once, on time.

The real thing end to end: tickets opened through both servers' APIs, both schedulers running, the warnings and
breaches found in the tickets' history afterwards (SQLite file shared by two processes, and PostgreSQL).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx

from tests.support.servers import start_server, stop_server
from tests.support.services import run_async
from tests.support.waiting import eventually
from tickets.agent_service import AgentService
from tickets.models import Activity, ActivityKind, Role, SlaClock
from web.runtime import db
from web.settings import load_settings

FAST = """
[[sla.policies]]
name = "fast"
first_response = "3s"
resolution = "5s"
warn_at = [50]
"""


async def _token(database_url: str) -> str:
    settings = load_settings(environ={"HELPLINE_DATABASE_URL": database_url})
    await db.open_orm(settings.database)
    try:
        agents = AgentService()
        ada = await agents.create(login="ada", display_name="Ada", role=Role.ADMIN)
        return (await agents.issue_token(ada.id))[1]
    finally:
        await db.close_orm()


async def _until_all_fired(database_url: str, events: int) -> None:
    """Until ``events`` SLA entries are in the tickets' history and no clock has anything left to fire."""
    settings = load_settings(environ={"HELPLINE_DATABASE_URL": database_url})
    await db.open_orm(settings.database)
    try:

        async def fired() -> bool:
            return (
                await Activity.filter(kind=ActivityKind.SLA).count() >= events
                and not await SlaClock.filter(next_event_at__isnull=False).exists()
            )

        await eventually(fired, what=f"{events} SLA events fired, none left", every=0.2)
    finally:
        await db.close_orm()


async def _outcome(database_url: str) -> tuple[list[tuple[int, str, str]], list[float]]:
    settings = load_settings(environ={"HELPLINE_DATABASE_URL": database_url})
    await db.open_orm(settings.database)
    try:
        entries = await Activity.filter(kind=ActivityKind.SLA).order_by("id")
        clocks = {(c.ticket_id, c.metric): c for c in await SlaClock.all()}
        lags = []
        for e in entries:
            clock = clocks[(e.ticket_id, e.field or "")]
            if e.new_value == "breached":
                assert clock.breached_at is not None
                lags.append((e.created_at - clock.breached_at).total_seconds())
        return [(e.ticket_id, e.field or "", e.new_value or "") for e in entries], lags
    finally:
        await db.close_orm()


def test_two_instances_fire_each_event_once_and_on_time(database_url: str, tmp_path: Path) -> None:
    config = tmp_path / "helpline.toml"
    config.write_text(FAST, encoding="utf-8")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    env = {"HELPLINE_CONFIG": str(config)}
    token = run_async(_token(database_url))
    servers = [start_server(database_url, tmp_path / name, env) for name in ("a", "b")]
    try:
        numbers = []
        for i in range(6):
            server = servers[i % 2]
            r = httpx.post(
                f"{server.base_url}/api/v1/tickets",
                headers={"Authorization": f"Bearer {token}"},
                json={"title": f"Outage {i}"},
                timeout=10,
            )
            assert r.status_code == 201, r.text
            numbers.append(r.json()["number"])
        run_async(_until_all_fired(database_url, 6 * 4))  # each: warnings at 1.5 s and 2.5 s, breaches at 3 s and 5 s
    finally:
        for server in servers:
            stop_server(server)
    entries, lags = run_async(_outcome(database_url))
    counts = Counter(entries)
    assert len(counts) == 6 * 4, sorted(counts)  # 6 tickets x (2 warnings + 2 breaches)
    assert set(counts.values()) == {1}, [k for k, v in counts.items() if v > 1]
    assert all(0 <= lag < 1.0 for lag in lags), lags
