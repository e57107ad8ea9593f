"""GET /api/v1/events against a real ``helpline serve``: who gets which event, resuming after a blip, keep-alives,
and two workers sharing one stream through Redis."""

from __future__ import annotations

import asyncio
import resource
import shutil
import uuid
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.ami import AMI, SECRET, USER
from tests.support.console import ThreadedReplay
from tests.support.live import SseClient, add_agents, login
from tests.support.servers import Server, start_server, stop_server
from tests.support.services import service_missing
from tests.support.waiting import wait_until
from tickets.models import Role
from web.settings import Settings

V1 = "/api/v1"
REDIS_URL = "redis://127.0.0.1:6379/0"
TEAM = (("alice", Role.AGENT, "101"), ("bob", Role.AGENT, "102"), ("sam", Role.SUPERVISOR, "103"))


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """The transport is under test here, not the database: one backend is enough."""
    path = tmp_path / "helpline.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite://{path}"


def stream(server: Server, headers: dict[str, str]) -> SseClient:
    return SseClient(server.base_url + f"{V1}/events", headers).start()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def settings_of(url: str) -> Settings:
    return Settings.model_validate({"database": {"url": url}})


def test_events_need_a_token_or_a_session(sqlite_url: str, tmp_path: Path) -> None:
    server = start_server(sqlite_url, tmp_path)
    try:
        r = httpx.get(server.base_url + f"{V1}/events", timeout=5)
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        assert httpx.get(server.base_url + f"{V1}/events", headers=bearer("hl_nope"), timeout=5).status_code == 401
    finally:
        stop_server(server)


def test_a_ringing_call_pops_only_at_its_agent_and_supervisors_see_everything(sqlite_url: str, tmp_path: Path) -> None:
    tokens = add_agents(settings_of(sqlite_url), *TEAM)
    with ThreadedReplay(AMI / "a_answered.raw", USER, SECRET, speed=4.0) as pbx:
        config = tmp_path / "helpline.toml"
        config.write_text(
            f'[[pbx]]\nname = "main"\nhost = "127.0.0.1"\nport = {pbx.port}\nusername = "{USER}"\n'
            f'secret = "{SECRET}"\nqueues = ["helpdesk"]\n'
        )
        server = start_server(sqlite_url, tmp_path, {"HELPLINE_CONFIG": str(config)})
        try:
            console = login(server.base_url, "alice")  # alice by her console session, the others by token
            alice = stream(server, {"Cookie": f"helpline_session={console.cookies['helpline_session']}"})
            bob, sam = stream(server, bearer(tokens["bob"])), stream(server, bearer(tokens["sam"]))
            pbx.play()  # Alice Agent (extension 101) rings, answers, talks, hangs up
            ringing = alice.wait_for(lambda e: e.type == "call.ringing", timeout=30)
            assert ringing.data["agent_extension"] == "101" and ringing.data["ticket_number"]
            assert ringing.data["caller_number"] == "+15551230001" and ringing.data["pbx"] == "main"
            alice.wait_for(lambda e: e.type == "call.ended")
            assert "call.answered" in alice.types()
            bob.wait_for(lambda e: e.type == "call.ended")
            # only Alice is known in the helpdesk queue (the queue rang her): bob is not a member, so neither the
            # ringing nor the answer (call.taken) of its calls reach him; tickets and ends do
            assert not {"call.ringing", "call.answered", "call.taken"} & set(bob.types())
            assert "ticket.created" in bob.types()
            stats = alice.wait_for(lambda e: e.type == "queue.stats" and e.data["answered_today"] == 1)
            assert [m["extension"] for m in stats.data["members"]] == ["101"] and stats.data["waiting"] == 0
            sam.wait_for(lambda e: e.type == "call.ended")
            assert {"call.offered", "call.ringing", "call.answered", "call.ended", "queue.stats"} <= set(sam.types())
            ids = [int(e.id or 0) for e in sam.events]
            assert ids == sorted(ids) and len(set(ids)) == len(ids), "ids increase"
            for client in (alice, bob, sam):
                client.close()
        finally:
            stop_server(server)


def test_a_client_that_reconnects_gets_what_it_missed_and_keepalives_flow(sqlite_url: str, tmp_path: Path) -> None:
    tokens = add_agents(settings_of(sqlite_url), *TEAM)
    server = start_server(sqlite_url, tmp_path, {"HELPLINE_LIVE_KEEPALIVE": "1s"})
    api = httpx.Client(base_url=server.base_url + V1, headers=bearer(tokens["alice"]), timeout=10)
    try:
        first = stream(server, bearer(tokens["alice"]))
        api.post("/tickets", json={"title": "Принтер не печатает"})
        seen = first.wait_for(lambda e: e.type == "ticket.created")
        first.close()
        missed = [api.post("/tickets", json={"title": f"ticket {n}"}).json()["number"] for n in range(3)]
        again = stream(server, {**bearer(tokens["alice"]), "Last-Event-ID": str(seen.id)})
        again.wait_for(lambda e: e.type == "ticket.created" and e.data["number"] == missed[-1])
        created = [e.data["number"] for e in again.events if e.type == "ticket.created"]
        assert created == missed, "exactly the missed events, in order, none twice"
        wait_until(
            lambda: "keep-alive" in again.comments, what="a keep-alive (every second)", details=lambda: again.comments
        )
        again.close()
    finally:
        api.close()
        stop_server(server)


