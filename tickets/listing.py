"""Finding tickets: filters and keyset pagination.

Keyset (not offset) pagination: a page ends with the sort key of its last row, and the next page starts strictly
after it. Rows inserted meanwhile are never repeated nor make later rows skip; ``id`` breaks ties so the order is
total.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import OperationalError
from tortoise.expressions import Q

from tickets.models import Channel, Ticket, TicketStatus, TicketType
from tickets.search import fold


@dataclass(frozen=True)
class Sort:
    """An ordering: by ``field`` then ``id``, both in the same direction."""

    name: str
    field: str
    descending: bool


SORTS: dict[str, Sort] = {
    s.name: s
    for s in (
        Sort("-created", "id", True),
        Sort("created", "id", False),
        Sort("-updated", "updated_at", True),
        Sort("updated", "updated_at", False),
        Sort("priority", "priority", False),
    )
}
DEFAULT_SORT = SORTS["-created"]


@dataclass(frozen=True)
class TicketFilter:
    """What to look for; empty tuples and ``None`` mean "any"."""

    statuses: tuple[TicketStatus, ...] = ()
    priorities: tuple[str, ...] = ()
    types: tuple[TicketType, ...] = ()
    channels: tuple[Channel, ...] = ()
    assignee_ids: tuple[int, ...] = ()
    unassigned: bool = False
    requester_id: int | None = None
    group: str | None = None
    text: str | None = None


Key = tuple[Any, int]


async def find_tickets(
    where: TicketFilter, *, sort: Sort = DEFAULT_SORT, after: Key | None = None, limit: int = 50
) -> tuple[list[Ticket], Key | None]:
    """One page of tickets and the key to continue after (``None`` on the last page)."""
    query = Ticket.all()
    if where.statuses:
        query = query.filter(status__in=[s.value for s in where.statuses])
    if where.priorities:
        query = query.filter(priority__in=list(where.priorities))
    if where.types:
        query = query.filter(type__in=[t.value for t in where.types])
    if where.channels:
        query = query.filter(channel__in=[c.value for c in where.channels])
    if where.assignee_ids or where.unassigned:
        unassigned = Q(assignee_id__isnull=True)
        if not where.assignee_ids:
            who = unassigned
        else:
            who = Q(assignee_id__in=list(where.assignee_ids))
            if where.unassigned:
                who = who | unassigned
        query = query.filter(who)
    if where.requester_id is not None:
        query = query.filter(requester_id=where.requester_id)
    if where.group is not None:
        query = query.filter(group=where.group)
    if where.text:
        query = await _matching_text(query, fold(where.text))
    direction = "-" if sort.descending else ""
    order = [f"{direction}{sort.field}"] + ([f"{direction}id"] if sort.field != "id" else [])
    if after is not None and sort.field != "id":
        rows = await _rows_after(query, sort, after, order, limit + 1)
        await Ticket.fetch_for_list(rows, "requester", "assignee")
    else:
        if after is not None:
            query = query.filter(_after(sort, after))
        rows = await query.order_by(*order).limit(limit + 1).prefetch_related("requester", "assignee")
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, key_of(rows[-1], sort)


#: Above this many search hits, scanning the newest tickets for a page is cheaper than listing every hit.
SEARCH_HIT_LIMIT = 1000


async def _matching_text(query: Any, folded: str) -> Any:
    """Restrict ``query`` to tickets whose search text contains ``folded``.

    PostgreSQL answers the ``LIKE`` from its trigram index (migration 0002). On SQLite the FTS5 trigram table is
    asked how many tickets match; when they are few (a rare word, an old ticket number) they are fetched by id,
    otherwise (a common word, or fewer than 3 characters, which trigrams cannot index) scanning the newest tickets
    finds a page sooner.
    """
    db = Ticket._meta.db
    if db.capabilities.dialect == "sqlite" and len(folded) >= 3:
        phrase = '"' + folded.replace('"', '""') + '"'
        match = "SELECT rowid FROM ticket_search WHERE ticket_search MATCH ? LIMIT ?"
        try:
            _, rows = await db.execute_query(f"SELECT count(*) FROM ({match})", [phrase, SEARCH_HIT_LIMIT + 1])
            if rows[0][0] <= SEARCH_HIT_LIMIT:
                _, rows = await db.execute_query(match, [phrase, SEARCH_HIT_LIMIT])
                return query.filter(id__in=[row[0] for row in rows])
        except OperationalError:  # no FTS5 in this SQLite: the migration skipped the index
            pass
    return query.filter(search_text__contains=folded)


def key_of(ticket: Ticket, sort: Sort) -> Key:
    """The keyset key of ``ticket`` under ``sort``."""
    return (getattr(ticket, sort.field), ticket.id)


async def _rows_after(query: Any, sort: Sort, key: Key, order: list[str], n: int) -> list[Ticket]:
    """Up to ``n`` rows after ``key`` (a sort other than by id), in two steps that an index on (field, id) answers
    directly: the rest of the rows sharing the key's value, then the rows beyond that value.

    A single ``field > v OR (field = v AND id > i)`` condition makes the database walk the index from its start
    instead (PostgreSQL, 100,000 tickets, a page deep into sort=priority: 26 ms instead of well under 1 ms).
    """
    value, last_id = key
    if not (isinstance(value, datetime) or sort.field == "priority"):
        raise ValueError(f"no keyset for {sort.field}")
    op = "lt" if sort.descending else "gt"
    rows = await query.filter(**{sort.field: value, f"id__{op}": last_id}).order_by(*order).limit(n)
    if len(rows) < n:
        rows += await query.filter(**{f"{sort.field}__{op}": value}).order_by(*order).limit(n - len(rows))
    return list(rows)


def _after(sort: Sort, key: Key) -> Q:
    value, last_id = key
    op = "lt" if sort.descending else "gt"
    if sort.field == "id":
        after_id: dict[str, Any] = {f"id__{op}": last_id}  # not dict[str, int]: Q's join_type is a str keyword
        return Q(**after_id)
    if isinstance(value, datetime) or sort.field == "priority":
        return Q(**{f"{sort.field}__{op}": value}) | Q(**{sort.field: value, f"id__{op}": last_id})
    raise ValueError(f"no keyset for {sort.field}")
