"""The agent desk's work lists: GET /views (counts), GET /tickets?view= (the same tickets, in the view's order, with
the other filters and keyset pages), a ticket number first in search, comments and requester names searched, and
every agent's load. Tickets are made through the real services: the API, the call intake (missed, answered and
withheld calls), the SLA scheduler (a warning due)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.servers import Team
from tests.support.sla import FakeClock
from tickets.actor import Actor
from tickets.calls.intake import CallIntake, IntakeSettings
from tickets.models import CallOutcome, Ticket
from tickets.sla.scheduler import SlaScheduler
from web.app import create_app
from web.runtime import runtime_of
from web.settings import load_settings

V1 = "/api/v1"
VIEWS = ["unassigned", "mine", "team", "callbacks", "waiting", "at_risk", "resolved"]
#: P1 tickets warn at half their 15 minutes; phone tickets owe a call back within an hour.
POLICIES = """
[[sla.policies]]
name = "p1"
match = { priority = ["P1"] }
calendar = "24x7"
first_response = "15m"
resolution = "4h"
warn_at = [50]

[[sla.policies]]
name = "default"
calendar = "24x7"
first_response = "8h"
resolution = "5d"
callback = "1h"
"""


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The app with the policies above; callers' numbers without +1 are read as US ones."""
    path = tmp_path / "helpline.toml"
    path.write_text(POLICIES, encoding="utf-8")
    settings = load_settings(
        path, environ={"HELPLINE_DATABASE_URL": database_url, "HELPLINE_DIRECTORY_DEFAULT_REGION": "US"}
    )
    with TestClient(create_app(settings), raise_server_exceptions=True) as test_client:
        yield test_client


@dataclass
class Desk:
    client: TestClient
    team: Team

    def create(self, title: str, **fields: Any) -> str:
        r = self.client.post(
            f"{V1}/tickets", headers=self.team.header(self.team.admin), json={"title": title, **fields}
        )
        assert r.status_code == 201, r.text
        return str(r.json()["number"])

    def act(self, path: str, body: dict[str, Any], token: str | None = None) -> None:
        r = self.client.post(f"{V1}/tickets/{path}", headers=self.team.header(token or self.team.admin), json=body)
        assert r.status_code in (200, 201), r.text

    def counts(self, token: str) -> dict[str, int]:
        r = self.client.get(f"{V1}/views", headers=self.team.header(token))
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert [i["id"] for i in items] == VIEWS
        return {i["id"]: i["count"] for i in items}

    def listed(self, token: str, limit: int = 200, **params: Any) -> list[str]:
        """The numbers of every ticket the listing returns, following ``next``."""
        numbers: list[str] = []
        cursor: str | None = None
        for _ in range(1000):
            query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
            r = self.client.get(f"{V1}/tickets", headers=self.team.header(token), params=query)
            assert r.status_code == 200, r.text
            body = r.json()
            assert len(body["items"]) <= limit
            numbers += [t["number"] for t in body["items"]]
            cursor = body["next"]
            if cursor is None:
                assert len(numbers) == len(set(numbers)), f"a ticket came twice: {numbers}"
                return numbers
            assert body["items"], "a page with a next cursor is not empty"
        raise AssertionError("the pages did not end")


@pytest.fixture
def desk(client: TestClient, team: Team) -> Desk:
    return Desk(client, team)


def calls(client: TestClient, *script: tuple[str, str, CallOutcome, str]) -> list[str]:
    """Feed calls (linkedid, number, outcome, queue) through the real intake; the numbers of their tickets."""

    async def feed() -> list[str]:
        runtime = runtime_of(client.app)
        intake = CallIntake(
            runtime.tickets, settings=IntakeSettings(numbers=runtime.settings.directory.number_policy())
        )
        numbers = []
        for linkedid, number, outcome, queue in script:
            at = datetime.now(UTC)
            call = await intake.offered(
                pbx="main", linkedid=linkedid, at=at, caller_number=number, caller_name="Caller", queue=queue
            )
            if outcome is CallOutcome.ANSWERED:
                await intake.answered(
                    pbx="main", linkedid=linkedid, at=at, agent_name="Alice", agent_extension="102", wait_seconds=5
                )
            await intake.ended(
                pbx="main",
                linkedid=linkedid,
                at=at + timedelta(seconds=40),
                outcome=outcome,
                wait_seconds=40,
                talk_seconds=30 if outcome is CallOutcome.ANSWERED else None,
            )
            numbers.append((await Ticket.get(id=call.ticket_id)).number)
        return numbers

    return list(client.portal.call(feed))


