"""The SLA scheduler: warnings and breaches on time in business hours, each exactly once (also with several
schedulers at once), written to the ticket's activity, published as domain events, and found through the index
on next_event_at rather than by scanning tickets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tortoise import connections

from tests.support.sla import FakeClock, agent, book, services
from tests.support.waiting import eventually
from tickets.events import DomainEvent, SlaBreached, SlaWarning
from tickets.models import Activity, ActivityKind, Level, SlaClock, SlaEvent, TicketStatus
from tickets.sla.clocks import SlaEngine
from tickets.sla.scheduler import SlaScheduler
from tickets.ticket_service import TicketService
from web.settings import Settings

MSK = ZoneInfo("Europe/Moscow")
UTC = UTC


def msk(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=MSK)  # type: ignore[misc]


async def test_warnings_and_breach_fire_on_time_once(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(msk(2026, 11, 28, 3, 0))
    tickets, engine = services(tmp_path, clock)
    published: list[DomainEvent] = []
    scheduler = SlaScheduler(engine, publish=published.append, clock=clock)
    ticket = await tickets.create(await agent(), title="Mail down", impact=Level.HIGH, urgency=Level.HIGH)  # P1
    assert await scheduler.next_due() == msk(2026, 11, 28, 3, 7, 30)  # 50% of 15 minutes
    clock.now = msk(2026, 11, 28, 3, 7, 29)
    assert await scheduler.run_due() == 0
    clock.now = msk(2026, 11, 28, 3, 7, 30)
    assert await scheduler.run_due() == 1
    assert await scheduler.run_due() == 0  # once
    assert await scheduler.next_due() == msk(2026, 11, 28, 3, 11, 15)  # 75%
    clock.now = msk(2026, 11, 28, 3, 11, 15)
    assert await scheduler.run_due() == 1
    clock.now = msk(2026, 11, 28, 3, 15, 0)
    assert await scheduler.run_due() == 1
    assert await scheduler.run_due() == 0
    assert [(type(e).__name__, getattr(e, "percent", None), e.metric) for e in published] == [
        ("SlaWarning", 50, "first_response"),
        ("SlaWarning", 75, "first_response"),
        ("SlaBreached", None, "first_response"),
    ]
    breach = published[-1]
    assert isinstance(breach, SlaBreached) and breach.due_at == msk(2026, 11, 28, 3, 15)
    assert breach.number == ticket.number and breach.type == "sla.breached"
    entries = await Activity.filter(ticket_id=ticket.id, kind=ActivityKind.SLA).order_by("id")
    assert [e.new_value for e in entries] == ["warning:50", "warning:75", "breached"]
    assert entries[-1].actor_label == "sla" and "First response target of 15m breached" in (entries[-1].body or "")
    first = await SlaClock.get(ticket_id=ticket.id, metric="first_response")
    assert first.state.value == "breached" and first.next_event_at is None
    # the resolution clock is next: its 50% warning after 2 hours
    assert await scheduler.next_due() == msk(2026, 11, 28, 5, 0)


async def test_after_downtime_only_the_breach_is_announced(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(msk(2026, 11, 28, 3, 0))
    tickets, engine = services(tmp_path, clock)
    published: list[DomainEvent] = []
    scheduler = SlaScheduler(engine, publish=published.append, clock=clock)
    ticket = await tickets.create(await agent(), title="Mail down", impact=Level.HIGH, urgency=Level.HIGH)
    clock.now = msk(2026, 11, 28, 3, 40)  # no scheduler ran for 40 minutes
    assert await scheduler.run_due() == 1
    assert [type(e).__name__ for e in published] == ["SlaBreached"]  # no stale 50% / 75% warnings after it
    first = await SlaClock.get(ticket_id=ticket.id, metric="first_response")
    assert first.warned == "50,75" and first.breached_at == msk(2026, 11, 28, 3, 15)


async def test_warnings_wait_for_business_hours(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(msk(2026, 11, 27, 17, 30))  # Friday; office hours Mon-Fri 08:00-18:00
    tickets, engine = services(tmp_path, clock)
    published: list[DomainEvent] = []
    scheduler = SlaScheduler(engine, publish=published.append, clock=clock)
    await tickets.create(await agent(), title="Printer jams")
    clock.now = msk(2026, 11, 29, 23, 59)  # the whole weekend: nothing
    assert await scheduler.run_due() == 0
    clock.now = msk(2026, 11, 30, 9, 30)  # Monday: 2 of 4 business hours used
    assert await scheduler.run_due() == 1
    assert isinstance(published[0], SlaWarning) and published[0].percent == 50
    assert published[0].due_at == msk(2026, 11, 30, 11, 30)


async def test_a_paused_clock_does_not_fire(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(msk(2026, 11, 24, 9, 0))
    tickets, engine = services(tmp_path, clock)
    scheduler = SlaScheduler(engine, clock=clock)
    alice = await agent()
    ticket = await tickets.create(alice, title="New laptop")
    clock.advance(minutes=5)
    await tickets.comment(alice, ticket.id, "ordered", public=True)
    await tickets.transition(alice, ticket.id, TicketStatus.PENDING)
    clock.now = msk(2026, 12, 24, 9, 0)  # a month later, still waiting for the user
    assert await scheduler.run_due() == 0
    assert await scheduler.next_due() is None


async def test_concurrent_schedulers_announce_each_event_once(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 28, 3, 0, tzinfo=UTC))
    engine = SlaEngine(book(tmp_path), clock=clock)
    tickets = TicketService(clock=clock, sla=engine)
    alice = await agent()
    for i in range(40):
        await tickets.create(alice, title=f"outage {i}", impact=Level.HIGH, urgency=Level.HIGH)
    clock.advance(minutes=8)  # every ticket's 50% first-response warning is due
    published: list[DomainEvent] = []
    schedulers = [
        SlaScheduler(SlaEngine(engine.book, clock=clock), publish=published.append, clock=clock, batch=7)
        for _ in range(3)
    ]
    counts = await asyncio.gather(*(s.run_due() for s in schedulers))
    assert sum(counts) == 40 == len(published)
    assert len({e.ticket_id for e in published}) == 40
    assert await SlaEvent.filter(kind="warning").count() == 40
    assert await Activity.filter(kind=ActivityKind.SLA).count() == 40


class WatchedScheduler(SlaScheduler):
    """The scheduler, counting the times it looked for the next due moment: right after that it sleeps."""

    looked = 0

    async def next_due(self) -> datetime | None:
        nxt = await super().next_due()
        self.looked += 1
        return nxt


async def test_the_loop_fires_within_a_second_of_the_due_moment(orm: Settings, tmp_path: Path) -> None:
    fast = '[[sla.policies]]\nname = "fast"\nfirst_response = "2s"\nwarn_at = [50]\n'
    engine = SlaEngine(book(tmp_path, fast))
    tickets = TicketService(sla=engine)
    seen: list[tuple[DomainEvent, datetime]] = []
    scheduler = WatchedScheduler(engine, publish=lambda e: seen.append((e, datetime.now(UTC))), max_sleep=30)
    scheduler.start()
    try:
        await eventually(lambda: scheduler.looked >= 1)  # the loop is asleep (nothing due) ...
        ticket = await tickets.create(await agent(), title="Now")  # ... and must be woken by the new clock
        await eventually(lambda: len(seen) == 2, what="the warning and the breach")
    finally:
        await scheduler.stop()
    assert [type(e).__name__ for e, _ in seen] == ["SlaWarning", "SlaBreached"]
    clock_row = await SlaClock.get(ticket_id=ticket.id)
    warning_due = clock_row.started_at + timedelta(seconds=1)
    assert clock_row.breached_at == clock_row.started_at + timedelta(seconds=2)
    lags = [(seen[0][1] - warning_due).total_seconds(), (seen[1][1] - clock_row.breached_at).total_seconds()]
    assert all(0 <= lag < 1.0 for lag in lags), lags  # never early, less than a second late


async def test_the_next_due_clock_is_found_through_the_index(orm: Settings) -> None:
    conn = connections.get("default")
    if conn.capabilities.dialect != "sqlite":
        return  # PostgreSQL picks a sequential scan on a tiny table; the plan is only meaningful on SQLite here
    _, rows = await conn.execute_query(
        "EXPLAIN QUERY PLAN SELECT id FROM sla_clock WHERE next_event_at <= '2026-01-01' "
        "ORDER BY next_event_at LIMIT 100"
    )
    plan = " ".join(str(dict(r)) for r in rows)
    assert "sla_clock_next_event_idx" in plan and "SCAN sla_clock" not in plan.replace("USING INDEX", ""), plan


async def test_ticket_changes_while_the_scheduler_fires(orm: Settings, tmp_path: Path) -> None:
    """Agents changing tickets while their warnings fire: no deadlock, no lost change, no double warning."""
    clock = FakeClock(datetime(2026, 11, 28, 3, 0, tzinfo=UTC))
    engine = SlaEngine(book(tmp_path), clock=clock)
    tickets = TicketService(clock=clock, sla=engine)
    alice = await agent()
    created = [
        await tickets.create(alice, title=f"outage {i}", impact=Level.HIGH, urgency=Level.HIGH) for i in range(20)
    ]
    clock.advance(minutes=8)  # every 50% first-response warning is due
    schedulers = [SlaScheduler(SlaEngine(engine.book, clock=clock), clock=clock, batch=5) for _ in range(2)]
    changes = [tickets.comment(alice, t.id, "working on it", public=True) for t in created]
    results = await asyncio.gather(*(s.run_due() for s in schedulers), *changes)
    for s in schedulers:  # what was skipped while its ticket was being changed comes round again
        await s.run_due()
    warned = await SlaEvent.filter(kind="warning").values_list("ticket_id", flat=True)
    assert len(warned) == len(set(warned)) and sum(results[:2]) <= 20
    met = await SlaClock.filter(metric="first_response", state="met").count()
    assert met == 20  # every first response counted, whether its warning came before it or not


async def test_the_loop_stops_while_clocks_keep_changing(orm: Settings, tmp_path: Path) -> None:
    """Shutdown while ticket changes keep waking the scheduler: stop() returns (a cancellation that arrives with a
    wake-up is not swallowed)."""
    engine = SlaEngine(book(tmp_path))
    loop = asyncio.get_running_loop()
    for _ in range(30):
        scheduler = WatchedScheduler(engine, max_sleep=30)
        scheduler.start()
        await eventually(lambda s=scheduler: s.looked >= 1)  # asleep: nothing is due
        loop.call_soon(scheduler.wake)  # a ticket change wakes it just as the shutdown begins
        await asyncio.sleep(0)  # one turn of the loop, so the wake-up and the cancellation arrive together
        scheduler.wake()
        await asyncio.wait_for(scheduler.stop(), 5)
