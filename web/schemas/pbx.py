"""/api/v1/pbx and click to call: the PBX connections, originate."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from web.schemas.common import Input, _clean, _matching, _single_line


class PbxStatus(BaseModel):
    """One PBX connection and its listener."""

    name: str
    host: str
    port: int
    state: Literal["connecting", "connected", "auth_failed", "disconnected", "closed"]
    ready: bool
    last_error: str | None
    last_error_at: datetime | None
    connected_since: datetime | None
    logins: int
    reconnects: int
    connect_failures: int
    auth_failures: int
    fully_booted: bool | None = Field(description="false: the AMI user lacks the system read class")
    asterisk_version: str | None
    events_received: int
    events_ignored: int = Field(description="events the call tracker does not read, skipped unparsed")
    dropped_events: int
    malformed_frames: int
    invalid_utf8: int
    live_calls: int
    facts_applied: int
    fact_retries: int
    facts_failed: int
    burst_fallbacks: int = Field(description="bursts of call facts whose transaction failed: recorded one by one")
    bad_events: int
    resyncs: int
    resync_failures: int
    closed_out: int = Field(
        0,
        description="calls found open in the database at a resync that the PBX no longer "
        "had: they ended while no instance listened, and were closed out",
    )
    last_fact_at: datetime | None
    role: Literal["single", "leader", "standby"] = Field(
        description="single: the only instance (SQLite); leader: this instance listens to the PBX; standby: another "
        "instance does, this one takes over if it goes away"
    )


class PbxList(BaseModel):
    items: list[PbxStatus]


class Originate(Input):
    number: Annotated[
        str,
        Field(min_length=2, max_length=40),
        AfterValidator(_clean),
        _matching(r"^\+?[0-9 ().*#-]+$", "a phone number: digits, spaces, ( ) . - and a leading +"),
    ]
    pbx: Annotated[str, Field(max_length=32), AfterValidator(_clean), AfterValidator(_single_line)] | None = Field(
        None, description="Which PBX (default: the first)"
    )


class OriginateQueued(BaseModel):
    status: Literal["queued"]
    pbx: str
    extension: str = Field(description="The agent's phone, rung first")
    number: str = Field(description="The number dialled once the agent answers")
