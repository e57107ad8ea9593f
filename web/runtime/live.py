"""Building the broker from ``[live]`` and turning domain events into live messages."""

from __future__ import annotations

import inspect
import logging

from tickets.events import DomainEvent, Publisher
from tickets.ticket_service import TicketService
from web.settings.config import LiveSettings
from web.live.broker import Broker, MemoryBroker, RedisBroker
from web.live.message import event_data

log = logging.getLogger(__name__)


def build_broker(settings: LiveSettings) -> Broker:
    if settings.redis_url is not None:
        return RedisBroker(settings.redis_url.get_secret_value(), stream=settings.stream, history=settings.history)
    return MemoryBroker(settings.history)


def domain_publisher(broker: Broker) -> Publisher:
    """A ``tickets.events.Publisher`` that hands events to ``broker``; it never raises (the change is committed)."""

    async def publish(event: DomainEvent) -> None:
        try:
            type_, data = event_data(event)
            await broker.publish(type_, data)
        except Exception:
            log.exception("live events: could not publish %r", event)

    return publish


def attach(tickets: TicketService, broker: Broker) -> None:
    """Send what ``tickets`` publishes to ``broker`` too, keeping any publisher already set (alerting, ...)."""
    previous = tickets.publish
    live = domain_publisher(broker)

    async def publish(event: DomainEvent) -> None:
        await live(event)  # never raises: whatever the other publisher does, the console hears of the change
        result = previous(event)
        if inspect.isawaitable(result):
            await result

    tickets.publish = publish
