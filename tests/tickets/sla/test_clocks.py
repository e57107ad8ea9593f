"""SLA clocks follow the ticket: started by the matching policy, paused while pending, stopped by the first
response and the resolution, resumed on reopen, re-targeted when the priority changes, a callback clock for missed
calls. On SQLite and PostgreSQL, through the real ticket service and call intake."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.support.sla import FakeClock, agent, services
from tickets.actor import Actor
from tickets.calls.intake import CallIntake
from tickets.models import CallOutcome, Channel, Level, SlaClock, SlaEvent, SlaState, TicketStatus
from tickets.person_service import PersonService
from tickets.ticket_service import CallNote
from web.settings import Settings

MSK = ZoneInfo("Europe/Moscow")


def msk(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=MSK)  # type: ignore[misc]


async def clocks(ticket_id: int) -> dict[str, SlaClock]:
    return {c.metric: c for c in await SlaClock.filter(ticket_id=ticket_id)}


async def test_friday_evening_ticket_is_due_monday_morning(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(msk(2026, 11, 27, 17, 30))  # Friday
    tickets, _ = services(tmp_path, clock)
    ticket = await tickets.create(await agent(), title="Printer jams")  # P3 -> the default policy
    c = await clocks(ticket.id)
    assert set(c) == {"first_response", "resolution"}
    first = c["first_response"]
    assert (first.policy, first.calendar, first.state) == ("default", "office", SlaState.RUNNING)
    assert first.due_at == msk(2026, 11, 30, 11, 30)  # Monday 11:30, 4 business hours later
    assert first.next_event_at == msk(2026, 11, 30, 9, 30)  # the 50% warning (after the lunch-free morning)


async def test_new_year_holidays_push_the_due_time_into_january(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(msk(2026, 12, 29, 17, 0))  # Tuesday; Dec 30 is an extra day off, Dec 31 and Jan 1-8 holidays
    tickets, _ = services(tmp_path, clock)
    ticket = await tickets.create(await agent(), title="VPN")
    due = (await clocks(ticket.id))["first_response"].due_at
    assert due is not None and due.astimezone(MSK).date().isoformat() >= "2027-01-09"
    assert due.astimezone(MSK).weekday() < 5


async def test_p1_is_timed_round_the_clock_and_met_by_the_first_response(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(msk(2026, 11, 28, 3, 0))  # Saturday night
    tickets, _ = services(tmp_path, clock)
    alice = await agent()
    ticket = await tickets.create(Actor.system("pbx:main"), title="Mail down", impact=Level.HIGH, urgency=Level.HIGH)
    c = await clocks(ticket.id)
    assert c["first_response"].policy == "p1-incidents"
    assert c["first_response"].due_at == msk(2026, 11, 28, 3, 15)
    assert c["resolution"].due_at == msk(2026, 11, 28, 7, 0)
    clock.advance(minutes=10)
    await tickets.comment(alice, ticket.id, "On it", public=True)
    first = (await clocks(ticket.id))["first_response"]
    assert (first.state, first.stopped_at, first.next_event_at) == (SlaState.MET, clock.now, None)
    assert first.elapsed_seconds == 600
    assert (await clocks(ticket.id))["resolution"].state == SlaState.RUNNING


async def test_pending_pauses_the_clock_over_the_weekend(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(msk(2026, 11, 24, 9, 0))  # Tuesday 09:00
    tickets, engine = services(tmp_path, clock)
    alice = await agent()
    ticket = await tickets.create(alice, title="New laptop")
    await tickets.transition(alice, ticket.id, TicketStatus.OPEN)
    clock.now = msk(2026, 11, 24, 11, 0)
    await tickets.transition(alice, ticket.id, TicketStatus.PENDING, comment="waiting for the user", public=True)
    paused = (await clocks(ticket.id))["resolution"]
    assert (paused.state, paused.paused, paused.due_at, paused.next_event_at) == (SlaState.PAUSED, True, None, None)
    assert paused.elapsed_seconds == 2 * 3600
    clock.now = msk(2026, 11, 30, 15, 0)  # the user answers the next Monday afternoon
    await tickets.transition(alice, ticket.id, TicketStatus.OPEN)
    resumed = (await clocks(ticket.id))["resolution"]
    assert (resumed.state, resumed.paused) == (SlaState.RUNNING, False)
    # 30 h target, 2 h used: Mon 15:00-18:00 (3 h), Tue 10 h, Wed 10 h, Thu 05:00 more -> Thu 13:00
    assert resumed.due_at == msk(2026, 12, 3, 13, 0)
    assert engine.elapsed(resumed, msk(2026, 11, 30, 16, 0)) == timedelta(hours=3)
    kinds = [e.kind for e in await SlaEvent.filter(ticket_id=ticket.id, metric="resolution").order_by("id")]
    assert kinds == ["started", "paused", "resumed"]


async def test_resolving_late_is_a_breach_and_reopening_resumes(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(msk(2026, 11, 28, 3, 0))
    tickets, _ = services(tmp_path, clock)
    alice = await agent()
    ticket = await tickets.create(alice, title="Mail down", impact=Level.HIGH, urgency=Level.HIGH)
    clock.advance(hours=5)
    await tickets.transition(alice, ticket.id, TicketStatus.RESOLVED, resolution="restarted the server")
    c = await clocks(ticket.id)
    assert c["resolution"].state == SlaState.BREACHED and c["resolution"].breached_at == msk(2026, 11, 28, 7, 0)
    assert c["first_response"].state == SlaState.BREACHED  # nobody answered within 15 minutes either
    clock.advance(hours=1)
    await tickets.transition(alice, ticket.id, TicketStatus.OPEN)
    reopened = (await clocks(ticket.id))["resolution"]
    assert (reopened.state, reopened.stopped_at, reopened.elapsed_seconds) == (SlaState.BREACHED, None, 5 * 3600)
    assert reopened.running_since == clock.now
    assert (await clocks(ticket.id))["first_response"].stopped_at is not None  # stays finished


async def test_resolving_in_time_meets_the_target(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(msk(2026, 11, 24, 9, 0))
    tickets, _ = services(tmp_path, clock)
    alice = await agent()
    ticket = await tickets.create(alice, title="Password reset")
    clock.advance(minutes=20)
    await tickets.transition(alice, ticket.id, TicketStatus.RESOLVED, resolution="reset")
    assert {m: c.state for m, c in (await clocks(ticket.id)).items()} == {
        "first_response": SlaState.MET,
        "resolution": SlaState.MET,
    }


async def test_a_priority_change_retargets_and_keeps_the_elapsed_time(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(msk(2026, 11, 24, 9, 0))  # Tuesday
    tickets, _ = services(tmp_path, clock)
    alice = await agent()
    ticket = await tickets.create(alice, title="Slow network")  # P3: default policy, office hours
    clock.now = msk(2026, 11, 24, 10, 0)
    await tickets.update(alice, ticket.id, {"impact": Level.HIGH, "urgency": Level.HIGH})  # now P1
    c = await clocks(ticket.id)
    res = c["resolution"]
    assert (res.policy, res.calendar, res.target_seconds) == ("p1-incidents", "24x7", 4 * 3600)
    assert res.elapsed_seconds == 3600  # the business hour already spent counts against the new target
    assert res.due_at == msk(2026, 11, 24, 13, 0)
    events = await SlaEvent.filter(ticket_id=ticket.id, kind="retargeted").order_by("id")
    assert {e.metric for e in events} == {"first_response", "resolution"}
    assert "default: 30h -> p1-incidents: 4h" in (events[-1].detail or "")


async def test_vip_requesters_get_their_policy(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(msk(2026, 11, 24, 9, 0))
    tickets, _ = services(tmp_path, clock)
    boss = await PersonService().create(name="Big Boss", vip=True)
    ticket = await tickets.create(await agent(), title="Phone broken", requester_id=boss.id)
    assert (await clocks(ticket.id))["first_response"].policy == "vip"


async def test_a_vip_requester_set_later_retargets(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(msk(2026, 11, 24, 9, 0))
    tickets, _ = services(tmp_path, clock)
    alice = await agent()
    ticket = await tickets.create(alice, title="Phone broken")
    boss = await PersonService().create(name="Big Boss", vip=True)
    clock.advance(minutes=10)
    await tickets.update(alice, ticket.id, {"requester_id": boss.id})
    first = (await clocks(ticket.id))["first_response"]
    assert (first.policy, first.target_seconds, first.elapsed_seconds) == ("vip", 1800, 600)
    assert first.due_at == msk(2026, 11, 24, 9, 30)


async def test_no_policy_no_clocks(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(msk(2026, 11, 24, 9, 0))
    only_p1 = '[[sla.policies]]\nname = "p1"\nmatch = { priority = ["P1"] }\nresolution = "4h"\n'
    tickets, _ = services(tmp_path, clock, only_p1)
    ticket = await tickets.create(await agent(), title="Mouse", impact=Level.LOW, urgency=Level.LOW)
    assert await clocks(ticket.id) == {}


async def test_a_missed_call_starts_a_callback_clock_met_by_the_agent(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(msk(2026, 11, 24, 9, 0))
    tickets, _ = services(tmp_path, clock)
    alice = await agent()
    intake = CallIntake(tickets)
    start = clock.now
    await intake.offered(
        pbx="main", linkedid="1.1", at=start, caller_number="+74951234567", caller_name="Ivan", queue="helpdesk"
    )
    clock.advance(seconds=40)
    call = await intake.ended(
        pbx="main", linkedid="1.1", at=clock.now, outcome=CallOutcome.ABANDONED, wait_seconds=40, talk_seconds=None
    )
    assert call is not None and call.ticket_id is not None
    ticket = await tickets.get(call.ticket_id)
    assert ticket.title.startswith("Missed call - call back") and ticket.channel == Channel.PHONE
    callback = (await clocks(ticket.id))["callback"]
    assert (callback.policy, callback.target_seconds, callback.state) == ("phone", 1800, SlaState.RUNNING)
    assert callback.due_at == clock.now + timedelta(minutes=30)
    clock.advance(minutes=20)
    await tickets.comment(alice, ticket.id, "Called back, printer fixed")
    assert (await clocks(ticket.id))["callback"].state == SlaState.MET
    # a second missed call later starts a new cycle of the callback clock
    clock.advance(minutes=30)
    await intake.offered(
        pbx="main", linkedid="1.2", at=clock.now, caller_number="+74951234567", caller_name="Ivan", queue="helpdesk"
    )
    await intake.ended(
        pbx="main", linkedid="1.2", at=clock.now, outcome=CallOutcome.TIMEOUT, wait_seconds=60, talk_seconds=None
    )
    again = (await clocks(ticket.id))["callback"]
    assert (again.cycle, again.state, again.started_at) == (2, SlaState.RUNNING, clock.now)


async def test_a_missed_call_from_a_withheld_number_starts_no_callback_clock(orm: Settings, tmp_path: Path) -> None:
    """Nobody can call an anonymous or withheld caller back: a callback target would only breach (and page on-call
    staff) while the ticket's other clocks run as for any phone ticket."""
    clock = FakeClock(msk(2026, 11, 24, 9, 0))
    tickets, _ = services(tmp_path, clock)
    intake = CallIntake(tickets)
    for linkedid, number in (("3.1", "anonymous"), ("3.2", "")):
        await intake.offered(
            pbx="main", linkedid=linkedid, at=clock.now, caller_number=number, caller_name="Anonymous", queue="helpdesk"
        )
        call = await intake.ended(
            pbx="main",
            linkedid=linkedid,
            at=clock.advance(seconds=40),
            outcome=CallOutcome.ABANDONED,
            wait_seconds=40,
            talk_seconds=None,
        )
        assert call is not None and call.ticket_id is not None
        assert set(await clocks(call.ticket_id)) == {"first_response", "resolution"}, number
    clock.advance(hours=48)
    assert [c.metric for c in await SlaClock.filter(next_event_at__lte=clock.now) if c.metric == "callback"] == [], (
        "nothing of theirs can breach a callback target"
    )