def test_each_view_holds_its_tickets_and_counts_them(desk: Desk) -> None:
    t = desk.team
    printer = desk.create("Printer jammed")  # unassigned, new
    mine = desk.create("Alice's laptop", assignee="alice")
    waiting = desk.create("Bob waits for the user", assignee="bob")
    desk.act(f"{waiting}/transitions", {"to": "pending"}, t.other_agent)
    first_missed, withheld, answered, second_missed, settled = calls(
        desk.client,
        ("1.1", "5551230001", CallOutcome.ABANDONED, "helpdesk"),  # a number to call back: owed
        ("1.2", "anonymous", CallOutcome.TIMEOUT, "helpdesk"),  # no number: nobody to call back
        ("1.3", "5551230003", CallOutcome.ANSWERED, "servicedesk"),  # answered by Alice: hers, nothing owed
        ("1.4", "5551230004", CallOutcome.TIMEOUT, "servicedesk"),  # owed, after the first
        ("1.5", "5551230005", CallOutcome.ABANDONED, "helpdesk"),  # owed, then an agent acts
    )
    desk.act(f"{settled}/comments", {"body": "Called back, no answer"}, t.agent)
    done = desk.create("Password reset", assignee="alice")
    desk.act(f"{done}/transitions", {"to": "open"}, t.agent)
    desk.act(f"{done}/transitions", {"to": "resolved", "resolution": "Reset"}, t.agent)
    long_done = desk.create("Old request")
    desk.act(f"{long_done}/transitions", {"to": "resolved", "resolution": "Done"})
    urgent = desk.create("Mail down for everyone", impact="high", urgency="high")  # P1: warns at 7.5 minutes

    async def age_and_warn() -> None:
        runtime = runtime_of(desk.client.app)
        # resolved more than 7 days ago (the service stamps its own time; the history of that day is not needed)
        await Ticket.filter(number=long_done).update(resolved_at=datetime.now(UTC) - timedelta(days=8))
        later = FakeClock(datetime.now(UTC) + timedelta(minutes=10))
        assert await SlaScheduler(runtime.sla, clock=later).run_due() >= 1

    desk.client.portal.call(age_and_warn)

    expected = {
        "unassigned": [urgent, settled, second_missed, withheld, first_missed, printer],
        "mine": [answered, mine],
        "team": [urgent, settled, second_missed, answered, withheld, first_missed, waiting, mine, printer],
        "callbacks": [first_missed, second_missed],  # the one waiting longest first
        "waiting": [waiting],
        "at_risk": [urgent],
        "resolved": [done],
    }
    for view, numbers in expected.items():
        assert desk.listed(t.agent, view=view) == numbers, view
    assert desk.counts(t.agent) == {view: len(numbers) for view, numbers in expected.items()}
    # "mine" is whoever asks
    assert desk.listed(t.other_agent, view="mine") == [waiting]
    assert desk.counts(t.other_agent)["mine"] == 1
    assert desk.listed(t.supervisor, view="mine") == []

    # a view narrowed by the other filters, in its order unless a sort is asked for
    assert desk.listed(t.agent, view="callbacks", queue="helpdesk") == [first_missed]
    assert desk.listed(t.agent, view="callbacks", sort="-created") == [second_missed, first_missed]
    assert desk.listed(t.agent, view="team", queue="servicedesk") == [second_missed, answered]
    assert desk.listed(t.agent, view="team", assignee="alice") == [answered, mine]
    assert desk.listed(t.agent, view="team", status="resolved") == []
    assert desk.listed(t.agent, view="unassigned", priority="P1") == [urgent]
    assert desk.listed(t.agent, queue="helpdesk") == [settled, withheld, first_missed]

    # a missed call owed is settled by an answered repeat call from the same phone
    calls(desk.client, ("1.6", "5551230001", CallOutcome.ANSWERED, "helpdesk"))
    assert desk.listed(t.agent, view="callbacks") == [second_missed]
    assert desk.counts(t.agent)["callbacks"] == 1
    # ...and by resolving the ticket
    desk.act(f"{second_missed}/transitions", {"to": "resolved", "resolution": "Called back"}, t.agent)
    assert desk.listed(t.agent, view="callbacks") == []
    assert second_missed in desk.listed(t.agent, view="resolved")


