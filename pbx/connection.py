"""The AMI connection of a long-running listener: panoramisk's ``Manager``, hardened.

panoramisk 1.4 parses AMI and matches responses to actions well, but as a 24/7 listener it has bugs (see
``shared/notes/libraries.md`` §1). What this module does about each:

* half-open TCP never detected -> a Ping watchdog: no ``Pong`` within ``ping_timeout`` aborts the socket;
* UTF-8 split across TCP reads silently dropped -> ``pbx.protocol`` decodes with an incremental decoder;
* ``close()`` does not cancel a pending reconnect -> panoramisk never reconnects on its own here: :class:`AmiConnection`
  runs the one reconnect loop (exponential backoff with jitter) and stops it on :meth:`AmiConnection.close`;
* a wrong secret makes a silent endless re-login -> state ``auth_failed`` with the PBX's message, an error log line,
  retries on a slow backoff;
* actions that never resolve -> every action has a timeout; a timed-out action is forgotten; actions pending when the
  connection drops fail at once with :class:`AmiDisconnected`;
* actions are re-sent only after ``FullyBooted`` -> nothing is ever re-sent behind the caller's back (an ``Originate``
  re-sent minutes later would place a surprise call); a login that is not followed by ``FullyBooted`` is reported
  (the AMI user lacks the ``system`` read class);
* ``panoramisk.testing`` sets ``panoramisk.utils.EOL`` to ``'\\n'`` globally -> never imported here, and the framing
  in ``pbx.protocol`` uses its own CRLF, so it would not matter anyway;
* a ``def`` callback returning a coroutine gets one unreferenced Task per event -> events are handed, in order, by a
  synchronous call to one bounded :class:`EventQueue`; when it is full the event is dropped and counted.

Bad input (garbage, truncated frames, oversized frames, invalid UTF-8) is counted and logged; the connection survives.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from panoramisk.actions import Action
from panoramisk.message import Message

from pbx.ami_values import seconds
from pbx.backoff import Backoff
from pbx.event_queue import EventQueue, SessionMarker
from pbx.protocol import (
    DEFAULT_MAX_FRAME,
    AmiActionError,
    AmiBadAction,
    AmiDisconnected,
    AmiError,
    AmiNotConnected,
    AmiTimeout,
    Counters,
    HardenedAMIProtocol,
    HardenedManager,
    Throttled,
)

#: The AMI read classes helpline's user needs (manager.conf ``read``): ``system`` for FullyBooted and Shutdown,
#: ``call`` for channels and hangups, ``agent`` for the queue's events. ``[[pbx]] contexts`` also needs ``dialplan``
#: (``Newexten``).
READ_CLASSES = "system,call,agent"

__all__ = [
    "READ_CLASSES",
    "AmiActionError",
    "AmiBadAction",
    "AmiConnection",
    "AmiDisconnected",
    "AmiError",
    "AmiNotConnected",
    "AmiTimeout",
    "ConnectionState",
    "ConnectionStatus",
    "EventQueue",
    "Message",
    "SessionMarker",
]

log = logging.getLogger(__name__)


class ConnectionState(str, enum.Enum):
    CONNECTING = "connecting"  #: opening TCP or logging in
    CONNECTED = "connected"  #: logged in; events flow
    AUTH_FAILED = "auth_failed"  #: the PBX refused the username/secret; stays so while retrying (slowly)
    DISCONNECTED = "disconnected"  #: not started yet, or dropped / last attempt failed: waiting to retry
    CLOSED = "closed"  #: :meth:`AmiConnection.close` was called


@dataclass(frozen=True)
class ConnectionStatus:
    """A snapshot of one PBX connection, for ``/readyz``, ``/api/v1/pbx`` and metrics."""

    name: str
    host: str
    port: int
    state: ConnectionState
    last_error: str | None  #: why the last attempt failed / the connection dropped; None if never
    last_error_at: float | None  #: epoch seconds
    connected_since: float | None  #: epoch seconds of the current login
    logins: int  #: successful logins
    reconnects: int  #: successful logins after the first
    connect_failures: int  #: attempts that did not reach a login (refused, timeout, reset, ...)
    auth_failures: int  #: logins refused by the PBX
    fully_booted: bool | None  #: FullyBooted seen after the current login (None: not yet known)
    asterisk_version: str | None  #: from the banner, e.g. "11.0.0"
    queue_size: int
    queue_capacity: int
    bytes_received: int
    events_received: int
    dropped_events: int
    events_ignored: int  #: events not in ``only_events``, skipped without parsing
    malformed_frames: int
    malformed_lines: int
    oversized_frames: int
    invalid_utf8: int

    @property
    def ready(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        data["ready"] = self.ready
        return data


LoginHook = Callable[["AmiConnection"], Awaitable[None] | None]
DisconnectHook = Callable[["AmiConnection", str], None]


class AmiConnection:
    """One supervised, logged-in AMI session to a PBX, re-established forever until :meth:`close`.

    Events arrive in :attr:`events` (one consumer task; :meth:`EventQueue.get` / :meth:`EventQueue.get_batch`), as
    panoramisk :class:`Message` objects in stream order, each with ``received_at`` (epoch seconds, our clock when
    it was read), and :class:`SessionMarker` objects if ``session_markers``.
    ``on_login(conn)`` runs after every successful login (resync there with :meth:`send_list`); ``on_disconnect(conn,
    reason)`` is called synchronously when a logged-in connection drops. :meth:`status` tells how it is going.
    ``only_events``: the event names the consumer uses; other events are skipped before they are parsed (counted in
    ``events_ignored``), like a client-side ``eventfilter``. Answers to actions always arrive.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5038,
        username: str = "",
        secret: str = "",
        *,
        name: str = "main",
        events: str = "on",
        on_login: LoginHook | None = None,
        on_disconnect: DisconnectHook | None = None,
        queue_size: int = 50_000,
        session_markers: bool = False,
        connect_timeout: float = 5.0,
        login_timeout: float = 5.0,
        action_timeout: float = 10.0,
        ping_interval: float = 10.0,
        ping_timeout: float = 5.0,
        backoff: Backoff | None = None,
        auth_backoff: Backoff | None = None,
        stable_after: float = 30.0,
        fully_booted_timeout: float = 5.0,
        max_frame_bytes: int = DEFAULT_MAX_FRAME,
        only_events: Collection[str] | None = None,
        ssl: Any = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self._events_mask = events
        self.on_login = on_login
        self.on_disconnect = on_disconnect
        self.events: EventQueue[Message | SessionMarker] = EventQueue(queue_size)
        self.session_markers = session_markers
        self.connect_timeout = connect_timeout
        self.login_timeout = login_timeout
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.auth_backoff = auth_backoff or Backoff(30.0, 300.0)
        self.stable_after = stable_after
        self.fully_booted_timeout = fully_booted_timeout
        self.counters = Counters()
        #: The events wanted (None: all). FullyBooted and Shutdown are always read: the connection needs them.
        self.only_events = None if only_events is None else frozenset(only_events) | {"FullyBooted", "Shutdown"}
        self._manager = HardenedManager(
            name=name,
            sink=self._on_event,
            counters=self.counters,
            on_login_answer=self._login_answered,
            max_frame_bytes=max_frame_bytes,
            only_events=self.only_events,
            host=host,
            port=port,
            ssl=ssl,
        )
        self._state = ConnectionState.DISCONNECTED
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._connected_since: float | None = None
        self._logins = 0
        self._connect_failures = 0
        self._auth_failures = 0
        self._session = 0
        self._fully_booted: bool | None = None
        self._started_at: float | None = None
        self._protocol: HardenedAMIProtocol | None = None
        self._ids = itertools.count(1)
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._throttled = Throttled(log)

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self, wait: float | None = None) -> None:
        """Start connecting (in the background). With ``wait``, also wait that long for the first login
        (:class:`TimeoutError` if it does not happen; the connection keeps trying)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"ami-{self.name}")
        if wait is not None:
            await self.wait_connected(wait)

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until logged in (:class:`TimeoutError` after ``timeout`` seconds)."""
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def close(self) -> None:
        """Log off, close the socket, stop reconnecting for good."""
        if self._closing:
            return
        self._closing = True
        self._manager.closing = True
        protocol = self._protocol
        if protocol is not None and not protocol.closed and self._state is ConnectionState.CONNECTED:
            try:
                await self._send(protocol, {"Action": "Logoff"}, 1.0, as_list=False)
            except (AmiError, OSError):
                pass
        if protocol is not None:
            protocol.abort("closed")
        tasks = [t for t in (self._task, *self._tasks) if t is not None and t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._connected.clear()
        self._connected_since = None
        self._state = ConnectionState.CLOSED

    async def __aenter__(self) -> AmiConnection:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- state -----------------------------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def connected(self) -> bool:
        return self._state is ConnectionState.CONNECTED

    @property
    def pbx_started_at(self) -> float | None:
        """When Asterisk started (epoch seconds, our clock), from the ``Uptime`` of the ``FullyBooted`` of the current
        login; None until one arrived. Asterisk sends it right after the login answer, before the answer to any
        action, unless it is still booting (then at the end of its boot) or the user lacks the ``system`` class."""
        return self._started_at

    def status(self) -> ConnectionStatus:
        c = self.counters
        protocol = self._protocol
        return ConnectionStatus(
            name=self.name,
            host=self.host,
            port=self.port,
            state=self._state,
            last_error=self._last_error,
            last_error_at=self._last_error_at,
            connected_since=self._connected_since,
            logins=self._logins,
            reconnects=max(0, self._logins - 1),
            connect_failures=self._connect_failures,
            auth_failures=self._auth_failures,
            fully_booted=self._fully_booted,
            asterisk_version=(protocol.version or None) if protocol is not None else None,
            queue_size=len(self.events),
            queue_capacity=self.events.maxsize,
            bytes_received=c.bytes_received,
            events_received=c.events_received,
            dropped_events=c.dropped_events,
            events_ignored=c.events_ignored,
            malformed_frames=c.malformed_frames,
            malformed_lines=c.malformed_lines,
            oversized_frames=c.oversized_frames,
            invalid_utf8=c.invalid_utf8,
        )

    def _error(self, text: str) -> None:
        self._last_error = text
        self._last_error_at = time.time()

    # -- actions ---------------------------------------------------------------------------------------------

    async def send_action(self, action: Mapping[str, Any], *, timeout: float | None = None) -> Message:
        """Send one action and return its (first) response, e.g. ``Response: Success`` / ``Error``.

        Raises :class:`AmiNotConnected` (not logged in now), :class:`AmiTimeout` (no answer within ``timeout``,
        default ``action_timeout``), :class:`AmiDisconnected` (dropped before the answer), :class:`AmiBadAction` (a
        header holds a line break: nothing was sent). Never re-sent.
        For ``Originate`` with ``Async: true`` this returns the immediate "successfully queued" response; the
        ``OriginateResponse`` event then arrives in :attr:`events`.
        """
        result = await self._send(self._require_protocol(), action, timeout, as_list=False)
        assert isinstance(result, Message)
        return result

    async def send_list(self, action: Mapping[str, Any], *, timeout: float | None = None) -> list[Message]:
        """Send an EventList action (``CoreShowChannels``, ``QueueStatus``, ``QueueSummary``, ...) and return all
        its messages: ``[0]`` is the ``Response: Success``, ``[-1]`` the ``...Complete`` event, the items between.

        Raises :class:`AmiActionError` if the PBX answers ``Response: Error``, and as :meth:`send_action`.
        """
        result = await self._send(self._require_protocol(), action, timeout, as_list=None)
        messages = result if isinstance(result, list) else [result]
        first = messages[0]
        if "response" in first and not first.success:
            raise AmiActionError(str(action.get("Action", "?")), first)
        return messages

    def _require_protocol(self) -> HardenedAMIProtocol:
        protocol = self._protocol
        if self._state is not ConnectionState.CONNECTED or protocol is None or protocol.closed:
            raise AmiNotConnected(
                f"PBX {self.name} is not connected ({self._state.value}"
                + (f": {self._last_error})" if self._last_error else ")")
            )
        return protocol

    async def _send(
        self, protocol: HardenedAMIProtocol, action: Mapping[str, Any], timeout: float | None, as_list: bool | None
    ) -> Message | list[Message]:
        data = dict(action)
        if not any(k.lower() == "actionid" for k in data):
            data["ActionID"] = f"helpline-{self.name}-{self._session}-{next(self._ids)}"
        act = Action(data, as_list=as_list)
        future = protocol.send(act, as_list)
        limit = self.action_timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(future, limit)
        except TimeoutError:
            protocol.forget(act)
            raise AmiTimeout(f"{data.get('Action', '?')}: no answer from PBX {self.name} within {limit:g} s") from None

    # -- events ----------------------------------------------------------------------------------------------

    def _on_event(self, event: Message) -> None:
        event.received_at = time.time()  # our clock, for the consumer to compare the PBX's Timestamp with
        counters = self.counters
        counters.events_received += 1
        if event._store["event"][1] == "FullyBooted":
            self._fully_booted = True
            uptime = seconds(event.get("Uptime"))
            if uptime is not None:  # Asterisk says how long it has been up: when it started, on our clock
                self._started_at = time.time() - uptime
        if not self.events.put_nowait(event):
            counters.dropped_events += 1
            self._throttled.warning(
                "dropped",
                "AMI %s: event queue full (%d), events dropped: %d so far",
                self.name,
                self.events.maxsize,
                counters.dropped_events,
            )

    # -- the supervisor --------------------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            if self._state is not ConnectionState.AUTH_FAILED:  # keep showing auth_failed until it works
                self._state = ConnectionState.CONNECTING
            try:
                protocol = await self._manager.open(self.connect_timeout)
            except (TimeoutError, OSError) as exc:
                self._failed(f"cannot connect to {self.host}:{self.port}: {exc or type(exc).__name__}")
                await self._pause(self.backoff.next())
                continue
            self._protocol = protocol
            try:
                await self._login(protocol)
            except AmiActionError as exc:
                self._auth_failures += 1
                self._state = ConnectionState.AUTH_FAILED
                self._error(
                    f"login refused for user {self.username!r}: {exc.message.get('Message') or 'no reason'}"
                    " (check username/secret and the permit/deny lines of manager.conf)"
                )
                delay = self.auth_backoff.next()
                log.error("AMI %s: %s; next attempt in %.0f s", self.name, self._last_error, delay)
                protocol.close_with("login refused")
                await asyncio.sleep(delay)
                continue
            except AmiError as exc:
                protocol.abort("login failed")
                self._failed(f"login failed: {exc}")
                await self._pause(self.backoff.next())
                continue
            started = loop.time()
            await self._serve(protocol)
            if self._closing:
                break
            if loop.time() - started >= self.stable_after:
                self.backoff.reset()
            await self._pause(self.backoff.next())

    def _failed(self, text: str) -> None:
        self._connect_failures += 1
        self._error(text)
        log.warning("AMI %s: %s", self.name, text)

    async def _pause(self, delay: float) -> None:
        if self._state is not ConnectionState.AUTH_FAILED:
            self._state = ConnectionState.DISCONNECTED
        log.debug("AMI %s: next attempt in %.2f s", self.name, delay)
        await asyncio.sleep(delay)

    async def _login(self, protocol: HardenedAMIProtocol) -> None:
        data = {
            "Action": "Login",
            "Username": self.username,
            "Secret": self._secret,
            "Events": self._events_mask,
            "ActionID": f"helpline-{self.name}-login-{next(self._ids)}",
        }
        act = Action(data, as_list=False)
        protocol.login_action = act
        future = protocol.send(act, False)
        try:
            response = await asyncio.wait_for(future, self.login_timeout)
        except TimeoutError:
            raise AmiTimeout(f"no answer to Login within {self.login_timeout:g} s") from None
        if not response.success:
            raise AmiActionError("Login", response)

    def _login_answered(self, protocol: HardenedAMIProtocol, response: Message) -> None:
        """Called synchronously when the Login answer is parsed, before any later frame of the same read: the
        session (and its marker in the queue) starts exactly where the PBX's events for it start."""
        if not response.success:
            return
        self._session += 1
        self._logins += 1
        self._fully_booted = None
        self._started_at = None
        self._manager.authenticated = True
        self._state = ConnectionState.CONNECTED
        self._connected_since = time.time()
        self._connected.set()
        self.auth_backoff.reset()
        if self.session_markers:
            self.events.put_marker(SessionMarker("login", self._session, self._connected_since))

    async def _serve(self, protocol: HardenedAMIProtocol) -> None:
        """A logged-in session, until it drops."""
        session = self._session
        log.info(
            "AMI %s: logged in to %s:%d as %s (session %d, Asterisk Call Manager %s)",
            self.name,
            self.host,
            self.port,
            self.username,
            session,
            protocol.version or "?",
        )
        helpers = [self._spawn(self._watchdog(protocol))]
        if self._events_mask.lower() not in ("off", "0", "false", "no"):
            helpers.append(self._spawn(self._expect_fully_booted(session)))
        if self.on_login is not None:
            helpers.append(self._spawn(self._run_login_hook()))
        try:
            reason = await asyncio.shield(protocol.lost)
        finally:
            for task in helpers:
                task.cancel()
        self._connected.clear()
        self._connected_since = None
        self._manager.authenticated = False
        if self._closing:
            return
        self._state = ConnectionState.DISCONNECTED
        self._error(reason)
        log.warning("AMI %s: disconnected: %s", self.name, reason)
        if self.session_markers:
            self.events.put_marker(SessionMarker("lost", session, time.time(), reason))
        if self.on_disconnect is not None:
            try:
                self.on_disconnect(self, reason)
            except Exception:
                log.exception("AMI %s: on_disconnect hook failed", self.name)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run_login_hook(self) -> None:
        assert self.on_login is not None
        try:
            result = self.on_login(self)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("AMI %s: on_login hook failed", self.name)

    async def _watchdog(self, protocol: HardenedAMIProtocol) -> None:
        """Ping every ``ping_interval``; no answer within ``ping_timeout`` means the TCP connection is dead."""
        while not protocol.closed:
            await asyncio.sleep(self.ping_interval)
            if protocol.closed:
                return
            try:
                await self._send(protocol, {"Action": "Ping"}, self.ping_timeout, as_list=False)
            except AmiTimeout:
                reason = f"no answer to Ping within {self.ping_timeout:g} s (half-open connection?)"
                log.warning("AMI %s: %s: dropping the connection", self.name, reason)
                protocol.abort(reason)
                return
            except AmiError:
                return

    async def _expect_fully_booted(self, session: int) -> None:
        await asyncio.sleep(self.fully_booted_timeout)
        if session == self._session and not self._fully_booted:
            self._fully_booted = False
            log.warning(
                "AMI %s: no FullyBooted event within %g s of logging in: the AMI user probably lacks the "
                "'system' read class (manager.conf: read = " + READ_CLASSES + "). helpline works without "
                "it, but Asterisk restarts are then seen only as dropped connections.",
                self.name,
                self.fully_booted_timeout,
            )
