"""/api/v1/pbx (the PBX connections) and /api/v1/calls/originate (click to call)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pbx import actions
from pbx.connection import AmiBadAction, AmiError, AmiNotConnected, AmiTimeout
from tickets.models import Role
from web.api import Api, Call, Reply
from web.http.problems import ApiError
from web.runtime.telephony import PbxListener
from web.schemas.pbx import Originate, OriginateQueued, PbxList, PbxStatus

api = Api()
_NOT_DIALLABLE = re.compile(r"[ ().-]")


def pbx_status(listener: PbxListener) -> PbxStatus:
    data: dict[str, Any] = listener.status()
    for key in ("last_error_at", "connected_since", "last_fact_at"):
        data[key] = datetime.fromtimestamp(data[key], UTC) if data.get(key) else None
    return PbxStatus.model_validate({k: v for k, v in data.items() if k in PbxStatus.model_fields})


@api.get("/pbx", summary="The PBX connections and how they are doing", role=Role.AGENT, response=PbxList, tag="calls")
async def list_pbx(call: Call) -> PbxList:
    return PbxList(items=[pbx_status(listener) for listener in call.runtime.pbx.values()])


@api.post(
    "/calls/originate",
    summary="Click to call: ring your phone, then dial the number",
    role=Role.AGENT,
    body=Originate,
    response=OriginateQueued,
    status=202,
    errors=(502, 503, 504),
    tag="calls",
)
async def originate(call: Call) -> Reply:
    b: Originate = call.body
    listeners = call.runtime.pbx
    if not listeners:
        raise ApiError(503, "no-pbx", "no PBX is configured ([[pbx]] in the configuration)")
    listener = listeners.get(b.pbx) if b.pbx else next(iter(listeners.values()))
    if listener is None:
        raise ApiError(
            422,
            "invalid-body",
            f"pbx: there is no PBX {b.pbx!r}; there is {', '.join(listeners)}",
            field_errors=[{"field": "pbx", "detail": "unknown PBX"}],
        )
    assert call.agent is not None
    extension = call.agent.extension
    if not extension:
        raise ApiError(
            422,
            "no-extension",
            f"agent {call.agent.login} has no phone extension to ring; an admin "
            "sets it with PATCH /api/v1/agents/{id}",
        )
    number = _NOT_DIALLABLE.sub("", b.number)
    pbx = listener.settings
    try:
        response = await actions.originate(
            listener.connection,
            channel=pbx.originate_channel.format(extension=extension),
            context=pbx.originate_context,
            exten=number,
            caller=actions.caller_id(call.agent.display_name, extension),
            ring=pbx.originate_ring,
        )
    except AmiBadAction as exc:  # a value stored before the API refused line breaks (an extension): nothing was sent
        raise ApiError(
            422,
            "invalid-call-request",
            f"cannot place this call: {exc} (check agent "
            f"{call.agent.login}'s extension and the [[pbx]] originate settings)",
        ) from None
    except AmiNotConnected as exc:
        raise ApiError(503, "pbx-unavailable", f"cannot call now: {exc}") from None
    except AmiTimeout:
        raise ApiError(504, "pbx-timeout", f"PBX {listener.name} did not answer the call request in time") from None
    except AmiError as exc:
        raise ApiError(503, "pbx-unavailable", f"cannot call now: {exc}") from None
    if not actions.succeeded(response):
        reason = response.get("Message") or "no reason given"
        raise ApiError(502, "pbx-refused", f"PBX {listener.name} refused the call: {reason}")
    return Reply(OriginateQueued(status="queued", pbx=listener.name, extension=extension, number=number))
