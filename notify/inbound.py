"""Acknowledgements that arrive from outside: an SMS reply, a Slack button. Signature checks and the reply text.

* SMS replies: ``1042``, ``ACK 1042``, ``ack IT-1042``, ``ack all``. Only alerts that were sent to the replying
  number are acknowledged; an unknown sender or a code that matches nothing open gets a polite answer and changes
  nothing.
* Slack: the ``ack`` button of an alert message, from whom ``[notify.slack] ack_from`` allows: ``mapped`` (the
  default: Slack users that are on the on-call list), ``on_call`` (those of them on call now, or paged for this
  alert) or ``anyone`` in the channel. Others are told so, only them, and nothing changes. The alert records the
  on-call person and the Slack user who pressed the button.
* Refused webhook requests (forged, replayed, malformed, from strangers) are counted by source and reason in a
  :class:`WebhookStats` and logged without secrets or bodies. (That a validly signed request acts once is the web
  side's job: it marks what it handled in the store every instance shares.)
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from notify.alerts import AlertService
from notify.text import one_line

log = logging.getLogger(__name__)
_REPLY = re.compile(r"^\s*(?:ack(?:nowledge)?\s*)?(?:[a-z]{1,10}-)?(\d{1,12}|all)\s*[.!]?\s*$", re.I)
SLACK_WINDOW = 300  # seconds: older Slack requests are refused (replays)


@dataclass(frozen=True)
class ReplyOutcome:
    text: str
    acknowledged: tuple[int, ...] = ()
    #: False: the number is not on the on-call list (the reply is polite, nothing changed; counted as refused).
    known_sender: bool = True


def parse_reply(body: str) -> str | None:
    """The code of an SMS reply (digits of a ticket number, or ``all``), or None."""
    match = _REPLY.match(body)
    return match.group(1).lower() if match else None


async def sms_reply(alerts: AlertService, sender: str, body: str) -> ReplyOutcome:
    """Handle an inbound SMS from ``sender``: acknowledge what it names, say what happened."""
    person = alerts.roster.person_by_phone(sender)
    if person is None:
        return ReplyOutcome("helpline: this number is not on the on-call list; nothing was changed.",
                            known_sender=False)
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


#: Who may acknowledge with the Slack button (``[notify.slack] ack_from``).
ACK_FROM_MAPPED, ACK_FROM_ON_CALL, ACK_FROM_ANYONE = "mapped", "on_call", "anyone"


@dataclass(frozen=True)
class SlackAckOutcome:
    acknowledged: tuple[int, ...] = ()
    #: Why nothing was done, for the clicking user only; None when the click was allowed.
    refusal: str | None = None


def slack_user_label(user: Mapping[str, Any]) -> str:
    """``U024BE7LH (@ivan.petrov)``: a Slack user of an interaction payload, as the alert records it."""
    user_id = one_line(str(user.get("id") or "?"))[:32]
    name = one_line(str(user.get("username") or user.get("name") or ""))[:64]
    return f"{user_id} (@{name})" if name else user_id


async def slack_ack(alerts: AlertService, user: Mapping[str, Any], alert_id: int,
                    ack_from: str = ACK_FROM_MAPPED) -> SlackAckOutcome:
    """The Slack user ``user`` pressed Acknowledge on alert ``alert_id``: acknowledge it if ``ack_from`` allows."""
    user_id = str(user.get("id") or "")
    person = alerts.roster.person_by_slack(user_id) if user_id else None
    label = slack_user_label(user)
    if person is None and ack_from != ACK_FROM_ANYONE:
        return SlackAckOutcome(refusal="helpline: only people on the on-call list can acknowledge alerts, and your "
                                       "Slack account is not on it; nothing was changed.")
    if person is not None and ack_from == ACK_FROM_ON_CALL and not await alerts.is_on_call_for(person.name, alert_id):
        return SlackAckOutcome(refusal="helpline: only whoever is on call now, or was paged for this alert, can "
                                       "acknowledge it; nothing was changed.")
    by = person.name if person is not None else f"slack:{user_id[:32] or '?'}"
    done = await alerts.acknowledge([alert_id], by, "slack", via=f"Slack user {label}")
    return SlackAckOutcome(tuple(a.id for a in done))


def slack_signature_ok(secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None) -> bool:
    """Slack request signing v0: ``v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")``, timestamp within 5 minutes."""
    return slack_signature_problem(secret, headers, body, now) is None


