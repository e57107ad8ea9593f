"""The live broker built from ``[live]``, and the bus handler that turns domain events into live messages."""

from __future__ import annotations

from tickets.events import DomainEvent, Handler
from web.live.broker import Broker, MemoryBroker, RedisBroker
from web.live.message import event_data
from web.settings import LiveSettings


def build_broker(settings: LiveSettings) -> Broker:
    if settings.redis_url is not None:
        return RedisBroker(settings.redis_url.get_secret_value(), stream=settings.stream, history=settings.history)
    return MemoryBroker(settings.history)


def live_publisher(broker: Broker) -> Handler:
    """The bus handler that hands every domain event to ``broker`` (the console's live stream)."""

    async def publish(event: DomainEvent) -> None:
        type_, data = event_data(event)
        await broker.publish(type_, data)

    publish.__qualname__ = "live events"
    return publish
