"""Relations between tickets: merging a duplicate into another ticket, and parent / child links.

Merging ``IT-7`` into ``IT-12`` closes IT-7 for good (``merged_into`` set, resolution "Merged into IT-12", its SLA
clocks stopped), moves its calls and its child tickets to IT-12 and writes a line in both histories. IT-7's own
history is not copied: it stays on IT-7 (readable there, pointing to IT-12) and is listed with IT-12's
(:meth:`TicketLinks.history`), each entry saying which ticket it was written on. One copy of every comment and
call line, so nothing can drift apart, and a chain (IT-3 into IT-7, then IT-7 into IT-12) shows everything on IT-12.

A merged ticket is final: it is never merged again, never a merge target, never a parent, and cannot be reopened.
So no chain of merges can go round in a circle, and two merges of the same ticket into two targets cannot both win:
both lock the two tickets (in id order) and the second finds the ticket merged already.

Parent and child: a ticket has at most one parent; a parent never descends from its child (no cycles). Changes of
the tree are serialised (a transaction-scoped advisory lock on PostgreSQL; SQLite serialises writers anyway), so
two concurrent links cannot close a cycle between them.

Links do not change the version of either ticket (like :meth:`TicketService.note`): an agent editing the parent
while somebody links a child to it does not get a 412 for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tickets.actor import Actor
from tickets.clock import Clock, utcnow
from tickets.errors import Conflict, InvalidField, NotFound, StaleVersion
from tickets.events import Publisher, TicketUpdated, no_publisher
from tickets.models import Activity, ActivityKind, Call, Ticket, TicketStatus
from tickets.sla.clocks import SlaEngine
from tickets.transaction import publish_after_commit, unit_of_work

#: How deep a parent chain or a chain of merges is followed (far beyond any real one; a guard, not a rule).
MAX_DEPTH = 1000
#: The key of the PostgreSQL advisory lock that serialises changes of the parent / child tree.
TREE_LOCK = 0x48_4C_54_52  # "HLTR"


@dataclass(frozen=True)
class Relations:
    """A ticket's neighbours: where it was merged, what was merged into it, its parent and children."""

    merged_into: Ticket | None
    merged: list[Ticket] = field(default_factory=list)
    parent: Ticket | None = None
    children: list[Ticket] = field(default_factory=list)


