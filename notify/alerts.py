"""Alerts: opened by SLA warnings and breaches, acknowledged by a person, resolved with their ticket.

Opening an alert writes the alert and every delivery of its escalation (steps x rounds x addresses, each due at its
step's time) in one transaction; the dispatcher sends them when due. An acknowledgement cancels what has not gone out
yet, queues the update of the Slack messages already posted and records who acknowledged in the ticket's history
(a note through the ticket service). Resolving or closing the ticket resolves its alerts. With a policy's
``ack_timeout``, an acknowledgement that expires before the ticket is resolved opens the alert again and its escalation
starts anew.

SLA warnings and breaches arrive inside the SLA scheduler's transaction, and only there (:meth:`AlertService.on_due`, a
scheduler handler in the composition root's subscription table): the alert and its deliveries commit with the SLA event,
or neither does and the scheduler tries again. :meth:`AlertService.catch_up` is the safety net (an event recorded
without the handler, e.g. by a process configured without alerting): it re-reads recent SLA warnings and breaches and
opens what has no alert, and resolves the alerts of tickets resolved meanwhile; in normal operation it finds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from tortoise.exceptions import IntegrityError

from notify.models import Alert, AlertState, Delivery, DeliveryStatus
from notify.oncall import OnCall
from notify.policy import SLACK, SLACK_UPDATE, Planned, Policy, Roster, choose, plan
from notify.text import AlertFacts
from tickets.actor import Actor
from tickets.clock import Clock
from tickets.events import DomainEvent, SlaBreached, SlaWarning, TicketUpdated
from tickets.languages import DEFAULT_LANGUAGE
from tickets.models import SlaClock, SlaEvent, Ticket, TicketStatus
from tickets.sla.calendar import Calendar
from tickets.ticket_service import TicketService
from tickets.transaction import in_unit_of_work, publish_after_commit, unit_of_work

log = logging.getLogger(__name__)
ACTOR = Actor.system("notify")
DONE = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
SLA_KINDS = {"warning": "sla.warning", "breached": "sla.breached"}
#: Message statuses that mean the SMS did not reach the phone.
FAILED_STATUSES = ("undelivered", "failed")


class AlertService:
    """Opens, acknowledges and resolves alerts."""

    def __init__(
        self,
        roster: Roster,
        policies: Sequence[Policy],
        tickets: TicketService,
        *,
        clock: Clock | None = None,
        calendars: Mapping[str, Calendar] | None = None,
        ticket_url: str | None = None,
    ) -> None:
        self.roster = roster
        self.oncall = OnCall(roster)
        self.policies = list(policies)
        self.tickets = tickets
        self.clock = clock or tickets.clock
        self.calendars = dict(calendars or {})
        self.ticket_url = ticket_url
        #: Called after deliveries were queued (the dispatcher wakes up).
        self.listeners: list[Callable[[], None]] = []
        self._catch_up_from: int | None = None  # the next catch-up reads SLA events after this id (None: by time)
        self._catch_up_top = 0  # the highest SLA event id the latest catch-up read

    # -- events ------------------------------------------------------------------------------------------------

    async def on_due(self, event: SlaWarning | SlaBreached) -> None:
        """The SLA scheduler's handler, inside its transaction: the alert and its deliveries are written there.

        Raises on failure: the scheduler's transaction rolls back (the SLA event with it) and is tried again.
        """
        await self.open(event.ticket_id, event.type, event.metric, event.due_at, event.cycle)

    async def on_ticket_event(self, event: DomainEvent) -> None:
        """The subscriber of ticket changes (after their commit): a resolved or closed ticket ends its alerts.

        Never raises: a failure is logged (the catch-up resolves what was missed).
        """
        try:
            if isinstance(event, TicketUpdated) and "status" in event.changes:
                await self.resolve_ticket(event.ticket_id)
        except Exception:
            log.exception("alerting could not handle %s of ticket %s", event.type, getattr(event, "number", "?"))

    async def catch_up(self, since: timedelta = timedelta(hours=1)) -> int:
        """The safety net: open the alerts of recent SLA warnings and breaches that have none, and resolve the
        alerts of tickets that were resolved meanwhile; returns how many alerts it opened (0 in normal operation).

        The first call reads the SLA events of the last ``since``; later calls read by id from where the call before
        the previous one stopped (a transaction that committed late is still seen, and the table is not scanned).
        """
        query = SlaEvent.filter(kind__in=list(SLA_KINDS))
        if self._catch_up_from is None:
            query = query.filter(at__gte=self.clock() - since)
        else:
            query = query.filter(id__gt=self._catch_up_from)
        rows = await query.order_by("id")
        previous_top, self._catch_up_top = self._catch_up_top, max([self._catch_up_top, *(r.id for r in rows)])
        self._catch_up_from = previous_top or None
        opened = 0
        for row in rows:
            event = SLA_KINDS[row.kind]
            due = row.due_at
            if due is None:  # recorded before SLA events kept their due moment: a breach happens at it
                due = (
                    row.at
                    if row.kind == "breached"
                    else cast(
                        datetime | None,
                        await (  # flat: a value, not a tuple
                            SlaClock.filter(id=row.clock_id).first().values_list("due_at", flat=True)
                        ),
                    )
                )
            cycle = row.cycle or 1
            if await Alert.exists(ticket_id=row.ticket_id, reason=alert_reason(event, row.metric, due, cycle)):
                continue
            if await self.open(row.ticket_id, event, row.metric, due, cycle) is not None:
                opened += 1
                log.warning(
                    "catch-up: opened the alert of ticket %s for %s of %s (it had none)",
                    row.ticket_id,
                    event,
                    row.metric,
                )
        stale = cast(
            list[int],
            await (  # flat: values, not tuples (tortoise's types)
                Alert.filter(
                    state__in=[AlertState.OPEN, AlertState.ACKNOWLEDGED], ticket__status__in=list(DONE)
                ).values_list("ticket_id", flat=True)
            ),
        )
        for ticket_id in sorted(set(stale)):
            await self.resolve_ticket(ticket_id)
        return opened

    # -- opening -----------------------------------------------------------------------------------------------

    def _working(self, calendar: str) -> bool | None:
        cal = self.calendars.get(calendar)
        return cal.is_working(self.clock()) if cal is not None else None

    async def open(
        self, ticket_id: int, event: str, metric: str | None, due_at: datetime | None, cycle: int = 1
    ) -> Alert | None:
        """The alert of this ticket and reason, opened with its deliveries if it is new and a policy takes it.

        Inside a unit of work (the SLA scheduler's) the writes join it and any error aborts it; alone, the alert and
        its deliveries are one transaction of their own.
        """
        reason = alert_reason(event, metric, due_at, cycle)
        existing = await Alert.get_or_none(ticket_id=ticket_id, reason=reason)
        if existing is not None:
            return existing
        ticket = await Ticket.get_or_none(id=ticket_id)
        if ticket is None or ticket.status in DONE:
            return None
        policy = choose(self.policies, event, ticket.priority, metric, self._working)
        if policy is None:
            return None
        now = self.clock()
        planned = plan(policy, self.roster, now, await self.oncall.overrides(self.clock()))
        joined = in_unit_of_work()
        try:
            async with unit_of_work():
                alert = await Alert.create(
                    ticket_id=ticket.id,
                    reason=reason,
                    event=event,
                    metric=metric,
                    policy=policy.name,
                    summary=f"{ticket.number} {ticket.priority} {ticket.title}"[:300],
                    due_at=due_at,
                    opened_at=now,
                    updated_at=now,
                )
                await Delivery.bulk_create(
                    [
                        Delivery(
                            alert_id=alert.id,
                            step=p.step,
                            round=p.round,
                            channel=p.channel,
                            target=p.address,
                            person=p.person,
                            due_at=p.due_at,
                            next_attempt_at=p.due_at,
                            updated_at=now,
                        )
                        for p in planned
                    ]
                )
                opened = _Opened(alert, ticket.number, policy.name, planned)
                await publish_after_commit(self._opened, opened)  # type: ignore[arg-type]
        except IntegrityError:  # opened by another instance just now
            if joined:
                raise  # the enclosing transaction is spoilt: it rolls back and its owner tries again
            return await Alert.get_or_none(ticket_id=ticket_id, reason=reason)
        return alert

    def _opened(self, opened: _Opened) -> None:
        """After the alert's commit: log it, wake the dispatcher (it sees the new deliveries now)."""
        alert = opened.alert
        if not opened.planned:
            log.warning(
                "alert %s of %s (policy %s) reaches nobody: check the policy's targets",
                alert.id,
                opened.number,
                opened.policy,
            )
        log.info(
            "alert %s opened: %s %s, policy %s, %d deliveries",
            alert.id,
            opened.number,
            alert.reason,
            opened.policy,
            len(opened.planned),
        )
        self._wake()

    # -- acknowledging ---------------------------------------------------------------------------------------

    async def acknowledge(
        self, alert_ids: Sequence[int], by: str, channel: str, actor: Actor | None = None, via: str | None = None
    ) -> list[Alert]:
        """Acknowledge the open ones of ``alert_ids``: no further steps, Slack messages updated, ticket noted.

        ``by`` is who acknowledged (an on-call person's name, an agent's login); ``via`` who did it on the channel
        when that says more (the Slack user who pressed the button), kept on the alert and in the ticket's note.
        """
        now = self.clock()
        done: list[Alert] = []
        for alert_id in alert_ids:
            alert = await Alert.get_or_none(id=alert_id)  # read before the transaction (SQLite: writes first)
            if alert is None:
                continue
            policy = self._policy(alert.policy)
            timeout = policy.ack_timeout if policy else None
            async with unit_of_work():
                changed = await Alert.filter(id=alert_id, state=AlertState.OPEN).update(
                    state=AlertState.ACKNOWLEDGED,
                    acknowledged_at=now,
                    acknowledged_by=by[:128],
                    acknowledged_via=via[:128] if via else None,
                    ack_channel=channel,
                    ack_expires_at=now + timeout if timeout else None,
                    updated_at=now,
                )
                if not changed:
                    continue
                alert = await Alert.get(id=alert_id)
                await self._stop(alert, now)
                ticket = await Ticket.get(id=alert.ticket_id)
                if ticket.status != TicketStatus.CLOSED:
                    how = f"{channel}: {via}" if via else channel
                    await self.tickets.note(
                        actor or ACTOR, ticket.id, f"Alert acknowledged by {by} ({how}): {alert.reason}", about="alert"
                    )
            done.append(alert)
            log.info("alert %s acknowledged by %s via %s", alert_id, by, channel)
        if done:
            self._wake()
        return done

    async def is_on_call_for(self, person: str, alert_id: int) -> bool:
        """Whether ``person`` is on call now (in any schedule, overrides included) or was sent this alert."""
        now = self.clock()
        overrides = await self.oncall.overrides(self.clock())
        if any(self.roster.on_call(name, now, overrides.get(name, ())) == person for name in self.roster.schedules):
            return True
        return await Delivery.exists(alert_id=alert_id, person=person, status=DeliveryStatus.SENT)

    def _policy(self, name: str) -> Policy | None:
        return next((p for p in self.policies if p.name == name), None)

    async def expire_acks(self) -> int:
        """Acknowledgements past their policy's ``ack_timeout``: the alert opens again and escalates anew."""
        now = self.clock()
        due = await Alert.filter(state=AlertState.ACKNOWLEDGED, ack_expires_at__lte=now).order_by("id").limit(100)
        reopened = 0
        for alert in due:
            policy = self._policy(alert.policy)
            ticket = await Ticket.get_or_none(id=alert.ticket_id)
            if ticket is None or ticket.status in DONE or policy is None:
                await Alert.filter(id=alert.id, state=AlertState.ACKNOWLEDGED).update(ack_expires_at=None)
                continue
            cycle = alert.cycle + 1
            planned = plan(policy, self.roster, now, await self.oncall.overrides(self.clock()), cycle=cycle)
            async with unit_of_work():
                changed = await Alert.filter(id=alert.id, state=AlertState.ACKNOWLEDGED, cycle=alert.cycle).update(
                    state=AlertState.OPEN, cycle=cycle, ack_expires_at=None, updated_at=now
                )
                if not changed:
                    continue  # another instance did it
                await Delivery.bulk_create(
                    [
                        Delivery(
                            alert_id=alert.id,
                            step=p.step,
                            round=p.round,
                            channel=p.channel,
                            target=p.address,
                            person=p.person,
                            due_at=p.due_at,
                            next_attempt_at=p.due_at,
                            updated_at=now,
                        )
                        for p in planned
                    ],
                    ignore_conflicts=True,
                )
                if ticket.status != TicketStatus.CLOSED:
                    await self.tickets.note(
                        ACTOR,
                        ticket.id,
                        f"Acknowledgement by {alert.acknowledged_by} expired ({alert.reason}): escalating again",
                        about="alert",
                    )
            reopened += 1
            log.info("alert %s: acknowledgement expired, escalation %d starts", alert.id, cycle + 1)
        if reopened:
            self._wake()
        return reopened

    async def next_ack_expiry(self) -> datetime | None:
        return cast(
            datetime | None,
            await (  # flat: the value or None, not a tuple (tortoise's types)
                Alert.filter(state=AlertState.ACKNOWLEDGED, ack_expires_at__isnull=False)
                .order_by("ack_expires_at")
                .first()
                .values_list("ack_expires_at", flat=True)
            ),
        )

    async def resolve_ticket(self, ticket_id: int) -> int:
        """The ticket was resolved or closed: its alerts are resolved, nothing more is sent."""
        ticket = await Ticket.get_or_none(id=ticket_id)
        if ticket is None or ticket.status not in DONE:
            return 0
        now = self.clock()
        count = 0
        alerts = await Alert.filter(ticket_id=ticket_id, state__in=[AlertState.OPEN, AlertState.ACKNOWLEDGED])
        for alert in alerts:
            async with unit_of_work():
                changed = await Alert.filter(id=alert.id, state__in=[AlertState.OPEN, AlertState.ACKNOWLEDGED]).update(
                    state=AlertState.RESOLVED, resolved_at=now, ack_expires_at=None, updated_at=now
                )
                if changed:
                    await self._stop(alert, now)
                    count += changed
        if count:
            self._wake()
        return count

    async def _stop(self, alert: Alert, now: datetime) -> None:
        """Cancel what is still queued; queue an update of each Slack message already posted."""
        await (
            Delivery.filter(alert_id=alert.id, status=DeliveryStatus.QUEUED)
            .exclude(channel=SLACK_UPDATE)
            .update(status=DeliveryStatus.CANCELLED, updated_at=now)
        )
        posted = await Delivery.filter(alert_id=alert.id, channel=SLACK, status=DeliveryStatus.SENT)
        for d in posted:
            await queue_slack_update(d, now)

    # -- what the providers report ------------------------------------------------------------------------------

    @staticmethod
    async def record_provider_status(provider_id: str, status: str, error_code: str | None = None) -> bool:
        """Twilio's report on a message it was given (``provider_id``: its SID): store its status and, when it
        failed (undelivered, failed), the error on the delivery and on its alert. False: not a message we sent."""
        delivery = await Delivery.get_or_none(provider_id=provider_id)
        if delivery is None:
            return False
        values: dict[str, object] = {"provider_status": status}
        if status in FAILED_STATUSES:
            code = (error_code or "")[:16] or "?"
            values.update(error_code=code, last_error=f"Twilio reports the SMS {status} (error {code})")
            await Alert.filter(id=delivery.alert_id).update(
                last_error=f"SMS to {delivery.person or delivery.target}: {status} (Twilio error {code})"
            )
        await Delivery.filter(id=delivery.id).update(**values)
        return True

    # -- reading -------------------------------------------------------------------------------------------------

    def language_of(self, person: str | None) -> str:
        """The language of the messages to ``person`` (English for a channel or someone no longer listed)."""
        found = self.roster.people.get(person) if person else None
        return found.language if found else DEFAULT_LANGUAGE

    async def facts(self, alert: Alert) -> AlertFacts:
        """What the messages of ``alert`` say, from the ticket as it is now."""
        ticket = await Ticket.get(id=alert.ticket_id).prefetch_related("requester")
        caller = ticket.requester.name if ticket.requester else ticket.caller_number
        url = f"{self.ticket_url}{ticket.number}" if self.ticket_url else None
        return AlertFacts(
            alert.id, ticket.number, ticket.priority, ticket.title, alert.event, alert.metric, alert.due_at, caller, url
        )

    async def find_for_reply(self, code: str, phone: str) -> list[Alert]:
        """Open alerts an SMS reply may acknowledge: ``code`` is a ticket number (digits) or ``all``.

        Only alerts that were sent to ``phone``: a stale or unrelated code finds nothing.
        """
        sent_to = Delivery.filter(target=phone, status=DeliveryStatus.SENT)
        ids = {d for d in await sent_to.values_list("alert_id", flat=True)}
        if not ids:
            return []
        query = Alert.filter(id__in=list(ids), state=AlertState.OPEN)
        if code != "all":
            number = f"{self.tickets.numbering.prefix}-{code}"
            ticket = await Ticket.get_or_none(number=number)
            if ticket is None:
                return []
            query = query.filter(ticket_id=ticket.id)
        return await query.order_by("id")

    def _wake(self) -> None:
        for listener in self.listeners:
            listener()


@dataclass(frozen=True)
class _Opened:
    alert: Alert
    number: str
    policy: str
    planned: list[Planned]


def alert_reason(event: str, metric: str | None, due_at: datetime | None, cycle: int = 1) -> str:
    """What an alert is about: ``sla.breached:callback:2026-03-02T10:15``. The 50% and 75% warnings of a target
    share it (one alert); a new target (the next missed call, a changed priority) has a new due moment, and a
    clock's later cycle (the next missed call, a reopened ticket) is marked ``#2``, ``#3``, even if the due moment
    is the same minute as before."""
    parts = [event, metric or "sla"]
    if due_at is not None:
        parts.append(due_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"))
    return ":".join(parts) + (f"#{cycle}" if cycle > 1 else "")


async def queue_slack_update(posted: Delivery, now: datetime) -> None:
    """An outbox row that rewrites the Slack message ``posted`` (after an ack); at most one per message."""
    if not posted.provider_id:
        return
    target = f"{posted.provider_channel or posted.target}:{posted.provider_id}"
    await Delivery.bulk_create(
        [
            Delivery(
                alert_id=posted.alert_id,
                step=-1,
                round=0,
                channel=SLACK_UPDATE,
                target=target[:128],
                person=posted.person,
                due_at=now,
                next_attempt_at=now,
                updated_at=now,
            )
        ],
        ignore_conflicts=True,
    )
