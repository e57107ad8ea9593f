"""The outbox dispatcher: claims due deliveries, sends them, records the outcome. Several may run at once.

* **Claim.** Due rows (``queued`` and due, or ``sending`` whose lease ran out) are picked with ``FOR UPDATE SKIP
  LOCKED`` on PostgreSQL and taken by one UPDATE in that transaction; on SQLite each is taken with a compare-and-set
  UPDATE (status and attempt count unchanged since read): two dispatchers never hold the same row. The claim is
  committed before any network I/O. Claiming goes on while earlier deliveries wait for the providers (``in_flight``
  at most), and skips a Slack channel that is rate-limited (Retry-After) or has ``slack_in_flight`` messages out.
* **Send.** Outside any transaction, through the provider SDKs (their own retries off).
* **Record.** Again a compare-and-set on (status ``sending``, attempt): a dispatcher whose lease was taken over
  cannot overwrite the newer outcome. Sent: provider id, time and a line in the ticket history. Transient failure:
  back to ``queued`` after an exponential backoff with jitter (``Retry-After`` when the provider gives one), until
  ``retry_for`` after the step was due, then ``failed``. Permanent failure (an invalid number, an unknown Slack
  channel, bad credentials): ``failed`` at once, shown on the alert and in the ticket history.
* **Crash mid-send.** A row left in ``sending`` by a dead process is taken again when its lease expires. Its SMS
  text was saved before the first attempt; before any further attempt (after a crash, or a 5xx whose request Twilio may
  have accepted) Twilio is asked whether a message with that text went to that number and is not yet recorded on another
  delivery (the Messages list); only if not is it sent again. Slack offers no such lookup to a bot with ``chat:write``
  alone, so a Slack message interrupted between Slack accepting it and helpline recording it may be posted twice (see
  docs/alerting.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from notify.alerts import AlertService, queue_slack_update
from notify.channels import SendError, Sent, SlackChat, TwilioSms
from notify.models import Alert, AlertState, Delivery, DeliveryStatus
from notify.policy import SLACK, SLACK_UPDATE, SMS
from notify.text import escalation_marker, slack_blocks, sms_text
from tickets.actor import Actor
from tickets.clock import Clock
from tickets.due_loop import DueLoop
from tickets.transaction import unit_of_work

log = logging.getLogger(__name__)
ACTOR = Actor.system("notify")


@dataclass
class DispatchSettings:
    lease: timedelta = timedelta(minutes=2)
    retry_for: timedelta = timedelta(hours=2)
    first_backoff: timedelta = timedelta(seconds=5)
    max_backoff: timedelta = timedelta(minutes=5)
    batch: int = 20
    in_flight: int | None = None  # deliveries sent at once (None: 3 batches); claims go on while fewer are out
    slack_in_flight: int = 20  # Slack messages out at once per channel: a backlog there does not hold up SMS
    max_sleep: float = 30.0


@dataclass
class Counters:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    recovered: int = 0  # a crash-interrupted send found at the provider: not sent again


class Dispatcher(DueLoop):
    """Sends due deliveries; :meth:`run_due` once, or :meth:`start` the loop."""

    def __init__(
        self,
        alerts: AlertService,
        *,
        sms: TwilioSms | None = None,
        slack: SlackChat | None = None,
        settings: DispatchSettings | None = None,
        clock: Clock | None = None,
        max_segments: int = 2,
        name: str = "dispatcher",
    ) -> None:
        self.settings = settings or DispatchSettings()
        super().__init__(clock or alerts.clock, self.settings.max_sleep, alerts.listeners)
        self.alerts = alerts
        self.sms = sms
        self.slack = slack
        self.max_segments = max_segments
        self.name = f"notify-{name}"
        self.counters = Counters()
        self._holds: dict[str, datetime] = {}  # Slack channel -> rate-limited until
        self._out: Counter[str] = Counter()  # Slack channel -> messages being sent to it now
        self._seen = 0  # rows the last claim read (some may have been taken by another dispatcher)

    # -- one pass -------------------------------------------------------------------------------------------

    async def run_due(self) -> int:
        """Send everything due now; returns how many deliveries were handled.

        Claiming goes on while earlier deliveries wait for the providers (at most ``in_flight`` at once): the
        database work of the next batch overlaps the answers to the last one.
        """
        total = 0
        await self.alerts.expire_acks()
        running: set[asyncio.Task[None]] = set()
        limit = self.settings.in_flight or 3 * self.settings.batch
        try:
            while True:
                if len(running) >= limit:
                    _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                self._seen = 0
                claimed = await self.claim(self.clock())
                if claimed:
                    running.update(asyncio.create_task(self._deliver_counted(d)) for d in claimed)
                    total += len(claimed)
                elif self._seen:
                    continue  # every row read was taken by another dispatcher first: read on
                elif running:
                    await asyncio.gather(*running)  # the last ones; then look once more
                    running = set()
                else:
                    return total
        except asyncio.CancelledError:
            for task in running:  # shutting down: as if the process stopped (leases cover it)
                task.cancel()
            raise
        except Exception:
            await asyncio.gather(*running)  # the claim failed (the database): finish what was sent first
            raise

    async def claim(self, now: datetime) -> list[Delivery]:
        """Take up to ``batch`` due rows for this dispatcher (committed before anything is sent)."""
        due = Q(status=DeliveryStatus.QUEUED, next_attempt_at__lte=now) | Q(
            status=DeliveryStatus.SENDING, lease_until__lte=now
        )
        lease = now + self.settings.lease
        claimed: list[Delivery] = []

        async def take(rows: list[Delivery]) -> None:
            self._seen = len(rows)
            # compare-and-set: only if nobody changed the row since it was read; in a random order, so that
            # dispatchers reading the same rows split them instead of one losing every race to the other
            for row in random.sample(rows, len(rows)):
                taken = await Delivery.filter(id=row.id, status=row.status, attempts=row.attempts).update(
                    status=DeliveryStatus.SENDING, attempts=row.attempts + 1, lease_until=lease, updated_at=now
                )
                if taken:
                    row.status, row.attempts, row.lease_until = DeliveryStatus.SENDING, row.attempts + 1, lease
                    claimed.append(row)

        query = Delivery.filter(due)
        held = [channel for channel, until in self._holds.items() if until > now]
        held += [channel for channel, out in self._out.items() if out >= self.settings.slack_in_flight]
        if held:  # Slack said Retry-After for these channels, or enough is out: their messages wait unclaimed
            query = query.exclude(channel=SLACK, target__in=held)
        query = query.order_by("next_attempt_at", "id").limit(self.settings.batch)
        if Delivery._meta.db.capabilities.dialect == "postgres":
            async with in_transaction("default"):  # rows another instance is claiming are skipped, not waited for
                rows = await query.select_for_update(skip_locked=True)
                self._seen = len(rows)
                if rows:  # locked by this transaction until it commits: one UPDATE takes them all
                    await Delivery.filter(id__in=[r.id for r in rows]).update(
                        status=DeliveryStatus.SENDING, attempts=F("attempts") + 1, lease_until=lease, updated_at=now
                    )
                for row in rows:
                    row.status, row.attempts, row.lease_until = DeliveryStatus.SENDING, row.attempts + 1, lease
                    claimed.append(row)
        else:
            # SQLite: no row locks. Each claim is its own conditional UPDATE (autocommit): a read transaction that
            # later writes would fail with "database is locked" when another process wrote in between.
            await take(await query)
        return claimed

    async def _deliver_counted(self, d: Delivery) -> None:
        """:meth:`deliver`, counted per Slack channel while it is out (see ``slack_in_flight``)."""
        channel = d.target.split(":", 1)[0] if d.channel in (SLACK, SLACK_UPDATE) else None
        if channel is None:
            return await self.deliver(d)
        self._out[channel] += 1
        try:
            await self.deliver(d)
        finally:
            self._out[channel] -= 1

    async def deliver(self, d: Delivery) -> None:
        """Send one claimed delivery and record the outcome. Never raises."""
        try:
            alert = await Alert.get(id=d.alert_id)
            if d.channel != SLACK_UPDATE and alert.state != AlertState.OPEN:
                await self._finish(d, status=DeliveryStatus.CANCELLED)  # acknowledged while it was claimed
                return
            sent = await self._send(d, alert)
        except SendError as exc:
            await self._failed(d, exc)
            return
        except Exception as exc:  # a bug or the database: keep the row, try again later
            log.exception("delivery %s: unexpected error", d.id)
            await self._failed(d, SendError(f"{type(exc).__name__}: {exc}", permanent=False))
            return
        await self._sent(d, alert, sent)

    async def _send(self, d: Delivery, alert: Alert) -> Sent:
        now = self.clock()
        hold = self._holds.get(d.target.split(":", 1)[0])
        if d.channel in (SLACK, SLACK_UPDATE) and hold is not None and hold > now:
            raise SendError(
                "Slack rate limit", permanent=False, code="ratelimited", retry_after=(hold - now).total_seconds()
            )
        facts = await self.alerts.facts(alert)
        language = self.alerts.language_of(d.person)
        if d.channel == SMS:
            if self.sms is None:
                raise SendError("SMS is not configured ([notify.twilio])", permanent=True, code="not_configured")
            if d.text:  # an earlier attempt may have reached Twilio (a crash, a lost reply): ask before resending
                known = cast(
                    list[str],
                    await (  # flat: values, not tuples (tortoise's types)
                        Delivery.filter(channel=SMS, target=d.target, provider_id__isnull=False).values_list(
                            "provider_id", flat=True
                        )
                    ),
                )
                sid = await self.sms.find(d.target, d.text, exclude=set(known))
                if sid is not None:
                    self.counters.recovered += 1
                    log.warning("delivery %s: an earlier attempt had reached Twilio (%s); not sent again", d.id, sid)
                    return Sent(sid)
            if not d.text:
                marker = escalation_marker(d.step, d.round, language)
                d.text = sms_text(facts, now, self.max_segments, marker, language)
                await Delivery.filter(id=d.id).update(text=d.text)
            return await self.sms.send(d.target, d.text)
        if self.slack is None:
            raise SendError("Slack is not configured ([notify.slack])", permanent=True, code="not_configured")
        if d.channel == SLACK:
            text, blocks = slack_blocks(facts, now, language=language)
            return await self.slack.post(d.target, text, blocks)
        if d.channel == SLACK_UPDATE:
            channel, _, ts = d.target.partition(":")
            text, blocks = slack_blocks(
                facts,
                now,
                acked_by=alert.acknowledged_by,
                resolved=alert.state == AlertState.RESOLVED,
                language=language,
            )
            return await self.slack.update(channel, ts, text, blocks)
        raise SendError(f"unknown channel {d.channel!r}", permanent=True, code="bad_channel")

    # -- outcomes ---------------------------------------------------------------------------------------------

    async def _note(self, ticket_id: int, text: str) -> None:
        """A line in the ticket's history (internal): what was sent, or failed for good."""
        await self.alerts.tickets.note(ACTOR, ticket_id, text, about="alert")

    async def _finish(self, d: Delivery, **values: object) -> bool:
        """Write the outcome if this dispatcher still holds the row (compare-and-set)."""
        now = self.clock()
        changed = await Delivery.filter(id=d.id, status=DeliveryStatus.SENDING, attempts=d.attempts).update(
            lease_until=None, updated_at=now, **values
        )
        if not changed:
            log.warning("delivery %s: outcome dropped, the row was taken over (lease expired)", d.id)
        return bool(changed)

    async def _sent(self, d: Delivery, alert: Alert, sent: Sent) -> None:
        now = self.clock()
        async with unit_of_work():
            if not await self._finish(
                d,
                status=DeliveryStatus.SENT,
                provider_id=sent.provider_id,
                provider_channel=sent.provider_channel,
                sent_at=now,
                last_error=None,
                error_code=None,
            ):  # a write first: SQLite then waits for other writers
                return
            # A Slack post locks its alert row (before the note below touches the ticket, which an acknowledgement
            # locks after the alert): an ack committing meanwhile is seen here, or waits and then sees this message
            # as posted. Unlocked, each missed the other and the message kept saying the alert was open.
            state = (await Alert.select_for_update().get(id=alert.id)).state if d.channel == SLACK else None
            if d.channel != SLACK_UPDATE:
                await self._note(
                    alert.ticket_id,
                    f"{_what(d)} sent ({sent.provider_id}) for {alert.reason}, step {d.step + 1}, round {d.round + 1}",
                )
            if d.channel == SLACK and state != AlertState.OPEN:
                d.provider_id, d.provider_channel = sent.provider_id, sent.provider_channel
                await queue_slack_update(d, now)  # acknowledged while it was being posted
        self.counters.sent += 1

    async def _failed(self, d: Delivery, exc: SendError) -> None:
        now = self.clock()
        expired = now - d.due_at >= self.settings.retry_for
        if exc.permanent or expired:
            reason = str(exc) if exc.permanent else f"gave up after {d.attempts} attempts: {exc}"
            async with unit_of_work():
                if not await self._finish(d, status=DeliveryStatus.FAILED, error_code=exc.code, last_error=reason):
                    return
                alert = await Alert.get(id=d.alert_id)
                await Alert.filter(id=alert.id).update(last_error=f"{_what(d)}: {reason}"[:2000], updated_at=now)
                await self._note(alert.ticket_id, f"{_what(d)} FAILED for {alert.reason}: {reason}")
            self.counters.failed += 1
            log.warning("delivery %s (%s) failed: %s", d.id, _what(d), reason)
            return
        delay = self._backoff(d.attempts, exc.retry_after)
        if exc.retry_after is not None and d.channel in (SLACK, SLACK_UPDATE):
            self._holds[d.target.split(":", 1)[0]] = now + timedelta(seconds=exc.retry_after)
        if await self._finish(
            d, status=DeliveryStatus.QUEUED, next_attempt_at=now + delay, error_code=exc.code, last_error=str(exc)
        ):
            self.counters.retried += 1
            log.info("delivery %s (%s): %s; again in %.1f s", d.id, _what(d), exc, delay.total_seconds())

    def _backoff(self, attempts: int, retry_after: float | None) -> timedelta:
        if retry_after is not None:  # at least a second: a pass never takes the same row twice
            return timedelta(seconds=max(retry_after, 1.0))
        base = self.settings.first_backoff.total_seconds() * 2 ** max(attempts - 1, 0)
        capped = min(base, self.settings.max_backoff.total_seconds())
        return timedelta(seconds=capped * random.uniform(0.5, 1.0))  # jitter: dispatchers do not stampede

    # -- the loop ---------------------------------------------------------------------------------------------

    async def next_due(self) -> datetime | None:
        # flat: the value or None, not a tuple (tortoise's types)
        queued = cast(
            datetime | None,
            await Delivery.filter(status=DeliveryStatus.QUEUED)
            .order_by("next_attempt_at")
            .first()
            .values_list("next_attempt_at", flat=True),
        )
        leased = cast(
            datetime | None,
            await Delivery.filter(status=DeliveryStatus.SENDING)
            .order_by("lease_until")
            .first()
            .values_list("lease_until", flat=True),
        )
        times = [t for t in (queued, leased, await self.alerts.next_ack_expiry()) if t is not None]
        return min(times) if times else None


def _what(d: Delivery) -> str:
    who = f" to {d.person}" if d.person else ""
    if d.channel == SMS:
        return f"SMS{who} ({d.target})"
    if d.channel == SLACK:
        return f"Slack message{who} ({d.target})"
    return "Slack update"
