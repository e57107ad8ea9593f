"""The call tracker: AMI events in, call facts (:mod:`pbx.facts`) out.

A pure state machine: no I/O, no asyncio, no clock of its own (see "Times" below). One tracker follows one
PBX; a call is keyed by its ``Linkedid`` (the Uniqueid of its first channel, epoch prefix included, so it stays
unique across Asterisk restarts where the Uniqueid counter starts again at 0).

How a call is followed (the observations behind each rule: the README of the AMI recordings):

* Channels: ``Newchannel`` adds its Uniqueid to the call of its Linkedid (an IT-line call or not yet one),
  ``Hangup`` removes it. The call is over at the ``Hangup`` of its last channel; by then everything is in
  (``AgentComplete``, ``QueueCallerAbandon``, the voicemail's ``MessageWaiting``) and ``CallEnded`` is emitted.
  Ended Linkedids are remembered (the last ``ended_memory``) so the events that trail a hangup (``NewCallerid``,
  ``Cdr``, CEL) or a replayed stretch of events resurrect nothing.
* IT-line call: ``QueueCallerJoin`` of one of ``queues`` -> ``CallOffered`` with the queue channel's caller ID.
  With ``contexts``, a channel of the call appearing in one of them (``Newchannel``/``Newexten``) offers it before
  any queue; while that channel has no caller ID yet (an originated channel gets it right after creation) the
  offer waits for the call's first caller ID, its queue entry or its end, whichever comes first. When such a call
  then enters one of the queues, ``CallQueued`` names the queue.
* Adoption: a queue event of one of ``queues`` (``AgentCalled``, ``AgentConnect``, ``AgentComplete``,
  ``QueueCallerAbandon``, ``QueueCallerLeave``) for a call never seen joining (the tracker started while it was
  queued or talking) offers it from that event, then emits what the event implies.
* ``AgentCalled`` -> ``AgentRinging`` (once per rung agent channel); ``AgentConnect`` -> ``CallAnswered``.
  ``QueueCallerLeave`` also fires on answer: alone it is no abandon. ``ConnectedLine*`` (set while ringing) is
  never taken as proof of an answer.
* Outcome (see :func:`_outcome`): ``AgentComplete`` seen -> ANSWERED, ``ended_by`` = its ``Reason``;
  ``QueueCallerAbandon`` -> ABANDONED when a ``HangupRequest``/``SoftHangupRequest`` of the queue channel came
  before it, else TIMEOUT (app_queue reports its queue timeout as an abandon too); left the queue without answer
  or abandon (leavewhenempty, exit key) -> the same rule; still queued at the end -> ABANDONED; offered by
  context only -> HUNG_UP_BEFORE_QUEUE. ``voicemail``: a ``MessageWaiting`` carried the call's Linkedid.
* Restarts: ``core stop``/``core restart`` first hangs every channel up with a ``SoftHangupRequest`` of
  ``Cause: 4`` (:data:`SHUTDOWN_CAUSE`); the queue then reports its waiting callers as abandoned and its
  conversations as completed by the caller. A call hung up that way ends as it stood then, cut off: INTERRUPTED,
  unless the queue had decided it before (completed, abandoned, timed out); answered ones keep their agent and
  talk time. ``Shutdown`` ends the calls still followed the same way. :meth:`CallTracker.reconcile` ends the calls
  the PBX no longer has after a reconnect: after a crash (``restarted``) like a shutdown at the PBX's last sign of
  life; else an answered call stays ANSWERED (the agent did talk to the caller; its end fell into our gap).
* Queue board (:attr:`CallTracker.board`): the tracker tells it which calls wait in which queue and how they
  left (answered, abandoned, timed out), and hands it the ``QueueMember*`` events and ``QueueStatus`` members.
* Idempotent: every fact comes from a state change that can happen once per call (states only move forward; a
  new queue episode needs a join later than the last leave), so a duplicated or replayed event emits nothing.

Times: Asterisk's ``Timestamp`` s (``timestampevents = yes``) are exact relative to each other, so waits and talk
times are measured with them; where the call sits on the calendar comes from our clock when they disagree. Fed
with ``received_at`` (our clock when each event arrived, as the listener does), an event's time is its
``Timestamp`` while the two clocks agree within :data:`MAX_CLOCK_SKEW` (30 s); beyond that the PBX's times are
shifted onto ours by the difference measured at that event (:attr:`CallTracker.clock_shift`), so a PBX whose clock
is days off, or a replayed old recording, records calls at the time they happened here with Asterisk's own
durations. The shift is measured again whenever a shifted time drifts more than 30 s from our clock (the PBX's
clock was set, a replay runs faster than real time). An event without a ``Timestamp`` takes ``received_at``.
Without ``received_at`` (tests, tools) the ``Timestamp`` is taken as it is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta

from pbx.ami_values import (
    caller_name,
    caller_number,
    channel_interface,
    duration_seconds,
    event_time,
    interface_extension,
    queue_entry_caller,
    seconds,
)
from pbx.facts import AgentRinging, CallAnswered, CallEnded, CallOffered, CallQueued, Fact, Outcome
from pbx.phones import PHONE_EVENTS, PhoneBoard
from pbx.queue_board import MEMBER_EVENTS, QueueBoard

Event = Mapping[str, str]
Handler = Callable[[Event, datetime], list[Fact]]  # the moment is always known (:meth:`CallTracker._moment`)

# Stages of a call; they only move forward.
_CANDIDATE = 0  #: channels followed, not (yet) an IT-line call
_OFFERED = 1  #: offered by context, not in a queue yet
_QUEUED = 2  #: in one of the queues (or left it unanswered: abandoned / timed out)
_ANSWERED = 3  #: an agent answered (AgentConnect)
_COMPLETED = 4  #: the queue reported the end of the conversation (AgentComplete)

#: ``SoftHangupRequest`` ``Cause`` of the channels Asterisk hangs up because it is shutting down (``core stop`` /
#: ``core restart``: AST_SOFTHANGUP_SHUTDOWN). The queue then reports its waiting callers as abandoned and its
#: conversations as completed by the caller; neither is what happened (seen in e_restart).
SHUTDOWN_CAUSE = "4"
#: While the PBX's clock and ours agree within this, an event's time is its ``Timestamp``; beyond it the PBX's
#: times are shifted onto our clock (see the module docstring).
MAX_CLOCK_SKEW = timedelta(seconds=30)
_NO_SHIFT = timedelta(0)

# How the end of a call became known.
_SEEN = "seen"  #: its last channel hung up
_MISSED = "missed"  #: it was gone when we looked again after a reconnect: it ended while we were not listening
_CUT = "cut"  #: the PBX stopped (Shutdown, restart) while the call was up


class _Call:
    """What the tracker knows about one call (one Linkedid)."""

    __slots__ = (
        "abandoned",
        "caller_uid",
        "cause",
        "channel",
        "channels",
        "connect_t",
        "context_at",
        "dead",
        "ended_by",
        "join_t",
        "left_by_caller",
        "left_t",
        "linkedid",
        "prior_wait",
        "queue",
        "queue_wait",
        "requested",
        "rung",
        "shutdown",
        "stage",
        "talk",
        "voicemail",
    )

    def __init__(self, linkedid: str) -> None:
        self.linkedid = linkedid
        self.stage = _CANDIDATE
        self.channels: set[str] = set()  #: Uniqueids of its live channels
        self.dead: set[str] = set()  #: Uniqueids already hung up (late events must not revive them)
        self.requested: set[str] = set()  #: Uniqueids with a (Soft)HangupRequest
        self.caller_uid: str | None = None  #: the caller's channel: in the queue, or where it entered a context
        self.channel = ""
        self.context_at: datetime | None = None  #: entered a context; offer waiting for a caller ID
        self.queue: str | None = None
        self.rung: set[str] = set()
        self.join_t: float | None = None  #: epoch seconds of this queue episode's join
        self.left_t: float | None = None  #: ... and of leaving the queue (answer, abandon, timeout)
        self.abandoned = False
        self.left_by_caller = False
        self.queue_wait: int | None = None  #: this episode's HoldTime as app_queue counted it
        self.prior_wait = 0  #: seconds waited in earlier, unanswered queue episodes
        self.connect_t: float | None = None
        self.talk: int | None = None
        self.ended_by: str | None = None
        self.voicemail = False
        self.cause: str | None = None
        #: (stage, the queue had decided) when Asterisk began shutting the call down; None: it did not
        self.shutdown: tuple[int, bool] | None = None


def _aware(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _whole(value: float) -> int:
    return max(0, int(value + 0.5))


def _outcome(call: _Call, ending: str) -> Outcome:
    """How the call ended, from its state and how its end became known. A call Asterisk shut down (see
    :data:`SHUTDOWN_CAUSE`) ended as it stood at that moment, cut off: what the queue reported during the shutdown
    (``AgentComplete``, ``QueueCallerAbandon``) was the shutdown, not the agent or the caller."""
    stage, decided = call.stage, call.abandoned or call.left_t is not None
    if call.shutdown is not None:
        (stage, decided), ending = call.shutdown, _CUT
    if stage == _COMPLETED:
        return Outcome.ANSWERED
    if stage == _ANSWERED:
        return Outcome.INTERRUPTED if ending == _CUT else Outcome.ANSWERED
    if stage == _QUEUED:
        if decided:
            return Outcome.ABANDONED if call.left_by_caller else Outcome.TIMEOUT
        return Outcome.ABANDONED if ending == _SEEN else Outcome.INTERRUPTED
    return Outcome.HUNG_UP_BEFORE_QUEUE if ending == _SEEN else Outcome.INTERRUPTED


def _episode_wait(call: _Call, end_t: float | None) -> int | None:
    """Seconds in the current queue episode: app_queue's HoldTime, else measured from the event times."""
    if call.queue_wait is not None:
        return call.queue_wait
    if call.join_t is None:
        return None
    end = call.left_t if call.left_t is not None else end_t
    return None if end is None else _whole(end - call.join_t)


