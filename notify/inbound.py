"""Acknowledgements that arrive from outside: an SMS reply, a Slack button. Signature checks and the reply text.

* SMS replies: ``1042``, ``ACK 1042``, ``ack IT-1042``, ``ack all``. Only alerts that were sent to the replying
  number are acknowledged; an unknown sender or a code that matches nothing open gets a polite answer and changes
  nothing.
* Slack: the ``ack`` button of an alert message; the clicking Slack user is recorded (their on-call name when
  known).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from notify.alerts import AlertService

_REPLY = re.compile(r"^\s*(?:ack(?:nowledge)?\s*)?(?:[a-z]{1,10}-)?(\d{1,12}|all)\s*[.!]?\s*$", re.I)
SLACK_WINDOW = 300  # seconds: older Slack requests are refused (replays)


@dataclass(frozen=True)
class ReplyOutcome:
    text: str
    acknowledged: tuple[int, ...] = ()


def parse_reply(body: str) -> str | None:
    """The code of an SMS reply (digits of a ticket number, or ``all``), or None."""
    match = _REPLY.match(body)
    return match.group(1).lower() if match else None


async def sms_reply(alerts: AlertService, sender: str, body: str) -> ReplyOutcome:
    """Handle an inbound SMS from ``sender``: acknowledge what it names, say what happened."""
    person = alerts.roster.person_by_phone(sender)
    if person is None:
        return ReplyOutcome("helpline: this number is not on the on-call list; nothing was changed.")
    code = parse_reply(body)
    if code is None:
        return ReplyOutcome("helpline: reply with the ticket number (e.g. 1042) or ACK ALL to acknowledge.")
    found = await alerts.find_for_reply(code, sender)
    if not found:
        return ReplyOutcome(f"helpline: no open alert for {code} was sent to you; nothing was changed.")
    done = await alerts.acknowledge([a.id for a in found], person.name, "sms")
    if not done:
        return ReplyOutcome("helpline: already acknowledged; nothing was changed.")
    tickets = ", ".join(sorted({a.summary.split(" ", 1)[0] for a in done}))
    return ReplyOutcome(f"helpline: acknowledged {tickets}. Thank you, {person.display_name or person.name}.",
                        tuple(a.id for a in done))


def slack_signature_ok(secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None) -> bool:
    """Slack request signing v0: ``v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")``, timestamp within 5 minutes."""
    ts = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not ts.isdigit() or not signature.startswith("v0="):
        return False
    if abs((time.time() if now is None else now) - int(ts)) > SLACK_WINDOW:
        return False
    expected = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)
