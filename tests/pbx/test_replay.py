"""The AMI replay server: protocol, recorded bytes and pacing, session sequences, the CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pbx import actions
from pbx.frames import END, format_frame, parse_frame, read_recording
from pbx.replay import BANNER, Recording, ReplayServer, Session
from tests.support.ami import SECRET, USER, collect, connection, expected_events, flat, recording
from tests.support.waiting import GENEROUS


class RawClient:
    """A bare socket client, to look at exactly what the server sends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, server: ReplayServer) -> RawClient:
        return cls(*await asyncio.open_connection("127.0.0.1", server.port))

    def send(self, **headers: str) -> None:
        self.writer.write(format_frame(headers))

    async def frame(self) -> dict[str, str]:
        data = await asyncio.wait_for(self.reader.readuntil(END), 2)
        return parse_frame(data[:-4])

    async def login(self, secret: str = SECRET, **extra: str) -> list[dict[str, str]]:
        assert await asyncio.wait_for(self.reader.readuntil(b"\r\n"), 2) == BANNER
        self.send(Action="Login", Username=USER, Secret=secret, ActionID="L1", **extra)
        return [await self.frame()]

    async def rest(self) -> bytes:
        return await asyncio.wait_for(self.reader.read(), 5)

    def close(self) -> None:
        self.writer.close()


def server_for(*sessions: object, **kw: object) -> ReplayServer:
    kw.setdefault("username", USER)
    kw.setdefault("secret", SECRET)
    return ReplayServer(list(sessions), **kw)  # type: ignore[arg-type]


# -- the protocol ------------------------------------------------------------------------------------------------


async def test_login_ping_unknown_logoff_like_asterisk() -> None:
    async with server_for(None) as server:
        client = await RawClient.open(server)
        assert await asyncio.wait_for(client.reader.readuntil(b"\r\n"), 2) == b"Asterisk Call Manager/11.0.0\r\n"
        client.send(Action="Ping", ActionID="p0")
        assert await client.frame() == {"Response": "Error", "ActionID": "p0", "Message": "Authentication Required"}
        client.send(Action="Login", Username=USER, Secret=SECRET, ActionID="L1")
        assert await client.frame() == {"Response": "Success", "ActionID": "L1", "Message": "Authentication accepted"}
        booted = await client.frame()
        assert booted["Event"] == "FullyBooted" and booted["Status"] == "Fully Booted"
        client.send(Action="Ping", ActionID="p1")
        pong = await client.frame()
        assert (pong["Response"], pong["ActionID"], pong["Ping"]) == ("Success", "p1", "Pong") and pong["Timestamp"]
        client.send(Action="SIPpeers", ActionID="x")
        assert await client.frame() == {"Response": "Error", "ActionID": "x", "Message": "Invalid/unknown command"}
        client.send(Action="Originate", ActionID="o", Channel="PJSIP/101", Exten="100", Context="c", Priority="1")
        assert await client.frame() == {
            "Response": "Success",
            "ActionID": "o",
            "Message": "Originate successfully queued",
        }
        client.send(Action="Logoff", ActionID="bye")
        assert await client.frame() == {"Response": "Goodbye", "ActionID": "bye", "Message": "Thanks for all the fish."}
        assert await client.rest() == b""
    assert server.logins == 1


async def test_wrong_secret_gets_an_error_and_the_connection_is_closed() -> None:
    async with server_for(recording("a_answered.raw")) as server:
        client = await RawClient.open(server)
        answer = await client.login(secret="nope")
        assert answer == [{"Response": "Error", "ActionID": "L1", "Message": "Authentication failed"}]
        assert await client.rest() == b""
        assert (server.auth_failures, server.logins) == (1, 0)


async def test_replayed_bytes_are_the_recorded_ones() -> None:
    """After the server's own banner, login answer and FullyBooted comes the recording byte for byte (minus the
    recorder's own responses), and a session that ended by EOF (Shutdown) is closed."""
    path = recording("e_restart.raw")
    raw = read_recording(path)
    async with server_for(path) as server:
        client = await RawClient.open(server)
        await client.login()
        assert (await client.frame())["Event"] == "FullyBooted"
        streamed = await client.rest()
    assert streamed == Recording.load(path).stream
    assert raw.endswith(streamed) and streamed.endswith(
        b"Event: Shutdown\r\nPrivilege: system,all\r\n"
        b"Timestamp: 1795796237.284488\r\nShutdown: Cleanly\r\n"
        b"Restart: True\r\n\r\n"
    )
    assert raw.index(streamed) == raw.index(b"Event: SuccessfulAuth")


