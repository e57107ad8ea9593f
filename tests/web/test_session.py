"""Console sessions: login with a password, a signed HttpOnly SameSite=Strict cookie, CSRF on changes, logout,
expiry, rate-limited logins; bearer tokens keep working for scripts."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from tests.support.live import add_agents, login
from tests.support.servers import Team, run_cli, start_server, stop_server
from tests.support.waiting import wait_until
from tickets.agent_service import AgentService
from tickets.models import Role
from web.app import create_app
from web.auth.passwords import hash_password
from web.settings import Settings, load_settings

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


@pytest.mark.parametrize("login,password", [("alice", "wrong password"), ("nobody", PASSWORD)])
def test_wrong_login_or_wrong_password_are_refused_alike(
    client: TestClient, team: Team, login: str, password: str
) -> None:
    set_password(client, "alice")
    r = client.post(f"{V1}/session", json={"login": login, "password": password})
    assert r.status_code == 401 and r.json()["type"] == "urn:helpline:problem:invalid-login"
    assert r.json()["detail"] == "wrong login or password (or the agent is deactivated)"
    assert "set-cookie" not in r.headers
    assert client.get(f"{V1}/me").status_code == 401


def test_an_account_without_a_password_is_told_how_to_get_one_and_nothing_more(client: TestClient, team: Team) -> None:
    """bob has no console password (tokens only): the answer says so and names the command, and only after the
    limiter counted the attempt; it shows nothing else of bob's. A deactivated agent gets the usual answer."""
    r = client.post(f"{V1}/session", json={"login": "bob", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["type"] == "urn:helpline:problem:no-password"
    assert r.json()["detail"] == (
        "this account has no password yet: an admin sets one with `helpline user password bob`"
    )
    assert set(r.json()) <= {"type", "title", "status", "detail", "instance", "request_id"}, r.json()
    assert "set-cookie" not in r.headers and "103" not in r.text and "Bob" not in r.text  # extension, name
    for _ in range(4):
        assert client.post(f"{V1}/session", json={"login": "bob", "password": "guess guess"}).status_code == 401
    limited = client.post(f"{V1}/session", json={"login": "bob", "password": PASSWORD})
    assert limited.status_code == 429, "counted like any failed login: no way around the limit"
    sam_id = client.get(f"{V1}/me", headers=team.header(team.supervisor)).json()["id"]  # no password either
    assert client.patch(f"{V1}/agents/{sam_id}", headers=team.header(team.admin), json={"active": False}).is_success
    r = client.post(f"{V1}/session", json={"login": "sam", "password": PASSWORD})
    assert r.json()["type"] == "urn:helpline:problem:invalid-login", "deactivated: nothing said about the password"


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


def test_a_new_password_or_deactivation_ends_sessions_and_forged_cookies_fail(client: TestClient, team: Team) -> None:
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
    assert (
        client.patch(f"{V1}/agents/{alice_id}", headers=team.header(team.admin), json={"active": False}).status_code
        == 200
    )
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


def at_once(client: TestClient, attempts: list[tuple[str, str]]) -> list[int]:
    """POST every (login, password) to the app at the same time (one event loop, as a busy server sees them);
    the status codes, in order."""

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=client.app, client=("198.51.100.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            replies = await asyncio.gather(
                *(
                    http.post(f"{V1}/session", json={"login": login, "password": password})
                    for login, password in attempts
                )
            )
        return [r.status_code for r in replies]

    return list(client.portal.call(run))


def test_concurrent_guesses_cannot_race_the_login_limit(client: TestClient, team: Team) -> None:
    """Counted before the slow password check: of 29 wrong passwords and the right one sent at once, only as many
    as the limit (5) are checked at all; the others get 429."""
    set_password(client, "alice")
    codes = at_once(client, [("alice", f"guess number {n}") for n in range(29)] + [("alice", PASSWORD)])
    checked = [c for c in codes if c in (201, 401)]
    assert len(checked) == 5 and codes.count(429) == 25, codes
    if 201 not in codes:  # the right password came after the limit: refused like the guesses
        assert at_once(client, [("alice", PASSWORD)]) == [429]


def test_forty_concurrent_wrong_attempts_meet_the_limits(client: TestClient, team: Team) -> None:
    set_password(client, "alice")
    codes = at_once(client, [("alice", "wrong password")] * 40)
    assert codes.count(401) == 5 and codes.count(429) == 35, codes
    # per client address: 20 attempts (5 already spent), whatever the logins
    codes = at_once(client, [(f"user{n}", "wrong password") for n in range(40)])
    assert codes.count(401) == 15 and codes.count(429) == 25, codes


def test_a_success_clears_the_logins_count_but_not_the_addresss(client: TestClient, team: Team) -> None:
    set_password(client, "alice")
    for _ in range(4):
        assert client.post(f"{V1}/session", json={"login": "alice", "password": "guess guess"}).status_code == 401
    log_in(client)
    for _ in range(5):
        assert client.post(f"{V1}/session", json={"login": "alice", "password": "guess guess"}).status_code == 401
    assert client.post(f"{V1}/session", json={"login": "alice", "password": PASSWORD}).status_code == 429
    for n in range(11):  # 4 + 5 + 11 = 20 failures from this address (the success was given back, and the attempt
        # alice's limit refused never counted against it): bob's attempt is the 21st
        assert client.post(f"{V1}/session", json={"login": f"user{n}", "password": "guess guess"}).status_code == 401
    assert client.post(f"{V1}/session", json={"login": "bob", "password": PASSWORD}).status_code == 429


def test_two_instances_share_the_login_limit(database_url: str, tmp_path: Path) -> None:
    """Guesses spread over two ``helpline serve`` processes on one database count together."""
    add_agents(Settings.model_validate({"database": {"url": database_url}}), ("alice", Role.AGENT, "101"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = start_server(database_url, tmp_path / "a")
    two = start_server(database_url, tmp_path / "b")
    try:
        for n in range(5):
            server = one if n % 2 else two
            r = httpx.post(f"{server.base_url}{V1}/session", json={"login": "alice", "password": "guess"}, timeout=10)
            assert r.status_code == 401
        for server in (one, two):
            r = httpx.post(f"{server.base_url}{V1}/session", json={"login": "alice", "password": PASSWORD}, timeout=10)
            assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    finally:
        stop_server(one)
        stop_server(two)


def test_logout_is_remembered_by_every_instance_and_after_a_restart(database_url: str, tmp_path: Path) -> None:
    """Two ``helpline serve`` processes with one secret key: a cookie logged out on one is refused by the other
    at once, and by an instance started afterwards."""
    add_agents(Settings.model_validate({"database": {"url": database_url}}), ("alice", Role.AGENT, "101"))
    env = {"HELPLINE_CONSOLE_SECRET_KEY": "shared-console-key-" + "k" * 32}
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    one = start_server(database_url, tmp_path / "a", env)
    two = start_server(database_url, tmp_path / "b", env)
    try:
        session = login(one.base_url, "alice")
        cookie = {"Cookie": f"helpline_session={session.cookies['helpline_session']}"}
        assert httpx.get(f"{two.base_url}{V1}/me", headers=cookie, timeout=10).status_code == 200
        assert session.delete(f"{V1}/session").status_code == 204
        assert httpx.get(f"{one.base_url}{V1}/me", headers=cookie, timeout=10).status_code == 401
        assert httpx.get(f"{two.base_url}{V1}/me", headers=cookie, timeout=10).status_code == 401
        session.close()
    finally:
        stop_server(one)
        stop_server(two)
    three = start_server(database_url, tmp_path / "c", env)
    try:
        assert httpx.get(f"{three.base_url}{V1}/me", headers=cookie, timeout=10).status_code == 401
    finally:
        stop_server(three)


@pytest.fixture
def short_sessions(database_url: str) -> Iterator[TestClient]:
    settings: Settings = load_settings(
        environ={"HELPLINE_DATABASE_URL": database_url, "HELPLINE_CONSOLE_SESSION_TTL": "1s"}
    )
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
        return run_cli(*args, env=env, cwd=tmp_path, stdin=stdin)

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
