"""The PBX listener: for each ``[[pbx]]``, AMI events -> call tracker -> ticket intake.

This is the one place where the telephony packages meet the ticket domain: ``pbx`` produces call facts and knows
nothing of tickets; ``tickets.calls.intake`` records calls and knows nothing of AMI. One consumer task per PBX takes the
connection's events in order, feeds the tracker and records the facts: the facts of the events queued so far in
one transaction (a call storm costs one commit per burst, not per fact), falling back to one fact at a time,
retried while the database is away (facts are idempotent, so a retry never doubles anything). Each event is fed with
the time the connection received it, so the tracker keeps call times on our clock when the PBX's is off
(:mod:`pbx.tracker`, "Times"). After every login, and after events were dropped, it asks Asterisk what is up
(``CoreShowChannels``, ``QueueStatus``) so calls that started or ended while we were away are picked up or closed
out: if Asterisk started after the last event we received (a crash), the calls it no longer has were cut off then.
Every call still open in the database that the PBX no longer has is closed out, whatever its age. Then it sets the
queue board's day counters from the calls recorded today (by then the database agrees with the PBX), so a restart
or a takeover does not drop the supervisors' board to 0 mid-day.

With several instances on one PostgreSQL database, each PBX has one listening instance, its leader
(:mod:`web.runtime.leadership`); the others stand by and take over, with a fresh tracker and a resync, when it goes
away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import (
    DBConnectionError,
    IncompleteInstanceError,
    IntegrityError,
    NotExistOrMultiple,
    NoValuesFetched,
    ObjectDoesNotExistError,
    OperationalError,
    TransactionManagementError,
)

from pbx import actions
from pbx.backoff import Backoff
from pbx.connection import AmiConnection, AmiError, ConnectionState
from pbx.event_queue import SessionMarker
from pbx.facts import AgentRinging, CallAnswered, CallEnded, CallOffered, CallQueued, Fact, Outcome
from pbx.phones import PhoneBoard
from pbx.queue_board import QueueBoard
from pbx.tracker import CallTracker
from tickets.calls.call_counts import queue_counts
from tickets.calls.callers import CallerMatch
from tickets.calls.intake import CallIntake
from tickets.models import CallOutcome
from tickets.transaction import unit_of_work
from web.runtime.leadership import Leadership, Role, asyncpg_dsn
from web.runtime.wrapup import WrapUp
from web.settings import DatabaseSettings, PbxSettings
from web.tasks import cancel_and_wait

log = logging.getLogger(__name__)

#: Errors that mean "the database is away": the fact is retried until it is applied.
TRANSIENT = (DBConnectionError, OperationalError, TransactionManagementError, ConnectionError, OSError, TimeoutError)
#: ... except these: a constraint, or a row that should be there and is not. Retrying would stall the PBX forever.
PERMANENT = (IntegrityError, NotExistOrMultiple, ObjectDoesNotExistError, NoValuesFetched, IncompleteInstanceError)
#: The states of a call still open in the database (indexed with the PBX name: a resync reads only these rows).
#: At most this many call facts share a transaction (on SQLite, other writers wait for it: a few ms).
FACTS_PER_TRANSACTION = 32


@dataclass
class ListenerCounters:
    facts_applied: int = 0
    fact_retries: int = 0
    facts_failed: int = 0  #: facts dropped because applying them hit a bug (logged with a traceback)
    bad_events: int = 0  #: events the tracker could not read (logged, skipped)
    burst_fallbacks: int = 0  #: bursts of facts whose transaction failed and that were recorded one by one
    resyncs: int = 0
    resync_failures: int = 0
    closed_out: int = 0  #: calls found open in the database after a resync, ended while nobody listened


class PbxListener:
    """Follows the calls of one PBX and turns them into tickets."""

    def __init__(
        self,
        settings: PbxSettings,
        intake: CallIntake,
        *,
        connection: AmiConnection | None = None,
        on_board: Callable[[QueueBoard], None] | None = None,
        on_phones: Callable[[PhoneBoard], None] | None = None,
        on_link: Callable[[bool], None] | None = None,
    ) -> None:
        self.name = settings.name
        self.settings = settings
        self.intake = intake
        self.tracker = self._new_tracker()
        self.connection = connection or self._new_connection()
        self.counters = ListenerCounters()
        self.last_fact_at: float | None = None
        #: Who runs this listener when several instances share the database (None: this one alone, on SQLite).
        self.leadership: Leadership | None = None
        #: Told of each tracker's queue board, now and whenever a fresh one starts (a standby elected again).
        self.on_board = on_board
        #: ... and of its phone board; ``on_link`` of the AMI link coming up (logged in, resynchronised) or going down.
        self.on_phones = on_phones
        self.on_link = on_link
        self._tell_boards()
        #: The automatic wrap-up pauses (``[[pbx]] wrapup``): sent from here, the PBX's leader.
        self.wrapup = WrapUp(
            settings.name, settings.wrapup, connection=lambda: self.connection, phones=lambda: self.tracker.phones
        )
        self._seen_drops = 0
        self._task: asyncio.Task[None] | None = None
        self._system_class = False  #: a login got FullyBooted: the AMI user has the system read class
        self._last_event_at: float | None = None  #: our clock when the tracker last read an event
        self._shift_told = self.tracker.clock_shift

    def _new_tracker(self) -> CallTracker:
        tracker = CallTracker(self.settings.name, self.settings.queues, contexts=self.settings.contexts)
        tracker.board.service_level = int(self.settings.service_level.total_seconds())
        return tracker

    def _new_connection(self) -> AmiConnection:
        s = self.settings
        ping = s.ping_interval.total_seconds()
        return AmiConnection(
            s.host,
            s.port,
            s.username,
            s.secret.get_secret_value(),
            name=s.name,
            session_markers=True,
            ping_interval=ping,
            ping_timeout=min(5.0, ping),
            action_timeout=s.action_timeout.total_seconds(),
            only_events=self.tracker.event_names,
        )

    def healthy(self) -> bool:
        """Logged in to the PBX (a leader that cannot be for long hands the PBX over to another instance)."""
        return self.connection.connected

    @property
    def role(self) -> Role:
        """``single`` (no other instance can listen), ``leader`` (listening) or ``standby`` (waiting for the lock)."""
        return self.leadership.role if self.leadership is not None else "single"

    async def start(self) -> None:
        """Listen. After a :meth:`stop` (a standby elected again), with a new connection and a fresh tracker: the
        resync at login picks up the calls that are up now."""
        if self.connection.state is ConnectionState.CLOSED:
            self.tracker = self._new_tracker()
            self.connection, self._seen_drops, self._last_event_at = self._new_connection(), 0, None
            self._shift_told = self.tracker.clock_shift
            self._tell_boards()
        await self.connection.start()
        self._task = asyncio.create_task(self._consume(), name=f"pbx:{self.name}")

    def _tell_boards(self) -> None:
        if self.on_board is not None:
            self.on_board(self.tracker.board)
        if self.on_phones is not None:
            self.on_phones(self.tracker.phones)

    async def stop(self) -> None:
        """Stop recording at once (a fact being recorded is rolled back), then close the AMI connection. Wrap-up
        pauses under way are left to the next leader (its resync ends them when due)."""
        await cancel_and_wait(self._task)
        self._task = None
        await self.wrapup.stop()
        await self.connection.close()

    def status(self) -> dict[str, Any]:
        """The connection's state and counters plus the listener's, for /readyz and GET /api/v1/pbx."""
        return {
            **self.connection.status().as_dict(),
            "live_calls": self.tracker.live,
            "last_fact_at": self.last_fact_at,
            **vars(self.counters),
            "role": self.role,
        }

    # -- the consumer ------------------------------------------------------------------------------------------

    async def _consume(self) -> None:
        events = self.connection.events
        while True:
            facts: list[Fact] = []  # of the events queued so far: recorded together
            for item in await events.get_batch():
                if isinstance(item, SessionMarker):
                    if item.kind == "login":
                        await self.record(facts)
                        facts = []
                        await self.resync()
                        self._tell_link(True)
                    elif item.kind == "lost":
                        self._tell_link(False)
                    continue
                before = self.tracker.last_event_at
                received_t = getattr(item, "received_at", None) or time.time()  # our clock when it arrived
                try:
                    facts += self.tracker.feed(item, datetime.fromtimestamp(received_t, UTC))
                except Exception:  # a malformed event must not stop the listener
                    self.counters.bad_events += 1
                    log.warning(
                        "PBX %s: skipped an event the tracker could not read: %.200r", self.name, item, exc_info=True
                    )
                if self.tracker.last_event_at is not before:  # an event it reads: a sign of life of the PBX
                    self._last_event_at = received_t
            self._tell_clock_shift()
            await self.record(facts)
            dropped = self.connection.status().dropped_events
            if dropped > self._seen_drops:  # events were lost: ask Asterisk what is true now
                log.warning(
                    "PBX %s: %d events were dropped (queue full); resynchronising",
                    self.name,
                    dropped - self._seen_drops,
                )
                self._seen_drops = dropped
                await self.resync()

    def _tell_link(self, up: bool) -> None:
        if self.on_link is not None:
            self.on_link(up)

    async def resync(self) -> None:
        """Pick up calls that started, and close out calls that ended, while events were not seen."""
        try:
            now = await actions.snapshot(self.connection)
        except AmiError as exc:
            self.counters.resync_failures += 1
            log.warning("PBX %s: resynchronisation failed: %s", self.name, exc)
            return
        at = datetime.now(UTC)
        started = self.pbx_started()
        restarted = started is not None and self._last_event_at is not None and started > self._last_event_at
        items = now.queue + now.channels
        live = now.live_calls
        facts = self.tracker.snapshot_calls(items, at) + self.tracker.reconcile(live, at, restarted=restarted)
        self.counters.resyncs += 1
        if restarted:
            log.warning(
                "PBX %s restarted since its last event (at %s): the calls it no longer has were cut off then",
                self.name,
                self.tracker.last_event_at,
            )
        log.info(
            "PBX %s: resynchronised: %d channels up, %d calls followed, %d facts",
            self.name,
            len(live),
            self.tracker.live,
            len(facts),
        )
        await self.record(facts)
        await self.close_out(live, at)
        await self.seed_queue_board(at)
        self.wrapup.resynced()

    def pbx_started(self) -> float | None:
        """When Asterisk last started (epoch seconds, our clock), asked after a login: the ``Uptime`` of the
        ``FullyBooted`` Asterisk sends right after the login answer; now if none came although an earlier login got
        one (the AMI user has the ``system`` class: Asterisk is still booting, so it has just restarted); else None
        (not known: the AMI user lacks the ``system`` class)."""
        if self.connection.status().fully_booted:
            self._system_class = True
            return self.connection.pbx_started_at
        return time.time() if self._system_class else None

    async def close_out(self, live: set[str], at: datetime) -> None:
        """End the calls still open in the database that the PBX no longer has, whatever their age: they ended
        while no tracker here followed them (the instance that did died, or helpline was down for days). After
        ``reconcile`` the tracker follows only live calls, so these are calls it never saw; their outcome is what is
        known: answered, or interrupted, at ``at`` (when they ended is not known). Reads only the open calls of this
        PBX (an index on pbx + state), however many calls the table holds."""
        try:
            rows = await self.intake.open_calls(self.name)
        except Exception as exc:  # the database is away (or worse): the next resync looks again
            log.warning("PBX %s: could not look for calls left open: %s: %s", self.name, type(exc).__name__, exc)
            return
        facts: list[Fact] = [
            CallEnded(self.name, linkedid, at, Outcome.ANSWERED if answered else Outcome.INTERRUPTED, None, None)
            for linkedid, answered in rows
            if linkedid not in live
        ]
        if facts:
            self.counters.closed_out += len(facts)
            log.warning(
                "PBX %s: %d calls open in the database ended while nobody listened: closed out", self.name, len(facts)
            )
            await self.record(facts)

    def _tell_clock_shift(self) -> None:
        """Log when the tracker starts (or stops) shifting the PBX's times onto our clock."""
        shift = self.tracker.clock_shift
        if shift != self._shift_told:
            self._shift_told = shift
            if shift:
                log.warning(
                    "PBX %s: its clock is %.0f s %s ours: call times are taken on our clock, durations from "
                    "Asterisk's (check NTP on the PBX)",
                    self.name,
                    abs(shift.total_seconds()),
                    "behind" if shift.total_seconds() > 0 else "ahead of",
                )
            else:
                log.info("PBX %s: its clock agrees with ours again", self.name)

    async def seed_queue_board(self, now: datetime) -> None:
        """Set the queue board's counters of today from the calls recorded today. Called after a resync: the
        database then has every answer and end the PBX told of (a call answered before is answered there; one that
        ended while nobody listened is closed out), and the tracker counts only what happens from now on (the
        answer or end of the calls up now), so nothing counts twice."""
        board = self.tracker.board
        day = board.day_of(now)
        try:
            counts = await queue_counts(self.name, *board.day_bounds(day), in_time=board.service_level)
        except Exception as exc:  # the database is away: the counters stay as they are until the next resync
            log.warning(
                "PBX %s: could not count today's calls for the queue board: %s: %s", self.name, type(exc).__name__, exc
            )
            return
        if counts:  # nothing recorded today: nothing to seed (the board's own counts, of whatever day, stand)
            board.seed_day(day, counts)

    async def record(self, facts: list[Fact]) -> None:
        """Record call facts in order. A burst (a call storm, a resync) goes in transactions of up to
        ``FACTS_PER_TRANSACTION`` facts: far fewer round trips and commits. If such a transaction fails, its facts
        are recorded one by one, each retried while the database is away."""
        self.wrapup.follow(facts)
        for start in range(0, len(facts), FACTS_PER_TRANSACTION):
            chunk = facts[start : start + FACTS_PER_TRANSACTION]
            if len(chunk) == 1 or not await self._record_together(chunk):
                for fact in chunk:
                    await self._apply(fact)

    async def _record_together(self, facts: list[Fact]) -> bool:
        # the caller lookups first: no transaction is held while a directory server is asked
        matches = {
            f.caller_number: await self.intake.identify(f.caller_number) for f in facts if isinstance(f, CallOffered)
        }
        try:
            async with unit_of_work():
                for fact in facts:
                    await apply_fact(self.intake, fact, matches)
        except Exception as exc:
            self.counters.burst_fallbacks += 1
            log.info(
                "PBX %s: recording %d call facts in one transaction failed (%s: %s); recording them one by one",
                self.name,
                len(facts),
                type(exc).__name__,
                exc,
            )
            return False
        self.counters.facts_applied += len(facts)
        self.last_fact_at = time.time()
        return True

    async def _apply(self, fact: Fact) -> None:
        backoff: Backoff | None = None  # made at the first retry: a new Random reads os.urandom
        while True:
            try:
                await apply_fact(self.intake, fact)
            except Exception as exc:
                if not isinstance(exc, TRANSIENT) or isinstance(exc, PERMANENT):
                    # a bug or a refusal (the intake settles races itself), not an outage: no retry
                    self.counters.facts_failed += 1
                    log.exception("PBX %s: failed to record %r", self.name, fact)
                    return
                self.counters.fact_retries += 1
                backoff = backoff or Backoff(0.2, 10.0)
                delay = backoff.next()
                log.warning(
                    "PBX %s: cannot record %s of call %s yet (%s); retrying in %.1f s",
                    self.name,
                    type(fact).__name__,
                    fact.linkedid,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            self.counters.facts_applied += 1
            self.last_fact_at = time.time()
            return


async def start_listeners(listeners: Mapping[str, PbxListener], database: DatabaseSettings) -> None:
    """Start each listener: at once on SQLite (one instance); on PostgreSQL under the PBX's leadership lock, so that
    of all the instances sharing the database exactly one listens to each PBX."""
    for listener in listeners.values():
        if database.is_sqlite:
            await listener.start()
            continue
        listener.leadership = Leadership(
            asyncpg_dsn(database.url.get_secret_value()),
            f"helpline.pbx:{listener.name}",
            on_elected=listener.start,
            on_deposed=listener.stop,
            healthy=listener.healthy,
        )
        listener.leadership.start()


async def stop_listeners(listeners: Mapping[str, PbxListener]) -> None:
    """Stop each listener, then give up its leadership (another instance takes over within about a second)."""
    for listener in listeners.values():
        if listener.leadership is not None:
            await listener.leadership.stop()
        await listener.stop()


async def apply_fact(intake: CallIntake, fact: Fact, matches: Mapping[str, CallerMatch] | None = None) -> None:
    """Hand one call fact to the ticket intake (``matches``: caller lookups already made, by number)."""
    where = {"pbx": fact.pbx, "linkedid": fact.linkedid, "at": fact.at}
    if isinstance(fact, CallOffered):
        await intake.offered(
            **where,
            caller_number=fact.caller_number,
            caller_name=fact.caller_name,
            queue=fact.queue,
            match=matches.get(fact.caller_number) if matches else None,
        )
    elif isinstance(fact, CallQueued):
        await intake.queued(**where, queue=fact.queue)
    elif isinstance(fact, AgentRinging):
        await intake.ringing(**where, agent_name=fact.agent_name, agent_extension=fact.agent_extension)
    elif isinstance(fact, CallAnswered):
        await intake.answered(
            **where, agent_name=fact.agent_name, agent_extension=fact.agent_extension, wait_seconds=fact.wait_seconds
        )
    elif isinstance(fact, CallEnded):
        await intake.ended(
            **where,
            outcome=CallOutcome(fact.outcome.value),
            wait_seconds=fact.wait_seconds,
            talk_seconds=fact.talk_seconds,
            ended_by=fact.ended_by,
            voicemail=fact.voicemail,
            hangup_cause=fact.hangup_cause,
        )
