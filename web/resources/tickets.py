"""/api/v1/tickets: open, find, read, change, comment, assign and move tickets through the workflow."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from tickets import views
from tickets.listing import DEFAULT_SORT, SORTS, TicketFilter, find_tickets
from tickets.models import Agent, Role, Ticket
from tickets.models import Call as CallRow
from tickets.priority import PRIORITIES
from tickets.search import ticket_number
from web.api import Api, Call, Reply
from web.http import cursor
from web.http.problems import ApiError
from web.resources.render import activity_out, call_out, ticket_link, ticket_out
from web.resources.sla import ticket_clocks
from web.schemas.common import PageQuery
from web.schemas.tickets import (
    ActivityPage,
    Assign,
    CommentCreate,
    CommentOut,
    TicketCreate,
    TicketDetail,
    TicketListQuery,
    TicketOut,
    TicketPage,
    TicketPatch,
    Transition,
)

api = Api()
HISTORY_PAGES = cursor.IdPages("activity")
KEY_TYPES: dict[str, type] = {"id": int, "updated_at": datetime, "priority": str, "callback_since": datetime}
#: The moments both databases store: a created_from / created_to beyond them is clipped to them.
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)


async def _reply(call: Call, ticket: Ticket, status: int | None = None) -> Reply:
    # fetch only what is not loaded yet (create() hands back the requester and assignee it checked)
    missing = [name for name in ("requester", "assignee") if f"_{name}" not in ticket.__dict__]
    if missing:
        await ticket.fetch_related(*missing)
    headers = {"ETag": f'"{ticket.version}"'}
    if status == 201:
        headers["Location"] = f"{api.prefix}/tickets/{ticket.number}"
    return Reply(ticket_out(ticket), status=status, headers=headers)


@api.post(
    "/tickets",
    summary="Open a ticket",
    role=Role.AGENT,
    body=TicketCreate,
    response=TicketOut,
    status=201,
    errors=(422,),
    etag=True,
)
async def create_ticket(call: Call) -> Reply:
    b: TicketCreate = call.body
    ticket = await call.runtime.tickets.create(
        call.actor,
        title=b.title,
        description=b.description,
        type=b.type,
        impact=b.impact,
        urgency=b.urgency,
        channel=b.channel,
        requester_id=b.requester_id,
        caller_number=b.caller_number,
        assignee=b.assignee,
        group=b.group,
    )
    return await _reply(call, ticket, 201)


def _moment(value: date | datetime | None, field: str, end_of_day: bool) -> datetime | None:
    """A created_from / created_to bound as an aware UTC datetime: a date means its first (or last) moment in UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.max if end_of_day else time.min, UTC)
    if value.tzinfo is None:
        raise ApiError(
            400,
            "invalid-query",
            f"{field} needs a time zone, e.g. 2026-11-01T00:00:00Z, or give a date (2026-11-01)",
            field_errors=[{"field": field, "detail": "no time zone"}],
        )
    try:
        return min(max(value.astimezone(UTC), EARLIEST), LATEST)
    except OverflowError:  # an offset that moves year 1 or 9999 out of range
        return EARLIEST if value.year < 5000 else LATEST


@api.get(
    "/tickets",
    summary="Find tickets: a work list (view), filters, text search, keyset pagination",
    role=Role.AGENT,
    query=TicketListQuery,
    response=TicketPage,
    errors=(400,),
)
async def list_tickets(call: Call) -> TicketPage:
    q: TicketListQuery = call.query
    assignee_ids: list[int] = []
    for login in q.assignee:
        if login == "me":
            assignee_ids.append(call.actor.agent_id or 0)
        elif login != "none":
            agent = await Agent.get_or_none(login=login)
            if agent is None:
                raise ApiError(
                    400,
                    "invalid-query",
                    f"assignee: there is no agent with login {login!r}",
                    field_errors=[{"field": "assignee", "detail": f"no agent {login!r}"}],
                )
            assignee_ids.append(agent.id)
    shown = views.view(q.view, call.actor.agent_id, call.runtime.tickets.clock()) if q.view else None
    where = TicketFilter(
        statuses=tuple(q.status),
        priorities=tuple(q.priority),
        types=tuple(q.type),
        channels=tuple(q.channel),
        assignee_ids=tuple(assignee_ids),
        unassigned="none" in q.assignee,
        requester_id=q.requester_id,
        group=q.group,
        queue=q.queue,
        created_from=_moment(q.created_from, "created_from", end_of_day=False),
        created_to=_moment(q.created_to, "created_to", end_of_day=True),
        text=q.q,
        number=ticket_number(q.q, call.runtime.tickets.numbering.prefix) if q.q else None,
    )
    sort = SORTS[q.sort] if q.sort else (shown.sort if shown else DEFAULT_SORT)
    choices = PRIORITIES if sort.field == "priority" else None
    after = cursor.decode(q.cursor, sort.name, KEY_TYPES[sort.field], choices=choices) if q.cursor else None
    also = (shown.where,) if shown else ()
    rows, next_key = await find_tickets(where, also=also, sort=sort, after=after, limit=q.limit)
    return TicketPage(
        items=[ticket_out(t) for t in rows], next=cursor.encode(sort.name, *next_key) if next_key else None
    )


