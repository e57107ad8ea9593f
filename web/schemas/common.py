"""Shapes of the JSON API: request bodies and query strings (validated) and responses (documented).

Every model here appears in the OpenAPI document, which is generated from these classes, so the document and the
validation cannot drift apart.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from tickets.models import Channel, Level, Role, TicketStatus, TicketType
from tickets.priority import PRIORITIES
from tickets.text import is_blank, line_break_or_control


def _clean(value: str) -> str:
    """Refuse text a database cannot store faithfully: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (it contains a lone surrogate)") from None
    return value


def _not_blank(value: str) -> str:
    if is_blank(value):
        raise ValueError("must not be blank (white space and invisible characters such as U+200B do not count)")
    return value


def _single_line(value: str) -> str:
    """Refuse control characters and line or paragraph separators in text that is one line: a name, a title. They
    would break the headers, messages and logs it ends up in."""
    char = line_break_or_control(value)
    if char is not None:
        raise ValueError(f"must be one line without control characters (it contains U+{ord(char):04X})")
    return value


Text = Annotated[str, AfterValidator(_clean)]
Title = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean), AfterValidator(_single_line),
                  AfterValidator(_not_blank)]
LongText = Annotated[str, Field(max_length=20_000), AfterValidator(_clean)]
Body = Annotated[str, Field(min_length=1, max_length=20_000), AfterValidator(_clean), AfterValidator(_not_blank)]
Group = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_clean), AfterValidator(_single_line),
                  AfterValidator(_not_blank)]
PhoneText = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_clean), AfterValidator(_single_line)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean), AfterValidator(_single_line),
                 AfterValidator(_not_blank)]
Short = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_clean), AfterValidator(_single_line)]
def _matching(pattern: str, explanation: str) -> AfterValidator:
    """Validate ``pattern`` with a message people understand (the pattern itself is in the OpenAPI schema)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(explanation)
        return value

    return AfterValidator(check)


#: No "@" or white space around one "@". The class is spelt out because "\s" means different things to Python and
#: to the ECMA regexes of JSON Schema clients.
_NOT_IN_EMAIL = r"@\t\n\v\f\r \x1c-\x1f\x85\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
EMAIL_PATTERN = rf"^[^{_NOT_IN_EMAIL}]+@[^{_NOT_IN_EMAIL}]+$"
Email = Annotated[str, Field(max_length=254, json_schema_extra={"pattern": EMAIL_PATTERN}), AfterValidator(_clean),
                  AfterValidator(_single_line), _matching(EMAIL_PATTERN, "must look like name@example.com")]
LOGIN_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
Login = Annotated[str, Field(json_schema_extra={"pattern": LOGIN_PATTERN}),
                  _matching(LOGIN_PATTERN, "use 1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit")]
EXTENSION_PATTERN = r"^[0-9A-Za-z*#+._-]{1,32}$"
Extension = Annotated[str, Field(json_schema_extra={"pattern": EXTENSION_PATTERN}),
                      _matching(EXTENSION_PATTERN, "use 1-32 digits or letters (and * # + . _ -), e.g. 101")]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
Priority = Literal["P1", "P2", "P3", "P4"]
assert PRIORITIES == ("P1", "P2", "P3", "P4")


class Input(BaseModel):
    """Base of request bodies: unknown fields are rejected, types are not coerced from strings."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Base of query strings: values arrive as text and are converted."""

    model_config = ConfigDict(extra="forbid")


# -- tickets -------------------------------------------------------------------------------------------------


class TicketCreate(Input):
    title: Title
    description: LongText = ""
    type: TicketType = TicketType.INCIDENT
    impact: Level | None = Field(None, description="Defaults to [tickets] default_impact.")
    urgency: Level | None = Field(None, description="Defaults to [tickets] default_urgency.")
    channel: Channel = Channel.API
    requester_id: Id | None = None
    caller_number: PhoneText | None = None
    assignee: Login | None = Field(None, description="Login of the agent to assign the ticket to.")
    group: Group | None = None


