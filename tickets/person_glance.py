"""A person at a glance, for the agent who has them on the phone: who they are, their local aliases, their tickets
(open ones first, then a few recent others) and their recent calls.

Cheap by construction: a handful of indexed queries, each bounded (``ticket(requester_id, id)``,
``phone_call(caller_key, started_at)``, ``phone_call(ticket_id, id)``, ``caller_index(person_id)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from tickets.models import Call, CallerAlias, CallerIndexEntry, Person, Ticket
from tickets.workflow import DONE

OPEN_LIMIT = 20
RECENT_LIMIT = 5
CALL_LIMIT = 10


@dataclass(frozen=True)
class Glance:
    """What :func:`at_a_glance` found; tickets have ``assignee`` and ``requester`` fetched, calls their ``agent``."""

    person: Person
    aliases: list[CallerAlias]
    open_tickets: int  #: how many open tickets they have (``tickets`` lists up to OPEN_LIMIT of them)
    tickets: list[Ticket]  #: open ones, newest first, then up to RECENT_LIMIT resolved or closed, newest first
    calls: list[Call]  #: their most recent calls: from any of their numbers, or on one of their tickets


async def at_a_glance(person: Person) -> Glance:
    """``person``'s glance (see the module)."""
    done = [s.value for s in DONE]
    mine = Ticket.filter(requester_id=person.id)
    open_count = await mine.exclude(status__in=done).count()
    open_rows = await mine.exclude(status__in=done).order_by("-id").limit(OPEN_LIMIT).prefetch_related("assignee")
    recent = (
        await Ticket.filter(requester_id=person.id, status__in=done)
        .order_by("-id")
        .limit(RECENT_LIMIT)
        .prefetch_related("assignee")
    )
    tickets = list(open_rows) + list(recent)
    for ticket in tickets:
        ticket.requester = person  # one person: no query per ticket
    aliases = await CallerAlias.filter(person_id=person.id).order_by("id")
    keys = await _keys(person, aliases)
    calls: dict[int, Call] = {}
    if keys:
        for call in (
            await Call.filter(caller_key__in=keys).order_by("-started_at").limit(CALL_LIMIT).prefetch_related("agent")
        ):
            calls[call.id] = call
    ticket_ids = [t.id for t in tickets]
    if ticket_ids:
        for call in (
            await Call.filter(ticket_id__in=ticket_ids).order_by("-id").limit(CALL_LIMIT).prefetch_related("agent")
        ):
            calls.setdefault(call.id, call)
    newest = sorted(calls.values(), key=lambda c: (c.started_at, c.id), reverse=True)[:CALL_LIMIT]
    return Glance(person, list(aliases), open_count, tickets, newest)


async def _keys(person: Person, aliases: list[CallerAlias]) -> list[str]:
    """Every number key the person is known by: directory numbers, the hand-entered phone, local aliases."""
    indexed = cast(  # flat: values, not tuples (tortoise's types)
        list[str], await CallerIndexEntry.filter(person_id=person.id).limit(50).values_list("key", flat=True)
    )
    keys = dict.fromkeys([*indexed, *(a.key for a in aliases)])
    if person.phone_key:
        keys[person.phone_key] = None
    return list(keys)
