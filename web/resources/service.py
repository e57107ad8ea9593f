"""Service endpoints: liveness, readiness, the caller's own identity, the OpenAPI document."""

from __future__ import annotations

import asyncio
import json

from starlette.responses import Response
from tortoise.connection import get_connection

from tickets.models import Role
from web.api import Api, Call, Reply
from web.resources.render import agent_out
from web.schemas import AgentOut, Health, Readiness

root = Api(prefix="")
api = Api()
READY_TIMEOUT = 2.0


@root.get("/healthz", summary="Liveness: the process is up", role=None, response=Health, tag="service")
async def healthz(call: Call) -> Health:
    return Health(status="ok", version=call.request.app.state.version)


@root.get("/readyz", summary="Readiness: the database answers (and how the PBX connections are)", role=None, response=Readiness, tag="service",
          alt_responses={503: Readiness})
async def readyz(call: Call) -> Reply:
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(get_connection("default").execute_query("SELECT 1"), READY_TIMEOUT)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready"; say which
        checks["database"] = f"error: {type(exc).__name__}"
    for name, listener in call.request.app.state.pbx.items():
        state = listener.connection.status()
        checks[f"pbx:{name}"] = "ok" if state.ready else state.state.value + (
            f": {state.last_error}" if state.last_error else "")
    if checks["database"] != "ok":
        return Reply(Readiness(status="not ready", checks=checks), status=503)
    degraded = any(v != "ok" for v in checks.values())
    return Reply(Readiness(status="degraded" if degraded else "ready", checks=checks))


@api.get("/me", summary="The agent the token belongs to", role=Role.AGENT, response=AgentOut, tag="agents")
async def me(call: Call) -> AgentOut:
    assert call.agent is not None
    return agent_out(call.agent)


@api.get("/openapi.json", summary="This document", role=Role.AGENT, tag="service")
async def openapi(call: Call) -> Response:
    document = call.request.app.state.openapi
    return Response(json.dumps(document, ensure_ascii=False), media_type="application/json")
