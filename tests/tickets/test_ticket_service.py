"""The ticket domain without HTTP: numbering, history, versions, events, concurrency, on both databases."""

from __future__ import annotations

import asyncio

import pytest

from tickets.actor import Actor
from tickets.agent_service import AgentService
from tickets.errors import Conflict, Forbidden, InvalidField, StaleVersion
from tickets.events import DomainEvent
from tickets.models import Activity, Agent, Level, Role, Ticket, TicketStatus
from tickets.person_service import PersonService
from tickets.ticket_service import NumberingPolicy, TicketService
from tickets.transaction import unit_of_work
from web.settings import Settings


async def make_agent(login: str, role: Role = Role.AGENT) -> Actor:
    return Actor.of(await AgentService().create(login=login, display_name=login.title(), role=role))


async def test_numbers_are_unique_and_gap_free_under_concurrency(orm: Settings) -> None:
    service = TicketService()
    actor = await make_agent("alice")
    tickets = await asyncio.gather(*(service.create(actor, title=f"t{i}") for i in range(30)))
    assert sorted(int(t.number.split("-")[1]) for t in tickets) == list(range(1, 31))


async def test_a_failed_creation_consumes_no_number(orm: Settings) -> None:
    service = TicketService()
    actor = await make_agent("alice")
    with pytest.raises(InvalidField, match="requester_id"):
        await service.create(actor, title="x", requester_id=999)
    assert await Ticket.all().count() == 0
    assert (await service.create(actor, title="y")).number == "IT-1"


async def test_numbering_prefix_and_start(orm: Settings) -> None:
    service = TicketService(numbering=NumberingPolicy(prefix="HD", start=1000))
    actor = await make_agent("alice")
    assert [(await service.create(actor, title=str(i))).number for i in range(2)] == ["HD-1000", "HD-1001"]
    assert (await service.get("hd-1001")).title == "1"


async def test_history_is_append_only(orm: Settings) -> None:
    service = TicketService()
    ticket = await service.create(await make_agent("alice"), title="x")
    entry = (await service.history(ticket.id))[0]
    entry.body = "rewritten"
    with pytest.raises(PermissionError):
        await entry.save()
    with pytest.raises(PermissionError):
        await entry.delete()
    assert (await Activity.get(id=entry.id)).body is None


async def test_update_logs_each_change_and_recomputes_priority(orm: Settings) -> None:
    service = TicketService()
    actor = await make_agent("alice")
    person = await PersonService().create(name="Сомчай ใจดี")
    ticket = await service.create(actor, title="Mail", impact=Level.LOW, urgency=Level.LOW)
    assert ticket.priority == "P4"
    same = await service.update(actor, ticket.id, {"title": "Mail", "impact": Level.LOW})
    assert same.version == 1, "a no-op update changes nothing"
    ticket = await service.update(
        actor, ticket.id, {"impact": Level.HIGH, "urgency": Level.HIGH, "requester_id": person.id}
    )
    assert (ticket.priority, ticket.version) == ("P1", 2)
    changes = [(e.field, e.old_value, e.new_value) for e in await service.history(ticket.id)][1:]
    assert changes == [
        ("impact", "low", "high"),
        ("urgency", "low", "high"),
        ("requester", None, str(person.id)),
        ("priority", "P4", "P1"),
    ]


async def test_stale_version_is_refused(orm: Settings) -> None:
    service = TicketService()
    actor = await make_agent("alice")
    ticket = await service.create(actor, title="x")
    await service.update(actor, ticket.id, {"title": "y"}, if_version=1)
    with pytest.raises(StaleVersion, match="has changed since you read it"):
        await service.update(actor, ticket.id, {"title": "z"}, if_version=1)
    assert (await service.get(ticket.id)).title == "y"


async def test_concurrent_updates_lose_nothing(orm: Settings) -> None:
    service = TicketService()
    actor = await make_agent("alice")
    ticket = await service.create(actor, title="x")
    await asyncio.gather(
        *(service.comment(actor, ticket.id, f"note {i}") for i in range(10)),
        service.update(actor, ticket.id, {"description": "d"}),
    )
    final = await service.get(ticket.id)
    assert final.version == 12
    assert len([e for e in await service.history(ticket.id) if e.kind == "comment"]) == 10


async def test_reassigning_someone_elses_ticket_needs_a_supervisor(orm: Settings) -> None:
    service = TicketService()
    alice, bob = await make_agent("alice"), await make_agent("bob")
    sam = await make_agent("sam", Role.SUPERVISOR)
    ticket = await service.create(alice, title="x")
    ticket = await service.assign(alice, ticket.id, assignee=alice.agent_id)
    with pytest.raises(Forbidden, match="only a supervisor"):
        await service.assign(bob, ticket.id, assignee=bob.agent_id)
    ticket = await service.assign(alice, ticket.id, assignee=bob.agent_id)  # handing over one's own is fine
    ticket = await service.assign(sam, ticket.id, assignee=alice.agent_id)
    assert ticket.assignee_id == alice.agent_id


