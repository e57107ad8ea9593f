"""Storage models of the ticket domain (tortoise-orm).

Datetimes are aware UTC (tortoise's ``use_tz``). Timestamps are set by the services from their clock, not by the
database, so that tests and the SLA engine can control time. ``search_text`` columns hold the case-folded words a
text search matches (SQLite's LIKE folds ASCII only; folding in Python makes Cyrillic and Thai searches work on
both databases).
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeAlias, cast

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

#: tortoise 1.1 types every TextField as ``str``; a nullable one holds None too (the cast changes nothing at run time)
_NullableText: TypeAlias = "fields.Field[str | None]"


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
    SLA = "sla"  #: an SLA target was warned about, breached or met late
    LINK = "link"  #: a relation to another ticket: merged into or from it, its parent or a child, set or removed


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
    #: argon2id hash of the console password (None: the agent cannot log in to the console, only use tokens)
    password_hash = fields.CharField(max_length=255, null=True)
    #: Console language chosen by the agent (en, ru or th, None: from the browser)
    language = fields.CharField(max_length=8, null=True)
    #: IANA time zone chosen by the agent (None: that of the business calendar, else UTC)
    time_zone = fields.CharField(max_length=64, null=True)

    tokens: fields.ReverseRelation[ApiToken]

    class Meta:
        table = "agent"


class ApiToken(Model):
    """A bearer token of an agent. Only its SHA-256 is stored, the token itself is shown once."""

    id = fields.IntField(primary_key=True)
    agent: fields.ForeignKeyRelation[Agent] = fields.ForeignKeyField(
        "tickets.Agent", related_name="tokens", on_delete=fields.CASCADE
    )
    agent_id: int
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
    # Active Directory: the objectGUID of the user, set by the directory sync (null for people entered by hand)
    directory_guid = fields.CharField(max_length=36, null=True, unique=True)
    # disabled in the directory (userAccountControl bit 2), or gone from it after a complete sync: never matched
    disabled = fields.BooleanField(default=False)
    # when the directory sync last saw this person
    synced_at = fields.DatetimeField(null=True)
    # the office (AD physicalDeliveryOfficeName) and country (AD c, ISO 3166 two letters), set by the directory sync
    office = fields.CharField(max_length=128, null=True)
    country = fields.CharField(max_length=2, null=True)

    class Meta:
        table = "person"


class CallerAlias(Model):
    """A number an agent linked to a person: every caller lookup answers it first, no directory sync changes it."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=64, unique=True)  # E.164 or ext:NNN, as caller numbers are compared
    number = fields.CharField(max_length=64)  # E.164, or the extension
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "tickets.Person", related_name=False, on_delete=fields.CASCADE
    )
    person_id: int
    created_by: fields.ForeignKeyNullableRelation[Agent] = fields.ForeignKeyField(
        "tickets.Agent", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    created_by_label = fields.CharField(max_length=64)  # the login, kept when the agent is gone
    created_at = fields.DatetimeField()

    class Meta:
        table = "caller_alias"
        indexes = [Index(fields=("person_id",), name="caller_alias_person_idx")]


class CallerIndexEntry(Model):
    """The synced caller index: one row per person and number key (E.164 or ext:NNN), rebuilt by each sync."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=64)
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "tickets.Person", related_name=False, on_delete=fields.CASCADE
    )
    person_id: int
    attribute = fields.CharField(max_length=64)  # the directory attribute the number came from
    written = fields.CharField(max_length=128)  # the number as written in the directory

    class Meta:
        table = "caller_index"
        unique_together = (("key", "person_id"),)
        indexes = [Index(fields=("person_id",), name="caller_index_person_idx")]


class DirectorySyncRun(Model):
    """One directory sync: when it ran, whether it completed, what it changed or why it failed."""

    id = fields.IntField(primary_key=True)
    started_at = fields.DatetimeField()
    finished_at = fields.DatetimeField()
    ok = fields.BooleanField()
    dry_run = fields.BooleanField(default=False)
    server = fields.CharField(max_length=255, null=True)
    people = fields.IntField(default=0)  # people read from the directory
    numbers = fields.IntField(default=0)  # index rows written
    added = fields.IntField(default=0)
    changed = fields.IntField(default=0)
    disabled = fields.IntField(default=0)
    removed = fields.IntField(default=0)
    error_kind = fields.CharField(max_length=32, null=True)
    error = cast(_NullableText, fields.TextField(null=True))

    class Meta:
        table = "directory_sync"
        indexes = [Index(fields=("ok", "id"), name="directory_sync_ok_idx")]


class DirectoryUsnState(Model):
    """Where the last directory sync left off, so the next one reads only what changed (uSNChanged)."""

    id = fields.IntField(primary_key=True)
    # the directory this is about: one per installation ("default")
    source = fields.CharField(max_length=32, unique=True)
    # the server URI that answered the last sync
    server = fields.CharField(max_length=255, null=True)
    # the DC's NTDS Settings DN (rootDSE dsServiceName); null when the server has no USNs (not AD)
    dc_name = fields.CharField(max_length=512, null=True)
    # the DC database's invocationId: a restored DC gets a new one, and its old USNs are void
    invocation_id = fields.CharField(max_length=36, null=True)
    # the DC's highestCommittedUSN read before the last sync's search
    highest_usn = fields.BigIntField(null=True)
    # fingerprint of base_dn, user_filter, phone_attributes and vip_group the USN is valid for
    scope = fields.CharField(max_length=64, null=True)
    # when the last complete (full) sync finished: removals are only seen by a full sync
    full_sync_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "directory_usn"


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
    requester_id: int | None
    caller_number = fields.CharField(max_length=64, null=True)
    assignee: fields.ForeignKeyNullableRelation[Agent] = fields.ForeignKeyField(
        "tickets.Agent", related_name="assigned_tickets", null=True, on_delete=fields.SET_NULL
    )
    assignee_id: int | None
    group = fields.CharField(max_length=64, null=True, source_field="group_name")
    created_by: fields.ForeignKeyNullableRelation[Agent] = fields.ForeignKeyField(
        "tickets.Agent", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    resolution = cast(_NullableText, fields.TextField(null=True))
    search_text = fields.TextField(default="")
    reopen_count = fields.IntField(default=0)
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    first_response_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    #: the ticket this one was merged into (a duplicate): it is closed, and its calls and history live on there
    merged_into: fields.ForeignKeyNullableRelation[Ticket] = fields.ForeignKeyField(
        "tickets.Ticket", related_name="merged", null=True, on_delete=fields.SET_NULL
    )
    merged_into_id: int | None
    merged_at = fields.DatetimeField(null=True)
    #: the ticket this one is part of (an outage and the tickets it caused)
    parent: fields.ForeignKeyNullableRelation[Ticket] = fields.ForeignKeyField(
        "tickets.Ticket", related_name="children", null=True, on_delete=fields.SET_NULL
    )
    parent_id: int | None
    #: since when a call back is owed: a call nobody answered, from a number to call back, and no agent has acted
    #: since (tickets/callbacks.py); null when none is owed. The "callbacks" work list, oldest first.
    callback_since = fields.DatetimeField(null=True)

    activities: fields.ReverseRelation[Activity]

    class Meta:
        table = "ticket"
        indexes = [
            Index(fields=("status", "id"), name="ticket_status_id_idx"),
            Index(fields=("priority", "id"), name="ticket_priority_id_idx"),
            Index(fields=("assignee_id", "id"), name="ticket_assignee_id_idx"),
            Index(fields=("requester_id", "id"), name="ticket_requester_id_idx"),
            Index(fields=("updated_at", "id"), name="ticket_updated_id_idx"),
            Index(fields=("merged_into_id",), name="ticket_merged_into_idx"),
            Index(fields=("parent_id",), name="ticket_parent_idx"),
            # the work lists (tickets/views.py): counted at every view switch, and their pages by status, most
            # recently updated first (tickets/listing.py reads one status at a time)
            Index(fields=("status", "assignee_id", "updated_at", "id"), name="ticket_status_assignee_idx"),
            Index(fields=("status", "updated_at", "id"), name="ticket_status_updated_idx"),
            Index(fields=("callback_since", "status", "id"), name="ticket_callback_idx"),  # counted covering
            Index(fields=("resolved_at", "id"), name="ticket_resolved_idx"),
            Index(fields=("closed_at", "id"), name="ticket_closed_idx"),
        ]


class CannedResponse(Model):
    """A reply an agent reuses: personal (owner set) or shared by the team (owner null).

    The body may hold placeholders (ticket.number and the like in double braces), filled in from a ticket by
    tickets/canned.py.
    """

    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=200)
    body = fields.TextField()
    owner: fields.ForeignKeyNullableRelation[Agent] = fields.ForeignKeyField(
        "tickets.Agent", related_name=False, null=True, on_delete=fields.CASCADE
    )
    owner_id: int | None
    created_by: fields.ForeignKeyNullableRelation[Agent] = fields.ForeignKeyField(
        "tickets.Agent", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    updated_by: fields.ForeignKeyNullableRelation[Agent] = fields.ForeignKeyField(
        "tickets.Agent", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    updated_by_id: int | None
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "canned_response"
        indexes = [Index(fields=("owner_id", "title"), name="canned_response_owner_idx")]


class Activity(Model):
    """One entry in the history of a ticket. Append-only: saving an existing row or deleting one raises.

    (Model docstrings become SQL table comments, unescaped, and the SQLite migrator splits statements on
    semicolons: no apostrophes or semicolons in them. tests/tickets/test_models.py checks.)
    """

    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "tickets.Ticket", related_name="activities", on_delete=fields.CASCADE
    )
    ticket_id: int
    kind = fields.CharEnumField(ActivityKind, max_length=16)
    field = fields.CharField(max_length=32, null=True)
    old_value = cast(_NullableText, fields.TextField(null=True))
    new_value = cast(_NullableText, fields.TextField(null=True))
    body = cast(_NullableText, fields.TextField(null=True))
    public = fields.BooleanField(default=False)
    actor: fields.ForeignKeyNullableRelation[Agent] = fields.ForeignKeyField(
        "tickets.Agent", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    actor_id: int | None
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
    ticket_id: int | None
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
    agent_id: int | None
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
            Index(fields=("pbx", "state"), name="call_pbx_state_idx"),  # the calls still open, at every resync
            Index(fields=("queue", "ticket_id"), name="call_queue_ticket_idx"),  # tickets by the queue they came in
        ]


class SlaState(str, Enum):
    """Where an SLA clock stands: counting, stopped for a pause status, achieved in time, missed, or cancelled."""

    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"
    CANCELLED = "cancelled"  #: stopped unmet and not late: the ticket was merged into another, whose targets count


class SlaClock(Model):
    """One SLA target of a ticket (first response, resolution, callback), timed in business time.

    The scheduler wakes at next_event_at (indexed): the next warning or the breach of an open, running clock.
    """

    id = fields.IntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "tickets.Ticket", related_name="sla_clocks", on_delete=fields.CASCADE
    )
    ticket_id: int
    metric = fields.CharField(max_length=24)
    policy = fields.CharField(max_length=64)  # the policy in force when the clock started or was re-targeted
    calendar = fields.CharField(max_length=64)
    target_seconds = fields.IntField()
    warn_at = fields.CharField(max_length=64, default="")  # percentages of the target, comma separated
    warned = fields.CharField(max_length=64, default="")  # percentages already announced in this cycle
    state = fields.CharEnumField(SlaState, max_length=16, default=SlaState.RUNNING)
    paused = fields.BooleanField(default=False)  # stopped by a pause status (also after a breach)
    started_at = fields.DatetimeField()
    running_since = fields.DatetimeField(null=True)  # start of the current running stretch, null if paused or stopped
    elapsed_seconds = fields.FloatField(default=0)  # business seconds counted before running_since
    due_at = fields.DatetimeField(null=True)  # null while paused
    next_event_at = fields.DatetimeField(null=True)  # next warning or breach, null when none is pending
    breached_at = fields.DatetimeField(null=True)
    stopped_at = fields.DatetimeField(null=True)  # the target was achieved (in time or late)
    cycle = fields.IntField(default=1)  # a new cycle: a callback clock on each new missed call, a reopened ticket
    version = fields.IntField(default=1)  # bumped on every change, compared when the scheduler writes
    updated_at = fields.DatetimeField()

    events: fields.ReverseRelation[SlaEvent]

    class Meta:
        table = "sla_clock"
        unique_together = (("ticket_id", "metric"),)
        indexes = [
            Index(fields=("next_event_at",), name="sla_clock_next_event_idx"),
            Index(fields=("paused", "stopped_at", "due_at"), name="sla_clock_open_due_idx"),  # at risk, soonest first
            Index(fields=("stopped_at", "ticket_id"), name="sla_clock_open_ticket_idx"),  # the tickets at risk
        ]


class SlaEvent(Model):
    """A step in the life of an SLA clock: started, paused, resumed, warning, breached, met, retargeted.

    A warning or a breach carries a dedupe key (per cycle and threshold), unique per clock: it happens once.
    """

    id = fields.IntField(primary_key=True)
    clock: fields.ForeignKeyRelation[SlaClock] = fields.ForeignKeyField(
        "tickets.SlaClock", related_name="events", on_delete=fields.CASCADE
    )
    clock_id: int
    ticket_id = fields.IntField()
    kind = fields.CharField(max_length=16)
    metric = fields.CharField(max_length=24)
    threshold = fields.IntField(null=True)  # the percentage of a warning
    dedupe = fields.CharField(max_length=32, null=True)
    detail = cast(_NullableText, fields.TextField(null=True))
    at = fields.DatetimeField()
    cycle = fields.IntField(null=True)  # of a warning or a breach: the clock cycle it belongs to
    due_at = fields.DatetimeField(null=True)  # of a warning or a breach: the due moment of the target then

    class Meta:
        table = "sla_event"
        unique_together = (("clock_id", "dedupe"),)
        indexes = [Index(fields=("ticket_id", "id"), name="sla_event_ticket_idx")]


class ExpiringMark(Model):
    """A short-lived fact shared by every helpline instance (login attempts, ended sessions, handled webhooks).

    One row per kind and key: attempts counted within a window, or something marked done until it expires.
    An expired row means nothing and is purged (web/http/shared_marks.py).
    """

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=32)
    key = fields.CharField(max_length=200)
    count = fields.IntField(default=1)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "expiring_mark"
        unique_together = (("kind", "key"),)
        indexes = [Index(fields=("expires_at",), name="expiring_mark_expires_idx")]
