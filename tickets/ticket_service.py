"""Ticket use cases: open, edit, comment, assign, move through the workflow. Every change is logged.

Each public method is one database transaction; domain events are published after it commits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tickets import workflow
from tickets.actor import Actor
from tickets.callbacks import owed_since
from tickets.clock import Clock, utcnow
from tickets.errors import Conflict, Forbidden, InvalidField, NotFound, StaleVersion
from tickets.events import DomainEvent, Publisher, TicketCreated, TicketUpdated, no_publisher
from tickets.models import (
    Activity,
    ActivityKind,
    Agent,
    Channel,
    Counter,
    Level,
    Person,
    Role,
    Ticket,
    TicketStatus,
    TicketType,
)
from tickets.priority import PriorityMatrix
from tickets.search import ticket_text
from tickets.sla.clocks import SlaEngine
from tickets.text import is_blank
from tickets.transaction import publish_after_commit, unit_of_work

#: Fields that ``update`` may change. Status and assignee have their own operations.
EDITABLE = ("title", "description", "type", "impact", "urgency", "requester_id", "caller_number", "group")


@dataclass(frozen=True)
class CallNote:
    """What a phone call did to a ticket, for its history: ``state`` (offered, linked, answered, an outcome)."""

    state: str
    summary: str


@dataclass(frozen=True)
class NumberingPolicy:
    """How ticket numbers look: ``<prefix>-<n>``, ``n`` counting up from ``start``."""

    prefix: str = "IT"
    start: int = 1


class TicketService:
    """Opens and changes tickets on behalf of an :class:`Actor`."""

    def __init__(
        self,
        *,
        matrix: PriorityMatrix | None = None,
        numbering: NumberingPolicy | None = None,
        default_impact: Level = Level.MEDIUM,
        default_urgency: Level = Level.MEDIUM,
        vip_urgency: Level | None = Level.HIGH,
        clock: Clock = utcnow,
        publish: Publisher = no_publisher,
        sla: SlaEngine | None = None,
    ) -> None:
        self.matrix = matrix or PriorityMatrix()
        self.numbering = numbering or NumberingPolicy()
        self.default_impact = default_impact
        self.default_urgency = default_urgency
        self.vip_urgency = vip_urgency
        self.clock = clock
        self.publish = publish
        self.sla = sla  # keeps the tickets' SLA clocks in step, in the transaction of each change

    # -- reading -------------------------------------------------------------------------------------------

    async def get(self, ref: int | str) -> Ticket:
        """A ticket by id (``42``) or number (``IT-42``, any case)."""
        ticket = await self._find(ref)
        if ticket is None:
            raise NotFound(f"ticket {ref} does not exist")
        return ticket

    async def history(self, ticket_id: int, *, after: int | None = None, limit: int = 100) -> list[Activity]:
        """The ticket's activity, oldest first, from after the entry with id ``after``."""
        query = Activity.filter(ticket_id=ticket_id)
        if after is not None:
            query = query.filter(id__gt=after)
        return await query.order_by("id").limit(limit)

    # -- changing ------------------------------------------------------------------------------------------

    async def create(
        self,
        actor: Actor,
        *,
        title: str,
        description: str = "",
        type: TicketType = TicketType.INCIDENT,
        impact: Level | None = None,
        urgency: Level | None = None,
        channel: Channel = Channel.API,
        requester_id: int | None = None,
        caller_number: str | None = None,
        assignee: int | str | None = None,
        group: str | None = None,
        call: CallNote | None = None,
    ) -> Ticket:
        """Open a ticket; its priority follows from impact x urgency. ``assignee`` is an agent id or login.

        ``call``: the phone call that opens it, logged right after its creation.
        """
        impact = impact or self.default_impact
        now = self.clock()
        # Checked before the transaction: on SQLite every statement inside it holds up all other writers.
        # (People and agents are never deleted, so what is checked here still exists at the insert.)
        requester = await self._person(requester_id) if requester_id is not None else None
        if urgency is None:  # a VIP's ticket is more urgent (and so, by the matrix, of higher priority)
            urgency = (self.vip_urgency if requester is not None and requester.vip else None) or self.default_urgency
        agent = await self._assignable(assignee) if assignee is not None else None
        async with unit_of_work():
            number = await self._next_number()
            ticket = await Ticket.create(
                number=number,
                title=title,
                description=description,
                type=type,
                status=TicketStatus.NEW,
                impact=impact,
                urgency=urgency,
                priority=self.matrix.priority(impact.value, urgency.value),
                channel=channel,
                requester=requester,  # the loaded objects: the reply needs no second query for them
                caller_number=caller_number,
                assignee=agent,
                group=group,
                created_by_id=actor.agent_id,
                search_text=ticket_text(number, title, description),
                created_at=now,
                updated_at=now,
            )
            entries = [self._entry(ticket, actor, ActivityKind.CREATED, now, new_value=number)]
            if agent is not None:
                entries.append(
                    self._entry(ticket, actor, ActivityKind.ASSIGNED, now, field="assignee", new_value=agent.login)
                )
            if call is not None:
                entries.append(self._call_entry(ticket, actor, call, now))
            for entry in entries:
                await entry.save()
            if self.sla is not None:
                await self.sla.ticket_created(ticket, now)
        await self.emit(TicketCreated(ticket.id, ticket.number, actor.label))
        return ticket

    async def update(
        self, actor: Actor, ref: int | str, changes: Mapping[str, Any], *, if_version: int | None = None
    ) -> Ticket:
        """Change editable fields; each changed field is logged with its old and new value."""
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise InvalidField(sorted(unknown)[0], "cannot be changed by an update")
        now = self.clock()
        async with unit_of_work():
            ticket = await self._locked(ref, if_version)
            self._refuse_if_closed(ticket)
            if changes.get("requester_id") is not None:
                await self._person(changes["requester_id"])
            entries: list[Activity] = []
            for name in EDITABLE:
                if name not in changes:
                    continue
                old, new = getattr(ticket, name), changes[name]
                if _plain(old) == _plain(new):
                    continue
                setattr(ticket, name, new)
                entries.append(
                    self._entry(
                        ticket,
                        actor,
                        ActivityKind.FIELD_CHANGED,
                        now,
                        field=name.removesuffix("_id"),
                        old_value=_text(old),
                        new_value=_text(new),
                    )
                )
            if "impact" in changes or "urgency" in changes:
                priority = self.matrix.priority(Level(ticket.impact).value, Level(ticket.urgency).value)
                if priority != ticket.priority:
                    entries.append(
                        self._entry(
                            ticket,
                            actor,
                            ActivityKind.FIELD_CHANGED,
                            now,
                            field="priority",
                            old_value=ticket.priority,
                            new_value=priority,
                        )
                    )
                    ticket.priority = priority
            if not entries:
                return ticket
            await self._save(ticket, entries, now)
        await self.emit(TicketUpdated(ticket.id, ticket.number, actor.label, tuple(e.field or "" for e in entries)))
        return ticket

    async def comment(self, actor: Actor, ref: int | str, body: str, *, public: bool = False) -> Activity:
        """Add a comment: public (the requester may see it) or internal (agents only)."""
        now = self.clock()
        async with unit_of_work():
            ticket = await self._locked(ref, None)
            self._refuse_if_closed(ticket)
            entry = self._entry(ticket, actor, ActivityKind.COMMENT, now, body=body, public=public)
            if public and actor.is_agent and ticket.first_response_at is None:
                ticket.first_response_at = now
            await self._save(ticket, [entry], now)
        await self.emit(TicketUpdated(ticket.id, ticket.number, actor.label, ("comment",)))
        return entry

    async def note(self, actor: Actor, ticket_id: int, text: str, *, about: str | None = None) -> Activity:
        """A system line in the ticket's history, internal (agents only): something that happened around the ticket
        (an alert sent or acknowledged), not a change of it. The ticket's version stays as it is, so an agent's next
        change does not clash with it. ``about`` labels the line (e.g. ``alert``)."""
        now = self.clock()
        async with unit_of_work():
            number = await Ticket.filter(id=ticket_id).first().values_list("number", flat=True)
            if number is None:
                raise NotFound(f"ticket {ticket_id} does not exist")
            entry = await Activity.create(
                ticket_id=ticket_id,
                kind=ActivityKind.COMMENT,
                field=about,
                body=text,
                public=False,
                actor_id=actor.agent_id,
                actor_label=actor.label,
                created_at=now,
            )
            await self.emit(TicketUpdated(ticket_id, str(number), actor.label, ("note",)))
        return entry

    async def assign(
        self,
        actor: Actor,
        ref: int | str,
        *,
        assignee: int | str | None,
        group: str | None = None,
        change_group: bool = False,
        if_version: int | None = None,
    ) -> Ticket:
        """Give the ticket to an agent (id or login; ``None``: to nobody), optionally moving it to another group.

        An agent may assign an unassigned ticket or one of their own; taking a ticket from somebody else needs a
        supervisor.
        """
        now = self.clock()
        async with unit_of_work():
            ticket = await self._locked(ref, if_version)
            self._refuse_if_closed(ticket)
            current = ticket.assignee_id
            if current is not None and current != actor.agent_id and not actor.at_least(Role.SUPERVISOR):
                raise Forbidden("this ticket is assigned to another agent; only a supervisor can reassign it")
            entries: list[Activity] = []
            new = await self._assignable(assignee) if assignee is not None else None
            if (new.id if new else None) != current:
                old_login = (await Agent.get(id=current)).login if current is not None else None
                ticket.assignee_id = new.id if new else None
                entries.append(
                    self._entry(
                        ticket,
                        actor,
                        ActivityKind.ASSIGNED,
                        now,
                        field="assignee",
                        old_value=old_login,
                        new_value=new.login if new else None,
                    )
                )
            if change_group and group != ticket.group:
                entries.append(
                    self._entry(
                        ticket,
                        actor,
                        ActivityKind.FIELD_CHANGED,
                        now,
                        field="group",
                        old_value=ticket.group,
                        new_value=group,
                    )
                )
                ticket.group = group
            if not entries:
                return ticket
            await self._save(ticket, entries, now)
        await self.emit(TicketUpdated(ticket.id, ticket.number, actor.label, tuple(e.field or "" for e in entries)))
        return ticket

    async def transition(
        self,
        actor: Actor,
        ref: int | str,
        to: TicketStatus,
        *,
        resolution: str | None = None,
        comment: str | None = None,
        public: bool = False,
        if_version: int | None = None,
    ) -> Ticket:
        """Move the ticket to status ``to`` if the workflow allows it.

        Resolving needs a resolution text. Reopening (resolved/closed -> open) clears the resolution and counts
        the reopen. The first move out of ``new`` by an agent is the ticket's first response.
        """
        now = self.clock()
        async with unit_of_work():
            ticket = await self._locked(ref, if_version)
            if ticket.merged_into_id is not None:
                raise Conflict(f"ticket {ticket.number} was merged into another ticket; work on that one instead")
            current = TicketStatus(ticket.status)
            workflow.check(current, to)
            if to == TicketStatus.RESOLVED and is_blank(resolution):
                raise InvalidField("resolution", "is required to resolve a ticket: say what fixed it")
            entries = [self._move(ticket, actor, to, now, resolution=resolution)]
            if comment:
                entries.append(self._entry(ticket, actor, ActivityKind.COMMENT, now, body=comment, public=public))
            await self._save(ticket, entries, now)
        await self.emit(TicketUpdated(ticket.id, ticket.number, actor.label, ("status",)))
        return ticket

    async def record_call(
        self,
        actor: Actor,
        ref: int | str,
        call: CallNote,
        *,
        assign_to: Agent | None = None,
        open_as: Actor | None = None,
        retitle: tuple[tuple[str, ...], str] | None = None,
    ) -> Ticket:
        """Log what a phone call did to the ticket, with what follows from it, in one change.

        Allowed whatever the ticket's status: the call happened. Unless the ticket is closed: ``assign_to`` gets
        it if nobody has it; ``open_as`` opens a new ticket (an agent doing so gives its first response);
        ``retitle=(prefixes, new)`` replaces the title's prefix, one of ``prefixes``, by ``new``, as long as no agent
        ever changed the title (the title is then the agent's, whatever it starts with).
        """
        now = self.clock()
        async with unit_of_work():
            ticket = await self._locked(ref, None)
            entries = [self._call_entry(ticket, actor, call, now)]
            if ticket.status != TicketStatus.CLOSED:
                if assign_to is not None and ticket.assignee_id is None:
                    ticket.assignee_id = assign_to.id
                    entries.append(
                        self._entry(
                            ticket, actor, ActivityKind.ASSIGNED, now, field="assignee", new_value=assign_to.login
                        )
                    )
                if open_as is not None and ticket.status == TicketStatus.NEW:
                    entries.append(self._move(ticket, open_as, TicketStatus.OPEN, now))
                title = await self._retitled(ticket, *retitle) if retitle is not None else None
                if title is not None and title != ticket.title:
                    entries.append(
                        self._entry(
                            ticket,
                            actor,
                            ActivityKind.FIELD_CHANGED,
                            now,
                            field="title",
                            old_value=ticket.title,
                            new_value=title,
                        )
                    )
                    ticket.title = title
            await self._save(ticket, entries, now)
        await self.emit(TicketUpdated(ticket.id, ticket.number, actor.label, tuple(e.field or "" for e in entries)))
        return ticket

    # -- helpers -------------------------------------------------------------------------------------------

    @staticmethod
    async def _retitled(ticket: Ticket, prefixes: tuple[str, ...], new: str) -> str | None:
        """The ticket's title with its prefix (one of ``prefixes``) replaced by ``new``; None when it has none of
        them or an agent has changed the title."""
        old = next((p for p in prefixes if ticket.title.startswith(p)), None)
        if (
            old is None
            or await Activity.filter(
                ticket_id=ticket.id, kind=ActivityKind.FIELD_CHANGED, field="title", actor_id__isnull=False
            ).exists()
        ):
            return None
        return (new + ticket.title[len(old) :])[:200]

    @staticmethod
    def _key(ref: int | str) -> dict[str, Any] | None:
        if isinstance(ref, int) or (ref.isascii() and ref.isdigit()):
            value = int(ref)
            return {"id": value} if 0 < value < 2**31 else None
        if len(ref) > 32 or not ref.isascii() or not ref.isprintable():
            return None  # no ticket number looks like this; never hand such text to the database
        return {"number": ref.upper()}

    async def _find(self, ref: int | str) -> Ticket | None:
        key = self._key(ref)
        return await Ticket.get_or_none(**key) if key else None

    async def _locked(self, ref: int | str, if_version: int | None) -> Ticket:
        """The ticket, row-locked until the transaction ends (PostgreSQL; SQLite serialises writers anyway)."""
        key = self._key(ref)
        ticket = await Ticket.select_for_update().get_or_none(**key) if key else None
        if ticket is None:
            raise NotFound(f"ticket {ref} does not exist")
        if if_version is not None and ticket.version != if_version:
            raise StaleVersion(
                f"ticket {ticket.number} has changed since you read it (your version {if_version}, "
                f"now {ticket.version}); reload it and apply your change again"
            )
        return ticket

    def _move(
        self, ticket: Ticket, actor: Actor, to: TicketStatus, now: Any, *, resolution: str | None = None
    ) -> Activity:
        """Put the (locked, checked) ticket into status ``to``; the entry that logs it."""
        current = TicketStatus(ticket.status)
        if workflow.is_reopen(current, to):
            ticket.reopen_count += 1
            ticket.resolved_at = ticket.closed_at = ticket.resolution = None
        if to == TicketStatus.RESOLVED:
            ticket.resolved_at, ticket.resolution = now, resolution
        elif to == TicketStatus.CLOSED:
            ticket.closed_at = now
        if current == TicketStatus.NEW and actor.is_agent and ticket.first_response_at is None:
            ticket.first_response_at = now
        ticket.status = to
        return self._entry(
            ticket,
            actor,
            ActivityKind.STATUS_CHANGED,
            now,
            field="status",
            old_value=current.value,
            new_value=to.value,
            body=resolution,
        )

    @staticmethod
    def _refuse_if_closed(ticket: Ticket) -> None:
        if ticket.status == TicketStatus.CLOSED:
            raise Conflict(f"ticket {ticket.number} is closed; reopen it first")

    async def _save(self, ticket: Ticket, entries: list[Activity], now: Any) -> None:
        ticket.version += 1
        ticket.updated_at = now
        ticket.search_text = ticket_text(
            ticket.number,
            ticket.title,
            ticket.description,
            before=ticket.search_text,
            comments=[e.body for e in entries if e.kind == ActivityKind.COMMENT and e.body],
        )
        ticket.callback_since = owed_since(ticket, entries, now)
        await ticket.save()
        for entry in entries:
            await entry.save()
        if self.sla is not None:
            await self.sla.ticket_saved(ticket, entries, now)

    async def _next_number(self) -> str:
        """Take the next number. The counter row stays locked until the transaction ends: one statement
        (UPDATE ... RETURNING) instead of a locking read and a write keeps that short."""
        db = Counter._meta.db  # inside in_transaction(): the transaction's connection
        if _has_returning(db.capabilities.dialect):
            start = int(self.numbering.start)
            rows = await db.execute_query_dict(
                f"UPDATE counter SET value = CASE WHEN value + 1 < {start} THEN {start} ELSE value + 1 END "
                "WHERE name = 'ticket' RETURNING value"
            )
            if rows:
                return f"{self.numbering.prefix}-{rows[0]['value']}"
        counter = await Counter.select_for_update().get(name="ticket")
        counter.value = max(counter.value + 1, self.numbering.start)
        await counter.save(update_fields=["value"])
        return f"{self.numbering.prefix}-{counter.value}"

    @staticmethod
    async def _person(person_id: int) -> Person:
        person = await Person.get_or_none(id=person_id)
        if person is None:
            raise InvalidField("requester_id", f"there is no person with id {person_id}")
        return person

    @staticmethod
    async def _assignable(ref: int | str) -> Agent:
        agent = await (Agent.get_or_none(id=ref) if isinstance(ref, int) else Agent.get_or_none(login=ref))
        if agent is None:
            what = f"id {ref}" if isinstance(ref, int) else f"login {ref!r}"
            raise InvalidField("assignee", f"there is no agent with {what}")
        if not agent.active:
            raise InvalidField("assignee", f"agent {agent.login} is deactivated")
        return agent

    @classmethod
    def _call_entry(cls, ticket: Ticket, actor: Actor, call: CallNote, now: Any) -> Activity:
        return cls._entry(ticket, actor, ActivityKind.CALL, now, field="call", new_value=call.state, body=call.summary)

    @staticmethod
    def _entry(ticket: Ticket, actor: Actor, kind: ActivityKind, now: Any, **values: Any) -> Activity:
        return Activity(
            ticket=ticket, kind=kind, actor_id=actor.agent_id, actor_label=actor.label, created_at=now, **values
        )

    async def emit(self, event: DomainEvent) -> None:
        """Hand ``event`` to the publisher once the change it reports is committed (see tickets.transaction)."""
        await publish_after_commit(self.publish, event)


def _has_returning(dialect: str) -> bool:
    """Whether the database understands UPDATE ... RETURNING (SQLite since 3.35)."""
    return dialect == "postgres" or (dialect == "sqlite" and sqlite3.sqlite_version_info >= (3, 35))


def _plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


def _text(value: Any) -> str | None:
    value = _plain(value)
    return None if value is None else str(value)
