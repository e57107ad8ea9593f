"""The SLA over HTTP: each ticket shows its clocks (due, remaining, % used, state) and their timeline; the
configured policies and calendars can be read. On SQLite and PostgreSQL, with the scheduler running in the app."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.servers import Team
from tests.support.sla import POLICIES
from tickets.agent_service import AgentService
from tickets.models import Role, SlaClock, SlaState
from web.app import create_app
from web.settings import load_settings


@pytest.fixture
def sla_client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    path = tmp_path / "helpline.toml"
    path.write_text(POLICIES, encoding="utf-8")
    settings = load_settings(path, environ={"HELPLINE_DATABASE_URL": database_url})
    with TestClient(create_app(settings), raise_server_exceptions=True) as client:
        yield client


@pytest.fixture
def token(sla_client: TestClient) -> dict[str, str]:
    async def make() -> str:
        agents = AgentService()
        alice = await agents.create(login="alice", display_name="Alice", role=Role.AGENT)
        return (await agents.issue_token(alice.id))[1]

    return Team.header(sla_client.portal.call(make))


def test_a_ticket_shows_its_clocks(sla_client: TestClient, token: dict[str, str]) -> None:
    created = sla_client.post(
        "/api/v1/tickets", headers=token, json={"title": "Mail down", "impact": "high", "urgency": "high"}
    )
    assert created.status_code == 201, created.text
    detail = sla_client.get(f"/api/v1/tickets/{created.json()['number']}", headers=token)
    assert detail.status_code == 200
    clocks = {c["metric"]: c for c in detail.json()["sla"]}
    assert set(clocks) == {"first_response", "resolution"}
    first = clocks["first_response"]
    assert (first["policy"], first["calendar"], first["state"], first["target_seconds"]) == (
        "p1-incidents",
        "24x7",
        "running",
        900,
    )
    assert 0 <= first["percent_used"] < 5 and 890 <= first["remaining_seconds"] <= 900
    assert first["due_at"] is not None and first["warned"] == []

    number = created.json()["number"]
    comment = sla_client.post(
        f"/api/v1/tickets/{number}/comments", headers=token, json={"body": "Looking into it", "public": True}
    )
    assert comment.status_code == 201
    timeline = sla_client.get(f"/api/v1/tickets/{number}/sla", headers=token)
    assert timeline.status_code == 200
    body = timeline.json()
    assert {c["metric"]: c["state"] for c in body["clocks"]} == {"first_response": "met", "resolution": "running"}
    assert [(e["metric"], e["kind"]) for e in body["events"]] == [
        ("first_response", "started"),
        ("resolution", "started"),
        ("first_response", "met"),
    ]
    activity = sla_client.get(f"/api/v1/tickets/{number}/activity", headers=token)
    assert activity.status_code == 200


def test_pending_shows_a_paused_clock_without_due_time(sla_client: TestClient, token: dict[str, str]) -> None:
    number = sla_client.post("/api/v1/tickets", headers=token, json={"title": "New laptop"}).json()["number"]
    moved = sla_client.post(f"/api/v1/tickets/{number}/transitions", headers=token, json={"to": "pending"})
    assert moved.status_code == 200, moved.text
    clocks = {c["metric"]: c for c in sla_client.get(f"/api/v1/tickets/{number}", headers=token).json()["sla"]}
    assert clocks["resolution"]["state"] == "paused" and clocks["resolution"]["due_at"] is None
    assert clocks["resolution"]["paused"] is True


def test_policies_and_calendars_are_listed(sla_client: TestClient, token: dict[str, str]) -> None:
    policies = sla_client.get("/api/v1/sla/policies", headers=token)
    assert policies.status_code == 200
    items = policies.json()["items"]
    assert [p["name"] for p in items] == ["p1-incidents", "vip", "phone", "default"]
    p1 = items[0]
    assert p1["match"] == {"priority": ["P1"], "type": ["incident"], "group": [], "channel": [], "vip": None}
    assert (p1["first_response_seconds"], p1["resolution_seconds"], p1["callback_seconds"]) == (900, 14400, None)
    assert p1["warn_at"] == [50, 75] and p1["pause_statuses"] == ["pending"]
    assert items[2]["callback_seconds"] == 1800
    calendars = {c["name"]: c for c in sla_client.get("/api/v1/sla/calendars", headers=token).json()["items"]}
    assert calendars["24x7"]["always"] is True
    office = calendars["office"]
    assert office["timezone"] == "Europe/Moscow" and office["country"] == "RU"
    assert office["hours"]["mon"] == ["08:00-13:00", "14:00-18:00"] and "sat" not in office["hours"]
    assert office["extra_days_off"] == ["2026-12-30"]


def test_the_sla_endpoints_need_a_token(sla_client: TestClient) -> None:
    assert sla_client.get("/api/v1/sla/policies").status_code == 401
    assert sla_client.get("/api/v1/tickets/IT-1/sla").status_code == 401


def test_at_risk_lists_running_clocks_soonest_breach_first(sla_client: TestClient, token: dict[str, str]) -> None:
    slow = sla_client.post("/api/v1/tickets", headers=token, json={"title": "Printer"}).json()["number"]  # 30 h
    urgent = sla_client.post(
        "/api/v1/tickets", headers=token, json={"title": "Mail down", "impact": "high", "urgency": "high"}
    ).json()["number"]  # 4 h
    waiting = sla_client.post("/api/v1/tickets", headers=token, json={"title": "Laptop"}).json()["number"]
    assert (
        sla_client.post(f"/api/v1/tickets/{waiting}/transitions", headers=token, json={"to": "pending"}).status_code
        == 200
    )
    r = sla_client.get("/api/v1/sla/at-risk", headers=token, params={"metric": "resolution"})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["number"] for i in items] == [urgent, slow]  # the paused one is not at risk
    assert items[0]["clock"]["metric"] == "resolution" and items[0]["priority"] == "P1"
    assert items[0]["clock"]["due_at"] < items[1]["clock"]["due_at"]
    first = sla_client.get("/api/v1/sla/at-risk", headers=token, params={"limit": 1}).json()["items"]
    assert [(i["number"], i["clock"]["metric"]) for i in first] == [(urgent, "first_response")]  # due in 15 min


def test_the_report_counts_met_and_breached_targets(sla_client: TestClient, token: dict[str, str]) -> None:
    tickets = [
        sla_client.post(
            "/api/v1/tickets",
            headers=token,
            json={"title": f"Outage {i}", "impact": "high", "urgency": "high", "group": "network"},
        ).json()["number"]
        for i in range(3)
    ]
    for number in tickets[:2]:  # answered at once: first response met
        assert (
            sla_client.post(
                f"/api/v1/tickets/{number}/comments", headers=token, json={"body": "on it", "public": True}
            ).status_code
            == 201
        )

    async def breach_one() -> None:  # as the scheduler would have done 15 minutes on
        now = datetime.now(UTC)
        await SlaClock.filter(ticket__number=tickets[2], metric="first_response").update(
            state=SlaState.BREACHED, breached_at=now - timedelta(seconds=1)
        )

    sla_client.portal.call(breach_one)
    by_metric = sla_client.get("/api/v1/reports/sla", headers=token, params={"by": "metric"})
    assert by_metric.status_code == 200, by_metric.text
    rows = {r["key"]: r for r in by_metric.json()["rows"]}
    assert rows["first_response"] == {"key": "first_response", "met": 2, "breached": 1, "met_percent": 66.7}
    by_group = sla_client.get(
        "/api/v1/reports/sla", headers=token, params={"by": "group", "metric": "first_response"}
    ).json()
    assert [(r["key"], r["met"], r["breached"]) for r in by_group["rows"]] == [("network", 2, 1)]
    assert by_group["total"]["met_percent"] == 66.7
    csv_report = sla_client.get("/api/v1/reports/sla", headers=token, params={"by": "group", "format": "csv"})
    assert csv_report.status_code == 200 and csv_report.headers["content-type"].startswith("text/csv")
    assert csv_report.text.splitlines() == ["group,met,breached,met_percent", "network,2,1,66.7", "total,2,1,66.7"]
    bad = sla_client.get(
        "/api/v1/reports/sla", headers=token, params={"since": "2026-12-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"}
    )
    assert bad.status_code == 400
