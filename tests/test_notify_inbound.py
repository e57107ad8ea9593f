"""SMS reply parsing, Slack request signatures, business-hours routing of policies."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from notify.inbound import parse_reply, slack_signature_ok
from notify.policy import Match, Policy, Step, Target, choose
from tests.sla_support import book

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.mark.parametrize("text, code", [
    ("1042", "1042"), (" ack 1042 ", "1042"), ("ACK IT-1042", "1042"), ("Acknowledge 1042.", "1042"),
    ("ack all", "all"), ("ALL", "all"), ("ok", None), ("1042 and 1043", None), ("", None), ("STOP", None)])
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


def test_business_hours_routing_wakes_nobody_for_what_can_wait(tmp_path: Path) -> None:
    """In office hours a P2 goes to the queue's Slack channel only; out of hours the on-call is texted."""
    office = book(tmp_path).calendars["office"]  # Mon-Fri 08:00-18:00 Moscow, lunch 13-14 on Mondays
    slack_only = Policy("in-hours", (Step(timedelta(0), (Target("slack", "#it"),)),),
                        Match(frozenset({"sla.warning"}), frozenset({"P2"}), hours="business", calendar="office"))
    wake = Policy("out-of-hours", (Step(timedelta(0), (Target("schedule", "primary"),)),),
                  Match(frozenset({"sla.warning"}), frozenset({"P2"}), hours="after_hours", calendar="office"))
    policies = [slack_only, wake]

    def at(t: datetime) -> Policy | None:
        return choose(policies, "sla.warning", "P2", "resolution", lambda name: office.is_working(t))

    assert at(datetime(2026, 3, 3, 9, 0, tzinfo=timezone.utc)) is slack_only  # Tue 12:00 MSK
    assert at(datetime(2026, 3, 3, 20, 0, tzinfo=timezone.utc)) is wake  # Tue 23:00 MSK
    assert at(datetime(2026, 3, 7, 9, 0, tzinfo=timezone.utc)) is wake  # Saturday
    assert choose(policies, "sla.warning", "P1", None, lambda name: True) is None  # no policy for P1 here
