"""A ticket's whole life through the HTTP API, as an agent with curl would live it."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.support.servers import Team


def test_lifecycle_from_new_to_closed_and_reopened(client: TestClient, team: Team) -> None:
    h = team.header(team.agent)
    created = client.post(
        "/api/v1/tickets",
        headers=h,
        json={
            "title": "VPN не подключается",
            "description": "С утра, у всего отдела",
            "impact": "high",
            "urgency": "high",
            "channel": "phone",
            "caller_number": "+7 916 123-45-67",
        },
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert ticket["number"] == "IT-1" and ticket["priority"] == "P1" and ticket["status"] == "new"
    assert created.headers["location"] == "/api/v1/tickets/IT-1"
    assert created.headers["etag"] == '"1"'

    opened = client.post("/api/v1/tickets/IT-1/transitions", headers=h, json={"to": "open"})
    assert opened.status_code == 200 and opened.json()["status"] == "open"
    assert opened.json()["first_response_at"] is not None

    assigned = client.post("/api/v1/tickets/it-1/assign", headers=h, json={"assignee": "alice", "group": "network"})
    assert assigned.json()["assignee"]["login"] == "alice" and assigned.json()["group"] == "network"

    comment = client.post("/api/v1/tickets/1/comments", headers=h, json={"body": "Перезапускаю шлюз", "public": True})
    assert comment.status_code == 201 and comment.json()["kind"] == "comment"

    resolved = client.post(
        "/api/v1/tickets/IT-1/transitions", headers=h, json={"to": "resolved", "resolution": "Шлюз перезапущен"}
    )
    assert resolved.json()["status"] == "resolved" and resolved.json()["resolved_at"] is not None

    closed = client.post("/api/v1/tickets/IT-1/transitions", headers=h, json={"to": "closed"})
    assert closed.json()["status"] == "closed" and closed.json()["allowed_transitions"] == ["open"]

    refused = client.patch("/api/v1/tickets/IT-1", headers=h, json={"title": "changed"})
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"

    reopened = client.post("/api/v1/tickets/IT-1/transitions", headers=h, json={"to": "open", "comment": "Снова"})
    body = reopened.json()
    assert body["status"] == "open" and body["reopen_count"] == 1
    assert body["resolved_at"] is None and body["closed_at"] is None and body["resolution"] is None

    history = client.get("/api/v1/tickets/IT-1/activity", headers=h).json()["items"]
    kinds = [(e["kind"], e["field"], e["old"], e["new"]) for e in history]
    assert kinds == [
        ("created", None, None, "IT-1"),
        ("status_changed", "status", "new", "open"),
        ("assigned", "assignee", None, "alice"),
        ("field_changed", "group", None, "network"),
        ("comment", None, None, None),
        ("status_changed", "status", "open", "resolved"),
        ("status_changed", "status", "resolved", "closed"),
        ("status_changed", "status", "closed", "open"),
        ("comment", None, None, None),
    ]
    assert all(e["actor"] == "alice" for e in history)
    assert history[4]["body"] == "Перезапускаю шлюз" and history[4]["public"] is True