class TicketPatch(Input):
    """A partial update: only the fields present change; ``null`` clears a nullable field."""

    #: Why some fields that a ticket has are refused here (shown instead of "unknown field").
    hints: ClassVar[dict[str, str]] = {
        "status": "is changed by POST /api/v1/tickets/{ref}/transitions",
        "assignee": "is changed by POST /api/v1/tickets/{ref}/assign",
        "priority": "follows from impact and urgency: change those",
    }

    title: Title = None  # type: ignore[assignment]
    description: LongText = None  # type: ignore[assignment]
    type: TicketType = None  # type: ignore[assignment]
    impact: Level = None  # type: ignore[assignment]
    urgency: Level = None  # type: ignore[assignment]
    requester_id: Id | None = None
    caller_number: PhoneText | None = None
    group: Group | None = None


class CommentCreate(Input):
    body: Body
    public: bool = Field(False, description="Public comments are meant for the requester; internal ones for agents.")


class Assign(Input):
    assignee: Login | None = Field(description="Login of the new assignee, or null to unassign.")
    group: Group | None = Field(None, description="Also move the ticket to this group (null: no group).")


class Transition(Input):
    to: TicketStatus
    resolution: LongText | None = Field(None, description="Required when resolving.")
    comment: Body | None = None
    public: bool = Field(False, description="Whether the comment is public.")


class TicketListQuery(Query):
    status: list[TicketStatus] = Field(default_factory=list, description="Comma-separated statuses.")
    priority: list[Priority] = Field(default_factory=list)
    type: list[TicketType] = Field(default_factory=list)
    channel: list[Channel] = Field(default_factory=list)
    assignee: list[Annotated[str, Field(pattern=r"^(me|none|[a-z0-9][a-z0-9._-]{0,63})$")]] = Field(
        default_factory=list, description="Agent logins; `me` for yourself, `none` for unassigned tickets."
    )
    requester_id: Id | None = None
    group: Group | None = None
    q: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean)] | None = Field(
        None, description="Words in the number, title or description (case-insensitive, any script)."
    )
    sort: Literal["-created", "created", "-updated", "updated", "priority"] = "-created"
    limit: int = Field(50, ge=1, le=200)
    cursor: Annotated[str, Field(max_length=512)] | None = Field(None, description="`next` of the previous page.")


class PageQuery(Query):
    limit: int = Field(50, ge=1, le=200)
    cursor: Annotated[str, Field(max_length=512)] | None = None


class PeopleQuery(PageQuery):
    q: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean)] | None = None


class AgentListQuery(PageQuery):
    active: bool | None = None


class PersonRef(BaseModel):
    id: int
    name: str
    email: str | None
    phone: str | None
    department: str | None
    title: str | None
    vip: bool


class AgentRef(BaseModel):
    id: int
    login: str
    display_name: str
    extension: str | None


class TicketOut(BaseModel):
    id: int
    number: str = Field(examples=["IT-1042"])
    title: str
    description: str
    type: TicketType
    status: TicketStatus
    priority: Priority
    impact: Level
    urgency: Level
    channel: Channel
    requester: PersonRef | None
    caller_number: str | None
    assignee: AgentRef | None
    group: str | None
    resolution: str | None
    reopen_count: int
    version: int = Field(description="Changes on every update; send it back as If-Match to avoid lost updates.")
    allowed_transitions: list[TicketStatus]
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None


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
        default_factory=list, description="Comma-separated outcomes; e.g. abandoned,timeout for missed calls")
    caller: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_clean)] | None = Field(
        None, description="A phone number in any format; matches the same phone however the PBX wrote it")
    agent: Annotated[str, Field(pattern=r"^(me|[a-z0-9][a-z0-9._-]{0,63})$")] | None = None
    ticket_id: Id | None = None
    limit: int = Field(50, ge=1, le=200)
    cursor: Annotated[str, Field(max_length=512)] | None = None


