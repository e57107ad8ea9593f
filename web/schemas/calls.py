"""/api/v1/calls: calls to the IT line."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from web.schemas.common import Id, Query, _clean


class CallOut(BaseModel):
    """A call to the IT line."""

    id: int
    pbx: str
    linkedid: str = Field(description="Asterisk's Linkedid: one value for all channels of the call")
    ticket_id: int | None
    opened_ticket: bool = Field(description="This call opened its ticket (false: it was added to an open one)")
    state: Literal["offered", "ringing", "answered", "ended"]
    outcome: Literal["answered", "abandoned", "timeout", "hung_up_before_queue", "interrupted"] | None
    caller_number: str = Field(description="As the PBX sent it")
    caller_e164: str | None
    caller_name: str
    queue: str | None
    agent: str | None = Field(description="Login of the helpline agent who rang or answered, if known")
    agent_name: str | None = Field(description="The queue member's name as the PBX sent it")
    agent_extension: str | None
    wait_seconds: int | None
    talk_seconds: int | None
    ended_by: str | None
    voicemail: bool
    hangup_cause: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None


class CallPage(BaseModel):
    items: list[CallOut]
    next: str | None


class CallListQuery(Query):
    pbx: Annotated[str, Field(max_length=32), AfterValidator(_clean)] | None = None
    state: list[Literal["offered", "ringing", "answered", "ended"]] = Field(default_factory=list)
    outcome: list[Literal["answered", "abandoned", "timeout", "hung_up_before_queue", "interrupted"]] = Field(
        default_factory=list, description="Comma-separated outcomes; e.g. abandoned,timeout for missed calls"
    )
    caller: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_clean)] | None = Field(
        None, description="A phone number in any format; matches the same phone however the PBX wrote it"
    )
    agent: Annotated[str, Field(pattern=r"^(me|[a-z0-9][a-z0-9._-]{0,63})$")] | None = None
    ticket_id: Id | None = None
    limit: int = Field(50, ge=1, le=200)
    cursor: Annotated[str, Field(max_length=512)] | None = None
