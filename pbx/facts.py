"""Call facts: what the PBX listener tells the rest of helpline about a call to the IT line.

These are the domain events that carry a call from ``pbx`` to ``tickets`` (``pbx`` imports nothing of helpline; the
web process hands these objects to the ticket intake). Each fact names its call by ``(pbx, linkedid)``: Asterisk's
Linkedid groups every channel of one call, and the PBX name keeps two Asterisk servers apart. Facts of one call
arrive in order ``CallOffered`` -> ``CallQueued``? -> ``AgentRinging``* -> ``CallAnswered``? -> ``CallEnded``;
applying a fact twice must change nothing (replays, reconnects).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class Outcome(str, Enum):
    """How a call to the IT line ended."""

    ANSWERED = "answered"  #: an agent talked to the caller
    ABANDONED = "abandoned"  #: the caller hung up while waiting (in the queue or while an agent rang)
    TIMEOUT = "timeout"  #: the queue gave up (queue timeout); the caller may have left a voicemail
    HUNG_UP_BEFORE_QUEUE = "hung_up_before_queue"  #: ended in the greeting/IVR before reaching a queue
    INTERRUPTED = "interrupted"  #: the PBX went away (restart, crash) and the call was not seen to end


@dataclass(frozen=True)
class CallFact:
    pbx: str
    linkedid: str
    at: datetime  #: when Asterisk reported it (aware UTC)


@dataclass(frozen=True)
class CallOffered(CallFact):
    """A call reached the IT line (entered one of the configured queues, or a configured context)."""

    caller_number: str  #: as the PBX sent it: "+15551230001", "5551230001", "4321", "anonymous", "" (none)
    caller_name: str  #: as the PBX sent it (UTF-8, unescaped), "" if none
    queue: str | None  #: the queue it entered; None when offered by context before any queue
    channel: str = ""  #: the caller's channel in the queue (for actions on the call)


@dataclass(frozen=True)
class CallQueued(CallFact):
    """A call offered by context (``queue`` None) entered one of the queues: the queue it is in from now on."""

    queue: str


@dataclass(frozen=True)
class AgentRinging(CallFact):
    """The queue is ringing a member for this call."""

    agent_name: str  #: the queue member's name ("Alice Agent")
    agent_interface: str  #: e.g. "PJSIP/101", "Local/101@agents"
    agent_extension: str | None  #: the extension read from the interface ("101"), if it has one


@dataclass(frozen=True)
class CallAnswered(CallFact):
    """An agent answered the call."""

    agent_name: str
    agent_interface: str
    agent_extension: str | None
    wait_seconds: int  #: time in the queue before the answer


@dataclass(frozen=True)
class CallEnded(CallFact):
    """The call is over; nothing more will be said about it."""

    outcome: Outcome
    wait_seconds: int | None  #: time in the queue (None if it never reached one)
    talk_seconds: int | None  #: time talking to an agent (None if not answered)
    ended_by: str | None = None  #: "agent" or "caller" when an answered call ended, else None
    voicemail: bool = False  #: the caller left a voicemail after the queue gave up
    hangup_cause: str | None = None  #: Asterisk's cause text of the caller's channel, e.g. "Normal Clearing"


Fact = CallOffered | CallQueued | AgentRinging | CallAnswered | CallEnded
