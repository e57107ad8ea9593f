"""Service endpoints: liveness, readiness, the instance's status."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Readiness(BaseModel):
    """Unauthenticated, so it says nothing else (details: GET /api/v1/status, helpline check)."""

    status: Literal["ready", "not ready"] = Field(
        description="ready (200): the database answers; not ready (503): it does not"
    )


class ServiceStatus(BaseModel):
    """How this instance and what it depends on are."""

    status: Literal["ready", "degraded", "not ready"] = Field(
        description="not ready: the database does not answer; degraded: a PBX is not connected, the last directory "
        "sync failed, an alert could not be delivered in the last day, or Redis (live events) is "
        "unreachable. A PBX check reads 'standby' when another instance listens to it: that is ready"
    )
    checks: dict[str, str] = Field(
        description="database, pbx:NAME, directory, alerting, live: 'ok', 'standby' or what is wrong"
    )
