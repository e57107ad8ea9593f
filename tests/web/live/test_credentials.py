"""Open event streams end when their credentials do, within 5 s and on every instance: a revoked token, a
deactivated agent, a logout, a new password; a demoted supervisor's stream ends and comes back with what an agent
may see. Real ``helpline serve`` processes (two on one database where another instance makes the change)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.ami import AMI, SECRET, USER
from tests.support.console import ThreadedReplay
from tests.support.live import SseClient, add_agents, login
from tests.support.servers import Server, start_server, stop_server
from tickets.models import Role
from web.settings import Settings

V1 = "/api/v1"
#: The promise: a stream whose credentials ended is closed within this many seconds.
WITHIN = 5.0
TEAM = (
    ("alice", Role.AGENT, "101"),
    ("bob", Role.AGENT, "102"),
    ("sam", Role.SUPERVISOR, "103"),
    ("ada", Role.ADMIN, "100"),
)
KEY = {"HELPLINE_CONSOLE_SECRET_KEY": "live-credentials-console-key-" + "z" * 32}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cookie(session: httpx.Client) -> dict[str, str]:
    return {"Cookie": f"helpline_session={session.cookies['helpline_session']}"}


def stream(server: Server, headers: dict[str, str]) -> SseClient:
    client = SseClient(server.base_url + f"{V1}/events", headers).start()
    assert client.status == 200
    return client


def ends_within(client: SseClient, what: str) -> None:
    assert client.ended.wait(WITHIN), f"the stream was still open {WITHIN} s after {what}"


@pytest.fixture
def two(database_url: str, tmp_path: Path) -> Iterator[tuple[Server, Server, dict[str, str]]]:
    """Two instances on one database (one secret key), and the team's tokens."""
    tokens = add_agents(Settings.model_validate({"database": {"url": database_url}}), *TEAM)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = start_server(database_url, tmp_path / "one", KEY)
    try:
        other = start_server(database_url, tmp_path / "two", KEY)
    except BaseException:
        stop_server(one)
        raise
    try:
        yield one, other, tokens
    finally:
        stop_server(one)
        stop_server(other)


def refused_within(server: Server, headers: dict[str, str], seconds: float) -> int:
    """The status that refuses a new stream with ``headers`` (tried until ``seconds`` have passed); 200 if none."""
    deadline = time.monotonic() + seconds
    while True:
        with httpx.stream("GET", f"{server.base_url}{V1}/events", headers=headers, timeout=10) as response:
            if response.status_code != 200 or time.monotonic() > deadline:
                return response.status_code
        time.sleep(0.2)


def agent_id(server: Server, admin: str, login_name: str) -> int:
    agents = httpx.get(f"{server.base_url}{V1}/agents", headers=bearer(admin), timeout=10).json()["items"]
    return int(next(a["id"] for a in agents if a["login"] == login_name))


def test_a_token_revoked_on_another_instance_ends_its_streams(two: tuple[Server, Server, dict[str, str]]) -> None:
    one, other, tokens = two
    admin = httpx.Client(base_url=other.base_url + V1, headers=bearer(tokens["ada"]), timeout=10)
    bob = agent_id(other, tokens["ada"], "bob")
    spare = admin.post(f"/agents/{bob}/tokens", json={"name": "spare"}).json()["token"]
    revoked, kept = stream(one, bearer(tokens["bob"])), stream(one, bearer(spare))
    token_id = next(t["id"] for t in admin.get(f"/agents/{bob}/tokens").json()["items"] if t["name"] != "spare")
    assert admin.delete(f"/agents/{bob}/tokens/{token_id}").status_code == 200
    ends_within(revoked, "the token was revoked")
    assert not kept.ended.is_set(), "the agent's other token still holds"
    metrics = httpx.get(f"{one.base_url}/metrics", timeout=10).text
    assert 'helpline_live_streams_ended_total{reason="token_revoked"} 1.0' in metrics
    # a new stream is refused once this instance's token cache (AUTH_CACHE_SECONDS) has let go of the token
    assert refused_within(one, bearer(tokens["bob"]), 10.0) == 401
    kept.close()
    admin.close()


