"""Call facts into calls and tickets, on SQLite and PostgreSQL: exactly once, whatever order of retries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from directory.numbers import CallerNumber
from tickets.agent_service import AgentService
from tickets.calls.callers import CallerMatch, MatchStatus
from tickets.calls.intake import CallIntake
from tickets.events import CallEvent, DomainEvent
from tickets.models import Activity, Call, CallOutcome, Person, Role, Ticket, TicketStatus
from tickets.person_service import PersonService
from tickets.ticket_service import TicketService
from web.settings import Settings

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def offer(
    intake: CallIntake, linkedid: str, number: str = "+15551230001", name: str = "Alice Example", when: datetime = T0
) -> Call:
    return await intake.offered(
        pbx="main", linkedid=linkedid, at=when, caller_number=number, caller_name=name, queue="helpdesk"
    )


async def history(ticket_id: int) -> list[tuple[str, str | None]]:
    return [(e.kind.value, e.new_value) for e in await Activity.filter(ticket_id=ticket_id).order_by("id")]


async def test_an_answered_call_opens_assigns_and_closes_out_its_ticket(orm: Settings) -> None:
    await PersonService().create(name="Alice Example", phone="(555) 123-0001")
    alice = await AgentService().create(login="alice", display_name="Alice Agent", extension="101")
    events: list[DomainEvent] = []
    intake = CallIntake(TicketService(publish=events.append))

    call = await offer(intake, "1795795766.0")
    ticket = await Ticket.get(id=call.ticket_id).prefetch_related("requester")
    assert (ticket.title, ticket.channel.value, ticket.caller_number) == (
        "Call from Alice Example (+15551230001)",
        "phone",
        "+15551230001",
    )
    assert ticket.requester.name == "Alice Example" and call.caller_e164 == "+15551230001"

    await intake.ringing(pbx="main", linkedid="1795795766.0", at=at(1), agent_name="Alice Agent", agent_extension="101")
    await intake.answered(
        pbx="main", linkedid="1795795766.0", at=at(2), agent_name="Alice Agent", agent_extension="101", wait_seconds=2
    )
    await intake.ended(
        pbx="main",
        linkedid="1795795766.0",
        at=at(6),
        outcome=CallOutcome.ANSWERED,
        wait_seconds=2,
        talk_seconds=4,
        ended_by="agent",
    )
    ticket = await Ticket.get(id=call.ticket_id)
    call = await Call.get(id=call.id)
    assert ticket.assignee_id == alice.id and ticket.status == TicketStatus.OPEN
    assert ticket.first_response_at is not None, "the agent's answer is the first response"
    assert (call.state.value, call.outcome, call.agent_id, call.wait_seconds, call.talk_seconds) == (
        "ended",
        CallOutcome.ANSWERED,
        alice.id,
        2,
        4,
    )
    assert await history(ticket.id) == [
        ("created", ticket.number),
        ("call", "offered"),
        ("call", "answered"),
        ("assigned", "alice"),
        ("status_changed", "open"),
        ("call", "answered"),
    ]
    assert [e.type for e in events][:1] == ["ticket.created"]


async def test_every_fact_twice_changes_nothing(orm: Settings) -> None:
    intake = CallIntake(TicketService())
    for _ in range(2):
        await offer(intake, "L1")
        await intake.answered(
            pbx="main", linkedid="L1", at=at(3), agent_name="Nobody Known", agent_extension="199", wait_seconds=3
        )
        await intake.ended(
            pbx="main",
            linkedid="L1",
            at=at(9),
            outcome=CallOutcome.ANSWERED,
            wait_seconds=3,
            talk_seconds=6,
            ended_by="caller",
        )
    assert await Call.all().count() == 1 and await Ticket.all().count() == 1
    call = await Call.get(linkedid="L1")
    assert call.agent_id is None and call.agent_name == "Nobody Known", "an unknown agent is kept by name"
    assert len(await Activity.filter(ticket_id=call.ticket_id, kind="call")) == 3


async def test_concurrent_duplicate_offers_make_one_call_and_one_ticket(orm: Settings) -> None:
    intake = CallIntake(TicketService())
    calls = await asyncio.gather(*(offer(intake, "L2") for _ in range(5)))
    assert {c.id for c in calls} == {calls[0].id}
    assert await Ticket.all().count() == 1


async def test_a_missed_call_asks_for_a_call_back(orm: Settings) -> None:
    intake = CallIntake(TicketService())
    call = await offer(intake, "L3", number="5551230009", name="Иван Петров")
    await intake.ended(
        pbx="main",
        linkedid="L3",
        at=at(30),
        outcome=CallOutcome.TIMEOUT,
        wait_seconds=30,
        talk_seconds=None,
        voicemail=True,
    )
    ticket = await Ticket.get(id=call.ticket_id)
    assert ticket.title == "Missed call - call back: Иван Петров (+15551230009)"
    last = await Activity.filter(ticket_id=ticket.id, kind="call").order_by("-id").first()
    assert last.new_value == "timeout" and "voicemail was left" in last.body and "Call back" in last.body


async def test_an_agent_retitled_ticket_keeps_its_title_when_the_call_is_missed(orm: Settings) -> None:
    intake = CallIntake(TicketService())
    alice = await AgentService().create(login="alice", display_name="Alice")
    call = await offer(intake, "L4")
    from tickets.actor import Actor

    await TicketService().update(Actor.of(alice), call.ticket_id, {"title": "Printer on 3rd floor"})
    await intake.ended(
        pbx="main", linkedid="L4", at=at(5), outcome=CallOutcome.ABANDONED, wait_seconds=5, talk_seconds=None
    )
    assert (await Ticket.get(id=call.ticket_id)).title == "Printer on 3rd floor"


async def test_a_repeat_caller_is_linked_to_their_open_ticket_within_the_window(orm: Settings) -> None:
    intake = CallIntake(TicketService())
    first = await offer(intake, "L5", number="+1 555 123 0002")
    again = await offer(intake, "L6", number="5551230002", when=T0 + timedelta(hours=23))
    assert again.ticket_id == first.ticket_id and not again.opened_ticket
    late = await offer(intake, "L7", number="5551230002", when=T0 + timedelta(hours=48))
    assert late.ticket_id != first.ticket_id, "outside the window: a new ticket"
    assert ("call", "linked") in await history(first.ticket_id)


async def test_resolved_tickets_and_anonymous_callers_are_never_linked(orm: Settings) -> None:
    intake = CallIntake(TicketService())
    alice = await AgentService().create(login="alice", display_name="Alice", role=Role.AGENT)
    from tickets.actor import Actor

    first = await offer(intake, "L8")
    await TicketService().transition(Actor.of(alice), first.ticket_id, TicketStatus.RESOLVED, resolution="done")
    assert (await offer(intake, "L9", when=at(60))).ticket_id != first.ticket_id
    anon1 = await offer(intake, "L10", number="anonymous", name="Anonymous")
    anon2 = await offer(intake, "L11", number="anonymous", name="Anonymous", when=at(10))
    assert anon1.ticket_id != anon2.ticket_id
    assert (await Ticket.get(id=anon1.ticket_id)).title == "Call from a withheld number"


class Reception:
    """A lookup that finds two people sharing a desk phone, or fails."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    async def lookup(self, number: CallerNumber) -> CallerMatch:
        if self.fail:
            raise TimeoutError("directory did not answer")
        people = await Person.filter(phone_key="+15551230001").order_by("id").values_list("id", flat=True)
        return CallerMatch(MatchStatus.AMBIGUOUS, candidates=tuple(people), stale=True)


