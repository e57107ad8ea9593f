"""SLA warnings and breaches open their alerts inside the SLA scheduler's transaction: the alert and its deliveries
commit with the SLA event or not at all (a failing handler, a process killed before the commit), a retry neither
loses nor doubles them, the catch-up finds nothing after normal operation, and a reopened ticket alerts anew."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from notify.alerts import alert_reason
from notify.models import Alert, AlertState, Delivery
from tests.support.notify import IVAN, T0, World
from tests.support.paths import ROOT
from tests.support.sla import POLICIES, agent, book
from tests.support.waiting import eventually
from tickets.events import DomainEvent, SlaBreached, SlaWarning
from tickets.models import Activity, ActivityKind, SlaClock, SlaEvent, TicketStatus
from tickets.sla.clocks import SlaEngine
from tickets.sla.scheduler import SlaScheduler
from web.settings import Settings

#: Deliveries of one alert under the test policy: per round ivan (SMS, Slack DM), #it-oncall, olga, maria; 2 rounds.
DELIVERIES = 10


def wired(w: World, tmp_path: Path, published: list[DomainEvent] | None = None) -> SlaScheduler:
    """The SLA engine on the world's ticket service; a scheduler with alerting as its in-transaction handler."""
    engine = SlaEngine(book(tmp_path), clock=w.clock)
    w.tickets.sla = engine
    publish = published.append if published is not None else (lambda event: None)
    return SlaScheduler(engine, publish=publish, handlers=[w.alerts.on_due], clock=w.clock)


class FailOnce:
    """A handler after alerting's that fails the first time (a bug, the database gone for a moment)."""

    def __init__(self, failures: int = 1, only: int | None = None) -> None:
        self.calls = 0
        self.failures = failures
        self.only = only  # fail for this ticket only

    async def __call__(self, event: SlaWarning | SlaBreached) -> None:
        if self.only is not None and event.ticket_id != self.only:
            return
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError("notify handler failed")


async def sla_rows(ticket_id: int) -> tuple[int, int, int, int]:
    """(SLA warnings and breaches, their activity entries, alerts, deliveries) of a ticket."""
    alerts = await Alert.filter(ticket_id=ticket_id).values_list("id", flat=True)
    return (
        await SlaEvent.filter(ticket_id=ticket_id, kind__in=["warning", "breached"]).count(),
        await Activity.filter(ticket_id=ticket_id, kind=ActivityKind.SLA).count(),
        len(alerts),
        await Delivery.filter(alert_id__in=list(alerts)).count() if alerts else 0,
    )


async def test_the_alert_commits_with_the_warning_and_the_catch_up_finds_nothing(world: World, tmp_path: Path) -> None:
    w = world
    published: list[DomainEvent] = []
    scheduler = wired(w, tmp_path, published)
    alice = await agent()
    ticket = await w.p1()
    await w.tickets.comment(alice, ticket.id, "looking", public=True)  # first response met
    w.clock.advance(hours=2)  # 50% of the 4h resolution target
    assert await scheduler.run_due() == 1
    (alert,) = await Alert.filter(ticket_id=ticket.id)
    assert alert.reason == "sla.warning:resolution:2026-03-02T14:00" and alert.state == AlertState.OPEN
    assert await sla_rows(ticket.id) == (1, 1, 1, DELIVERIES)
    assert [type(e).__name__ for e in published] == ["SlaWarning"]  # still published after the commit (live)

    # the ticket waits on the user: its clock pauses and no longer has a due moment; the catch-up must still
    # recognise the warning's alert (by the due moment recorded with the warning), not open a second one
    w.clock.advance(minutes=1)
    await w.tickets.transition(alice, ticket.id, TicketStatus.PENDING)
    assert (await SlaClock.get(ticket_id=ticket.id, metric="resolution")).due_at is None
    assert await w.alerts.catch_up() == 0
    assert await w.alerts.catch_up() == 0
    assert await Alert.filter(ticket_id=ticket.id).count() == 1
    await w.dispatcher.run_due()
    assert "resolution due in 1h59m" in w.twilio.to(IVAN)[0]["body"]


async def test_after_a_normal_breach_the_catch_up_opens_nothing(world: World, tmp_path: Path) -> None:
    w = world
    scheduler = wired(w, tmp_path)
    ticket = await w.p1()
    w.clock.advance(minutes=16)  # first response breached (the stale warnings before it are skipped)
    assert await scheduler.run_due() == 1
    assert [a.reason for a in await Alert.all()] == ["sla.breached:first_response:2026-03-02T10:15"]
    assert await w.alerts.catch_up() == 0
    assert await Alert.all().count() == 1
    assert await sla_rows(ticket.id) == (1, 1, 1, DELIVERIES)


