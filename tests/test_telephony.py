"""The whole PBX path on both databases: recorded Asterisk sessions -> AMI -> tracker -> intake -> calls and tickets.

Each lab recording is replayed by the local AMI server to the real listener inside the real app, and the calls
that end up in the database are compared with the recording's ground truth (``*.calls.jsonl``): across Asterisk's
restart, a dropped connection, a helpline restart, and a second replay of the same calls.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from pbx.replay import Recording, ReplayServer, Session
from tests.ami_support import AMI, SECRET, USER, split_recording, until_caught_up
from tests.waiting import GENEROUS, eventually
from tickets.agent_service import AgentService
from tickets.models import Call, Ticket
from web.app import create_app
from web.config import Settings

OUTCOME = {"answered": "answered", "abandoned": "abandoned", "overflow-voicemail": "timeout"}
CASES = {
    "a": (["a_answered.raw"], ["a_answered.calls.jsonl"]),
    "b": (["b_abandoned.raw"], ["b_abandoned.calls.jsonl"]),
    "b2": (["b2_abandoned_while_ringing.raw"], ["b2_abandoned_while_ringing.calls.jsonl"]),
    "b3": (["b3_all_agents_busy.raw"], ["b3_all_agents_busy.calls.jsonl"]),
    "c": (["c_concurrent20_mixed.raw"], ["c_concurrent20_mixed.calls.jsonl"]),
    "d": (["d_storm200.raw.gz"], ["d_storm200.calls.jsonl"]),
    "e": (["e_restart.raw", "e_restart.conn2.raw", "e_restart.conn3.raw"],
          ["e_restart.pre.calls.jsonl", "e_restart.post.calls.jsonl"]),
    "f": (["f_resync_snapshot.raw"], ["f_resync_snapshot.calls.jsonl"]),
}


def truth(files: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {row["uniqueid"]: row for f in files for row in map(json.loads, (AMI / f).read_text().splitlines())}


def settings_for(database_url: str, port: int, secret: str = SECRET) -> Settings:
    return Settings.model_validate({
        "database": {"url": database_url},
        "pbx": [{"name": "main", "host": "127.0.0.1", "port": port, "username": USER, "secret": secret,
                 "queues": ["helpdesk"], "ping_interval": "2s", "action_timeout": "2s"}],
    })


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Starlette]:
    """The app with its lifespan (database, PBX listener) in this event loop."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def until_calls_end(expected: int, timeout: float = 60.0) -> None:
    """Wait until ``expected`` calls have ended in the database."""
    async def ended() -> bool:
        return await Call.filter(state="ended").count() >= expected

    await eventually(ended, timeout, what=f"{expected} calls ended")


async def until_replayed(server: ReplayServer, app: Starlette, expected: int, pbx: str = "main",
                         timeout: float = 120.0) -> None:
    """Wait until ``expected`` calls have ended and PBX ``pbx``'s listener applied everything ``server`` streamed:
    nothing more is coming, so a call recorded twice or one too many would show."""
    await until_calls_end(expected, timeout)
    await until_caught_up(server, app.state.pbx[pbx], timeout=timeout)


async def assert_matches(expected: dict[str, dict[str, Any]]) -> None:
    calls = {c.linkedid: c for c in await Call.filter(pbx="main")}
    assert sorted(calls) == sorted(expected), "exactly one call per placed call, keyed by Linkedid"
    for linkedid, row in expected.items():
        call = calls[linkedid]
        assert call.outcome is not None and call.outcome.value == OUTCOME[row["outcome"]], (linkedid, row, call.outcome)
        assert call.ticket_id is not None
        if row["outcome"] == "answered":
            assert call.agent_name == row["agent"] and call.ended_by == row["complete_reason"], (linkedid, row)
        if row["outcome"] == "overflow-voicemail":
            assert call.voicemail
    tickets = await Ticket.all().prefetch_related("calls")
    assert all(t.calls for t in tickets), "no ticket without a call"
    for ticket in tickets:
        opened = [c for c in ticket.calls if c.opened_ticket]
        assert len(opened) == 1, f"{ticket.number} was opened by {len(opened)} calls"


