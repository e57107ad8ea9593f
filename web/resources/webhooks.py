"""Webhooks that Twilio and Slack call: inbound SMS (acks), SMS status callbacks, Slack button clicks.

Each request is checked by :mod:`web.http.webhook_guard` (the provider's signature, then "not handled before" in the
store every instance shares) before anything is read from it; what it means is the alerting side's
(:mod:`notify.inbound`, :meth:`notify.alerts.AlertService.record_provider_status`). These routes are plain Starlette
routes, outside the token-authenticated operations of the OpenAPI document; docs/alerting.md describes them.

Every refused request is counted by source and reason in the runtime's
:class:`~web.http.webhook_guard.WebhookStats` and logged once, without secrets or bodies:

============================  ======================  ==========================================================
reason                        answer                  when
============================  ======================  ==========================================================
``not_configured``            403 / 401 (Slack)       no auth token, signing secret or ``[web] public_url``
``missing_signature``         403 / 401               no signature header (Slack: or no timestamp)
``bad_signature``             403 / 401               forged, tampered with, another secret or URL
``stale_timestamp``           401                     Slack: signed more than 5 minutes ago (an old replay)
``replay``                    200 empty / 204 / 401   the same signed request again (Twilio SMS / status / Slack)
``malformed_body``            400                     not a form, a required field missing, a payload not JSON
``unknown_sender``            200, polite TwiML       an SMS from a number not on the on-call list
``unknown_message``           204                     a status callback for a message helpline did not send
``ack_refused``               200, ephemeral message  a Slack click from somebody ``ack_from`` does not allow
============================  ======================  ==========================================================
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.twiml.messaging_response import MessagingResponse

from notify.channels import SendError
from notify.inbound import slack_ack, sms_reply
from web.http.webhook_guard import (
    ACK_REFUSED,
    MALFORMED_BODY,
    REPLAY,
    SLACK_INTERACTIONS,
    SLACK_MARK,
    TWILIO_MARK,
    TWILIO_SMS,
    TWILIO_STATUS,
    UNKNOWN_MESSAGE,
    UNKNOWN_SENDER,
    Refused,
    not_handled,
    seen_before,
    slack_body,
    twilio_form,
)
from web.runtime import Runtime, runtime_of
from web.runtime.notify import V1, NotifyRuntime

log = logging.getLogger(__name__)
#: The message statuses Twilio reports in status callbacks.
TWILIO_STATUSES = frozenset(
    {
        "accepted",
        "scheduled",
        "queued",
        "sending",
        "sent",
        "receiving",
        "received",
        "delivered",
        "undelivered",
        "failed",
        "read",
        "canceled",
        "partially_delivered",
    }
)


def _count(request: Request, source: str, reason: str, detail: str = "") -> None:
    runtime_of(request).webhook_stats.reject(source, reason, detail, request.client.host if request.client else None)


def _refused(request: Request, source: str, refusal: Refused) -> Response:
    """Count and log a refusal; the answer to give."""
    _count(request, source, refusal.reason, refusal.detail)
    return PlainTextResponse(refusal.text, status_code=refusal.status)


def _masked(number: str) -> str:
    """A phone number for the log: enough to recognise, not to dial."""
    return f"{number[:3]}...{number[-2:]}" if len(number) > 6 else "?"


def _alerting(request: Request) -> tuple[Runtime, NotifyRuntime] | None:
    runtime = runtime_of(request)
    return (runtime, runtime.alerting) if runtime.alerting is not None else None


async def twilio_sms(request: Request) -> Response:
    found = _alerting(request)
    if found is None:
        return PlainTextResponse("alerting is not configured", status_code=404)
    runtime, alerting = found
    try:
        params = await twilio_form(request, alerting.twilio_token, alerting.public_url)
        if "From" not in params or "Body" not in params:
            raise Refused(MALFORMED_BODY, 400, "From and Body are required", "no From or Body")
    except Refused as refusal:
        return _refused(request, TWILIO_SMS, refusal)
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    key = f"sms:{sid}"
    if sid and await seen_before(runtime.marks, TWILIO_MARK, key):
        _count(request, TWILIO_SMS, REPLAY, sid[:36])
        return Response(str(MessagingResponse()), media_type="application/xml")  # answered the first time
    try:
        outcome = await sms_reply(alerting.alerts, params["From"], params["Body"])
    except Exception:
        if sid:
            await not_handled(runtime.marks, TWILIO_MARK, key)  # Twilio's retry may try again
        raise
    if not outcome.known_sender:
        _count(request, TWILIO_SMS, UNKNOWN_SENDER, _masked(params["From"]))
    reply = MessagingResponse()
    reply.message(outcome.text)
    return Response(str(reply), media_type="application/xml")


async def twilio_status(request: Request) -> Response:
    found = _alerting(request)
    if found is None:
        return PlainTextResponse("alerting is not configured", status_code=404)
    runtime, alerting = found
    try:
        params = await twilio_form(request, alerting.twilio_token, alerting.public_url)
        sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "")
        if not sid or len(sid) > 64 or status not in TWILIO_STATUSES:
            raise Refused(
                MALFORMED_BODY,
                400,
                "MessageSid and MessageStatus required",
                "no MessageSid or an unknown MessageStatus",
            )
    except Refused as refusal:
        return _refused(request, TWILIO_STATUS, refusal)
    if await seen_before(runtime.marks, TWILIO_MARK, f"status:{sid}:{status}"):
        _count(request, TWILIO_STATUS, REPLAY, sid[:40])
    elif not await alerting.alerts.record_provider_status(sid, status, params.get("ErrorCode")):
        _count(request, TWILIO_STATUS, UNKNOWN_MESSAGE, sid[:40])
    return Response(status_code=204)


async def slack_interactions(request: Request) -> Response:
    found = _alerting(request)
    if found is None:
        return PlainTextResponse("alerting is not configured", status_code=404)
    runtime, alerting = found
    try:
        body = await slack_body(request, alerting.slack_signing_secret)
        if await seen_before(runtime.marks, SLACK_MARK, request.headers["x-slack-signature"]):
            raise Refused(REPLAY, 401, "replayed request")
        try:
            payload = json.loads(parse_qs(body.decode())["payload"][0])
            if not isinstance(payload, dict):
                raise ValueError("payload is not an object")
        except (KeyError, IndexError, ValueError, UnicodeDecodeError) as exc:
            raise Refused(MALFORMED_BODY, 400, "no payload", type(exc).__name__) from None
    except Refused as refusal:
        return _refused(request, SLACK_INTERACTIONS, refusal)
    if payload.get("type") != "block_actions":
        return Response(status_code=200)
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    actions = payload.get("actions") if isinstance(payload.get("actions"), list) else []
    refusal: str | None = None
    for action in actions:
        if not isinstance(action, dict):
            continue
        value = str(action.get("value", ""))
        if action.get("action_id") == "ack" and value.isascii() and value.isdigit() and len(value) <= 9:
            outcome = await slack_ack(alerting.alerts, user, int(value), alerting.slack_ack_from)
            if outcome.refusal is not None:
                refusal = outcome.refusal
                _count(request, SLACK_INTERACTIONS, ACK_REFUSED, f"user {str(user.get('id', '?'))[:32]}")
    channel = payload.get("channel") if isinstance(payload.get("channel"), dict) else {}
    if refusal is None or alerting.slack is None or not channel.get("id") or not user.get("id"):
        return Response(status_code=200)
    # Slack wants the answer within 3 s: the message to the user goes out after it
    return Response(
        status_code=200,
        background=BackgroundTask(_tell_slack_user, alerting, str(channel["id"]), str(user["id"]), refusal),
    )


async def _tell_slack_user(alerting: NotifyRuntime, channel: str, user: str, text: str) -> None:
    """Why their click did nothing, shown to that Slack user only; a failure is logged, never raised."""
    assert alerting.slack is not None
    try:
        await alerting.slack.ephemeral(channel, user, text)
    except SendError as exc:
        log.warning("Slack: could not tell user %s why their click was refused: %s", user[:32], exc)


routes = [
    Route(f"{V1}/webhooks/twilio/sms", twilio_sms, methods=["POST"]),
    Route(f"{V1}/webhooks/twilio/status", twilio_status, methods=["POST"]),
    Route(f"{V1}/webhooks/slack/interactions", slack_interactions, methods=["POST"]),
]
