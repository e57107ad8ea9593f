"""The queue board: who is a member of each IT-line queue and how each queue is doing, from AMI events.

Pure (no I/O, no clock but the events' times), like :mod:`pbx.tracker`, which owns one board and tells it about
calls joining and leaving its queues. Members come from ``QueueMemberStatus`` / ``QueueMemberPause`` /
``QueueMemberAdded`` / ``QueueMemberRemoved`` events, from ``AgentCalled`` (the queue rang that member) and from
the ``QueueMember`` items of ``QueueStatus`` (a resync: the full list of each queue it names). A member is known
by its ``Interface`` (``Local/101@agents``, ``PJSIP/4001``); its extension is read from the interface, else from
its ``StateInterface``.

Counters of the day (answered, abandoned by the caller, timed out) count what the board sees, on top of what
:meth:`QueueBoard.seed_day` told it (the web layer seeds them from the calls recorded today, so a restart does not lose
the day), and restart at midnight in :attr:`QueueBoard.zone` (None: the machine's local time, daylight saving included).
An answer counts on the day of the answer, an abandon or a timeout on the day the call ended. Every change marks its
queue in :attr:`QueueBoard.changed` and calls :attr:`QueueBoard.on_change` (the web layer coalesces these into
``queue.stats`` messages).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import Enum

from pbx.ami_values import caller_name, event_time, interface_extension

Event = Mapping[str, str]

#: The AMI events about queue members the board reads (the tracker adds them to what it reads).
MEMBER_EVENTS = frozenset({"QueueMemberStatus", "QueueMemberPause", "QueueMemberAdded", "QueueMemberRemoved"})
#: Device states (``Status``) of a member that cannot take a call: invalid, unavailable (phone not registered).
_UNAVAILABLE = frozenset({"4", "5"})
#: ... and of a member on a call, ringing or on hold: in use, busy, ringing, ring in use, on hold.
_BUSY = frozenset({"2", "3", "6", "7", "8"})


class MemberState(str, Enum):
    AVAILABLE = "available"  #: logged in, not on a call, not paused
    BUSY = "busy"  #: on a call or being rung
    PAUSED = "paused"  #: paused in the queue (break, after-call work)
    UNAVAILABLE = "unavailable"  #: the device is not reachable


@dataclass(frozen=True)
class Member:
    interface: str  #: "Local/101@agents", "PJSIP/4001"
    name: str  #: "Alice Agent"
    extension: str | None  #: "101", read from the interface (else the state interface); None for named endpoints
    state: MemberState
    paused_reason: str = ""


@dataclass(frozen=True)
class QueueStats:
    """One queue now (as of :attr:`at`, the time of the latest event the board saw)."""

    queue: str
    at: datetime
    waiting: int  #: calls in the queue, not answered yet
    longest_wait: int  #: seconds the longest-waiting of them has waited (0: none waits)
    available: int
    busy: int
    paused: int
    unavailable: int
    day: date  #: the day the counters below are of
    answered_today: int
    abandoned_today: int  #: the caller hung up while waiting
    timed_out_today: int  #: the queue gave up (queue timeout; often a voicemail follows)
    members: tuple[Member, ...]
    answered_in_time_today: int = 0  #: answered within :attr:`QueueBoard.service_level` seconds of waiting
    service_level_seconds: int = 20

    @property
    def service_level(self) -> float | None:
        """The share of today's calls answered in time, of those answered, abandoned or timed out (None: none)."""
        offered = self.answered_today + self.abandoned_today + self.timed_out_today
        return round(self.answered_in_time_today / offered, 4) if offered else None


def member_state(status: str | None, paused: str | None, in_call: str | None = None) -> MemberState:
    """A member's state from ``Status`` (the device state code), ``Paused`` and ``InCall``."""
    if paused == "1":
        return MemberState.PAUSED
    if status in _UNAVAILABLE:
        return MemberState.UNAVAILABLE
    if status in _BUSY or in_call == "1":
        return MemberState.BUSY
    return MemberState.AVAILABLE