class TicketLinks:
    """Merges tickets and links parents and children, on behalf of an :class:`Actor`."""

    def __init__(self, *, clock: Clock = utcnow, publish: Publisher = no_publisher, sla: SlaEngine | None = None):
        self.clock = clock
        self.publish = publish
        self.sla = sla

    # -- reading -------------------------------------------------------------------------------------------

    async def relations(self, ticket: Ticket) -> Relations:
        """The tickets related to ``ticket`` (the merged ones and the children oldest first)."""
        ids = [i for i in (ticket.merged_into_id, ticket.parent_id) if i is not None]
        near = {t.id: t for t in await Ticket.filter(id__in=ids)} if ids else {}
        merged = await Ticket.filter(merged_into_id=ticket.id).order_by("id")
        children = await Ticket.filter(parent_id=ticket.id).order_by("id")
        return Relations(
            merged_into=near.get(ticket.merged_into_id) if ticket.merged_into_id is not None else None,
            merged=list(merged),
            parent=near.get(ticket.parent_id) if ticket.parent_id is not None else None,
            children=list(children),
        )

    async def merged_into_this(self, ticket_id: int) -> dict[int, str]:
        """Every ticket merged into ``ticket_id``, directly or through a chain: id -> number."""
        found: dict[int, str] = {}
        frontier = [ticket_id]
        for _ in range(MAX_DEPTH):
            rows = await Ticket.filter(merged_into_id__in=frontier).values_list("id", "number")
            frontier = [i for i, _ in rows if i not in found and i != ticket_id]
            if not frontier:
                break
            found.update((int(i), str(n)) for i, n in rows)
        return found

    async def history(self, ticket_id: int, *, after: int | None = None, limit: int = 100) -> list[Activity]:
        """The ticket's history with that of every ticket merged into it, oldest first (by entry id)."""
        ids = [ticket_id, *await self.merged_into_this(ticket_id)]
        query = Activity.filter(ticket_id__in=ids)
        if after is not None:
            query = query.filter(id__gt=after)
        return await query.order_by("id").limit(limit)

    # -- merging -------------------------------------------------------------------------------------------

    async def merge(self, actor: Actor, ref: int | str, into: int | str, *, if_version: int | None = None) -> Ticket:
        """Merge ticket ``ref`` into ticket ``into``; the merged ticket, now closed.

        Merging a ticket again into the ticket it was merged into changes nothing (a retried request). Refused:
        into itself or into an unknown ticket (:class:`InvalidField`), a ticket merged already, into a merged or
        closed ticket, into a ticket below it in the parent / child tree (:class:`Conflict`).
        """
        source = await self._get(ref)
        target = await self._find(into)
        if target is None:
            raise InvalidField("into", f"there is no ticket {into}")
        if target.id == source.id:
            raise InvalidField("into", f"a ticket cannot be merged into itself ({source.number})")
        now = self.clock()
        async with unit_of_work():
            await self._lock_tree()
            source, target = await self._lock_pair(source.id, target.id)
            if source.merged_into_id == target.id:
                return source  # done already: a retried request (its If-Match is that of before the merge)
            if if_version is not None and source.version != if_version:
                raise StaleVersion(
                    f"ticket {source.number} has changed since you read it (your version {if_version}, "
                    f"now {source.version}); reload it and apply your change again"
                )
            await self._refuse_merge(source, target)
            moved_calls = await Call.filter(ticket_id=source.id).update(ticket_id=target.id)
            children = await Ticket.filter(parent_id=source.id)
            owed = source.callback_since
            entries = self._close_merged(actor, source, target, now)
            source.callback_since = None
            if owed is not None and (target.callback_since is None or owed < target.callback_since):
                # the caller still waits for a call back: the duplicate's debt moves with its calls
                target.callback_since = owed
                await target.save(update_fields=["callback_since"])
            source.version += 1
            source.updated_at = now
            await source.save()
            for entry in entries:
                await entry.save()
            if self.sla is not None:
                await self.sla.ticket_merged(source, target.number, now)
            summary = f"{source.number} merged into this ticket: {source.title}"
            if moved_calls:
                summary += f" ({moved_calls} call{'s' if moved_calls != 1 else ''} moved here)"
            await self._line(actor, target, now, "merged_from", new=source.number, body=summary)
            for child in children:
                child.parent_id = target.id
                await child.save(update_fields=["parent_id"])
                await self._line(actor, child, now, "parent", old=source.number, new=target.number)
                await self._line(actor, target, now, "child", new=child.number)
        await self._emit(source, actor, "status", "merged_into")
        await self._emit(target, actor, "merged_from", *(("calls",) if moved_calls else ()))
        for child in children:
            await self._emit(child, actor, "parent")
        return source

    async def _refuse_merge(self, source: Ticket, target: Ticket) -> None:
        if source.merged_into_id is not None:
            raise Conflict(f"ticket {source.number} is merged into {await self._number(source.merged_into_id)} already")
        if target.merged_into_id is not None:
            chain = await self._merge_chain(target)
            if source.id in chain:
                raise Conflict(
                    f"ticket {target.number} was merged into {source.number}: merging {source.number} into it "
                    "would go round in a circle"
                )
            final = await self._number(chain[-1]) if chain else "another ticket"
            raise Conflict(
                f"ticket {target.number} was merged into {await self._number(target.merged_into_id)}; "
                f"merge into {final} instead"
            )
        if target.status == TicketStatus.CLOSED:
            raise Conflict(f"ticket {target.number} is closed; reopen it before merging into it")
        if source.id in await self._ancestors(target):
            raise Conflict(
                f"ticket {target.number} is below {source.number} in the parent / child tree; "
                f"remove that link before merging {source.number} into it"
            )

    @staticmethod
    def _close_merged(actor: Actor, source: Ticket, target: Ticket, now: datetime) -> list[Activity]:
        """Close ``source`` as merged into ``target`` (not saved); the history entries that say so."""
        old = TicketStatus(source.status)
        source.status = TicketStatus.CLOSED
        source.closed_at = now
        source.merged_into_id = target.id
        source.merged_at = now
        source.resolution = f"Merged into {target.number}"
        status = _entry(
            actor,
            source,
            ActivityKind.STATUS_CHANGED,
            now,
            field="status",
            old_value=old.value,
            new_value=TicketStatus.CLOSED.value,
            body=source.resolution,
        )
        link = _entry(
            actor,
            source,
            ActivityKind.LINK,
            now,
            field="merged_into",
            new_value=target.number,
            body=f"Merged into {target.number}: {target.title}",
        )
        return [status, link]

    # -- parent and child ----------------------------------------------------------------------------------

    async def set_parent(self, actor: Actor, ref: int | str, parent: int | str) -> Ticket:
        """Make ``parent`` the parent of ticket ``ref`` (replacing its parent, if any); the child."""
        child = await self._get(ref)
        found = await self._find(parent)
        if found is None:
            raise InvalidField("parent", f"there is no ticket {parent}")
        if found.id == child.id:
            raise InvalidField("parent", f"a ticket cannot be its own parent ({child.number})")
        now = self.clock()
        old_parent: Ticket | None = None
        async with unit_of_work():
            await self._lock_tree()
            child, new = await self._lock_pair(child.id, found.id)
            if child.parent_id == new.id:
                return child
            for t in (child, new):
                if t.merged_into_id is not None:
                    raise Conflict(
                        f"ticket {t.number} was merged into {await self._number(t.merged_into_id)}; link that one"
                    )
            if child.id in await self._ancestors(new):
                raise InvalidField(
                    "parent",
                    f"ticket {new.number} is below {child.number} in the parent / child tree; "
                    f"{child.number} cannot be its child too (that would be a circle)",
                )
            if child.parent_id is not None:
                old_parent = await Ticket.get(id=child.parent_id)
            child.parent_id = new.id
            await child.save(update_fields=["parent_id"])
            await self._line(actor, child, now, "parent", old=old_parent.number if old_parent else None, new=new.number)
            await self._line(actor, new, now, "child", new=child.number, body=child.title)
            if old_parent is not None:
                await self._line(actor, old_parent, now, "child", old=child.number, body=child.title)
        await self._emit(child, actor, "parent")
        await self._emit(new, actor, "children")
        if old_parent is not None:
            await self._emit(old_parent, actor, "children")
        return child

    async def clear_parent(self, actor: Actor, ref: int | str) -> Ticket:
        """Remove the parent of ticket ``ref`` (nothing happens when it has none); the child."""
        child = await self._get(ref)
        now = self.clock()
        async with unit_of_work():
            await self._lock_tree()
            (child,) = await self._lock(child.id)
            if child.parent_id is None:
                return child
            old_parent = await Ticket.get(id=child.parent_id)
            child.parent_id = None
            await child.save(update_fields=["parent_id"])
            await self._line(actor, child, now, "parent", old=old_parent.number)
            await self._line(actor, old_parent, now, "child", old=child.number, body=child.title)
        await self._emit(child, actor, "parent")
        await self._emit(old_parent, actor, "children")
        return child

    # -- helpers -------------------------------------------------------------------------------------------

    async def _get(self, ref: int | str) -> Ticket:
        ticket = await self._find(ref)
        if ticket is None:
            raise NotFound(f"ticket {ref} does not exist")
        return ticket

    @staticmethod
    async def _find(ref: int | str) -> Ticket | None:
        return await find_ticket(ref)

    @staticmethod
    async def _lock(*ids: int) -> list[Ticket]:
        """The tickets, row-locked until the transaction ends, in the order of ``ids`` (locked in id order, so
        that two changes of the same two tickets cannot deadlock)."""
        rows = {t.id: t for t in await Ticket.select_for_update().filter(id__in=ids).order_by("id")}
        missing = [i for i in ids if i not in rows]
        if missing:
            raise NotFound(f"ticket {missing[0]} does not exist")
        return [rows[i] for i in ids]

    async def _lock_pair(self, a: int, b: int) -> tuple[Ticket, Ticket]:
        first, second = await self._lock(a, b)
        return first, second

    @staticmethod
    async def _lock_tree() -> None:
        """Serialise changes of the parent / child tree and of merges (PostgreSQL; SQLite serialises writers)."""
        db = Ticket._meta.db  # inside in_transaction(): the transaction's connection
        if db.capabilities.dialect == "postgres":
            await db.execute_query(f"SELECT pg_advisory_xact_lock({TREE_LOCK})")

    @staticmethod
    async def _ancestors(ticket: Ticket) -> list[int]:
        """The ids up the parent chain of ``ticket`` (its parent first)."""
        found: list[int] = []
        current = ticket.parent_id
        while current is not None and current not in found and len(found) < MAX_DEPTH:
            found.append(current)
            current = await _column(current, "parent_id")
        return found

    @staticmethod
    async def _merge_chain(ticket: Ticket) -> list[int]:
        """The ids a merged ticket leads to (where it was merged, where that one was merged...)."""
        found: list[int] = []
        current = ticket.merged_into_id
        while current is not None and current not in found and len(found) < MAX_DEPTH:
            found.append(current)
            current = await _column(current, "merged_into_id")
        return found

    @staticmethod
    async def _number(ticket_id: int) -> str:
        number = await Ticket.filter(id=ticket_id).first().values_list("number", flat=True)
        return str(number) if number is not None else f"ticket {ticket_id}"

    async def _line(
        self,
        actor: Actor,
        ticket: Ticket,
        now: datetime,
        what: str,
        *,
        old: str | None = None,
        new: str | None = None,
        body: str | None = None,
    ) -> None:
        """A link line in ``ticket``'s history (``what``: merged_into, merged_from, parent, child)."""
        await _entry(actor, ticket, ActivityKind.LINK, now, field=what, old_value=old, new_value=new, body=body).save()

    async def _emit(self, ticket: Ticket, actor: Actor, *changes: str) -> None:
        await publish_after_commit(self.publish, TicketUpdated(ticket.id, ticket.number, actor.label, changes))


async def _column(ticket_id: int, name: str) -> int | None:
    """An id column (``parent_id``, ``merged_into_id``) of a ticket; None when empty or the ticket is gone."""
    rows: list[Any] = list(await Ticket.filter(id=ticket_id).values_list(name, flat=True))
    return int(rows[0]) if rows and rows[0] is not None else None


async def find_ticket(ref: int | str) -> Ticket | None:
    """A ticket by id (``42``) or number (``IT-42``, any case); None for anything that is neither."""
    if isinstance(ref, int) or (ref.isascii() and ref.isdigit()):
        value = int(ref)
        return await Ticket.get_or_none(id=value) if 0 < value < 2**31 else None
    if len(ref) > 32 or not ref.isascii() or not ref.isprintable():
        return None  # no ticket number looks like this; never hand such text to the database
    return await Ticket.get_or_none(number=ref.upper())


def _entry(actor: Actor, ticket: Ticket, kind: ActivityKind, now: datetime, **values: Any) -> Activity:
    return Activity(
        ticket=ticket, kind=kind, actor_id=actor.agent_id, actor_label=actor.label, created_at=now, **values
    )
