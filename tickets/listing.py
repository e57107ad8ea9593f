"""Finding tickets: filters, text search (a ticket number first) and keyset pagination.

Keyset (not offset) pagination: a page ends with the sort key of its last row, and the next page starts strictly
after it. Rows inserted meanwhile are never repeated nor make later rows skip; ``id`` breaks ties so the order is
total.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from tortoise.exceptions import OperationalError
from tortoise.expressions import Q, Subquery

from tickets.models import Call, Channel, Person, Ticket, TicketStatus, TicketType
from tickets.search import fold
from tickets.sla.report import risky_clocks
from tickets.workflow import DONE


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
    """What to look for; empty tuples, ``None`` and ``False`` mean "any".

    ``text``: words in the ticket's number, title, description or comments, or in its requester's name.
    ``number``: the ticket number the text names (:func:`tickets.search.ticket_number`); that ticket, if it passes
    the other conditions, comes first, whatever the sort.
    """

    statuses: tuple[TicketStatus, ...] = ()
    priorities: tuple[str, ...] = ()
    types: tuple[TicketType, ...] = ()
    channels: tuple[Channel, ...] = ()
    assignee_ids: tuple[int, ...] = ()
    unassigned: bool = False
    requester_id: int | None = None
    group: str | None = None
    text: str | None = None
    number: str | None = None
    #: a call of the ticket entered this queue
    queue: str | None = None
    #: created at or after / at or before
    created_from: datetime | None = None
    created_to: datetime | None = None
    #: a call back is owed (tickets/callbacks.py)
    callback_owed: bool = False
    #: an SLA target is at risk or breached (tickets/sla/report.py risky_clocks)
    at_risk: bool = False
    #: resolved or closed at or after this moment
    done_since: datetime | None = None


Key = tuple[Any, int]


def matching(where: TicketFilter, query: Any = None) -> Any:
    """``query`` (all tickets by default) narrowed to the tickets ``where`` describes, text search aside."""
    query = Ticket.all() if query is None else query
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
    if where.queue is not None:
        query = query.filter(id__in=Subquery(Call.filter(queue=where.queue).values("ticket_id")))
    if where.created_from is not None:
        query = query.filter(created_at__gte=where.created_from)
    if where.created_to is not None:
        query = query.filter(created_at__lte=where.created_to)
    if where.callback_owed:
        # not done either: a ticket closed other than through TicketService (a merged duplicate) keeps its
        # callback_since. NOT IN, which no index answers, so that SQLite reads ticket_callback_idx, not the open ones
        query = query.filter(callback_since__isnull=False, status__not_in=[s.value for s in DONE])
    if where.at_risk:
        query = query.filter(id__in=Subquery(risky_clocks().values("ticket_id")))
    if where.done_since is not None:
        # only a resolved or closed ticket has these (reopening clears them): no status condition, which would
        # make SQLite read every closed ticket instead of the two indexes
        query = query.filter(Q(resolved_at__gte=where.done_since) | Q(closed_at__gte=where.done_since))
    return query


async def count_tickets(*wheres: TicketFilter) -> int:
    """How many tickets every one of ``wheres`` describes (text search aside)."""
    query = None
    for where in wheres:
        query = matching(where, query)
    return int(await (query if query is not None else Ticket.all()).count())


async def find_tickets(
    where: TicketFilter,
    *,
    also: tuple[TicketFilter, ...] = (),
    sort: Sort = DEFAULT_SORT,
    after: Key | None = None,
    limit: int = 50,
) -> tuple[list[Ticket], Key | None]:
    """One page of the tickets ``where`` (and each of ``also``, e.g. a view) describes, and the key to continue
    after (``None`` on the last page).

    A ticket named by ``where.number`` comes first on the first page and is left out of every later one.
    """
    query = matching(where)
    for more in also:
        query = matching(more, query)
    statuses = _statuses(where, *also)
    if sort.field == "updated_at" and len(statuses) > 1 and not where.text and _sqlite():
        # one query per status, merged: each walks an index on (status, [assignee_id,] updated_at, id) in order,
        # where one query for all would sort every open ticket (SQLite, no ANALYZE, 100,000 tickets: 1 ms instead
        # of 80). PostgreSQL plans the single query well (walking updated_at): three would only cost more round trips.
        parts = []
        for status in statuses:
            part = matching(replace(where, statuses=(status,)))
            for more in also:
                part = matching(replace(more, statuses=()), part)
            parts.append(await _page(part, sort, after, limit, related=False))
        rows, next_key = _merged(parts, sort, limit)
        await Ticket.fetch_for_list(rows, "requester", "assignee")
        return rows, next_key
    first: Ticket | None = None
    if where.number is not None:
        first = await query.filter(number=where.number).first()
        if first is not None:
            query = query.exclude(id=first.id)
    if where.text and not where.text.isspace():
        query = await _matching_text(query, fold(where.text.strip()))
    if first is not None and after is None:
        rows, next_key = await _page(query, sort, None, limit - 1) if limit > 1 else await _peek(query, sort)
        await first.fetch_related("requester", "assignee")
        return [first, *rows], next_key
    return await _page(query, sort, after, limit)


def _merged(parts: list[tuple[list[Ticket], Key | None]], sort: Sort, limit: int) -> tuple[list[Ticket], Key | None]:
    """One page from the pages of disjoint parts: the first ``limit`` rows of them all, in order. (A part's rows
    beyond its page all come after its page's last row, so they cannot belong in the first ``limit``.)"""
    rows = sorted((row for page, _ in parts for row in page), key=lambda t: key_of(t, sort), reverse=sort.descending)
    more = len(rows) > limit or any(next_key is not None for _, next_key in parts)
    rows = rows[:limit]
    return rows, (key_of(rows[-1], sort) if more and rows else None)


def _sqlite() -> bool:
    return bool(Ticket._meta.db.capabilities.dialect == "sqlite")


def _statuses(*wheres: TicketFilter) -> tuple[TicketStatus, ...]:
    """The statuses every one of ``wheres`` allows, in the order of the first that names some (() if none does)."""
    named = [w.statuses for w in wheres if w.statuses]
    return tuple(s for s in named[0] if all(s in other for other in named[1:])) if named else ()


async def _peek(query: Any, sort: Sort) -> tuple[list[Ticket], Key | None]:
    """No rows, and a key from which the first row of ``query`` is next (None if it has none): the page of a
    single pinned ticket."""
    rows, _ = await _page(query, sort, None, 1)
    if not rows:
        return [], None
    value, row_id = key_of(rows[0], sort)
    return [], (value, row_id + 1 if sort.descending else row_id - 1)


async def _page(
    query: Any, sort: Sort, after: Key | None, limit: int, *, related: bool = True
) -> tuple[list[Ticket], Key | None]:
    """A page of ``query`` after ``after``; ``related``: with the requester and assignee loaded."""
    direction = "-" if sort.descending else ""
    order = [f"{direction}{sort.field}"] + ([f"{direction}id"] if sort.field != "id" else [])
    if after is not None and sort.field != "id":
        rows = await _rows_after(query, sort, after, order, limit + 1)
        if related:
            await Ticket.fetch_for_list(rows, "requester", "assignee")
    else:
        if after is not None:
            query = query.filter(_after(sort, after))
        query = query.order_by(*order).limit(limit + 1)
        rows = await (query.prefetch_related("requester", "assignee") if related else query)
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

    The tickets of requesters whose name contains the text match too (the first :data:`SEARCH_HIT_LIMIT` such
    people).
    """
    requesters = await _people_named(folded)
    by_requester = Q(requester_id__in=requesters) if requesters else None
    db = Ticket._meta.db
    if db.capabilities.dialect == "sqlite" and len(folded) >= 3:
        phrase = '"' + folded.replace('"', '""') + '"'
        match = "SELECT rowid FROM ticket_search WHERE ticket_search MATCH ? LIMIT ?"
        try:
            _, rows = await db.execute_query(f"SELECT count(*) FROM ({match})", [phrase, SEARCH_HIT_LIMIT + 1])
            if rows[0][0] <= SEARCH_HIT_LIMIT:
                _, rows = await db.execute_query(match, [phrase, SEARCH_HIT_LIMIT])
                by_text = Q(id__in=[row[0] for row in rows])
                return query.filter(by_text | by_requester if by_requester is not None else by_text)
        except OperationalError:  # no FTS5 in this SQLite: the migration skipped the index
            pass
    by_text = Q(search_text__contains=folded)
    return query.filter(by_text | by_requester if by_requester is not None else by_text)


async def _people_named(folded: str) -> list[int]:
    """The ids of the people whose name contains ``folded`` (their search text holds more: e-mail, phone,
    department; only the name counts here)."""
    rows = await (
        Person.filter(search_text__contains=folded).order_by("id").limit(SEARCH_HIT_LIMIT).values_list("id", "name")
    )
    return [int(pid) for pid, name in rows if folded in fold(name)]


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