# -- refused webhook requests ---------------------------------------------------------------------------------------

#: Where a webhook request came from (the ``source`` of :attr:`WebhookStats.rejected`).
TWILIO_SMS, TWILIO_STATUS, SLACK_INTERACTIONS = "twilio_sms", "twilio_status", "slack_interactions"
#: Why it was refused (the ``reason``).
NOT_CONFIGURED = "not_configured"  # no auth token / signing secret / public_url: nothing can be verified
MISSING_SIGNATURE = "missing_signature"  # no X-Twilio-Signature, or no X-Slack-Signature / timestamp
BAD_SIGNATURE = "bad_signature"  # forged, tampered with, signed with another secret or for another URL
STALE_TIMESTAMP = "stale_timestamp"  # Slack: validly signed, but more than 5 minutes off (an old request replayed)
REPLAY = "replay"  # validly signed, but this very request was already handled
MALFORMED_BODY = "malformed_body"  # not the form the provider sends, or a required field missing
UNKNOWN_SENDER = "unknown_sender"  # an SMS from a number not on the on-call list (answered politely, nothing done)
UNKNOWN_MESSAGE = "unknown_message"  # a status callback about a message helpline did not send
ACK_REFUSED = "ack_refused"  # a Slack click from somebody [notify.slack] ack_from does not allow (told so)
#: Reasons that mean "not provably from the provider" (what ``NotifyRuntime.forged`` counts).
FORGED = frozenset({NOT_CONFIGURED, MISSING_SIGNATURE, BAD_SIGNATURE, STALE_TIMESTAMP, REPLAY})
LOG_EVERY = 10.0  # seconds: at most one log line per (source, reason) in this time; the rest are summed up


class WebhookStats:
    """Webhook requests refused since the process started, by source and reason. Read by /metrics collectors.

    ``rejected[(source, reason)]`` is a count; sources are :data:`TWILIO_SMS`, :data:`TWILIO_STATUS` and
    :data:`SLACK_INTERACTIONS`, reasons the constants above. Each refusal is logged (one warning; a flood of the same
    kind is summed into one line per :data:`LOG_EVERY` seconds) with the source, reason, a short detail and the
    client address, never a secret, signature or body.
    """

    def __init__(self) -> None:
        self.rejected: Counter[tuple[str, str]] = Counter()
        self._logged: dict[tuple[str, str], tuple[float, int]] = {}  # last line's time, refusals not logged since

    def reject(self, source: str, reason: str, detail: str = "", client: str | None = None) -> None:
        """Count a refusal and log it (rate-limited per source and reason)."""
        key = (source, reason)
        self.rejected[key] += 1
        now = time.monotonic()
        last, quiet = self._logged.get(key, (-LOG_EVERY, 0))
        if now - last < LOG_EVERY:
            self._logged[key] = (last, quiet + 1)
            return
        self._logged[key] = (now, 0)
        more = f" (+{quiet} more of this kind not logged)" if quiet else ""
        log.warning("webhook %s refused: %s%s from %s%s", source, reason, f" ({detail})" if detail else "",
                    client or "?", more)

    def as_dict(self) -> dict[str, dict[str, int]]:
        """``{source: {reason: count}}``, for an API or a status page."""
        out: dict[str, dict[str, int]] = {}
        for (source, reason), count in sorted(self.rejected.items()):
            out.setdefault(source, {})[reason] = count
        return out

    def total(self, source: str | None = None) -> int:
        return sum(n for (s, _), n in self.rejected.items() if source is None or s == source)


def slack_signature_problem(secret: str, headers: Mapping[str, str], body: bytes,
                            now: float | None = None) -> str | None:
    """Why a Slack request does not pass signing v0 (a reason constant), or None when it does.

    The signature is checked before the timestamp's age: a forgery is ``bad_signature`` whatever its timestamp,
    a genuine request that arrives more than 5 minutes off is ``stale_timestamp``.
    """
    ts = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not ts or not signature:
        return MISSING_SIGNATURE
    if not (ts.isascii() and ts.isdigit()) or len(ts) > 12 or not signature.startswith("v0="):
        return BAD_SIGNATURE
    expected = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return BAD_SIGNATURE
    if abs((time.time() if now is None else now) - int(ts)) > SLACK_WINDOW:
        return STALE_TIMESTAMP
    return None
