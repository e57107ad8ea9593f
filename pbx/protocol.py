"""panoramisk's AMI protocol and Manager, hardened for a long-running listener (driven by ``pbx.connection``).

* Framing is ours: an incremental UTF-8 decoder (panoramisk decodes each TCP read on its own with
  ``errors='ignore'``, so a character split across reads vanished), CRLF independent of ``panoramisk.utils.EOL``
  (which ``panoramisk.testing`` flips to ``'\\n'`` process-wide), a frame size bound, and counters for bad input.
  Nothing raises out of ``data_received`` (asyncio would drop the connection).
* Actions: serialised with CRLF, header injection refused, forgotten after a timeout, failed with
  :class:`AmiDisconnected` when the connection drops; never parked for a resend.
* The Manager never reconnects, never pings and never resends on its own: ``AmiConnection`` decides.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager
from panoramisk.message import Message

log = logging.getLogger("pbx.connection")

CRLF = "\r\n"
FRAME_END = "\r\n\r\n"
BANNER = "Asterisk Call Manager/"
DEFAULT_MAX_FRAME = 256 * 1024
_REPLACEMENT = "\ufffd"
_SINGLE = frozenset({"event", "response", "actionid"})
_HEADER = re.compile(r"([^:\r\n]+): ?([^\r\n]*)")
_ACTION_ID = re.compile(r"^actionid:", re.IGNORECASE | re.MULTILINE)
_BREAKS = re.compile(r"[\r\n\x00]")


class AmiError(Exception):
    """An AMI action could not be completed."""


class AmiNotConnected(AmiError):
    """There is no logged-in connection to send the action on."""


class AmiDisconnected(AmiError):
    """The connection dropped before the action was answered."""


class AmiTimeout(AmiError, TimeoutError):
    """The PBX did not answer the action in time."""


class AmiBadAction(AmiError, ValueError):
    """The action was not sent: a header name or value holds a line break or a NUL, which would end the header
    early (and let a caller-supplied value inject headers of its own)."""


class AmiActionError(AmiError):
    """The PBX answered ``Response: Error`` (``message`` is its answer)."""

    def __init__(self, action: str, message: Message) -> None:
        super().__init__(f"{action}: {message.get('Message') or message.get('Response')}")
        self.message = message


@dataclass
class Counters:
    """What came off the wire, shared by every connection of one :class:`AmiConnection`."""

    bytes_received: int = 0
    events_received: int = 0  #: AMI events parsed (delivered or dropped)
    events_ignored: int = 0  #: events not asked for (``only_events``): skipped unparsed
    dropped_events: int = 0  #: events lost because the queue was full
    malformed_frames: int = 0  #: frames without ``Event``/``Response``: dropped
    malformed_lines: int = 0  #: lines without ``:`` inside otherwise good frames: ignored
    oversized_frames: int = 0  #: frames longer than ``max_frame_bytes``: dropped
    invalid_utf8: int = 0  #: undecodable bytes, replaced by U+FFFD


class Throttled:
    """Log a recurring problem at most once per ``every`` seconds (with the running total)."""

    def __init__(self, logger: logging.Logger, every: float = 10.0) -> None:
        self._log = logger
        self._every = every
        self._last: dict[str, float] = {}

    def warning(self, kind: str, msg: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last.get(kind, -1e9) >= self._every:
            self._last[kind] = now
            self._log.warning(msg, *args)


def parse_message(frame: str, counters: Counters | None = None) -> Message | None:
    """One AMI frame (CRLF lines, no terminator) -> a panoramisk :class:`Message`; None if it has neither an
    ``Event`` nor a ``Response`` header.

    Same result as panoramisk's ``Message.from_line`` (repeated headers become a list, ``Result`` is unquoted, the
    body of ``Response: Follows`` is ``content``), but independent of ``panoramisk.utils.EOL``, tolerant of
    ``Key:value`` without the space, and it counts ignored lines.
    """
    pairs = _HEADER.findall(frame)
    if frame.startswith(("Response: Follows", "Response: Fail")) or frame.count(CRLF) + 1 != len(pairs):
        return _parse_slowly(frame, counters)
    store = {k.lower(): (k, v) for k, v in pairs}
    if len(store) != len(pairs):  # a repeated header
        return _parse_slowly(frame, counters)
    if "event" not in store and "response" not in store:
        return None
    if "result" in store:
        key, value = store["result"]
        store["result"] = (key, unquote(value).strip())
    store["content"] = ("content", "")
    message = Message.__new__(Message)  # the fields Message.__init__ would set, without its per-key MutableMapping cost
    message._store = store
    message.manager = None
    return message


def _parse_slowly(frame: str, counters: Counters | None) -> Message | None:
    """parse_message for frames with a body, repeated headers or lines that are not headers."""
    lines = frame.split(CRLF)
    content = ""
    if lines[0].startswith(("Response: Follows", "Response: Fail")):
        content = lines.pop()
        while not content and lines:
            content = lines.pop()
    store: dict[str, tuple[str, Any]] = {}
    bad = 0
    for line in lines:
        key, sep, value = line.partition(":")
        if not sep or not key:
            if line:
                bad += 1
            continue
        if value[:1] == " ":
            value = value[1:]
        lower = key.lower()
        if lower == "result":
            value = unquote(value).strip()
        old = store.get(lower)
        if old is None:
            store[lower] = (key, value)
        elif lower in _SINGLE:
            bad += 1  # a second Event/Response/ActionID: keep the first, never a list
        elif isinstance(old[1], list):
            old[1].append(value)
        else:
            store[lower] = (key, [old[1], value])
    if "event" not in store and "response" not in store:
        return None
    if bad and counters is not None:
        counters.malformed_lines += bad
    store["content"] = ("content", content)
    message = Message.__new__(Message)
    message._store = store
    message.manager = None
    return message


def serialize_action(action: Mapping[str, Any]) -> bytes:
    """An action as wire bytes (``Action`` first, CRLF, list values repeated). Raises :class:`AmiBadAction` for a
    CR, LF or NUL inside a header name or value, which would let a caller-supplied value (a number to dial, an
    agent's name in a caller ID) inject headers."""
    out = []
    for key, value in sorted(action.items(), key=lambda kv: kv[0].lower() != "action"):
        if _BREAKS.search(key):
            raise AmiBadAction(f"AMI header name {key!r} contains a line break or NUL")
        for item in value if isinstance(value, (list, tuple)) else (value,):
            text = str(item)
            if _BREAKS.search(text):
                raise AmiBadAction(f"AMI header {key!r} contains a line break or NUL: not sent")
            out.append(f"{key}: {text}\r\n")
    out.append("\r\n")
    return "".join(out).encode("utf-8")


class HardenedAMIProtocol(AMIProtocol):
    """panoramisk's protocol with safe framing: incremental UTF-8, bounded frames, counted bad input, no resends."""

    # set by AMIProtocol.connection_made (panoramisk is untyped): the banner's version (None: not read yet) ...
    version: str | None
    closed: bool  # ... and whether we closed (or lost) the connection

    def __init__(self, manager: HardenedManager) -> None:
        self.factory = manager
        self.counters = manager.counters
        self.max_frame = manager.max_frame_bytes
        self.lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._close_reason: str | None = None
        self._throttled = manager.throttled
        self.login_action: Action | None = None  #: its answer is reported synchronously (before later frames)
        self.only_events = manager.only_events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        factory = self.factory
        super().connection_made(transport)
        self.factory = factory  # AMIProtocol.connection_made resets it
        self.log = log
        self.encoding = "utf-8"
        self.config = factory.config
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._buffer = ""
        self._discarding = False
        self._shutdown: str | None = None

    # -- receiving -------------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        counters = self.counters
        counters.bytes_received += len(data)
        text = self._decoder.decode(data)
        if _REPLACEMENT in text:
            counters.invalid_utf8 += text.count(_REPLACEMENT)
            self._throttled.warning(
                "utf8", "AMI %s: invalid UTF-8 replaced (%d bytes so far)", self.factory.name, counters.invalid_utf8
            )
        buf = self._buffer + text if self._buffer else text
        if self.version is None:
            if not buf.startswith(BANNER) and not BANNER.startswith(buf):
                self.version = ""
            elif CRLF not in buf:
                self._buffer = buf
                return
            else:
                banner, _, buf = buf.partition(CRLF)
                self.version = banner[len(BANNER) :].strip()
                log.info("AMI %s: %s", self.factory.name, banner)
        if self._discarding:
            end = buf.find(FRAME_END)
            if end < 0:
                self._buffer = buf[-3:]
                return
            buf = buf[end + 4 :]
            self._discarding = False
        frames = buf.split(FRAME_END)
        rest = frames.pop()
        if len(rest) > self.max_frame:
            self._oversized(len(rest))
            self._discarding = True
            rest = rest[-3:]
        self._buffer = rest
        only = self.only_events
        for frame in frames:
            if len(frame) > self.max_frame:
                self._oversized(len(frame))
                continue
            frame = frame.strip()
            if not frame:
                continue
            # An event nobody asked for is not parsed at all (in a call storm most are VarSet, Newexten, CEL, ...),
            # unless it may answer an action of ours: EventList items are events with our ActionID.
            if only is not None and frame.startswith("Event: "):
                eol = frame.find(CRLF)
                if (frame[7:eol] if eol >= 0 else frame[7:]) not in only and (
                    not self.responses or _ACTION_ID.search(frame) is None
                ):
                    counters.events_ignored += 1
                    continue
            message = parse_message(frame, counters)
            if message is None:
                counters.malformed_frames += 1
                self._throttled.warning(
                    "malformed",
                    "AMI %s: dropped a frame that is not an AMI message (%d so far): %.80r",
                    self.factory.name,
                    counters.malformed_frames,
                    frame,
                )
                continue
            try:
                self.handle_message(message)
            except Exception:  # an exception here would make asyncio close the connection
                counters.malformed_frames += 1
                log.exception("AMI %s: could not handle %.200r", self.factory.name, frame)
        if self._shutdown is not None and not self.closed:
            self.close_with(self._shutdown)

    def _oversized(self, size: int) -> None:
        self.counters.oversized_frames += 1
        self._throttled.warning(
            "oversized",
            "AMI %s: dropped a frame of more than %d characters (%d so far)",
            self.factory.name,
            size,
            self.counters.oversized_frames,
        )

    def handle_message(self, message: Message) -> None:
        store = message._store
        responses = self.responses
        if responses:
            aid = store.get("actionid")
            action = responses.get(aid[1]) if aid is not None else None
            if action is not None:
                if action.add_message(message):
                    responses.pop(action.id, None)
                if action is self.login_action:
                    self.login_action = None
                    self.factory.login_answered(self, message)
                return
        if "event" in store:
            if store["event"][1] == "Shutdown":
                self._shutdown = (
                    f"Asterisk shut down (Shutdown: {message.get('Shutdown', '?')}, "
                    f"Restart: {message.get('Restart', '?')})"
                )
            self.factory.dispatch(message)
        else:
            log.debug("AMI %s: unsolicited response ignored: %r", self.factory.name, message)

    # -- sending ---------------------------------------------------------------------------------------------

    def send(self, data: Any, as_list: bool | None = False) -> asyncio.Future[Any]:
        action = data if isinstance(data, Action) else Action(dict(data), as_list=as_list)
        action.as_list = as_list
        payload = serialize_action(action)
        if self.closed:
            raise AmiDisconnected(self._close_reason or "the connection is closed")
        self.responses[action.id] = action
        self.transport.write(payload)
        future: asyncio.Future[Any] = action.future
        return future

    def forget(self, action: Action) -> None:
        """Stop waiting for ``action`` (after a timeout): a late answer is then ignored, not kept forever."""
        self.responses.pop(action.id, None)

    # -- closing ---------------------------------------------------------------------------------------------

    def close_with(self, reason: str) -> None:
        """Close after flushing what we wrote."""
        self._close_reason = self._close_reason or reason
        if not self.closed:
            self.closed = True
            self.transport.close()

    def abort(self, reason: str) -> None:
        """Drop the connection now (a half-open socket may never flush, so ``close()`` could wait forever)."""
        self._close_reason = self._close_reason or reason
        self.closed = True
        self.transport.abort()  # also after close_with(): stops waiting for the flush

    def close(self) -> None:
        self.close_with("closed")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._close_reason is not None:
            reason = self._close_reason
        elif exc is not None:
            reason = f"connection lost: {exc!r}"
        else:
            reason = "the PBX closed the connection"
        pending = list(self.responses.values())
        self.responses.clear()
        for action in pending:
            if not action.future.done():
                action.future.set_exception(AmiDisconnected(f"{action.get('Action', '?')}: {reason}"))
                action.future.exception()  # retrieved here too: no "never retrieved" noise if nobody awaits it
        if not self.lost.done():
            self.lost.set_result(reason)
        self.factory.connection_lost(reason)


class HardenedManager(Manager):
    """panoramisk's Manager without its own reconnect loop, pinger and resend queue: :class:`AmiConnection`
    drives it. Events go to ``sink`` synchronously, in order."""

    def __init__(
        self,
        *,
        name: str,
        sink: Callable[[Message], None],
        counters: Counters,
        on_login_answer: Callable[[HardenedAMIProtocol, Message], None] | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME,
        only_events: frozenset[str] | None = None,
        **config: Any,
    ) -> None:
        super().__init__(
            protocol_factory=HardenedAMIProtocol, ping_delay=0, ping_interval=0, reconnect_timeout=0, **config
        )
        self.name = name
        self.sink = sink
        self.on_login_answer = on_login_answer
        self.counters = counters
        self.max_frame_bytes = max_frame_bytes
        self.only_events = only_events  #: None: every event; else the event names to parse and deliver
        self.throttled = Throttled(log)
        self.closing = False
        self.callbacks.clear()  # panoramisk's FullyBooted -> resend hook: we never resend
        self.patterns: list[tuple[str, re.Pattern[str]]] = []  # panoramisk's event callbacks: none

    async def open(self, timeout: float) -> HardenedAMIProtocol:
        """One TCP connection attempt (no retry here)."""
        if self.closing:
            raise AmiNotConnected("the manager is closed")
        self.loop = asyncio.get_running_loop()
        _, protocol = await asyncio.wait_for(
            self.loop.create_connection(
                lambda: HardenedAMIProtocol(self),
                self.config["host"],
                self.config["port"],
                ssl=self.config["ssl"] or None,
            ),
            timeout,
        )
        assert isinstance(protocol, HardenedAMIProtocol)
        self.protocol = protocol
        self.responses = protocol.responses
        self._connected = True
        return protocol

    def connect(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any] | None:
        """A single attempt; never schedules retries (that is :class:`AmiConnection`'s job)."""
        if self.closing:
            return None
        return asyncio.ensure_future(self.open(5.0))

    def dispatch(self, event: Message) -> list[str]:
        event.manager = self
        self.sink(event)
        return ["*"]

    def login_answered(self, protocol: HardenedAMIProtocol, message: Message) -> None:
        if self.on_login_answer is not None:
            self.on_login_answer(protocol, message)

    def ping(self) -> None:  # panoramisk's pinger never checks an answer; the watchdog does
        pass

    async def send_awaiting_actions(self, *_: Any) -> None:  # never resend (see module docstring)
        self.awaiting_actions.clear()

    def connection_lost(self, exc: Any) -> None:  # no call_later(reconnect): AmiConnection decides
        self._connected = False
        self.authenticated = False

    def close(self) -> None:
        self.closing = True
        protocol = self.protocol
        if protocol is not None and not protocol.closed:
            protocol.close()
