"""Who may call what: every declared operation x every role and every kind of bad credential.

The operations are read from ``web.resources.apis()``, so a new endpoint is in the matrix the moment it is declared; it
then needs an entry in ``SAMPLES`` (a request that succeeds when the role is allowed), or the matrix fails.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.testclient import TestClient
from tortoise.connection import get_connection

from tests.support.servers import Team
from web.api import Operation
from web.resources import apis

PROBLEM = "application/problem+json"
V1 = "/api/v1"

#: Every operation of the application, as ("METHOD /full/path/{param}", operation).
OPERATIONS: dict[str, Operation] = {f"{op.method} {api.prefix}{op.path}": op for api in apis() for op in api.operations}


def expected_role(key: str) -> str | None:
    """Who may call an operation, by the documented rules (not by what the declaration says)."""
    path = key.split(" ", 1)[1]
    if path in ("/healthz", "/readyz"):
        return None  # anonymous
    if path.startswith(f"{V1}/oncall/overrides") and not key.startswith("GET"):
        return "supervisor"  # changing who is on call
    if path == f"{V1}/status":
        return "supervisor"  # the instance's dependencies and their errors (internal addresses)
    if path == f"{V1}/agents/load":
        return "supervisor"  # how loaded each agent is
    if path.startswith(f"{V1}/agents/me/"):
        return "agent"  # one's own phone and pause
    if path.startswith(f"{V1}/agents") or path.startswith(f"{V1}/directory"):
        return "admin"  # agents and tokens; the directory sync status
    return "agent"  # tickets, people, /me, the OpenAPI document: every role


RANK = {"agent": 0, "supervisor": 1, "admin": 2}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Sample:
    """A request that succeeds for an allowed role: path parameters that exist, a valid body."""

    params: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    query: dict[str, str] | None = None
    #: The status an allowed role gets when it is not the operation's success status (then say why).
    allowed_status: int | None = None


class World:
    """Creates fresh objects (as the admin) so that each call of an allowed role can succeed."""

    def __init__(self, client: TestClient, team: Team) -> None:
        self.client = client
        self.team = team
        self.admin = team.header(team.admin)
        #: the role whose request the next sample is for (set by the role matrix)
        self.role = "admin"
        self.counter = itertools.count(1)
        agents = client.get(f"{V1}/agents", headers=self.admin).json()["items"]
        self.ids = {a["login"]: a["id"] for a in agents}

    def ticket(self) -> str:
        r = self.client.post(f"{V1}/tickets", headers=self.admin, json={"title": f"Printer {next(self.counter)}"})
        assert r.status_code == 201, r.text
        return str(r.json()["number"])

    def person(self) -> int:
        r = self.client.post(f"{V1}/people", headers=self.admin, json={"name": f"Person {next(self.counter)}"})
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def alias(self) -> dict[str, int]:
        """A person with a local alias: the path parameters of the alias."""
        person = self.person()
        r = self.client.post(f"{V1}/people/{person}/aliases", headers=self.admin, json={"number": self.number()})
        assert r.status_code == 201, r.text
        return {"person_id": person, "alias_id": int(r.json()["id"])}

    def number(self) -> str:
        return f"+1 555 700 {next(self.counter):04d}"

    def token(self, login: str) -> int:
        r = self.client.post(f"{V1}/agents/{self.ids[login]}/tokens", headers=self.admin, json={"name": "spare"})
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def login(self) -> str:
        return f"newbie{next(self.counter)}"

    def canned(self) -> int:
        """A personal canned response of the role the next request is for (only its owner may change it)."""
        token = {"agent": self.team.agent, "supervisor": self.team.supervisor, "admin": self.team.admin}[self.role]
        r = self.client.post(
            f"{V1}/canned-responses", headers=bearer(token), json={"title": "Hi", "body": "Hello {{requester.name}}"}
        )
        assert r.status_code == 201, r.text
        return int(r.json()["id"])


SAMPLES: dict[str, Callable[[World], Sample]] = {
    "GET /healthz": lambda w: Sample(),
    "GET /readyz": lambda w: Sample(),
    f"GET {V1}/me": lambda w: Sample(),
    f"PATCH {V1}/me": lambda w: Sample(body={"language": "th", "time_zone": "Asia/Bangkok"}),
    f"GET {V1}/status": lambda w: Sample(),
    f"GET {V1}/openapi.json": lambda w: Sample(),
    f"POST {V1}/tickets": lambda w: Sample(body={"title": "Outlook crashes on start"}),
    f"GET {V1}/tickets": lambda w: Sample(query={"status": "new"}),
    f"GET {V1}/views": lambda w: Sample(),
    f"GET {V1}/agents/load": lambda w: Sample(),
    f"GET {V1}/tickets/{{ref}}": lambda w: Sample({"ref": w.ticket()}),
    f"PATCH {V1}/tickets/{{ref}}": lambda w: Sample({"ref": w.ticket()}, {"title": "Outlook still crashes"}),
    f"POST {V1}/tickets/{{ref}}/comments": lambda w: Sample({"ref": w.ticket()}, {"body": "Looking into it"}),
    f"POST {V1}/tickets/{{ref}}/assign": lambda w: Sample({"ref": w.ticket()}, {"assignee": "bob"}),
    f"POST {V1}/tickets/{{ref}}/transitions": lambda w: Sample({"ref": w.ticket()}, {"to": "open"}),
    f"GET {V1}/tickets/{{ref}}/activity": lambda w: Sample({"ref": w.ticket()}),
    f"POST {V1}/tickets/{{ref}}/merge": lambda w: Sample({"ref": w.ticket()}, {"into": w.ticket()}),
    f"PUT {V1}/tickets/{{ref}}/parent": lambda w: Sample({"ref": w.ticket()}, {"parent": w.ticket()}),
    f"DELETE {V1}/tickets/{{ref}}/parent": lambda w: Sample({"ref": w.ticket()}),
    f"GET {V1}/canned-responses": lambda w: Sample(),
    f"POST {V1}/canned-responses": lambda w: Sample(body={"title": "Reboot", "body": "Перезагрузите компьютер"}),
    f"PATCH {V1}/canned-responses/{{response_id}}": lambda w: Sample({"response_id": w.canned()}, {"title": "Hello"}),
    f"DELETE {V1}/canned-responses/{{response_id}}": lambda w: Sample({"response_id": w.canned()}),
    f"POST {V1}/canned-responses/{{response_id}}/render": lambda w: Sample(
        {"response_id": w.canned()}, {"ticket": w.ticket()}
    ),
    f"GET {V1}/tickets/{{ref}}/sla": lambda w: Sample({"ref": w.ticket()}),
    f"GET {V1}/sla/policies": lambda w: Sample(),
    f"GET {V1}/sla/at-risk": lambda w: Sample(query={"metric": "resolution"}),
    f"GET {V1}/reports/sla": lambda w: Sample(query={"by": "agent"}),
    f"GET {V1}/sla/calendars": lambda w: Sample(),
    f"GET {V1}/oncall": lambda w: Sample(query={"days": "7"}),
    f"GET {V1}/oncall/overrides": lambda w: Sample(),
    # this app has no [notify] schedules: past the role check the answer is 422 unknown schedule, and there is
    # neither an override nor an alert to act on (real calls: tests/web/test_api_alerting.py)
    f"POST {V1}/oncall/overrides": lambda w: Sample(
        body={
            "schedule": "it-primary",
            "person": "ivan",
            "start": "2026-03-02T09:00:00Z",
            "end": "2026-03-03T09:00:00Z",
        },
        allowed_status=422,
    ),
    f"DELETE {V1}/oncall/overrides/{{override_id}}": lambda w: Sample({"override_id": 1}, allowed_status=404),
    f"GET {V1}/alerts": lambda w: Sample(query={"state": "open"}),
    f"POST {V1}/alerts/{{alert_id}}/ack": lambda w: Sample({"alert_id": 1}, allowed_status=404),
    f"GET {V1}/calls": lambda w: Sample(query={"outcome": "abandoned,timeout"}),
    f"GET {V1}/pbx": lambda w: Sample(),
    f"GET {V1}/queues": lambda w: Sample(),
    f"GET {V1}/directory": lambda w: Sample(),
    # this app has no PBX: past the role check the answer is 503 no-pbx (a real call:
    # tests/web/runtime/test_telephony.py)
    f"POST {V1}/calls/originate": lambda w: Sample(body={"number": "+1 555 123 0001"}, allowed_status=503),
    f"GET {V1}/agents/me/phone": lambda w: Sample(),
    f"POST {V1}/agents/me/pause": lambda w: Sample(body={"reason": "Обед"}, allowed_status=503),
    f"POST {V1}/agents/me/unpause": lambda w: Sample(body={}, allowed_status=503),
    f"POST {V1}/people": lambda w: Sample(body={"name": "Ivan Petrov"}),
    f"GET {V1}/people": lambda w: Sample(query={"q": "person"}),
    f"GET {V1}/people/{{person_id}}": lambda w: Sample({"person_id": w.person()}),
    f"PATCH {V1}/people/{{person_id}}": lambda w: Sample({"person_id": w.person()}, {"vip": True}),
    f"GET {V1}/people/{{person_id}}/summary": lambda w: Sample({"person_id": w.person()}),
    f"POST {V1}/people/{{person_id}}/aliases": lambda w: Sample({"person_id": w.person()}, {"number": w.number()}),
    f"DELETE {V1}/people/{{person_id}}/aliases/{{alias_id}}": lambda w: Sample(w.alias()),
    f"POST {V1}/agents": lambda w: Sample(body={"login": w.login(), "display_name": "New Agent"}),
    f"GET {V1}/agents": lambda w: Sample(query={"active": "true"}),
    f"GET {V1}/agents/{{agent_id}}": lambda w: Sample({"agent_id": w.ids["bob"]}),
    f"PATCH {V1}/agents/{{agent_id}}": lambda w: Sample({"agent_id": w.ids["bob"]}, {"display_name": "Robert"}),
    f"GET {V1}/agents/{{agent_id}}/tokens": lambda w: Sample({"agent_id": w.ids["bob"]}),
    f"POST {V1}/agents/{{agent_id}}/tokens": lambda w: Sample({"agent_id": w.ids["bob"]}, {"name": "script"}),
    f"DELETE {V1}/agents/{{agent_id}}/tokens/{{token_id}}": lambda w: Sample(
        {"agent_id": w.ids["bob"], "token_id": w.token("bob")}
    ),
}


def call(client: TestClient, key: str, sample: Sample, headers: dict[str, str] | None) -> Any:
    method, template = key.split(" ", 1)
    url = template.format(**sample.params)
    return client.request(method, url, headers=headers, json=sample.body, params=sample.query)


def test_every_operation_has_a_sample_request() -> None:
    assert sorted(set(OPERATIONS) - set(SAMPLES)) == [], "add a sample request for the new operation(s) to SAMPLES"
    assert sorted(set(SAMPLES) - set(OPERATIONS)) == [], "SAMPLES names operations that no longer exist"


@pytest.fixture
def bad_credentials(client: TestClient, team: Team) -> dict[str, dict[str, str]]:
    """Authorization headers that must not get in: malformed, unknown, revoked, deactivated."""
    admin = team.header(team.admin)
    carol = client.post(f"{V1}/agents", headers=admin, json={"login": "carol", "display_name": "Carol"}).json()
    spare = client.post(f"{V1}/agents/{carol['id']}/tokens", headers=admin, json={"name": "laptop"}).json()
    assert client.get(f"{V1}/me", headers=bearer(spare["token"])).status_code == 200
    assert client.delete(f"{V1}/agents/{carol['id']}/tokens/{spare['id']}", headers=admin).status_code == 200
    dave = client.post(f"{V1}/agents", headers=admin, json={"login": "dave", "display_name": "Dave"}).json()
    assert client.get(f"{V1}/me", headers=bearer(dave["token"])).status_code == 200
    assert client.patch(f"{V1}/agents/{dave['id']}", headers=admin, json={"active": False}).status_code == 200
    return {
        "basic scheme": {"Authorization": "Basic YWRhOnNlY3JldA=="},
        "scheme without token": {"Authorization": "Bearer"},
        "blank token": {"Authorization": "Bearer    "},
        "token without scheme": {"Authorization": team.admin},
        "unknown token": bearer("hl_" + secrets.token_urlsafe(32)),
        "not a helpline token": bearer("abc.def.ghi"),
        "revoked token": bearer(spare["token"]),
        "deactivated agent": bearer(dave["token"]),
    }


def assert_401(r: Any, kind: str, what: str) -> str | None:
    if r.status_code != 401:
        return f"{what}: expected 401, got {r.status_code} {r.text[:200]}"
    if r.headers.get("content-type") != PROBLEM or r.json()["status"] != 401:
        return f"{what}: 401 is not a problem document: {r.headers.get('content-type')}"
    if not r.headers.get("www-authenticate", "").startswith("Bearer"):
        return f"{what}: 401 without a WWW-Authenticate: Bearer challenge"
    if r.json()["type"] != f"urn:helpline:problem:{kind}":
        return f"{what}: type {r.json()['type']}, expected {kind}"
    return None


def test_anonymous_and_bad_credentials_get_401_everywhere_but_health(
    client: TestClient, team: Team, bad_credentials: dict[str, dict[str, str]]
) -> None:
    world = World(client, team)
    failures: list[str | None] = []
    for key in sorted(OPERATIONS):
        sample = SAMPLES[key](world)  # refused requests change nothing, so one sample serves them all
        needed = expected_role(key)
        anonymous = call(client, key, sample, None)
        if needed is None:
            if anonymous.status_code != 200:
                failures.append(f"{key} anonymous: expected 200, got {anonymous.status_code}")
        else:
            failures.append(assert_401(anonymous, "unauthenticated", f"{key} anonymous"))
        for what, headers in bad_credentials.items():
            r = call(client, key, sample, headers)
            if needed is None:
                if r.status_code != 200:
                    failures.append(f"{key} {what}: a public endpoint refused a bad header with {r.status_code}")
                continue
            kind = (
                "invalid-token"
                if what in ("unknown token", "not a helpline token", "revoked token", "deactivated agent")
                else "unauthenticated"
            )
            failures.append(assert_401(r, kind, f"{key} {what}"))
    assert [f for f in failures if f] == []


def test_role_matrix(client: TestClient, team: Team) -> None:
    """Allowed roles get the operation's success status (with objects that exist), the others 403."""
    world = World(client, team)
    failures: list[str] = []
    for key in sorted(OPERATIONS):
        op, needed = OPERATIONS[key], expected_role(key)
        for role, token in (("agent", team.agent), ("supervisor", team.supervisor), ("admin", team.admin)):
            world.role = role
            sample = SAMPLES[key](world)
            r = call(client, key, sample, bearer(token))
            allowed = needed is None or RANK[role] >= RANK[needed]
            if allowed:
                expected = sample.allowed_status or op.status
                if r.status_code != expected:
                    failures.append(f"{key} as {role}: expected {expected}, got {r.status_code} {r.text[:200]}")
            elif r.status_code != 403:
                failures.append(f"{key} as {role}: expected 403, got {r.status_code} {r.text[:200]}")
            elif r.headers.get("content-type") != PROBLEM or r.json()["type"] != "urn:helpline:problem:forbidden":
                failures.append(f"{key} as {role}: 403 is not a forbidden problem: {r.text[:200]}")
    assert failures == []