async def test_a_failing_handler_rolls_the_breach_back_and_the_retry_writes_it_once(
    world: World, tmp_path: Path
) -> None:
    w = world
    published: list[DomainEvent] = []
    scheduler = wired(w, tmp_path, published)
    flaky = FailOnce()
    scheduler.handlers.append(flaky)
    ticket = await w.p1()
    w.clock.advance(minutes=16)
    before = await SlaClock.get(ticket_id=ticket.id, metric="first_response")
    with pytest.raises(RuntimeError, match="notify handler failed"):
        await scheduler.run_due()
    # nothing of the breach was committed: no SLA event, no activity, no alert, no delivery; the clock is still due
    assert await sla_rows(ticket.id) == (0, 0, 0, 0)
    after = await SlaClock.get(ticket_id=ticket.id, metric="first_response")
    assert (after.version, after.next_event_at, after.breached_at) == (before.version, before.next_event_at, None)
    assert published == [] and scheduler.fired == 0
    assert await scheduler.run_due() == 0  # held back a second
    assert await scheduler.next_due() == w.clock.now + timedelta(seconds=1)

    w.clock.advance(seconds=1)
    assert await scheduler.run_due() == 1  # the retry
    assert await scheduler.run_due() == 0
    assert await sla_rows(ticket.id) == (1, 1, 1, DELIVERIES)
    assert [type(e).__name__ for e in published] == ["SlaBreached"] and flaky.calls == 2
    assert await w.alerts.catch_up() == 0


async def test_the_loop_retries_a_failed_pass_by_itself(world: World, tmp_path: Path) -> None:
    w = world
    published: list[DomainEvent] = []
    scheduler = wired(w, tmp_path, published)
    flaky = FailOnce()
    scheduler.handlers.append(flaky)
    ticket = await w.p1()
    w.clock.advance(minutes=16)
    scheduler.start()

    def retried() -> bool:  # the failed pass is retried a second later (the clock of the test moves with it)
        if not published and flaky.calls:
            w.clock.now = max(w.clock.now, T0 + timedelta(minutes=16, seconds=1))
        return bool(published)

    try:
        await eventually(retried, what="the failed pass retried")
    finally:
        await scheduler.stop()
    assert flaky.calls == 2 and len(published) == 1
    assert await sla_rows(ticket.id) == (1, 1, 1, DELIVERIES)


async def test_a_process_killed_before_the_commit_loses_nothing(world: World, orm: Settings, tmp_path: Path) -> None:
    """The scheduler process dies (SIGKILL) after alerting wrote the alert, before the commit: neither the breach
    nor the alert exists; the next scheduler writes both, once."""
    w = world
    scheduler = wired(w, tmp_path)
    ticket = await w.p1()
    now = w.clock.advance(minutes=16)
    policies = tmp_path / "worker" / "sla.toml"
    policies.parent.mkdir()
    policies.write_text(POLICIES, encoding="utf-8")
    proc = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "tests.support.sla",
            orm.database.url.get_secret_value(),
            str(policies),
            now.isoformat(),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -9 and proc.stdout.split() == ["written"], proc.stderr
    assert await sla_rows(ticket.id) == (0, 0, 0, 0)
    assert await scheduler.run_due() == 1
    assert await sla_rows(ticket.id) == (1, 1, 1, DELIVERIES)
    await w.dispatcher.run_due()
    assert len(w.twilio.to(IVAN)) == 1


