"""Local aliases ("this number is ...") and a person at a glance, through the API and the real call intake."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.servers import Team
from tickets.agent_service import AgentService
from tickets.calls.callers import MatchStatus
from tickets.models import CallOutcome, Person, Role
from web.app import create_app
from web.runtime import runtime_of
from web.settings import Settings, load_settings

V1 = "/api/v1"
PROBLEM = "application/problem+json"
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str) -> Settings:
    """A site in the US: numbers without +<country code> are read as US ones."""
    return load_settings(environ={"HELPLINE_DATABASE_URL": database_url, "HELPLINE_DIRECTORY_DEFAULT_REGION": "US"})


def person(client: TestClient, h: dict[str, str], **fields: Any) -> dict[str, Any]:
    r = client.post(f"{V1}/people", headers=h, json=fields)
    assert r.status_code == 201, r.text
    return dict(r.json())


def identify(client: TestClient, number: str) -> tuple[MatchStatus, int | None, str | None]:
    """Who the intake takes the caller for, as it does when the PBX offers a call."""

    async def ask() -> tuple[MatchStatus, int | None, str | None]:
        match = await runtime_of(client.app).intake.identify(number)
        return match.status, match.person_id, match.attribute

    return client.portal.call(ask)


def call_in(client: TestClient, linkedid: str, number: str, at: datetime) -> int | None:
    """A call through the intake, answered by alice; returns its ticket's id."""

    async def feed() -> int | None:
        intake = runtime_of(client.app).intake
        call = await intake.offered(
            pbx="main", linkedid=linkedid, at=at, caller_number=number, caller_name="", queue="helpdesk"
        )
        await intake.answered(
            pbx="main", linkedid=linkedid, at=at, agent_name="Alice", agent_extension="102", wait_seconds=3
        )
        await intake.ended(
            pbx="main",
            linkedid=linkedid,
            at=at + timedelta(minutes=2),
            outcome=CallOutcome.ANSWERED,
            wait_seconds=3,
            talk_seconds=117,
        )
        return call.ticket_id

    return client.portal.call(feed)


