"""The brokers behind GET /api/v1/events: replay after a reconnect, bounded memory, a stuck client dropped, and
(with Redis) two workers naming every event alike."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aredis

from tests.support.services import service_missing
from web.live.broker import SUBSCRIBER_QUEUE, MemoryBroker, Overflow, RedisBroker

REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_a_reconnecting_client_gets_exactly_what_it_missed_then_live_events() -> None:
    broker = MemoryBroker(history=1000)
    for n in range(3):
        await broker.publish("ticket.created", {"n": n})
    first_id = broker.recent[0].id
    async with broker.subscribe(first_id) as feed:
        await broker.publish("ticket.created", {"n": 3})
        got = [(await feed.next(1)) for _ in range(3)]
        assert [m.data["n"] for m in got if m] == [1, 2, 3]
        assert await feed.next(0.05) is None, "nothing twice"
    ids = [int(m.id) for m in broker.recent]
    assert ids == sorted(ids) and len(set(ids)) == 4


async def test_only_the_last_history_events_are_kept() -> None:
    broker = MemoryBroker(history=10)
    await broker.publish("x", {"n": -1})
    oldest = broker.recent[0].id
    for n in range(25):
        await broker.publish("x", {"n": n})
    assert len(broker.recent) == 10
    async with broker.subscribe(oldest) as feed:
        replayed = [await feed.next(0.05) for _ in range(11)]
    assert [m.data["n"] for m in replayed if m] == list(range(15, 25)), "the newest 10; older ones are gone"


async def test_a_client_that_stops_reading_is_dropped_not_buffered_forever() -> None:
    broker = MemoryBroker()
    async with broker.subscribe(None) as feed:
        for n in range(SUBSCRIBER_QUEUE + 50):
            await broker.publish("x", {"n": n})
        with pytest.raises(Overflow):
            for _ in range(SUBSCRIBER_QUEUE + 1):
                await feed.next(1)
    assert not broker.subscribers


async def test_two_workers_on_one_redis_stream_see_the_same_events_with_the_same_ids() -> None:
    try:
        probe = aredis.from_url(REDIS_URL, socket_connect_timeout=2)
        await probe.ping()
    except (aredis.RedisError, OSError) as exc:
        service_missing(f"Redis on 127.0.0.1:6379 is needed: {exc}")
    key = f"con7:test:{uuid.uuid4().hex}"
    one, two = RedisBroker(REDIS_URL, stream=key), RedisBroker(REDIS_URL, stream=key)
    await one.start()
    await two.start()
    try:
        async with one.subscribe(None) as a, two.subscribe(None) as b:
            await one.publish("ticket.created", {"number": "IT-1"})
            await two.publish("ticket.created", {"number": "IT-2"})
            got_a = [await a.next(5), await a.next(5)]
            got_b = [await b.next(5), await b.next(5)]
        assert [m.id for m in got_a if m] == [m.id for m in got_b if m]
        assert [m.data["number"] for m in got_b if m] == ["IT-1", "IT-2"]
        async with two.subscribe(got_a[0].id) as resumed:  # type: ignore[union-attr]
            again = await resumed.next(5)
            assert again is not None and again.data["number"] == "IT-2"
            assert await resumed.next(0.2) is None
    finally:
        await one.stop()
        await two.stop()
        await probe.delete(key)
        await probe.aclose()
