"""Canned responses (tickets/canned.py): who may do what, and filling in a ticket's fields, on both databases."""

from __future__ import annotations

import pytest

from tickets.actor import Actor
from tickets.agent_service import AgentService
from tickets.canned import CannedResponses, fill
from tickets.errors import Forbidden, InvalidField, NotFound
from tickets.models import Role
from tickets.person_service import PersonService
from tickets.ticket_service import TicketService
from web.settings import Settings


async def make_agent(login: str, role: Role = Role.AGENT, name: str | None = None) -> Actor:
    agent = await AgentService().create(login=login, display_name=name or login.title(), role=role, email=None)
    return Actor.of(agent)


def test_fill_substitutes_known_names_and_leaves_the_rest_visible() -> None:
    values = {"ticket.number": "IT-7", "requester.name": None, "agent.name": "{{ticket.number}}"}
    filled = fill(
        "{{ ticket.number }} / {{requester.name}} / {{agent.name}} / {{ticket.__class__}} / {ticket.number}"
        " / {{ticket.number|upper}} / {{nope}} / {{nope}}",
        values,
    )
    # one pass: a value that looks like a placeholder is text, not expanded again
    assert filled.body == (
        "IT-7 / {{requester.name}} / {{ticket.number}} / {{ticket.__class__}} / {ticket.number}"
        " / {{ticket.number|upper}} / {{nope}} / {{nope}}"
    )
    assert filled.unknown == ("ticket.__class__", "nope")
    assert filled.empty == ("requester.name",)


async def test_personal_and_shared_responses(orm: Settings) -> None:
    canned = CannedResponses()
    alice, bob = await make_agent("alice"), await make_agent("bob")
    sam = await make_agent("sam", Role.SUPERVISOR)
    mine = await canned.create(alice, title="Перезагрузка", body="Перезагрузите компьютер")
    with pytest.raises(Forbidden):
        await canned.create(alice, title="Shared", body="x", shared=True)
    shared = await canned.create(sam, title="Вітаю", body="สวัสดีครับ", shared=True)
    assert [r.title for r in await canned.visible(alice)] == ["Вітаю", "Перезагрузка"]
    assert [r.title for r in await canned.visible(bob)] == ["Вітаю"]
    with pytest.raises(NotFound):
        await canned.get(bob, mine.id)  # somebody else's personal response does not exist for you
    with pytest.raises(NotFound):
        await canned.update(sam, mine.id, body="mine now")
    with pytest.raises(Forbidden):
        await canned.update(alice, shared.id, body="changed")
    with pytest.raises(Forbidden):
        await canned.delete(bob, shared.id)
    edited = await canned.update(alice, mine.id, body="Перезагрузите, пожалуйста")
    assert (edited.body, edited.updated_by_id, edited.owner_id) == (
        "Перезагрузите, пожалуйста",
        alice.agent_id,
        alice.agent_id,
    )
    edited = await canned.update(sam, shared.id, title="สวัสดี")
    assert (edited.title, edited.updated_by_id, edited.created_by_id) == ("สวัสดี", sam.agent_id, sam.agent_id)
    await canned.delete(alice, mine.id)
    assert [r.title for r in await canned.visible(alice)] == ["สวัสดี"]
    with pytest.raises(InvalidField, match="shared"):
        await canned.create(Actor.system("pbx:main"), title="x", body="y")


async def test_render_fills_in_the_tickets_fields_in_any_script(orm: Settings) -> None:
    canned, tickets = CannedResponses(), TicketService()
    alice = await make_agent("alice", name="Алиса Иванова")
    somchai = await PersonService().create(name="สมชาย ใจดี", email="somchai@example.com")
    ticket = await tickets.create(alice, title="Принтер не печатает", requester_id=somchai.id)
    bare = await tickets.create(alice, title="no requester")
    row = await canned.create(
        alice,
        title="Ответ",
        body="เรียน {{requester.name}},\nЗаявка {{ticket.number}} «{{ticket.title}}»: {{ticket.status}}.\n"
        "С уважением, {{agent.name}} {{agent.signature}}",
    )
    _, found, filled = await canned.render(alice, row.id, "it-1")
    assert found.id == ticket.id
    assert filled.body == (
        "เรียน สมชาย ใจดี,\nЗаявка IT-1 «Принтер не печатает»: new.\nС уважением, Алиса Иванова {{agent.signature}}"
    )
    assert (filled.unknown, filled.empty) == (("agent.signature",), ())
    _, _, filled = await canned.render(alice, row.id, str(bare.id))
    assert filled.empty == ("requester.name",) and filled.body.startswith("เรียน {{requester.name}},")
    with pytest.raises(InvalidField, match="ticket"):
        await canned.render(alice, row.id, "IT-99")