@pytest.mark.parametrize("case", sorted(CASES))
async def test_each_recording_gives_exactly_its_calls(database_url: str, case: str) -> None:
    recordings, truths = CASES[case]
    async with ReplayServer([AMI / r for r in recordings], username=USER, secret=SECRET) as server:
        async with running(settings_for(database_url, server.port)) as app:
            expected = truth(truths)
            await until_replayed(server, app, len(expected))
            await assert_matches(expected)
            # the connection parsed only the events the tracker reads (VarSet, Newexten, CEL, ... were skipped)
            assert app.state.pbx["main"].connection.status().events_ignored > 0


REFUSE_SQLITE = """CREATE TRIGGER refuse_call BEFORE INSERT ON phone_call WHEN NEW.linkedid = '{id}'
BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"""
REFUSE_POSTGRES = """CREATE FUNCTION refuse_call() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  IF NEW.linkedid = '{id}' THEN RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation'; END IF;
  RETURN NEW; END $$;
CREATE TRIGGER refuse_call BEFORE INSERT ON phone_call FOR EACH ROW EXECUTE FUNCTION refuse_call()"""


@asynccontextmanager
async def database_refusing_call(database_url: str, linkedid: str) -> AsyncIterator[None]:
    """The database itself refuses to store one call (as a constraint would), from outside helpline."""
    if database_url.startswith("sqlite://"):
        with sqlite3.connect(database_url.removeprefix("sqlite://")) as conn:
            conn.execute(REFUSE_SQLITE.format(id=linkedid))
        yield
        return
    conn = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(REFUSE_POSTGRES.format(id=linkedid))
        yield
    finally:
        await conn.execute("DROP TRIGGER IF EXISTS refuse_call ON phone_call; DROP FUNCTION IF EXISTS refuse_call()")
        await conn.close()


async def test_a_call_the_database_refuses_costs_no_other_call_of_its_burst(database_url: str) -> None:
    """The storm's facts are recorded in bursts (one transaction each). One call the database refuses fails its
    burst; the burst is then recorded fact by fact: that call is reported, every other call is there."""
    expected = truth(["d_storm200.calls.jsonl"])
    refused = sorted(expected)[100]
    async with database_refusing_call(database_url, refused):
        async with ReplayServer([AMI / "d_storm200.raw.gz"], username=USER, secret=SECRET) as server:
            async with running(settings_for(database_url, server.port)) as app:
                await until_replayed(server, app, len(expected) - 1)
                await assert_matches({k: v for k, v in expected.items() if k != refused})
                agents = AgentService()
                _, token = await agents.issue_token((await agents.create(login="sam", display_name="Sam")).id)
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://helpline") as http:
                    pbx = (await http.get("/api/v1/pbx", headers={"Authorization": f"Bearer {token}"})).json()
                shown = pbx["items"][0]
                assert shown["burst_fallbacks"] >= 1 and shown["facts_failed"] == 1 and shown["facts_applied"] > 400
                assert shown["events_ignored"] > shown["events_received"], "most of a storm is noise, skipped"


async def test_a_second_replay_of_the_same_calls_changes_nothing(database_url: str) -> None:
    recording = AMI / "c_concurrent20_mixed.raw"
    expected = truth(["c_concurrent20_mixed.calls.jsonl"])
    seen = []
    for _ in range(2):
        async with ReplayServer([recording], username=USER, secret=SECRET) as server:
            async with running(settings_for(database_url, server.port)) as app:
                await until_replayed(server, app, len(expected))
                await assert_matches(expected)
                seen.append((await Call.all().order_by("id").values_list("id", "ticket_id", "state", "updated_at"),
                             await Ticket.all().order_by("id").values_list("id", "version", "title")))
                assert app.state.pbx["main"].counters.facts_failed == 0
    assert seen[0] == seen[1], "the second replay changed calls or tickets"


@pytest.mark.parametrize("restart_helpline", [False, True], ids=["connection-drop", "helpline-restart"])
async def test_a_break_mid_stream_loses_and_doubles_nothing(database_url: str, restart_helpline: bool) -> None:
    """c cut at event 1500 (12 calls up): the connection drops (or helpline restarts) and comes back."""
    first, rest = split_recording(AMI / "c_concurrent20_mixed.raw", 1500)
    expected = truth(["c_concurrent20_mixed.calls.jsonl"])
    # a drop: the PBX cuts the connection after the first part; a restart: helpline stops after the first part
    sessions = [Session(first, drop_after=None if restart_helpline else first.events), Session(rest)]
    async with ReplayServer(sessions, username=USER, secret=SECRET) as server:
        settings = settings_for(database_url, server.port)
        if restart_helpline:
            async with running(settings) as first_app:
                await until_caught_up(server, first_app.state.pbx["main"], streams=1)
                assert 0 < await Call.filter(state="ended").count() < len(expected), "the cut falls mid-calls"
        async with running(settings) as app:
            await until_replayed(server, app, len(expected))
            await assert_matches(expected)
            assert app.state.pbx["main"].counters.resyncs >= 1


