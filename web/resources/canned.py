"""/api/v1/canned-responses: replies agents reuse, personal or shared, and their bodies filled in from a ticket."""

from __future__ import annotations

from tickets.canned import PLACEHOLDERS
from tickets.models import Agent, CannedResponse, Role
from web.api import Api, Call, Reply
from web.schemas.canned import CannedCreate, CannedOut, CannedPage, CannedPatch, Render, Rendered

api = Api()


async def _out(rows: list[CannedResponse]) -> list[CannedOut]:
    ids = {i for r in rows for i in (r.owner_id, r.created_by_id, r.updated_by_id) if i is not None}
    logins = dict(await Agent.filter(id__in=ids).values_list("id", "login")) if ids else {}

    def login(agent_id: int | None) -> str | None:
        return str(logins[agent_id]) if agent_id in logins else None

    return [
        CannedOut(
            id=r.id,
            title=r.title,
            body=r.body,
            shared=r.owner_id is None,
            owner=login(r.owner_id),
            created_by=login(r.created_by_id),
            updated_by=login(r.updated_by_id),
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in rows
    ]


@api.get(
    "/canned-responses",
    summary="The shared canned responses and your own",
    role=Role.AGENT,
    response=CannedPage,
    tag="canned-responses",
)
async def list_canned(call: Call) -> CannedPage:
    rows = await call.runtime.canned.visible(call.actor)
    return CannedPage(items=await _out(rows), placeholders=PLACEHOLDERS)


@api.post(
    "/canned-responses",
    summary="Create a canned response (shared ones: supervisors and admins)",
    role=Role.AGENT,
    body=CannedCreate,
    response=CannedOut,
    status=201,
    errors=(403, 422),
    tag="canned-responses",
)
async def create_canned(call: Call) -> Reply:
    b: CannedCreate = call.body
    row = await call.runtime.canned.create(call.actor, title=b.title, body=b.body, shared=b.shared)
    (out,) = await _out([row])
    return Reply(out, status=201, headers={"Location": f"{api.prefix}/canned-responses/{row.id}"})


@api.patch(
    "/canned-responses/{response_id}",
    summary="Change a canned response (your own; shared ones: supervisors and admins)",
    role=Role.AGENT,
    body=CannedPatch,
    response=CannedOut,
    errors=(403, 404),
    tag="canned-responses",
)
async def update_canned(call: Call) -> CannedOut:
    b: CannedPatch = call.body
    row = await call.runtime.canned.update(
        call.actor, call.id_param("response_id", "canned response"), title=b.title, body=b.body
    )
    (out,) = await _out([row])
    return out


@api.delete(
    "/canned-responses/{response_id}",
    summary="Delete a canned response (your own; shared ones: supervisors and admins); the response deleted",
    role=Role.AGENT,
    response=CannedOut,
    errors=(403, 404),
    tag="canned-responses",
)
async def delete_canned(call: Call) -> CannedOut:
    canned = call.runtime.canned
    response_id = call.id_param("response_id", "canned response")
    (out,) = await _out([await canned.get(call.actor, response_id)])
    await canned.delete(call.actor, response_id)
    return out


@api.post(
    "/canned-responses/{response_id}/render",
    summary="A canned response's body with a ticket's fields filled in",
    role=Role.AGENT,
    body=Render,
    response=Rendered,
    errors=(404, 422),
    tag="canned-responses",
)
async def render_canned(call: Call) -> Rendered:
    b: Render = call.body
    row, ticket, filled = await call.runtime.canned.render(
        call.actor, call.id_param("response_id", "canned response"), b.ticket
    )
    return Rendered(
        id=row.id,
        title=row.title,
        ticket=ticket.number,
        body=filled.body,
        unknown=list(filled.unknown),
        empty=list(filled.empty),
    )
