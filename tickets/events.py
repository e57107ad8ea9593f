"""Domain events the ticket services publish after their transaction commits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class TicketCreated:
    ticket_id: int
    number: str
    actor: str
    type: str = "ticket.created"


@dataclass(frozen=True)
class TicketUpdated:
    ticket_id: int
    number: str
    actor: str
    changes: tuple[str, ...] = field(default_factory=tuple)
    type: str = "ticket.updated"


@dataclass(frozen=True)
class SlaWarning:
    """``percent`` of an SLA target's business time is used up."""

    ticket_id: int
    number: str
    metric: str
    percent: int
    due_at: datetime
    policy: str
    cycle: int = 1  #: the clock's cycle (a new missed call, a reopened ticket): a new target
    type: str = "sla.warning"


@dataclass(frozen=True)
class SlaBreached:
    """An SLA target was missed: its due moment passed before it was met."""

    ticket_id: int
    number: str
    metric: str
    due_at: datetime
    policy: str
    cycle: int = 1  #: the clock's cycle (a new missed call, a reopened ticket): a new target
    type: str = "sla.breached"


@dataclass(frozen=True)
class CallEvent:
    """A phone call to the IT line moved on (published by the call intake after its change commits).

    ``agent_*``: the agent rung or answering (``agent_id`` None when no helpline agent matches the queue member);
    ``requester_id``: the person the caller was identified as; ``ticket_*``: the ticket the call opened or joined.
    """

    pbx: str
    linkedid: str
    call_id: int
    ticket_id: int | None
    ticket_number: str | None
    caller_number: str
    caller_name: str
    requester_id: int | None
    queue: str | None
    at: datetime
    agent_id: int | None = None
    agent_extension: str | None = None
    agent_name: str | None = None
    opened_ticket: bool = True
    outcome: str | None = None
    wait_seconds: int | None = None
    #: call.offered of an ambiguous caller: the people who have this number (the agent picks the requester)
    candidates: tuple[int, ...] = ()
    #: the number to call the caller back on (E.164, an extension, or as dialled); None when withheld or unknown
    callback_number: str | None = None
    type: str = "call"


@dataclass(frozen=True)
class CallOfferedEvent(CallEvent):
    """A call reached the IT line (it waits in ``queue``)."""

    type: str = "call.offered"


@dataclass(frozen=True)
class CallQueuedEvent(CallEvent):
    """A call offered before any queue (by dialplan context) entered ``queue``."""

    type: str = "call.queued"


@dataclass(frozen=True)
class CallRingingEvent(CallEvent):
    """An agent's phone rings for the call: the screen pop."""

    type: str = "call.ringing"


@dataclass(frozen=True)
class CallAnsweredEvent(CallEvent):
    """An agent answered the call."""

    type: str = "call.answered"


@dataclass(frozen=True)
class CallEndedEvent(CallEvent):
    """The call is over (``outcome``)."""

    type: str = "call.ended"


DomainEvent = (TicketCreated | TicketUpdated | SlaWarning | SlaBreached | CallOfferedEvent | CallQueuedEvent
               | CallRingingEvent | CallAnsweredEvent | CallEndedEvent)
Publisher = Callable[[DomainEvent], Awaitable[None] | None]


async def no_publisher(event: DomainEvent) -> None:
    """The default publisher: events go nowhere."""
