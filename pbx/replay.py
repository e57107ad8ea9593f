"""A local AMI server that replays recorded Asterisk sessions (tests, benchmarks, ``helpline pbx replay``).

It speaks the protocol a listener needs, like Asterisk 22 does: the banner, ``Login`` (a wrong secret gets
``Response: Error`` / ``Authentication failed`` and the connection is closed; a good one ``FullyBooted`` with the
``Uptime`` of the replayed Asterisk), ``Ping``, ``Logoff``, ``Events``,
the EventList actions ``CoreShowChannels`` / ``QueueStatus`` / ``QueueSummary`` (answered with the list items found
in the recording, else empty lists), ``Originate`` ("successfully queued", no call follows), ``QueuePause`` (a member
the recording shows is paused or unpaused: Asterisk's answer, then a ``QueueMemberPause`` per queue built from that
member's last recorded ``QueueMember*`` frame; an interface the recording never shows gets ``Interface not found``) and
``Response: Error`` / ``Invalid/unknown command`` for anything else. After a login it sends ``FullyBooted`` and then
the events of the session's recording, chunked as recorded (``X.raw.timing.jsonl``) at real pace times ``speed`` or
as fast as possible.

Several recordings make a sequence of sessions, one per TCP connection (``e_restart.raw``, ``e_restart.conn2.raw``
(accepted then reset with 0 bytes), ``e_restart.conn3.raw``). A session whose recording ended by EOF (Asterisk
shutting down) is closed after its last event; one that ended by our ``Logoff`` stays open and idle.

Test hooks: drop connections, go silent (half-open: the socket stays, nothing is read or answered), inject raw
bytes at a frame boundary, after a given number of events or at any time.
"""

from __future__ import annotations

import asyncio
import bisect
import gzip
import itertools
import json
import logging
import re
import socket
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypedDict, cast

from pbx.frames import BANNER_PREFIX, END, MalformedFrame, format_frame, parse_frame, read_recording

log = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
Chunking = Literal["recorded", "frames", "split-utf8"]
AfterLast = Literal["idle", "loop"]
LIST_ACTIONS = {
    "coreshowchannels": ("CoreShowChannels", "Channels will follow"),
    "queuestatus": ("QueueStatus", "Queue status will follow"),
    "queuesummary": ("QueueSummary", "Queue summary will follow"),
}
_CONN_FILE = re.compile(r"^(?P<base>.+)\.conn(?P<conn>\d+)\.raw$")


class _TimingRecord(TypedDict, total=False):
    """One line of ``X.raw.timing.jsonl`` (the keys read here): a chunk received, or a marker."""

    rel: float  #: seconds since the recording started
    conn: int  #: the connection (1, 2, ... after reconnects)
    off: int  #: a chunk: its offset in the connection's raw file ...
    n: int  #: ... and its length in bytes
    marker: str  #: a marker: "connected", "eof", ...
    file: str  #: "connected": the raw file of that connection


# -- recordings ----------------------------------------------------------------------------------------------


@dataclass
class Snapshot:
    """The recorded answer to one EventList action: its items and its ``...Complete`` event."""

    items: list[dict[str, str]]
    complete: dict[str, str]