@pytest.mark.parametrize("chunking", ["recorded", "frames", "split-utf8"])
async def test_every_chunking_delivers_the_same_bytes(chunking: str) -> None:
    path = recording("b3_all_agents_busy.raw")
    async with server_for(Session(Recording.load(path), chunking=chunking)) as server:  # type: ignore[arg-type]
        client = await RawClient.open(server)
        await client.login()
        await client.frame()
        await server.wait_for(lambda s: s.streams_done == 1)
        client.send(Action="Logoff")
        data = await client.rest()
    assert data.startswith(Recording.load(path).stream) and data.endswith(
        b"Response: Goodbye\r\nMessage: Thanks for all the fish.\r\n\r\n"
    )
    assert server.events_sent == len(expected_events(path))


async def test_recorded_session_sequence_with_a_reset_in_the_middle() -> None:
    """e: the first session ends with Shutdown and EOF, the second connection is reset without a banner, the third
    logs in during boot (so no FullyBooted right after the login: Asterisk's own comes in the stream)."""
    names = ("e_restart.raw", "e_restart.conn2.raw", "e_restart.conn3.raw")
    async with server_for(*(recording(n) for n in names)) as server:
        first = await RawClient.open(server)
        await first.login()
        await first.frame()
        assert (await first.rest()).endswith(b"Restart: True\r\n\r\n")
        second = await RawClient.open(server)
        try:
            assert await asyncio.wait_for(second.reader.read(), 2) == b""
        except ConnectionResetError:
            pass
        third = await RawClient.open(server)
        await third.login()
        await server.wait_for(lambda s: s.streams_done == 2)  # the reset connection streams nothing
        third.send(Action="Logoff")
        data = await third.rest()
        assert data.startswith(Recording.load(recording(names[2])).stream)
        assert b"Event: FullyBooted\r\nPrivilege: system,all\r\nTimestamp: " in data  # the boot-time one
        fourth = await RawClient.open(server)  # after the sequence: an idle PBX
        await fourth.login()
        assert (await fourth.frame())["Event"] == "FullyBooted"
        fourth.close()
    assert server.connections == 4 and server.logins == 3


async def test_event_lists_answer_with_the_recorded_items() -> None:
    path = recording("f_resync_snapshot.raw")
    raw = read_recording(path).decode()
    async with server_for(path) as server:
        client = await RawClient.open(server)
        await client.login()
        await client.frame()
        client.send(Action="QueueSummary", ActionID="q1")
        frames = [await client.frame() for _ in range(3)]
        assert frames[0] == {
            "Response": "Success",
            "ActionID": "q1",
            "EventList": "start",
            "Message": "Queue summary will follow",
        }
        recorded = raw[raw.index("Event: QueueSummary\r\n") : raw.index("Event: QueueSummaryComplete")]
        assert frames[1] == {**parse_frame(recorded.strip().encode()), "ActionID": "q1"}
        assert frames[2] == {
            "Event": "QueueSummaryComplete",
            "ActionID": "q1",
            "EventList": "Complete",
            "ListItems": "1",
        }
        client.close()
    async with server_for(None) as server:  # an idle PBX: empty lists
        client = await RawClient.open(server)
        await client.login()
        await client.frame()
        client.send(Action="CoreShowChannels", ActionID="c")
        assert [await client.frame() for _ in range(2)] == [
            {"Response": "Success", "ActionID": "c", "EventList": "start", "Message": "Channels will follow"},
            {"Event": "CoreShowChannelsComplete", "ActionID": "c", "EventList": "Complete", "ListItems": "0"},
        ]
        client.close()


async def test_events_off_pauses_the_stream_and_on_resumes_it() -> None:
    path = recording("b_abandoned.raw")
    async with server_for(path) as server:
        client = await RawClient.open(server)
        await client.login(Events="off")
        client.send(Action="Ping", ActionID="p")
        assert (await client.frame())["Ping"] == "Pong"  # no FullyBooted, no events before it
        for n in range(3):  # round trips, each giving a running stream turns of the loop to write in
            client.send(Action="Ping", ActionID=f"p{n}")
            assert (await client.frame())["Ping"] == "Pong"
        assert server.events_sent == 0
        client.send(Action="Events", EventMask="on", ActionID="e")
        assert await client.frame() == {"Response": "Success", "ActionID": "e", "Events": "On"}
        await server.wait_for(lambda s: s.streams_done == 1)
        client.close()
    assert server.events_sent == len(expected_events(path))


async def test_answers_never_cut_a_streamed_frame() -> None:
    """Actions answered during a flood land between two event frames, never inside one."""
    path = recording("c_concurrent20_mixed.raw")
    async with server_for(path) as server:
        conn = connection(server)
        await conn.start(wait=GENEROUS)
        pings = 0
        while server.streams_done == 0:
            assert (await conn.send_action({"Action": "Ping"})).ping == "Pong"
            pings += 1
        got = await collect(conn, len(expected_events(path)) + 1)
        await conn.close()
    assert pings >= 1
    assert [flat(m) for m in got[1:]] == expected_events(path)
    assert conn.status().malformed_frames == conn.status().malformed_lines == 0


