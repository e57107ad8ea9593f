"""/api/v1/agents/me/phone, /pause, /unpause: the agent's own phone and queue state, and pausing themselves."""

from __future__ import annotations

from pbx.connection import AmiError, AmiNotConnected, AmiTimeout
from tickets.models import Role
from web.api import Api, Call, Reply
from web.http.problems import ApiError
from web.runtime.phones import NoPbx, NotAMember, Refused, phone_view, set_paused
from web.schemas.phone import AgentPhone, PauseRequest, UnpauseRequest

api = Api()


@api.get(
    "/agents/me/phone",
    summary="Your phone: PBX link, registered, free / ringing / in a call / paused, your queues",
    role=Role.AGENT,
    response=AgentPhone,
    tag="agents",
)
async def my_phone(call: Call) -> AgentPhone:
    """As helpline's link to the PBX last heard; with the link down (``pbx_link: down``) the state is ``unknown``.
    Live changes arrive on the event stream as ``agent.phone`` (and ``pbx.link``)."""
    assert call.agent is not None
    runtime = call.runtime
    view = phone_view(runtime.pbx, runtime.live.phones, call.agent.extension)
    return AgentPhone.model_validate(view.as_json())


async def _pause(call: Call, paused: bool, queue: str | None, reason: str | None) -> Reply:
    assert call.agent is not None
    runtime = call.runtime
    try:
        view, seen = await set_paused(
            runtime.pbx, runtime.live.phones, call.agent.extension, paused, queue=queue, reason=reason
        )
    except NoPbx as exc:
        raise ApiError(503, "pbx-unavailable", f"cannot {'pause' if paused else 'unpause'} now: {exc}") from None
    except NotAMember as exc:
        raise ApiError(409, "not-a-queue-member", str(exc)) from None
    except Refused as exc:
        raise ApiError(502, "pbx-refused", str(exc)) from None
    except AmiTimeout:
        raise ApiError(504, "pbx-timeout", "the PBX did not answer the pause request in time") from None
    except (AmiNotConnected, AmiError) as exc:
        raise ApiError(503, "pbx-unavailable", f"cannot {'pause' if paused else 'unpause'} now: {exc}") from None
    return Reply(AgentPhone.model_validate(view.as_json()), status=200 if seen else 202)


@api.post(
    "/agents/me/pause",
    summary="Pause yourself in your queues (or one), with a reason",
    role=Role.AGENT,
    body=PauseRequest,
    response=AgentPhone,
    alt_responses={202: AgentPhone},
    errors=(409, 502, 503, 504),
    tag="agents",
)
async def pause(call: Call) -> Reply:
    """Sends Asterisk ``QueuePause`` through the instance that holds the PBX link. 200 with the new state once
    Asterisk reported it; 202 with the state so far when it has not yet (within 2 s)."""
    b: PauseRequest = call.body
    return await _pause(call, True, b.queue, b.reason)


@api.post(
    "/agents/me/unpause",
    summary="Unpause yourself in your queues (or one)",
    role=Role.AGENT,
    body=UnpauseRequest,
    response=AgentPhone,
    alt_responses={202: AgentPhone},
    errors=(409, 502, 503, 504),
    tag="agents",
)
async def unpause(call: Call) -> Reply:
    """As ``pause``, the other way."""
    b: UnpauseRequest = call.body
    return await _pause(call, False, b.queue, None)
