"""The whole PBX path on both databases: recorded Asterisk sessions -> AMI -> tracker -> intake -> calls and tickets.

Each lab recording is replayed by the local AMI server to the real listener inside the real app, and the calls
that end up in the database are compared with the recording's ground truth (``*.calls.jsonl``): across Asterisk's
restart, a dropped connection, a helpline restart, and a second replay of the same calls.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from tortoise.transactions import in_transaction

from pbx.frames import parse_frame
from pbx.replay import Recording, ReplayServer, Session, session_events
from pbx.tracker import CallTracker
from tests.support.ami import AMI, SECRET, USER, recording_at, split_recording, until_caught_up
from tests.support.chaos import until
from tests.support.servers import free_port
from tests.support.telephony import OUTCOME, running, settings_for, truth, until_replayed
from tests.support.waiting import GENEROUS, eventually
from tickets.agent_service import AgentService
from tickets.calls.intake import CallIntake
from tickets.models import Call, Role, Ticket
from tickets.ticket_service import TicketService
from web.runtime import db, runtime_of
from web.settings import Settings

CASES = {
    "a": (["a_answered.raw"], ["a_answered.calls.jsonl"]),
    "b": (["b_abandoned.raw"], ["b_abandoned.calls.jsonl"]),
    "b2": (["b2_abandoned_while_ringing.raw"], ["b2_abandoned_while_ringing.calls.jsonl"]),
    "b3": (["b3_all_agents_busy.raw"], ["b3_all_agents_busy.calls.jsonl"]),
    "c": (["c_concurrent20_mixed.raw"], ["c_concurrent20_mixed.calls.jsonl"]),
    "d": (["d_storm200.raw.gz"], ["d_storm200.calls.jsonl"]),
    "e": (
        ["e_restart.raw", "e_restart.conn2.raw", "e_restart.conn3.raw"],
        ["e_restart.pre.calls.jsonl", "e_restart.post.calls.jsonl"],
    ),
    "f": (["f_resync_snapshot.raw"], ["f_resync_snapshot.calls.jsonl"]),
}


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
        if row["outcome"] == "interrupted":  # talking (answered, with its agent) or waiting when it was cut off
            assert (call.answered_at is not None) is (row["t_connect"] is not None), (linkedid, row)
            assert call.agent_name == (row["agent"] or None) and call.ended_by is None, (linkedid, row)
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
            assert runtime_of(app).pbx["main"].connection.status().events_ignored > 0


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
                seen.append(
                    (
                        await Call.all().order_by("id").values_list("id", "ticket_id", "state", "updated_at"),
                        await Ticket.all().order_by("id").values_list("id", "version", "title"),
                    )
                )
                assert runtime_of(app).pbx["main"].counters.facts_failed == 0
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
                await until_caught_up(server, runtime_of(first_app).pbx["main"], streams=1)
                assert 0 < await Call.filter(state="ended").count() < len(expected), "the cut falls mid-calls"
        async with running(settings) as app:
            await until_replayed(server, app, len(expected))
            await assert_matches(expected)
            assert runtime_of(app).pbx["main"].counters.resyncs >= 1


async def test_pbx_state_in_the_status_and_the_api_and_click_to_call(database_url: str) -> None:
    async with ReplayServer([None], username=USER, secret=SECRET) as server:
        async with running(settings_for(database_url, server.port)) as app:
            agents = AgentService()
            alice = await agents.create(login="alice", display_name="Alice", extension="101")
            bob = await agents.create(login="bob", display_name="Bob")
            sam = await agents.create(login="sam", display_name="Sam", role=Role.SUPERVISOR)
            tokens = {a.login: (await agents.issue_token(a.id))[1] for a in (alice, bob, sam)}
            supervisor = {"Authorization": f"Bearer {tokens['sam']}"}
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://helpline") as http:
                listener = runtime_of(app).pbx["main"]
                await listener.connection.wait_connected(GENEROUS)
                assert (await http.get("/readyz")).json() == {"status": "ready"}
                assert (await http.get("/api/v1/status", headers=supervisor)).json() == {
                    "status": "ready",
                    "checks": {"database": "ok", "pbx:main": "ok"},
                }
                h = {"Authorization": f"Bearer {tokens['alice']}"}
                pbx = (await http.get("/api/v1/pbx", headers=h)).json()["items"]
                assert pbx[0]["name"] == "main" and pbx[0]["state"] == "connected" and pbx[0]["fully_booted"]
                queued = await http.post("/api/v1/calls/originate", headers=h, json={"number": "+1 (555) 123-0001"})
                assert queued.status_code == 202 and queued.json() == {
                    "status": "queued",
                    "pbx": "main",
                    "extension": "101",
                    "number": "+15551230001",
                }
                assert "Originate" in server.actions
                no_phone = await http.post(
                    "/api/v1/calls/originate",
                    headers={"Authorization": f"Bearer {tokens['bob']}"},
                    json={"number": "5551230001"},
                )
                assert no_phone.status_code == 422 and no_phone.json()["type"].endswith("no-extension")
                server.drop()
                await server.close()
                await eventually(lambda: not listener.connection.connected, what="the listener sees the PBX gone")
                down = await http.post("/api/v1/calls/originate", headers=h, json={"number": "5551230001"})
                assert down.status_code == 503 and down.json()["type"].endswith("pbx-unavailable")
                ready = await http.get("/readyz")
                assert ready.status_code == 200 and ready.json() == {"status": "ready"}, "intake still works"
                status = (await http.get("/api/v1/status", headers=supervisor)).json()
                assert status["status"] == "degraded" and status["checks"]["pbx:main"] != "ok"


async def test_click_to_call_with_line_breaks_in_stored_agent_data_is_never_a_500(database_url: str) -> None:
    """An agent's name or extension stored with CR/LF (before the API refused them, or written by another tool):
    the name reaches Asterisk's caller ID without the line break; an extension the AMI layer refuses to send is a
    422 problem. No header is ever injected into AMI, and the connection stays up."""
    async with ReplayServer([None], username=USER, secret=SECRET) as server:
        async with running(settings_for(database_url, server.port)) as app:
            agents = AgentService()
            eve = await agents.create(login="eve", display_name="Eve\r\nAction: Logoff\r\n\u2028Ops", extension="104")
            mallory = await agents.create(login="mallory", display_name="Mallory", extension="105\r\nAction: Logoff")
            tokens = {a.login: (await agents.issue_token(a.id))[1] for a in (eve, mallory)}
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://helpline") as http:
                listener = runtime_of(app).pbx["main"]
                await listener.connection.wait_connected(5)
                queued = await http.post(
                    "/api/v1/calls/originate",
                    json={"number": "5551230001"},
                    headers={"Authorization": f"Bearer {tokens['eve']}"},
                )
                assert queued.status_code == 202, queued.text
                (sent,) = [a for a in server.received if a.get("Action") == "Originate"]
                assert sent["CallerID"] == '"Eve Action: Logoff Ops" <104>'
                refused = await http.post(
                    "/api/v1/calls/originate",
                    json={"number": "5551230001"},
                    headers={"Authorization": f"Bearer {tokens['mallory']}"},
                )
                assert refused.status_code == 422, refused.text
                assert refused.headers["content-type"] == "application/problem+json"
                assert refused.json()["type"].endswith("invalid-call-request") and "Channel" in refused.json()["detail"]
                assert "Logoff" not in server.actions and server.actions.count("Originate") == 1
                assert listener.connection.connected
                again = await http.post(
                    "/api/v1/calls/originate",
                    json={"number": "5551230002"},
                    headers={"Authorization": f"Bearer {tokens['eve']}"},
                )
                assert again.status_code == 202 and server.actions.count("Originate") == 2


async def test_a_wrong_secret_is_reported_not_hidden(database_url: str) -> None:
    async with ReplayServer([None], username=USER, secret=SECRET) as server:
        async with running(settings_for(database_url, server.port, secret="wrong")) as app:
            listener = runtime_of(app).pbx["main"]
            await eventually(
                lambda: listener.connection.status().state.value == "auth_failed", what="the refused login shown"
            )
            agents = AgentService()
            sam = await agents.create(login="sam", display_name="Sam", role=Role.SUPERVISOR)
            token = (await agents.issue_token(sam.id))[1]
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://helpline") as http:
                ready = (await http.get("/api/v1/status", headers={"Authorization": f"Bearer {token}"})).json()
            assert ready["status"] == "degraded"
            assert ready["checks"]["pbx:main"].startswith("auth_failed: ")
            assert "wrong" not in json.dumps(ready), "the secret is never shown"


async def test_readyz_tells_the_internet_nothing_about_the_pbx(database_url: str) -> None:
    """/readyz is public (a load balancer's probe): it said which internal host:port the PBX is at and why it
    failed. Now it says ready or not ready; the details need a supervisor's token."""
    port = free_port()  # nobody listens there: the connection fails with the address in its error
    async with running(settings_for(database_url, port)) as app:
        listener = runtime_of(app).pbx["main"]
        await eventually(lambda: listener.connection.status().last_error, what="the failed connection's error")
        assert f"127.0.0.1:{port}" in (listener.connection.status().last_error or "")
        agents = AgentService()
        made = {
            login: await agents.create(login=login, display_name=login.title(), role=role)
            for login, role in (("alice", Role.AGENT), ("sam", Role.SUPERVISOR), ("ada", Role.ADMIN))
        }
        tokens = {login: (await agents.issue_token(a.id))[1] for login, a in made.items()}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://helpline") as http:
            for probe in ("/readyz", "/readyz?verbose=1"):
                ready = await http.get(probe)
                assert ready.status_code == 200 and ready.json() == {"status": "ready"}, ready.text
                assert str(port) not in ready.text and "127.0.0.1" not in ready.text
            assert (await http.get("/api/v1/status")).status_code == 401
            assert (
                await http.get("/api/v1/status", headers={"Authorization": f"Bearer {tokens['alice']}"})
            ).status_code == 403
            for login in ("sam", "ada"):
                status = await http.get("/api/v1/status", headers={"Authorization": f"Bearer {tokens[login]}"})
                assert status.status_code == 200 and status.json()["status"] == "degraded"
                assert f"127.0.0.1:{port}" in status.json()["checks"]["pbx:main"]


async def test_two_pbx_side_by_side_keep_their_calls_apart(database_url: str) -> None:
    """The same recording from two Asterisk servers: same Linkedids, two PBX names, two sets of calls."""
    async with (
        ReplayServer([AMI / "a_answered.raw"], username=USER, secret=SECRET) as one,
        ReplayServer([AMI / "a_answered.raw"], username=USER, secret=SECRET) as two,
    ):
        settings = settings_for(database_url, one.port)
        second = settings.pbx[0].model_copy(update={"name": "branch", "port": two.port})
        settings = settings.model_copy(update={"pbx": [settings.pbx[0], second]})
        async with running(settings) as app:
            await until_replayed(one, app, 2)
            await until_caught_up(two, runtime_of(app).pbx["branch"])
            calls = await Call.all().order_by("pbx")
            assert [(c.pbx, c.linkedid, c.outcome.value) for c in calls] == [
                ("branch", "1795795766.0", "answered"),
                ("main", "1795795766.0", "answered"),
            ]
            # the same phone on both: the later call joins the earlier one's ticket, unless both arrive at the same
            # moment (then each opens its own); either way every ticket is opened by exactly one call
            if calls[0].ticket_id == calls[1].ticket_id:
                assert sorted([calls[0].opened_ticket, calls[1].opened_ticket]) == [False, True]
            else:
                assert calls[0].opened_ticket and calls[1].opened_ticket


# -- issue 13: close-out, clocks, restarts, contexts ------------------------------------------------------------


async def ended_calls(pbx: str = "main") -> int:
    return await Call.filter(pbx=pbx, state="ended").count()


async def test_calls_left_open_for_weeks_are_closed_out_at_the_next_resync(database_url: str) -> None:
    """Calls recorded as up 40 and 400 days ago (the listener following them went away for good): the next login
    finds none of them on the PBX and closes each out, whatever its age; the answered one as answered."""
    now = datetime.now(UTC)
    await db.open_orm(settings_for(database_url, 1).database)
    try:
        intake = CallIntake(TicketService())
        for pbx, linkedid, days in (
            ("main", "old.1", 40),
            ("main", "old.2", 400),
            ("main", "old.3", 40),
            ("branch", "old.4", 40),
        ):
            await intake.offered(
                pbx=pbx,
                linkedid=linkedid,
                at=now - timedelta(days=days),
                caller_number="+15551230001",
                caller_name="Alice",
                queue="helpdesk",
            )
        await intake.answered(
            pbx="main",
            linkedid="old.3",
            at=now - timedelta(days=40),
            agent_name="Alice Agent",
            agent_extension="101",
            wait_seconds=3,
        )
    finally:
        await db.close_orm()
    async with ReplayServer([None], username=USER, secret=SECRET) as server:  # an Asterisk with no call up
        async with running(settings_for(database_url, server.port)) as app:
            await until("the three old calls are closed out", lambda: _at_least(ended_calls(), 3), timeout=30)
            outcomes = dict(await Call.all().values_list("linkedid", "outcome"))
            assert outcomes == {"old.1": "interrupted", "old.2": "interrupted", "old.3": "answered", "old.4": None}
            assert runtime_of(app).pbx["main"].counters.closed_out == 3, "another PBX's calls are not this one's"


async def _at_least(count: Awaitable[int], wanted: int) -> bool:
    return await count >= wanted


async def test_the_close_out_reads_only_the_open_calls_through_an_index(orm: Settings) -> None:
    """The close-out runs at every resync over a table that grows forever: it must not scan it."""
    from tortoise import connections

    from tickets.calls.intake import OPEN_STATES

    sql = Call.filter(pbx="main", state__in=OPEN_STATES).values_list("linkedid").sql(params_inline=True)
    conn = connections.get("default")
    if orm.database.is_sqlite:
        plan = " ".join(str(row[-1]) for row in (await conn.execute_query(f"EXPLAIN QUERY PLAN {sql}"))[1])
    else:
        async with in_transaction() as tx:  # a tiny table: ask whether the index can serve, not whether it is cheaper
            await tx.execute_script("SET LOCAL enable_seqscan = off")
            plan = " ".join(str(row[0]) for row in (await tx.execute_query(f"EXPLAIN {sql}"))[1])
    assert "call_pbx_state_idx" in plan, plan


async def test_an_old_recording_is_recorded_on_our_clock_with_sane_waits(database_url: str, tmp_path: Path) -> None:
    """c with its Asterisk clock 10 days behind ours, cut at event 1500 (12 calls up, some waiting): the connection
    drops there and, back, the PBX still has the calls up. The calls are recorded at the time they happened here,
    with Asterisk's own durations, and the queue board never shows a 10-day wait (it showed 243:37:45)."""
    started = datetime.now(UTC)
    path = recording_at("c_concurrent20_mixed.raw", time.time() - 10 * 86400, tmp_path)
    first, rest = split_recording(path, 1500)
    still_up = Recording(rest.path, b"", [], None, True, False, rest.snapshots)  # nothing happens after the blip
    async with ReplayServer(
        [Session(first, drop_after=first.events), Session(still_up)], username=USER, secret=SECRET
    ) as server:
        async with running(settings_for(database_url, server.port)) as app:
            listener = runtime_of(app).pbx["main"]
            await until("the resync after the blip", lambda: listener.counters.resyncs >= 2, timeout=30)
            assert rest.snapshots["queuestatus"].items, "some callers wait across the blip"

            def board() -> list[dict[str, Any]]:
                return [m.data for m in runtime_of(app).live.recent if m.type == "queue.stats"]

            await until("the board after the resync", lambda: any(s["waiting"] for s in board()[-1:]), timeout=30)
            calls = await Call.all()
        now = datetime.now(UTC)
        shown = [s["longest_wait_seconds"] for s in board()]
        assert shown and max(shown) <= 120, f"the board showed waits of {max(shown)} s"
        assert len(calls) == 20
        for call in calls:
            assert started - timedelta(seconds=60) <= call.started_at <= now + timedelta(seconds=60), call.started_at
            assert call.wait_seconds is None or 0 <= call.wait_seconds <= 120, (call.linkedid, call.wait_seconds)
            if call.ended_at is not None:
                assert call.started_at <= call.ended_at <= now + timedelta(seconds=60), call.linkedid
        assert listener.tracker.clock_shift > timedelta(days=9)


def restart_frames() -> list[dict[str, str]]:
    """e_restart's events up to where ``core restart`` begins: its first hang-up for the shutdown
    (``SoftHangupRequest``, ``Cause: 4``)."""
    frames = [parse_frame(f) for f in session_events(AMI / "e_restart.raw")]
    cut = next(i for i, f in enumerate(frames) if f.get("Event") == "SoftHangupRequest" and f.get("Cause") == "4")
    return frames[:cut]


async def test_a_crash_cuts_the_calls_off_where_asterisk_was_last_heard(database_url: str) -> None:
    """e as a ``kill -9`` leaves it: 3 calls talking and 3 waiting, then the connection drops, no hangup, no
    Shutdown. Asterisk comes back booting (e_restart.conn3: reset once, then its FullyBooted comes after our
    login) without those calls. Each is INTERRUPTED, ended at Asterisk's last event before the crash, not at our
    reconnect: the talking ones keep their agent and a talk time up to then; nothing counts as abandoned. The
    2 calls after the restart are recorded as usual."""
    before = truth(["e_restart.pre.calls.jsonl"])
    after = truth(["e_restart.post.calls.jsonl"])
    frames = restart_frames()
    first, _ = split_recording(AMI / "e_restart.raw", len(frames))
    names = CallTracker("main", ["helpdesk"]).event_names
    last = max(float(f["Timestamp"]) for f in frames if f.get("Event") in names and "Timestamp" in f)
    sessions = [Session(first, drop_after=first.events), AMI / "e_restart.conn2.raw", AMI / "e_restart.conn3.raw"]
    async with ReplayServer(sessions, username=USER, secret=SECRET) as server:
        async with running(settings_for(database_url, server.port)):
            await until("every call ended", lambda: _at_least(ended_calls(), len(before) + len(after)), timeout=60)
            calls = {c.linkedid: c for c in await Call.all()}
    assert sorted(calls) == sorted({**before, **after})
    for linkedid, row in before.items():
        call = calls[linkedid]
        assert call.outcome is not None and call.outcome.value == "interrupted", (linkedid, call.outcome)
        assert call.ended_at is not None and call.ended_by is None
        # on our clock, with Asterisk's durations: the end is as far from the join as the last event was
        joined = float(
            next(
                f["Timestamp"] for f in frames if f.get("Event") == "QueueCallerJoin" and f.get("Linkedid") == linkedid
            )
        )
        assert abs((call.ended_at - call.started_at).total_seconds() - (last - joined)) < 0.01, linkedid
        if row["t_connect"] is not None:
            assert call.answered_at is not None and call.agent_name == row["agent"]
            assert call.talk_seconds == round((call.ended_at - call.answered_at).total_seconds())
        else:
            assert call.answered_at is None and call.talk_seconds is None
    for linkedid in after:
        assert calls[linkedid].outcome is not None and calls[linkedid].outcome.value == "answered"
    assert not [c for c in calls.values() if c.outcome is not None and c.outcome.value == "abandoned"]


async def test_calls_offered_by_context_get_the_queue_they_enter(database_url: str) -> None:
    """With ``contexts``, c's calls are offered from the it-line context, before any queue: each Call row and its
    live events then carry the queue it entered; an agent in no queue gets none of their pops, a member of the
    queue gets its calls, a supervisor everything."""
    from web.live.audience import for_agent

    expected = truth(["c_concurrent20_mixed.calls.jsonl"])
    async with ReplayServer([AMI / "c_concurrent20_mixed.raw"], username=USER, secret=SECRET) as server:
        settings = settings_for(database_url, server.port)
        pbx = settings.pbx[0].model_copy(update={"contexts": ["it-line"]})
        async with running(settings.model_copy(update={"pbx": [pbx]})) as app:
            await until("every call ended", lambda: _at_least(ended_calls(), len(expected)), timeout=60)
            queues = dict(await Call.all().values_list("linkedid", "queue"))
            messages = list(runtime_of(app).live.recent)
            registry = runtime_of(app).live.queues
            agents = AgentService()
            dave = await agents.create(login="dave", display_name="Dave", extension="104")  # in no queue
            bob = await agents.create(login="bob", display_name="Bob Agent", extension="102")  # a member
            sam = await agents.create(login="sam", display_name="Sam", role=Role.SUPERVISOR)
    assert queues == {linkedid: "helpdesk" for linkedid in expected}
    offered = {m.data["linkedid"]: m.data["queue"] for m in messages if m.type == "call.offered"}
    queued = {m.data["linkedid"]: m.data["queue"] for m in messages if m.type == "call.queued"}
    assert len(offered) == 20 and len(queued) >= 15, "most calls are offered from the context, in no queue yet"
    # a caller without caller ID is offered only when it reaches the queue (with it)
    assert {lid: queued.get(lid) or queue for lid, queue in offered.items()} == queues
    assert all(offered[lid] is None for lid in queued)
    assert {m.data["queue"] for m in messages if m.type in ("call.ringing", "call.answered")} == {"helpdesk"}
    pops = [m for m in messages if m.type in ("call.offered", "call.queued", "call.ringing", "call.answered")]
    assert not [m for m in pops if for_agent(m, dave, registry) is not None], "dave is in no queue"
    assert all(for_agent(m, sam, registry) is m for m in pops)
    seen_by_bob = [m for m in pops if for_agent(m, bob, registry) is not None]
    assert {m.type for m in seen_by_bob} == {"call.offered", "call.queued", "call.ringing", "call.answered"}
    assert all(m.data["queue"] == "helpdesk" for m in seen_by_bob), "not before the call is in his queue"
    assert len(seen_by_bob) < len(pops)
