"""Shapes of the alerting API (/api/v1/oncall, /api/v1/alerts): request bodies, queries, responses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, model_validator

from web.schemas.common import Input, Query, _clean, _single_line

ShortName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class ShiftOut(BaseModel):
    start: datetime
    end: datetime
    person: str | None
    override: bool = Field(description="An override (holiday, swap) rather than the rotation.")


class ScheduleOnCall(BaseModel):
    name: str
    timezone: str
    now: str | None = Field(description="Who is on call right now.")
    shifts: list[ShiftOut] = Field(description="From now to the end of the period, in order.")


class OnCallOut(BaseModel):
    at: datetime
    until: datetime
    schedules: list[ScheduleOnCall]


class OnCallQuery(Query):
    days: int = Field(14, ge=1, le=62, description="How far ahead to list the shifts.")


class OverrideIn(Input):
    schedule: ShortName
    person: ShortName
    start: AwareDatetime
    end: AwareDatetime
    reason: Annotated[str, Field(max_length=200), AfterValidator(_clean), AfterValidator(_single_line)] = ""

    @model_validator(mode="after")
    def _order(self) -> OverrideIn:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class OverrideOut(BaseModel):
    id: int
    schedule: str
    person: str
    start: datetime
    end: datetime
    reason: str
    created_by: str
    created_at: datetime


class OverrideList(BaseModel):
    items: list[OverrideOut]


class DeliveryOut(BaseModel):
    id: int
    step: int
    round: int
    channel: Literal["sms", "slack", "slack_update"]
    target: str
    person: str | None
    status: Literal["queued", "sending", "sent", "failed", "cancelled"]
    due_at: datetime
    attempts: int
    provider_id: str | None
    provider_status: str | None
    error_code: str | None
    last_error: str | None
    sent_at: datetime | None


class AlertOut(BaseModel):
    id: int
    ticket_id: int
    reason: str
    policy: str
    state: Literal["open", "acknowledged", "resolved"]
    summary: str
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None = Field(
        description="The on-call person (or agent login) who acknowledged; "
        "slack:<member id> for a Slack user not on the on-call list"
    )
    acknowledged_via: str | None = Field(
        description="Who did it on the channel: the Slack user (member id and name) who pressed Acknowledge"
    )
    ack_channel: str | None
    resolved_at: datetime | None
    last_error: str | None = Field(description="The latest permanent delivery failure.")
    deliveries: list[DeliveryOut]


class AlertList(BaseModel):
    items: list[AlertOut]


class AlertQuery(Query):
    state: list[Literal["open", "acknowledged", "resolved"]] = Field(
        default_factory=list, description="Comma-separated states."
    )
    limit: int = Field(50, ge=1, le=200)
