"""Domain events the ticket services publish after their transaction commits, and the bus that delivers them.

Services are given :meth:`EventBus.publish` when they are built and publish to it; who hears what is said once, in
the composition root's subscription table (``web/runtime/subscriptions.py``), in delivery order.
"""

from __future__ import annotations

import inspect
import logging
import types
import typing
from collections.abc import Awaitable, Callable, Sequence
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


DomainEvent = (
    TicketCreated
    | TicketUpdated
    | SlaWarning
    | SlaBreached
    | CallOfferedEvent
    | CallQueuedEvent
    | CallRingingEvent
    | CallAnsweredEvent
    | CallEndedEvent
)
Publisher = Callable[[DomainEvent], Awaitable[None] | None]


async def no_publisher(event: DomainEvent) -> None:
    """The default publisher: events go nowhere."""


log = logging.getLogger(__name__)
#: Something that hears events: a function of the event, plain or async.
Handler = Callable[[typing.Any], Awaitable[None] | None]


def event_classes(*kinds: typing.Any) -> tuple[type, ...]:
    """The classes ``kinds`` stand for: classes as they are, unions (``DomainEvent``) as their members."""
    found: list[type] = []
    for kind in kinds:
        if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
            found += event_classes(*typing.get_args(kind))
        elif isinstance(kind, type):
            found.append(kind)
        else:
            raise TypeError(f"not an event class: {kind!r}")
    return tuple(found)


class EventBus:
    """Hands each published event to the handlers subscribed to its class, in the order they subscribed.

    A handler that raises is logged and the others still hear the event: publishing happens after the change
    committed, so nothing can be undone by a failing listener (each one catches up in its own way).
    """

    def __init__(self) -> None:
        self._subscriptions: list[tuple[Handler, tuple[type, ...]]] = []

    def subscribe(self, handler: Handler, *kinds: typing.Any) -> None:
        """``handler`` hears the events of ``kinds`` (event classes, or a union such as ``DomainEvent``)."""
        if not kinds:
            raise TypeError("say which events the handler hears")
        self._subscriptions.append((handler, event_classes(*kinds)))

    def handlers(self, event: DomainEvent) -> Sequence[Handler]:
        """Who hears ``event``, in delivery order."""
        return [handler for handler, kinds in self._subscriptions if isinstance(event, kinds)]

    async def publish(self, event: DomainEvent) -> None:
        """Deliver ``event`` to each of its handlers in turn; never raises."""
        for handler in self.handlers(event):
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("%s could not handle %s", getattr(handler, "__qualname__", handler), event.type)
