"""/api/v1/tickets/{ref}/merge and /parent: merging duplicates, parent and child tickets (tickets/merge.py)."""

from __future__ import annotations

from tickets.models import Role
from web.api import Api, Call, Reply
from web.resources.tickets import detail_reply
from web.schemas.tickets import Merge, SetParent, TicketDetail

api = Api()


@api.post(
    "/tickets/{ref}/merge",
    summary="Merge a duplicate ticket into another one (it is closed; its calls, children and history go along)",
    role=Role.AGENT,
    body=Merge,
    response=TicketDetail,
    errors=(404, 409, 412, 422),
    etag=True,
    if_match=True,
)
async def merge_ticket(call: Call) -> Reply:
    b: Merge = call.body
    ticket = await call.runtime.links.merge(call.actor, call.path("ref"), b.into, if_version=call.if_match())
    return await detail_reply(call, ticket)


@api.put(
    "/tickets/{ref}/parent",
    summary="Make another ticket the parent of this one",
    role=Role.AGENT,
    body=SetParent,
    response=TicketDetail,
    errors=(404, 409, 422),
    etag=True,
)
async def set_parent(call: Call) -> Reply:
    b: SetParent = call.body
    ticket = await call.runtime.links.set_parent(call.actor, call.path("ref"), b.parent)
    return await detail_reply(call, ticket)


@api.delete(
    "/tickets/{ref}/parent",
    summary="Remove the parent of a ticket",
    role=Role.AGENT,
    response=TicketDetail,
    errors=(404,),
    etag=True,
)
async def clear_parent(call: Call) -> Reply:
    ticket = await call.runtime.links.clear_parent(call.actor, call.path("ref"))
    return await detail_reply(call, ticket)