async def test_ambiguous_or_failed_lookups_leave_the_requester_for_the_agent(orm: Settings) -> None:
    people = PersonService()
    olga = await people.create(name="Ольга Смирнова", phone="+1 555 123 0001", department="Reception")
    ivan = await people.create(name="Ivan Petrov", phone="(555) 123-0001")
    call = await offer(CallIntake(TicketService(), Reception()), "L12")
    ticket = await Ticket.get(id=call.ticket_id)
    assert ticket.requester_id is None
    assert (
        f"Several people have this number: Ivan Petrov (id {ivan.id}); Ольга Смирнова (Reception, id {olga.id}). "
        "Pick the requester."
    ) in ticket.description
    assert "last good copy of the directory" in ticket.description, "a stale directory answer says so"
    call = await offer(CallIntake(TicketService(), Reception(fail=True)), "L13", number="+15559990000")
    assert call.ticket_id is not None
    assert "could not be looked up" in (await Ticket.get(id=call.ticket_id)).description


@pytest.mark.parametrize("name", ["O'Brien, Pat", "สมชาย ใจดี", "Zoë\x00 Null", "x" * 500])
async def test_names_survive_and_bad_text_is_made_storable(orm: Settings, name: str) -> None:
    call = await offer(CallIntake(TicketService()), "L14", name=name, number="4321\x00")
    stored = await Call.get(id=call.id)
    assert stored.caller_name == name.replace("\x00", "")[:200] and stored.caller_number == "4321"
    assert stored.caller_key == "ext:4321"