@dataclass
class Recording:
    """One recorded TCP session, split into what the server says itself and the events it replays."""

    path: Path
    stream: bytes  #: the event frames to replay, terminators included, in recorded order
    frame_ends: list[int]  #: offset in ``stream`` after each complete frame
    chunks: list[tuple[float, int, int]] | None  #: (rel s, start, end) in ``stream`` as recorded; None: no timing
    fully_booted_after_login: bool  #: Asterisk sent FullyBooted right after the login (False while booting)
    ends_with_eof: bool  #: the PBX closed the session (Shutdown); else it ended by our Logoff
    snapshots: dict[str, Snapshot] = field(default_factory=dict)  #: lower-case action name -> recorded answer
    empty: bool = False  #: accepted and reset without a byte (e_restart.conn2)

    @property
    def events(self) -> int:
        return len(self.frame_ends)

    @classmethod
    def load(cls, path: str | Path) -> Recording:
        """Read ``X.raw`` (or ``X.raw.gz``, ``X.connN.raw``) and its timing file if there is one."""
        path = Path(path)
        raw = read_recording(path)
        name = path.name[:-3] if path.name.endswith(".gz") else path.name
        timing = _timing_records(path, name)
        conn = _conn_number(name, timing)
        if not raw:
            return cls(path, b"", [], [], False, True, empty=True)
        pos = 0
        if raw.startswith(BANNER_PREFIX):
            eol = raw.find(b"\r\n")
            pos = len(raw) if eol < 0 else eol + 2
        kept: list[tuple[int, int]] = []  # raw [start, end) of replayed frames
        list_ids: dict[str, list[dict[str, str]]] = {}
        snapshots: dict[str, Snapshot] = {}
        fully_booted = False
        index = 0
        while pos < len(raw):
            end = raw.find(END, pos)
            stop = len(raw) if end < 0 else end + len(END)
            frame = raw[pos:stop]
            head = frame[:40]
            if head.startswith(b"Response:"):
                message = _parse(frame)
                if message.get("EventList", "").lower() == "start":
                    list_ids[message.get("ActionID", "")] = []
            elif index == 1 and head.startswith(b"Event: FullyBooted") and b"\r\nTimestamp:" not in frame:
                fully_booted = True  # ours to send after a login, not part of the replayed events
            elif list_ids and b"\r\nActionID: " in frame and (message := _parse(frame)).get("ActionID") in list_ids:
                items = list_ids[message["ActionID"]]
                if message.get("EventList", "").lower() == "complete":
                    action = message.get("Event", "").removesuffix("Complete").lower()
                    snapshots[action] = Snapshot(items, message)
                else:
                    items.append(message)
            elif frame.strip():
                kept.append((pos, stop))
            index += 1
            pos = stop
        stream = b"".join(raw[a:b] for a, b in kept)
        starts = [a for a, _ in kept]
        before = list(itertools.accumulate((b - a for a, b in kept), initial=0))

        def to_stream(offset: int) -> int:
            i = bisect.bisect_right(starts, offset) - 1
            if i < 0:
                return 0
            a, b = kept[i]
            return before[i] + min(offset, b) - a

        frame_ends = [before[i + 1] for i, (a, b) in enumerate(kept) if raw[b - len(END) : b] == END]
        chunks: list[tuple[float, int, int]] | None = None
        chunk_records = [r for r in timing if "off" in r and r.get("conn", conn) == conn]
        if chunk_records:
            chunks = []
            for r in chunk_records:
                a, b = to_stream(r["off"]), to_stream(r["off"] + r["n"])
                if b > a:
                    chunks.append((float(r["rel"]), a, b))
        eof = any(r.get("marker") == "eof" and r.get("conn", conn) == conn for r in timing)
        return cls(path, stream, frame_ends, chunks, fully_booted, eof, snapshots)


def _parse(frame: bytes) -> dict[str, str]:
    try:
        return parse_frame(frame.rstrip(b"\r\n"))
    except MalformedFrame:
        return {}


def _timing_records(path: Path, name: str) -> list[_TimingRecord]:
    match = _CONN_FILE.match(name)
    base = match["base"] if match else name.removesuffix(".raw")
    for candidate in (path.with_name(f"{base}.raw.timing.jsonl"), path.with_name(f"{base}.raw.timing.jsonl.gz")):
        if candidate.exists():
            data = candidate.read_bytes()
            if candidate.suffix == ".gz":
                data = gzip.decompress(data)
            return [json.loads(line) for line in data.splitlines() if line.strip()]
    return []


def _conn_number(name: str, timing: list[_TimingRecord]) -> int:
    for record in timing:
        if record.get("marker") == "connected" and record.get("file") == name:
            return int(record["conn"])
    match = _CONN_FILE.match(name)
    return int(match["conn"]) if match else 1


# -- sessions ------------------------------------------------------------------------------------------------