class TicketDetail(TicketOut):
    """A ticket with its calls and SLA clocks."""

    calls: list[CallOut]
    sla: list[SlaClockOut] = Field(default_factory=list, description="One clock per SLA target of the ticket")


class TicketPage(BaseModel):
    items: list[TicketOut]
    next: str | None


class ActivityOut(BaseModel):
    id: int
    kind: Literal["created", "field_changed", "comment", "assigned", "status_changed", "call", "sla"]
    field: str | None
    old: str | None
    new: str | None
    body: str | None
    public: bool
    actor: str = Field(description="Login of the agent, or the system part (e.g. pbx:main) that made the change.")
    created_at: datetime


class CommentOut(ActivityOut):
    """The comment's history entry, and the version the comment gave the ticket (also its ETag)."""

    ticket_version: int = Field(description="The ticket's version after the comment: send it as If-Match on the "
                                            "next change of the ticket.")


class ActivityPage(BaseModel):
    items: list[ActivityOut]
    next: str | None


# -- people --------------------------------------------------------------------------------------------------


class PersonCreate(Input):
    name: Name
    email: Email | None = None
    phone: PhoneText | None = None
    department: Short | None = None
    title: Short | None = None
    external_id: Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_clean),
                           AfterValidator(_single_line)] | None = None
    vip: bool = False


class PersonPatch(Input):
    name: Name = None  # type: ignore[assignment]
    email: Email | None = None
    phone: PhoneText | None = None
    department: Short | None = None
    title: Short | None = None
    external_id: Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_clean),
                           AfterValidator(_single_line)] | None = None
    vip: bool = None  # type: ignore[assignment]


class PersonOut(PersonRef):
    external_id: str | None
    created_at: datetime
    updated_at: datetime


class PersonPage(BaseModel):
    items: list[PersonOut]
    next: str | None


# -- agents and tokens ---------------------------------------------------------------------------------------


class AgentCreate(Input):
    login: Login
    display_name: Name
    role: Role = Role.AGENT
    extension: Extension | None = None
    email: Email | None = None


class AgentPatch(Input):
    display_name: Name = None  # type: ignore[assignment]
    role: Role = None  # type: ignore[assignment]
    extension: Extension | None = None
    email: Email | None = None
    active: bool = None  # type: ignore[assignment]


class AgentOut(AgentRef):
    role: Role
    email: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


class AgentPage(BaseModel):
    items: list[AgentOut]
    next: str | None


class TokenCreate(Input):
    name: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_clean), AfterValidator(_single_line)] = \
        "default"


