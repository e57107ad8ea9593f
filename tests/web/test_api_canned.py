"""Canned responses through the HTTP API: personal and shared, who may change which, filled in from a ticket."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.support.servers import Team

V1 = "/api/v1"
PROBLEM = "application/problem+json"


def problem(r: Any, status: int, kind: str) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM and r.json()["type"] == f"urn:helpline:problem:{kind}", r.text
    return str(r.json()["detail"])


def test_canned_responses_personal_shared_and_rendered(client: TestClient, team: Team) -> None:
    alice, bob, sam = team.header(team.agent), team.header(team.other_agent), team.header(team.supervisor)
    person = client.post(f"{V1}/people", headers=alice, json={"name": "Сомчай ใจดี"}).json()
    ticket = client.post(
        f"{V1}/tickets", headers=alice, json={"title": "Не печатает принтер", "requester_id": person["id"]}
    ).json()

    mine = client.post(
        f"{V1}/canned-responses",
        headers=alice,
        json={
            "title": "Ответ",
            "body": "Здравствуйте, {{requester.name}}!\nЗаявка {{ticket.number}}. {{agent.name}} {{oops}}",
        },
    )
    assert mine.status_code == 201, mine.text
    assert mine.json()["owner"] == "alice" and mine.headers["location"] == f"{V1}/canned-responses/{mine.json()['id']}"
    forbidden = client.post(f"{V1}/canned-responses", headers=alice, json={"title": "x", "body": "y", "shared": True})
    problem(forbidden, 403, "forbidden")
    shared = client.post(
        f"{V1}/canned-responses", headers=sam, json={"title": "สวัสดี", "body": "เรื่อง {{ticket.title}}", "shared": True}
    ).json()
    assert (shared["shared"], shared["owner"], shared["created_by"]) == (True, None, "sam")

    listed = client.get(f"{V1}/canned-responses", headers=bob).json()
    assert [r["title"] for r in listed["items"]] == ["สวัสดี"] and "ticket.number" in listed["placeholders"]
    problem(
        client.patch(f"{V1}/canned-responses/{mine.json()['id']}", headers=bob, json={"title": "z"}), 404, "not-found"
    )
    problem(client.patch(f"{V1}/canned-responses/{shared['id']}", headers=alice, json={"title": "z"}), 403, "forbidden")
    problem(client.delete(f"{V1}/canned-responses/{shared['id']}", headers=bob), 403, "forbidden")

    rendered = client.post(
        f"{V1}/canned-responses/{mine.json()['id']}/render", headers=alice, json={"ticket": ticket["number"]}
    )
    assert rendered.status_code == 200, rendered.text
    assert rendered.json()["body"] == f"Здравствуйте, Сомчай ใจดี!\nЗаявка {ticket['number']}. Alice {{{{oops}}}}"
    assert (rendered.json()["unknown"], rendered.json()["empty"]) == (["oops"], [])
    thai = client.post(f"{V1}/canned-responses/{shared['id']}/render", headers=bob, json={"ticket": str(ticket["id"])})
    assert thai.json()["body"] == "เรื่อง Не печатает принтер"
    problem(
        client.post(f"{V1}/canned-responses/{shared['id']}/render", headers=bob, json={"ticket": "IT-999"}),
        422,
        "invalid-field",
    )

    edited = client.patch(f"{V1}/canned-responses/{shared['id']}", headers=sam, json={"body": "ใหม่"})
    assert edited.json()["body"] == "ใหม่" and edited.json()["updated_by"] == "sam"
    gone = client.delete(f"{V1}/canned-responses/{mine.json()['id']}", headers=alice)
    assert gone.status_code == 200 and gone.json()["title"] == "Ответ"
    assert [r["title"] for r in client.get(f"{V1}/canned-responses", headers=alice).json()["items"]] == ["สวัสดี"]
