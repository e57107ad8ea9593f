"""SLA over HTTP: clocks, timelines, the clocks at risk, the report, policies and calendars."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from tickets.models import Channel, TicketStatus, TicketType
from web.schemas.common import Priority, Query, QueryDatetime

SlaMetric = Literal["first_response", "resolution", "callback"]


class SlaClockOut(BaseModel):
    """One SLA target of a ticket. Times are business time on the policy's calendar."""

    metric: SlaMetric
    policy: str
    calendar: str
    state: Literal["running", "paused", "met", "breached", "cancelled"] = Field(
        description="breached: the due moment passed before the target was met (the clock may still run); "
        "cancelled: the ticket was merged into another before the target was met or missed"
    )
    paused: bool = Field(description="Stopped by a pause status (pending by default)")
    target_seconds: int
    elapsed_seconds: int = Field(description="Business seconds counted so far")
    remaining_seconds: int = Field(description="Business seconds left; negative when overdue")
    percent_used: float
    started_at: datetime
    due_at: datetime | None = Field(
        description="When the target is missed if the clock keeps running; null while paused"
    )
    breached_at: datetime | None
    stopped_at: datetime | None = Field(description="When the target was achieved (met, or late)")
    warned: list[int] = Field(description="Warning thresholds (percent) already announced")


class SlaEventOut(BaseModel):
    id: int
    metric: SlaMetric
    kind: Literal[
        "started",
        "paused",
        "resumed",
        "warning",
        "breached",
        "met",
        "met_late",
        "reopened",
        "restarted",
        "retargeted",
        "cancelled",
    ]
    threshold: int | None
    detail: str | None
    at: datetime


class SlaTimeline(BaseModel):
    """The SLA clocks of a ticket and everything that happened to them, oldest first."""

    clocks: list[SlaClockOut]
    events: list[SlaEventOut]


class SlaAtRiskQuery(Query):
    metric: list[SlaMetric] = Field(default_factory=list, description="Comma-separated metrics; default: all")
    limit: int = Field(50, ge=1, le=200)


class SlaAtRiskItem(BaseModel):
    ticket_id: int
    number: str
    title: str
    priority: Priority
    status: TicketStatus
    assignee: str | None = Field(description="Login of the assigned agent")
    clock: SlaClockOut


class SlaAtRisk(BaseModel):
    """Running clocks, the soonest breach first (already breached ones at the top)."""

    items: list[SlaAtRiskItem]


class SlaReportQuery(Query):
    since: QueryDatetime | None = Field(None, description="Start of the period (default: 30 days ago)")
    until: QueryDatetime | None = Field(None, description="End of the period, exclusive (default: now)")
    by: Literal["policy", "metric", "group", "agent"] = "policy"
    metric: list[SlaMetric] = Field(default_factory=list, description="Comma-separated metrics; default: all")
    format: Literal["json", "csv"] = Field("json", description="csv: the rows as text/csv, for spreadsheets")


class SlaReportRow(BaseModel):
    key: str | None = Field(description="The policy, metric, group or agent login (null: no group / unassigned)")
    met: int = Field(description="Targets met in time, achieved in the period")
    breached: int = Field(description="Targets breached in the period (whether achieved later or still open)")
    met_percent: float | None = Field(description="met / (met + breached), in percent; null without any")


class SlaReport(BaseModel):
    since: datetime
    until: datetime
    by: str
    rows: list[SlaReportRow]
    total: SlaReportRow


class SlaMatchOut(BaseModel):
    priority: list[Priority] = Field(default_factory=list)
    type: list[TicketType] = Field(default_factory=list)
    group: list[str] = Field(default_factory=list)
    channel: list[Channel] = Field(default_factory=list)
    vip: bool | None = None


class SlaPolicyOut(BaseModel):
    name: str
    match: SlaMatchOut = Field(description="All given conditions must hold; empty matches every ticket")
    calendar: str
    first_response_seconds: int | None
    resolution_seconds: int | None
    callback_seconds: int | None
    warn_at: list[int]
    pause_statuses: list[TicketStatus]


class SlaPolicyList(BaseModel):
    """The policies in the order they are tried; the first match applies."""

    items: list[SlaPolicyOut]


class SlaCalendarOut(BaseModel):
    name: str
    timezone: str
    always: bool = Field(description="Round the clock (the built-in 24x7)")
    hours: dict[str, list[str]] = Field(description="Working intervals per weekday (mon..sun), local time")
    country: str | None = Field(description="Public holidays of this country (the holidays package)")
    subdivision: str | None
    extra_days_off: list[str]
    half_days: dict[str, list[str]] = Field(description="Dates with their own hours")
    day_hours: float = Field(description="The hours of a working day: what a target of 1d means on this calendar")


class SlaCalendarList(BaseModel):
    items: list[SlaCalendarOut]