def test_an_agent_links_an_unknown_number_and_every_later_lookup_knows_it(
    client: TestClient, team: Team, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tickets.calls.aliases")
    alice, bob = team.header(team.agent), team.header(team.other_agent)
    somchai = person(client, alice, name="สมชาย ใจดี", department="การเงิน")
    olga = person(client, alice, name="Ольга Смирнова")
    walk_in = person(client, alice, name="Walk-in", phone="+66 2 123 4567")  # entered by hand with the same phone
    assert identify(client, "+6621234567") == (MatchStatus.UNIQUE, walk_in["id"], None)

    r = client.post(f"{V1}/people/{somchai['id']}/aliases", headers=alice, json={"number": "+66 2 123 4567"})
    assert r.status_code == 201, r.text
    alias = r.json()
    assert (alias["number"], alias["person_id"], alias["created_by"]) == ("+6621234567", somchai["id"], "alice")
    assert identify(client, "+6621234567") == (MatchStatus.UNIQUE, somchai["id"], "alias")  # before the phone
    assert identify(client, "0116621234567")[1] == somchai["id"]  # as a US trunk may write it
    detail = client.get(f"{V1}/people/{somchai['id']}", headers=bob).json()
    assert detail["aliases"] == [alias] and detail["name"] == "สมชาย ใจดี"

    again = client.post(f"{V1}/people/{somchai['id']}/aliases", headers=bob, json={"number": "011 66 2 123 4567"})
    assert again.status_code == 200 and again.json() == alias, "the same link again is the one already there"
    taken = client.post(f"{V1}/people/{olga['id']}/aliases", headers=bob, json={"number": "+6621234567"})
    assert taken.status_code == 409 and taken.headers["content-type"] == PROBLEM
    assert "สมชาย ใจดี" in taken.json()["detail"] and "alice" in taken.json()["detail"]
    assert client.get(f"{V1}/people/{olga['id']}", headers=bob).json()["aliases"] == []

    ticket_id = call_in(client, "1795000001.1", "+6621234567", T0)  # the next call from it
    ticket = client.get(f"{V1}/tickets/{ticket_id}", headers=bob).json()
    assert ticket["requester"]["id"] == somchai["id"]

    assert client.delete(f"{V1}/people/{olga['id']}/aliases/{alias['id']}", headers=bob).status_code == 404
    gone = client.delete(f"{V1}/people/{somchai['id']}/aliases/{alias['id']}", headers=bob)
    assert gone.status_code == 200 and gone.json() == alias
    assert client.delete(f"{V1}/people/{somchai['id']}/aliases/{alias['id']}", headers=bob).status_code == 404
    assert identify(client, "+6621234567") == (MatchStatus.UNIQUE, walk_in["id"], None)
    assert client.get(f"{V1}/people/{somchai['id']}", headers=bob).json()["aliases"] == []
    assert "alice linked +6621234567 to person" in caplog.text and "bob removed +6621234567" in caplog.text
    # now free for someone else
    assert (
        client.post(f"{V1}/people/{olga['id']}/aliases", headers=bob, json={"number": "+6621234567"}).status_code == 201
    )


def test_what_cannot_be_an_alias_is_a_clear_422_or_404(client: TestClient, team: Team) -> None:
    alice = team.header(team.agent)
    ivan = person(client, alice, name="Иван Петров")
    for number in ("anonymous", "<unknown>", "n/a", "\u0663\u0664"):
        r = client.post(f"{V1}/people/{ivan['id']}/aliases", headers=alice, json={"number": number})
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, (number, r.text)
        assert "number" in r.text
    for body in ({}, {"number": ""}, {"number": 5551230001}, {"number": "x" * 65}, {"number": "1", "extra": 1}):
        assert client.post(f"{V1}/people/{ivan['id']}/aliases", headers=alice, json=body).status_code == 422, body
    extension = client.post(f"{V1}/people/{ivan['id']}/aliases", headers=alice, json={"number": "4321"})
    assert extension.status_code == 201 and extension.json()["number"] == "4321"  # an internal extension
    assert identify(client, "4321")[1] == ivan["id"]
    assert client.post(f"{V1}/people/999999/aliases", headers=alice, json={"number": "+15551230001"}).status_code == 404

    async def disable() -> None:  # as a sync does; after it, the lookups read the aliases again
        await Person.filter(id=ivan["id"]).update(disabled=True)
        runtime_of(client.app).aliases.invalidate()

    client.portal.call(disable)
    assert identify(client, "4321")[0] is MatchStatus.NONE  # a disabled person's alias matches nobody
    r = client.post(f"{V1}/people/{ivan['id']}/aliases", headers=alice, json={"number": "+15551230001"})
    assert r.status_code == 422 and "disabled" in r.json()["detail"]


def test_without_a_default_region_a_national_number_says_how_to_write_it(database_url: str) -> None:
    bare = load_settings(environ={"HELPLINE_DATABASE_URL": database_url})  # no [directory] default_region

    async def agent() -> str:
        alice = await AgentService().create(login="alice", display_name="Alice", role=Role.AGENT)
        return (await AgentService().issue_token(alice.id))[1]

    with TestClient(create_app(bare)) as client:
        alice = Team.header(client.portal.call(agent))
        olga = person(client, alice, name="Ольга")
        r = client.post(f"{V1}/people/{olga['id']}/aliases", headers=alice, json={"number": "02 123 4567"})
        assert r.status_code == 422 and "default_region" in r.json()["detail"] and "+CC" in r.json()["detail"]
        r = client.post(f"{V1}/people/{olga['id']}/aliases", headers=alice, json={"number": "+66 2 123 4567"})
        assert r.status_code == 201 and r.json()["number"] == "+6621234567"


def test_a_person_at_a_glance(client: TestClient, team: Team) -> None:
    alice = team.header(team.agent)
    maria = person(client, alice, name="Maria Jensen", phone="+1 (555) 123-0036", department="Finance", title="CFO")
    other = person(client, alice, name="Somebody Else")
    numbers = []
    for n in range(8):
        r = client.post(f"{V1}/tickets", headers=alice, json={"title": f"Issue {n}", "requester_id": maria["id"]})
        numbers.append(r.json()["number"])
    for number in numbers[:6]:  # six resolved: only the five most recent are shown
        r = client.post(
            f"{V1}/tickets/{number}/transitions", headers=alice, json={"to": "resolved", "resolution": "ok"}
        )
        assert r.status_code == 200, r.text
    client.post(f"{V1}/tickets", headers=alice, json={"title": "Not hers", "requester_id": other["id"]})
    assert (
        client.post(
            f"{V1}/people/{maria['id']}/aliases", headers=alice, json={"number": "+44 20 7946 0036"}
        ).status_code
        == 201
    )
    desk = call_in(client, "1795000002.1", "5551230036", T0)  # her desk phone: a new ticket, hers
    mobile = call_in(client, "1795000003.1", "+442079460036", T0 + timedelta(hours=1))  # her alias
    glance = client.get(f"{V1}/people/{maria['id']}/summary", headers=alice)
    assert glance.status_code == 200, glance.text
    g = glance.json()
    assert (g["person"]["name"], g["person"]["department"], g["person"]["title"], g["person"]["vip"]) == (
        "Maria Jensen",
        "Finance",
        "CFO",
        False,
    )
    assert [a["number"] for a in g["person"]["aliases"]] == ["+442079460036"]
    titles = [t["title"] for t in g["tickets"]]
    assert g["open_tickets"] == 3 and all(t["requester"]["id"] == maria["id"] for t in g["tickets"])
    assert {t["status"] for t in g["tickets"][:3]} <= {"new", "open"} and len(g["tickets"]) == 3 + 5
    assert titles[3:] == ["Issue 5", "Issue 4", "Issue 3", "Issue 2", "Issue 1"], "the five most recent done ones"
    assert {desk, mobile} <= {t["id"] for t in g["tickets"][:3]}
    assert [(c["caller_e164"], c["agent"], c["talk_seconds"]) for c in g["calls"]] == [
        ("+442079460036", "alice", 117),
        ("+15551230036", "alice", 117),
    ], "newest first, from her phone and her alias"
    assert client.get(f"{V1}/people/999999/summary", headers=alice).status_code == 404
    assert client.get(f"{V1}/people/{other['id']}/summary", headers=alice).json()["calls"] == []
