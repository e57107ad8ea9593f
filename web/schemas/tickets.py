"""/api/v1/tickets: tickets, their history and comments, and the workflow's bodies."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from tickets.models import Channel, Level, TicketStatus, TicketType
from web.schemas.calls import CallOut
from web.schemas.common import (
    AgentRef,
    Body,
    Group,
    Id,
    Input,
    Login,
    LongText,
    PersonRef,
    PhoneText,
    Priority,
    Query,
    Title,
    _clean,
    _iso_datetime,
)
from web.schemas.sla import SlaClockOut


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


def _date_or_datetime(value: object) -> object:
    """A date (2026-11-01) or an ISO 8601 date-time, told apart by their form (pydantic would read a midnight
    date-time as a date, and a date as a midnight date-time)."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return date.fromisoformat(value)
    text = str(_iso_datetime(value)).upper()
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


DateOrDatetime = Annotated[datetime | date, BeforeValidator(_date_or_datetime)]
#: The work lists (tickets/views.py), in the order the desk shows them.
ViewId = Literal["unassigned", "mine", "team", "callbacks", "waiting", "at_risk", "resolved"]


class TicketListQuery(Query):
    view: ViewId | None = Field(
        None,
        description="Only the tickets of this work list (GET /views), in its order unless `sort` is given: "
        "`callbacks` the call back owed longest first, the others the most recently updated first.",
    )
    status: list[TicketStatus] = Field(default_factory=list, description="Comma-separated statuses.")
    priority: list[Priority] = Field(default_factory=list)
    type: list[TicketType] = Field(default_factory=list)
    channel: list[Channel] = Field(default_factory=list)
    assignee: list[Annotated[str, Field(pattern=r"^(me|none|[a-z0-9][a-z0-9._-]{0,63})$")]] = Field(
        default_factory=list, description="Agent logins; `me` for yourself, `none` for unassigned tickets."
    )
    requester_id: Id | None = None
    group: Group | None = None
    queue: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_clean)] | None = Field(
        None, description="Tickets with a call that entered this PBX queue."
    )
    created_from: DateOrDatetime | None = Field(
        None, description="Created at or after: a date (from its start, UTC) or a date-time with a time zone."
    )
    created_to: DateOrDatetime | None = Field(
        None, description="Created at or before: a date (to its end, UTC) or a date-time with a time zone."
    )
    q: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean)] | None = Field(
        None,
        description="Words in the number, title, description or comments, or in the requester's name "
        "(case-insensitive, any script). A ticket number (IT-3, it-3, 3) puts that ticket first.",
    )
    sort: Literal["-created", "created", "-updated", "updated", "priority"] | None = Field(
        None, description="Default: the view's order, else `-created`."
    )
    limit: int = Field(50, ge=1, le=200)
    cursor: Annotated[str, Field(max_length=512)] | None = Field(None, description="`next` of the previous page.")


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


class TicketLink(BaseModel):
    """Another ticket, as a related ticket is shown."""

    id: int
    number: str = Field(examples=["IT-12"])
    title: str
    status: TicketStatus


class TicketDetail(TicketOut):
    """A ticket with its calls, SLA clocks and related tickets."""

    calls: list[CallOut] = Field(description="Its calls, with those of the tickets merged into it")
    sla: list[SlaClockOut] = Field(default_factory=list, description="One clock per SLA target of the ticket")
    merged_into: TicketLink | None = Field(None, description="The ticket this one was merged into (it is closed)")
    merged: list[TicketLink] = Field(default_factory=list, description="The tickets merged into this one")
    parent: TicketLink | None = None
    children: list[TicketLink] = Field(default_factory=list)


#: A ticket named in a body: its number (IT-12, any case) or id.
TicketRef = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]{1,32}$", examples=["IT-12"])]


class Merge(Input):
    into: TicketRef = Field(description="The ticket to merge this one into (number or id).")


class SetParent(Input):
    parent: TicketRef = Field(description="The parent ticket (number or id).")


class TicketPage(BaseModel):
    items: list[TicketOut]
    next: str | None


class ActivityOut(BaseModel):
    id: int
    kind: Literal["created", "field_changed", "comment", "assigned", "status_changed", "call", "sla", "link"]
    field: str | None
    old: str | None
    new: str | None
    body: str | None
    public: bool
    actor: str = Field(description="Login of the agent, or the system part (e.g. pbx:main) that made the change.")
    created_at: datetime
    ticket: str | None = Field(
        None, description="The ticket the entry was written on, when it is a ticket merged into the one asked about."
    )


class CommentOut(ActivityOut):
    """The comment's history entry, and the version the comment gave the ticket (also its ETag)."""

    ticket_version: int = Field(
        description="The ticket's version after the comment: send it as If-Match on the next change of the ticket."
    )


class ActivityPage(BaseModel):
    items: list[ActivityOut]
    next: str | None


class ViewCount(BaseModel):
    id: ViewId
    count: int = Field(description="How many tickets the work list holds now.")


class ViewList(BaseModel):
    items: list[ViewCount]


class AgentLoadOut(BaseModel):
    login: str
    name: str
    open: int = Field(description="Open tickets (new, open, pending) assigned to the agent.")
    at_risk: int = Field(description="Of those, how many have an SLA target breached or past a warning.")


class TeamLoad(BaseModel):
    items: list[AgentLoadOut] = Field(description="Every active agent (and any other still holding open tickets).")
    unassigned: int = Field(description="Open tickets nobody has.")
