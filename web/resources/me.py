"""``/api/v1/me``: the agent making the request, with their console language and time zone; they change those."""

from __future__ import annotations

from tickets.languages import DEFAULT_LANGUAGE, LANGUAGES
from tickets.models import Agent, Role
from web.api import Api, Call
from web.http.languages import negotiate
from web.resources.render import agent_out
from web.schemas.agents import MeOut, MePatch
from web.settings import Settings

api = Api()


def default_time_zone(settings: Settings) -> str:
    """The zone of the business calendar (the first ``[[sla.calendars]]``), else UTC."""
    return settings.sla.calendars[0].timezone if settings.sla.calendars else "UTC"


def me_out(call: Call, agent: Agent) -> MeOut:
    """The agent with their preferences, defaults filled in from the request and the settings."""
    language = agent.language or negotiate(call.request.headers.get("accept-language"), LANGUAGES)
    return MeOut(
        **agent_out(agent).model_dump(),
        language=language or DEFAULT_LANGUAGE,
        time_zone=agent.time_zone or default_time_zone(call.runtime.settings),
    )


@api.get(
    "/me",
    summary="The agent the token or session belongs to, with their language and time zone",
    role=Role.AGENT,
    response=MeOut,
    tag="agents",
)
async def me(call: Call) -> MeOut:
    assert call.agent is not None
    return me_out(call, call.agent)


@api.patch(
    "/me",
    summary="Choose one's own console language and time zone (null: the default again)",
    role=Role.AGENT,
    body=MePatch,
    response=MeOut,
    errors=(422,),
    tag="agents",
)
async def update_me(call: Call) -> MeOut:
    assert call.agent is not None
    b: MePatch = call.body
    changes = {name: getattr(b, name) for name in b.model_fields_set}
    return me_out(call, await call.runtime.agents.set_preferences(call.agent.id, changes))