# -- pacing ------------------------------------------------------------------------------------------------------


async def test_real_pace_scaled_by_speed_and_max_speed() -> None:
    path = recording("a_answered.raw")
    rec = Recording.load(path)
    assert rec.chunks is not None
    span = rec.chunks[-1][0] - rec.chunks[0][0]  # ~6.2 s of events
    timings = {}
    for speed in (20.0, None):
        async with server_for(path, speed=speed) as server:
            conn = connection(server)
            await conn.start(wait=GENEROUS)
            started = time.monotonic()
            await collect(conn, rec.events + 1)
            timings[speed] = time.monotonic() - started
            await conn.close()
    assert span / 20 * 0.9 <= timings[20.0] <= span / 20 + 0.5
    assert timings[None] < span / 20 / 2


async def test_gzipped_storm_recording_replays_at_max_speed() -> None:
    path = recording("d_storm200.raw.gz")
    assert not Path(str(path).removesuffix(".gz")).exists()
    rec = Recording.load(path)
    assert rec.events == 24746 and rec.chunks is not None and len(rec.chunks) > 3000
    async with server_for(path) as server:
        conn = connection(server, queue_size=100_000)
        await conn.start(wait=GENEROUS)
        got = await collect(conn, rec.events + 1, timeout=20)
        await conn.close()
    assert got[-1].event == parse_frame(rec.stream[rec.frame_ends[-2] : rec.frame_ends[-1] - 4])["Event"]
    assert conn.status().dropped_events == 0


# -- the CLI -----------------------------------------------------------------------------------------------------


async def test_cli_pbx_replay_serves_the_files() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "web.cli",
        "pbx",
        "replay",
        str(recording("b_abandoned.raw")),
        "--max",
        "--port",
        "0",
        "--username",
        USER,
        "--secret",
        SECRET,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert line.startswith("AMI replay listening on 127.0.0.1:") and "b_abandoned.raw (115 events)" in line
        port = int(line.split("127.0.0.1:")[1].split()[0])
        server = ReplayServer(port=port)  # only for its .port in connection()
        conn = connection(server)
        await conn.start(wait=GENEROUS)
        got = await collect(conn, len(expected_events(recording("b_abandoned.raw"))) + 1)
        await conn.close()
        assert [flat(m) for m in got[1:]] == expected_events(recording("b_abandoned.raw"))
    finally:
        process.terminate()
        await process.wait()


def test_cli_pbx_replay_usage_errors() -> None:
    run = [sys.executable, "-m", "web.cli", "pbx", "replay"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    both = subprocess.run([*run, "x.raw", "--max", "--speed", "2"], capture_output=True, text=True, env=env, timeout=30)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    missing = subprocess.run([*run, "no-such.raw", "--port", "0"], capture_output=True, text=True, env=env, timeout=30)
    assert missing.returncode == 1 and "cannot read the recording" in missing.stderr


async def test_queue_pause_is_answered_like_asterisk_and_tells_the_member_pause() -> None:
    """QueuePause of a member the recording shows: Asterisk's answer, then its QueueMemberPause (built from the
    member's recorded frame); an interface the recording never shows: "Interface not found"."""
    async with server_for(recording("a_answered.raw")) as server, connection(server) as conn:
        await collect(conn, 213)  # the whole recording: Alice (Local/101@agents) is a member of helpdesk
        answer = await actions.queue_pause(conn, "Local/101@agents", True, queue="helpdesk", reason="Обед ☕")
        assert actions.succeeded(answer) and answer["Message"] == "Interface paused successfully"
        (event,) = await collect(conn, 1)
        assert (event["Event"], event["Queue"], event["Interface"], event["MemberName"]) == (
            "QueueMemberPause",
            "helpdesk",
            "Local/101@agents",
            "Alice Agent",
        )
        assert (event["Paused"], event["PausedReason"]) == ("1", "Обед ☕")
        answer = await actions.queue_pause(conn, "Local/101@agents", False)
        assert actions.succeeded(answer) and answer["Message"] == "Interface unpaused successfully"
        (event,) = await collect(conn, 1)
        assert (event["Paused"], event["PausedReason"]) == ("0", "")
        refused = await actions.queue_pause(conn, "PJSIP/999", True)
        assert not actions.succeeded(refused) and refused["Message"] == "Interface not found"
    pauses = [a for a in server.received if a["Action"] == "QueuePause"]
    assert [(a["Interface"], a["Paused"], a.get("Queue")) for a in pauses] == [
        ("Local/101@agents", "true", "helpdesk"),
        ("Local/101@agents", "false", None),
        ("PJSIP/999", "true", None),
    ]