async def test_facts_for_unknown_calls_are_ignored(orm: Settings) -> None:
    intake = CallIntake(TicketService())
    assert (
        await intake.ended(
            pbx="main",
            linkedid="never-offered",
            at=T0,
            outcome=CallOutcome.ABANDONED,
            wait_seconds=1,
            talk_seconds=None,
        )
        is None
    )
    assert await Call.all().count() == 0


async def test_an_answered_call_cut_off_by_a_restart_is_not_a_missed_call(orm: Settings) -> None:
    intake = CallIntake(TicketService())
    call = await offer(intake, "L15")
    await intake.answered(
        pbx="main", linkedid="L15", at=at(2), agent_name="Alice", agent_extension=None, wait_seconds=2
    )
    await intake.ended(
        pbx="main", linkedid="L15", at=at(60), outcome=CallOutcome.INTERRUPTED, wait_seconds=2, talk_seconds=None
    )
    ticket = await Ticket.get(id=call.ticket_id)
    assert ticket.title.startswith("Call from ")
    last = await Activity.filter(ticket_id=ticket.id, kind="call").order_by("-id").first()
    assert "cut off" in last.body and "Call back" not in last.body


async def test_a_call_still_in_progress_leaves_a_ticket_closed_meanwhile_as_it_is(orm: Settings) -> None:
    """A supervisor closes the ticket while its call is still queued: the call is logged, nothing else changes
    (the answering agent does not get it, it is not reopened, a missed call does not rename it)."""
    from tickets.actor import Actor

    intake, service = CallIntake(TicketService()), TicketService()
    boss = Actor.of(await AgentService().create(login="boss", display_name="Boss", role=Role.SUPERVISOR))
    await AgentService().create(login="alice", display_name="Alice", extension="101")
    answered, missed = await offer(intake, "L16"), await offer(intake, "L17", number="+15551230002")
    for call in (answered, missed):
        await service.transition(boss, call.ticket_id, TicketStatus.RESOLVED, resolution="duplicate of IT-7")
        await service.transition(boss, call.ticket_id, TicketStatus.CLOSED)
    await intake.answered(
        pbx="main", linkedid="L16", at=at(3), agent_name="Alice", agent_extension="101", wait_seconds=3
    )
    await intake.ended(
        pbx="main", linkedid="L17", at=at(9), outcome=CallOutcome.ABANDONED, wait_seconds=9, talk_seconds=None
    )
    ticket = await Ticket.get(id=answered.ticket_id)
    assert (ticket.status, ticket.assignee_id) == (TicketStatus.CLOSED, None)
    assert (await history(ticket.id))[-1] == ("call", "answered")
    ticket = await Ticket.get(id=missed.ticket_id)
    assert (ticket.status, ticket.title) == (TicketStatus.CLOSED, "Call from Alice Example (+15551230002)")
    assert (await history(ticket.id))[-1] == ("call", "abandoned")


