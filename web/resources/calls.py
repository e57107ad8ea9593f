"""/api/v1/calls: calls to the IT line, newest first."""

from __future__ import annotations

from directory import CallerNumber
from tickets.models import Agent, Role
from tickets.models import Call as CallRow
from web.api import Api, Call
from web.http import cursor
from web.http.problems import ApiError
from web.resources.render import call_out
from web.schemas.calls import CallListQuery, CallPage

api = Api()
PAGES = cursor.IdPages("calls")


@api.get(
    "/calls", summary="Find calls (newest first)", role=Role.AGENT, query=CallListQuery, response=CallPage, tag="calls"
)
async def list_calls(call: Call) -> CallPage:
    q: CallListQuery = call.query
    rows = CallRow.all()
    if q.pbx:
        rows = rows.filter(pbx=q.pbx)
    if q.state:
        rows = rows.filter(state__in=q.state)
    if q.outcome:
        rows = rows.filter(outcome__in=q.outcome)
    if q.ticket_id is not None:
        rows = rows.filter(ticket_id=q.ticket_id)
    if q.caller:
        number = CallerNumber.parse(q.caller, call.runtime.settings.directory.default_region)
        rows = rows.filter(caller_key=number.key) if number.key else rows.filter(caller_number=number.raw)
    if q.agent:
        agent = call.agent if q.agent == "me" else await Agent.get_or_none(login=q.agent)
        if agent is None:
            raise ApiError(
                400,
                "invalid-query",
                f"agent: there is no agent with login {q.agent!r}",
                field_errors=[{"field": "agent", "detail": f"no agent {q.agent!r}"}],
            )
        rows = rows.filter(agent_id=agent.id)
    after = PAGES.after(q.cursor)
    if after is not None:
        rows = rows.filter(id__lt=after)
    found = await rows.order_by("-id").limit(q.limit + 1).prefetch_related("agent")
    found, next_cursor = PAGES.page(list(found), q.limit)
    return CallPage(items=[call_out(c) for c in found], next=next_cursor)