class TokenOut(BaseModel):
    id: int
    name: str
    hint: str = Field(description="The first characters of the token, to tell tokens apart.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenIssued(TokenOut):
    token: str = Field(description="The secret. Shown only in this response: store it now.")


class TokenList(BaseModel):
    items: list[TokenOut]


class AgentCreated(AgentOut):
    token: str = Field(description="A first API token for the agent. Shown only in this response.")


# -- service -------------------------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Readiness(BaseModel):
    """Unauthenticated, so it says nothing else (details: GET /api/v1/status, helpline check)."""

    status: Literal["ready", "not ready"] = Field(
        description="ready (200): the database answers; not ready (503): it does not")


class ServiceStatus(BaseModel):
    """How this instance and what it depends on are."""

    status: Literal["ready", "degraded", "not ready"] = Field(
        description="not ready: the database does not answer; degraded: a PBX is not connected, the last directory "
                    "sync failed, an alert could not be delivered in the last day, or Redis (live events) is "
                    "unreachable. A PBX check reads 'standby' when another instance listens to it: that is ready")
    checks: dict[str, str] = Field(description="database, pbx:NAME, directory, alerting, live: 'ok', 'standby' or "
                                               "what is wrong")


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
    closed_out: int = Field(0, description="calls found open in the database at a resync that the PBX no longer "
                                           "had: they ended while no instance listened, and were closed out")
    last_fact_at: datetime | None
    role: Literal["single", "leader", "standby"] = Field(
        description="single: the only instance (SQLite); leader: this instance listens to the PBX; standby: another "
                    "instance does, this one takes over if it goes away")


class PbxList(BaseModel):
    items: list[PbxStatus]


class Originate(Input):
    number: Annotated[str, Field(min_length=2, max_length=40), AfterValidator(_clean),
                      _matching(r"^\+?[0-9 ().*#-]+$", "a phone number: digits, spaces, ( ) . - and a leading +")]
    pbx: Annotated[str, Field(max_length=32), AfterValidator(_clean), AfterValidator(_single_line)] | None = Field(
        None, description="Which PBX (default: the first)")


class OriginateQueued(BaseModel):
    status: Literal["queued"]
    pbx: str
    extension: str = Field(description="The agent's phone, rung first")
    number: str = Field(description="The number dialled once the agent answers")


class DirectoryStatusOut(BaseModel):
    """The Active Directory sync and the caller index it feeds."""

    configured: bool = Field(description="false: no [directory] servers; callers match people entered by hand")
    synced: bool = Field(description="a sync has completed at least once (else lookups answer unavailable)")
    stale: bool = Field(description="the latest sync failed: callers are identified from the last good one")
    last_sync_at: datetime | None = Field(description="end of the last successful sync")
    last_attempt_at: datetime | None
    age_seconds: float | None = Field(description="seconds since the last successful sync")
    people: int = Field(description="enabled people from the directory")
    disabled_people: int
    numbers: int = Field(description="rows in the caller index (person x number)")
    sync_interval_seconds: float | None
    last_error_kind: str | None = Field(description="unreachable, timeout, bad_credentials, tls, tls_required, "
                                        "size_limit, permission, protocol, or removal_guard (a warning)")
    last_error: str | None
    last_full_sync_at: datetime | None = Field(description="end of the last full sync (people removed from the "
                                               "directory are seen by full syncs only: [directory] full_sync_interval)")
    dc: str | None = Field(description="the server the next incremental sync asks for its changes (uSNChanged); "
                           "null: the next sync is a full one")


class Problem(BaseModel):
    """An error, as RFC 9457 ``application/problem+json``."""

    type: str = Field(description="Stable identifier of the kind of problem.")
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending field or query parameter.")
    detail: str


Problem.model_rebuild()


# -- SLA -----------------------------------------------------------------------------------------------------

SlaMetric = Literal["first_response", "resolution", "callback"]


class SlaClockOut(BaseModel):
    """One SLA target of a ticket. Times are business time on the policy's calendar."""

    metric: SlaMetric
    policy: str
    calendar: str
    state: Literal["running", "paused", "met", "breached"] = Field(
        description="breached: the due moment passed before the target was met (the clock may still run)")
    paused: bool = Field(description="Stopped by a pause status (pending by default)")
    target_seconds: int
    elapsed_seconds: int = Field(description="Business seconds counted so far")
    remaining_seconds: int = Field(description="Business seconds left; negative when overdue")
    percent_used: float
    started_at: datetime
    due_at: datetime | None = Field(
        description="When the target is missed if the clock keeps running; null while paused")
    breached_at: datetime | None
    stopped_at: datetime | None = Field(description="When the target was achieved (met, or late)")
    warned: list[int] = Field(description="Warning thresholds (percent) already announced")


class SlaEventOut(BaseModel):
    id: int
    metric: SlaMetric
    kind: Literal["started", "paused", "resumed", "warning", "breached", "met", "met_late", "reopened", "restarted",
                  "retargeted"]
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


def _iso_datetime(value: object) -> object:
    """Query strings: an ISO 8601 date-time only (pydantic would also read "0.5" as a Unix time)."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?"
                                                     r"([Zz]|[+-]\d{2}:\d{2})?", value):
        raise ValueError("write a date-time such as 2026-11-01T00:00:00Z")
    return value


QueryDatetime = Annotated[datetime, BeforeValidator(_iso_datetime)]


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
