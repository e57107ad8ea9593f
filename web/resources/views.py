"""/api/v1/views and /api/v1/agents/load: the agent desk's work lists with their counts, and the team's load.

The tickets of a view are ``GET /api/v1/tickets?view=<id>`` (web/resources/tickets.py). Declared before the agents
resource: ``/agents/load`` must win over ``/agents/{agent_id}``.
"""

from __future__ import annotations

from tickets import views
from tickets.models import Role
from web.api import Api, Call
from web.schemas.tickets import AgentLoadOut, TeamLoad, ViewCount, ViewList

api = Api()


@api.get(
    "/views",
    summary="The work lists (unassigned, mine, team, callbacks, waiting, at risk, resolved) with their counts",
    role=Role.AGENT,
    response=ViewList,
    tag="tickets",
)
async def list_views(call: Call) -> ViewList:
    counts = await views.view_counts(call.actor.agent_id, call.runtime.tickets.clock())
    return ViewList(items=[ViewCount(id=view_id, count=n) for view_id, n in counts])


@api.get(
    "/agents/load",
    summary="Every agent's open tickets and how many are at risk, and the open tickets nobody has",
    role=Role.SUPERVISOR,
    response=TeamLoad,
    tag="agents",
)
async def agents_load(call: Call) -> TeamLoad:
    load = await views.team_load()
    return TeamLoad(
        items=[AgentLoadOut(login=a.login, name=a.name, open=a.open, at_risk=a.at_risk) for a in load.agents],
        unassigned=load.unassigned,
    )
