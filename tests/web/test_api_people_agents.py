"""People (requesters), agents (the IT team), their tokens, and /me."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.testclient import TestClient

from tests.support.servers import Team

V1 = "/api/v1"
PROBLEM = "application/problem+json"


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def conflict(r: Any) -> str:
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == PROBLEM and r.json()["type"] == "urn:helpline:problem:conflict"
    return str(r.json()["detail"])


def walk(client: TestClient, url: str, headers: dict[str, str], limit: int, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        r = client.get(
            url, headers=headers, params={"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        )
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) <= limit
        items.extend(r.json()["items"])
        cursor = r.json()["next"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


# -- people ----------------------------------------------------------------------------------------------------


def test_people_create_read_update(client: TestClient, team: Team) -> None:
    h = team.header(team.agent)
    r = client.post(
        f"{V1}/people",
        headers=h,
        json={
            "name": "Иван Петров",
            "email": "ivan@example.com",
            "phone": "+7 916 123-45-67",
            "department": "Бухгалтерия",
            "title": "Главный бухгалтер",
            "external_id": "S-1-5-21-1001",
            "vip": True,
        },
    )
    assert r.status_code == 201, r.text
    ivan = r.json()
    assert ivan["name"] == "Иван Петров" and ivan["vip"] is True and ivan["external_id"] == "S-1-5-21-1001"
    assert ivan["created_at"] == ivan["updated_at"]
    assert client.get(f"{V1}/people/{ivan['id']}", headers=h).json() == {**ivan, "aliases": []}

    # Only the fields sent change; null clears an optional field.
    r = client.patch(f"{V1}/people/{ivan['id']}", headers=h, json={"email": None, "department": "IT", "vip": False})
    assert r.status_code == 200, r.text
    changed = client.get(f"{V1}/people/{ivan['id']}", headers=h).json()
    assert changed == {**r.json(), "aliases": []}
    assert (changed["email"], changed["department"], changed["vip"]) == (None, "IT", False)
    assert (changed["name"], changed["phone"], changed["external_id"]) == (
        ivan["name"],
        ivan["phone"],
        ivan["external_id"],
    )
    assert changed["created_at"] == ivan["created_at"] and when(changed["updated_at"]) > when(ivan["updated_at"])

    minimal = client.post(f"{V1}/people", headers=h, json={"name": "Walk-in"}).json()
    assert {k: minimal[k] for k in ("email", "phone", "department", "title", "external_id", "vip")} == {
        "email": None,
        "phone": None,
        "department": None,
        "title": None,
        "external_id": None,
        "vip": False,
    }
    assert client.patch(f"{V1}/people/{minimal['id']}", headers=h, json={"name": None}).status_code == 422
    assert client.get(f"{V1}/people/999", headers=h).status_code == 404
    assert client.patch(f"{V1}/people/999", headers=h, json={"vip": True}).status_code == 404


def test_people_search_and_pagination(client: TestClient, team: Team) -> None:
    h = team.header(team.agent)
    specs = [
        {"name": "Иван Петров", "department": "Бухгалтерия", "email": "i.petrov@example.com"},
        {"name": "ИВАННА Сидорова", "phone": "+380 44 555 0101"},
        {"name": "Somchai Jaidee", "department": "Warehouse", "email": "somchai@example.co.th"},
        {"name": "สมชาย ใจดี", "phone": "101"},
        {"name": "Zoë Müller", "department": "Straße & Logistik"},
    ]
    ids = [client.post(f"{V1}/people", headers=h, json=spec).json()["id"] for spec in specs]

    def search(q: str) -> list[int]:
        r = client.get(f"{V1}/people", headers=h, params={"q": q})
        assert r.status_code == 200, r.text
        return [ids.index(p["id"]) for p in r.json()["items"]]

    assert search("иван") == [0, 1]  # name, any case
    assert search("ИВАННА") == [1]
    assert search("бухгалтерия") == [0]  # department
    assert search("EXAMPLE.CO") == [0, 2]  # email
    assert search("555 0101") == [1]  # phone
    assert search("สมชาย") == [3]
    assert search("STRASSE") == [4] and search("zoë") == [4]
    assert search("nobody") == []
    for limit in (1, 2, 5):
        assert [p["id"] for p in walk(client, f"{V1}/people", h, limit)] == ids
    assert [p["id"] for p in walk(client, f"{V1}/people", h, 1, q="example")] == [ids[0], ids[2]]
    # A search stays correct after a change.
    client.patch(f"{V1}/people/{ids[3]}", headers=h, json={"name": "Somsak"})
    assert search("สมชาย") == [] and search("somsak") == [3]


def test_people_external_id_is_unique(client: TestClient, team: Team) -> None:
    h = team.header(team.agent)
    first = client.post(f"{V1}/people", headers=h, json={"name": "A", "external_id": "S-1-5-21-7"}).json()
    assert "S-1-5-21-7" in conflict(
        client.post(f"{V1}/people", headers=h, json={"name": "B", "external_id": "S-1-5-21-7"})
    )
    other = client.post(f"{V1}/people", headers=h, json={"name": "B", "external_id": "S-1-5-21-8"}).json()
    conflict(client.patch(f"{V1}/people/{other['id']}", headers=h, json={"external_id": "S-1-5-21-7"}))
    assert client.get(f"{V1}/people/{other['id']}", headers=h).json()["external_id"] == "S-1-5-21-8"
    # Saving a person with their own external_id is not a conflict; people without one never clash.
    assert client.patch(f"{V1}/people/{first['id']}", headers=h, json={"external_id": "S-1-5-21-7"}).status_code == 200
    for name in ("C", "D"):
        assert client.post(f"{V1}/people", headers=h, json={"name": name}).status_code == 201
    assert len(client.get(f"{V1}/people", headers=h).json()["items"]) == 4  # nothing half-created


# -- agents -----------------------------------------------------------------------------------------------------


def test_agent_creation_returns_a_working_token_once(client: TestClient, team: Team) -> None:
    admin = team.header(team.admin)
    r = client.post(
        f"{V1}/agents",
        headers=admin,
        json={
            "login": "carol",
            "display_name": "Carol Díaz",
            "role": "supervisor",
            "extension": "205",
            "email": "carol@example.com",
        },
    )
    assert r.status_code == 201, r.text
    carol = r.json()
    token = carol.pop("token")
    assert token.startswith("hl_")
    assert (carol["login"], carol["role"], carol["extension"], carol["active"]) == ("carol", "supervisor", "205", True)
    me = client.get(f"{V1}/me", headers=bearer(token))
    mine = me.json()
    assert (mine.pop("language"), mine.pop("time_zone")) == ("en", "UTC"), "/me adds the agent's preferences"
    assert me.status_code == 200 and mine == client.get(f"{V1}/agents/{carol['id']}", headers=admin).json()
    assert client.get(f"{V1}/agents/{carol['id']}", headers=admin).json() == carol  # no token any more
    defaults = client.post(f"{V1}/agents", headers=admin, json={"login": "dan", "display_name": "Dan"}).json()
    assert (defaults["role"], defaults["extension"], defaults["email"]) == ("agent", None, None)
    assert client.get(f"{V1}/agents", headers=bearer(defaults["token"])).status_code == 403


def test_agents_list_is_paginated_and_filters_on_active(client: TestClient, team: Team) -> None:
    admin = team.header(team.admin)
    for n in range(5):
        client.post(f"{V1}/agents", headers=admin, json={"login": f"temp{n}", "display_name": f"Temp {n}"})
    everyone = walk(client, f"{V1}/agents", admin, 200)
    assert [a["login"] for a in everyone] == ["ada", "sam", "alice", "bob"] + [f"temp{n}" for n in range(5)]
    for limit in (1, 2, 4):
        assert walk(client, f"{V1}/agents", admin, limit) == everyone
    assert all("token" not in a for a in everyone)
    client.patch(f"{V1}/agents/{everyone[3]['id']}", headers=admin, json={"active": False})
    client.patch(f"{V1}/agents/{everyone[5]['id']}", headers=admin, json={"active": False})
    assert [a["login"] for a in walk(client, f"{V1}/agents", admin, 2, active="false")] == ["bob", "temp1"]
    assert len(walk(client, f"{V1}/agents", admin, 2, active="true")) == 7
    assert client.get(f"{V1}/agents", headers=admin, params={"active": "maybe"}).status_code == 400


def test_agent_update_role_extension_active(client: TestClient, team: Team) -> None:
    admin, bob = team.header(team.admin), team.header(team.other_agent)
    bob_id = client.get(f"{V1}/me", headers=bob).json()["id"]
    before = client.get(f"{V1}/agents/{bob_id}", headers=admin).json()

    r = client.patch(f"{V1}/agents/{bob_id}", headers=admin, json={"role": "supervisor", "extension": "300"})
    assert r.status_code == 200 and (r.json()["role"], r.json()["extension"]) == ("supervisor", "300")
    after = client.get(f"{V1}/agents/{bob_id}", headers=admin).json()
    assert after == r.json() and after["display_name"] == before["display_name"]
    assert when(after["updated_at"]) > when(before["updated_at"]) and after["created_at"] == before["created_at"]
    # The new role is in force for the agent's next request: bob may now take alice's ticket.
    number = client.post(
        f"{V1}/tickets", headers=team.header(team.agent), json={"title": "x", "assignee": "alice"}
    ).json()["number"]
    assert client.post(f"{V1}/tickets/{number}/assign", headers=bob, json={"assignee": "bob"}).status_code == 200

    assert client.patch(f"{V1}/agents/{bob_id}", headers=admin, json={"extension": None}).json()["extension"] is None
    assert client.patch(f"{V1}/agents/{bob_id}", headers=admin, json={"active": False}).json()["active"] is False
    assert client.get(f"{V1}/me", headers=bob).status_code == 401
    assert client.patch(f"{V1}/agents/{bob_id}", headers=admin, json={"active": True}).json()["active"] is True
    assert client.get(f"{V1}/me", headers=bob).status_code == 200
    for bad in ({"login": "robert"}, {"role": "root"}, {"active": "no"}, {"extension": ""}, {"display_name": None}):
        assert client.patch(f"{V1}/agents/{bob_id}", headers=admin, json=bad).status_code == 422, bad
    assert client.patch(f"{V1}/agents/999", headers=admin, json={"active": False}).status_code == 404


def test_duplicate_login_or_extension_is_409(client: TestClient, team: Team) -> None:
    admin = team.header(team.admin)
    assert "alice" in conflict(
        client.post(f"{V1}/agents", headers=admin, json={"login": "alice", "display_name": "A2"})
    )
    assert "102" in conflict(
        client.post(f"{V1}/agents", headers=admin, json={"login": "alice2", "display_name": "A2", "extension": "102"})
    )
    assert [a["login"] for a in client.get(f"{V1}/agents", headers=admin).json()["items"]] == [
        "ada",
        "sam",
        "alice",
        "bob",
    ]
    bob_id = client.get(f"{V1}/me", headers=team.header(team.other_agent)).json()["id"]
    conflict(client.patch(f"{V1}/agents/{bob_id}", headers=admin, json={"extension": "102"}))
    assert client.get(f"{V1}/agents/{bob_id}", headers=admin).json()["extension"] == "103"
    # An agent keeping their own extension is no conflict; a freed extension can be given to somebody else.
    assert client.patch(f"{V1}/agents/{bob_id}", headers=admin, json={"extension": "103"}).status_code == 200
    assert client.patch(f"{V1}/agents/{bob_id}", headers=admin, json={"extension": None}).status_code == 200
    created = client.post(
        f"{V1}/agents", headers=admin, json={"login": "eve", "display_name": "Eve", "extension": "103"}
    )
    assert created.status_code == 201


def test_tokens_issue_list_revoke(client: TestClient, team: Team) -> None:
    admin = team.header(team.admin)
    bob_id = client.get(f"{V1}/me", headers=team.header(team.other_agent)).json()["id"]
    issued = client.post(f"{V1}/agents/{bob_id}/tokens", headers=admin, json={"name": "ci script"})
    assert issued.status_code == 201
    token = issued.json()
    assert token["name"] == "ci script" and token["revoked_at"] is None and token["token"].startswith(token["hint"])
    assert client.get(f"{V1}/me", headers=bearer(token["token"])).json()["login"] == "bob"
    default_name = client.post(f"{V1}/agents/{bob_id}/tokens", headers=admin).json()
    assert default_name["name"] == "default"

    listed = client.get(f"{V1}/agents/{bob_id}/tokens", headers=admin).json()["items"]
    assert [t["name"] for t in listed] == ["default", "ci script", "default"]
    assert set(listed[1]) == {"id", "name", "hint", "created_at", "last_used_at", "revoked_at"}
    assert len({t["hint"] for t in listed}) == 3

    revoked = client.delete(f"{V1}/agents/{bob_id}/tokens/{token['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert client.get(f"{V1}/me", headers=bearer(token["token"])).status_code == 401
    again = client.delete(f"{V1}/agents/{bob_id}/tokens/{token['id']}", headers=admin)
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
    listed = client.get(f"{V1}/agents/{bob_id}/tokens", headers=admin).json()["items"]
    assert [t["revoked_at"] is not None for t in listed] == [False, True, False]
    assert client.get(f"{V1}/me", headers=team.header(team.other_agent)).status_code == 200

    # A token can only be revoked through its own agent.
    alice_id = client.get(f"{V1}/me", headers=team.header(team.agent)).json()["id"]
    r = client.delete(f"{V1}/agents/{alice_id}/tokens/{default_name['id']}", headers=admin)
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
    assert client.get(f"{V1}/me", headers=bearer(default_name["token"])).status_code == 200
    assert client.delete(f"{V1}/agents/{bob_id}/tokens/9999", headers=admin).status_code == 404
    assert client.post(f"{V1}/agents/9999/tokens", headers=admin, json={}).status_code == 404
    assert client.get(f"{V1}/agents/9999/tokens", headers=admin).status_code == 404


def test_me_is_whoever_the_token_belongs_to(client: TestClient, team: Team) -> None:
    for token, login, role in (
        (team.admin, "ada", "admin"),
        (team.supervisor, "sam", "supervisor"),
        (team.agent, "alice", "agent"),
        (team.other_agent, "bob", "agent"),
    ):
        r = client.get(f"{V1}/me", headers=bearer(token))
        assert r.status_code == 200
        me = r.json()
        assert (me["login"], me["role"], me["active"]) == (login, role, True)
        assert "token" not in me and token not in r.text
    r = client.get(f"{V1}/me")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
