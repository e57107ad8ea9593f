"""The hardened AMI connection against the replay server over loopback: one test per panoramisk bug it handles,
plus ordering, back-pressure, reconnects and resync. Real panoramisk, real sockets, recorded Asterisk sessions."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import subprocess
import sys
import time

import panoramisk.utils
import pytest
from panoramisk import Manager

from pbx.backoff import Backoff
from pbx.connection import (
    READ_CLASSES,
    AmiActionError,
    AmiBadAction,
    AmiConnection,
    AmiDisconnected,
    AmiNotConnected,
    AmiTimeout,
    ConnectionState,
    SessionMarker,
)
from pbx.replay import Recording, ReplayServer, Session
from tests.support.ami import SECRET, USER, barrier, collect, connection, expected_events, flat, recording, take
from tests.support.paths import ROOT
from tests.support.waiting import GENEROUS, eventually


def server_for(*sessions: object, **kw: object) -> ReplayServer:
    kw.setdefault("username", USER)
    kw.setdefault("secret", SECRET)
    return ReplayServer(list(sessions), **kw)  # type: ignore[arg-type]


# -- delivery ---------------------------------------------------------------------------------------------------


async def test_every_event_arrives_in_order_with_its_headers() -> None:
    path = recording("c_concurrent20_mixed.raw")
    expected = expected_events(path)
    async with server_for(path) as server:
        conn = connection(server)
        tasks_before = len(asyncio.all_tasks())
        await conn.start(wait=GENEROUS)
        got = await collect(conn, len(expected) + 1)  # + the FullyBooted after login
        tasks_during = len(asyncio.all_tasks())
        status = conn.status()
        await conn.close()
    assert got[0].event == "FullyBooted"
    assert [flat(m) for m in got[1:]] == expected
    assert sum(1 for m in got if m.calleridname == "José Müller") > 50
    assert status.ready and status.state is ConnectionState.CONNECTED and status.asterisk_version == "11.0.0"
    assert status.events_received == len(expected) + 1
    assert (status.dropped_events, status.malformed_frames, status.invalid_utf8) == (0, 0, 0)
    assert tasks_during - tasks_before <= 4  # supervisor, watchdog, FullyBooted check: no task per event
    assert conn.state is ConnectionState.CLOSED


async def test_only_events_are_parsed_and_delivered_but_answers_always_arrive() -> None:
    """``only_events`` (the listener passes its tracker's events): the others are skipped before parsing and
    counted, also while an action waits for its answer; FullyBooted and Shutdown are always read, EventList answers
    (events with our ActionID) come back whole."""
    path = recording("f_resync_snapshot.raw")
    rec = Recording.load(path)
    wanted = {"Hangup", "QueueCallerJoin", "AgentComplete"}
    expected = [e for e in expected_events(path) if e.get("Event") in wanted]
    lists: list[list] = []
    pending: list[asyncio.Task] = []

    async def resync(conn: AmiConnection) -> None:
        # a Ping the server never answers stays pending while the live events stream
        pending.append(asyncio.create_task(conn.send_action({"Action": "Ping"}, timeout=5)))
        lists.append(await conn.send_list({"Action": "CoreShowChannels"}, timeout=2))

    async with server_for(path, unanswered=["Ping"]) as server:
        conn = connection(server, only_events=wanted, on_login=resync)
        assert conn.only_events == wanted | {"FullyBooted", "Shutdown"}
        await conn.start(wait=GENEROUS)
        await server.wait_for(lambda s: s.streams_done == 1)
        got = await collect(conn, len(expected) + 1)
        await barrier(conn, "Events")  # the ignored events after the last wanted one are counted by then
        status = conn.status()
        assert not pending[0].done()
        await conn.close()
        await asyncio.gather(*pending, return_exceptions=True)
    assert got[0].event == "FullyBooted"
    assert [flat(m) for m in got[1:]] == expected
    assert status.events_received == len(expected) + 1
    assert status.events_ignored == rec.events - len(expected) > 500
    assert [m.event for m in lists[0][1:]] == ["CoreShowChannel"] * 18 + ["CoreShowChannelsComplete"]


async def test_full_queue_drops_newest_events_and_counts_them() -> None:
    path = recording("a_answered.raw")
    total = len(expected_events(path)) + 1
    async with server_for(path) as server:
        conn = connection(server, queue_size=50)
        await conn.start(wait=GENEROUS)
        await server.wait_for(lambda s: s.streams_done == 1)
        await barrier(conn)
        status = conn.status()
        kept = take(conn)
        await conn.close()
    assert status.events_received == total
    assert status.dropped_events == total - 50
    assert status.queue_size == 50 and len(kept) == 50
    assert [flat(m) for m in kept[1:]] == expected_events(path)[:49]  # the oldest are kept, in order


# -- the panoramisk bugs, one test each --------------------------------------------------------------------------


async def test_utf8_split_across_tcp_reads_is_decoded() -> None:
    """Bug: panoramisk decodes every read on its own with errors='ignore' ("José" -> "Jos")."""
    path = recording("b3_all_agents_busy.raw")
    expected = expected_events(path)
    names = [e.get("CallerIDName") for e in expected]
    assert any(n and not n.isascii() for n in names)
    async with server_for(path, chunking="split-utf8") as server:
        conn = connection(server)
        await conn.start(wait=GENEROUS)
        got = await collect(conn, len(expected) + 1)
        await conn.close()
    assert [flat(m) for m in got[1:]] == expected
    assert conn.status().invalid_utf8 == 0


async def test_bare_panoramisk_drops_split_utf8_characters() -> None:
    """The same split stream through panoramisk's own protocol loses characters: the test above is not vacuous."""
    path = recording("b3_all_agents_busy.raw")
    expected = [{k.lower(): v for k, v in e.items()}.get("calleridname", "") for e in expected_events(path)]
    got: list[str] = []
    async with server_for(path, chunking="split-utf8") as server:
        manager = Manager(
            host="127.0.0.1", port=server.port, username=USER, secret=SECRET, ping_delay=3600, reconnect_timeout=3600
        )
        manager.register_event(
            "*",
            lambda _m, ev: (
                got.append(ev["CallerIDName"] if "CallerIDName" in ev else "") if ev.event != "FullyBooted" else None
            ),
        )
        await manager.connect()
        await server.wait_for(lambda s: s.streams_done == 1)
        await manager.send_action({"Action": "Ping"})  # answered after every event: all of them were read
        manager.close()
    assert len(got) == len(expected)
    assert expected.count("José Müller") > 10
    assert got == [name.replace("é", "").replace("ü", "") for name in expected]  # every split character lost


async def test_half_open_connection_is_detected_and_replaced() -> None:
    """Bug: panoramisk's pinger never looks at the answers, so a silent peer is never noticed."""
    async with server_for(recording("a_answered.raw")) as server:
        conn = connection(server, ping_interval=0.2, ping_timeout=0.3)
        await conn.start(wait=GENEROUS)
        await server.wait_for(lambda s: s.streams_done == 1)
        server.go_silent()
        started = time.monotonic()
        await server.wait_for(lambda s: s.logins == 2, timeout=5)  # a new connection, to an idle session
        await conn.wait_connected(GENEROUS)
        detected_after = time.monotonic() - started
        status = conn.status()
        await conn.close()
    assert "no answer to Ping within 0.3 s" in (status.last_error or "")
    assert status.reconnects == 1 and status.state is ConnectionState.CONNECTED
    assert detected_after < 2.0


async def test_close_stops_a_pending_reconnect() -> None:
    """Bug: panoramisk's close() leaves the call_later(connect) of a lost connection armed."""
    async with server_for(recording("a_answered.raw")) as server:
        conn = connection(server, backoff=Backoff(0.3, 0.3, jitter=0))
        await conn.start(wait=GENEROUS)
        server.drop()
        await eventually(lambda: conn.state is ConnectionState.DISCONNECTED)  # lost, reconnect due in 0.3 s
        await conn.close()
        await asyncio.sleep(0.6)  # past the moment the reconnect was due: that nothing happens then is the test
        assert server.connections == 1
    assert conn.state is ConnectionState.CLOSED


async def test_bare_panoramisk_reconnects_after_close() -> None:
    """Reproduces the bug the previous test guards against (1 s: panoramisk's smallest interval)."""
    async with server_for(recording("a_answered.raw")) as server:
        manager = Manager(
            host="127.0.0.1", port=server.port, username=USER, secret=SECRET, ping_delay=3600, reconnect_timeout=1
        )
        await manager.connect()
        await server.wait_for(lambda s: s.logins == 1)
        server.drop()
        await eventually(lambda: manager.protocol.closed)  # panoramisk saw the loss and armed its reconnect
        manager.close()
        await server.wait_for(lambda s: s.connections == 2, timeout=30)
        manager.close()
        if manager.protocol is not None:
            manager.protocol.transport.abort()


async def test_wrong_secret_is_reported_and_retried_slowly(caplog: pytest.LogCaptureFixture) -> None:
    """Bug: panoramisk re-logs in forever, silently, every reconnect_timeout."""
    caplog.set_level(logging.ERROR, logger="pbx.connection")
    async with server_for(recording("a_answered.raw")) as server:
        conn = connection(server, secret="wrong", auth_backoff=Backoff(0.4, 0.8, jitter=0))
        await conn.start()
        await server.wait_for(lambda s: s.auth_failures == 1)
        status = await eventually(lambda: conn.status().state is ConnectionState.AUTH_FAILED and conn.status())
        assert not status.ready
        assert "login refused for user 'helpline': Authentication failed" in (status.last_error or "")
        assert status.auth_failures == 1 and status.logins == 0
        assert any("Authentication failed" in r.getMessage() for r in caplog.records)
        with pytest.raises(AmiNotConnected, match="auth_failed"):
            await conn.send_action({"Action": "Ping"})
        second = await eventually(lambda: conn.status().auth_failures == 2 and conn.status())
        assert second.last_error_at - status.last_error_at >= 0.4  # retried, slowly (0.4 s, then 0.8 s)
        assert server.auth_failures == 2
        assert conn.state is ConnectionState.AUTH_FAILED  # still shown while retrying
        server.secret = "wrong"  # the admin fixes manager.conf: the next attempt gets in
        await conn.wait_connected(GENEROUS)
        assert conn.status().auth_failures == 2 and conn.state is ConnectionState.CONNECTED
        await conn.close()


async def test_actions_never_answered_time_out_and_are_forgotten() -> None:
    """Bug: an action without an answer (QueueAdd on some versions) is a future that never resolves."""
    async with server_for(None, unanswered=["QueueAdd"]) as server:
        conn = connection(server)
        await conn.start(wait=GENEROUS)
        started = time.monotonic()
        with pytest.raises(AmiTimeout, match="QueueAdd: no answer"):
            await conn.send_action({"Action": "QueueAdd", "Queue": "helpdesk", "Interface": "PJSIP/104"}, timeout=0.2)
        assert 0.2 <= time.monotonic() - started < 1
        assert conn._protocol is not None and not conn._protocol.responses  # nothing left waiting forever
        assert (await conn.send_action({"Action": "Ping"})).ping == "Pong"
        await conn.close()


async def test_pending_actions_fail_on_disconnect_and_are_never_resent() -> None:
    """Bug: panoramisk parks unanswered actions and re-sends them after the next FullyBooted, long after the
    caller gave up (a re-sent Originate is a surprise phone call)."""
    async with server_for(None, unanswered=["Originate"]) as server:
        conn = connection(server)
        await conn.start(wait=GENEROUS)
        call = asyncio.create_task(
            conn.send_action(
                {"Action": "Originate", "Channel": "PJSIP/101", "Exten": "5551230001", "Context": "it-line"}, timeout=5
            )
        )
        await server.wait_for(lambda s: "Originate" in s.actions)
        started = time.monotonic()
        server.drop()
        with pytest.raises(AmiDisconnected, match="Originate"):
            await call
        assert time.monotonic() - started < 0.5
        with pytest.raises(AmiNotConnected):
            await conn.send_action({"Action": "Ping"})
        await conn.wait_connected(GENEROUS)
        await eventually(lambda: conn.status().fully_booted is True, what="the new session's FullyBooted")
        assert server.actions.count("Originate") == 1
        assert not conn._manager.awaiting_actions
        await conn.close()


async def test_bare_panoramisk_parks_actions_for_a_resend() -> None:
    """Reproduces what the previous test guards against."""
    async with server_for(None, unanswered=["Originate"]) as server:
        manager = Manager(
            host="127.0.0.1", port=server.port, username=USER, secret=SECRET, ping_delay=3600, reconnect_timeout=3600
        )
        await manager.connect()
        await server.wait_for(lambda s: s.logins == 1)
        future = manager.send_action({"Action": "Originate", "Channel": "PJSIP/101"})
        await server.wait_for(lambda s: "Originate" in s.actions)
        server.drop()
        await eventually(lambda: manager.protocol.closed)  # panoramisk saw the loss
        assert not future.done()
        assert [a["Action"] for a in manager.awaiting_actions] == ["Originate"]
        manager.close()


async def test_missing_fully_booted_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    """Asterisk sends FullyBooted after a login only if the user may read `system` events; panoramisk needs it to
    resend, and without it Shutdown is not seen either: say so."""
    caplog.set_level(logging.WARNING, logger="pbx.connection")
    async with server_for(recording("b_abandoned.raw"), fully_booted=False) as server:
        conn = connection(server, fully_booted_timeout=0.3)
        await conn.start(wait=GENEROUS)
        assert conn.status().fully_booted is None
        await eventually(lambda: conn.status().fully_booted is not None, what="FullyBooted given up on")
        assert conn.status().fully_booted is False and conn.connected
        assert any(
            "'system' read class" in r.getMessage() and f"read = {READ_CLASSES})" in r.getMessage()
            for r in caplog.records
        )
        await conn.close()
    async with server_for(recording("b_abandoned.raw")) as server:
        conn = connection(server, fully_booted_timeout=0.3)
        await conn.start(wait=GENEROUS)
        await eventually(lambda: conn.status().fully_booted is not None, what="FullyBooted")
        assert conn.status().fully_booted is True
        await conn.close()


def test_one_list_of_read_classes_and_it_is_what_the_tracker_reads() -> None:
    """The login warning, ``helpline check``, docs/asterisk.md and the example manager.conf name the same AMI read
    classes (they did not: one said ``,user``), and those are exactly the classes of the events the call tracker
    reads, as a real Asterisk 22 labels them (``Privilege`` in the recordings); ``contexts`` adds ``dialplan``."""
    from pathlib import Path

    from pbx.frames import parse_frame
    from pbx.replay import session_events
    from pbx.tracker import CallTracker
    from web.cli.check_deps import read_classes
    from web.settings import PbxSettings

    privilege: dict[str, str] = {}
    for path in sorted(Path(recording("a_answered.raw")).parent.glob("*.raw")):
        for frame in session_events(path):
            event = parse_frame(frame)
            if event.get("Privilege"):
                privilege[event["Event"]] = event["Privilege"].split(",")[0]
    wanted = set(READ_CLASSES.split(","))
    assert {privilege[e] for e in CallTracker("t", ["helpdesk"]).event_names if e in privilege} == wanted
    assert {
        privilege[e] for e in CallTracker("t", ["helpdesk"], contexts=["it-line"]).event_names if e in privilege
    } == wanted | {"dialplan"}
    pbx = {"name": "main", "host": "pbx", "username": "helpline", "secret": "x", "queues": ["helpdesk"]}
    assert read_classes(PbxSettings.model_validate(pbx)) == READ_CLASSES
    assert read_classes(PbxSettings.model_validate({**pbx, "contexts": ["it-line"]})) == READ_CLASSES + ",dialplan"
    root = ROOT
    assert f"\nread = {READ_CLASSES}\n" in (root / "deploy" / "asterisk" / "manager_helpline.conf").read_text()
    docs = (root / "docs" / "asterisk.md").read_text()
    assert f"| `read = {READ_CLASSES}` |" in docs and f"`read = {READ_CLASSES},dialplan`" in docs


def test_importing_our_modules_leaves_panoramisk_eol_alone() -> None:
    """Bug: importing/using panoramisk.testing sets panoramisk.utils.EOL = '\\n' for the whole process."""
    import pbx
    import pbx.backoff
    import pbx.connection
    import pbx.frames
    import pbx.replay  # noqa: F401

    assert panoramisk.utils.EOL == "\r\n"
    assert "panoramisk.testing" not in sys.modules
    script = (
        "import pkgutil, importlib, sys, pbx, panoramisk.utils\n"
        "for m in pkgutil.iter_modules(pbx.__path__): importlib.import_module('pbx.' + m.name)\n"
        "ours = (panoramisk.utils.EOL, 'panoramisk.testing' in sys.modules)\n"
        "import asyncio, panoramisk.testing\n"
        "async def polluted():\n"
        "    panoramisk.testing.Manager(loop=asyncio.get_running_loop())\n"
        "    return panoramisk.utils.EOL\n"
        "print(repr((ours, asyncio.run(polluted()))))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == repr((("\r\n", False), "\n"))  # clean with ours; testing.Manager pollutes


async def test_a_polluted_eol_does_not_break_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even if something in the process did import panoramisk.testing, our framing and actions use CRLF."""
    monkeypatch.setattr(panoramisk.utils, "EOL", "\n")
    path = recording("b_abandoned.raw")
    async with server_for(path) as server:
        conn = connection(server)
        await conn.start(wait=GENEROUS)
        got = await collect(conn, len(expected_events(path)) + 1)
        assert (await conn.send_action({"Action": "Ping"})).ping == "Pong"
        await conn.close()
    assert [flat(m) for m in got[1:]] == expected_events(path)


# -- reconnecting ------------------------------------------------------------------------------------------------


def test_backoff_grows_exponentially_with_jitter_and_resets() -> None:
    backoff = Backoff(0.5, 8.0, rng=random.Random(7))
    delays = [backoff.next() for _ in range(8)]
    ceilings = [0.5, 1, 2, 4, 8, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings))
    assert len({round(d, 6) for d in delays[4:]}) == 4  # jittered, not a fixed interval
    backoff.reset()
    assert backoff.next() <= 0.5
    with pytest.raises(ValueError):
        Backoff(0, 1)


async def test_reconnects_with_backoff_until_the_pbx_is_up() -> None:
    probe = ReplayServer()
    await probe.start()
    port = probe.port
    await probe.close()
    conn = AmiConnection(
        "127.0.0.1", port, USER, SECRET, name="late", connect_timeout=1, backoff=Backoff(0.05, 0.4, jitter=0)
    )
    started = time.monotonic()
    await conn.start()
    status = await eventually(lambda: conn.status().connect_failures >= 3 and conn.status())  # refused, refused, ...
    assert time.monotonic() - started >= 0.05 + 0.1, "with backoff: attempts at ~0, 0.05, 0.15"
    assert status.state in (ConnectionState.DISCONNECTED, ConnectionState.CONNECTING)
    assert "cannot connect to 127.0.0.1" in (status.last_error or "")
    async with server_for(recording("b_abandoned.raw"), port=port):
        await conn.wait_connected(GENEROUS)
        assert conn.status().logins == 1
        await conn.close()


async def test_asterisk_restart_sequence_is_followed() -> None:
    """e: Shutdown then EOF, a reconnect that is reset without a banner, a reconnect during boot."""
    first, second, third = (recording(n) for n in ("e_restart.raw", "e_restart.conn2.raw", "e_restart.conn3.raw"))
    lost: list[str] = []
    async with server_for(first, second, third) as server:
        conn = connection(server, session_markers=True, on_disconnect=lambda _c, why: lost.append(why))
        await conn.start(wait=GENEROUS)
        await server.wait_for(lambda s: s.streams_done == 2, timeout=10)
        await barrier(conn)
        items = take(conn)
        status = conn.status()
        await conn.close()
    markers = [(i.kind, i.session) for i in items if isinstance(i, SessionMarker)]
    assert markers == [("login", 1), ("lost", 1), ("login", 2)]
    cut = next(n for n, i in enumerate(items) if isinstance(i, SessionMarker) and i.kind == "lost")
    session1 = [flat(i) for i in items[1:cut] if not isinstance(i, SessionMarker)]
    session2 = [flat(i) for i in items[cut + 2 :]]
    assert session1[1:] == expected_events(first) and session1[-1]["Event"] == "Shutdown"
    assert session2 == expected_events(third)  # no FullyBooted of ours: Asterisk was booting (its own one streams)
    assert lost == ["Asterisk shut down (Shutdown: Cleanly, Restart: True)"]
    assert status.logins == 2 and status.reconnects == 1 and status.connect_failures == 1
    assert status.fully_booted is True
    assert server.connections == 3


# -- resync and actions ------------------------------------------------------------------------------------------


async def test_on_login_runs_on_every_login_and_event_lists_come_back_whole() -> None:
    snapshots: list[dict[str, list]] = []

    async def resync(conn: AmiConnection) -> None:
        channels = await conn.send_list({"Action": "CoreShowChannels"}, timeout=2)
        queues = await conn.send_list({"Action": "QueueStatus"}, timeout=2)
        snapshots.append({"channels": channels, "queues": queues})

    path = recording("f_resync_snapshot.raw")
    rec = Recording.load(path)
    async with server_for(path) as server:
        conn = connection(server, on_login=resync)
        await conn.start(wait=GENEROUS)
        await server.wait_for(lambda s: s.streams_done == 1)
        events = await collect(conn, rec.events + 1)
        server.drop()
        await server.wait_for(lambda s: s.logins == 2)
        await eventually(lambda: len(snapshots) == 2, what="the resync after the second login")
        with pytest.raises(AmiActionError, match="Invalid/unknown command"):
            await conn.send_list({"Action": "QueueRule"})
        await conn.close()
    assert len(snapshots) == 2
    channels = snapshots[0]["channels"]
    assert channels[0].response == "Success" and channels[0].eventlist == "start"
    assert channels[-1].event == "CoreShowChannelsComplete" and channels[-1].listitems == "18"
    items = channels[1:-1]
    assert [m.event for m in items] == ["CoreShowChannel"] * 18
    assert [flat(m) for m in items] == [
        {**i, "ActionID": channels[0].actionid} for i in rec.snapshots["coreshowchannels"].items
    ]
    queues = snapshots[0]["queues"]
    assert [m.event for m in queues[1:]] == ["QueueParams"] + ["QueueMember"] * 3 + ["QueueEntry"] * 3 + [
        "QueueStatusComplete"
    ]
    assert [len(s["channels"]) for s in snapshots] == [20, 2]  # the idle session after the drop: an empty list
    assert all(m.event != "CoreShowChannel" for m in events)  # list items are answers, not queued events
    assert {m.get("Event") for m in events} >= {"FullyBooted", "Hangup", "AgentComplete"}


async def test_originate_returns_when_queued_not_when_answered() -> None:
    """panoramisk waits for OriginateResponse for an async Originate (#37/#88); click-to-call wants the ack."""
    async with server_for(None) as server:
        conn = connection(server)
        await conn.start(wait=GENEROUS)
        response = await conn.send_action(
            {
                "Action": "Originate",
                "Channel": "PJSIP/101",
                "Exten": "5551230001",
                "Context": "from-internal",
                "Priority": "1",
                "Async": "true",
            },
            timeout=1,
        )
        assert response.success and response.message == "Originate successfully queued"
        for bad in (
            {"Action": "Originate", "Exten": "555\r\nAction: Logoff"},
            {"Action": "Originate", "Exten": "5\n5"},
            {"Action": "Originate", "CallerID": "x\x00y"},
            {"Action": "Originate", "Bad\r\nKey": "1"},
            {"Action": "Originate", "Variable": ["A=1", "B=2\rAction: Logoff"]},
        ):
            with pytest.raises(AmiBadAction, match="line break"):  # an AmiError: callers handle it like the others
                await conn.send_action(bad)
        assert server.actions.count("Originate") == 1 and "Logoff" not in server.actions and conn.connected
        await conn.close()


async def test_status_is_ready_for_readyz_and_metrics() -> None:
    async with server_for(None) as server:
        conn = connection(server, name="main")
        assert conn.status().state is ConnectionState.DISCONNECTED
        await conn.start(wait=GENEROUS)
        data = conn.status().as_dict()
        await conn.close()
    json.dumps(data)
    assert data["state"] == "connected" and data["ready"] is True and data["name"] == "main"
    assert set(data) >= {
        "last_error",
        "reconnects",
        "events_received",
        "malformed_frames",
        "dropped_events",
        "invalid_utf8",
        "oversized_frames",
        "queue_size",
        "fully_booted",
        "connect_failures",
    }
    assert conn.status().as_dict()["state"] == "closed"


async def test_session_is_not_consumed_by_a_refused_login() -> None:
    path = recording("b_abandoned.raw")
    async with server_for(Session.of(path)) as server:
        bad = connection(server, secret="nope")
        await bad.start()
        await server.wait_for(lambda s: s.auth_failures == 1)
        await bad.close()
        good = connection(server)
        await good.start(wait=GENEROUS)
        got = await collect(good, len(expected_events(path)) + 1)
        await good.close()
    assert got[-1].event == expected_events(path)[-1]["Event"]


def test_pbx_imports_nothing_of_helpline() -> None:
    """pbx/ depends on the standard library, panoramisk and itself only (docs/architecture.md)."""
    import ast
    from pathlib import Path

    import pbx

    ours = {"tickets", "web", "notify", "directory"}
    for path in Path(pbx.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not {n.split(".")[0] for n in names} & ours, f"{path.name} imports {names}"
