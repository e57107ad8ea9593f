"""The agents' phones: registered or not, free / ringing / in a call / paused, and their queue memberships.

Pure (no I/O, no clock), owned by :class:`pbx.tracker.CallTracker` next to its :class:`~pbx.queue_board.QueueBoard`
(whose members it reads for the memberships). A phone is known by its extension (``101`` of ``Local/101@agents``,
``PJSIP/101``, ``SIP/101``); the web layer maps an agent to it by the agent's extension.

Where each part comes from:

* registered: the latest of ``ContactStatus`` (PJSIP: Created/Reachable/NonQualified/Updated -> yes,
  Unreachable/Removed -> no), ``PeerStatus`` (Registered/Reachable -> yes, Unregistered/Unreachable/Rejected -> no),
  ``DeviceStateChange`` and a queue member's ``Status`` (unavailable/invalid -> no, any other known state -> yes).
  None while nothing was heard.
* ringing / in a call: the calls the tracker follows (``AgentRinging``: the queue rings this phone for a call;
  ``CallAnswered``: it took the call; the other phones rung for that call stop ringing; ``CallEnded`` /
  ``AgentRingNoAnswer``: over), else the device state (``DeviceStateChange`` or the member ``Status``: ringing;
  in use, busy, on hold -> in a call; a call that is not a queue call, e.g. click to call).
  A ``Local/`` member reports "in use" as soon as it is rung, so the tracker's calls come first.
* paused: a membership of one of the tracked queues is paused (``QueueMemberPause`` / ``QueueMemberStatus`` /
  ``QueueStatus`` items), with its reason; a phone in a call stays "in a call" (its memberships say paused).

Every change marks the phone's extension in :attr:`PhoneBoard.changed` and calls :attr:`PhoneBoard.on_change`, only
for phones that are members of a tracked queue (the PBX's other devices, e.g. the IVR's, are not agents).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from pbx.ami_values import interface_extension
from pbx.facts import AgentRinging, CallAnswered, CallEnded, Fact
from pbx.queue_board import MemberState, QueueBoard

Event = Mapping[str, str]

#: The AMI events about phones the board reads (besides the queue member events and the tracker's call facts).
PHONE_EVENTS = frozenset({"DeviceStateChange", "ContactStatus", "PeerStatus", "AgentRingNoAnswer"})
#: The pause reason of helpline's automatic wrap-up pause.
WRAP_UP = "wrap-up"

#: A member's ``Status`` (device state code) as a ``DeviceStateChange`` ``State`` names it.
_STATUS_NAMES = {
    "0": "UNKNOWN",
    "1": "NOT_INUSE",
    "2": "INUSE",
    "3": "BUSY",
    "4": "INVALID",
    "5": "UNAVAILABLE",
    "6": "RINGING",
    "7": "RINGINUSE",
    "8": "ONHOLD",
}
_UNREACHABLE = frozenset({"UNAVAILABLE", "INVALID"})
_RINGING = frozenset({"RINGING"})
_TALKING = frozenset({"INUSE", "BUSY", "ONHOLD", "RINGINUSE"})
_CONTACT = {"created": True, "reachable": True, "nonqualified": True, "updated": True}
_CONTACT |= {"unreachable": False, "removed": False}
_PEER = {"registered": True, "reachable": True, "unregistered": False, "unreachable": False, "rejected": False}


class PhoneState(str, Enum):
    FREE = "free"
    RINGING = "ringing"
    IN_CALL = "in_call"
    PAUSED = "paused"
    UNKNOWN = "unknown"  #: not registered, or nothing known


@dataclass(frozen=True)
class Membership:
    queue: str
    interface: str  #: the member's interface ("Local/101@agents", "PJSIP/101"): what QueuePause names
    paused: bool
    reason: str  #: the pause reason ("" when not paused or none given)
    paused_at: float | None  #: epoch seconds of the pause (``LastPause``), when paused and known


@dataclass(frozen=True)
class Phone:
    extension: str
    registered: bool | None
    state: PhoneState
    reason: str | None  #: the pause reason when ``state`` is paused
    queues: tuple[Membership, ...]


class PhoneBoard:
    """The phones of the members of ``board`` 's queues."""

    def __init__(self, board: QueueBoard, on_change: Callable[[str], None] | None = None) -> None:
        self.board = board
        self.on_change = on_change
        self.changed: set[str] = set()
        self._device: dict[str, str] = {}  #: extension -> device state name
        self._registered: dict[str, bool] = {}
        self._ringing: dict[str, set[str]] = {}  #: extension -> Linkedids of the calls ringing it
        self._talking: dict[str, set[str]] = {}  #: extension -> Linkedids of the calls it answered
        self._paused_at: dict[tuple[str, str], float] = {}  #: (queue, interface) -> LastPause

    # -- reading ---------------------------------------------------------------------------------------------

    def memberships(self, extension: str) -> tuple[Membership, ...]:
        out = []
        for queue, m in self.board.members():
            if m.extension == extension:
                paused = m.state is MemberState.PAUSED
                at = self._paused_at.get((queue, m.interface)) if paused else None
                out.append(Membership(queue, m.interface, paused, m.paused_reason, at))
        return tuple(sorted(out, key=lambda m: (m.queue, m.interface)))

    def extensions(self) -> set[str]:
        """The extensions of every member of the tracked queues."""
        return {m.extension for _, m in self.board.members() if m.extension}

    def phone(self, extension: str) -> Phone:
        queues = self.memberships(extension)
        device = self._device.get(extension)
        registered = self._registered.get(extension)
        paused = [m for m in queues if m.paused]
        reason: str | None = None
        if self._talking.get(extension):
            state = PhoneState.IN_CALL
        elif self._ringing.get(extension) or device in _RINGING:
            state = PhoneState.RINGING
        elif device in _TALKING:
            state = PhoneState.IN_CALL
        elif paused:
            state, reason = PhoneState.PAUSED, paused[0].reason or None
        elif registered is False or (device is None and not queues):
            state = PhoneState.UNKNOWN
        else:
            state = PhoneState.FREE
        return Phone(extension, registered, state, reason, queues)

    def take_changed(self) -> set[str]:
        changed, self.changed = self.changed, set()
        return changed

    # -- events ----------------------------------------------------------------------------------------------

    def event(self, event: Event) -> None:
        """A ``DeviceStateChange``, ``ContactStatus``, ``PeerStatus`` or ``AgentRingNoAnswer``."""
        kind = event.get("Event")
        if kind == "DeviceStateChange":
            self._device_state(interface_extension(event.get("Device")), str(event.get("State") or "").upper())
        elif kind == "ContactStatus":
            up = _CONTACT.get(str(event.get("ContactStatus") or "").lower())
            self._set_registered(event.get("EndpointName") or event.get("AOR"), up)
        elif kind == "PeerStatus":
            up = _PEER.get(str(event.get("PeerStatus") or "").lower())
            self._set_registered(interface_extension(event.get("Peer")), up)
        elif kind == "AgentRingNoAnswer":
            extension = interface_extension(event.get("Interface"))
            linkedid = event.get("Linkedid")
            if extension and linkedid and linkedid in self._ringing.get(extension, ()):
                self._ringing[extension].discard(linkedid)
                self._mark(extension)

    def member_event(self, event: Event) -> None:
        """A ``QueueMember*`` event (after the queue board read it) or a ``QueueMember`` item of ``QueueStatus``."""
        queue, interface = event.get("Queue"), event.get("Location") or event.get("Interface")
        if queue not in self.board.queues or not interface:
            return
        extension = interface_extension(interface) or interface_extension(event.get("StateInterface"))
        if event.get("Paused") == "1" and event.get("LastPause") not in (None, "", "0"):
            try:
                self._paused_at[(str(queue), interface)] = float(str(event.get("LastPause")))
            except ValueError:
                pass
        if extension is None:
            return
        status = _STATUS_NAMES.get(str(event.get("Status") or ""))
        if status is not None:
            self._device_state(extension, status)
        self._mark(extension)

    def load_members(self, items: Iterable[Event]) -> None:
        """The items of ``QueueStatus`` (after the queue board loaded them)."""
        for item in items:
            if item.get("Event") == "QueueMember":
                self.member_event(item)

    def follow(self, facts: Iterable[Fact]) -> None:
        """The call facts the tracker emitted: who rings, who talks, what ended."""
        for fact in facts:
            if isinstance(fact, AgentRinging) and fact.agent_extension:
                self._ringing.setdefault(fact.agent_extension, set()).add(fact.linkedid)
                self._mark(fact.agent_extension)
            elif isinstance(fact, CallAnswered):
                self._drop(fact.linkedid)
                if fact.agent_extension:
                    self._talking.setdefault(fact.agent_extension, set()).add(fact.linkedid)
                    self._mark(fact.agent_extension)
            elif isinstance(fact, CallEnded):
                self._drop(fact.linkedid)

    # -- internals -------------------------------------------------------------------------------------------

    def _drop(self, linkedid: str) -> None:
        for calls in (self._ringing, self._talking):
            for extension, ids in calls.items():
                if linkedid in ids:
                    ids.discard(linkedid)
                    self._mark(extension)

    def _device_state(self, extension: str | None, state: str) -> None:
        if not extension or not state:
            return
        if self._device.get(extension) != state:
            self._device[extension] = state
            if state != "UNKNOWN":
                self._registered[extension] = state not in _UNREACHABLE
            self._mark(extension)

    def _set_registered(self, extension: str | None, up: bool | None) -> None:
        if not extension or up is None or self._registered.get(extension) is up:
            return
        self._registered[extension] = up
        self._mark(extension)

    def _mark(self, extension: str) -> None:
        if not any(m.extension == extension for _, m in self.board.members()):
            return
        self.changed.add(extension)
        if self.on_change is not None:
            self.on_change(extension)