async def test_an_answered_call_has_no_callback_clock(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(msk(2026, 11, 24, 9, 0))
    tickets, _ = services(tmp_path, clock)
    await agent("alice")
    intake = CallIntake(tickets)
    await intake.offered(
        pbx="main", linkedid="2.1", at=clock.now, caller_number="+74951234567", caller_name="Ivan", queue="helpdesk"
    )
    clock.advance(seconds=10)
    call = await intake.answered(
        pbx="main", linkedid="2.1", at=clock.now, agent_name="Alice", agent_extension=None, wait_seconds=10
    )
    assert call is not None
    await intake.ended(
        pbx="main",
        linkedid="2.1",
        at=clock.advance(minutes=3),
        outcome=CallOutcome.ANSWERED,
        wait_seconds=10,
        talk_seconds=180,
    )
    c = await clocks(call.ticket_id)
    assert "callback" not in c
    assert c["first_response"].state == SlaState.MET  # the answering agent picked the ticket up


async def test_a_callback_is_owed_even_while_the_ticket_waits_on_the_customer(orm: Settings, tmp_path: Path) -> None:
    clock = FakeClock(msk(2026, 11, 24, 9, 0))
    tickets, _ = services(tmp_path, clock)
    pbx = Actor.system("pbx:main")
    ticket = await tickets.create(pbx, title="Call from Ivan", channel=Channel.PHONE)
    await tickets.transition(pbx, ticket.id, TicketStatus.PENDING)
    assert (await clocks(ticket.id))["resolution"].state == SlaState.PAUSED
    clock.advance(minutes=5)
    await tickets.record_call(pbx, ticket.id, CallNote("abandoned", "Missed call: the caller hung up. Call back."))
    callback = (await clocks(ticket.id))["callback"]
    assert (callback.state, callback.paused, callback.due_at) == (
        SlaState.RUNNING,
        False,
        clock.now + timedelta(minutes=30),
    )
