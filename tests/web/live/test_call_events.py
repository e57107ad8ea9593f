"""The call intake tells the console what happened to each call, after the change commits, with what a screen pop
needs: the ticket, the caller, the person they were identified as, the agent whose phone rings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tickets.agent_service import AgentService
from tickets.calls.intake import CallIntake
from tickets.events import CallEvent, DomainEvent
from tickets.models import CallOutcome, Ticket
from tickets.person_service import PersonService
from tickets.ticket_service import TicketService
from tickets.transaction import unit_of_work
from web.settings import Settings

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LINKEDID = "1795795766.0"


async def test_a_call_publishes_offered_ringing_answered_ended_for_the_right_agent(orm: Settings) -> None:
    person = await PersonService().create(name="Иван Петров", phone="(555) 123-0001")
    alice = await AgentService().create(login="alice", display_name="Alice Agent", extension="101")
    events: list[DomainEvent] = []
    intake = CallIntake(TicketService(publish=events.append))
    where = {"pbx": "main", "linkedid": LINKEDID}

    await intake.offered(**where, at=T0, caller_number="+15551230001", caller_name="Иван Петров", queue="helpdesk")
    await intake.ringing(**where, at=T0 + timedelta(seconds=1), agent_name="Alice Agent", agent_extension="101")
    await intake.answered(
        **where, at=T0 + timedelta(seconds=2), agent_name="Alice Agent", agent_extension="101", wait_seconds=2
    )
    await intake.ended(
        **where,
        at=T0 + timedelta(seconds=6),
        outcome=CallOutcome.ANSWERED,
        wait_seconds=2,
        talk_seconds=4,
        ended_by="agent",
    )

    calls = [e for e in events if isinstance(e, CallEvent)]
    assert [e.type for e in calls] == ["call.offered", "call.ringing", "call.answered", "call.ended"]
    ticket = await Ticket.first()
    assert ticket is not None
    for event in calls:
        assert (event.pbx, event.linkedid, event.ticket_id, event.ticket_number) == (
            "main",
            LINKEDID,
            ticket.id,
            ticket.number,
        )
        assert (event.caller_number, event.caller_name, event.requester_id, event.queue) == (
            "+15551230001",
            "Иван Петров",
            person.id,
            "helpdesk",
        )
    ringing = calls[1]
    assert (ringing.agent_id, ringing.agent_extension, ringing.agent_name) == (alice.id, "101", "Alice Agent")
    assert calls[3].outcome == "answered" and calls[3].wait_seconds == 2
    # ticket events still come too, and every call event comes after the commit that made it true
    assert "ticket.created" in [e.type for e in events]


async def test_a_burst_that_rolls_back_announces_nothing(orm: Settings) -> None:
    events: list[DomainEvent] = []
    intake = CallIntake(TicketService(publish=events.append))
    try:
        async with unit_of_work():
            await intake.offered(
                pbx="main", linkedid="L1", at=T0, caller_number="5551230001", caller_name="", queue="helpdesk"
            )
            raise RuntimeError("the database went away")
    except RuntimeError:
        pass
    assert events == []