def test_deactivating_an_agent_ends_their_token_and_session_streams(two: tuple[Server, Server, dict[str, str]]) -> None:
    one, other, tokens = two
    console = login(one.base_url, "alice")
    by_token, by_session = stream(one, bearer(tokens["alice"])), stream(one, cookie(console))
    bystander = stream(one, bearer(tokens["bob"]))
    alice = agent_id(other, tokens["ada"], "alice")
    changed = httpx.patch(
        f"{other.base_url}{V1}/agents/{alice}", json={"active": False}, headers=bearer(tokens["ada"]), timeout=10
    )
    assert changed.status_code == 200
    ends_within(by_token, "the agent was deactivated")
    ends_within(by_session, "the agent was deactivated")
    assert not bystander.ended.is_set()
    bystander.close()
    console.close()


def test_logging_out_on_another_instance_ends_the_sessions_streams(two: tuple[Server, Server, dict[str, str]]) -> None:
    one, other, _ = two
    console, bystander = login(one.base_url, "alice"), login(one.base_url, "alice")
    watched, kept = stream(one, cookie(console)), stream(one, cookie(bystander))
    elsewhere = httpx.Client(
        base_url=other.base_url,
        timeout=10,
        cookies=console.cookies,
        headers={"X-CSRF-Token": console.headers["X-CSRF-Token"]},
    )
    assert elsewhere.delete(f"{V1}/session").status_code == 204
    ends_within(watched, "logging out on the other instance")
    assert not kept.ended.is_set(), "the agent's other session (another browser) goes on"
    kept.close()
    for client in (console, bystander, elsewhere):
        client.close()


def test_a_new_password_ends_the_agents_session_streams(
    two: tuple[Server, Server, dict[str, str]], database_url: str, tmp_path: Path
) -> None:
    one, _, tokens = two
    console = login(one.base_url, "alice")
    watched, by_token = stream(one, cookie(console)), stream(one, bearer(tokens["alice"]))
    env = {**os.environ, "HELPLINE_DATABASE_URL": database_url}
    env.pop("HELPLINE_CONFIG", None)
    changed = subprocess.run(
        [sys.executable, "-m", "web.cli", "user", "password", "alice"],
        input="a new password\n",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert changed.returncode == 0, changed.stderr
    ends_within(watched, "the password was changed")
    assert not by_token.ended.is_set(), "API tokens do not depend on the console password"
    by_token.close()
    console.close()


def test_a_demoted_supervisor_stops_getting_what_agents_may_not_see(database_url: str, tmp_path: Path) -> None:
    tokens = add_agents(Settings.model_validate({"database": {"url": database_url}}), *TEAM)
    with ThreadedReplay(AMI / "a_answered.raw", USER, SECRET, speed=4.0) as pbx:
        config = tmp_path / "helpline.toml"
        config.write_text(pbx.pbx_toml())
        server = start_server(database_url, tmp_path, {"HELPLINE_CONFIG": str(config)})
        try:
            sam, ada = stream(server, bearer(tokens["sam"])), stream(server, bearer(tokens["ada"]))
            sam_id = agent_id(server, tokens["ada"], "sam")
            demoted = httpx.patch(
                f"{server.base_url}{V1}/agents/{sam_id}",
                json={"role": "agent"},
                headers=bearer(tokens["ada"]),
                timeout=10,
            )
            assert demoted.status_code == 200
            ends_within(sam, "sam was demoted")  # the console reconnects at once, as an agent
            sam = stream(server, bearer(tokens["sam"]))
            pbx.play()  # Alice Agent (extension 101, the helpdesk queue's only known member) answers a call
            ada.wait_for(lambda e: e.type == "call.ended", timeout=30)
            sam.wait_for(lambda e: e.type == "call.ended", timeout=30)
            assert {"call.ringing", "call.answered"} <= set(ada.types())
            assert not {"call.ringing", "call.answered", "call.taken"} & set(sam.types())
            for client in (sam, ada):
                client.close()
        finally:
            stop_server(server)
