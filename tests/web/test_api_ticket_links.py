"""Merging duplicates and parent / child tickets through the HTTP API."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.support.servers import Team
from tickets.events import TicketUpdated
from web.runtime import runtime_of

V1 = "/api/v1"
PROBLEM = "application/problem+json"


def new_ticket(client: TestClient, headers: dict[str, str], title: str) -> dict[str, Any]:
    r = client.post(f"{V1}/tickets", headers=headers, json={"title": title})
    assert r.status_code == 201, r.text
    return dict(r.json())


def problem(r: Any, status: int, kind: str) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM and r.json()["type"] == f"urn:helpline:problem:{kind}", r.text
    return str(r.json()["detail"])


def test_merging_an_outages_duplicates_into_one_ticket(client: TestClient, team: Team) -> None:
    h = team.header(team.agent)
    heard: list[TicketUpdated] = []  # what the live views hear (the bus feeds the event stream)
    runtime_of(client.app).bus.subscribe(heard.append, TicketUpdated)
    outage = new_ticket(client, h, "Почта не работает у всех")
    dups = [new_ticket(client, h, title) for title in ("Не приходит почта", "อีเมลใช้ไม่ได้")]
    note = client.post(f"{V1}/tickets/{dups[0]['number']}/comments", headers=h, json={"body": "Бухгалтерия\nждёт"})
    assert note.status_code == 201

    stale = client.post(
        f"{V1}/tickets/{dups[0]['number']}/merge", headers={**h, "If-Match": '"1"'}, json={"into": outage["number"]}
    )
    problem(stale, 412, "stale-version")
    for dup in dups:  # one request per duplicate
        r = client.post(f"{V1}/tickets/{dup['number']}/merge", headers=h, json={"into": outage["number"].lower()})
        assert r.status_code == 200, r.text
        merged = r.json()
        assert (merged["status"], merged["resolution"]) == ("closed", f"Merged into {outage['number']}")
        assert merged["merged_into"]["number"] == outage["number"] and merged["allowed_transitions"] == []
        assert r.headers["etag"] == f'"{merged["version"]}"'

    merges = [(e.number, e.changes) for e in heard if "merged_into" in e.changes or "merged_from" in e.changes]
    assert merges == [
        (dups[0]["number"], ("status", "merged_into")),
        (outage["number"], ("merged_from",)),
        (dups[1]["number"], ("status", "merged_into")),
        (outage["number"], ("merged_from",)),
    ]
    target = client.get(f"{V1}/tickets/{outage['number']}", headers=h).json()
    assert [t["number"] for t in target["merged"]] == [d["number"] for d in dups]
    assert all(t["status"] == "closed" for t in target["merged"])
    history = client.get(f"{V1}/tickets/{outage['number']}/activity", headers=h).json()["items"]
    comment = next(e for e in history if e["kind"] == "comment")
    assert (comment["body"], comment["ticket"]) == ("Бухгалтерия\nждёт", dups[0]["number"])
    links = [(e["field"], e["new"], e["ticket"]) for e in history if e["kind"] == "link"]
    assert links == [
        ("merged_into", outage["number"], dups[0]["number"]),  # the duplicate's own line, shown where it came from
        ("merged_from", dups[0]["number"], None),
        ("merged_into", outage["number"], dups[1]["number"]),
        ("merged_from", dups[1]["number"], None),
    ]
    own = client.get(f"{V1}/tickets/{dups[1]['number']}/activity", headers=h).json()["items"]
    assert own[-1]["kind"] == "link" and own[-1]["new"] == outage["number"] and own[-1]["ticket"] is None

    # a page of the combined history at a time, nothing lost or repeated
    pages, cursor = [], None
    while True:
        page = client.get(
            f"{V1}/tickets/{outage['number']}/activity",
            headers=h,
            params={"limit": 2, **({"cursor": cursor} if cursor else {})},
        ).json()
        pages += page["items"]
        cursor = page["next"]
        if not cursor:
            break
    assert [e["id"] for e in pages] == [e["id"] for e in history]

    detail = problem(
        client.post(f"{V1}/tickets/{dups[0]['number']}/merge", headers=h, json={"into": dups[1]["number"]}),
        409,
        "conflict",
    )
    assert "already" in detail
    problem(
        client.post(f"{V1}/tickets/{outage['number']}/merge", headers=h, json={"into": dups[0]["number"]}),
        409,
        "conflict",
    )
    problem(
        client.post(f"{V1}/tickets/{outage['number']}/merge", headers=h, json={"into": outage["number"]}),
        422,
        "invalid-field",
    )
    problem(
        client.post(f"{V1}/tickets/{outage['number']}/merge", headers=h, json={"into": "IT-999"}), 422, "invalid-field"
    )
    problem(client.post(f"{V1}/tickets/IT-999/merge", headers=h, json={"into": outage["number"]}), 404, "not-found")
    problem(
        client.post(f"{V1}/tickets/{dups[0]['number']}/transitions", headers=h, json={"to": "open"}), 409, "conflict"
    )


def test_parent_and_children(client: TestClient, team: Team) -> None:
    h = team.header(team.agent)
    parent, child, other = (new_ticket(client, h, t) for t in ("Сеть на 3 этаже", "Принтер", "VPN"))
    r = client.put(f"{V1}/tickets/{child['number']}/parent", headers=h, json={"parent": parent["number"]})
    assert r.status_code == 200, r.text
    assert r.json()["parent"] == {
        "id": parent["id"],
        "number": parent["number"],
        "title": "Сеть на 3 этаже",
        "status": "new",
    }
    shown = client.get(f"{V1}/tickets/{parent['number']}", headers=h).json()
    assert [(c["number"], c["title"], c["status"]) for c in shown["children"]] == [(child["number"], "Принтер", "new")]
    assert shown["version"] == parent["version"], "linking a child does not make the parent's editor reload"
    lines = client.get(f"{V1}/tickets/{parent['number']}/activity", headers=h).json()["items"]
    assert (lines[-1]["kind"], lines[-1]["field"], lines[-1]["new"]) == ("link", "child", child["number"])
    cycle = client.put(f"{V1}/tickets/{parent['number']}/parent", headers=h, json={"parent": child["number"]})
    assert "circle" in problem(cycle, 422, "invalid-field")
    problem(
        client.put(f"{V1}/tickets/{other['number']}/parent", headers=h, json={"parent": "IT-999"}), 422, "invalid-field"
    )
    problem(
        client.put(f"{V1}/tickets/{other['number']}/parent", headers=h, json={"parent": "IT 1; drop"}),
        422,
        "invalid-body",
    )
    r = client.delete(f"{V1}/tickets/{child['number']}/parent", headers=h)
    assert r.status_code == 200 and r.json()["parent"] is None
    assert client.get(f"{V1}/tickets/{parent['number']}", headers=h).json()["children"] == []