def test_an_agent_cannot_promote_themselves_or_touch_tokens(client: TestClient, team: Team) -> None:
    admin, alice, sam = team.header(team.admin), team.header(team.agent), team.header(team.supervisor)
    me = client.get(f"{V1}/me", headers=alice).json()
    for who in (alice, sam):
        r = client.patch(f"{V1}/agents/{me['id']}", headers=who, json={"role": "admin"})
        assert r.status_code == 403
        tokens = client.get(f"{V1}/agents/{me['id']}/tokens", headers=admin).json()["items"]
        assert client.delete(f"{V1}/agents/{me['id']}/tokens/{tokens[0]['id']}", headers=who).status_code == 403
    assert client.get(f"{V1}/agents/{me['id']}", headers=admin).json()["role"] == "agent"
    assert client.get(f"{V1}/me", headers=alice).status_code == 200  # token still works
    # And with the role changed by an admin, the new rights apply at once.
    assert client.patch(f"{V1}/agents/{me['id']}", headers=admin, json={"role": "admin"}).status_code == 200
    assert client.get(f"{V1}/agents", headers=alice).status_code == 200
    assert client.patch(f"{V1}/agents/{me['id']}", headers=admin, json={"role": "agent"}).status_code == 200
    assert client.get(f"{V1}/agents", headers=alice).status_code == 403


