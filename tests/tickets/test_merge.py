"""Merging duplicate tickets and parent / child links (tickets/merge.py), on both databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.sla import FakeClock, services
from tickets.actor import Actor
from tickets.agent_service import AgentService
from tickets.errors import Conflict, InvalidField, StaleVersion
from tickets.events import DomainEvent, TicketUpdated
from tickets.merge import TicketLinks
from tickets.models import (
    Activity,
    ActivityKind,
    Call,
    CallOutcome,
    CallState,
    Level,
    Role,
    SlaClock,
    SlaEvent,
    SlaState,
    Ticket,
    TicketStatus,
)
from tickets.sla.report import sla_report
from tickets.ticket_service import TicketService
from web.settings import Settings


async def make_agent(login: str, role: Role = Role.AGENT) -> Actor:
    return Actor.of(await AgentService().create(login=login, display_name=login.title(), role=role))


async def add_call(ticket: Ticket, linkedid: str, caller: str = "+79161234567") -> Call:
    now = datetime.now(UTC)
    return await Call.create(
        pbx="main",
        linkedid=linkedid,
        ticket_id=ticket.id,
        opened_ticket=True,
        state=CallState.ENDED,
        outcome=CallOutcome.ABANDONED,
        caller_number=caller,
        caller_name="Иван Петров",
        started_at=now,
        updated_at=now,
    )


def lines(entries: list[Activity]) -> list[tuple[str, str | None, str | None, str | None]]:
    return [(e.kind.value, e.field, e.old_value, e.new_value) for e in entries]


async def test_a_merge_closes_the_duplicate_and_the_target_keeps_both_histories_and_all_calls(orm: Settings) -> None:
    events: list[DomainEvent] = []
    tickets, links = TicketService(), TicketLinks(publish=events.append)
    alice = await make_agent("alice")
    outage = await tickets.create(alice, title="Почта не работает")  # IT-1
    duplicate = await tickets.create(alice, title="ไม่มีอีเมล")  # IT-2
    await tickets.comment(alice, duplicate.id, "Звонила из бухгалтерии, ждёт ответа", public=True)
    await add_call(outage, "1.1")
    await add_call(duplicate, "2.1")
    await add_call(duplicate, "2.2")

    merged = await links.merge(alice, "it-2", "IT-1")

    assert (merged.status, merged.merged_into_id, merged.resolution) == ("closed", outage.id, "Merged into IT-1")
    assert merged.version == duplicate.version + 2  # the comment, then the merge
    assert await Call.filter(ticket_id=outage.id).count() == 3
    assert await Call.filter(ticket_id=duplicate.id).count() == 0
    # the duplicate's own history is as it was, plus the lines that point to the target
    own = await tickets.history(duplicate.id)
    assert lines(own)[-2:] == [("status_changed", "status", "new", "closed"), ("link", "merged_into", None, "IT-1")]
    assert own[1].body == "Звонила из бухгалтерии, ждёт ответа"
    # the target's history: its own lines and the duplicate's, in order, the merge line last
    both = await links.history(outage.id)
    assert [e.id for e in both] == sorted(e.id for e in [*await tickets.history(outage.id), *own])
    assert any(e.body == "Звонила из бухгалтерии, ждёт ответа" and e.ticket_id == duplicate.id for e in both)
    last = both[-1]
    assert (last.ticket_id, last.field, last.new_value) == (outage.id, "merged_from", "IT-2")
    assert last.body == "IT-2 merged into this ticket: ไม่มีอีเมล (2 calls moved here)"
    assert (await Ticket.get(id=outage.id)).version == 1, "the target's fields did not change: no 412 for its editor"
    relations = await links.relations(await Ticket.get(id=outage.id))
    assert [t.number for t in relations.merged] == ["IT-2"] and relations.merged_into is None
    updates = [(e.number, e.changes) for e in events if isinstance(e, TicketUpdated)]
    assert updates == [("IT-2", ("status", "merged_into")), ("IT-1", ("merged_from", "calls"))]


async def test_a_merged_ticket_is_final(orm: Settings) -> None:
    tickets, links = TicketService(), TicketLinks()
    alice = await make_agent("alice")
    a, b, c = [await tickets.create(alice, title=t) for t in ("a", "b", "c")]
    with pytest.raises(InvalidField, match="into itself"):
        await links.merge(alice, a.number, a.number)
    with pytest.raises(InvalidField, match="no ticket IT-99"):
        await links.merge(alice, a.number, "IT-99")
    await links.merge(alice, b.number, a.number)
    again = await links.merge(alice, b.number, a.number, if_version=b.version)  # a retried request
    assert again.version == (await Ticket.get(id=b.id)).version and await Activity.filter(ticket_id=b.id).count() == 3
    with pytest.raises(Conflict, match="IT-2 is merged into IT-1 already"):
        await links.merge(alice, b.number, c.number)
    with pytest.raises(Conflict, match="IT-2 was merged into IT-1; merge into IT-1 instead"):
        await links.merge(alice, c.number, b.number)
    with pytest.raises(Conflict, match="round in a circle"):
        await links.merge(alice, a.number, b.number)
    with pytest.raises(Conflict, match="merged into another ticket"):
        await tickets.transition(alice, b.number, TicketStatus.OPEN)
    await tickets.transition(alice, c.number, TicketStatus.RESOLVED, resolution="done")
    await tickets.transition(alice, c.number, TicketStatus.CLOSED)
    d = await tickets.create(alice, title="d")
    with pytest.raises(Conflict, match="IT-3 is closed"):
        await links.merge(alice, d.number, c.number)
    with pytest.raises(StaleVersion):
        await links.merge(alice, d.number, a.number, if_version=7)
    assert (await Ticket.get(id=d.id)).merged_into_id is None


async def test_concurrent_merges_of_one_ticket_into_two_targets_exactly_one_wins(orm: Settings) -> None:
    tickets, links = TicketService(), TicketLinks()
    alice, bob = await make_agent("alice"), await make_agent("bob")
    first, second, duplicate = [await tickets.create(alice, title=t) for t in ("one", "two", "dup")]
    await add_call(duplicate, "9.1")
    results = await asyncio.gather(
        links.merge(alice, duplicate.number, first.number),
        links.merge(bob, duplicate.number, second.number),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, Ticket)]
    lost = [r for r in results if isinstance(r, Conflict)]
    assert len(won) == 1 and len(lost) == 1, results
    winner = await Ticket.get(id=won[0].merged_into_id)
    assert (await Ticket.get(id=duplicate.id)).merged_into_id == winner.id
    assert await Call.filter(ticket_id=winner.id).count() == 1
    loser = second if winner.id == first.id else first
    assert not await Activity.filter(ticket_id=loser.id, kind=ActivityKind.LINK).exists()
    assert await Activity.filter(ticket_id=duplicate.id, field="merged_into").count() == 1


async def test_two_tickets_merged_into_each_other_at_once_one_wins(orm: Settings) -> None:
    tickets, links = TicketService(), TicketLinks()
    alice, bob = await make_agent("alice"), await make_agent("bob")
    a, b = await tickets.create(alice, title="a"), await tickets.create(alice, title="b")
    results = await asyncio.gather(
        links.merge(alice, a.number, b.number), links.merge(bob, b.number, a.number), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "Ticket"], results
    merged = {t.number: t.merged_into_id for t in await Ticket.all()}
    assert sorted(v is None for v in merged.values()) == [False, True]


async def test_an_outage_chain_of_merges_shows_everything_on_the_last_ticket(orm: Settings) -> None:
    tickets, links = TicketService(), TicketLinks()
    alice = await make_agent("alice")
    outage, a, b = [await tickets.create(alice, title=t) for t in ("outage", "a", "b")]
    await tickets.comment(alice, a.id, "от А")
    await add_call(a, "a.1")
    await links.merge(alice, a.number, b.number)
    await links.merge(alice, b.number, outage.number)
    assert await links.merged_into_this(outage.id) == {a.id: "IT-2", b.id: "IT-3"}
    assert "от А" in [e.body for e in await links.history(outage.id)]
    assert await Call.filter(ticket_id=outage.id).count() == 1
    relations = await links.relations(await Ticket.get(id=a.id))
    assert relations.merged_into is not None and relations.merged_into.number == "IT-3"


async def test_merging_cancels_the_duplicates_sla_clocks_and_the_report_counts_neither(
    orm: Settings, tmp_path: Path
) -> None:
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))  # a Monday, office hours in Moscow
    tickets, engine = services(tmp_path, clock)
    links = TicketLinks(clock=clock, sla=engine)
    alice = await make_agent("alice")
    outage = await tickets.create(alice, title="outage")
    duplicate = await tickets.create(alice, title="dup", impact=Level.HIGH, urgency=Level.HIGH)  # P1: 15 min
    clock.advance(minutes=20)
    for row in await SlaClock.filter(ticket_id=duplicate.id):  # what the scheduler does when the breach is due
        engine.fire(row, clock.now)
        await row.save()
    clock.advance(minutes=5)
    await links.merge(alice, duplicate.number, outage.number)
    clocks = {c.metric: c for c in await SlaClock.filter(ticket_id=duplicate.id)}
    assert all(c.stopped_at == clock.now and c.next_event_at is None for c in clocks.values())
    assert (clocks["first_response"].state, clocks["resolution"].state) == (SlaState.BREACHED, SlaState.CANCELLED)
    events = await SlaEvent.filter(ticket_id=duplicate.id, kind="cancelled")
    assert sorted(e.metric for e in events) == ["first_response", "resolution"]
    assert {e.detail for e in events} == {"merged into IT-1"}
    assert await SlaClock.filter(ticket_id=outage.id, stopped_at=None).count() == 2, "the target's clocks run on"
    report = await sla_report(since=clock.now - timedelta(days=1), until=clock.now + timedelta(minutes=1), by="metric")
    assert (report.total.met, report.total.breached) == (0, 1), "a merged duplicate's targets are not met"


async def test_parent_and_children_with_history_on_both_and_no_cycles(orm: Settings) -> None:
    tickets, links = TicketService(), TicketLinks()
    alice = await make_agent("alice")
    outage, a, b, other = [await tickets.create(alice, title=t) for t in ("Сеть упала", "a", "b", "other")]
    await links.set_parent(alice, a.number, outage.number)
    await links.set_parent(alice, b.id, "it-1")
    relations = await links.relations(await Ticket.get(id=outage.id))
    assert [t.number for t in relations.children] == ["IT-2", "IT-3"]
    assert (await links.relations(await Ticket.get(id=a.id))).parent is not None
    assert lines(await Activity.filter(ticket_id=a.id, kind=ActivityKind.LINK)) == [("link", "parent", None, "IT-1")]
    assert lines(await Activity.filter(ticket_id=outage.id, kind=ActivityKind.LINK)) == [
        ("link", "child", None, "IT-2"),
        ("link", "child", None, "IT-3"),
    ]
    assert (await Ticket.get(id=outage.id)).version == 1
    with pytest.raises(InvalidField, match="circle"):
        await links.set_parent(alice, outage.number, a.number)
    await links.set_parent(alice, other.number, b.number)
    with pytest.raises(InvalidField, match="circle"):
        await links.set_parent(alice, outage.number, other.number)  # other < b < outage
    with pytest.raises(InvalidField, match="its own parent"):
        await links.set_parent(alice, a.number, a.number)
    await links.set_parent(alice, a.number, other.number)  # moved: the old parent hears of it
    assert lines(await Activity.filter(ticket_id=outage.id, kind=ActivityKind.LINK))[-1] == (
        "link",
        "child",
        "IT-2",
        None,
    )
    await links.clear_parent(alice, a.number)
    assert (await Ticket.get(id=a.id)).parent_id is None
    assert lines(await Activity.filter(ticket_id=a.id, kind=ActivityKind.LINK))[-1] == ("link", "parent", "IT-4", None)


async def test_concurrent_links_cannot_close_a_cycle(orm: Settings) -> None:
    tickets, links = TicketService(), TicketLinks()
    alice = await make_agent("alice")
    a, b, c, d = [await tickets.create(alice, title=t) for t in "abcd"]
    await links.set_parent(alice, a.number, b.number)  # a < b
    await links.set_parent(alice, c.number, d.number)  # c < d
    results = await asyncio.gather(
        links.set_parent(alice, b.number, c.number),  # b < c: a < b < c < d
        links.set_parent(alice, d.number, a.number),  # d < a: c < d < a < b
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["InvalidField", "Ticket"], results


async def test_merging_moves_the_children_to_the_target(orm: Settings) -> None:
    tickets, links = TicketService(), TicketLinks()
    alice = await make_agent("alice")
    target, source, child, deep = [await tickets.create(alice, title=t) for t in ("t", "s", "c", "d")]
    await links.set_parent(alice, child.number, source.number)
    await links.merge(alice, source.number, target.number)
    assert (await Ticket.get(id=child.id)).parent_id == target.id
    assert lines(await Activity.filter(ticket_id=child.id, kind=ActivityKind.LINK))[-1] == (
        "link",
        "parent",
        "IT-2",
        "IT-1",
    )
    # into a ticket below it in the tree: refused (its children would go round in a circle)
    await links.set_parent(alice, deep.number, child.number)
    with pytest.raises(Conflict, match="IT-4 is below IT-3"):
        await links.merge(alice, child.number, deep.number)
    with pytest.raises(Conflict, match="IT-4 is below IT-1"):
        await links.merge(alice, target.number, deep.number)


async def test_a_call_back_owed_on_the_duplicate_is_owed_on_the_target(orm: Settings) -> None:
    """An outage's duplicate opened by a missed call: the caller still waits for a call back after the merge."""
    tickets, links = TicketService(), TicketLinks()
    alice = await make_agent("alice")
    outage = await tickets.create(alice, title="VPN down")
    duplicate = await tickets.create(alice, title="VPN не подключается")
    missed_at = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
    # as tickets/callbacks.py leaves it after a missed call (the intake's path is tested in test_api_views.py)
    await Ticket.filter(id=duplicate.id).update(callback_since=missed_at)

    await links.merge(alice, duplicate.number, outage.number)

    assert (await Ticket.get(id=outage.id)).callback_since == missed_at
    assert (await Ticket.get(id=duplicate.id)).callback_since is None