async def test_a_vip_callers_ticket_is_more_urgent(orm: Settings) -> None:
    """The directory marks VIPs (vip_group); their calls open tickets of higher priority through the matrix."""
    people = PersonService()
    await people.create(name="CEO", phone="+15551230009", vip=True)
    await people.create(name="Intern", phone="+15551230010")
    await people.create(name="CFO", phone="+15551230011", vip=True)
    intake = CallIntake(TicketService())
    vip = await Ticket.get(id=(await offer(intake, "V1", number="+15551230009", name="CEO")).ticket_id)
    other = await Ticket.get(id=(await offer(intake, "V2", number="+15551230010", name="Intern")).ticket_id)
    assert (vip.urgency.value, vip.priority) == ("high", "P2")
    assert (other.urgency.value, other.priority) == ("medium", "P3")
    plain = await Ticket.get(
        id=(await offer(CallIntake(TicketService(vip_urgency=None)), "V3", number="+15551230011", name="CFO")).ticket_id
    )
    assert plain.urgency.value == "medium", 'vip_urgency = "" treats VIPs like everyone'


# -- issue 13: titles, numbers, call backs --------------------------------------------------------------------


async def last_call_note(ticket_id: int) -> str:
    entry = await Activity.filter(ticket_id=ticket_id, kind="call").order_by("-id").first()
    assert entry is not None
    return entry.body or ""


@pytest.mark.parametrize(("number", "name"), [("anonymous", "Anonymous"), ("", ""), ("withheld", "")])
async def test_a_missed_call_without_a_number_asks_for_no_call_back(orm: Settings, number: str, name: str) -> None:
    """Nobody can call a withheld or anonymous caller back: the ticket says "Missed call" without "call back", has
    no number to call, its history asks for nothing, and the call's events offer no number to call back."""
    events: list[DomainEvent] = []
    intake = CallIntake(TicketService(publish=events.append))
    call = await offer(intake, "W1", number=number, name=name)
    await intake.ended(
        pbx="main", linkedid="W1", at=at(20), outcome=CallOutcome.ABANDONED, wait_seconds=20, talk_seconds=None
    )
    ticket = await Ticket.get(id=call.ticket_id)
    assert ticket.title in ("Missed call: a withheld number", "Missed call: an unknown number")
    assert ticket.caller_number is None, "nothing to call back: the console shows no call-back button"
    note = await last_call_note(ticket.id)
    assert not note.startswith("Missed call") and "Call back" not in note and "No number to call back" in note
    assert {e.callback_number for e in events if isinstance(e, CallEvent)} == {None}
    # a caller with a number, for comparison
    call = await offer(intake, "W2", number="+15551230007", name="Erik")
    await intake.ended(
        pbx="main", linkedid="W2", at=at(20), outcome=CallOutcome.ABANDONED, wait_seconds=20, talk_seconds=None
    )
    ticket = await Ticket.get(id=call.ticket_id)
    assert (ticket.title, ticket.caller_number) == ("Missed call - call back: Erik (+15551230007)", "+15551230007")
    assert (await last_call_note(ticket.id)).startswith("Missed call: the caller hung up while waiting after 20 s")
    assert {e.callback_number for e in events if isinstance(e, CallEvent) and e.linkedid == "W2"} == {"+15551230007"}


