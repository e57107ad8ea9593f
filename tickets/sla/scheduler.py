"""The SLA scheduler: fires warnings and breaches at the moment they are due, once.

One loop per process sleeps until the earliest ``next_event_at`` (an indexed column: asking costs the same for ten
tickets or a million) and is woken early when a ticket change moves a clock. A pass claims the due clocks in small
batches (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several instances share the work) and writes each with a
compare-and-set on the clock's ``version``: whichever instance or pass gets there second changes nothing. The
warning or breach is written to the ticket's activity and the clock's timeline in the same transaction, then handed
to the scheduler's ``handlers`` inside that transaction (alerting writes its alert and deliveries there, so they
commit with the SLA event or not at all), and the domain event (``sla.warning``, ``sla.breached``) is published
after it commits (live events). A handler that raises rolls the transaction back: the clocks stay due and are
tried again, so the event is neither lost nor doubled. The clocks of a failed batch are then tried one per
transaction, so one clock whose handler keeps failing (a bug in an alerting policy) holds back its own events only;
it is tried again after 1 s, 2 s, 4 s ... up to a minute.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import cast

from tickets.clock import Clock
from tickets.due_loop import DueLoop
from tickets.events import Publisher, SlaBreached, SlaWarning, no_publisher
from tickets.models import Activity, ActivityKind, SlaClock, SlaEvent, Ticket
from tickets.sla.clocks import Fired, SlaEngine
from tickets.sla.policy import Metric, format_duration
from tickets.transaction import unit_of_work

log = logging.getLogger(__name__)
ACTOR = "sla"

SlaAnnouncement = SlaWarning | SlaBreached
#: Called with each warning or breach inside the transaction that records it; raising rolls that transaction back.
DueHandler = Callable[[SlaAnnouncement], Awaitable[None]]
#: A clock that failed alone is tried again after this many seconds, doubling each time up to HOLD_MAX.
HOLD_FIRST, HOLD_MAX = 1.0, 60.0
Due = list[tuple[int, int]]  # (clock id, ticket id)


class SlaScheduler(DueLoop):
    """Runs :meth:`run_due` whenever something is due; ``wake()`` after clocks changed."""

    name = "sla-scheduler"

    def __init__(
        self,
        engine: SlaEngine,
        *,
        publish: Publisher = no_publisher,
        handlers: Sequence[DueHandler] = (),
        clock: Clock | None = None,
        batch: int = 100,
        max_sleep: float = 30.0,
    ) -> None:
        super().__init__(clock or engine.clock, max_sleep, engine.listeners)
        self.engine = engine
        self.publish = publish  # after the commit
        self.handlers: list[DueHandler] = list(handlers)  # inside the transaction
        self.batch = batch
        self.fired = 0  # events announced by this process (metrics, tests)
        self._held: dict[int, tuple[datetime, float]] = {}  # clock id -> (not before, seconds held) after a failure

    # -- one pass ----------------------------------------------------------------------------------------------

    async def run_due(self) -> int:
        """Fire everything due now; returns the number of warnings and breaches announced.

        Raises when a batch failed and none of its clocks could be fired alone either (the database is away)."""
        total = 0
        while True:
            now = self.clock()
            due = await self._due(now)
            if not due:
                return total
            try:
                processed, announced = await self._batch(now, due)
            except Exception:
                if len(due) == 1:
                    self._hold(due[0][0], now)
                    raise
                log.exception("SLA scheduler: a batch of %d clocks failed; trying them one by one", len(due))
                processed, announced = await self._singly(now, due)
            total += announced
            if len(due) < self.batch or not processed:
                return total

    async def next_due(self) -> datetime | None:
        """The earliest pending event of any clock (a held clock: when its hold ends)."""
        now = self.clock()
        held = self._held_now(now)
        query = SlaClock.filter(next_event_at__isnull=False)
        if held:
            query = query.exclude(id__in=held)
        # flat: the value or None, not a tuple (tortoise's types)
        nxt = cast(
            datetime | None, await query.order_by("next_event_at").first().values_list("next_event_at", flat=True)
        )
        return min(
            [t for t in [nxt, *(until for until, _ in self._held.values() if until > now)] if t is not None],
            default=None,
        )

    async def _due(self, now: datetime) -> Due:
        query = SlaClock.filter(next_event_at__lte=now)
        held = self._held_now(now)
        if held:
            query = query.exclude(id__in=held)
        return await query.order_by("next_event_at").limit(self.batch).values_list("id", "ticket_id")

    def _held_now(self, now: datetime) -> list[int]:
        return [clock for clock, (until, _) in self._held.items() if until > now]

    def _hold(self, clock_id: int, now: datetime) -> None:
        _, last = self._held.get(clock_id, (now, 0.0))
        seconds = min(last * 2, HOLD_MAX) if last else HOLD_FIRST
        self._held[clock_id] = (now + timedelta(seconds=seconds), seconds)

    async def _singly(self, now: datetime, due: Due) -> tuple[int, int]:
        """Each clock of a failed batch in its own transaction; one that fails again is held back a while."""
        processed = announced = 0
        error: Exception | None = None
        for item in due:
            try:
                p, a = await self._batch(now, [item])
            except Exception as exc:
                self._hold(item[0], now)
                log.exception(
                    "SLA clock %s (ticket %s): failed; tried again in %.0f s", item[0], item[1], self._held[item[0]][1]
                )
                error = exc
                continue
            processed += p
            announced += a
        if error is not None and not processed:
            raise error
        return processed, announced

    async def _batch(self, now: datetime, due: Due) -> tuple[int, int]:
        """One transaction over ``due`` clocks: (processed, announced)."""
        events: list[SlaAnnouncement] = []
        processed = 0
        async with unit_of_work():
            # Lock order as in a ticket change (ticket, then its clocks), so the two never deadlock. A ticket being
            # changed right now, or claimed by another instance, is skipped: its clocks come round again.
            tickets = await Ticket.filter(id__in={t for _, t in due}).select_for_update(skip_locked=True)
            numbers = {t.id: t.number for t in tickets}
            if not numbers:
                return 0, 0
            rows = await (
                SlaClock.filter(id__in=[c for c, _ in due], ticket_id__in=list(numbers), next_event_at__lte=now)
                .order_by("next_event_at")
                .select_for_update()
            )
            for row in rows:
                version = row.version
                fired = self.engine.fire(row, now)
                updated = await SlaClock.filter(id=row.id, version=version).update(
                    warned=row.warned,
                    state=row.state,
                    breached_at=row.breached_at,
                    due_at=row.due_at,
                    next_event_at=row.next_event_at,
                    version=version + 1,
                    updated_at=now,
                )
                if not updated:
                    continue  # changed by someone else since it was read: they planned it anew
                processed += 1
                for item in fired:
                    event = await self._record(item, numbers[row.ticket_id], now)
                    for handler in self.handlers:
                        await handler(event)  # an error rolls the pass back: retried, not lost
                    events.append(event)
        for event in events:
            result = self.publish(event)
            if inspect.isawaitable(result):
                await result
        self.fired += len(events)
        for clock_id, _ in due:
            self._held.pop(clock_id, None)
        return processed, len(events)

    async def _record(self, item: Fired, number: str, now: datetime) -> SlaAnnouncement:
        row = item.clock
        metric = Metric(row.metric)
        due = row.breached_at if item.percent is None else row.due_at
        assert due is not None
        if item.percent is None:
            text = f"{metric.label} target of {format_duration(self.engine.target(row))} breached (policy {row.policy})"
            kind, dedupe, value = "breached", f"{row.cycle}:breach", "breached"
            event: SlaAnnouncement = SlaBreached(row.ticket_id, number, metric.value, due, row.policy, row.cycle)
        else:
            text = (
                f"{metric.label}: {item.percent}% of {format_duration(self.engine.target(row))} used, due "
                f"{due.isoformat(timespec='minutes')} (policy {row.policy})"
            )
            kind, dedupe, value = "warning", f"{row.cycle}:{item.percent}", f"warning:{item.percent}"
            event = SlaWarning(row.ticket_id, number, metric.value, item.percent, due, row.policy, row.cycle)
        await SlaEvent.create(
            clock_id=row.id,
            ticket_id=row.ticket_id,
            kind=kind,
            metric=row.metric,
            threshold=item.percent,
            dedupe=dedupe,
            detail=text,
            at=item.at,
            cycle=row.cycle,
            due_at=due,
        )
        await Activity.create(
            ticket_id=row.ticket_id,
            kind=ActivityKind.SLA,
            field=row.metric,
            new_value=value,
            body=text,
            actor_label=ACTOR,
            created_at=now,
        )
        log.info("SLA %s %s: %s", number, kind, text)
        return event