def test_two_workers_behind_one_redis_share_one_stream(sqlite_url: str, tmp_path: Path) -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except (redis.RedisError, OSError) as exc:
        service_missing(f"the live-events Redis test needs Redis on 127.0.0.1:6379: {exc}")
    tokens = add_agents(settings_of(sqlite_url), *TEAM)
    key = f"con7:test:{uuid.uuid4().hex}"
    env = {"HELPLINE_REDIS_URL": REDIS_URL, "HELPLINE_LIVE_STREAM": key}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = start_server(sqlite_url, tmp_path / "a", env)
    two = start_server(sqlite_url, tmp_path / "b", env)
    try:
        on_one, on_two = stream(one, bearer(tokens["bob"])), stream(two, bearer(tokens["bob"]))
        number = httpx.post(
            one.base_url + f"{V1}/tickets", headers=bearer(tokens["alice"]), json={"title": "VPN ไม่เชื่อมต่อ"}, timeout=10
        ).json()["number"]
        there = on_two.wait_for(lambda e: e.type == "ticket.created" and e.data["number"] == number)
        here = on_one.wait_for(lambda e: e.type == "ticket.created" and e.data["number"] == number)
        assert there.id == here.id, "both workers name the event alike"
        # a client of worker two resumes after an event it saw on worker one
        later = httpx.post(
            two.base_url + f"{V1}/tickets", headers=bearer(tokens["alice"]), json={"title": "later"}, timeout=10
        ).json()["number"]
        on_one.wait_for(lambda e: e.type == "ticket.created" and e.data["number"] == later)
        resumed = stream(one, {**bearer(tokens["bob"]), "Last-Event-ID": str(here.id)})
        resumed.wait_for(lambda e: e.type == "ticket.created" and e.data["number"] == later)
        assert number not in [e.data.get("number") for e in resumed.events]
        for client in (on_one, on_two, resumed):
            client.close()
    finally:
        stop_server(one)
        stop_server(two)
        redis.Redis.from_url(REDIS_URL).delete(key)


# -- caps: one token cannot take the service down ---------------------------------------------------------------------


def test_one_agent_holds_at_most_eight_streams(sqlite_url: str, tmp_path: Path) -> None:
    tokens = add_agents(settings_of(sqlite_url), *TEAM)
    server = start_server(sqlite_url, tmp_path, {"HELPLINE_LIVE_KEEPALIVE": "1s"})
    url = server.base_url + f"{V1}/events"
    try:
        held = [stream(server, bearer(tokens["alice"])) for _ in range(8)]
        assert all(s.status == 200 for s in held)
        ninth = httpx.get(url, headers=bearer(tokens["alice"]), timeout=10)
        assert ninth.status_code == 429 and ninth.headers["content-type"] == "application/problem+json"
        assert ninth.json()["type"] == "urn:helpline:problem:too-many-streams" and "8" in ninth.json()["detail"]
        assert int(ninth.headers["retry-after"]) > 0
        other = stream(server, bearer(tokens["bob"]))
        assert other.status == 200, "another agent is not held back"
        held.pop().close()  # a tab closed: its place is free once the server notices (at the next keep-alive)
        tries: list[SseClient] = []

        def admitted() -> SseClient | None:
            tries.append(SseClient(url, bearer(tokens["alice"])).start())
            return tries[-1] if tries[-1].status == 200 else None

        again = wait_until(admitted, what="alice's ninth stream admitted once a tab closed", every=0.2)
        for refused in tries[:-1]:
            refused.close()
        for client in (*held, other, again):
            client.close()
    finally:
        stop_server(server)


def _low_open_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


async def _open_stream(port: int, token: str) -> tuple[int, asyncio.StreamWriter | None]:
    """Open ``GET /api/v1/events`` on a raw connection; the status, and the writer to keep it open (200 only)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    writer.write(f"GET {V1}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status = int(head.split(b" ", 2)[1])
    if status != 200:
        writer.close()
        return status, None
    await asyncio.wait_for(reader.readuntil(b": ready"), 5)
    return status, writer


def test_healthz_answers_while_a_client_holds_streams_up_to_the_cap(sqlite_url: str, tmp_path: Path) -> None:
    """With 256 open files and the default caps, one token opening stream after stream is refused (503) before
    the process runs out of files: /healthz and the API keep answering."""
    tokens = add_agents(settings_of(sqlite_url), *TEAM)
    server = start_server(
        sqlite_url, tmp_path, {"HELPLINE_LIVE_MAX_STREAMS_PER_AGENT": "1000"}, preexec_fn=_low_open_file_limit
    )
    port = int(server.base_url.rsplit(":", 1)[1])

    async def run() -> None:
        held: list[asyncio.StreamWriter] = []
        refused = None
        try:
            for _ in range(300):
                try:
                    status, writer = await _open_stream(port, tokens["alice"])
                except (TimeoutError, OSError, EOFError) as exc:
                    raise AssertionError(
                        f"stream {len(held) + 1} got no answer ({exc!r}): the server is out of files"
                    ) from None
                if writer is None:
                    refused = status
                    break
                held.append(writer)
            assert refused == 503, f"{len(held)} streams open and none refused"
            async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
                assert (await http.get("/healthz")).status_code == 200
                assert (await http.get(f"{V1}/tickets", headers=bearer(tokens["bob"]))).status_code == 200
                beyond = await http.get(f"{V1}/events", headers=bearer(tokens["bob"]))
                assert beyond.status_code == 503 and beyond.json()["type"] == "urn:helpline:problem:stream-capacity"
                assert int(beyond.headers["retry-after"]) > 0
                shown = (await http.get("/metrics")).text
                assert f"helpline_live_streams_limit {float(len(held))}" in shown
                assert 'helpline_live_streams_refused_total{reason="process_cap"} 2.0' in shown
        finally:
            for writer in held:
                writer.close()

    try:
        asyncio.run(run())
    finally:
        stop_server(server)