@dataclass
class Session:
    """What one TCP connection gets. ``recording=None`` is an idle PBX: login, answers, no events."""

    recording: Recording | None = None
    inject: dict[int, bytes] = field(default_factory=dict)  #: after N events, write these raw bytes
    drop_after: int | None = None  #: abort the connection after N events
    silent_after: int | None = None  #: after N events go silent (half-open)
    speed: float | None = None  #: overrides the server's pace (None: the server's)
    chunking: Chunking | None = None  #: overrides the server's chunking

    @classmethod
    def of(cls, item: Session | Recording | str | Path | None) -> Session:
        if isinstance(item, Session):
            return item
        if item is None:
            return cls()
        return cls(item if isinstance(item, Recording) else Recording.load(item))


def _pieces(rec: Recording, chunking: Chunking) -> list[tuple[float, int, int]]:
    """(rel, start, end) slices of ``rec.stream`` to write, in order."""
    if rec.chunks is None or chunking == "frames":
        rels = _frame_times(rec)
        starts = [0, *rec.frame_ends]
        pieces = [(rels[i], starts[i], end) for i, end in enumerate(rec.frame_ends)]
        if rec.frame_ends and rec.frame_ends[-1] < len(rec.stream):  # a truncated last frame
            pieces.append((pieces[-1][0], rec.frame_ends[-1], len(rec.stream)))
        return pieces
    if chunking == "recorded":
        return list(rec.chunks)
    out = []  # split-utf8: every chunk also cut right after the first byte of each multi-byte character
    stream = rec.stream
    for rel, a, b in rec.chunks:
        start = a
        for i in range(a, b - 1):
            if stream[i] >= 0xC0:
                out.append((rel, start, i + 1))
                start = i + 1
        out.append((rel, start, b))
    return out


def _frame_times(rec: Recording) -> list[float]:
    if rec.chunks is None:
        return [0.0] * len(rec.frame_ends)
    chunk_ends = [b for _, _, b in rec.chunks]
    times = []
    for end in rec.frame_ends:
        i = min(bisect.bisect_left(chunk_ends, end), len(rec.chunks) - 1)
        times.append(rec.chunks[i][0])
    return times