def test_bearer_scheme_is_case_insensitive(client: TestClient, team: Team) -> None:
    r = client.get(f"{V1}/me", headers={"Authorization": f"bearer {team.agent}"})
    assert r.status_code == 200 and r.json()["login"] == "alice"


def test_revoking_a_token_locks_out_only_that_token(client: TestClient, team: Team) -> None:
    admin = team.header(team.admin)
    bob_id = client.get(f"{V1}/me", headers=team.header(team.other_agent)).json()["id"]
    spare = client.post(f"{V1}/agents/{bob_id}/tokens", headers=admin, json={"name": "phone"}).json()
    assert client.get(f"{V1}/me", headers=bearer(spare["token"])).json()["login"] == "bob"
    revoked = client.delete(f"{V1}/agents/{bob_id}/tokens/{spare['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    r = client.get(f"{V1}/me", headers=bearer(spare["token"]))
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
    assert client.get(f"{V1}/me", headers=team.header(team.other_agent)).status_code == 200


def test_deactivated_agent_is_locked_out_with_every_token(client: TestClient, team: Team) -> None:
    admin, bob = team.header(team.admin), team.header(team.other_agent)
    bob_id = client.get(f"{V1}/me", headers=bob).json()["id"]
    spare = client.post(f"{V1}/agents/{bob_id}/tokens", headers=admin, json={"name": "phone"}).json()
    assert client.patch(f"{V1}/agents/{bob_id}", headers=admin, json={"active": False}).status_code == 200
    for headers in (bob, bearer(spare["token"])):
        assert client.get(f"{V1}/me", headers=headers).status_code == 401
        assert client.post(f"{V1}/tickets", headers=headers, json={"title": "x"}).status_code == 401
    assert client.get(f"{V1}/tickets", headers=admin).json()["items"] == []  # nothing got through


# -- object-level rule: who may take a ticket -----------------------------------------------------------------


def test_an_agent_may_assign_unassigned_or_own_tickets(client: TestClient, team: Team) -> None:
    alice = team.header(team.agent)
    number = client.post(f"{V1}/tickets", headers=alice, json={"title": "Monitor flickers"}).json()["number"]
    taken = client.post(f"{V1}/tickets/{number}/assign", headers=alice, json={"assignee": "alice"})
    assert taken.status_code == 200 and taken.json()["assignee"]["login"] == "alice"
    # Their own ticket: they may hand it on (or back to nobody).
    handed = client.post(f"{V1}/tickets/{number}/assign", headers=alice, json={"assignee": "bob"})
    assert handed.status_code == 200 and handed.json()["assignee"]["login"] == "bob"
    other = client.post(f"{V1}/tickets", headers=alice, json={"title": "Mouse dead"}).json()["number"]
    assert client.post(f"{V1}/tickets/{other}/assign", headers=alice, json={"assignee": "alice"}).status_code == 200
    freed = client.post(f"{V1}/tickets/{other}/assign", headers=alice, json={"assignee": None})
    assert freed.status_code == 200 and freed.json()["assignee"] is None


@pytest.mark.parametrize("change", [{"assignee": "alice"}, {"assignee": None}, {"assignee": "bob", "group": "desk"}])
def test_an_agent_cannot_take_a_ticket_assigned_to_another(
    client: TestClient, team: Team, change: dict[str, Any]
) -> None:
    alice, bob = team.header(team.agent), team.header(team.other_agent)
    number = client.post(f"{V1}/tickets", headers=bob, json={"title": "Laptop battery", "assignee": "bob"}).json()[
        "number"
    ]
    before = client.get(f"{V1}/tickets/{number}", headers=bob).json()
    r = client.post(f"{V1}/tickets/{number}/assign", headers=alice, json=change)
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == PROBLEM and r.json()["type"] == "urn:helpline:problem:forbidden"
    after = client.get(f"{V1}/tickets/{number}", headers=bob).json()
    assert after == before


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_supervisors_and_admins_may_reassign_any_ticket(client: TestClient, team: Team, role: str) -> None:
    bob = team.header(team.other_agent)
    boss = team.header(team.supervisor if role == "supervisor" else team.admin)
    number = client.post(f"{V1}/tickets", headers=bob, json={"title": "Laptop battery", "assignee": "bob"}).json()[
        "number"
    ]
    r = client.post(f"{V1}/tickets/{number}/assign", headers=boss, json={"assignee": "alice"})
    assert r.status_code == 200 and r.json()["assignee"]["login"] == "alice"
    history = client.get(f"{V1}/tickets/{number}/activity", headers=bob).json()["items"]
    assert (history[-1]["kind"], history[-1]["old"], history[-1]["new"]) == ("assigned", "bob", "alice")


# -- token secrets ----------------------------------------------------------------------------------------------


def test_token_secrets_are_stored_only_as_hashes_and_shown_once(client: TestClient, team: Team) -> None:
    admin = team.header(team.admin)
    created = client.post(f"{V1}/agents", headers=admin, json={"login": "erin", "display_name": "Erin"})
    assert created.status_code == 201
    erin = created.json()
    issued = client.post(f"{V1}/agents/{erin['id']}/tokens", headers=admin, json={"name": "script"})
    assert issued.status_code == 201
    secrets_shown = [erin["token"], issued.json()["token"], team.admin, team.supervisor, team.agent, team.other_agent]
    assert all(s.startswith("hl_") and len(s) >= 40 for s in secrets_shown)
    assert client.get(f"{V1}/me", headers=bearer(issued.json()["token"])).json()["login"] == "erin"

    async def stored_rows() -> list[dict[str, Any]]:
        return list(await get_connection("default").execute_query_dict("SELECT * FROM api_token"))

    rows = client.portal.call(stored_rows)
    assert len(rows) == len(secrets_shown)
    hashes = {hashlib.sha256(s.encode()).hexdigest() for s in secrets_shown}
    assert {row["token_hash"] for row in rows} == hashes
    for row in rows:
        for column, value in row.items():
            text = str(value)
            for secret in secrets_shown:
                assert secret not in text and secret[3:] not in text, f"api_token.{column} holds a secret"
        assert len(row["hint"]) <= 8

    # Later reads show the tokens, never a secret.
    for url in (f"{V1}/agents/{erin['id']}/tokens", f"{V1}/agents/{erin['id']}", f"{V1}/agents"):
        r = client.get(url, headers=admin)
        assert r.status_code == 200
        assert not any(s in r.text for s in secrets_shown), url
    listed = client.get(f"{V1}/agents/{erin['id']}/tokens", headers=admin).json()["items"]
    assert [t["name"] for t in listed] == ["default", "script"]
    assert all("token" not in t for t in listed)
    assert listed[1]["hint"] == issued.json()["token"][: len(listed[1]["hint"])]
    assert listed[1]["last_used_at"] is not None and listed[0]["last_used_at"] is None