class QueueBoard:
    """Members, waiting calls and the day's counters of the ``queues`` of one PBX."""

    def __init__(
        self, queues: Collection[str], *, zone: tzinfo | None = UTC, on_change: Callable[[str], None] | None = None
    ) -> None:
        self.queues = frozenset(queues)
        self.zone = zone
        #: A call answered within this many seconds of waiting counts towards the service level.
        self.service_level = 20
        self.on_change = on_change
        self.changed: set[str] = set()
        #: Queues whose members came or went (not just changed state) since the web layer last looked.
        self.roster_changed: set[str] = set()
        self._members: dict[str, dict[str, Member]] = {q: {} for q in self.queues}
        self._waiting: dict[str, dict[str, float]] = {q: {} for q in self.queues}  #: queue -> call -> join time
        #: answered, abandoned, timed out, answered in time
        self._counts: dict[str, list[int]] = {q: [0, 0, 0, 0] for q in self.queues}
        self._day: date | None = None
        self._clock = 0.0  #: epoch seconds of the latest event seen

    # -- reading ---------------------------------------------------------------------------------------------

    def stats(self, queue: str) -> QueueStats:
        members = tuple(sorted(self._members[queue].values(), key=lambda m: (m.name, m.interface)))
        states = [m.state for m in members]
        waiting = self._waiting[queue]
        longest = max(0, int(self._clock - min(waiting.values()) + 0.5)) if waiting else 0
        answered, abandoned, timed_out, in_time = self._counts[queue]
        at = datetime.fromtimestamp(self._clock, UTC)
        return QueueStats(
            queue,
            at,
            len(waiting),
            longest,
            states.count(MemberState.AVAILABLE),
            states.count(MemberState.BUSY),
            states.count(MemberState.PAUSED),
            states.count(MemberState.UNAVAILABLE),
            self._day or at.astimezone(self.zone).date(),
            answered,
            abandoned,
            timed_out,
            members,
            in_time,
            self.service_level,
        )

    def members(self) -> Iterator[tuple[str, Member]]:
        """Every (queue, member) known, in no particular order."""
        for queue, members in self._members.items():
            for member in members.values():
                yield queue, member

    def snapshot(self) -> list[QueueStats]:
        return [self.stats(q) for q in sorted(self.queues)]

    def take_changed(self) -> set[str]:
        """The queues changed since the last call (and forget them)."""
        changed, self.changed = self.changed, set()
        return changed

    # -- members ---------------------------------------------------------------------------------------------

    def member_event(self, event: Event, t: float | None = None) -> None:
        """A ``QueueMember*`` event that happened at ``t`` (epoch seconds; None: its ``Timestamp``)."""
        queue = event.get("Queue")
        interface = event.get("Interface")
        if queue not in self.queues or not interface:
            return
        self._tick(event, t)
        name = str(queue)
        if event.get("Event") == "QueueMemberRemoved":
            if self._members[name].pop(interface, None) is not None:
                self.roster_changed.add(name)
                self._mark(name)
            return
        self._set_member(
            name,
            interface,
            event.get("MemberName"),
            event.get("StateInterface"),
            member_state(event.get("Status"), event.get("Paused"), event.get("InCall")),
            event.get("PausedReason") or "",
        )

    def member_rung(self, queue: str, interface: str, name: str | None) -> None:
        """The queue rang ``interface`` (``AgentCalled``): a member, busy now."""
        if queue not in self.queues or not interface:
            return
        known = self._members[queue].get(interface)
        if known is None or known.state is MemberState.AVAILABLE:
            self._set_member(queue, interface, name, None, MemberState.BUSY, "")

    def load_members(self, items: Iterable[Event]) -> None:
        """The list items of ``QueueStatus``: each queue it names (``QueueParams``) gets exactly its listed
        ``QueueMember`` s (members removed while we were away go)."""
        listed: dict[str, dict[str, Event]] = {}
        for item in items:
            kind, queue = item.get("Event"), item.get("Queue")
            if queue not in self.queues:
                continue
            if kind == "QueueParams":
                listed.setdefault(queue, {})
            elif kind == "QueueMember":
                interface = item.get("Location") or item.get("Interface")
                if interface:
                    listed.setdefault(queue, {})[interface] = item
        for queue, members in listed.items():
            self._mark(queue)  # told afresh (after a connect): worth a message even if nothing changed
            for gone in set(self._members[queue]) - set(members):
                del self._members[queue][gone]
                self.roster_changed.add(queue)
                self._mark(queue)
            for interface, item in members.items():
                self._set_member(
                    queue,
                    interface,
                    item.get("Name") or item.get("MemberName"),
                    item.get("StateInterface"),
                    member_state(item.get("Status"), item.get("Paused"), item.get("InCall")),
                    item.get("PausedReason") or "",
                )

    def _set_member(
        self, queue: str, interface: str, name: str | None, state_interface: str | None, state: MemberState, reason: str
    ) -> None:
        members = self._members[queue]
        known = members.get(interface)
        shown = caller_name(name) or (known.name if known is not None else "") or interface
        extension = (
            interface_extension(interface)
            or interface_extension(state_interface)
            or (known.extension if known is not None else None)
        )
        member = Member(interface, shown, extension, state, reason if state is MemberState.PAUSED else "")
        if member != known:
            members[interface] = member
            if known is None or known.extension != extension or known.name != shown:
                self.roster_changed.add(queue)
            self._mark(queue)

    # -- the day ---------------------------------------------------------------------------------------------

    def day_of(self, at: datetime) -> date:
        """The board's day (in :attr:`zone`) of the aware moment ``at``."""
        return at.astimezone(self.zone).date()

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """``day`` from its midnight to the next (aware; 23 or 25 hours on a daylight-saving change)."""

        def midnight(d: date) -> datetime:
            if self.zone is None:
                return datetime.combine(d, time()).astimezone()  # the machine's local midnight
            return datetime.combine(d, time(), self.zone)

        return midnight(day), midnight(day + timedelta(days=1))

    def seed_day(self, day: date, counts: Mapping[str, tuple[int, ...]]) -> bool:
        """The counters of ``day`` are ``counts`` (queue -> answered, abandoned, timed out[, answered in time]; a
        queue not named has none), e.g. as the calls recorded so far have them. Ignored (False) when the board
        already counts a later day; a later ``day`` than the board's starts that day."""
        if self._day is not None and day < self._day:
            return False
        self._day = day
        for queue, current in self._counts.items():
            told = [max(0, int(n)) for n in counts.get(queue, ())]
            current[:] = (told + [0, 0, 0, 0])[:4]
            self._mark(queue)
        return True

    # -- calls (told by the tracker) -------------------------------------------------------------------------

    def advance(self, t: float) -> None:
        """The PBX's time is at least ``t`` (epoch seconds), e.g. when a resync snapshot was taken."""
        if t > self._clock:
            self._clock = t

    def joined(self, queue: str | None, call: str, t: float | None) -> None:
        """``call`` entered ``queue`` at ``t`` (epoch seconds; None: now as far as the board knows)."""
        if queue not in self.queues:
            return
        if t is not None and t > self._clock:
            self._clock = t
        waiting = self._waiting[queue]
        for other in self.queues:  # a call waits in one queue at a time
            if other != queue and self._waiting[other].pop(call, None) is not None:
                self._mark(other)
        waiting[call] = self._clock if t is None else t
        self._mark(queue)

    def left(self, call: str, t: float | None = None) -> None:
        """``call`` is no longer waiting (answered, abandoned, timed out, hung up, gone)."""
        if t is not None and t > self._clock:
            self._clock = t
        for queue, waiting in self._waiting.items():
            if waiting.pop(call, None) is not None:
                self._mark(queue)

    def answered(self, queue: str | None, t: float, wait: int | None = None) -> None:
        """A call of ``queue`` was answered at ``t`` after waiting ``wait`` seconds (None: not known)."""
        self._count(queue, 0, t)
        if wait is not None and wait <= self.service_level:
            self._count(queue, 3, t)

    def abandoned(self, queue: str | None, t: float) -> None:
        self._count(queue, 1, t)

    def timed_out(self, queue: str | None, t: float) -> None:
        self._count(queue, 2, t)

    # -- internals -------------------------------------------------------------------------------------------

    def _count(self, queue: str | None, which: int, t: float) -> None:
        if queue not in self.queues:
            return
        if t > self._clock:
            self._clock = t
        day = datetime.fromtimestamp(t, self.zone).date()
        if self._day is None or day > self._day:
            if self._day is not None:  # a new day: every queue starts from 0
                for name, counts in self._counts.items():
                    counts[:] = [0, 0, 0, 0]
                    self._mark(name)
            self._day = day
        elif day < self._day:
            return  # a late event of yesterday
        self._counts[queue][which] += 1
        self._mark(queue)

    def _tick(self, event: Event, t: float | None) -> None:
        if t is None:
            at = event_time(event.get("Timestamp"))
            t = at.timestamp() if at is not None else None
        if t is not None and t > self._clock:
            self._clock = t

    def _mark(self, queue: str) -> None:
        self.changed.add(queue)
        if self.on_change is not None:
            self.on_change(queue)
