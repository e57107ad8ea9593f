"""Service endpoints: liveness, readiness, the instance's status, the caller's own identity, the OpenAPI document."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from starlette.responses import Response
from tortoise.connection import get_connection

from tickets.calls.caller_index import directory_status
from tickets.models import Role
from web.api import Api, Call, Reply
from web.openapi import document_of
from web.schemas.service import Health, Readiness, ServiceStatus
from web.version import VERSION

if TYPE_CHECKING:
    from web.runtime import Runtime

root = Api(prefix="")
api = Api()
READY_TIMEOUT = 2.0


@root.get("/healthz", summary="Liveness: the process is up", role=None, response=Health, tag="service")
async def healthz(call: Call) -> Health:
    return Health(status="ok", version=VERSION)


@root.get(
    "/readyz",
    summary="Readiness: ready (200) or not ready (503), nothing more",
    role=None,
    response=Readiness,
    tag="service",
    alt_responses={503: Readiness},
)
async def readyz(call: Call) -> Reply:
    """For load balancers and probes, unauthenticated: the database answers or it does not. Which PBX is not
    connected, and why, is for operators: ``GET /api/v1/status`` and ``helpline check``."""
    if await _database_check() != "ok":
        return Reply(Readiness(status="not ready"), status=503)
    return Reply(Readiness(status="ready"))


@api.get(
    "/status",
    summary="How the instance is: the database, each PBX, the directory sync, alerting, Redis",
    role=Role.SUPERVISOR,
    response=ServiceStatus,
    tag="service",
)
async def status(call: Call) -> ServiceStatus:
    checks = await service_checks(call.runtime)
    if checks["database"] != "ok":
        return ServiceStatus(status="not ready", checks=checks)
    degraded = any(v not in ("ok", "standby") for v in checks.values())
    return ServiceStatus(status="degraded" if degraded else "ready", checks=checks)


async def _database_check() -> str:
    try:
        await asyncio.wait_for(get_connection("default").execute_query("SELECT 1"), READY_TIMEOUT)
        return "ok"
    except Exception as exc:  # any failure means "not ready"; say which
        return f"error: {type(exc).__name__}"


async def service_checks(runtime: Runtime) -> dict[str, str]:
    """Each dependency of the running app and how it is: ``ok``, ``standby`` (a PBX another instance listens
    to), or what is wrong."""
    checks: dict[str, str] = {"database": await _database_check()}
    for name, listener in runtime.pbx.items():
        if listener.role == "standby":  # another instance listens: this one is ready to take over
            checks[f"pbx:{name}"] = "standby"
            continue
        pbx = listener.connection.status()
        checks[f"pbx:{name}"] = (
            "ok" if pbx.ready else pbx.state.value + (f": {pbx.last_error}" if pbx.last_error else "")
        )
    if runtime.directory is not None and checks["database"] == "ok":
        checks["directory"] = await _directory_check()
    notify = runtime.alerting  # alerting: permanent delivery failures of the last day
    if notify is not None and checks["database"] == "ok":
        try:
            checks["alerting"] = await asyncio.wait_for(notify.problems(), READY_TIMEOUT)
        except Exception as exc:
            checks["alerting"] = f"error: {type(exc).__name__}"
    if getattr(runtime.live, "connected", True) is False:  # Redis: the console degrades, not intake
        checks["live"] = "redis unreachable: live events are off"
    return checks


async def _directory_check() -> str:
    """ok, or why callers are identified from an old (or no) copy of the directory."""
    try:
        status = await asyncio.wait_for(directory_status(True), READY_TIMEOUT)
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    if not status.synced:
        return "not synced yet" + (f": {status.last_error_kind}" if status.stale else "")
    if status.stale:
        return f"last sync failed ({status.last_error_kind}): callers identified from the sync of {status.last_sync_at}"
    return "ok"


@api.get("/openapi.json", summary="This document", role=Role.AGENT, tag="service")
async def openapi(call: Call) -> Response:
    document = document_of(call.request.app)
    return Response(json.dumps(document, ensure_ascii=False), media_type="application/json")