async def test_pbx_state_in_readyz_and_the_api_and_click_to_call(database_url: str) -> None:
    async with ReplayServer([None], username=USER, secret=SECRET) as server:
        async with running(settings_for(database_url, server.port)) as app:
            agents = AgentService()
            alice = await agents.create(login="alice", display_name="Alice", extension="101")
            bob = await agents.create(login="bob", display_name="Bob")
            tokens = {a.login: (await agents.issue_token(a.id))[1] for a in (alice, bob)}
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://helpline") as http:
                listener = app.state.pbx["main"]
                await listener.connection.wait_connected(GENEROUS)
                assert (await http.get("/readyz")).json() == {"status": "ready",
                                                               "checks": {"database": "ok", "pbx:main": "ok"}}
                h = {"Authorization": f"Bearer {tokens['alice']}"}
                pbx = (await http.get("/api/v1/pbx", headers=h)).json()["items"]
                assert pbx[0]["name"] == "main" and pbx[0]["state"] == "connected" and pbx[0]["fully_booted"]
                queued = await http.post("/api/v1/calls/originate", headers=h, json={"number": "+1 (555) 123-0001"})
                assert queued.status_code == 202 and queued.json() == {
                    "status": "queued", "pbx": "main", "extension": "101", "number": "+15551230001"}
                assert "Originate" in server.actions
                no_phone = await http.post("/api/v1/calls/originate", headers={"Authorization": f"Bearer {tokens['bob']}"},
                                           json={"number": "5551230001"})
                assert no_phone.status_code == 422 and no_phone.json()["type"].endswith("no-extension")
                server.drop()
                await server.close()
                await eventually(lambda: not listener.connection.connected, what="the listener sees the PBX gone")
                down = await http.post("/api/v1/calls/originate", headers=h, json={"number": "5551230001"})
                assert down.status_code == 503 and down.json()["type"].endswith("pbx-unavailable")
                ready = await http.get("/readyz")
                assert ready.status_code == 200 and ready.json()["status"] == "degraded"


async def test_a_wrong_secret_is_reported_not_hidden(database_url: str) -> None:
    async with ReplayServer([None], username=USER, secret=SECRET) as server:
        async with running(settings_for(database_url, server.port, secret="wrong")) as app:
            listener = app.state.pbx["main"]
            await eventually(lambda: listener.connection.status().state.value == "auth_failed",
                             what="the refused login shown")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://helpline") as http:
                ready = (await http.get("/readyz")).json()
            assert ready["status"] == "degraded"
            assert ready["checks"]["pbx:main"].startswith("auth_failed: ")
            assert "wrong" not in json.dumps(ready), "the secret is never shown"


async def test_two_pbx_side_by_side_keep_their_calls_apart(database_url: str) -> None:
    """The same recording from two Asterisk servers: same Linkedids, two PBX names, two sets of calls."""
    async with ReplayServer([AMI / "a_answered.raw"], username=USER, secret=SECRET) as one, \
            ReplayServer([AMI / "a_answered.raw"], username=USER, secret=SECRET) as two:
        settings = settings_for(database_url, one.port)
        second = settings.pbx[0].model_copy(update={"name": "branch", "port": two.port})
        settings = settings.model_copy(update={"pbx": [settings.pbx[0], second]})
        async with running(settings) as app:
            await until_replayed(one, app, 2)
            await until_caught_up(two, app.state.pbx["branch"])
            calls = await Call.all().order_by("pbx")
            assert [(c.pbx, c.linkedid, c.outcome.value) for c in calls] == [
                ("branch", "1795795766.0", "answered"), ("main", "1795795766.0", "answered")]
            # the same phone on both: the later call joins the earlier one's ticket, unless both arrive at the same
            # moment (then each opens its own); either way every ticket is opened by exactly one call
            if calls[0].ticket_id == calls[1].ticket_id:
                assert sorted([calls[0].opened_ticket, calls[1].opened_ticket]) == [False, True]
            else:
                assert calls[0].opened_ticket and calls[1].opened_ticket
