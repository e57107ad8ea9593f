"""The SLA scheduler: fires warnings and breaches at the moment they are due, once.

One loop per process sleeps until the earliest ``next_event_at`` (an indexed column: asking costs the same for ten
tickets or a million) and is woken early when a ticket change moves a clock. A pass claims the due clocks in small
batches (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several instances share the work) and writes each with a
compare-and-set on the clock's ``version``: whichever instance or pass gets there second changes nothing. The
warning or breach is written to the ticket's activity and the clock's timeline in the same transaction, and the
domain event (``sla.warning``, ``sla.breached``) is published after it commits.
"""

from __future__ import annotations

import inspect
import logging
from datetime import datetime

from tickets.clock import Clock, utcnow
from tickets.due_loop import DueLoop
from tickets.events import DomainEvent, Publisher, SlaBreached, SlaWarning, no_publisher
from tickets.models import Activity, ActivityKind, SlaClock, SlaEvent, Ticket
from tickets.sla.clocks import Fired, SlaEngine
from tickets.sla.policy import Metric, format_duration
from tickets.transaction import unit_of_work

log = logging.getLogger(__name__)
ACTOR = "sla"


class SlaScheduler(DueLoop):
    """Runs :meth:`run_due` whenever something is due; ``wake()`` after clocks changed."""

    name = "sla-scheduler"

    def __init__(self, engine: SlaEngine, *, publish: Publisher = no_publisher, clock: Clock | None = None,
                 batch: int = 100, max_sleep: float = 30.0) -> None:
        super().__init__(clock or engine.clock or utcnow, max_sleep, engine.listeners)
        self.engine = engine
        self.publish = publish
        self.batch = batch
        self.fired = 0  # events announced by this process (metrics, tests)

    # -- one pass ----------------------------------------------------------------------------------------------

    async def run_due(self) -> int:
        """Fire everything due now; returns the number of warnings and breaches announced."""
        total = 0
        while True:
            due, processed, announced = await self._batch(self.clock())
            total += announced
            if due < self.batch or not processed:
                return total

    async def next_due(self) -> datetime | None:
        """The earliest pending event of any clock."""
        return await (SlaClock.filter(next_event_at__isnull=False).order_by("next_event_at").first()
                      .values_list("next_event_at", flat=True))

    async def _batch(self, now: datetime) -> tuple[int, int, int]:
        """One transaction over up to ``batch`` due clocks: (due, processed, announced)."""
        due = await (SlaClock.filter(next_event_at__lte=now).order_by("next_event_at").limit(self.batch)
                     .values_list("id", "ticket_id"))
        if not due:
            return 0, 0, 0
        events: list[DomainEvent] = []
        processed = 0
        async with unit_of_work():
            # Lock order as in a ticket change (ticket, then its clocks), so the two never deadlock. A ticket being
            # changed right now, or claimed by another instance, is skipped: its clocks come round again.
            tickets = await Ticket.filter(id__in={t for _, t in due}).select_for_update(skip_locked=True)
            numbers = {t.id: t.number for t in tickets}
            if not numbers:
                return len(due), 0, 0
            rows = await (SlaClock.filter(id__in=[c for c, _ in due], ticket_id__in=list(numbers),
                                          next_event_at__lte=now).order_by("next_event_at").select_for_update())
            for row in rows:
                version = row.version
                fired = self.engine.fire(row, now)
                updated = await SlaClock.filter(id=row.id, version=version).update(
                    warned=row.warned, state=row.state, breached_at=row.breached_at, due_at=row.due_at,
                    next_event_at=row.next_event_at, version=version + 1, updated_at=now)
                if not updated:
                    continue  # changed by someone else since it was read: they planned it anew
                processed += 1
                for item in fired:
                    events.append(await self._record(item, numbers[row.ticket_id], now))
        for event in events:
            result = self.publish(event)
            if inspect.isawaitable(result):
                await result
        self.fired += len(events)
        return len(due), processed, len(events)

    async def _record(self, item: Fired, number: str, now: datetime) -> DomainEvent:
        row = item.clock
        metric = Metric(row.metric)
        due = row.breached_at if item.percent is None else row.due_at
        assert due is not None
        if item.percent is None:
            text = f"{metric.label} target of {format_duration(self.engine.target(row))} breached (policy {row.policy})"
            kind, dedupe, value = "breached", f"{row.cycle}:breach", "breached"
            event: DomainEvent = SlaBreached(row.ticket_id, number, metric.value, due, row.policy)
        else:
            text = (f"{metric.label}: {item.percent}% of {format_duration(self.engine.target(row))} used, due "
                    f"{due.isoformat(timespec='minutes')} (policy {row.policy})")
            kind, dedupe, value = "warning", f"{row.cycle}:{item.percent}", f"warning:{item.percent}"
            event = SlaWarning(row.ticket_id, number, metric.value, item.percent, due, row.policy)
        await SlaEvent.create(clock_id=row.id, ticket_id=row.ticket_id, kind=kind, metric=row.metric,
                              threshold=item.percent, dedupe=dedupe, detail=text, at=item.at)
        await Activity.create(ticket_id=row.ticket_id, kind=ActivityKind.SLA, field=row.metric, new_value=value,
                              body=text, actor_label=ACTOR, created_at=now)
        log.info("SLA %s %s: %s", number, kind, text)
        return event