class _Connection:
    """One client connection: reads actions, answers them, streams its session's events."""

    def __init__(self, server: ReplayServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.session: Session | None = None
        self.authenticated = False
        self.events_on = asyncio.Event()
        self.mid_frame = False  # the stream has written part of a frame: other writes must wait
        self.pending: list[bytes] = []
        self.silent = False
        self.closed = False
        self.requested: set[str] = set()
        self.requested_changed = asyncio.Event()
        self.stream_task: asyncio.Task[None] | None = None
        self.sent_events = 0

    # -- writing -----------------------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Write a whole frame (or injected bytes) between two streamed frames."""
        if self.silent or self.closed:
            return
        if self.mid_frame:
            self.pending.append(data)
        else:
            self.writer.write(data)

    def flush_pending(self) -> None:
        pending, self.pending = self.pending, []
        for data in pending:
            self.writer.write(data)

    def respond(self, action: dict[str, str], fields: dict[str, str]) -> None:
        message = {"Response": fields.pop("Response", "Success")}
        if "ActionID" in action:
            message["ActionID"] = action["ActionID"]
        message.update(fields)
        self.send(format_frame(message))

    # -- the connection ----------------------------------------------------------------------------------------

    async def run(self) -> None:
        server = self.server
        session = server._peek_session()
        if session.recording is not None and session.recording.empty:
            server._take_session()
            sock = self.writer.get_extra_info("socket")
            if sock is not None:  # RST, no banner: like Asterisk accepting during a restart
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.writer.transport.abort()
            return
        self.writer.write(BANNER)
        try:
            while not self.closed:
                try:
                    data = await self.reader.readuntil(END)
                except asyncio.IncompleteReadError:
                    return
                except asyncio.LimitOverrunError:
                    log.warning("replay: a client sent an oversized action; closing")
                    return
                while self.silent and not self.closed:  # half-open: hold the socket until the server closes
                    await asyncio.sleep(3600)
                try:
                    action = parse_frame(data[: -len(END)])
                except MalformedFrame:
                    self.respond({}, {"Response": "Error", "Message": "Missing action in request"})
                    continue
                self.handle(action)
                if self.writer.transport.get_write_buffer_size() > 1 << 20:
                    await self.writer.drain()
        except (ConnectionError, OSError):
            return
        finally:
            await self.close()

    async def close(self) -> None:
        self.closed = True
        if self.stream_task is not None and self.stream_task is not asyncio.current_task():
            self.stream_task.cancel()
        if not self.silent:
            self.writer.close()

    def abort(self) -> None:
        self.closed = True
        if self.stream_task is not None:
            self.stream_task.cancel()
        self.writer.transport.abort()

    def go_silent(self) -> None:
        """Half-open: keep the socket, stop reading, answering and streaming."""
        self.silent = True
        if self.stream_task is not None:
            self.stream_task.cancel()
        # a server's StreamWriter wraps the socket's transport, which reads too (typeshed says WriteTransport)
        cast(asyncio.Transport, self.writer.transport).pause_reading()

    # -- actions -----------------------------------------------------------------------------------------------

    def handle(self, action: dict[str, str]) -> None:
        server = self.server
        name = action.get("Action", "")
        key = name.lower()
        server.actions.append(name)
        server.received.append(action)
        server._changed()
        if key in server.unanswered:
            return
        if key == "login":
            self.login(action)
        elif key == "logoff":
            self.respond(action, {"Response": "Goodbye", "Message": "Thanks for all the fish."})
            self.closed = True
        elif not self.authenticated:
            self.respond(action, {"Response": "Error", "Message": "Authentication Required"})
        elif key == "ping":
            self.respond(action, {"Ping": "Pong", "Timestamp": f"{time.time():.6f}"})
        elif key == "events":
            mask = action.get("EventMask", "on").lower()
            if mask == "off":
                self.events_on.clear()
            else:
                self.events_on.set()
            self.respond(action, {"Events": "Off" if mask == "off" else "On"})
        elif key in LIST_ACTIONS:
            self.answer_list(key, action)
        elif key == "originate":
            self.respond(action, {"Message": "Originate successfully queued"})
        elif key == "queuepause":
            self.queue_pause(action)
        else:
            self.respond(action, {"Response": "Error", "Message": "Invalid/unknown command"})

    def login(self, action: dict[str, str]) -> None:
        server = self.server
        if action.get("Username") != server.username or action.get("Secret") != server.secret:
            server.auth_failures += 1
            self.respond(action, {"Response": "Error", "Message": "Authentication failed"})
            self.closed = True  # Asterisk hangs up on a failed login
            return
        self.authenticated = True
        server.logins += 1
        self.session = server._take_session()
        rec = self.session.recording
        self.respond(action, {"Message": "Authentication accepted"})
        if action.get("Events", "on").lower() not in ("off", "0", "false", "no"):
            self.events_on.set()
        if server.fully_booted and self.events_on.is_set() and (rec is None or rec.fully_booted_after_login):
            uptime = str(int(time.time() - server.started_at))
            self.send(
                format_frame(
                    {
                        "Event": "FullyBooted",
                        "Privilege": "system,all",
                        "Uptime": uptime,
                        "LastReload": uptime,
                        "Status": "Fully Booted",
                    }
                )
            )
        if rec is not None:
            self.stream_task = asyncio.create_task(self.stream(self.session))

    def queue_pause(self, action: dict[str, str]) -> None:
        """``QueuePause``: as Asterisk 22 answers it, then the ``QueueMemberPause`` event of each queue it changed."""
        rec = self.session.recording if self.session is not None else None
        members = recorded_members(rec) if rec is not None else {}
        interface, queue = action.get("Interface", ""), action.get("Queue")
        paused = action.get("Paused", "").lower() in ("true", "yes", "1", "on")
        if not interface or not action.get("Paused"):
            self.respond(action, {"Response": "Error", "Message": "Need 'Interface' and 'Paused' parameters."})
            return
        hits = [m for (q, i), m in members.items() if i == interface and (not queue or q == queue)]
        if not hits:
            self.respond(action, {"Response": "Error", "Message": "Interface not found"})
            return
        self.respond(action, {"Message": f"Interface {'paused' if paused else 'unpaused'} successfully"})
        now = f"{time.time():.6f}"
        for member in hits:
            event = {k: v for k, v in member.items() if k not in ("ActionID", "Event", "Privilege", "Timestamp")}
            if "Location" in event:  # a QueueStatus item names the member differently
                event["Interface"] = event.pop("Location")
                event["MemberName"] = event.pop("Name", event["Interface"])
            event.update(Paused="1" if paused else "0", PausedReason=action.get("Reason", "") if paused else "")
            if paused:
                event["LastPause"] = now.split(".")[0]
            self.send(format_frame({"Event": "QueueMemberPause", "Privilege": "agent,all", "Timestamp": now, **event}))

    def answer_list(self, key: str, action: dict[str, str]) -> None:
        name, text = LIST_ACTIONS[key]
        rec = self.session.recording if self.session is not None else None
        snapshot = rec.snapshots.get(key) if rec is not None else None
        self.respond(action, {"EventList": "start", "Message": text})
        items = snapshot.items if snapshot is not None else []
        aid = {"ActionID": action["ActionID"]} if "ActionID" in action else {}
        frames = []
        for item in items:
            frames.append(format_frame({**{k: v for k, v in item.items() if k != "ActionID"}, **aid}))
        complete = {"Event": f"{name}Complete", **aid, "EventList": "Complete", "ListItems": str(len(items))}
        frames.append(format_frame(complete))
        self.send(b"".join(frames))
        self.requested.add(key)
        self.requested_changed.set()

    # -- streaming ---------------------------------------------------------------------------------------------

    async def stream(self, session: Session) -> None:
        server = self.server
        rec = session.recording
        assert rec is not None
        try:
            if rec.snapshots and server.snapshot_wait > 0:
                await self._wait_for_snapshot_requests(rec, server.snapshot_wait)
            speed = session.speed if session.speed is not None else server.speed
            chunking = session.chunking or server.chunking
            await self._stream(rec, session, _pieces(rec, chunking), speed, chunking == "split-utf8")
            if rec.ends_with_eof and not self.closed and not self.silent:
                self.flush_pending()
                await self.writer.drain()
                await self.close()
                server.started_at = time.time()  # the recorded Asterisk shut down: the next session is a new one
        except (ConnectionError, OSError):
            self.closed = True
        finally:
            server.streams_done += 1
            server._changed()

    async def _wait_for_snapshot_requests(self, rec: Recording, timeout: float) -> None:
        """The recording answered its resync actions before its live events: let the client ask first. Wait until
        it asked for all of them, or asked for some and then nothing more for 0.2 s, or ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not set(rec.snapshots) <= self.requested:
            self.requested_changed.clear()
            left = deadline - loop.time()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(self.requested_changed.wait(), min(left, 0.2) if self.requested else left)
            except TimeoutError:
                if self.requested:
                    return

    def _cuts(self, session: Session, rec: Recording) -> dict[int, list[tuple[str, bytes]]]:
        cuts: dict[int, list[tuple[str, bytes]]] = {}

        def at(n: int) -> int:
            return 0 if n <= 0 else rec.frame_ends[min(n, len(rec.frame_ends)) - 1]

        for n, data in sorted(session.inject.items()):
            cuts.setdefault(at(n), []).append(("inject", data))
        if session.silent_after is not None:
            cuts.setdefault(at(session.silent_after), []).append(("silent", b""))
        if session.drop_after is not None:
            cuts.setdefault(at(session.drop_after), []).append(("drop", b""))
        return cuts

    async def _stream(
        self,
        rec: Recording,
        session: Session,
        pieces: list[tuple[float, int, int]],
        speed: float | None,
        pause_inside: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        writer = self.writer
        transport = writer.transport
        stream = rec.stream
        ends = rec.frame_ends
        boundaries = set(ends)
        cuts = self._cuts(session, rec)
        cut_points = sorted(cuts)
        if not await self._run_cuts(cuts.pop(0, ())):
            return
        t0 = loop.time()
        rel0 = pieces[0][0] if pieces else 0.0
        for n, (rel, a, b) in enumerate(pieces):
            if speed is not None:
                delay = t0 + (rel - rel0) / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif n % 64 == 63:
                await asyncio.sleep(0)  # let actions be answered during a flood
            if not self.mid_frame and not self.events_on.is_set():
                await self.events_on.wait()
            while a < b:
                if self.closed or self.silent:
                    return
                if self.pending and not self.mid_frame:
                    self.flush_pending()
                # stop early at a cut point, or at the next frame end if a response waits to be written
                stop = b
                i = bisect.bisect_right(cut_points, a)
                if i < len(cut_points) and cut_points[i] < stop:
                    stop = cut_points[i]
                if self.pending:
                    j = bisect.bisect_right(ends, a)
                    if j < len(ends) and ends[j] < stop:
                        stop = ends[j]
                writer.write(stream[a:stop])
                self._count_sent(ends, a, stop)
                a = stop
                self.mid_frame = a not in boundaries
                if not self.mid_frame:
                    self.flush_pending()
                    if a in cuts and not await self._run_cuts(cuts.pop(a)):
                        return
            if transport.get_write_buffer_size() > 256 * 1024:
                await writer.drain()
            if pause_inside and self.mid_frame and stream[b - 1] >= 0xC0:
                await writer.drain()
                await asyncio.sleep(0.002)  # make the client read the split character in two reads
        self.mid_frame = False
        self.flush_pending()

    async def _run_cuts(self, actions: Iterable[tuple[str, bytes]]) -> bool:
        """Do what a test asked for at this point of the stream; False if streaming must stop."""
        for kind, data in actions:
            if kind == "inject":
                self.writer.write(data)
            elif kind == "silent":
                self.go_silent()
                return False
            else:  # drop, after what was written so far has left (a test wants to know what the client got)
                while self.writer.transport.get_write_buffer_size():
                    await asyncio.sleep(0.001)
                self.abort()
                return False
        return True

    def _count_sent(self, ends: list[int], a: int, b: int) -> None:
        done = bisect.bisect_right(ends, b) - bisect.bisect_right(ends, a)
        if done:
            self.sent_events += done
            self.server.events_sent += done


class ReplayServer:
    """The AMI replay server. Use ``async with ReplayServer([...]) as server:`` then connect to ``server.port``."""

    def __init__(
        self,
        sessions: Iterable[Session | Recording | str | Path | None] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "helpline",
        secret: str = "helpline",
        speed: float | None = None,
        chunking: Chunking = "recorded",
        after_last: AfterLast = "idle",
        fully_booted: bool = True,
        snapshot_wait: float = 2.0,
        unanswered: Iterable[str] = (),
    ) -> None:
        """``sessions`` are served one per connection, in order; then ``after_last``: "idle" sessions forever, or
        "loop" (start the sequence again). ``speed`` None = as fast as possible, else real pace x speed.
        ``fully_booted=False`` behaves like an AMI user without the ``system`` read class (no FullyBooted).
        ``snapshot_wait``: a recording that starts with resync answers (f) holds its live events until the client
        has asked for them (at most that many seconds). ``unanswered``: action names never answered (like
        ``QueueAdd`` on some Asterisk versions)."""
        self.sessions = [Session.of(s) for s in sessions]
        self.host = host
        self.port = port
        self.username = username
        self.secret = secret
        self.speed = speed
        self.chunking: Chunking = chunking
        self.after_last: AfterLast = after_last
        self.fully_booted = fully_booted
        self.snapshot_wait = snapshot_wait
        self.unanswered = {name.lower() for name in unanswered}
        #: When the replayed Asterisk started (the ``Uptime`` of its ``FullyBooted``): the server's start, and again
        #: after each recording that ended with the PBX closing the session (a restart).
        self.started_at = time.time()
        self.connections = 0  #: TCP connections accepted
        self.logins = 0  #: successful logins
        self.auth_failures = 0  #: refused logins
        self.actions: list[str] = []  #: names of the actions received, in order
        self.received: list[dict[str, str]] = []  #: the actions received (their headers), in order
        self.events_sent = 0  #: complete event frames written (all connections)
        self.streams_done = 0  #: recordings streamed to the end (or cut short)
        self._next = 0
        self._live: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._change = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port, limit=1 << 20)
        self.port = self._server.sockets[0].getsockname()[1]

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._live):
            conn.abort()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> ReplayServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- test hooks ----------------------------------------------------------------------------------------------

    def drop(self) -> None:
        """Abort every live connection now (mid-frame if need be)."""
        for conn in list(self._live):
            conn.abort()

    def go_silent(self) -> None:
        """Every live connection goes half-open: socket kept, nothing read, answered or sent any more."""
        for conn in list(self._live):
            conn.go_silent()

    def inject(self, data: bytes) -> None:
        """Write raw bytes into every live connection at its next frame boundary."""
        for conn in list(self._live):
            conn.send(data)

    @property
    def live_connections(self) -> int:
        return sum(1 for c in self._live if not c.closed)

    async def wait_for(self, predicate: Callable[[ReplayServer], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate(self)`` is true (re-checked after every change, and every 50 ms)."""

        async def poll() -> None:
            while not predicate(self):
                self._change.clear()
                try:
                    await asyncio.wait_for(self._change.wait(), 0.05)
                except TimeoutError:
                    pass

        await asyncio.wait_for(poll(), timeout)

    # -- internals -----------------------------------------------------------------------------------------------

    def _changed(self) -> None:
        self._change.set()

    def _peek_session(self) -> Session:
        if self._next < len(self.sessions):
            return self.sessions[self._next]
        if self.after_last == "loop" and self.sessions:
            return self.sessions[self._next % len(self.sessions)]
        return Session()

    def _take_session(self) -> Session:
        session = self._peek_session()
        self._next += 1
        return session

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = _Connection(self, reader, writer)
        self._live.add(conn)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._changed()
        try:
            await conn.run()
        except asyncio.CancelledError:
            pass
        finally:
            self._live.discard(conn)
            self._handlers.discard(task)
            self._changed()


def recorded_members(rec: Recording) -> dict[tuple[str, str], dict[str, str]]:
    """(queue, interface) -> the last frame that shows that member in ``rec`` (its ``QueueMember*`` events and
    ``QueueStatus`` items)."""
    members: dict[tuple[str, str], dict[str, str]] = {}
    snapshot = rec.snapshots.get("queuestatus")
    frames: list[dict[str, str]] = list(snapshot.items) if snapshot is not None else []
    start = 0
    for end in rec.frame_ends:
        chunk = rec.stream[start:end]
        start = end
        if b"Event: QueueMember" in chunk:
            frames.append(_parse(chunk))
    for frame in frames:
        interface = frame.get("Interface") or frame.get("Location")
        if frame.get("Event", "").startswith("QueueMember") and frame.get("Queue") and interface:
            if frame["Event"] == "QueueMemberRemoved":
                members.pop((frame["Queue"], interface), None)
            else:
                members[(frame["Queue"], interface)] = frame
    return members


def session_events(path: str | Path) -> Iterator[bytes]:
    """The event frames a replay of ``path`` streams (terminators stripped), for comparing with what arrived."""
    rec = Recording.load(path)
    start = 0
    for end in rec.frame_ends:
        yield rec.stream[start : end - len(END)]
        start = end


def describe(sessions: Sequence[Session]) -> str:
    parts = []
    for s in sessions:
        rec = s.recording
        parts.append("idle" if rec is None else f"{rec.path.name} ({'reset' if rec.empty else f'{rec.events} events'})")
    return ", ".join(parts)
