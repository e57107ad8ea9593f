"""SMS reply parsing, Slack request signatures, business-hours routing of policies, and the webhooks' refusals:
forged, tampered, replayed, stale and malformed requests answered right and counted by reason."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from notify.inbound import parse_reply
from notify.models import Alert, Delivery, DeliveryStatus
from notify.policy import Match, Policy, Step, Target, choose
from tests.support.notify import FROM, IVAN, notify_raw
from tests.support.notify_fakes import ACCOUNT_SID, AUTH_TOKEN, SIGNING_SECRET, FakeSlack, FakeTwilio, providers_toml
from tests.support.servers import start_server, stop_server
from tests.support.sla import book
from tickets.actor import Actor
from tickets.models import Level
from web.app import create_app
from web.http.webhook_guard import WebhookStats, slack_signature_ok
from web.runtime import runtime_of
from web.settings import Settings

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.mark.parametrize(
    "text, code",
    [
        ("1042", "1042"),
        (" ack 1042 ", "1042"),
        ("ACK IT-1042", "1042"),
        ("Acknowledge 1042.", "1042"),
        ("ack all", "all"),
        ("ALL", "all"),
        ("ok", None),
        ("1042 and 1043", None),
        ("", None),
        ("STOP", None),
    ],
)
def test_sms_replies(text: str, code: str | None) -> None:
    assert parse_reply(text) == code


def sign(ts: int, body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"x-slack-request-timestamp": str(ts), "x-slack-signature": f"v0={digest}"}


def test_slack_signatures() -> None:
    body, now = b"payload=%7B%22type%22%3A%22block_actions%22%7D", 1_700_000_000
    assert slack_signature_ok(SECRET, sign(now, body), body, now=now)
    assert slack_signature_ok(SECRET, sign(now - 299, body), body, now=now)
    assert not slack_signature_ok(SECRET, sign(now - 301, body), body, now=now)  # replayed later
    assert not slack_signature_ok(SECRET, sign(now + 301, body), body, now=now)
    assert not slack_signature_ok(SECRET, sign(now, body, "other"), body, now=now)
    assert not slack_signature_ok(SECRET, sign(now, body), body + b"x", now=now)
    assert not slack_signature_ok(SECRET, {}, body, now=now)
    odd = {**sign(now, body), "x-slack-request-timestamp": "\u00b2"}  # a digit to str.isdigit, not to int()
    assert not slack_signature_ok(SECRET, odd, body, now=now)


def test_business_hours_routing_wakes_nobody_for_what_can_wait(tmp_path: Path) -> None:
    """In office hours a P2 goes to the queue's Slack channel only; out of hours the on-call is texted."""
    office = book(tmp_path).calendars["office"]  # Mon-Fri 08:00-18:00 Moscow, lunch 13-14 on Mondays
    slack_only = Policy(
        "in-hours",
        (Step(timedelta(0), (Target("slack", "#it"),)),),
        Match(frozenset({"sla.warning"}), frozenset({"P2"}), hours="business", calendar="office"),
    )
    wake = Policy(
        "out-of-hours",
        (Step(timedelta(0), (Target("schedule", "primary"),)),),
        Match(frozenset({"sla.warning"}), frozenset({"P2"}), hours="after_hours", calendar="office"),
    )
    policies = [slack_only, wake]

    def at(t: datetime) -> Policy | None:
        return choose(policies, "sla.warning", "P2", "resolution", lambda name: office.is_working(t))

    assert at(datetime(2026, 3, 3, 9, 0, tzinfo=UTC)) is slack_only  # Tue 12:00 MSK
    assert at(datetime(2026, 3, 3, 20, 0, tzinfo=UTC)) is wake  # Tue 23:00 MSK
    assert at(datetime(2026, 3, 7, 9, 0, tzinfo=UTC)) is wake  # Saturday
    assert choose(policies, "sla.warning", "P1", None, lambda name: True) is None  # no policy for P1 here


# -- refused webhook requests: counted by source and reason, logged once, without secrets ----------------------------

