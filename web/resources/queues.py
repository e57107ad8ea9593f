"""/api/v1/queues: the queue board now, for a console that connects mid-day (then ``queue.stats`` live events)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from tickets.models import Role
from web.api import Api, Call

api = Api()


class QueueMemberOut(BaseModel):
    name: str = Field(description="The member's name in the queue, e.g. 'Alice Agent'")
    extension: str | None = Field(description="The extension read from the member's interface (None: a named endpoint)")
    interface: str = Field(description="e.g. 'PJSIP/4001', 'Local/101@agents'")
    state: Literal["available", "busy", "paused", "unavailable"]
    paused_reason: str


class QueueStatsOut(BaseModel):
    pbx: str
    queue: str
    at: datetime = Field(description="The PBX time these figures are of")
    waiting: int = Field(ge=0, description="Calls in the queue, not answered yet")
    longest_wait_seconds: int = Field(ge=0, description="How long the longest-waiting call has waited, up to now")
    available: int = Field(ge=0)
    busy: int = Field(ge=0)
    paused: int = Field(ge=0)
    unavailable: int = Field(ge=0)
    day: date = Field(description="The (server-local) day the counters are of")
    answered_today: int = Field(ge=0)
    abandoned_today: int = Field(ge=0, description="The caller hung up while waiting")
    timed_out_today: int = Field(ge=0, description="The queue gave up (queue timeout)")
    answered_in_time_today: int = Field(
        0, ge=0, description="Answered after waiting at most service_level_seconds ([[pbx]] service_level)"
    )
    service_level_seconds: int = Field(20, ge=0)
    service_level: float | None = Field(
        None,
        ge=0,
        le=1,
        description="answered_in_time_today / (answered + abandoned + timed out today); null: no call today",
    )
    members: list[QueueMemberOut]


class QueueList(BaseModel):
    items: list[QueueStatsOut]


@api.get(
    "/queues",
    summary="The queues now: calls waiting, longest wait, members and the day's counters",
    role=Role.AGENT,
    response=QueueList,
    tag="calls",
)
async def list_queues(call: Call) -> QueueList:
    """Supervisors see every queue; an agent the queues they are a member of (and those whose members are not
        known). The day's counters cover the whole (server-local) day: after a restart or a takeover they start from
    the calls recorded today."""
    registry = call.runtime.live.queues
    agent = call.agent
    assert agent is not None
    everything = Role(agent.role).rank >= Role.SUPERVISOR.rank
    items = [
        item
        for item in registry.snapshot()
        if everything or registry.sees(agent.extension, agent.display_name, item["pbx"], item["queue"])
    ]
    return QueueList.model_validate({"items": items})
