"""Helpers for the AMI tests: the recordings, a connection with test-sized timeouts, collecting events."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from panoramisk.message import Message

from pbx.backoff import Backoff
from pbx.connection import AmiConnection, AmiError, SessionMarker
from pbx.facts import AgentRinging, CallAnswered, CallEnded, CallOffered
from pbx.frames import END, parse_frame
from pbx.replay import Recording, ReplayServer, Snapshot, session_events
from pbx.tracker import CallTracker
from tests.support.paths import AMI

try:
    from tests.support.waiting import GENEROUS, eventually
except ImportError:  # imported as a top-level module (tests/ on sys.path)
    from tests.support.waiting import GENEROUS, eventually  # type: ignore[no-redef]

if TYPE_CHECKING:
    from web.runtime.telephony import PbxListener

USER, SECRET = "helpline", "s3cret"


def recording(name: str) -> Path:
    return AMI / name


def connection(server: ReplayServer, **kw: Any) -> AmiConnection:
    """An AmiConnection to ``server`` with timeouts small enough for tests."""
    options: dict[str, Any] = dict(
        name="test",
        connect_timeout=1.0,
        login_timeout=1.0,
        action_timeout=2.0,
        ping_interval=5.0,
        ping_timeout=1.0,
        backoff=Backoff(0.05, 0.2),
        auth_backoff=Backoff(0.3, 0.6),
        fully_booted_timeout=0.5,
        stable_after=60.0,
    )
    options.update(kw)
    return AmiConnection(
        "127.0.0.1", server.port, options.pop("username", USER), options.pop("secret", SECRET), **options
    )


def take(conn: AmiConnection) -> list[Message | SessionMarker]:
    """Everything queued now."""
    items = []
    while not conn.events.empty():
        items.append(conn.events.get_nowait())
    return items


async def collect(conn: AmiConnection, count: int, timeout: float = 10.0) -> list[Message]:
    """Wait for ``count`` events (markers skipped)."""
    out: list[Message] = []

    async def run() -> None:
        while len(out) < count:
            item = await conn.events.get()
            if isinstance(item, Message):
                out.append(item)

    try:
        await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        raise AssertionError(f"only {len(out)} of {count} events arrived within {timeout} s; {conn.status()}") from None
    return out


def expected_events(path: Path) -> list[dict[str, str]]:
    """The events a replay of ``path`` streams, parsed independently of the connection code."""
    return [parse_frame(frame) for frame in session_events(path)]


def flat(message: Message) -> dict[str, str]:
    """A received message as parse_frame would give it (a repeated header keeps its last value)."""
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in message.items() if k != "content"}


# -- a recording moved in time ---------------------------------------------------------------------------------

_TIMESTAMP = re.compile(rb"(Timestamp: )(\d{10}\.\d{6})")


def recording_at(name: str, start: float, folder: Path) -> Path:
    """A copy of recording ``name`` (in ``folder``, with its timing) whose first event is at ``start`` (epoch
    seconds): every ``Timestamp`` shifted alike (same width, so the recorded chunking still fits)."""
    raw = (AMI / name).read_bytes()
    first = _TIMESTAMP.search(raw)
    assert first is not None
    offset = start - float(first[2])
    shifted = _TIMESTAMP.sub(lambda m: m[1] + f"{float(m[2]) + offset:.6f}".encode(), raw)
    assert len(shifted) == len(raw)
    (folder / name).write_bytes(shifted)
    shutil.copyfile(AMI / f"{name}.timing.jsonl", folder / f"{name}.timing.jsonl")
    return folder / name


# -- a recording cut in two, as a listener that lost its connection at event K would see it ------------------------


def split_recording(path: Path, k: int) -> tuple[Recording, Recording]:
    """The first ``k`` events of a recording, and the rest with what Asterisk would answer to ``CoreShowChannels``
    and ``QueueStatus`` at that moment (the channels up, their application, bridge and caller ID; who is queued).

    Models a short network blip or a helpline restart: nothing happens on the PBX during the gap.
    """
    whole = Recording.load(path)
    cut = whole.frame_ends[k - 1]
    channels: dict[str, dict[str, str]] = {}
    queued: dict[str, dict[str, str]] = {}
    last_time = 0.0
    for frame in list(session_events(path))[:k]:
        event = parse_frame(frame)
        name, uid = event.get("Event", ""), event.get("Uniqueid", "")
        last_time = float(event.get("Timestamp", last_time) or last_time)
        if name == "Newchannel":
            channels[uid] = {
                "Channel": event["Channel"],
                "Uniqueid": uid,
                "Linkedid": event.get("Linkedid", uid),
                "Context": event.get("Context", ""),
                "Application": "",
                "ApplicationData": "",
                "BridgeId": "",
                "CallerIDNum": event.get("CallerIDNum", ""),
                "CallerIDName": event.get("CallerIDName", ""),
                "Start": event.get("Timestamp", "0"),
            }
        elif name == "Hangup":
            channels.pop(uid, None)
        elif uid in channels and name == "Newexten":
            channels[uid].update(Application=event.get("Application", ""), ApplicationData=event.get("AppData", ""))
        elif uid in channels and name in ("NewCallerid", "QueueCallerJoin"):
            channels[uid].update(CallerIDNum=event.get("CallerIDNum", ""), CallerIDName=event.get("CallerIDName", ""))
        if uid in channels and name == "BridgeEnter":
            channels[uid]["BridgeId"] = event.get("BridgeUniqueid", "")
        elif uid in channels and name == "BridgeLeave":
            channels[uid]["BridgeId"] = ""
        if name == "QueueCallerJoin":
            queued[uid] = {
                "Queue": event.get("Queue", ""),
                "Channel": event.get("Channel", ""),
                "Uniqueid": uid,
                "CallerIDNum": event.get("CallerIDNum", ""),
                "CallerIDName": event.get("CallerIDName", ""),
                "Joined": event.get("Timestamp", "0"),
            }
        elif name in ("QueueCallerLeave", "Hangup"):
            queued.pop(uid, None)
    items = []
    for c in channels.values():
        duration = max(0, int(last_time - float(c.pop("Start") or last_time)))
        items.append(
            {
                "Event": "CoreShowChannel",
                **c,
                "ChannelState": "6",
                "ChannelStateDesc": "Up",
                "Duration": f"{duration // 3600:02d}:{duration // 60 % 60:02d}:{duration % 60:02d}",
            }
        )
    entries = []
    for position, q in enumerate(queued.values(), 1):
        wait = max(0, int(last_time - float(q.pop("Joined") or last_time)))
        entries.append({"Event": "QueueEntry", **q, "Position": str(position), "Wait": str(wait)})
    snapshots = {
        "coreshowchannels": Snapshot(
            items, {"Event": "CoreShowChannelsComplete", "EventList": "Complete", "ListItems": str(len(items))}
        ),
        "queuestatus": Snapshot(
            entries, {"Event": "QueueStatusComplete", "EventList": "Complete", "ListItems": str(len(entries))}
        ),
    }
    first = Recording(whole.path, whole.stream[:cut], whole.frame_ends[:k], None, True, False)
    rest = Recording(
        whole.path,
        whole.stream[cut:],
        [end - cut for end in whole.frame_ends[k:]],
        None,
        True,
        whole.ends_with_eof,
        snapshots,
    )
    return first, rest


#: The state a call row is in after each kind of call fact (states only move forward).
_STATE_AFTER = {CallOffered: "offered", AgentRinging: "ringing", CallAnswered: "answered", CallEnded: "ended"}
_STATES = ("offered", "ringing", "answered", "ended")


def call_states(rec: Recording, queues: tuple[str, ...] = ("helpdesk",)) -> dict[str, str]:
    """Linkedid -> the state (``offered`` ... ``ended``) each call of ``rec`` is in once a listener that starts
    with it has applied all its events: what the pure call tracker makes of them, no database involved."""
    tracker = CallTracker("main", list(queues))
    states: dict[str, str] = {}
    start = 0
    for end in rec.frame_ends:
        for fact in tracker.feed(parse_frame(rec.stream[start : end - len(END)])):
            state = _STATE_AFTER[type(fact)]
            if _STATES.index(state) >= _STATES.index(states.get(fact.linkedid, "offered")):
                states[fact.linkedid] = state
        start = end
    return states


# -- waiting for a listener to apply what the replay server streamed ---------------------------------------------


async def barrier(conn: AmiConnection, action: str = "Ping") -> None:
    """Send ``action`` and await its answer. The server answers after everything it has written before, and TCP
    keeps the order: by then ``conn`` has read every event sent before (delivered, ignored or dropped)."""
    await conn.send_action({"Action": action}, timeout=GENEROUS)


async def until_caught_up(
    server: ReplayServer, listener: PbxListener, streams: int | None = None, timeout: float = GENEROUS
) -> None:
    """Until ``listener`` has applied every event ``server`` streamed: its ``streams`` recordings (default: every
    session's) are written out, a :func:`barrier` after them is passed (every event is in the listener's queue),
    and the listener's consumer waits for more (the last batch is recorded)."""
    if streams is None:
        streams = sum(1 for s in server.sessions if s.recording is not None and not s.recording.empty)
    await server.wait_for(lambda s: s.streams_done >= streams, timeout=timeout)

    async def passed() -> bool:
        try:
            await barrier(listener.connection)
        except AmiError:  # between two sessions: the next session's answer is as good a barrier
            return False
        return True

    await eventually(passed, timeout, what=f"PBX {listener.name}: an answer after the replay")
    await eventually(
        lambda: listener.connection.events.consumer_waiting,
        timeout,
        what=f"PBX {listener.name}: the listener applied what it received",
        details=lambda: listener.status(),
    )
