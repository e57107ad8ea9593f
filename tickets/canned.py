"""Canned responses: replies agents reuse, personal or shared by the team, filled in from a ticket.

Who may do what: every agent reads the shared responses and their own; an agent creates, edits and deletes their
own personal responses; shared ones are created, edited and deleted by supervisors and admins. Somebody else's
personal response does not exist for you (not found, not forbidden: its title is nobody else's business).

Filling in is a plain substitution of ``{{name}}`` placeholders (names such as ``ticket.number``), never a template
engine: nothing in a body is evaluated. A placeholder it does not know stays as it is and is listed, and so does
a known one the ticket has no value for (say ``requester.name`` of a ticket without requester), so that the agent
sees what to write by hand.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from tickets.actor import Actor
from tickets.clock import Clock, utcnow
from tickets.errors import Forbidden, InvalidField, NotFound
from tickets.merge import find_ticket
from tickets.models import Agent, CannedResponse, Person, Role, Ticket

#: ``{{ ticket.number }}``: a dotted name of letters, digits and underscores between double braces.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")

#: The placeholders a ticket fills in, and what each one is (the API documents this list).
PLACEHOLDERS: dict[str, str] = {
    "ticket.number": "the ticket's number (IT-1042)",
    "ticket.title": "its title",
    "ticket.status": "its status (new, open, pending, resolved, closed)",
    "ticket.priority": "its priority (P1-P4)",
    "ticket.type": "incident or service_request",
    "ticket.group": "its group",
    "requester.name": "the requester's name",
    "requester.email": "the requester's e-mail address",
    "requester.phone": "the requester's phone number",
    "requester.department": "the requester's department",
    "assignee.name": "the name of the agent the ticket is assigned to",
    "agent.name": "the name of the agent using the response",
    "agent.email": "that agent's e-mail address",
    "agent.extension": "that agent's phone extension",
}


@dataclass(frozen=True)
class Filled:
    """A body with its placeholders filled in; those left as they were, in order of appearance, each once."""

    body: str
    unknown: tuple[str, ...]  #: names that are not placeholders at all (misspelt, or from another product)
    empty: tuple[str, ...]  #: known placeholders the ticket has no value for


def fill(template: str, values: Mapping[str, str | None]) -> Filled:
    """Replace each ``{{name}}`` of ``template`` by ``values[name]``; unknown and empty ones stay visible."""
    unknown: dict[str, None] = {}
    empty: dict[str, None] = {}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            unknown[name] = None
            return match.group(0)
        value = values[name]
        if value is None or value == "":
            empty[name] = None
            return match.group(0)
        return value

    return Filled(PLACEHOLDER.sub(substitute, template), tuple(unknown), tuple(empty))


async def ticket_values(ticket: Ticket, agent: Agent | None) -> dict[str, str | None]:
    """What the placeholders of :data:`PLACEHOLDERS` stand for on ``ticket``, for ``agent`` using the response."""
    requester = await Person.get_or_none(id=ticket.requester_id) if ticket.requester_id is not None else None
    assignee = await Agent.get_or_none(id=ticket.assignee_id) if ticket.assignee_id is not None else None
    return {
        "ticket.number": ticket.number,
        "ticket.title": ticket.title,
        "ticket.status": _plain(ticket.status),
        "ticket.priority": ticket.priority,
        "ticket.type": _plain(ticket.type),
        "ticket.group": ticket.group,
        "requester.name": requester.name if requester else None,
        "requester.email": requester.email if requester else None,
        "requester.phone": requester.phone if requester else None,
        "requester.department": requester.department if requester else None,
        "assignee.name": assignee.display_name if assignee else None,
        "agent.name": agent.display_name if agent else None,
        "agent.email": agent.email if agent else None,
        "agent.extension": agent.extension if agent else None,
    }


class CannedResponses:
    """Canned responses on behalf of an :class:`Actor` (see the module's rules)."""

    def __init__(self, *, clock: Clock = utcnow) -> None:
        self.clock = clock

    async def visible(self, actor: Actor) -> list[CannedResponse]:
        """The shared responses and the actor's own, shared first, then by title."""
        shared = await CannedResponse.filter(owner_id=None).order_by("title", "id")
        own = await CannedResponse.filter(owner_id=actor.agent_id).order_by("title", "id") if actor.is_agent else []
        return [*shared, *own]

    async def get(self, actor: Actor, response_id: int) -> CannedResponse:
        """One response the actor may read."""
        row = await CannedResponse.get_or_none(id=response_id)
        if row is None or (row.owner_id is not None and row.owner_id != actor.agent_id):
            raise NotFound(f"canned response {response_id} does not exist")
        return row

    async def create(self, actor: Actor, *, title: str, body: str, shared: bool = False) -> CannedResponse:
        """A new response: the actor's own, or (a supervisor's or admin's) shared with the team."""
        if shared:
            self._may_share(actor)
        elif not actor.is_agent:
            raise InvalidField("shared", "only an agent has personal responses; make it shared")
        now = self.clock()
        return await CannedResponse.create(
            title=title,
            body=body,
            owner_id=None if shared else actor.agent_id,
            created_by_id=actor.agent_id,
            updated_by_id=actor.agent_id,
            created_at=now,
            updated_at=now,
        )

    async def update(
        self, actor: Actor, response_id: int, *, title: str | None = None, body: str | None = None
    ) -> CannedResponse:
        """Change the title and/or body of a response the actor may edit."""
        row = await self._editable(actor, response_id)
        changed = False
        for name, value in (("title", title), ("body", body)):
            if value is not None and value != getattr(row, name):
                setattr(row, name, value)
                changed = True
        if changed:
            row.updated_by_id = actor.agent_id
            row.updated_at = self.clock()
            await row.save()
        return row

    async def delete(self, actor: Actor, response_id: int) -> None:
        """Delete a response the actor may edit."""
        row = await self._editable(actor, response_id)
        await CannedResponse.filter(id=row.id).delete()

    async def render(
        self, actor: Actor, response_id: int, ticket_ref: int | str
    ) -> tuple[CannedResponse, Ticket, Filled]:
        """The response, the ticket and the response's body filled in from the ticket for the actor."""
        row = await self.get(actor, response_id)
        ticket = await _ticket(ticket_ref)
        agent = await Agent.get_or_none(id=actor.agent_id) if actor.agent_id is not None else None
        return row, ticket, fill(row.body, await ticket_values(ticket, agent))

    async def _editable(self, actor: Actor, response_id: int) -> CannedResponse:
        row = await self.get(actor, response_id)
        if row.owner_id is None:
            self._may_share(actor)
        return row

    @staticmethod
    def _may_share(actor: Actor) -> None:
        if not actor.at_least(Role.SUPERVISOR):
            raise Forbidden("shared canned responses are created and changed by supervisors and admins")


async def _ticket(ref: int | str) -> Ticket:
    ticket = await find_ticket(ref)
    if ticket is None:
        raise InvalidField("ticket", f"there is no ticket {ref}")
    return ticket


def _plain(value: object) -> str:
    return str(getattr(value, "value", value))