async def test_the_title_names_the_person_identified_and_the_call_keeps_the_phones_name(orm: Settings) -> None:
    """The desk phone 4321 says "Front Desk"; the directory says it is สมชาย ใจดี's: the ticket is about him."""
    somchai = await PersonService().create(name="สมชาย ใจดี", phone="4321", department="ต้อนรับ")
    call = await offer(CallIntake(TicketService()), "P1", number="4321", name="Front Desk")
    ticket = await Ticket.get(id=call.ticket_id)
    assert ticket.title == "Call from สมชาย ใจดี (4321)"
    assert (ticket.requester_id, ticket.caller_number) == (somchai.id, "4321")
    assert 'The phone showed the name "Front Desk".' in ticket.description
    assert (await Call.get(id=call.id)).caller_name == "Front Desk", "the call keeps what the PBX sent"
    again = await offer(CallIntake(TicketService()), "P2", number="4321", name="Front Desk", when=at(60))
    assert again.ticket_id == ticket.id
    assert "สมชาย ใจดี (4321) called again" in await last_call_note(ticket.id)


async def test_unknown_durations_are_written_as_unknown(orm: Settings) -> None:
    intake = CallIntake(TicketService())
    answered = await offer(intake, "U1")
    await intake.answered(pbx="main", linkedid="U1", at=at(2), agent_name="Alice", agent_extension=None, wait_seconds=2)
    await intake.ended(
        pbx="main", linkedid="U1", at=at(60), outcome=CallOutcome.ANSWERED, wait_seconds=2, talk_seconds=None
    )  # closed out: the end fell into a gap
    note = await last_call_note(answered.ticket_id)
    assert note == "Call ended (talk time unknown)" and "0 s" not in note
    missed = await offer(intake, "U2", number="+15551230009")
    await intake.ended(
        pbx="main", linkedid="U2", at=at(60), outcome=CallOutcome.INTERRUPTED, wait_seconds=None, talk_seconds=None
    )
    note = await last_call_note(missed.ticket_id)
    assert "after an unknown time" in note and "0 s" not in note
    await intake.ended(
        pbx="main", linkedid="U1", at=at(61), outcome=CallOutcome.ANSWERED, wait_seconds=2, talk_seconds=58
    )  # known: said (a second end changes nothing)
    cut = await offer(intake, "U3", number="+15551230010")
    await intake.answered(pbx="main", linkedid="U3", at=at(2), agent_name="Alice", agent_extension=None, wait_seconds=2)
    await intake.ended(
        pbx="main", linkedid="U3", at=at(9), outcome=CallOutcome.INTERRUPTED, wait_seconds=2, talk_seconds=7
    )
    assert (await last_call_note(cut.ticket_id)).endswith(
        "cut off (the PBX restarted or the connection was lost) after 7 s of talk"
    )


async def test_the_title_follows_the_calls_until_an_agent_changes_it(orm: Settings) -> None:
    """A missed call asks for a call back; the caller's next call, answered, takes that back. An agent's title is
    left alone, whatever it starts with."""
    from tickets.actor import Actor

    intake = CallIntake(TicketService())
    first = await offer(intake, "T1", number="+15551230003", name="Bob Example")
    await intake.ended(
        pbx="main", linkedid="T1", at=at(30), outcome=CallOutcome.ABANDONED, wait_seconds=30, talk_seconds=None
    )
    assert (await Ticket.get(id=first.ticket_id)).title == "Missed call - call back: Bob Example (+15551230003)"
    second = await offer(intake, "T2", number="+15551230003", name="Bob Example", when=at(600))
    assert second.ticket_id == first.ticket_id
    await intake.answered(
        pbx="main", linkedid="T2", at=at(605), agent_name="Alice", agent_extension=None, wait_seconds=5
    )
    assert (await Ticket.get(id=first.ticket_id)).title == "Call from Bob Example (+15551230003)"
    third = await offer(intake, "T3", number="+15551230003", name="Bob Example", when=at(900))
    await intake.ended(
        pbx="main", linkedid="T3", at=at(920), outcome=CallOutcome.TIMEOUT, wait_seconds=20, talk_seconds=None
    )
    assert third.ticket_id == first.ticket_id
    assert (await Ticket.get(id=first.ticket_id)).title == "Missed call - call back: Bob Example (+15551230003)", (
        "a missed repeat call asks for a call back again"
    )
    # an agent's title, even one that looks like ours, is the agent's
    alice = await AgentService().create(login="alice", display_name="Alice")
    await TicketService().update(
        Actor.of(alice), first.ticket_id, {"title": "Missed call - call back: Bob Example (+15551230003), printer"}
    )
    fourth = await offer(intake, "T4", number="+15551230003", name="Bob Example", when=at(1200))
    await intake.answered(
        pbx="main", linkedid="T4", at=at(1203), agent_name="Alice", agent_extension=None, wait_seconds=3
    )
    assert fourth.ticket_id == first.ticket_id
    assert (
        await Ticket.get(id=first.ticket_id)
    ).title == "Missed call - call back: Bob Example (+15551230003), printer"


