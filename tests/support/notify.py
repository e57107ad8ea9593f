"""Shared pieces of the alerting tests: the fake providers, a settable clock, a team on call, a wired world."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import pytest_asyncio

from notify.alerts import AlertService
from notify.channels import SlackChat, TwilioSms
from notify.dispatcher import Dispatcher, DispatchSettings
from tests.support.notify_fakes import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    FakeTwilio,
    LoopbackServer,
)
from tickets.actor import Actor
from tickets.events import EventBus, TicketUpdated
from tickets.models import Level, Ticket
from tickets.ticket_service import TicketService
from web.settings import Settings
from web.settings.notify import NotifySettings

FROM = "+15550001111"
IVAN, OLGA, MARIA = "+79161234567", "+79161234568", "+66812345678"
#: Monday 2 March 2026, 10:00 UTC (13:00 in Moscow): ivan's week on the it-primary rotation.
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class SetClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


def notify_raw(
    twilio_url: str, slack_url: str, *, languages: dict[str, str] | None = None, **policy: Any
) -> dict[str, Any]:
    """The [notify] section of the issue's example, pointed at the fakes (``languages``: person -> language)."""
    raw: dict[str, Any] = {
        "twilio": {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "from_number": FROM,
            "api_base_url": twilio_url,
        },
        "slack": {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET, "api_base_url": slack_url + "/api/"},
        "people": [
            {"name": "ivan", "display_name": "Иван Петров", "phone": IVAN, "slack_user": "U024BE7LH"},
            {"name": "olga", "phone": OLGA, "channels": ["sms"]},
            {"name": "maria", "display_name": "มาเรีย", "phone": MARIA, "channels": ["sms"]},
            {"name": "petr", "slack_email": "petr@example.com"},  # in no policy: looked up at start-up
            {"name": "ghost", "slack_email": "ghost@example.com"},  # not in the Slack workspace
        ],
        "schedules": [
            {
                "name": "it-primary",
                "timezone": "Europe/Moscow",
                "rotation": {
                    "members": ["ivan", "olga"],
                    "length": "1w",
                    "handoff": "mon 09:00",
                    "start": "2026-03-02",
                },
            },
            {
                "name": "it-secondary",
                "timezone": "Europe/Moscow",
                "rotation": {
                    "members": ["olga", "ivan"],
                    "length": "1w",
                    "handoff": "mon 09:00",
                    "start": "2026-03-02",
                },
            },
        ],
        "policies": [
            {
                "name": "sla",
                "match": {"event": ["sla.breached", "sla.warning"], "priority": ["P1", "P2"]},
                "steps": [
                    {"after": "0m", "notify": ["schedule:it-primary", "slack:#it-oncall"]},
                    {"after": "10m", "notify": ["schedule:it-secondary"]},
                    {"after": "20m", "notify": ["person:maria"]},
                ],
                "repeat": 1,
                **policy,
            }
        ],
        "lease": "2m",
        "retry_for": "2h",
    }
    for person in raw["people"]:
        if person["name"] in (languages or {}):
            person["language"] = (languages or {})[person["name"]]
    return raw


Fake = TypeVar("Fake", FakeTwilio, FakeSlack)


def _served(fake: Fake) -> Iterator[Fake]:
    """``fake`` answering on a loopback port (its ``url``) for the length of a test."""
    server = LoopbackServer(fake.app()).start()
    fake.url = server.url  # type: ignore[attr-defined]
    try:
        yield fake
    finally:
        server.stop()


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    yield from _served(FakeTwilio())


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    yield from _served(FakeSlack())


@dataclass
class World:
    clock: SetClock
    tickets: TicketService
    alerts: AlertService
    dispatcher: Dispatcher
    sms: TwilioSms
    slack: SlackChat
    twilio: FakeTwilio
    fake_slack: FakeSlack
    notify: NotifySettings

    async def p1(self, title: str = "VPN down for Finance") -> Ticket:
        return await self.tickets.create(Actor.system("test"), title=title, impact=Level.HIGH, urgency=Level.HIGH)

    def second_dispatcher(self) -> Dispatcher:
        return Dispatcher(
            self.alerts,
            sms=self.sms,
            slack=self.slack,
            settings=self.dispatcher.settings,
            clock=self.clock,
            name="second",
        )


def build_world(
    orm: Settings, twilio: FakeTwilio, slack: FakeSlack, *, languages: dict[str, str] | None = None, **policy: Any
) -> World:
    raw = notify_raw(twilio.url, slack.url, languages=languages, **policy)  # type: ignore[attr-defined]
    notify = NotifySettings.model_validate(raw)
    clock = SetClock()
    bus = EventBus()
    tickets = TicketService(clock=clock, publish=bus.publish)
    alerts = AlertService(
        notify.roster(), notify.build_policies(), tickets, clock=clock, ticket_url="https://helpline.example.com/t/"
    )
    bus.subscribe(alerts.on_ticket_event, TicketUpdated)  # as web/runtime/subscriptions.py does
    assert notify.twilio is not None and notify.slack is not None
    sms = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, FROM, base_url=notify.twilio.api_base_url, timeout=5)
    chat = SlackChat(BOT_TOKEN, base_url=notify.slack.api_base_url, timeout=5)
    settings = DispatchSettings(
        lease=notify.lease,
        retry_for=notify.retry_for,
        first_backoff=timedelta(seconds=5),
        max_backoff=notify.max_backoff,
    )
    dispatcher = Dispatcher(alerts, sms=sms, slack=chat, settings=settings, clock=clock)
    return World(clock, tickets, alerts, dispatcher, sms, chat, twilio, slack, notify)


@pytest_asyncio.fixture
async def world(orm: Settings, fake_twilio: FakeTwilio, fake_slack: FakeSlack) -> AsyncIterator[World]:
    w = build_world(orm, fake_twilio, fake_slack)
    await w.sms.start()
    await w.slack.start()
    try:
        yield w
    finally:
        await w.sms.close()
        await w.slack.close()
