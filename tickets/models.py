"""Storage models of the ticket domain (tortoise-orm).

Datetimes are aware UTC (tortoise's ``use_tz``). Timestamps are set by the services from their clock, not by the
database, so that tests and the SLA engine can control time. ``search_text`` columns hold the case-folded words a
text search matches (SQLite's LIKE folds ASCII only; folding in Python makes Cyrillic and Thai searches work on
both databases).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class TicketType(str, Enum):
    INCIDENT = "incident"
    SERVICE_REQUEST = "service_request"


class TicketStatus(str, Enum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Level(str, Enum):
    """Impact and urgency levels (ITIL)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Channel(str, Enum):
    PHONE = "phone"
    WEB = "web"
    API = "api"
    EMAIL = "email"


class Role(str, Enum):
    """What an agent may do; each role includes the one before it."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return ("agent", "supervisor", "admin").index(self.value)


class ActivityKind(str, Enum):
    CREATED = "created"
    FIELD_CHANGED = "field_changed"
    COMMENT = "comment"
    ASSIGNED = "assigned"
    STATUS_CHANGED = "status_changed"
    CALL = "call"  #: a phone call was offered, answered, missed or linked to the ticket


class CallState(str, Enum):
    """How far a call has got; it only ever moves forward."""

    OFFERED = "offered"
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"

    @property
    def rank(self) -> int:
        return ("offered", "ringing", "answered", "ended").index(self.value)


class CallOutcome(str, Enum):
    """How a call ended (the PBX listener's outcomes)."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    TIMEOUT = "timeout"
    HUNG_UP_BEFORE_QUEUE = "hung_up_before_queue"
    INTERRUPTED = "interrupted"

    @property
    def missed(self) -> bool:
        """The caller did not get to talk to anyone: somebody should call back."""
        return self is not CallOutcome.ANSWERED


class Counter(Model):
    """A named, gap-free counter (ticket numbers). Incremented inside the transaction that uses the value."""

    name = fields.CharField(max_length=32, primary_key=True)
    value = fields.BigIntField(default=0)

    class Meta:
        table = "counter"


class Agent(Model):
    """A member of the IT team who works tickets (and, later, answers calls)."""

    id = fields.IntField(primary_key=True)
    login = fields.CharField(max_length=64, unique=True)
    display_name = fields.CharField(max_length=200)
    role = fields.CharEnumField(Role, max_length=16, default=Role.AGENT)
    extension = fields.CharField(max_length=32, null=True, unique=True)
    email = fields.CharField(max_length=254, null=True)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    tokens: fields.ReverseRelation[ApiToken]

    class Meta:
        table = "agent"


class ApiToken(Model):
    """A bearer token of an agent. Only its SHA-256 is stored, the token itself is shown once."""

    id = fields.IntField(primary_key=True)
    agent: fields.ForeignKeyRelation[Agent] = fields.ForeignKeyField(
        "tickets.Agent", related_name="tokens", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=64)
    token_hash = fields.CharField(max_length=64, unique=True)
    hint = fields.CharField(max_length=16)
    created_at = fields.DatetimeField()
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"


class Person(Model):
    """Someone who asks for help: the requester of tickets (later filled from Active Directory)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    email = fields.CharField(max_length=254, null=True)
    phone = fields.CharField(max_length=64, null=True)
    phone_key = fields.CharField(max_length=64, null=True, db_index=True)  # E.164 or ext:NNN of the phone
    department = fields.CharField(max_length=128, null=True)
    title = fields.CharField(max_length=128, null=True)
    external_id = fields.CharField(max_length=255, null=True, unique=True)
    vip = fields.BooleanField(default=False)
    search_text = fields.TextField(default="")
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "person"


class Ticket(Model):
    """An incident or a service request."""

    id = fields.IntField(primary_key=True)
    number = fields.CharField(max_length=32, unique=True)
    title = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    type = fields.CharEnumField(TicketType, max_length=16, default=TicketType.INCIDENT)
    status = fields.CharEnumField(TicketStatus, max_length=16, default=TicketStatus.NEW)
    impact = fields.CharEnumField(Level, max_length=8)
    urgency = fields.CharEnumField(Level, max_length=8)
    priority = fields.CharField(max_length=2)
    channel = fields.CharEnumField(Channel, max_length=8, default=Channel.API)
    requester: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "tickets.Person", related_name="tickets", null=True, on_delete=fields.SET_NULL
    )
    caller_number = fields.CharField(max_length=64, null=True)
    assignee: fields.ForeignKeyNullableRelation[Agent] = fields.ForeignKeyField(
        "tickets.Agent", related_name="assigned_tickets", null=True, on_delete=fields.SET_NULL
    )
    group = fields.CharField(max_length=64, null=True, source_field="group_name")
    created_by: fields.ForeignKeyNullableRelation[Agent] = fields.ForeignKeyField(
        "tickets.Agent", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    resolution = fields.TextField(null=True)
    search_text = fields.TextField(default="")
    reopen_count = fields.IntField(default=0)
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    first_response_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)

    activities: fields.ReverseRelation[Activity]

    class Meta:
        table = "ticket"
        indexes = [
            Index(fields=("status", "id"), name="ticket_status_id_idx"),
            Index(fields=("priority", "id"), name="ticket_priority_id_idx"),
            Index(fields=("assignee_id", "id"), name="ticket_assignee_id_idx"),
            Index(fields=("requester_id", "id"), name="ticket_requester_id_idx"),
            Index(fields=("updated_at", "id"), name="ticket_updated_id_idx"),
        ]


class Activity(Model):
    """One entry in the history of a ticket. Append-only: saving an existing row or deleting one raises.

    (Model docstrings become SQL table comments, unescaped, and the SQLite migrator splits statements on
    semicolons: no apostrophes or semicolons in them. tests/test_models.py checks.)
    """

    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "tickets.Ticket", related_name="activities", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(ActivityKind, max_length=16)
    field = fields.CharField(max_length=32, null=True)
    old_value = fields.TextField(null=True)
    new_value = fields.TextField(null=True)
    body = fields.TextField(null=True)
    public = fields.BooleanField(default=False)
    actor: fields.ForeignKeyNullableRelation[Agent] = fields.ForeignKeyField(
        "tickets.Agent", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    actor_label = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()

    class Meta:
        table = "activity"
        indexes = [Index(fields=("ticket_id", "id"), name="activity_ticket_id_idx")]

    async def save(self, *args: Any, **kwargs: Any) -> None:
        if self._saved_in_db:
            raise PermissionError("activity entries are append-only")
        await super().save(*args, **kwargs)

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        raise PermissionError("activity entries are append-only")


class Call(Model):
    """A call to the IT line, as the PBX reported it. One row per call: unique on (pbx, linkedid)."""

    id = fields.IntField(primary_key=True)
    pbx = fields.CharField(max_length=32)
    linkedid = fields.CharField(max_length=64)
    ticket: fields.ForeignKeyNullableRelation[Ticket] = fields.ForeignKeyField(
        "tickets.Ticket", related_name="calls", null=True, on_delete=fields.SET_NULL
    )
    opened_ticket = fields.BooleanField(default=False)  # this call opened its ticket (it was not linked to one)
    state = fields.CharEnumField(CallState, max_length=16, default=CallState.OFFERED)
    outcome = fields.CharEnumField(CallOutcome, max_length=24, null=True)
    caller_number = fields.CharField(max_length=64)
    caller_e164 = fields.CharField(max_length=20, null=True)
    caller_key = fields.CharField(max_length=64, null=True)
    caller_name = fields.CharField(max_length=200)
    queue = fields.CharField(max_length=64, null=True)
    agent: fields.ForeignKeyNullableRelation[Agent] = fields.ForeignKeyField(
        "tickets.Agent", related_name="calls", null=True, on_delete=fields.SET_NULL
    )
    agent_name = fields.CharField(max_length=200, null=True)
    agent_extension = fields.CharField(max_length=32, null=True)
    wait_seconds = fields.IntField(null=True)
    talk_seconds = fields.IntField(null=True)
    ended_by = fields.CharField(max_length=16, null=True)
    voicemail = fields.BooleanField(default=False)
    hangup_cause = fields.CharField(max_length=64, null=True)
    started_at = fields.DatetimeField()
    answered_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "phone_call"
        unique_together = (("pbx", "linkedid"),)
        indexes = [
            Index(fields=("caller_key", "started_at"), name="call_caller_started_idx"),
            Index(fields=("ticket_id", "id"), name="call_ticket_id_idx"),
            Index(fields=("started_at", "id"), name="call_started_id_idx"),
        ]
