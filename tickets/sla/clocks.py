"""SLA clocks of tickets, moved by ticket changes inside the transaction of the change.

* created: a clock per target of the first matching policy (first response, resolution); the policy stays
  attached to the ticket;
* a pause status (``pending`` by default) pauses the open clocks, leaving it resumes them; resolving stops them
  (met, or breached when late); reopening resumes the resolution clock with its elapsed time, in a new cycle (its
  later warnings are new ones for alerting, even if the due moment did not move);
* the first response (``Ticket.first_response_at``) stops the first-response clock;
* a missed call starts the callback clock (again, in a new cycle, after an earlier callback was met); the next
  agent action on the ticket or an answered call stops it;
* a change of priority, type, group or requester re-selects the policy: open clocks take the new targets and
  calendar and keep their elapsed time.

Every clock keeps ``due_at`` and ``next_event_at`` (its next warning or breach) current; the scheduler
(:mod:`tickets.sla.scheduler`) fires what is due through :meth:`SlaEngine.fire`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tickets.clock import Clock, utcnow
from tickets.models import Activity, ActivityKind, Person, SlaClock, SlaEvent, SlaState, Ticket, TicketStatus
from tickets.sla.calendar import ALWAYS, Calendar
from tickets.sla.policy import DEFAULT_PAUSE, Metric, Policy, PolicyBook, TicketFacts, format_duration
from tickets.transaction import publish_after_commit

log = logging.getLogger(__name__)

#: How the call intake's history entry of a call nobody answered begins (see tickets/calls/intake.py).
MISSED_CALL = "Missed call"
DONE = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
ZERO = timedelta(0)
#: Changed fields (as the history names them) that may make another policy apply.
RETARGET_FIELDS = ("priority", "type", "group", "requester")


@dataclass(frozen=True)
class Fired:
    """A warning (``percent``) or a breach (``percent`` None) that the scheduler announces."""

    clock: SlaClock
    percent: int | None
    at: datetime


@dataclass(frozen=True)
class ClocksChanged:
    """Internal notice, published after the commit: clocks of a ticket changed (wakes the scheduler)."""

    ticket_id: int
    type: str = "sla.clocks_changed"


class SlaEngine:
    """Starts, pauses, resumes, re-targets and stops SLA clocks; computes their due moments."""

    def __init__(self, book: PolicyBook | None = None, clock: Clock = utcnow) -> None:
        self.book = book or PolicyBook()
        self.clock = clock
        self.listeners: list[Callable[[], None]] = []

    # -- reading ----------------------------------------------------------------------------------------------

    def calendar(self, row: SlaClock) -> Calendar:
        cal = self.book.calendars.get(row.calendar)
        if cal is None:
            log.warning(
                "SLA calendar %r of clock %s is no longer configured; counting round the clock", row.calendar, row.id
            )
            return ALWAYS
        return cal

    def elapsed(self, row: SlaClock, now: datetime) -> timedelta:
        """Business time counted so far."""
        done = timedelta(seconds=row.elapsed_seconds)
        if row.running_since is not None:
            end = row.stopped_at or now
            done += self.calendar(row).elapsed(row.running_since, max(end, row.running_since))
        return done

    @staticmethod
    def target(row: SlaClock) -> timedelta:
        return timedelta(seconds=row.target_seconds)

    @staticmethod
    def warn_at(row: SlaClock) -> list[int]:
        return [int(p) for p in row.warn_at.split(",") if p]

    @staticmethod
    def warned(row: SlaClock) -> set[int]:
        return {int(p) for p in row.warned.split(",") if p}

    # -- ticket changes (inside the change's transaction) ------------------------------------------------------

    async def ticket_created(self, ticket: Ticket, now: datetime) -> None:
        """Start the clocks of the first matching policy."""
        if not self.book.policies:
            return
        policy = self.book.select(await self._facts(ticket))
        if policy is None:
            return
        for metric in (Metric.FIRST_RESPONSE, Metric.RESOLUTION):
            if policy.target(metric) is not None:
                await self._start(ticket, policy, metric, now)
        await self._changed(ticket)

    async def ticket_saved(self, ticket: Ticket, entries: list[Activity], now: datetime) -> None:
        """Follow a change described by its history entries (status moves, agents acting, calls, re-targets)."""
        if not self.book.policies:
            return
        old_status = next(
            (TicketStatus(e.old_value) for e in entries if e.kind == ActivityKind.STATUS_CHANGED and e.old_value), None
        )
        call = next((e for e in entries if e.kind == ActivityKind.CALL), None)
        await self.ticket_changed(
            ticket,
            now,
            old_status=old_status,
            agent_acted=any(
                e.actor_id is not None and e.kind in (ActivityKind.COMMENT, ActivityKind.STATUS_CHANGED)
                for e in entries
            ),
            call_state=call.new_value if call is not None else None,
            call_summary=(call.body or "") if call is not None else "",
            retarget=any(e.kind == ActivityKind.FIELD_CHANGED and e.field in RETARGET_FIELDS for e in entries),
        )

    async def ticket_changed(
        self,
        ticket: Ticket,
        now: datetime,
        *,
        old_status: TicketStatus | None = None,
        agent_acted: bool = False,
        call_state: str | None = None,
        call_summary: str = "",
        retarget: bool = False,
    ) -> None:
        """Bring the ticket's clocks up to date with a change that has just been made to it."""
        if not self.book.policies:
            return
        rows = {r.metric: r for r in await SlaClock.filter(ticket_id=ticket.id).select_for_update()}
        status = TicketStatus(ticket.status)
        changed = False
        if retarget:
            changed |= await self._retarget(ticket, rows, now)
        for row in list(rows.values()):
            metric = Metric(row.metric)
            open_ = row.stopped_at is None
            if open_ and (
                status in DONE
                or (metric is Metric.FIRST_RESPONSE and ticket.first_response_at is not None)
                or (metric is Metric.CALLBACK and (agent_acted or call_state == "answered"))
            ):
                kind = self._stop(row, now)
            elif not open_ and metric is Metric.RESOLUTION and old_status in DONE and status not in DONE:
                kind = self._reopen(row, now)
            elif open_ and (status.value in self._pause_statuses(row)) != row.paused:
                kind = self._resume(row, now) if row.paused else self._pause(row, now)
            else:
                continue
            await self._save(row, now, kind)
            changed = True
        if call_state is not None and call_summary.startswith(MISSED_CALL) and status not in DONE:
            changed |= await self._missed_call(ticket, rows, now)
        if changed:
            await self._changed(ticket)

    async def ticket_merged(self, ticket: Ticket, into: str, now: datetime) -> None:
        """Stop the clocks of a ticket merged into ticket ``into`` (tickets/merge.py): its targets are that
        ticket's now. A target missed already stays breached; the others are cancelled, neither met nor breached,
        so that an outage's merged duplicates do not count as targets met in the SLA report."""
        rows = await SlaClock.filter(ticket_id=ticket.id, stopped_at__isnull=True).select_for_update()
        for row in rows:
            row.elapsed_seconds = self.elapsed(row, now).total_seconds()
            row.running_since = None
            row.paused = False
            row.stopped_at = now
            row.next_event_at = None
            if row.breached_at is None:
                row.state = SlaState.CANCELLED
            await self._save(row, now, "cancelled", f"merged into {into}")
        if rows:
            await self._changed(ticket)

    # -- the scheduler's part ------------------------------------------------------------------------------

    def fire(self, row: SlaClock, now: datetime) -> list[Fired]:
        """Mark the warnings and the breach due by ``now`` as done; what to announce (a breach makes the lower
        warnings due at the same time silent)."""
        if row.stopped_at is not None or row.running_since is None:
            row.next_event_at = None
            return []
        fired: list[Fired] = []
        warned = self.warned(row)
        for percent, at in self._warnings(row):
            if at <= now:
                warned.add(percent)
                fired.append(Fired(row, percent, at))
        if row.breached_at is None and row.due_at is not None and row.due_at <= now:
            row.breached_at = row.due_at
            row.state = SlaState.BREACHED
            fired = [Fired(row, None, row.due_at)]
        row.warned = ",".join(str(p) for p in sorted(warned))
        self._plan(row, now)
        return fired

    # -- clock state ---------------------------------------------------------------------------------------------

    async def _start(self, ticket: Ticket, policy: Policy, metric: Metric, now: datetime) -> SlaClock:
        target = policy.target(metric)
        assert target is not None
        row = SlaClock(
            ticket_id=ticket.id,
            metric=metric.value,
            policy=policy.name,
            calendar=policy.calendar.name,
            target_seconds=int(target.total_seconds()),
            warn_at=",".join(map(str, policy.warn_at)),
            state=SlaState.RUNNING,
            started_at=now,
            running_since=now,
            updated_at=now,
        )
        if metric is not Metric.CALLBACK and TicketStatus(ticket.status).value in policy.pause_statuses:
            row.paused, row.state, row.running_since = True, SlaState.PAUSED, None
        self._plan(row, now)
        await row.save()
        await self._event(row, "started", now, f"{policy.name}: {metric.label} within {format_duration(target)}")
        return row

    def _pause(self, row: SlaClock, now: datetime) -> str:
        row.elapsed_seconds = self.elapsed(row, now).total_seconds()
        row.running_since = None
        row.paused = True
        if row.state is not SlaState.BREACHED:
            row.state = SlaState.PAUSED
        self._plan(row, now)
        return "paused"

    def _resume(self, row: SlaClock, now: datetime) -> str:
        row.running_since = now
        row.paused = False
        if row.state is not SlaState.BREACHED:
            row.state = SlaState.RUNNING
        self._plan(row, now)
        return "resumed"

    def _stop(self, row: SlaClock, now: datetime) -> str:
        elapsed = self.elapsed(row, now)
        late = row.breached_at is not None or elapsed > self.target(row)
        if late and row.breached_at is None:
            row.breached_at = row.due_at if row.due_at is not None and row.due_at <= now else now
        row.elapsed_seconds = elapsed.total_seconds()
        row.running_since = None
        row.paused = False
        row.stopped_at = now
        row.state = SlaState.BREACHED if late else SlaState.MET
        row.next_event_at = None
        return "met_late" if late else "met"

    def _reopen(self, row: SlaClock, now: datetime) -> str:
        """Resume a stopped clock (elapsed time kept) in a new cycle: what it announces from now on is new."""
        row.cycle += 1
        row.stopped_at = None
        row.running_since = now
        row.state = SlaState.BREACHED if row.breached_at is not None else SlaState.RUNNING
        self._plan(row, now)
        return "reopened"

    def _restart(self, row: SlaClock, policy: Policy | None, now: datetime) -> str:
        """A new cycle (a callback clock after a new missed call)."""
        if policy is not None:
            self._apply(row, policy)
        row.cycle += 1
        row.elapsed_seconds = 0
        row.warned = ""
        row.breached_at = row.stopped_at = None
        row.started_at = row.running_since = now
        row.paused = False
        row.state = SlaState.RUNNING
        self._plan(row, now)
        return "restarted"

    def _plan(self, row: SlaClock, now: datetime) -> None:
        """Recompute ``due_at`` and ``next_event_at`` of an open clock."""
        if row.stopped_at is not None:
            row.next_event_at = None
            return
        if row.running_since is None:  # paused
            row.due_at = row.next_event_at = None
            return
        cal, done = self.calendar(row), timedelta(seconds=row.elapsed_seconds)
        row.due_at = cal.add(row.running_since, max(self.target(row) - done, ZERO))
        pending = [at for percent, at in self._warnings(row) if percent not in self.warned(row)]
        if row.breached_at is None:
            pending.append(row.due_at)
        row.next_event_at = min(pending) if pending else None

    def _warnings(self, row: SlaClock) -> list[tuple[int, datetime]]:
        """Each warning threshold not yet announced, with its moment (running clocks only)."""
        assert row.running_since is not None
        cal, done, warned = self.calendar(row), timedelta(seconds=row.elapsed_seconds), self.warned(row)
        out = []
        for percent in self.warn_at(row):
            if percent in warned:
                continue
            point = timedelta(seconds=row.target_seconds * percent / 100)
            out.append((percent, cal.add(row.running_since, max(point - done, ZERO))))
        return out

    def _apply(self, row: SlaClock, policy: Policy) -> None:
        target = policy.target(Metric(row.metric))
        assert target is not None
        row.policy, row.calendar = policy.name, policy.calendar.name
        row.target_seconds = int(target.total_seconds())
        row.warn_at = ",".join(map(str, policy.warn_at))

    def _pause_statuses(self, row: SlaClock) -> frozenset[str]:
        """Statuses that stop the clock; a callback is owed to a caller whatever the ticket waits for."""
        if row.metric == Metric.CALLBACK.value:
            return frozenset()
        policy = self.book.get(row.policy)
        return policy.pause_statuses if policy is not None else DEFAULT_PAUSE

    async def _retarget(self, ticket: Ticket, rows: dict[str, SlaClock], now: datetime) -> bool:
        policy = self.book.select(await self._facts(ticket))
        current = {r.policy for r in rows.values()}
        if policy is None or current == {policy.name}:
            return False
        changed = False
        for metric_name, row in rows.items():
            metric = Metric(metric_name)
            if row.stopped_at is not None or policy.target(metric) is None:
                continue  # finished, or the new policy has no such target: it keeps the old one
            if row.running_since is not None:  # count the time so far on the old calendar, go on on the new
                row.elapsed_seconds = self.elapsed(row, now).total_seconds()
                row.running_since = now
            old = f"{row.policy}: {format_duration(self.target(row))}"
            self._apply(row, policy)
            self._plan(row, now)
            await self._save(row, now, "retargeted", f"{old} -> {policy.name}: {format_duration(self.target(row))}")
            changed = True
        status = TicketStatus(ticket.status)
        wanted = [Metric.RESOLUTION] if status not in DONE else []
        if ticket.first_response_at is None and status not in DONE:
            wanted.append(Metric.FIRST_RESPONSE)
        for metric in wanted:
            if metric.value not in rows and policy.target(metric) is not None:
                rows[metric.value] = await self._start(ticket, policy, metric, now)
                changed = True
        return changed

    async def _missed_call(self, ticket: Ticket, rows: dict[str, SlaClock], now: datetime) -> bool:
        row = rows.get(Metric.CALLBACK.value)
        attached = next(iter({r.policy for r in rows.values()}), None)
        policy = self.book.get(attached) if attached else self.book.select(await self._facts(ticket))
        if row is None:
            if policy is None or policy.target(Metric.CALLBACK) is None:
                return False
            rows[Metric.CALLBACK.value] = await self._start(ticket, policy, Metric.CALLBACK, now)
            return True
        if row.stopped_at is None:
            return False  # still waiting for the call back
        kind = self._restart(row, policy if policy is not None and policy.target(Metric.CALLBACK) else None, now)
        await self._save(row, now, kind)
        return True

    async def _save(self, row: SlaClock, now: datetime, kind: str, detail: str | None = None) -> None:
        row.version += 1
        row.updated_at = now
        await row.save()
        await self._event(row, kind, now, detail)

    @staticmethod
    async def _event(row: SlaClock, kind: str, now: datetime, detail: str | None = None) -> None:
        await SlaEvent.create(
            clock_id=row.id, ticket_id=row.ticket_id, kind=kind, metric=row.metric, detail=detail, at=now
        )

    @staticmethod
    async def _facts(ticket: Ticket) -> TicketFacts:
        vip = False
        loaded = ticket.__dict__.get("_requester")  # creation hands over the requester it checked
        if loaded is not None and loaded.id == ticket.requester_id:
            vip = bool(loaded.vip)
        elif ticket.requester_id is not None:
            vip = bool(await Person.filter(id=ticket.requester_id).first().values_list("vip", flat=True))
        return TicketFacts(
            priority=ticket.priority,
            type=_value(ticket.type),
            channel=_value(ticket.channel),
            group=ticket.group,
            vip=vip,
        )

    async def _changed(self, ticket: Ticket) -> None:
        await publish_after_commit(self._notify, ClocksChanged(ticket.id))  # type: ignore[arg-type]

    def _notify(self, event: object) -> None:
        for listener in self.listeners:
            listener()


def _value(v: object) -> str:
    return str(getattr(v, "value", v))