async def test_national_numbers_need_a_region_and_are_counted_without_one(orm: Settings) -> None:
    """Without a default region, 84951234567 (Moscow, national format) cannot be normalised: counted, kept as
    dialled, every call a ticket of its own. With region RU it is +74951234567: repeat calls join one ticket, whose
    caller_number is the form its title shows."""
    from directory.numbers import NumberPolicy
    from tickets.calls.intake import IntakeSettings

    unset = CallIntake(TicketService(), settings=IntakeSettings(numbers=NumberPolicy(region=None)))
    one = await offer(unset, "R1", number="84951234567", name="Иван Петров")
    two = await offer(unset, "R2", number="84951234567", name="Иван Петров", when=at(60))
    await offer(unset, "R3", number="+74951234567", name="Иван Петров", when=at(90))
    await offer(unset, "R4", number="4321", name="Front Desk", when=at(95))
    assert unset.national_without_region == 2, "only the national-format ones"
    assert one.ticket_id != two.ticket_id and one.caller_key is None
    ticket = await Ticket.get(id=one.ticket_id)
    assert (ticket.title, ticket.caller_number) == ("Call from Иван Петров (84951234567)", "84951234567")
    moscow = CallIntake(TicketService(), settings=IntakeSettings(numbers=NumberPolicy(region="RU")))
    first = await offer(moscow, "R5", number="84951234567", name="Иван Петров", when=at(120))
    again = await offer(moscow, "R6", number="8 (495) 123-45-67", name="Иван Петров", when=at(180))
    assert first.ticket_id == again.ticket_id and moscow.national_without_region == 0
    ticket = await Ticket.get(id=first.ticket_id)
    assert (ticket.title, ticket.caller_number) == ("Call from Иван Петров (+74951234567)", "+74951234567")
    assert (await Call.get(id=first.id)).caller_number == "84951234567", "the call keeps what the PBX sent"


async def test_a_call_offered_by_context_records_the_queue_it_enters(orm: Settings) -> None:
    events: list[DomainEvent] = []
    intake = CallIntake(TicketService(publish=events.append))
    await intake.offered(
        pbx="main", linkedid="Q1", at=T0, caller_number="+15551230001", caller_name="Alice", queue=None
    )
    await intake.queued(pbx="main", linkedid="Q1", at=at(3), queue="helpdesk")
    await intake.queued(pbx="main", linkedid="Q1", at=at(4), queue="helpdesk")  # twice: nothing more
    await intake.ringing(pbx="main", linkedid="Q1", at=at(5), agent_name="Alice Agent", agent_extension="101")
    assert (await Call.get(linkedid="Q1")).queue == "helpdesk"
    calls = [(e.type, e.queue) for e in events if isinstance(e, CallEvent)]
    assert calls == [("call.offered", None), ("call.queued", "helpdesk"), ("call.ringing", "helpdesk")]