class CallTracker:
    """Follows the calls of one PBX from its AMI events and says what happened to IT-line calls (facts).

    ``queues``: the IT-line queues; ``contexts``: dialplan contexts whose calls count as IT-line calls before
    they reach a queue; ``ended_memory``: how many ended Linkedids are remembered against late/replayed events.
    """

    def __init__(
        self, pbx: str, queues: Collection[str], *, contexts: Collection[str] = (), ended_memory: int = 10_000
    ) -> None:
        self.pbx = pbx
        self._queues = frozenset(queues)
        self._contexts = frozenset(contexts)
        self._calls: dict[str, _Call] = {}
        self._live = 0
        self._ended: set[str] = set()
        self._ended_order: deque[str] = deque()
        self._ended_memory = ended_memory
        #: Members, waiting calls and the day's counters of ``queues`` (read by the web layer).
        self.board = QueueBoard(self._queues)
        #: The phones of the members of ``queues``: registered, ringing, in a call, paused (read by the web layer).
        self.phones = PhoneBoard(self.board)
        self._handlers: dict[str, Handler] = {
            "Newchannel": self._on_newchannel,
            "Hangup": self._on_hangup,
            "HangupRequest": self._on_hangup_request,
            "SoftHangupRequest": self._on_hangup_request,
            "QueueCallerJoin": self._on_join,
            "QueueCallerLeave": self._on_leave,
            "QueueCallerAbandon": self._on_abandon,
            "AgentCalled": self._on_agent_called,
            "AgentConnect": self._on_agent_connect,
            "AgentComplete": self._on_agent_complete,
            "MessageWaiting": self._on_message_waiting,
            "Shutdown": self._on_shutdown,
        }
        self._last_event_at: datetime | None = None
        self._shift = _NO_SHIFT
        for name in MEMBER_EVENTS:
            self._handlers[name] = self._on_member
        for name in PHONE_EVENTS:
            self._handlers[name] = self._on_phone
        if self._contexts:
            self._handlers["Newexten"] = self._on_newexten
            self._handlers["NewCallerid"] = self._on_newcallerid

    @property
    def event_names(self) -> frozenset[str]:
        """The AMI events :meth:`feed` reads; it returns no facts for any other (a connection may skip them)."""
        return frozenset(self._handlers)

    @property
    def live(self) -> int:
        """IT-line calls being followed (offered, not ended)."""
        return self._live

    @property
    def candidates(self) -> int:
        """Other calls whose channels are followed in case they reach the IT line."""
        return len(self._calls) - self._live

    @property
    def last_event_at(self) -> datetime | None:
        """The time of the latest event read: the PBX's last sign of life (None: none read yet)."""
        return self._last_event_at

    @property
    def clock_shift(self) -> timedelta:
        """What is added to the PBX's ``Timestamp`` s to put them on our clock (0 while the clocks agree)."""
        return self._shift

    def feed(self, event: Event, received_at: datetime | None = None) -> list[Fact]:
        """The facts one AMI event (Asterisk's key spelling) adds, in order; most events add none.

        ``received_at``: our clock when the event arrived. Given, it keeps the facts' times on our clock when the
        PBX's disagrees (the module docstring); without it the event's ``Timestamp`` is taken as it is."""
        handler = self._handlers.get(event.get("Event"))  # type: ignore[arg-type]
        if handler is None:
            return []
        at = self._moment(event, received_at)
        self._last_event_at = at
        facts = handler(event, at)
        if facts:
            self.phones.follow(facts)
        return facts

    def reconcile(self, live_linkedids: Collection[str], at: datetime, *, restarted: bool = False) -> list[Fact]:
        """After a (re)connect at ``at``: end the calls followed whose Linkedid the PBX no longer has
        (``CoreShowChannels``).

        Their end was not seen. Without a restart the outcome is the one the queue had already decided (completed,
        abandoned, timed out), an answered call is ANSWERED (the agent did talk to the caller; the end fell into
        our gap) and anything else INTERRUPTED; they end at ``at``, times that depend on the unseen end are None.
        When the PBX ``restarted`` meanwhile (a crash: no ``Shutdown`` was seen), the calls still up were cut off:
        each ends as it would at a ``Shutdown`` (answered ones INTERRUPTED), at the PBX's last sign of life
        (:attr:`last_event_at`, else ``at``), with its wait and talk time up to then.
        """
        live = live_linkedids if isinstance(live_linkedids, (set, frozenset)) else set(live_linkedids)
        end = (self._last_event_at or at) if restarted else at
        facts: list[Fact] = []
        for linkedid in [lid for lid in self._calls if lid not in live]:
            call = self._calls.pop(linkedid)
            if call.stage != _CANDIDATE or call.context_at is not None:
                facts.extend(
                    self._finish(
                        call, end, _CUT if restarted else _MISSED, end_t=end.timestamp() if restarted else None
                    )
                )
        self.phones.follow(facts)
        return facts

    def snapshot_calls(self, messages: Iterable[Event], at: datetime) -> list[Fact]:
        """Pick up IT-line calls from the list items of ``CoreShowChannels`` (+ ``QueueStatus``), taken at ``at``.

        ``CoreShowChannel`` items give each channel's Linkedid, application (``Queue`` + its queue) and bridge;
        ``QueueEntry`` items say who is still waiting (``Wait``); ``QueueMember`` items name the agents. A call in
        one of the queues that is not followed yet is offered (at ``at`` minus its time in the queue), and
        answered if its queue channel is bridged to an agent leg (times estimated from the channel durations);
        a followed call that was answered meanwhile gets its ``CallAnswered``. Nothing is repeated.
        """
        by_call: dict[str, list[Event]] = {}
        entries: dict[str, Event] = {}
        members: dict[str, str] = {}
        roster: list[Event] = []  #: QueueParams and QueueMember items: who is in each queue
        for message in messages:
            kind = message.get("Event")
            if kind == "CoreShowChannel":
                linkedid, uniqueid = message.get("Linkedid"), message.get("Uniqueid")
                if linkedid and uniqueid:
                    by_call.setdefault(linkedid, []).append(message)
            elif kind == "QueueEntry":
                if message.get("Queue") in self._queues and message.get("Uniqueid"):
                    entries[message["Uniqueid"]] = message
            elif kind == "QueueParams":
                roster.append(message)
            elif kind == "QueueMember":
                roster.append(message)
                interface = message.get("Location") or message.get("Interface")
                if interface:
                    members[interface] = caller_name(message.get("Name") or message.get("MemberName"))
        self.board.load_members(roster)
        self.phones.load_members(roster)
        self.board.advance(at.timestamp())
        facts: list[Fact] = []
        for linkedid, channels in by_call.items():
            if linkedid in self._ended:
                continue
            call = self._calls.get(linkedid)
            if call is None:
                call = self._calls[linkedid] = _Call(linkedid)
            for channel in channels:
                if channel["Uniqueid"] not in call.dead:
                    call.channels.add(channel["Uniqueid"])
            facts.extend(self._snapshot_call(call, channels, entries, members, at))
        self.phones.follow(facts)
        return facts

    # -- time ------------------------------------------------------------------------------------------------

    def _moment(self, event: Event, received_at: datetime | None) -> datetime:
        """When the event happened (aware UTC): its ``Timestamp`` (+ :attr:`clock_shift`); without one
        ``received_at``, else now. The shift is measured again whenever the shifted time would be more than
        :data:`MAX_CLOCK_SKEW` away from ``received_at``: 0 if the clocks agree by then, else their difference."""
        stamp = event_time(event.get("Timestamp"))
        if received_at is None:
            return stamp if stamp is not None else datetime.now(UTC)
        received = _aware(received_at)
        if stamp is None:
            return received
        moment = stamp + self._shift
        if abs(moment - received) > MAX_CLOCK_SKEW:
            skew = received - stamp
            self._shift = skew if abs(skew) > MAX_CLOCK_SKEW else _NO_SHIFT
            moment = stamp + self._shift
        return moment

    # -- snapshot --------------------------------------------------------------------------------------------

    def _snapshot_call(
        self, call: _Call, channels: list[Event], entries: dict[str, Event], members: dict[str, str], at: datetime
    ) -> list[Fact]:
        queued, queue = self._queue_channel(channels, entries)
        if queued is None:
            if call.stage == _QUEUED and call.left_t is None:
                caller = next((c for c in channels if c["Uniqueid"] == call.caller_uid), None)
                if caller is not None and caller.get("Application") != "Queue":
                    call.left_t = at.timestamp()  # left the queue unanswered while we were away
                    self.board.left(call.linkedid, call.left_t)
            elif call.stage == _CANDIDATE and call.context_at is None and self._contexts:
                entered = next((c for c in channels if c.get("Context") in self._contexts), None)
                if entered is not None:
                    return self._enter_context(call, entered, at)
            return []
        facts: list[Fact] = []
        entry = entries.get(queued["Uniqueid"])
        bridge = "" if entry is not None else queued.get("BridgeId") or ""
        agent_leg = next((c for c in channels if bridge and c is not queued and c.get("BridgeId") == bridge), None)
        if call.stage < _QUEUED:
            # waiting: its Wait; answered: its channel's age (greeting included: an upper bound)
            in_queue_for = seconds(entry.get("Wait")) if entry is not None else duration_seconds(queued.get("Duration"))
            offered_at = at - timedelta(seconds=in_queue_for or 0)
            self._start_episode(call, queued, queue, offered_at.timestamp())
            if call.stage == _OFFERED:
                facts.append(self._queued(call, offered_at))
            else:
                number = caller_number(queued.get("CallerIDNum"))
                name = caller_name(queued.get("CallerIDName"))
                if entry is not None:
                    number = number or queue_entry_caller(entry.get("CallerIDNum"))
                    name = name or queue_entry_caller(entry.get("CallerIDName"))
                facts.append(self._offer(call, offered_at, number, name, queue, queued.get("Channel") or ""))
        if agent_leg is not None and call.stage == _QUEUED and not call.abandoned:
            interface = channel_interface(agent_leg.get("Channel"))
            agent = members.get(interface) or caller_name(queued.get("ConnectedLineName"))
            answered_at = at - timedelta(seconds=duration_seconds(agent_leg.get("Duration")) or 0)  # the leg's age
            facts.append(self._answer(call, answered_at, agent, interface, None, agent_leg.get("Uniqueid")))
        return facts

    def _queue_channel(self, channels: list[Event], entries: dict[str, Event]) -> tuple[Event | None, str]:
        """The channel of the call that is in one of the queues, and that queue."""
        for channel in channels:
            entry = entries.get(channel["Uniqueid"])
            if entry is not None:
                return channel, entry.get("Queue") or ""
            if channel.get("Application") == "Queue":
                queue = (channel.get("ApplicationData") or "").split(",", 1)[0]
                if queue in self._queues:
                    return channel, queue
        return None, ""

    # -- state changes ---------------------------------------------------------------------------------------

    def _offer(self, call: _Call, at: datetime, number: str, name: str, queue: str | None, channel: str) -> Fact:
        call.stage = max(call.stage, _QUEUED if queue is not None else _OFFERED)
        call.context_at = None
        self._live += 1
        return CallOffered(self.pbx, call.linkedid, at, number, name, queue, channel)

    def _queued(self, call: _Call, at: datetime) -> Fact:
        """A call offered by context entered its first queue (:attr:`_Call.queue`, set by ``_start_episode``)."""
        call.stage = _QUEUED
        return CallQueued(self.pbx, call.linkedid, at, call.queue or "")

    def _start_episode(self, call: _Call, event: Event, queue: str, join_t: float | None) -> None:
        """The call (re-)enters a queue."""
        uniqueid = event.get("Uniqueid")
        if uniqueid:
            call.caller_uid = uniqueid
            if uniqueid not in call.dead:
                call.channels.add(uniqueid)
        call.channel = event.get("Channel") or call.channel
        call.queue = queue
        call.join_t = join_t
        call.left_t = None
        call.abandoned = call.left_by_caller = False
        call.queue_wait = None
        self.board.joined(queue, call.linkedid, join_t)

    def _enter_context(self, call: _Call, event: Event, at: datetime) -> list[Fact]:
        """A channel of the call appeared in one of the IT-line contexts."""
        call.caller_uid = event.get("Uniqueid") or call.caller_uid
        call.channel = event.get("Channel") or ""
        call.context_at = at
        return self._offer_if_caller_known(call, event, at)

    def _offer_if_caller_known(self, call: _Call, event: Event, at: datetime) -> list[Fact]:
        number = caller_number(event.get("CallerIDNum"))
        if not number:
            return []
        return [
            self._offer(call, call.context_at or at, number, caller_name(event.get("CallerIDName")), None, call.channel)
        ]

    def _adopt(self, call: _Call, event: Event, at: datetime, waited: int | None) -> list[Fact]:
        """A queue event for a call not seen joining: it has been in the queue for ``waited`` seconds or more."""
        offered_at = at - timedelta(seconds=waited or 0)
        pending = call.context_at
        self._start_episode(call, event, event.get("Queue") or "", None if waited is None else offered_at.timestamp())
        if call.stage == _OFFERED:
            return [self._queued(call, offered_at)]
        number = caller_number(event.get("CallerIDNum"))
        name = caller_name(event.get("CallerIDName"))
        return [self._offer(call, pending or offered_at, number, name, call.queue, call.channel)]

    def _answer(
        self, call: _Call, at: datetime, agent: str, interface: str, hold: int | None, agent_uid: str | None
    ) -> Fact:
        call.stage = _ANSWERED
        call.connect_t = at.timestamp()
        if hold is not None:
            call.queue_wait = hold
        elif call.join_t is not None:
            call.queue_wait = _whole(call.connect_t - call.join_t)
        if call.left_t is None:
            call.left_t = call.connect_t
        self.board.left(call.linkedid, call.connect_t)
        wait = call.prior_wait + (call.queue_wait or 0)
        self.board.answered(call.queue, call.connect_t, wait)
        if agent_uid and agent_uid not in call.dead:
            call.channels.add(agent_uid)
        return CallAnswered(self.pbx, call.linkedid, at, agent, interface, interface_extension(interface), wait)

    def _finish(self, call: _Call, at: datetime, ending: str, *, end_t: float | None) -> list[Fact]:
        """The call is over (already removed from the followed calls): its ``CallEnded``."""
        facts: list[Fact] = []
        if call.stage == _CANDIDATE:  # entered a context, never showed a caller ID, never reached a queue
            facts.append(self._offer(call, call.context_at or at, "", "", None, call.channel))
        self._live -= 1
        self._remember(call.linkedid)
        outcome = _outcome(call, ending)
        self.board.left(call.linkedid)
        if call.stage == _QUEUED and outcome is Outcome.ABANDONED:
            self.board.abandoned(call.queue, at.timestamp())
        elif call.stage == _QUEUED and outcome is Outcome.TIMEOUT:
            self.board.timed_out(call.queue, at.timestamp())
        if call.stage >= _QUEUED:
            episode = _episode_wait(call, end_t)
            wait = call.prior_wait + episode if episode is not None else (call.prior_wait or None)
        else:
            wait = None
        if call.talk is not None:
            talk: int | None = call.talk
        elif call.stage >= _ANSWERED and call.connect_t is not None and end_t is not None:
            talk = _whole(end_t - call.connect_t)
        else:
            talk = None
        facts.append(
            CallEnded(
                self.pbx,
                call.linkedid,
                at,
                outcome,
                wait,
                talk,
                ended_by=call.ended_by if call.stage == _COMPLETED and outcome is Outcome.ANSWERED else None,
                voicemail=call.voicemail,
                hangup_cause=call.cause if ending == _SEEN else None,
            )
        )
        return facts

    def _remember(self, linkedid: str) -> None:
        if self._ended_memory <= 0 or linkedid in self._ended:
            return
        self._ended.add(linkedid)
        self._ended_order.append(linkedid)
        if len(self._ended_order) > self._ended_memory:
            self._ended.discard(self._ended_order.popleft())

    def _queue_event_call(self, event: Event, at: datetime, facts: list[Fact], waited: int | None) -> _Call | None:
        """The call a queue event is about, if it is about one of the queues; adopted if not seen joining."""
        if event.get("Queue") not in self._queues:
            return None
        linkedid = event.get("Linkedid")
        if not linkedid or linkedid in self._ended:
            return None
        call = self._calls.get(linkedid)
        if call is None:
            call = self._calls[linkedid] = _Call(linkedid)
        if call.stage < _QUEUED:
            facts.extend(self._adopt(call, event, at, waited))
        return call

    # -- event handlers --------------------------------------------------------------------------------------

    def _on_newchannel(self, event: Event, at: datetime) -> list[Fact]:
        linkedid, uniqueid = event.get("Linkedid"), event.get("Uniqueid")
        if not linkedid or not uniqueid or linkedid in self._ended:
            return []
        call = self._calls.get(linkedid)
        if call is None:
            call = self._calls[linkedid] = _Call(linkedid)
        if uniqueid not in call.dead:
            call.channels.add(uniqueid)
        if call.stage == _CANDIDATE and call.context_at is None and event.get("Context") in self._contexts:
            return self._enter_context(call, event, at)
        return []

    def _on_newexten(self, event: Event, at: datetime) -> list[Fact]:
        call = self._calls.get(event.get("Linkedid"))  # type: ignore[arg-type]
        if call is None:
            linkedid, uniqueid = event.get("Linkedid"), event.get("Uniqueid")
            if not linkedid or not uniqueid or linkedid in self._ended or event.get("Context") not in self._contexts:
                return []
            call = self._calls[linkedid] = _Call(linkedid)
            call.channels.add(uniqueid)
            return self._enter_context(call, event, at)
        if call.stage != _CANDIDATE:
            return []
        if call.context_at is not None:
            return self._offer_if_caller_known(call, event, at)
        if event.get("Context") in self._contexts:
            return self._enter_context(call, event, at)
        return []

    def _on_newcallerid(self, event: Event, at: datetime) -> list[Fact]:
        call = self._calls.get(event.get("Linkedid"))  # type: ignore[arg-type]
        if call is None or call.stage != _CANDIDATE or call.context_at is None:
            return []
        return self._offer_if_caller_known(call, event, at)

    def _on_join(self, event: Event, at: datetime) -> list[Fact]:
        queue = event.get("Queue")
        if queue not in self._queues:
            return []
        linkedid = event.get("Linkedid")
        if not linkedid or linkedid in self._ended:
            return []
        call = self._calls.get(linkedid)
        if call is None:
            call = self._calls[linkedid] = _Call(linkedid)
        if call.stage >= _ANSWERED:
            return []
        t = at.timestamp()
        if call.stage == _QUEUED:
            if call.left_t is None or t < call.left_t:
                return []  # this episode's join again, or an older one replayed
            call.prior_wait += _episode_wait(call, None) or 0
            self._start_episode(call, event, queue, t)
            return []
        pending = call.context_at
        self._start_episode(call, event, queue, t)
        if call.stage == _OFFERED:
            return [self._queued(call, at)]
        number = caller_number(event.get("CallerIDNum"))
        name = caller_name(event.get("CallerIDName"))
        return [self._offer(call, pending or at, number, name, queue, call.channel)]

    def _on_agent_called(self, event: Event, at: datetime) -> list[Fact]:
        facts: list[Fact] = []
        call = self._queue_event_call(event, at, facts, None)
        if call is None or call.stage != _QUEUED or call.left_t is not None:
            return facts
        dest = event.get("DestUniqueid")
        interface = event.get("Interface") or ""
        self.board.member_rung(event.get("Queue") or "", interface, event.get("MemberName"))
        key = dest or interface
        if key in call.rung:
            return facts
        call.rung.add(key)
        if dest and dest not in call.dead:
            call.channels.add(dest)
        agent = caller_name(event.get("MemberName"))
        facts.append(AgentRinging(self.pbx, call.linkedid, at, agent, interface, interface_extension(interface)))
        return facts

    def _on_agent_connect(self, event: Event, at: datetime) -> list[Fact]:
        hold = seconds(event.get("HoldTime"))
        facts: list[Fact] = []
        call = self._queue_event_call(event, at, facts, hold)
        if call is None or call.stage >= _ANSWERED or call.abandoned:
            return facts
        agent = caller_name(event.get("MemberName"))
        facts.append(self._answer(call, at, agent, event.get("Interface") or "", hold, event.get("DestUniqueid")))
        return facts

    def _on_agent_complete(self, event: Event, at: datetime) -> list[Fact]:
        hold, talk = seconds(event.get("HoldTime")), seconds(event.get("TalkTime"))
        facts: list[Fact] = []
        call = self._queue_event_call(event, at, facts, (hold or 0) + (talk or 0))
        if call is None or call.stage == _COMPLETED or call.abandoned:
            return facts
        if call.stage < _ANSWERED:  # answered while we were not looking
            agent = caller_name(event.get("MemberName"))
            answered_at = at - timedelta(seconds=talk or 0)
            interface = event.get("Interface") or ""
            facts.append(self._answer(call, answered_at, agent, interface, hold, event.get("DestUniqueid")))
        call.stage = _COMPLETED
        if hold is not None:
            call.queue_wait = hold
        call.talk = talk
        call.ended_by = event.get("Reason") or None
        return facts

    def _on_abandon(self, event: Event, at: datetime) -> list[Fact]:
        hold = seconds(event.get("HoldTime"))
        facts: list[Fact] = []
        call = self._queue_event_call(event, at, facts, hold)
        if call is None or call.stage != _QUEUED or call.abandoned:
            return facts
        call.abandoned = True
        if call.left_t is None:
            call.left_t = at.timestamp()
        self.board.left(call.linkedid, call.left_t)
        call.left_by_caller = call.caller_uid in call.requested
        if hold is not None:
            call.queue_wait = hold
        return facts

    def _on_leave(self, event: Event, at: datetime) -> list[Fact]:
        facts: list[Fact] = []
        call = self._queue_event_call(event, at, facts, None)
        if call is None or call.stage != _QUEUED or call.left_t is not None:
            return facts
        call.left_t = at.timestamp()
        call.left_by_caller = call.caller_uid in call.requested
        self.board.left(call.linkedid, call.left_t)
        return facts

    def _on_member(self, event: Event, at: datetime) -> list[Fact]:
        self.board.member_event(event, at.timestamp())
        self.phones.member_event(event)
        return []

    def _on_phone(self, event: Event, at: datetime) -> list[Fact]:
        self.phones.event(event)
        return []

    def _on_hangup_request(self, event: Event, at: datetime) -> list[Fact]:
        call = self._calls.get(event.get("Linkedid"))  # type: ignore[arg-type]
        uniqueid = event.get("Uniqueid")
        if call is None or not uniqueid:
            return []
        if event.get("Event") == "SoftHangupRequest" and event.get("Cause") == SHUTDOWN_CAUSE:
            if call.shutdown is None:  # Asterisk is going down: whatever the queue reports next is not the caller
                call.shutdown = (call.stage, call.abandoned or call.left_t is not None)
        else:
            call.requested.add(uniqueid)
        return []

    def _on_message_waiting(self, event: Event, at: datetime) -> list[Fact]:
        call = self._calls.get(event.get("Linkedid"))  # type: ignore[arg-type]
        if call is not None:
            call.voicemail = True
        return []

    def _on_hangup(self, event: Event, at: datetime) -> list[Fact]:
        linkedid = event.get("Linkedid")
        call = self._calls.get(linkedid)  # type: ignore[arg-type]
        uniqueid = event.get("Uniqueid")
        if call is None or not uniqueid:
            return []
        call.channels.discard(uniqueid)
        call.dead.add(uniqueid)
        if uniqueid == call.caller_uid:
            call.cause = event.get("Cause-txt") or None
        if call.channels:
            return []
        del self._calls[call.linkedid]
        if call.stage == _CANDIDATE and call.context_at is None:
            return []
        return self._finish(call, at, _SEEN, end_t=at.timestamp())

    def _on_shutdown(self, event: Event, at: datetime) -> list[Fact]:
        calls, self._calls = self._calls, {}
        facts: list[Fact] = []
        for call in calls.values():
            if call.stage != _CANDIDATE or call.context_at is not None:
                facts.extend(self._finish(call, at, _CUT, end_t=at.timestamp()))
        return facts
