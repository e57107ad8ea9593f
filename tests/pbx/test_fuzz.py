"""Bad input: garbage, truncated and oversized frames, invalid UTF-8, unknown events, missing headers.
Property tests (hypothesis) over the recording frame parser and the hardened protocol, then the same bad input
injected by the replay server into a live connection."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pbx.connection import SessionMarker
from pbx.frames import END, MalformedFrame, format_frame, parse_frame, split_frames
from pbx.protocol import Counters, HardenedAMIProtocol, HardenedManager, parse_message
from pbx.replay import Recording, ReplayServer, Session
from tests.support.ami import SECRET, USER, barrier, collect, connection, expected_events, flat, recording, take
from tests.support.waiting import GENEROUS

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_STREAM = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
B3 = Recording.load(recording("b3_all_agents_busy.raw"))  # 844 events, UTF-8 names
B3_EVENTS = expected_events(recording("b3_all_agents_busy.raw"))
HEADER_KEY = st.text(
    st.characters(codec="utf-8", exclude_characters=":\r\n", exclude_categories=["Cs"]), min_size=1, max_size=12
).filter(lambda k: k == k.strip())
HEADER_VALUE = st.text(st.characters(codec="utf-8", exclude_characters="\r\n", exclude_categories=["Cs"]), max_size=30)


# -- pbx/frames.py -----------------------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=8))
def test_split_frames_gives_the_same_frames_however_the_bytes_arrive(data: bytes, cuts: list[int]) -> None:
    whole, rest = split_frames(data)
    frames: list[bytes] = []
    buffer = b""
    start = 0
    for cut in sorted({min(c, len(data)) for c in cuts}) + [len(data)]:
        got, buffer = split_frames(buffer + data[start:cut])
        frames += got
        start = cut
    assert (frames, buffer) == (whole, rest)
    assert all(f and END not in f for f in frames) and END not in rest


@FUZZ
@given(st.binary(max_size=300))
def test_parse_frame_never_fails_otherwise_than_malformed(data: bytes) -> None:
    try:
        message = parse_frame(data)
    except MalformedFrame:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in message.items())


@FUZZ
@given(st.dictionaries(HEADER_KEY, HEADER_VALUE, min_size=1, max_size=8))
def test_format_then_parse_round_trips(message: dict[str, str]) -> None:
    wire = format_frame(message)
    assert wire.endswith(END)
    assert parse_frame(wire[: -len(END)]) == message


# -- the hardened protocol, fed without a socket -----------------------------------------------------------------


class _Transport:
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def feed(chunks: list[bytes], max_frame: int = 4096) -> tuple[list[Any], Counters]:
    """Run the protocol over ``chunks`` (as TCP reads) and return what it delivered and counted."""
    delivered: list[Any] = []
    counters = Counters()

    async def run() -> None:
        manager = HardenedManager(name="fuzz", sink=delivered.append, counters=counters, max_frame_bytes=max_frame)
        protocol = HardenedAMIProtocol(manager)
        protocol.connection_made(_Transport())  # type: ignore[arg-type]
        for chunk in chunks:
            protocol.data_received(chunk)

    asyncio.run(run())
    return delivered, counters


def cut(data: bytes, points: list[int]) -> list[bytes]:
    points = sorted({p % (len(data) + 1) for p in points})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)]) if b > a]


GARBAGE = st.one_of(
    st.binary(min_size=1, max_size=60),  # noise, often invalid UTF-8
    st.builds(lambda n: b"X-Big: " + b"a" * n, st.integers(4097, 20_000)),  # an oversized "header"
    st.sampled_from([b"Eve", b"Even", b"\xc3", b"\xff\xfe\xfd", b"Channel: Local/7000@it-li", b"no colon here"]),
).filter(
    lambda g: b"event" not in g.lower() and b"response" not in g.lower() and not g.startswith(b"Asterisk Call Manager/")
)  # a banner line is read as one, rightly


@FUZZ_STREAM
@given(
    st.lists(st.integers(0, 10**7), max_size=40),
    st.lists(st.tuples(st.integers(0, len(B3.frame_ends)), GARBAGE), max_size=6),
)
def test_protocol_delivers_every_recorded_event_through_split_reads_and_garbage(
    splits: list[int], garbage: list[tuple[int, bytes]]
) -> None:
    """Any chunking (inside UTF-8 characters too) and garbage frames between events: the recorded events all arrive,
    unchanged and in order; the garbage is counted, not delivered."""
    inserted = dict(garbage)
    assume(all(g.decode("utf-8", "replace").strip() for g in inserted.values()))
    stream = bytearray()
    start = 0
    for n, end in enumerate(B3.frame_ends):
        if n in inserted:
            stream += inserted[n] + END
        stream += B3.stream[start:end]
        start = end
    if len(B3.frame_ends) in inserted:
        stream += inserted[len(B3.frame_ends)] + END
    delivered, counters = feed(cut(bytes(stream), splits))
    assert [flat(m) for m in delivered] == B3_EVENTS
    bad = counters.malformed_frames + counters.oversized_frames + counters.invalid_utf8
    assert bad >= len(inserted)
    assert counters.events_received == 0  # counted by AmiConnection, not the protocol


@FUZZ
@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=10))
def test_protocol_survives_any_bytes(data: bytes, splits: list[int]) -> None:
    """Arbitrary bytes never raise out of data_received (which would make asyncio drop the connection)."""
    delivered, _ = feed(cut(b"Asterisk Call Manager/11.0.0\r\n" + data + END, splits), max_frame=256)
    for message in delivered:
        assert "event" in message


@FUZZ
@given(
    st.dictionaries(
        HEADER_KEY.filter(lambda k: k.lower() not in {"event", "response", "actionid", "content", "result"}),
        HEADER_VALUE,
        max_size=6,
    ),
    st.sampled_from(["Newchannel", "Hangup", "Novel"]),
)
def test_parse_message_matches_the_recording_parser(headers: dict[str, str], event: str) -> None:
    frame = format_frame({"Event": event, **headers})
    reference = parse_frame(frame[: -len(END)])
    message = parse_message(frame[: -len(END)].decode())
    assert message is not None
    lowered = {k.lower(): v for k, v in reference.items()}
    assert {k.lower(): (v[-1] if isinstance(v, list) else v) for k, v in message.items() if k != "content"} == lowered


# -- the same over TCP, injected by the replay server ------------------------------------------------------------


BAD = {
    5: b"\x00\x01garbage\xff bytes \x9c\r\nmore: \xc0\xaf\r\n\r\n",  # garbage + invalid UTF-8
    10: b"Eve" + END,  # a frame truncated in its first line
    20: b"Event: VarSet\r\nValue: " + b"A" * (1 << 20) + END,  # a 1 MB header
    30: b"Event: Newexten\r\nCallerIDName: Jos\xe9 (latin-1)\r\n" + END,  # invalid UTF-8 in a header
    40: b"Event: SomethingNew\r\nFoo: bar\r\n" + END,  # an event nobody knows
    50: b"Event: Hangup\r\n" + END,  # missing headers
    60: b"Event: Newstate\r\nthis line has no colon\r\nUniqueid: 1.1\r\n" + END,  # a broken line in a good frame
}


async def test_bad_input_is_counted_and_nothing_else_is_lost() -> None:
    path = recording("b_abandoned.raw")
    expected = expected_events(path)
    async with ReplayServer([Session(Recording.load(path), inject=dict(BAD))], username=USER, secret=SECRET) as server:
        conn = connection(server)
        await conn.start(wait=GENEROUS)
        got = await collect(conn, 1 + len(expected) + 4, timeout=10)
        pong = await conn.send_action({"Action": "Ping"})
        status = conn.status()
        await conn.close()
    assert pong.ping == "Pong"
    names = [m.event for m in got]
    injected = {31, 42, 53, 64}  # 1 (FullyBooted) + N recorded events + the injected events delivered before
    assert [flat(m) for i, m in enumerate(got) if i and i not in injected] == expected
    assert names[31] == "Newexten" and got[31].calleridname == "Jos\ufffd (latin-1)"
    assert names[42] == "SomethingNew" and names[53] == "Hangup" and got[53].uniqueid == ""
    assert got[64].event == "Newstate" and got[64].uniqueid == "1.1"
    assert status.logins == 1 and status.reconnects == 0  # the connection survived
    assert status.malformed_frames == 2  # the garbage and the truncated frame
    assert status.oversized_frames == 1
    assert status.invalid_utf8 >= 4
    assert status.malformed_lines == 1
    assert status.events_received == len(got)


async def test_a_frame_cut_by_a_dropped_connection_does_not_leak_into_the_next_session() -> None:
    first, second = recording("b_abandoned.raw"), recording("b2_abandoned_while_ringing.raw")
    partial = b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: Local/7000@it-li"
    session = Session(Recording.load(first), inject={50: partial}, drop_after=50)
    async with ReplayServer([session, second], username=USER, secret=SECRET) as server:
        conn = connection(server, session_markers=True)
        await conn.start(wait=GENEROUS)
        await server.wait_for(lambda s: s.streams_done == 2)
        await barrier(conn)
        items = take(conn)
        status = conn.status()
        await conn.close()
    kinds = [(i.kind, i.session) for i in items if isinstance(i, SessionMarker)]
    assert kinds == [("login", 1), ("lost", 1), ("login", 2)]
    lost = next(i for i in items if isinstance(i, SessionMarker) and i.kind == "lost")
    cut = items.index(lost)
    assert [flat(m) for m in items[2:cut]] == expected_events(first)[:50]
    booted = flat(items[cut + 2])  # the replayed Asterisk has been up since the server started (a second or so)
    assert (
        booted
        == {
            "Event": "FullyBooted",
            "Privilege": "system,all",
            "Uptime": booted["Uptime"],
            "LastReload": booted["Uptime"],
            "Status": "Fully Booted",
        }
        and booted["Uptime"].isdigit()
    )
    assert [flat(m) for m in items[cut + 3 :]] == expected_events(second)
    assert status.malformed_frames == 0 and status.reconnects == 1
