"""Console sessions: login with a password, a signed HttpOnly SameSite=Strict cookie, CSRF on changes, logout,
expiry, rate-limited logins; bearer tokens keep working for scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import Team
from tests.waiting import wait_until
from tickets.agent_service import AgentService
from web.app import create_app
from web.config import Settings, load_settings
from web.passwords import hash_password

V1 = "/api/v1"
PASSWORD = "correct horse battery"


def set_password(client: TestClient, login: str, password: str = PASSWORD) -> None:
    async def run() -> None:
        agents = AgentService()
        agent = await agents.by_login(login)
        assert agent is not None
        await agents.set_password(agent.id, hash_password(password))

    client.portal.call(run)


def log_in(client: TestClient, login: str = "alice", password: str = PASSWORD) -> str:
    r = client.post(f"{V1}/session", json={"login": login, "password": password})
    assert r.status_code == 201, r.text
    return str(r.json()["csrf_token"])


def test_login_sets_a_safe_cookie_that_authenticates_reads(client: TestClient, team: Team) -> None:
    set_password(client, "alice")
    r = client.post(f"{V1}/session", json={"login": "alice", "password": PASSWORD})
    assert r.status_code == 201 and r.json()["agent"]["login"] == "alice" and r.json()["csrf_token"]
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert PASSWORD not in r.text
    assert client.get(f"{V1}/me").json()["login"] == "alice"
    assert client.get(f"{V1}/session").json()["csrf_token"] == r.json()["csrf_token"]


@pytest.mark.parametrize("login,password", [("alice", "wrong password"), ("nobody", PASSWORD), ("bob", PASSWORD)])
def test_wrong_login_wrong_password_or_no_password_set_are_refused_alike(client: TestClient, team: Team,
                                                                         login: str, password: str) -> None:
    set_password(client, "alice")  # bob has no console password: tokens only
    r = client.post(f"{V1}/session", json={"login": login, "password": password})
    assert r.status_code == 401 and r.json()["type"] == "urn:helpline:problem:invalid-login"
    assert "set-cookie" not in r.headers
    assert client.get(f"{V1}/me").status_code == 401


def test_changes_with_the_cookie_need_the_csrf_token(client: TestClient, team: Team) -> None:
    set_password(client, "alice")
    csrf = log_in(client)
    forged = client.post(f"{V1}/tickets", json={"title": "from another site"})
    assert forged.status_code == 403 and forged.json()["type"] == "urn:helpline:problem:csrf"
    wrong = client.post(f"{V1}/tickets", json={"title": "x"}, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    made = client.post(f"{V1}/tickets", json={"title": "Монитор мигает"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201 and made.json()["title"] == "Монитор мигает"
    # scripts: a bearer token needs no CSRF token, with or without a cookie around
    script = client.post(f"{V1}/tickets", json={"title": "script"}, headers=team.header(team.other_agent))
    assert script.status_code == 201


def test_logout_ends_the_session(client: TestClient, team: Team) -> None:
    set_password(client, "alice")
    csrf = log_in(client)
    stolen = client.cookies.get("helpline_session")
    assert client.delete(f"{V1}/session").status_code == 403, "logout is a change: it needs the CSRF token"
    assert client.delete(f"{V1}/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get(f"{V1}/me").status_code == 401
    client.cookies.clear()
    client.cookies.set("helpline_session", stolen or "")
    assert client.get(f"{V1}/me").status_code == 401, "a copy of the ended cookie is refused too"


def test_a_new_password_or_deactivation_ends_sessions_and_forged_cookies_fail(client: TestClient,
                                                                              team: Team) -> None:
    set_password(client, "alice")
    log_in(client)
    set_password(client, "alice", "another long password")
    assert client.get(f"{V1}/me").status_code == 401
    log_in(client, password="another long password")
    value = client.cookies.get("helpline_session") or ""
    client.cookies.clear()
    client.cookies.set("helpline_session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert client.get(f"{V1}/me").status_code == 401
    log_in(client, password="another long password")
    alice_id = client.get(f"{V1}/me").json()["id"]
    assert client.patch(f"{V1}/agents/{alice_id}", headers=team.header(team.admin),
                        json={"active": False}).status_code == 200
    assert client.get(f"{V1}/me").status_code == 401


def test_failed_logins_are_rate_limited_per_login_and_per_address(client: TestClient, team: Team) -> None:
    set_password(client, "alice")
    set_password(client, "bob")
    for _ in range(5):
        assert client.post(f"{V1}/session", json={"login": "alice", "password": "guess guess"}).status_code == 401
    limited = client.post(f"{V1}/session", json={"login": "alice", "password": PASSWORD})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert limited.json()["type"] == "urn:helpline:problem:too-many-logins"
    log_in(client, "bob")  # another login from the same address still works
    for n in range(15):  # 5 + 15 = 20 failures from this address
        client.post(f"{V1}/session", json={"login": f"user{n}", "password": "guess guess"})
    assert client.post(f"{V1}/session", json={"login": "bob", "password": PASSWORD}).status_code == 429


@pytest.fixture
def short_sessions(database_url: str) -> Iterator[TestClient]:
    settings: Settings = load_settings(environ={"HELPLINE_DATABASE_URL": database_url,
                                                "HELPLINE_CONSOLE_SESSION_TTL": "1s"})
    with TestClient(create_app(settings)) as c:
        yield c


def test_a_session_expires(short_sessions: TestClient) -> None:
    async def add() -> None:
        agent = await AgentService().create(login="alice", display_name="Alice")
        await AgentService().set_password(agent.id, hash_password(PASSWORD))

    short_sessions.portal.call(add)
    started = time.monotonic()
    log_in(short_sessions)
    # the cookie as a client that ignores Max-Age keeps sending it: the server itself refuses it after its lifetime
    sent = {"Cookie": f"helpline_session={short_sessions.cookies['helpline_session']}"}
    short_sessions.cookies.clear()

    def me() -> int:
        return short_sessions.get(f"{V1}/me", headers=sent).status_code

    assert me() == 200
    wait_until(lambda: me() == 401, what="the session expired", every=0.1)
    assert time.monotonic() - started >= 1.0, "not before its 1 s lifetime"


def test_the_command_line_sets_and_clears_console_passwords(tmp_path: Path, sqlite_template: Path) -> None:
    path = tmp_path / "helpline.sqlite3"
    shutil.copyfile(sqlite_template, path)
    env = {**os.environ, "HELPLINE_DATABASE_URL": f"sqlite://{path}"}
    env.pop("HELPLINE_CONFIG", None)

    def helpline(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "web.cli", *args], input=stdin, env=env, capture_output=True,
                              text=True, timeout=60, cwd=tmp_path)

    added = helpline("user", "add", "carol", "--extension", "104", "--password", stdin="first password\n")
    assert added.returncode == 0, added.stderr
    assert helpline("user", "password", "carol", stdin="short\n").returncode == 1, "too short: refused"
    assert helpline("user", "password", "nobody", stdin="second password\n").returncode == 1
    with TestClient(create_app(load_settings(environ={"HELPLINE_DATABASE_URL": f"sqlite://{path}"}))) as c:
        log_in(c, "carol", "first password")
        assert helpline("user", "password", "carol", stdin="second password\n").returncode == 0
        assert c.get(f"{V1}/me").status_code == 401, "a new password ends the sessions"
        log_in(c, "carol", "second password")
        assert helpline("user", "password", "carol", "--clear").returncode == 0
        r = c.post(f"{V1}/session", json={"login": "carol", "password": "second password"})
        assert r.status_code == 401
