"""Finding tickets: filters, text search in any script, every sort, keyset pagination (also while tickets are
being created and changed), and text in any script coming back exactly as it was sent."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.servers import Team

V1 = "/api/v1"
SORTS = ("-created", "created", "-updated", "updated", "priority")

#: The seeded tickets; ticket i is IT-(i+1). Statuses are reached through the workflow after creation.
SEED: list[dict[str, Any]] = [
    dict(
        title="VPN не подключается",
        description="С утра у всего отдела",
        type="incident",
        impact="high",
        urgency="high",
        channel="phone",
        assignee="alice",
        group="network",
        requester="ivan",
        status="open",
    ),
    dict(
        title="Принтер на третьем этаже",
        type="service_request",
        impact="low",
        urgency="low",
        channel="email",
        group="desk",
    ),
    dict(
        title="เครื่องพิมพ์ไม่ทำงาน",
        description="ชั้นสาม ห้องประชุม",
        type="incident",
        impact="medium",
        urgency="high",
        channel="web",
        assignee="bob",
        group="desk",
        requester="somchai",
        status="pending",
    ),
    dict(
        title="Outlook crashes on start",
        description="since the update",
        impact="medium",
        urgency="medium",
        channel="api",
        assignee="alice",
        requester="ivan",
        status="resolved",
    ),
    dict(
        title="Заявка от ИВАНА",
        description="Нужен новый ноутбук",
        type="service_request",
        impact="high",
        urgency="medium",
        channel="phone",
    ),
    dict(title="Straße sign-in broken", impact="low", urgency="medium", channel="web", assignee="bob", group="network"),
    dict(
        title="Monitor flickers",
        description="описание: иван звонил дважды",
        impact="high",
        urgency="low",
        channel="phone",
        assignee="alice",
        group="desk",
        requester="somchai",
    ),
    dict(title="CPU at 100% on db_1", impact="low", urgency="low", channel="api"),
]


@dataclass
class Desk:
    client: TestClient
    team: Team
    people: dict[str, int]

    def get(self, token: str, **params: Any) -> list[int]:
        """Indexes (into SEED) of the tickets a single-page search returns, in the order returned."""
        r = self.client.get(f"{V1}/tickets", headers=self.team.header(token), params={"limit": 200, **params})
        assert r.status_code == 200, r.text
        assert r.json()["next"] is None
        return [int(t["number"].removeprefix("IT-")) - 1 for t in r.json()["items"]]


@pytest.fixture
def desk(client: TestClient, team: Team) -> Desk:
    h = team.header(team.admin)
    people = {}
    for key, name in (("ivan", "Иван Петров"), ("somchai", "สมชาย ใจดี")):
        r = client.post(f"{V1}/people", headers=h, json={"name": name})
        assert r.status_code == 201
        people[key] = r.json()["id"]
    for i, spec in enumerate(SEED):
        body = {k: v for k, v in spec.items() if k not in ("requester", "status")}
        if "requester" in spec:
            body["requester_id"] = people[spec["requester"]]
        r = client.post(f"{V1}/tickets", headers=h, json=body)
        assert r.status_code == 201 and r.json()["number"] == f"IT-{i + 1}", r.text
        status = spec.get("status")
        path = {"open": ["open"], "pending": ["pending"], "resolved": ["open", "resolved"]}.get(status or "", [])
        for to in path:
            r = client.post(
                f"{V1}/tickets/IT-{i + 1}/transitions",
                headers=h,
                json={"to": to, "resolution": "done"} if to == "resolved" else {"to": to},
            )
            assert r.status_code == 200, r.text
    return Desk(client, team, people)


def newest_first(*indexes: int) -> list[int]:
    return sorted(indexes, reverse=True)


def test_filters(desk: Desk) -> None:
    t = desk.team
    everything = newest_first(*range(len(SEED)))
    assert desk.get(t.agent) == everything
    cases: list[tuple[dict[str, Any], list[int]]] = [
        ({"status": "new"}, [1, 4, 5, 6, 7]),
        ({"status": "open,pending"}, [0, 2]),
        ({"status": ["resolved", "closed"]}, [3]),
        ({"priority": "P1"}, [0]),
        ({"priority": "P2"}, [2, 4]),
        ({"priority": "P3,P4"}, [1, 3, 5, 6, 7]),
        ({"type": "service_request"}, [1, 4]),
        ({"type": "incident"}, [0, 2, 3, 5, 6, 7]),
        ({"channel": "phone"}, [0, 4, 6]),
        ({"channel": "web,email"}, [1, 2, 5]),
        ({"assignee": "alice"}, [0, 3, 6]),
        ({"assignee": "none"}, [1, 4, 7]),
        ({"assignee": "alice,none"}, [0, 1, 3, 4, 6, 7]),
        ({"assignee": "sam"}, []),
        ({"requester_id": desk.people["ivan"]}, [0, 3]),
        ({"requester_id": desk.people["somchai"]}, [2, 6]),
        ({"requester_id": 999}, []),
        ({"group": "desk"}, [1, 2, 6]),
        ({"group": "network"}, [0, 5]),
        ({"group": "Desk"}, []),
        ({"status": "new", "assignee": "alice"}, [6]),
        ({"channel": "phone", "priority": "P2,P3", "type": "incident"}, [6]),
    ]
    for params, expected in cases:
        assert desk.get(t.agent, **params) == newest_first(*expected), params
    # `me` is whoever asks.
    assert desk.get(t.agent, assignee="me") == newest_first(0, 3, 6)
    assert desk.get(t.other_agent, assignee="me") == newest_first(2, 5)
    assert desk.get(t.supervisor, assignee="me") == []
    assert desk.get(t.agent, assignee="me,bob") == newest_first(0, 2, 3, 5, 6)
    assert desk.get(t.other_agent, assignee="me,none") == newest_first(1, 2, 4, 5, 7)


def test_text_search_is_case_insensitive_in_every_script(desk: Desk) -> None:
    t = desk.team.agent
    cases: list[tuple[str, list[int]]] = [
        ("ИВАН", [0, 3, 4, 6]),
        ("иван", [0, 3, 4, 6]),
        ("Иван", [0, 3, 4, 6]),
        ("иВаН", [0, 3, 4, 6]),  # title "ИВАНА", description "иван", requester "Иван Петров" (0 and 3)
        ("ПРИНТЕР", [1]),
        ("принтер НА третьем", [1]),
        ("отдела", [0]),  # words of the description too
        ("พิมพ์", [2]),
        ("ไม่ทำงาน", [2]),
        ("ห้องประชุม", [2]),  # Thai, with its combining vowel and tone marks
        ("STRASSE", [5]),
        ("straße", [5]),
        ("SIGN-IN", [5]),  # full case folding, not just lower()
        ("outlook", [3]),
        ("OUTLOOK CRASHES", [3]),
        ("it-4", [3]),
        ("IT-8", [7]),  # the number
        ("100%", [7]),
        ("db_1", [7]),  # LIKE wildcards are literal text...
        ("0_", []),
        ("v%n", []),
        ("%%", []),
        ("\\", []),  # ...never wildcards
        ("nothing like this", []),
    ]
    for q, expected in cases:
        assert desk.get(t, q=q) == newest_first(*expected), q
    assert desk.get(t, q="иван", type="service_request") == [4]
    assert desk.get(t, q="ИВАН", assignee="alice") == [6, 3, 0]


def test_text_search_ignores_unicode_normalisation_form(client: TestClient, team: Team) -> None:
    h = team.header(team.agent)
    decomposed = "Cafe\u0301 Wi-Fi down"  # e + combining acute
    assert client.post(f"{V1}/tickets", headers=h, json={"title": decomposed}).status_code == 201
    for q in ("café", "CAFÉ", "Cafe\u0301", "CAFE\u0301"):
        items = client.get(f"{V1}/tickets", headers=h, params={"q": q}).json()["items"]
        assert [i["title"] for i in items] == [decomposed], q


def _key(sort: str) -> Callable[[dict[str, Any]], Any]:
    def updated(t: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(t["updated_at"].replace("Z", "+00:00"))

    return {
        "-created": lambda t: -t["id"],
        "created": lambda t: t["id"],
        "-updated": lambda t: (-updated(t).timestamp(), -t["id"]),
        "updated": lambda t: (updated(t), t["id"]),
        "priority": lambda t: (t["priority"], t["id"]),
    }[sort]


def walk(
    client: TestClient,
    headers: dict[str, str],
    sort: str,
    limit: int,
    between: Callable[[int], None] | None = None,
    **params: Any,
) -> list[dict[str, Any]]:
    """Every page of a listing, following ``next``; ``between(page)`` runs after each page is fetched."""
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    for page in range(1000):
        query = {"sort": sort, "limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        r = client.get(f"{V1}/tickets", headers=headers, params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= limit
        seen.extend(body["items"])
        cursor = body["next"]
        if cursor is None:
            return seen
        assert body["items"], "a page with a next cursor must not be empty"
        if between is not None:
            between(page)
    raise AssertionError("pagination did not end")


def test_every_sort_orders_and_pages_through_every_ticket_once(desk: Desk) -> None:
    client, h = desk.client, desk.team.header(desk.team.admin)
    # Change old tickets so that the update order differs from the creation order.
    for number in ("IT-2", "IT-7", "IT-1"):
        assert client.patch(f"{V1}/tickets/{number}", headers=h, json={"description": "touched"}).status_code == 200
    full = {sort: walk(client, h, sort, 200) for sort in SORTS}
    for sort in SORTS:
        items = full[sort]
        assert sorted(t["id"] for t in items) == list(range(1, len(SEED) + 1)), sort
        assert items == sorted(items, key=_key(sort)), sort
        for limit in (1, 3):
            paged = walk(client, h, sort, limit)
            assert [t["id"] for t in paged] == [t["id"] for t in items], (sort, limit)
    assert [t["id"] for t in full["-updated"]][:3] == [1, 7, 2]
    assert [t["priority"] for t in full["priority"]] == ["P1", "P2", "P2", "P3", "P3", "P4", "P4", "P4"]
    # Filters and pagination together.
    phone = walk(client, h, "priority", 1, channel="phone")
    assert [t["number"] for t in phone] == ["IT-1", "IT-5", "IT-7"]


def test_pagination_never_skips_or_repeats_while_tickets_are_created(desk: Desk) -> None:
    client, h = desk.client, desk.team.header(desk.team.agent)
    levels = ("high", "medium", "low")
    for sort in SORTS:
        before = {t["id"] for t in walk(client, h, sort, 200)}
        created: list[int] = []

        def create_two(page: int) -> None:
            if page >= 3:  # oldest-first sorts meet the new tickets again: stop feeding them at some point
                return
            for j in range(2):
                body = {
                    "title": f"Created while paging {page}.{j}",
                    "impact": levels[(page + j) % 3],
                    "urgency": levels[(page * 2 + j) % 3],
                }
                r = client.post(f"{V1}/tickets", headers=h, json=body)
                assert r.status_code == 201
                created.append(r.json()["id"])  # noqa: B023 (called within this iteration)

        seen = walk(client, h, sort, 2, between=create_two)
        ids = [t["id"] for t in seen]
        assert len(ids) == len(set(ids)), f"{sort}: a ticket was repeated: {ids}"
        assert before <= set(ids), f"{sort}: skipped {sorted(before - set(ids))}"
        assert set(ids) <= before | set(created)
        assert len(created) == 6 and seen == sorted(seen, key=_key(sort)), sort
        if sort in ("created", "updated"):
            assert set(created) <= set(ids), f"{sort}: tickets created while paging come last, and are seen"


def test_newest_first_pagination_is_stable_while_tickets_change(desk: Desk) -> None:
    client, h = desk.client, desk.team.header(desk.team.admin)
    before = [t["id"] for t in walk(client, h, "-created", 200)]
    changes = iter(
        [
            ("PATCH", "IT-8", {"title": "CPU at 100%, still"}),
            ("PATCH", "IT-1", {"impact": "low"}),
            ("POST", "IT-2/transitions", {"to": "open"}),
            ("POST", "IT-3/assign", {"assignee": "ada"}),
            ("POST", "IT-8/comments", {"body": "again"}),
            ("PATCH", "IT-5", {"urgency": "high", "group": "x"}),
            ("POST", "IT-4/transitions", {"to": "closed"}),
            ("PATCH", "IT-7", {"type": "service_request"}),
        ]
    )

    def change_and_create(page: int) -> None:
        for method, path, body in (next(changes), next(changes)):
            assert client.request(method, f"{V1}/tickets/{path}", headers=h, json=body).status_code in (200, 201)
        assert client.post(f"{V1}/tickets", headers=h, json={"title": f"new {page}"}).status_code == 201

    seen = [t["id"] for t in walk(client, h, "-created", 2, between=change_and_create)]
    assert seen == before


def test_pagination_with_tickets_created_concurrently(desk: Desk) -> None:
    """Another client creates tickets at the same time (really concurrently, from another thread)."""
    client, team = desk.client, desk.team
    h = team.header(team.agent)
    for n in range(12):
        assert client.post(f"{V1}/tickets", headers=h, json={"title": f"old {n}"}).status_code == 201
    before = {sort: [t["id"] for t in walk(client, h, sort, 200)] for sort in ("-created", "created")}
    stop = threading.Event()
    progress = threading.Condition()
    written: list[int] = []
    errors: list[str] = []

    def writer() -> None:
        other = team.header(team.other_agent)
        while not stop.is_set() and len(written) < 200:
            r = client.post(f"{V1}/tickets", headers=other, json={"title": f"concurrent {len(written)}"})
            if r.status_code != 201:
                errors.append(r.text)
                return
            with progress:
                written.append(r.json()["id"])
                progress.notify_all()

    def await_a_new_ticket(page: int) -> None:
        """Let the writer get at least one ticket in before the next page (both keep running meanwhile)."""
        with progress:
            count = len(written)
            progress.wait_for(lambda: len(written) > count or bool(errors), timeout=10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        walked = {
            sort: [t["id"] for t in walk(client, h, sort, 3, between=await_a_new_ticket)]
            for sort in ("-created", "created")
        }
    finally:
        stop.set()
        thread.join()
    assert errors == [] and len(written) >= 8
    # Newest first: exactly the tickets that existed when paging began (newer ones are above the first page).
    assert [i for i in walked["-created"] if i in set(before["-created"])] == before["-created"]
    assert len(walked["-created"]) == len(set(walked["-created"]))
    # Oldest first: all of them once, in order, plus possibly some of the new ones at the end.
    created = walked["created"]
    assert created[: len(before["created"])] == before["created"] and created == sorted(set(created))


# -- text in any script, exactly as sent ------------------------------------------------------------------------

TEXTS = {
    "cyrillic": "Ёлка не горит — «ЩИТ-3», подъезд №2",
    "thai": "เครื่องพิมพ์ชั้น ๓ ไม่ทำงาน ผู้ใช้แจ้งว่ากระดาษติด",
    "emoji": "Printer 🖨️ on fire 🔥 👩🏽‍💻 🇺🇦 🏳️‍🌈",
    "rtl": "המדפסת לא עובדת \u200fالطابعة لا تعمل\u200e (floor 3)",
    "decomposed": "Cafe\u0301 re\u0301sume\u0301 Å",  # NFD: must come back NFD, not normalised
    "astral": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 𐍈 \U0001f9d1\u200d\U0001f527 ﷽",
}


def test_text_in_every_script_round_trips_byte_exact(client: TestClient, team: Team) -> None:
    h = team.header(team.agent)
    for kind, text in TEXTS.items():
        person = client.post(
            f"{V1}/people",
            headers=h,
            json={"name": text, "department": text[:100], "title": text[:100], "external_id": kind + text},
        )
        assert person.status_code == 201, person.text
        pid = person.json()["id"]
        ticket = client.post(
            f"{V1}/tickets",
            headers=h,
            json={"title": text, "description": text + "\n" + text, "group": text[:64], "requester_id": pid},
        )
        assert ticket.status_code == 201, ticket.text
        number = ticket.json()["number"]
        comment = client.post(f"{V1}/tickets/{number}/comments", headers=h, json={"body": text, "public": True})
        assert comment.status_code == 201

        stored_person = client.get(f"{V1}/people/{pid}", headers=h)
        stored = client.get(f"{V1}/tickets/{number}", headers=h)
        listed = client.get(f"{V1}/tickets", headers=h, params={"q": text[:20]})
        history = client.get(f"{V1}/tickets/{number}/activity", headers=h)
        for r in (stored_person, stored, listed, history):
            assert r.status_code == 200
            assert text.encode("utf-8") in r.content, f"{kind}: not byte-exact in {r.request.url}"
        p = stored_person.json()
        assert (p["name"], p["department"], p["title"], p["external_id"]) == (text, text[:100], text[:100], kind + text)
        t = stored.json()
        assert (t["title"], t["description"], t["group"]) == (text, text + "\n" + text, text[:64])
        assert t["requester"]["name"] == text
        assert [i["number"] for i in listed.json()["items"]] == [number], kind
        assert history.json()["items"][-1]["body"] == text

        changed = text[::-1] if kind not in ("emoji", "astral", "decomposed") else text + " 2"
        assert client.patch(f"{V1}/tickets/{number}", headers=h, json={"title": changed}).status_code == 200
        assert client.get(f"{V1}/tickets/{number}", headers=h).json()["title"] == changed
        entry = client.get(f"{V1}/tickets/{number}/activity", headers=h).json()["items"][-1]
        assert (entry["field"], entry["old"], entry["new"]) == ("title", text, changed)
    # People search folds case in every script too.
    found = client.get(f"{V1}/people", headers=h, params={"q": "ЁЛКА НЕ"}).json()["items"]
    assert [p["name"] for p in found] == [TEXTS["cyrillic"]]
    found = client.get(f"{V1}/people", headers=h, params={"q": "ไม่ทำงาน"}).json()["items"]
    assert [p["name"] for p in found] == [TEXTS["thai"]]
