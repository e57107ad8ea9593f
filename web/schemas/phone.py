"""/api/v1/agents/me/phone, /pause, /unpause: the agent's own phone and queue state."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from web.schemas.common import Input, _clean, _single_line

_Queue = Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_clean), AfterValidator(_single_line)]


class QueueMembershipOut(BaseModel):
    queue: str
    paused: bool
    reason: str | None = Field(description="Why the agent is paused in this queue (None: not paused, or no reason)")


class AgentPhone(BaseModel):
    """The agent's phone as helpline's link to the PBX last heard of it."""

    pbx_link: Literal["up", "down"] = Field(description="down: helpline does not hear the PBX now; the rest is stale")
    pbx: str | None = Field(description="The PBX the phone is on (None: no PBX configured)")
    extension: str | None = Field(description="The agent's extension (None: none set; an admin sets it)")
    registered: bool | None = Field(description="Whether the phone is registered/reachable (None: not known)")
    state: Literal["free", "ringing", "in_call", "paused", "unknown"]
    reason: str | None = Field(description="The pause reason when paused")
    queues: list[QueueMembershipOut] = Field(description="The IT-line queues the phone is a member of")


class PauseRequest(Input):
    reason: Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_clean), AfterValidator(_single_line)]
    queue: _Queue | None = Field(None, description="Pause in this queue only (default: every IT-line queue)")


class UnpauseRequest(Input):
    queue: _Queue | None = Field(None, description="Unpause in this queue only (default: every IT-line queue)")
