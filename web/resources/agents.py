"""/api/v1/agents: the IT team and their API tokens (admins only)."""

from __future__ import annotations

from tickets.models import Role
from web.api import Api, Call, Reply
from web.http import cursor
from web.resources.render import agent_out, token_out
from web.schemas.agents import (
    AgentCreate,
    AgentCreated,
    AgentListQuery,
    AgentOut,
    AgentPage,
    AgentPatch,
    TokenCreate,
    TokenIssued,
    TokenList,
    TokenOut,
)

api = Api()
PAGES = cursor.IdPages("agents")


@api.post(
    "/agents",
    summary="Add an agent; returns their first API token once",
    role=Role.ADMIN,
    body=AgentCreate,
    response=AgentCreated,
    status=201,
    errors=(409, 422),
    tag="agents",
)
async def create_agent(call: Call) -> AgentCreated:
    b: AgentCreate = call.body
    agents = call.runtime.agents
    agent = await agents.create(
        login=b.login, display_name=b.display_name, role=b.role, extension=b.extension, email=b.email
    )
    _, secret = await agents.issue_token(agent.id, "default")
    return AgentCreated(**agent_out(agent).model_dump(), token=secret)


@api.get(
    "/agents",
    summary="List agents",
    role=Role.ADMIN,
    query=AgentListQuery,
    response=AgentPage,
    errors=(400,),
    tag="agents",
)
async def list_agents(call: Call) -> AgentPage:
    q: AgentListQuery = call.query
    rows = await call.runtime.agents.find(active=q.active, after=PAGES.after(q.cursor), limit=q.limit + 1)
    rows, next_cursor = PAGES.page(rows, q.limit)
    return AgentPage(items=[agent_out(a) for a in rows], next=next_cursor)


@api.get("/agents/{agent_id}", summary="Read an agent", role=Role.ADMIN, response=AgentOut, errors=(404,), tag="agents")
async def get_agent(call: Call) -> AgentOut:
    return agent_out(await call.runtime.agents.get(call.id_param("agent_id", "agent")))


@api.patch(
    "/agents/{agent_id}",
    summary="Change an agent (role, extension, deactivate)",
    role=Role.ADMIN,
    body=AgentPatch,
    response=AgentOut,
    errors=(404, 409, 422),
    tag="agents",
)
async def update_agent(call: Call) -> AgentOut:
    b: AgentPatch = call.body
    changes = {name: getattr(b, name) for name in b.model_fields_set}
    return agent_out(await call.runtime.agents.update(call.id_param("agent_id", "agent"), changes))


@api.get(
    "/agents/{agent_id}/tokens",
    summary="List an agent's API tokens (never the secrets)",
    role=Role.ADMIN,
    response=TokenList,
    errors=(404,),
    tag="agents",
)
async def list_tokens(call: Call) -> TokenList:
    tokens = await call.runtime.agents.tokens(call.id_param("agent_id", "agent"))
    return TokenList(items=[token_out(t) for t in tokens])


@api.post(
    "/agents/{agent_id}/tokens",
    summary="Issue another API token; the secret is shown once",
    role=Role.ADMIN,
    body=TokenCreate,
    response=TokenIssued,
    status=201,
    errors=(404, 422),
    tag="agents",
)
async def issue_token(call: Call) -> TokenIssued:
    token, secret = await call.runtime.agents.issue_token(call.id_param("agent_id", "agent"), call.body.name)
    return TokenIssued(**token_out(token).model_dump(), token=secret)


@api.delete(
    "/agents/{agent_id}/tokens/{token_id}",
    summary="Revoke an API token",
    role=Role.ADMIN,
    response=TokenOut,
    errors=(404,),
    tag="agents",
)
async def revoke_token(call: Call) -> Reply:
    token = await call.runtime.agents.revoke_token(
        call.id_param("agent_id", "agent"), call.id_param("token_id", "token")
    )
    return Reply(token_out(token))