PUBLIC = "https://helpline.example.com"
V1 = "/api/v1"
SMS_PATH, STATUS_PATH, SLACK_PATH = (
    f"{V1}/webhooks/twilio/sms",
    f"{V1}/webhooks/twilio/status",
    f"{V1}/webhooks/slack/interactions",
)
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def hooks(database_url: str, fake_twilio: FakeTwilio, fake_slack: FakeSlack) -> Iterator[TestClient]:
    settings = Settings.model_validate(
        {
            "database": {"url": database_url},
            "web": {"public_url": PUBLIC},
            "notify": notify_raw(fake_twilio.url, fake_slack.url),
        }
    )  # type: ignore[attr-defined]
    with TestClient(create_app(settings)) as client:
        yield client


def rejected(client: TestClient) -> dict[tuple[str, str], int]:
    return dict(runtime_of(client.app).webhook_stats.rejected)


def twilio(
    client: TestClient,
    path: str,
    params: dict[str, str],
    *,
    token: str = AUTH_TOKEN,
    signed: dict[str, str] | None = None,
    url: str = PUBLIC,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST ``params`` to a Twilio webhook, signed over ``signed`` (default: the same params) for ``url``."""
    signature = RequestValidator(token).compute_signature(url + path, params if signed is None else signed)
    return client.post(
        path,
        content=urlencode(params),
        headers={"Content-Type": FORM, "X-Twilio-Signature": signature, **(headers or {})},
    )


def slack(
    client: TestClient, body: str, *, secret: str = SIGNING_SECRET, age: int = 0, headers: dict[str, str] | None = None
) -> Any:
    ts = int(time.time()) - age
    return client.post(
        SLACK_PATH, content=body, headers={"Content-Type": FORM, **sign(ts, body.encode(), secret), **(headers or {})}
    )


def test_forged_and_malformed_sms_webhooks_are_refused_and_counted(hooks: TestClient) -> None:
    c = hooks
    ack = {"From": IVAN, "Body": "ACK 1042", "MessageSid": "SM" + "1" * 32}
    assert twilio(c, SMS_PATH, ack, token="not-the-token").status_code == 403
    assert twilio(c, SMS_PATH, ack, signed={**ack, "Body": "ACK 7"}).status_code == 403  # tampered body
    assert twilio(c, SMS_PATH, ack, url="http://helpline.example.com").status_code == 403  # signed for another URL
    no_header = c.post(SMS_PATH, content=urlencode(ack), headers={"Content-Type": FORM})
    assert no_header.status_code == 403
    as_json = c.post(SMS_PATH, json=ack, headers={"X-Twilio-Signature": "abc="})
    assert as_json.status_code == 400
    assert twilio(c, SMS_PATH, {"Body": "ACK 1042"}).status_code == 400  # signed, but who sent it?
    assert rejected(c) == {
        ("twilio_sms", "bad_signature"): 3,
        ("twilio_sms", "missing_signature"): 1,
        ("twilio_sms", "malformed_body"): 2,
    }
    assert runtime_of(c.app).webhook_stats.forged() == {"twilio": 4, "slack": 0}  # type: ignore[attr-defined]

    # valid requests are not counted; a stranger is answered politely (and counted); a replay acts once
    valid = twilio(c, SMS_PATH, ack)
    assert valid.status_code == 200 and "no open alert for 1042" in valid.text
    stranger = twilio(c, SMS_PATH, {"From": "+15005550006", "Body": "1042", "MessageSid": "SM" + "2" * 32})
    assert stranger.status_code == 200 and "not on the on-call list" in stranger.text
    replay = twilio(c, SMS_PATH, ack)
    assert replay.status_code == 200 and "<Message>" not in replay.text  # nothing is answered (or done) twice
    assert rejected(c) == {
        ("twilio_sms", "bad_signature"): 3,
        ("twilio_sms", "missing_signature"): 1,
        ("twilio_sms", "malformed_body"): 2,
        ("twilio_sms", "unknown_sender"): 1,
        ("twilio_sms", "replay"): 1,
    }
    # the same counts are what Prometheus scrapes
    exposition = text_string_to_metric_families(c.get("/metrics").text)
    scraped = {
        (s.labels["source"], s.labels["reason"]): int(s.value)
        for family in exposition
        if family.name == "helpline_webhooks_refused"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert scraped == rejected(c)


def test_status_callbacks_refused_and_counted(hooks: TestClient) -> None:
    c = hooks
    sid = "SM" + "a" * 32

    async def sent_sms() -> int:
        ticket = await runtime_of(c.app).tickets.create(  # type: ignore[attr-defined]
            Actor.system("test"), title="Mail down", impact=Level.HIGH, urgency=Level.HIGH
        )
        now = datetime.now(UTC)
        alert = await Alert.create(
            ticket_id=ticket.id,
            reason="sla.breached:resolution",
            event="sla.breached",
            policy="sla",
            summary=f"{ticket.number} P1 Mail down",
            opened_at=now,
            updated_at=now,
        )
        d = await Delivery.create(
            alert_id=alert.id,
            step=0,
            channel="sms",
            target=IVAN,
            person="ivan",
            due_at=now,
            next_attempt_at=now,
            status=DeliveryStatus.SENT,
            provider_id=sid,
            updated_at=now,
        )
        return int(d.id)

    delivery_id = c.portal.call(sent_sms)
    delivered = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    assert twilio(c, STATUS_PATH, delivered, token="wrong").status_code == 403
    assert twilio(c, STATUS_PATH, {**delivered, "MessageStatus": "undelivered"}, signed=delivered).status_code == 403
    assert twilio(c, STATUS_PATH, {"MessageSid": sid}).status_code == 400
    assert twilio(c, STATUS_PATH, {**delivered, "MessageStatus": "exploded"}).status_code == 400
    assert rejected(c) == {("twilio_status", "bad_signature"): 2, ("twilio_status", "malformed_body"): 2}
    assert c.portal.call(lambda: Delivery.get(id=delivery_id)).provider_status is None  # nothing forged got in

    assert twilio(c, STATUS_PATH, delivered).status_code == 204
    assert c.portal.call(lambda: Delivery.get(id=delivery_id)).provider_status == "delivered"
    assert len(rejected(c)) == 2  # the genuine callback is not counted
    assert twilio(c, STATUS_PATH, delivered).status_code == 204  # again: a replay, acted on once
    assert twilio(c, STATUS_PATH, {**delivered, "MessageSid": "SM" + "f" * 32}).status_code == 204
    assert rejected(c) == {
        ("twilio_status", "bad_signature"): 2,
        ("twilio_status", "malformed_body"): 2,
        ("twilio_status", "replay"): 1,
        ("twilio_status", "unknown_message"): 1,
    }


def test_forged_stale_replayed_and_malformed_slack_requests_are_counted(hooks: TestClient) -> None:
    c = hooks
    click = urlencode(
        {
            "payload": json.dumps(
                {
                    "type": "block_actions",
                    "user": {"id": "U024BE7LH"},
                    "actions": [{"action_id": "ack", "value": "999999"}],
                }
            )
        }
    )
    assert slack(c, click, secret="wrong").status_code == 401
    tampered = c.post(
        SLACK_PATH,
        content=click.replace("999999", "1"),
        headers={"Content-Type": FORM, **sign(int(time.time()), click.encode(), SIGNING_SECRET)},
    )
    assert tampered.status_code == 401
    assert slack(c, click, age=301).status_code == 401  # genuine, but signed more than 5 minutes ago
    # signed 5 minutes ahead (302 s: the whole seconds of the timestamp can hide up to one second of the gap)
    assert slack(c, click, age=-302).status_code == 401
    assert c.post(SLACK_PATH, content=click, headers={"Content-Type": FORM}).status_code == 401
    assert slack(c, click, headers={"x-slack-request-timestamp": "soon"}).status_code == 401
    assert rejected(c) == {
        ("slack_interactions", "bad_signature"): 3,
        ("slack_interactions", "stale_timestamp"): 2,
        ("slack_interactions", "missing_signature"): 1,
    }

    ts = int(time.time())
    genuine = {"Content-Type": FORM, **sign(ts, click.encode(), SIGNING_SECRET)}
    r = c.post(SLACK_PATH, content=click, headers=genuine)
    assert r.status_code == 200, (r.text, rejected(c))  # valid: not counted
    assert len(rejected(c)) == 3
    assert c.post(SLACK_PATH, content=click, headers=genuine).status_code == 401  # the same request again
    assert slack(c, "payload=%7Bnot-json").status_code == 400
    assert slack(c, "nothing=here").status_code == 400
    assert rejected(c) == {
        ("slack_interactions", "bad_signature"): 3,
        ("slack_interactions", "stale_timestamp"): 2,
        ("slack_interactions", "missing_signature"): 1,
        ("slack_interactions", "replay"): 1,
        ("slack_interactions", "malformed_body"): 2,
    }
    assert runtime_of(c.app).webhook_stats.forged() == {"twilio": 0, "slack": 7}  # type: ignore[attr-defined]
    assert runtime_of(c.app).webhook_stats.as_dict()["slack_interactions"]["replay"] == 1


def test_a_signed_request_is_acted_on_once_by_all_instances_and_after_a_restart(
    database_url: str, fake_twilio: FakeTwilio, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """The replay memory is in the database: a ``helpline serve`` process beside the app refuses what the app
    handled (and the other way round), and so does an app started afterwards."""
    config = tmp_path / "helpline.toml"
    config.write_text(
        f'[web]\npublic_url = "{PUBLIC}"\n'
        + providers_toml(fake_twilio.url, fake_slack.url, FROM)  # type: ignore[attr-defined]
        + f'[[notify.people]]\nname = "ivan"\nphone = "{IVAN}"\nslack_user = "U024BE7LH"\n'
        + '[[notify.policies]]\nname = "sla"\nmatch = { event = ["sla.breached"] }\n'
        + 'steps = [{ after = "0m", notify = ["person:ivan"] }]\n'
    )
    settings = Settings.model_validate(
        {
            "database": {"url": database_url},
            "web": {"public_url": PUBLIC},
            "notify": notify_raw(fake_twilio.url, fake_slack.url),
        }
    )  # type: ignore
    ack = {"From": IVAN, "Body": "ACK 1042", "MessageSid": "SM" + "7" * 32}
    click = urlencode(
        {
            "payload": json.dumps(
                {
                    "type": "block_actions",
                    "user": {"id": "U024BE7LH"},
                    "actions": [{"action_id": "ack", "value": "999999"}],
                }
            )
        }
    )
    genuine = {"Content-Type": FORM, **sign(int(time.time()), click.encode(), SIGNING_SECRET)}
    server = start_server(database_url, tmp_path, {"HELPLINE_CONFIG": str(config)})
    try:
        with TestClient(create_app(settings)) as app, httpx.Client(base_url=server.base_url, timeout=10) as other:
            assert "<Message>" in twilio(app, SMS_PATH, ack).text
            again = twilio(other, SMS_PATH, ack)
            assert again.status_code == 200 and "<Message>" not in again.text, "the other instance acted again"
            assert other.post(SLACK_PATH, content=click, headers=genuine).status_code == 200
            assert app.post(SLACK_PATH, content=click, headers=genuine).status_code == 401
            assert rejected(app) == {("slack_interactions", "replay"): 1}
    finally:
        stop_server(server)
    with TestClient(create_app(settings)) as restarted:
        replayed = twilio(restarted, SMS_PATH, ack)
        assert replayed.status_code == 200 and "<Message>" not in replayed.text
        assert restarted.post(SLACK_PATH, content=click, headers=genuine).status_code == 401
        assert rejected(restarted) == {("twilio_sms", "replay"): 1, ("slack_interactions", "replay"): 1}


def test_refusals_are_logged_once_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    stats = WebhookStats()
    with caplog.at_level(logging.WARNING, logger="web.http.webhook_guard"):
        for _ in range(5):
            stats.reject("slack_interactions", "bad_signature", client="203.0.113.9")
        stats.reject("twilio_sms", "unknown_sender", "+15...06", "203.0.113.9")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "webhook slack_interactions refused: bad_signature from 203.0.113.9",
        "webhook twilio_sms refused: unknown_sender (+15...06) from 203.0.113.9",
    ]
    assert stats.rejected[("slack_interactions", "bad_signature")] == 5 and stats.total() == 6


def test_webhook_logs_carry_no_secret_signature_or_body(hooks: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    body = urlencode({"From": IVAN, "Body": "ACK 1042 secret-words"})
    with caplog.at_level(logging.DEBUG):
        hooks.post(SMS_PATH, content=body, headers={"Content-Type": FORM, "X-Twilio-Signature": "Zm9yZ2VkLXNpZw=="})
        slack(hooks, "payload=%7B%7D", secret="wrong")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "refused: bad_signature" in text
    for secret in (AUTH_TOKEN, SIGNING_SECRET, "Zm9yZ2VkLXNpZw==", "secret-words", IVAN):
        assert secret not in text
