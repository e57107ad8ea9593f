"""Alerting in the process: the alert service, the providers and the dispatcher, built from ``[notify]``.

The runtime (:mod:`web.runtime`) builds a :class:`NotifyRuntime` when policies are configured and starts it (provider
clients are created inside the running loop) after the database is ready. Its alert service hears ticket changes
from the bus and SLA warnings and breaches inside the SLA scheduler's transaction (they commit together, or not at
all): :mod:`web.runtime.subscriptions`. Every 5 minutes (and at
start-up) a catch-up looks for SLA warnings and breaches without their alert (recorded by an instance without
alerting configured) and for open alerts of resolved tickets: in normal operation it finds nothing (the alert's
unique key makes it idempotent).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from datetime import timedelta

from notify.alerts import AlertService
from notify.channels import SendError, SlackChat, TwilioSms
from notify.dispatcher import Dispatcher, DispatchSettings
from notify.models import Delivery, DeliveryStatus
from tickets.sla.calendar import Calendar
from tickets.ticket_service import TicketService
from web.settings import Settings
from web.tasks import cancel_and_wait

log = logging.getLogger(__name__)
V1 = "/api/v1"
#: Seconds between two looks for SLA events without their alert (a safety net: normally there are none).
CATCH_UP_EVERY = 300.0


class NotifyRuntime:
    """Everything alerting needs while the app runs."""

    def __init__(self, settings: Settings, tickets: TicketService, calendars: Mapping[str, Calendar]) -> None:
        n = settings.notify
        self.settings = settings
        public = settings.web.public_url.rstrip("/") if settings.web.public_url else None
        self.public_url = public
        self.alerts = AlertService(
            n.roster(), n.build_policies(), tickets, calendars=calendars, ticket_url=n.ticket_url
        )
        self.sms: TwilioSms | None = None
        if n.twilio is not None:
            callback = f"{public}{V1}/webhooks/twilio/status" if public and n.twilio.status_callbacks else None
            self.sms = TwilioSms(
                n.twilio.account_sid,
                n.twilio.auth_token.get_secret_value(),
                n.twilio.from_number,
                base_url=n.twilio.api_base_url,
                timeout=n.twilio.timeout.total_seconds(),
                status_callback=callback,
            )
        self.slack: SlackChat | None = None
        if n.slack is not None:
            self.slack = SlackChat(
                n.slack.bot_token.get_secret_value(),
                base_url=n.slack.api_base_url,
                timeout=n.slack.timeout.total_seconds(),
            )
        self.dispatcher = Dispatcher(
            self.alerts,
            sms=self.sms,
            slack=self.slack,
            max_segments=n.twilio.max_segments if n.twilio else 2,
            settings=DispatchSettings(lease=n.lease, retry_for=n.retry_for, max_backoff=n.max_backoff),
        )
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def twilio_token(self) -> str | None:
        t = self.settings.notify.twilio
        return t.auth_token.get_secret_value() if t else None

    @property
    def slack_ack_from(self) -> str:
        """Who may acknowledge with the Slack button: ``mapped``, ``on_call`` or ``anyone``."""
        s = self.settings.notify.slack
        return s.ack_from if s else "mapped"

    @property
    def slack_signing_secret(self) -> str | None:
        s = self.settings.notify.slack
        return s.signing_secret.get_secret_value() if s and s.signing_secret else None

    async def start(self) -> None:
        if self.sms is not None:
            await self.sms.start()
        if self.slack is not None:
            await self.slack.start()
        await self.resolve_slack_emails()
        await self._catch_up()
        self.dispatcher.start()
        self._sweeper = asyncio.create_task(self._sweep(), name="notify-catch-up")

    async def resolve_slack_emails(self) -> int:
        """Look up the Slack member id of people given by ``slack_email`` (once each); returns how many remain."""
        people = self.alerts.roster.people
        pending = [p for p in people.values() if p.slack_email and not p.slack_user]
        if self.slack is None:
            return len(pending)
        left = 0
        for person in pending:
            assert person.slack_email is not None
            try:
                user = await self.slack.user_by_email(person.slack_email)
            except SendError as exc:
                left += 1
                log.warning("Slack has no member id for %s (%s): %s", person.name, person.slack_email, exc)
                if exc.permanent:
                    people[person.name] = dataclasses.replace(person, slack_email=None)  # do not ask again
                continue
            people[person.name] = dataclasses.replace(person, slack_user=user)
        return left

    async def _catch_up(self) -> None:
        """Open the alerts of recent SLA warnings and breaches that have none; resolve those of resolved tickets."""
        try:
            opened = await self.alerts.catch_up(timedelta(hours=1))
            if opened:
                log.warning(
                    "catch-up opened %d alerts for SLA events that had none (recorded by an instance "
                    "without alerting?)",
                    opened,
                )
        except Exception:
            log.exception("alerting: the catch-up of SLA events failed")

    async def _sweep(self, every: float = CATCH_UP_EVERY) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.resolve_slack_emails()  # Slack may have been away at start-up
            except Exception:
                log.exception("alerting: looking up Slack members by e-mail failed")
            await self._catch_up()

    async def stop(self) -> None:
        await cancel_and_wait(self._sweeper)
        self._sweeper = None
        await self.dispatcher.stop()
        if self.sms is not None:
            await self.sms.close()
        if self.slack is not None:
            await self.slack.close()

    async def problems(self) -> str:
        """``ok``, or the permanent delivery failures of the last day (for /readyz)."""
        since = self.alerts.clock() - timedelta(days=1)
        rows = await Delivery.filter(status=DeliveryStatus.FAILED, updated_at__gte=since).limit(1000)
        if not rows:
            return "ok"
        codes = sorted({f"{d.channel} {d.error_code or 'error'}" for d in rows})
        return f"{len(rows)} deliveries failed: {', '.join(codes)}"