async def test_a_reopened_ticket_alerts_anew(world: World, tmp_path: Path) -> None:
    """Resolved and reopened at once, the resolution target's due moment does not move; its next warning and its
    breach are new alerts (the clock's second cycle), not swallowed by the resolved alert of the first warning."""
    w = world
    scheduler = wired(w, tmp_path)
    alice = await agent()
    ticket = await w.p1()
    await w.tickets.comment(alice, ticket.id, "looking", public=True)
    w.clock.advance(hours=2)
    assert await scheduler.run_due() == 1  # 50% warning: alert 1
    w.clock.advance(minutes=30)
    await w.tickets.transition(alice, ticket.id, TicketStatus.RESOLVED, resolution="restarted")
    (first,) = await Alert.filter(ticket_id=ticket.id)
    assert first.state == AlertState.RESOLVED
    await w.tickets.transition(alice, ticket.id, TicketStatus.OPEN)  # the user says it is not fixed
    clock = await SlaClock.get(ticket_id=ticket.id, metric="resolution")
    assert clock.due_at == T0 + timedelta(hours=4) and clock.cycle == 2  # same due moment, a new cycle

    w.clock.advance(minutes=30)  # 75%
    assert await scheduler.run_due() == 1
    w.clock.advance(hours=1)  # breached
    assert await scheduler.run_due() == 1
    alerts = await Alert.filter(ticket_id=ticket.id).order_by("id")
    assert [(a.reason, a.state) for a in alerts] == [
        ("sla.warning:resolution:2026-03-02T14:00", AlertState.RESOLVED),
        ("sla.warning:resolution:2026-03-02T14:00#2", AlertState.OPEN),
        ("sla.breached:resolution:2026-03-02T14:00#2", AlertState.OPEN),
    ]
    assert await Delivery.filter(alert_id__in=[a.id for a in alerts[1:]]).count() == 2 * DELIVERIES
    assert await w.alerts.catch_up() == 0


async def test_a_second_breach_in_the_same_minute_is_a_new_alert(world: World, tmp_path: Path) -> None:
    """The callback target of the next missed call (the clock's next cycle) may come due in the same minute as the
    last one (office hours: both fall due at the start of the next working day): it is a second alert."""
    w = world
    ticket = await w.p1()
    first = await w.alerts.open(ticket.id, "sla.breached", "callback", T0, 1)
    assert first is not None
    await w.alerts.on_due(SlaBreached(ticket.id, ticket.number, "callback", T0, "phone", cycle=1))  # replayed
    await w.alerts.on_due(
        SlaBreached(ticket.id, ticket.number, "callback", T0 + timedelta(seconds=20), "phone", cycle=2)
    )
    assert sorted(await Alert.filter(ticket_id=ticket.id).values_list("reason", flat=True)) == [
        "sla.breached:callback:2026-03-02T10:00",
        "sla.breached:callback:2026-03-02T10:00#2",
    ]
    assert alert_reason("sla.breached", "callback", T0, 2) == "sla.breached:callback:2026-03-02T10:00#2"


async def test_catch_up_resolves_the_alerts_of_a_ticket_resolved_while_alerting_was_away(
    world: World, tmp_path: Path
) -> None:
    w = world
    scheduler = wired(w, tmp_path)
    ticket = await w.p1()
    w.clock.advance(minutes=16)
    await scheduler.run_due()
    w.tickets.publish = lambda event: None  # the process died before alerting heard of the resolution
    await w.tickets.transition(await agent(), ticket.id, TicketStatus.RESOLVED, resolution="fixed")
    assert (await Alert.get(ticket_id=ticket.id)).state == AlertState.OPEN
    assert await w.alerts.catch_up() == 0
    assert (await Alert.get(ticket_id=ticket.id)).state == AlertState.RESOLVED
    w.clock.advance(minutes=30)
    await w.dispatcher.run_due()
    assert w.twilio.messages == []  # nothing went out for a resolved ticket


async def test_a_clock_whose_handler_keeps_failing_holds_back_only_its_own_events(world: World, tmp_path: Path) -> None:
    """A bug that breaks alerting for one ticket: the other tickets' breaches still commit with their alerts; the
    broken one is tried again with a growing pause and commits, once, when the handler works again."""
    w = world
    scheduler = wired(w, tmp_path)
    tickets = [await w.p1(f"Outage {i}") for i in range(3)]
    broken = FailOnce(failures=4, only=tickets[1].id)  # in the batch, alone, after 1 s, after 2 s
    scheduler.handlers.append(broken)
    w.clock.advance(minutes=16)
    assert await scheduler.run_due() == 2  # the batch failed; one by one, two of the three went through
    assert [await sla_rows(t.id) for t in tickets] == [(1, 1, 1, DELIVERIES), (0, 0, 0, 0), (1, 1, 1, DELIVERIES)]
    for pause in (1, 2):  # held 1 s, then 2 s, then 4 s
        assert await scheduler.run_due() == 0
        w.clock.advance(seconds=pause)
        with pytest.raises(RuntimeError):
            await scheduler.run_due()
    w.clock.advance(seconds=3)
    assert await scheduler.run_due() == 0
    w.clock.advance(seconds=1)
    assert await scheduler.run_due() == 1  # the handler works again
    assert await sla_rows(tickets[1].id) == (1, 1, 1, DELIVERIES) and broken.calls == 5
    assert await w.alerts.catch_up() == 0