def test_created_between(desk: Desk) -> None:
    t = desk.team
    numbers = [desk.create(f"Ticket {i}") for i in range(3)]
    today = datetime.now(UTC)
    newest_first = numbers[::-1]
    cases: list[tuple[dict[str, str], list[str]]] = [
        ({"created_from": (today - timedelta(days=1)).date().isoformat()}, newest_first),
        ({"created_to": (today - timedelta(days=1)).date().isoformat()}, []),
        ({"created_from": (today + timedelta(days=1)).date().isoformat()}, []),
        ({"created_to": (today + timedelta(days=1)).date().isoformat()}, newest_first),
        ({"created_from": (today - timedelta(hours=1)).isoformat(), "created_to": today.isoformat()}, newest_first),
        ({"created_from": "2026-01-01T00:00:00+03:00", "created_to": "2026-01-01T00:00:00Z"}, []),
        ({"created_from": "0001-01-01T00:00:00+01:00", "created_to": "9999-12-31T23:59:59-01:00"}, newest_first),
    ]
    for params, expected in cases:
        assert desk.listed(t.agent, view="team", **params) == expected, params
    for bad in ({"created_from": "2026-11-01T00:00:00"}, {"created_to": "yesterday"}, {"created_from": "1"}):
        r = desk.client.get(f"{V1}/tickets", headers=t.header(t.agent), params=bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = desk.client.get(f"{V1}/tickets", headers=t.header(t.agent), params={"view": "everything"})
    assert r.status_code == 400


def test_paging_through_a_view(desk: Desk) -> None:
    t = desk.team
    numbers = [desk.create(f"Outage {i}") for i in range(7)]
    # the open tickets in three statuses, their updates interleaved
    desk.act(f"{numbers[1]}/transitions", {"to": "open"})
    desk.act(f"{numbers[4]}/transitions", {"to": "pending"})
    desk.act(f"{numbers[5]}/transitions", {"to": "open"})
    desk.act(f"{numbers[2]}/comments", {"body": "touched"})  # most recently updated now
    moved = [numbers[2], numbers[5], numbers[4], numbers[1]]
    team = desk.listed(t.agent, view="team")
    assert team == [*moved, *[n for n in numbers[::-1] if n not in moved]]
    for limit in (1, 2, 3):
        assert desk.listed(t.agent, limit=limit, view="team") == team, limit
    owed = calls(desk.client, *[(f"2.{i}", f"555123010{i}", CallOutcome.ABANDONED, "helpdesk") for i in range(5)])
    for limit in (1, 2):
        assert desk.listed(t.agent, limit=limit, view="callbacks") == owed, limit
    # a cursor belongs to its order
    first = desk.client.get(f"{V1}/tickets", headers=t.header(t.agent), params={"view": "callbacks", "limit": 1})
    other = desk.client.get(
        f"{V1}/tickets", headers=t.header(t.agent), params={"view": "team", "cursor": first.json()["next"]}
    )
    assert other.status_code == 400


def test_a_ticket_number_comes_first_among_hundreds(desk: Desk) -> None:
    """Issue 15: "IT-3" at 320 tickets showed IT-320 ... IT-301 and never IT-3."""

    async def many() -> None:
        runtime = runtime_of(desk.client.app)
        for i in range(320):
            await runtime.tickets.create(Actor.system("test"), title=f"Ticket {i}")

    desk.client.portal.call(many)
    t = desk.team
    h = t.header(t.agent)
    for q in ("IT-3", "it-3", "3", " IT-3 "):
        r = desk.client.get(f"{V1}/tickets", headers=h, params={"q": q, "limit": 20})
        assert r.status_code == 200, r.text
        assert r.json()["items"][0]["number"] == "IT-3", q
        assert r.json()["next"] is not None
    # every page: IT-3 first, then every other ticket with "it-3" in it, newest first, each once
    hits = ["IT-3", *[f"IT-{n}" for n in range(320, 2, -1) if str(n).startswith("3") and n != 3]]
    assert len(hits) == 1 + 10 + 21
    for limit in (1, 2, 20, 200):
        assert desk.listed(t.agent, limit=limit, q="IT-3") == hits, limit
    assert desk.listed(t.agent, limit=5, q="it-3", sort="created")[:3] == ["IT-3", "IT-30", "IT-31"]
    # the ticket still has to pass the other filters
    assert desk.listed(t.agent, q="IT-3", status="resolved") == []
    assert desk.listed(t.agent, q="IT-999") == []
    # the console jumps straight to a number: GET /tickets/{number}, any case
    for ref in ("IT-3", "it-3", "3"):
        r = desk.client.get(f"{V1}/tickets/{ref}", headers=h)
        assert r.status_code == 200 and r.json()["number"] == "IT-3", ref


def test_search_finds_comments_and_requester_names(desk: Desk) -> None:
    t = desk.team
    h = t.header(t.admin)
    people = {}
    for key, body in (
        ("petr", {"name": "Пётр Сидоров", "department": "Бухгалтерия"}),
        ("somsak", {"name": "สมศักดิ์ รักดี", "department": "การเงิน"}),
    ):
        r = desk.client.post(f"{V1}/people", headers=h, json=body)
        assert r.status_code == 201, r.text
        people[key] = r.json()["id"]
    router = desk.create("No network on floor 2")
    desk.act(f"{router}/comments", {"body": "Перезагрузил МАРШРУТИЗАТОР, сеть есть"}, t.agent)
    printer = desk.create("Printer", requester_id=people["somsak"])
    desk.act(f"{printer}/comments", {"body": "รีสตาร์ทเครื่องพิมพ์แล้ว", "public": True}, t.agent)
    desk.act(f"{printer}/transitions", {"to": "resolved", "resolution": "ok", "comment": "ЗАМЕНИЛ картридж"}, t.agent)
    laptop = desk.create("Laptop", requester_id=people["petr"])
    cases: list[tuple[str, list[str]]] = [
        ("маршрутизатор", [router]),  # a comment, any case
        ("МАРШРУТИЗАТОР, СЕТЬ", [router]),
        ("เครื่องพิมพ์", [printer]),  # a Thai comment
        ("картридж", [printer]),  # the comment that came with a status change
        ("сидоров", [laptop]),  # the requester's name
        ("ПЁТР", [laptop]),
        ("пётр сидоров", [laptop]),
        ("สมศักดิ์", [printer]),  # a Thai name
        ("бухгалтерия", []),  # the requester's department is not their name
        ("nothing like this", []),
    ]
    for q, expected in cases:
        assert desk.listed(t.agent, q=q) == expected, q
    # and a search pages like any listing
    for i in range(5):
        desk.act(f"{desk.create(f'Network {i}')}/comments", {"body": "маршрутизатор again"}, t.agent)
    found = desk.listed(t.agent, q="маршрутизатор")
    assert len(found) == 6 and found[-1] == router
    assert desk.listed(t.agent, limit=2, q="маршрутизатор") == found


def test_supervisors_see_every_agents_load(desk: Desk) -> None:
    t = desk.team
    for _ in range(3):
        desk.create("Alice's", assignee="alice")
    bobs = desk.create("Bob's", assignee="bob")
    desk.act(f"{bobs}/transitions", {"to": "pending"}, t.other_agent)
    urgent = desk.create("Mail down", impact="high", urgency="high", assignee="bob")
    desk.create("Nobody's")
    done = desk.create("Done", assignee="alice")
    desk.act(f"{done}/transitions", {"to": "resolved", "resolution": "ok"}, t.agent)

    async def warn() -> None:
        later = FakeClock(datetime.now(UTC) + timedelta(minutes=10))
        assert await SlaScheduler(runtime_of(desk.client.app).sla, clock=later).run_due() >= 1

    desk.client.portal.call(warn)
    r = desk.client.get(f"{V1}/agents/load", headers=t.header(t.supervisor))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unassigned"] == 1
    assert body["items"] == [
        {"login": "alice", "name": "Alice", "open": 3, "at_risk": 0},
        {"login": "bob", "name": "Bob", "open": 2, "at_risk": 1},
        {"login": "ada", "name": "Ada", "open": 0, "at_risk": 0},
        {"login": "sam", "name": "Sam", "open": 0, "at_risk": 0},
    ]
    assert urgent in desk.listed(t.other_agent, view="at_risk")
    assert desk.client.get(f"{V1}/agents/load", headers=t.header(t.agent)).status_code == 403