@api.get(
    "/tickets/{ref}",
    summary="Read a ticket by id or number (IT-1042), with its calls and SLA clocks",
    role=Role.AGENT,
    response=TicketDetail,
    errors=(404,),
    etag=True,
)
async def get_ticket(call: Call) -> Reply:
    return await detail_reply(call, await call.runtime.tickets.get(call.path("ref")))


async def detail_reply(call: Call, ticket: Ticket) -> Reply:
    """The ticket with its calls, SLA clocks and related tickets, and its ETag."""
    reply = await _reply(call, ticket)
    calls = await CallRow.filter(ticket_id=ticket.id).order_by("id").prefetch_related("agent")
    related = await call.runtime.links.relations(ticket)
    assert reply.body is not None
    reply.body = TicketDetail(
        **dict(reply.body),
        calls=[call_out(c) for c in calls],
        sla=await ticket_clocks(call, ticket.id),
        merged_into=ticket_link(related.merged_into) if related.merged_into else None,
        merged=[ticket_link(t) for t in related.merged],
        parent=ticket_link(related.parent) if related.parent else None,
        children=[ticket_link(t) for t in related.children],
    )
    return reply


@api.patch(
    "/tickets/{ref}",
    summary="Change fields of a ticket",
    role=Role.AGENT,
    body=TicketPatch,
    response=TicketOut,
    errors=(404, 409, 412, 422),
    etag=True,
    if_match=True,
)
async def update_ticket(call: Call) -> Reply:
    b: TicketPatch = call.body
    changes = {name: getattr(b, name) for name in b.model_fields_set}
    ticket = await call.runtime.tickets.update(call.actor, call.path("ref"), changes, if_version=call.if_match())
    return await _reply(call, ticket)


@api.post(
    "/tickets/{ref}/comments",
    summary="Comment on a ticket (public or internal)",
    role=Role.AGENT,
    body=CommentCreate,
    response=CommentOut,
    status=201,
    errors=(404, 409, 422),
    etag=True,
)
async def comment_ticket(call: Call) -> Reply:
    b: CommentCreate = call.body
    entry = await call.runtime.tickets.comment(call.actor, call.path("ref"), b.body, public=b.public)
    version = entry.ticket.version  # the ticket the comment was saved with: its new version
    return Reply(CommentOut(**dict(activity_out(entry)), ticket_version=version), headers={"ETag": f'"{version}"'})


@api.post(
    "/tickets/{ref}/assign",
    summary="Assign a ticket to an agent and/or group",
    role=Role.AGENT,
    body=Assign,
    response=TicketOut,
    errors=(403, 404, 409, 412, 422),
    etag=True,
    if_match=True,
)
async def assign_ticket(call: Call) -> Reply:
    b: Assign = call.body
    ticket = await call.runtime.tickets.assign(
        call.actor,
        call.path("ref"),
        assignee=b.assignee,
        group=b.group,
        change_group="group" in b.model_fields_set,
        if_version=call.if_match(),
    )
    return await _reply(call, ticket)


@api.post(
    "/tickets/{ref}/transitions",
    summary="Move a ticket to another status",
    role=Role.AGENT,
    body=Transition,
    response=TicketOut,
    errors=(404, 409, 412, 422),
    etag=True,
    if_match=True,
)
async def transition_ticket(call: Call) -> Reply:
    b: Transition = call.body
    ticket = await call.runtime.tickets.transition(
        call.actor,
        call.path("ref"),
        b.to,
        resolution=b.resolution,
        comment=b.comment,
        public=b.public,
        if_version=call.if_match(),
    )
    return await _reply(call, ticket)


@api.get(
    "/tickets/{ref}/activity",
    summary="The history of a ticket with that of the tickets merged into it, oldest first",
    role=Role.AGENT,
    query=PageQuery,
    response=ActivityPage,
    errors=(400, 404),
)
async def ticket_activity(call: Call) -> ActivityPage:
    q: PageQuery = call.query
    ticket = await call.runtime.tickets.get(call.path("ref"))
    entries = await call.runtime.links.history(ticket.id, after=HISTORY_PAGES.after(q.cursor), limit=q.limit + 1)
    entries, next_cursor = HISTORY_PAGES.page(entries, q.limit)
    merged = (
        await call.runtime.links.merged_into_this(ticket.id) if any(e.ticket_id != ticket.id for e in entries) else {}
    )
    return ActivityPage(items=[activity_out(e, on=merged.get(e.ticket_id)) for e in entries], next=next_cursor)
