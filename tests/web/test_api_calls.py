"""GET /api/v1/calls and the calls embedded in a ticket, fed through the real call intake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from tests.support.servers import Team
from tickets.calls.intake import CallIntake, IntakeSettings
from tickets.models import CallOutcome
from web.runtime import runtime_of
from web.settings import Settings, load_settings

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The callers below are in the US: numbers without +1 are read as US ones ([directory] default_region)."""
    return load_settings(environ={"HELPLINE_DATABASE_URL": database_url, "HELPLINE_DIRECTORY_DEFAULT_REGION": "US"})


def feed_calls(client: TestClient) -> None:
    async def feed() -> None:
        runtime = runtime_of(client.app)
        numbers = runtime.settings.directory.number_policy()
        intake = CallIntake(runtime.tickets, settings=IntakeSettings(numbers=numbers))
        for n, (number, outcome) in enumerate(
            [
                ("+15551230001", CallOutcome.ANSWERED),
                ("5551230002", CallOutcome.ABANDONED),
                ("anonymous", CallOutcome.TIMEOUT),
                ("(555) 123-0001", CallOutcome.ANSWERED),
            ]
        ):
            lid, at = f"17957957{n}.0", T0 + timedelta(minutes=n)
            await intake.offered(
                pbx="main", linkedid=lid, at=at, caller_number=number, caller_name="Иван", queue="helpdesk"
            )
            if outcome is CallOutcome.ANSWERED:
                await intake.answered(
                    pbx="main", linkedid=lid, at=at, agent_name="Alice", agent_extension="102", wait_seconds=4
                )
            await intake.ended(
                pbx="main",
                linkedid=lid,
                at=at + timedelta(seconds=30),
                outcome=outcome,
                wait_seconds=4,
                talk_seconds=26 if outcome is CallOutcome.ANSWERED else None,
            )

    client.portal.call(feed)


def test_calls_list_filters_and_pages(client: TestClient, team: Team) -> None:
    feed_calls(client)
    h = team.header(team.agent)
    every = client.get("/api/v1/calls", headers=h).json()["items"]
    assert [c["linkedid"] for c in every] == ["179579573.0", "179579572.0", "179579571.0", "179579570.0"]
    missed = client.get("/api/v1/calls", headers=h, params={"outcome": "abandoned,timeout"}).json()["items"]
    assert sorted(c["outcome"] for c in missed) == ["abandoned", "timeout"]
    same_phone = client.get("/api/v1/calls", headers=h, params={"caller": "+1 555 123 0001"}).json()["items"]
    assert len(same_phone) == 2 and same_phone[0]["ticket_id"] == same_phone[1]["ticket_id"], "the repeat call joined"
    mine = client.get("/api/v1/calls", headers=h, params={"agent": "me"}).json()["items"]
    assert len(mine) == 2 and all(c["agent"] == "alice" and c["talk_seconds"] == 26 for c in mine)
    first = client.get("/api/v1/calls", headers=h, params={"limit": 3}).json()
    rest = client.get("/api/v1/calls", headers=h, params={"limit": 3, "cursor": first["next"]}).json()
    assert [c["id"] for c in first["items"] + rest["items"]] == [c["id"] for c in every] and rest["next"] is None
    assert client.get("/api/v1/calls", headers=h, params={"agent": "nobody"}).status_code == 400


def test_a_ticket_shows_its_calls(client: TestClient, team: Team) -> None:
    feed_calls(client)
    h = team.header(team.agent)
    ticket_id = client.get("/api/v1/calls", headers=h, params={"caller": "5551230001"}).json()["items"][0]["ticket_id"]
    ticket = client.get(f"/api/v1/tickets/{ticket_id}", headers=h).json()
    assert [(c["opened_ticket"], c["outcome"], c["caller_e164"]) for c in ticket["calls"]] == [
        (True, "answered", "+15551230001"),
        (False, "answered", "+15551230001"),
    ]
    assert ticket["assignee"]["login"] == "alice" and ticket["channel"] == "phone"
    missed = client.get("/api/v1/calls", headers=h, params={"outcome": "timeout"}).json()["items"][0]
    assert (
        client.get(f"/api/v1/tickets/{missed['ticket_id']}", headers=h).json()["title"]
        == "Missed call: Иван (a withheld number)"
    ), "no number to call back: no call back asked"