async def test_deactivated_agents_cannot_be_assigned(orm: Settings) -> None:
    service = TicketService()
    alice, bob = await make_agent("alice"), await make_agent("bob")
    await Agent.filter(id=bob.agent_id).update(active=False)
    ticket = await service.create(alice, title="x")
    with pytest.raises(InvalidField, match="deactivated"):
        await service.assign(alice, ticket.id, assignee=bob.agent_id)


async def test_first_response_and_system_actors(orm: Settings) -> None:
    service = TicketService()
    alice = await make_agent("alice")
    pbx = Actor.system("pbx:main")
    ticket = await service.create(pbx, title="Missed call")
    await service.comment(pbx, ticket.id, "caller hung up", public=True)
    await service.comment(alice, ticket.id, "internal note")
    assert (await service.get(ticket.id)).first_response_at is None, "neither the system nor a note responds"
    await service.comment(alice, ticket.id, "Calling you back", public=True)
    first = (await service.get(ticket.id)).first_response_at
    assert first is not None
    await service.comment(alice, ticket.id, "again", public=True)
    assert (await service.get(ticket.id)).first_response_at == first
    assert [e.actor_label for e in await service.history(ticket.id)][:2] == ["pbx:main", "pbx:main"]


async def test_closed_tickets_are_read_only_until_reopened(orm: Settings) -> None:
    service = TicketService()
    alice = await make_agent("alice")
    ticket = await service.create(alice, title="x")
    await service.transition(alice, ticket.id, TicketStatus.RESOLVED, resolution="done")
    await service.transition(alice, ticket.id, TicketStatus.CLOSED)
    for attempt in (
        service.update(alice, ticket.id, {"title": "y"}),
        service.comment(alice, ticket.id, "hi"),
        service.assign(alice, ticket.id, assignee=alice.agent_id),
    ):
        with pytest.raises(Conflict, match="reopen it first"):
            await attempt
    reopened = await service.transition(alice, ticket.id, TicketStatus.OPEN)
    assert reopened.reopen_count == 1 and reopened.closed_at is None


async def test_events_are_published_after_commit_only(orm: Settings) -> None:
    seen: list[DomainEvent] = []
    service = TicketService(publish=seen.append)
    alice = await make_agent("alice")
    ticket = await service.create(alice, title="x")
    with pytest.raises(InvalidField):
        await service.update(alice, ticket.id, {"requester_id": 404})
    await service.transition(alice, ticket.id, TicketStatus.OPEN)
    assert [(e.type, e.number) for e in seen] == [("ticket.created", "IT-1"), ("ticket.updated", "IT-1")]


async def test_a_token_revoked_elsewhere_stops_working_within_the_cache_time(
    orm: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two helpline instances: one revokes, the other trusts its recent lookup for AUTH_CACHE_SECONDS at most."""
    from tickets import agent_service

    monkeypatch.setattr(agent_service, "AUTH_CACHE_SECONDS", 0.3)
    here, elsewhere = AgentService(), AgentService()
    agent = await here.create(login="alice", display_name="Alice")
    token, secret = await here.issue_token(agent.id)
    assert (await here.authenticate(secret)).id == agent.id
    await elsewhere.revoke_token(agent.id, token.id)
    assert await elsewhere.authenticate(secret) is None, "the instance that revoked refuses at once"
    await asyncio.sleep(0.35)  # past the cache time: how long a revoked token lasts elsewhere is what is tested
    assert await here.authenticate(secret) is None
    assert await here.authenticate("hl_" + "x" * 43) is None, "unknown tokens are never cached as valid"


async def test_the_last_active_admin_cannot_be_demoted_or_deactivated(orm: Settings) -> None:
    agents = AgentService()
    ada = await agents.create(login="ada", display_name="Ada", role=Role.ADMIN)
    for change in ({"role": Role.SUPERVISOR}, {"active": False}):
        with pytest.raises(Conflict, match="last active admin"):
            await agents.update(ada.id, change)
    eve = await agents.create(login="eve", display_name="Eve", role=Role.ADMIN)
    await agents.update(ada.id, {"active": False})
    with pytest.raises(Conflict, match="eve is the last active admin"):
        await agents.update(eve.id, {"role": Role.AGENT})


async def test_a_unit_of_work_is_one_change_and_its_events_follow_its_commit(orm: Settings) -> None:
    """Use cases inside a unit of work join it: all of it commits, or nothing does and nobody hears of it."""
    events: list[DomainEvent] = []
    service = TicketService(publish=events.append)
    actor = await make_agent("alice")
    with pytest.raises(InvalidField):
        async with unit_of_work():
            first = await service.create(actor, title="Printer jam")
            await service.comment(actor, first.id, "looking", public=True)
            assert events == [], "nothing is announced before the commit"
            await service.create(actor, title="VPN", requester_id=999)  # fails: the whole change goes
    assert await Ticket.all().count() == 0 and await Activity.all().count() == 0 and events == []
    async with unit_of_work():
        ticket = await service.create(actor, title="Printer jam")
        await service.transition(actor, ticket.id, TicketStatus.OPEN)
        assert events == []
    assert [e.type for e in events] == ["ticket.created", "ticket.updated"]
    assert ticket.number == "IT-1", "the rolled back change took no number"
