"""Domain events the ticket services publish after their transaction commits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


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


DomainEvent = TicketCreated | TicketUpdated
Publisher = Callable[[DomainEvent], Awaitable[None] | None]


async def no_publisher(event: DomainEvent) -> None:
    """The default publisher: events go nowhere."""
