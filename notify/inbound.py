"""Acknowledgements that arrive from outside: what an SMS reply or a Slack button means, and the answer.

* SMS replies: ``1042``, ``ACK 1042``, ``ack IT-1042``, ``ack all``. Only alerts that were sent to the replying
  number are acknowledged; an unknown sender or a code that matches nothing open gets a polite answer and changes
  nothing.
* Slack: the ``ack`` button of an alert message, from whom ``[notify.slack] ack_from`` allows: ``mapped`` (the
  default: Slack users that are on the on-call list), ``on_call`` (those of them on call now, or paged for this
  alert) or ``anyone`` in the channel. Others are told so, only them, and nothing changes. The alert records the
  on-call person and the Slack user who pressed the button.

That a request really comes from Twilio or Slack, and is acted on once, is the web side's job
(``web/http/webhook_guard.py``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from notify.alerts import AlertService
from notify.phrases import phrases
from notify.text import one_line

log = logging.getLogger(__name__)
_REPLY = re.compile(r"^\s*(?:ack(?:nowledge)?\s*)?(?:[a-z]{1,10}-)?(\d{1,12}|all)\s*[.!]?\s*$", re.I)


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
        return ReplyOutcome(
            "helpline: this number is not on the on-call list; nothing was changed.", known_sender=False
        )
    p = phrases(person.language)  # an unknown sender has none: the answer above is in English
    code = parse_reply(body)
    if code is None:
        return ReplyOutcome(p.reply_how)
    found = await alerts.find_for_reply(code, sender)
    if not found:
        return ReplyOutcome(p.reply_none.format(code=code))
    done = await alerts.acknowledge([a.id for a in found], person.name, "sms")
    if not done:
        return ReplyOutcome(p.reply_already)
    tickets = ", ".join(sorted({a.summary.split(" ", 1)[0] for a in done}))
    name = person.display_name or person.name
    return ReplyOutcome(p.reply_done.format(tickets=tickets, name=name), tuple(a.id for a in done))


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


async def slack_ack(
    alerts: AlertService, user: Mapping[str, Any], alert_id: int, ack_from: str = ACK_FROM_MAPPED
) -> SlackAckOutcome:
    """The Slack user ``user`` pressed Acknowledge on alert ``alert_id``: acknowledge it if ``ack_from`` allows."""
    user_id = str(user.get("id") or "")
    person = alerts.roster.person_by_slack(user_id) if user_id else None
    label = slack_user_label(user)
    if person is None and ack_from != ACK_FROM_ANYONE:
        return SlackAckOutcome(
            refusal="helpline: only people on the on-call list can acknowledge alerts, and your "
            "Slack account is not on it; nothing was changed."
        )
    if person is not None and ack_from == ACK_FROM_ON_CALL and not await alerts.is_on_call_for(person.name, alert_id):
        return SlackAckOutcome(refusal=phrases(person.language).refused_not_on_call)
    by = person.name if person is not None else f"slack:{user_id[:32] or '?'}"
    done = await alerts.acknowledge([alert_id], by, "slack", via=f"Slack user {label}")
    return SlackAckOutcome(tuple(a.id for a in done))
