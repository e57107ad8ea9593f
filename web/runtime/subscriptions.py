"""Who hears which domain event: the one subscription table of the process.

After the commit of the change they report, events are delivered in the order of :func:`subscriptions`. SLA
warnings and breaches reach alerting once, and not through the bus: inside the SLA scheduler's transaction
(:func:`sla_handlers`), so an alert commits with its SLA event or neither does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tickets.events import (
    CallEndedEvent,
    CallOfferedEvent,
    DomainEvent,
    Handler,
    SlaBreached,
    SlaWarning,
    TicketUpdated,
)
from tickets.sla.scheduler import DueHandler
from web.runtime.live import live_publisher

if TYPE_CHECKING:
    from web.runtime import Runtime
    from web.runtime.notify import NotifyRuntime


def subscriptions(runtime: Runtime) -> list[tuple[Handler, tuple[Any, ...]]]:
    """(handler, the events it hears), in delivery order."""
    table: list[tuple[Handler, tuple[Any, ...]]] = [
        (live_publisher(runtime.live), (DomainEvent,)),  # the console: first, whatever the others do
        (runtime.metrics.on_event, (CallOfferedEvent, CallEndedEvent, SlaWarning, SlaBreached)),
    ]
    if runtime.alerting is not None:  # a resolved or closed ticket ends its alerts
        table.append((runtime.alerting.alerts.on_ticket_event, (TicketUpdated,)))
    return table


def sla_handlers(alerting: NotifyRuntime | None) -> Sequence[DueHandler]:
    """What the SLA scheduler calls inside its transaction for each warning and breach: open the alert."""
    return [alerting.alerts.on_due] if alerting is not None else []


def subscribe_all(runtime: Runtime) -> None:
    """Subscribe the table's handlers to the runtime's bus."""
    for handler, kinds in subscriptions(runtime):
        runtime.bus.subscribe(handler, *kinds)
