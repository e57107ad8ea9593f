"""Webhooks that Twilio and Slack call: inbound SMS (acks), SMS status callbacks, Slack button clicks.

They carry no API token: each request is authenticated by the provider's signature instead, checked before
anything is read from it (Twilio: ``X-Twilio-Signature`` over the configured public URL and the form; Slack:
signing secret v0 over the raw body, with a 5-minute replay window). A validly signed request is acted on once (a
replay of it is refused): what was handled is marked in the database (:mod:`web.http.shared_marks`), so another
instance, or this one after a restart, refuses the replay too. These routes are plain Starlette routes, outside the token-authenticated operations of
the OpenAPI document; docs/alerting.md describes them.

Every refused request is counted by source and reason in the app's :class:`notify.inbound.WebhookStats`
(:func:`webhook_stats`) and logged once, without secrets or bodies:

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
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from notify.channels import SendError
from notify.inbound import (ACK_REFUSED, BAD_SIGNATURE, FORGED, MALFORMED_BODY, MISSING_SIGNATURE, NOT_CONFIGURED,
                            REPLAY, SLACK_INTERACTIONS, SLACK_WINDOW, TWILIO_SMS, TWILIO_STATUS, UNKNOWN_MESSAGE,
                            UNKNOWN_SENDER, WebhookStats, slack_ack, slack_signature_problem, sms_reply)
from notify.models import Alert, Delivery
from web.runtime.notify import V1, NotifyRuntime
from web.http.shared_marks import SharedMarks

log = logging.getLogger(__name__)
FAILED_STATUSES = ("undelivered", "failed")
#: The message statuses Twilio reports in status callbacks.
TWILIO_STATUSES = frozenset({"accepted", "scheduled", "queued", "sending", "sent", "receiving", "received",
                             "delivered", "undelivered", "failed", "read", "canceled", "partially_delivered"})
FORM = "application/x-www-form-urlencoded"
#: Seconds a Twilio message SID is remembered (Twilio signatures carry no time: a replay is known by its SID).
TWILIO_REPLAY_TTL = 24 * 3600.0
#: Seconds a Slack signature is remembered: longer than the window in which its timestamp is accepted.
SLACK_REPLAY_TTL = 2.0 * SLACK_WINDOW
#: Kinds of the shared marks of handled requests (:mod:`web.http.shared_marks`).
TWILIO_MARK, SLACK_MARK = "webhook-twilio", "webhook-slack"


@dataclass
class WebhookGuard:
    """What the webhooks keep in this process: the refusal counters. (The requests already acted on are marked in
    the shared store, ``app.state.marks``.)"""

    stats: WebhookStats = field(default_factory=WebhookStats)


def webhook_guard(app: Any) -> WebhookGuard:
    """The app's :class:`WebhookGuard` (created on first use)."""
    guard = getattr(app.state, "notify_webhooks", None)
    if guard is None:
        guard = app.state.notify_webhooks = WebhookGuard()
    return guard


def webhook_stats(app: Any) -> WebhookStats:
    """The app's refused-webhook counters: ``webhook_stats(app).rejected[(source, reason)]``."""
    return webhook_guard(app).stats


def _runtime(request: Request) -> NotifyRuntime | None:
    return getattr(request.app.state, "notify", None)


def _refuse(request: Request, runtime: NotifyRuntime, source: str, reason: str, status: int, text: str,
            detail: str = "") -> Response:
    """Count and log a refusal; the answer to give."""
    _count(request, runtime, source, reason, detail)
    return PlainTextResponse(text, status_code=status)


def _count(request: Request, runtime: NotifyRuntime, source: str, reason: str, detail: str = "") -> None:
    webhook_stats(request.app).reject(source, reason, detail, request.client.host if request.client else None)
    if reason in FORGED:
        runtime.forged["slack" if source == SLACK_INTERACTIONS else "twilio"] += 1


def _masked(number: str) -> str:
    """A phone number for the log: enough to recognise, not to dial."""
    return f"{number[:3]}...{number[-2:]}" if len(number) > 6 else "?"


async def _twilio_form(request: Request, runtime: NotifyRuntime, source: str) -> dict[str, str] | Response:
    """The form of a request Twilio signed, or the refusal (counted)."""
    token = runtime.twilio_token
    if token is None or runtime.public_url is None:
        log.warning("Twilio webhook refused: set [notify.twilio] and [web] public_url to accept it")
        return _refuse(request, runtime, source, NOT_CONFIGURED, 403, "invalid signature")
    signature = request.headers.get("x-twilio-signature", "")
    if not signature:
        return _refuse(request, runtime, source, MISSING_SIGNATURE, 403, "invalid signature")
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != FORM:
        return _refuse(request, runtime, source, MALFORMED_BODY, 400, f"expected {FORM}",
                       f"content type {media[:40]!r}")
    try:
        form = await request.form()
    except HTTPException:
        raise  # too large: the app's problem answer
    except Exception as exc:
        return _refuse(request, runtime, source, MALFORMED_BODY, 400, "unreadable form", type(exc).__name__)
    params = {k: str(v) for k, v in form.items()}
    url = runtime.public_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not RequestValidator(token).validate(url, params, signature):
        return _refuse(request, runtime, source, BAD_SIGNATURE, 403, "invalid signature", request.url.path)
    return params


async def twilio_sms(request: Request) -> Response:
    runtime = _runtime(request)
    if runtime is None:
        return PlainTextResponse("alerting is not configured", status_code=404)
    params = await _twilio_form(request, runtime, TWILIO_SMS)
    if isinstance(params, Response):
        return params
    if "From" not in params or "Body" not in params:
        return _refuse(request, runtime, TWILIO_SMS, MALFORMED_BODY, 400, "From and Body are required",
                       "no From or Body")
    marks: SharedMarks = request.app.state.marks
    key = f"sms:{params.get('MessageSid') or params.get('SmsSid') or ''}"
    if key != "sms:" and not await marks.mark_once(TWILIO_MARK, key, TWILIO_REPLAY_TTL):
        _count(request, runtime, TWILIO_SMS, REPLAY, key[4:40])
        return Response(str(MessagingResponse()), media_type="application/xml")  # answered the first time
    try:
        outcome = await sms_reply(runtime.alerts, params["From"], params["Body"])
    except Exception:
        await marks.forget(TWILIO_MARK, key)  # not acted on: Twilio's retry may try again
        raise
    if not outcome.known_sender:
        _count(request, runtime, TWILIO_SMS, UNKNOWN_SENDER, _masked(params["From"]))
    reply = MessagingResponse()
    reply.message(outcome.text)
    return Response(str(reply), media_type="application/xml")


async def twilio_status(request: Request) -> Response:
    runtime = _runtime(request)
    if runtime is None:
        return PlainTextResponse("alerting is not configured", status_code=404)
    params = await _twilio_form(request, runtime, TWILIO_STATUS)
    if isinstance(params, Response):
        return params
    sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "")
    if not sid or len(sid) > 64 or status not in TWILIO_STATUSES:
        return _refuse(request, runtime, TWILIO_STATUS, MALFORMED_BODY, 400, "MessageSid and MessageStatus required",
                       "no MessageSid or an unknown MessageStatus")
    if not await request.app.state.marks.mark_once(TWILIO_MARK, f"status:{sid}:{status}", TWILIO_REPLAY_TTL):
        _count(request, runtime, TWILIO_STATUS, REPLAY, sid[:40])
        return Response(status_code=204)
    delivery = await Delivery.get_or_none(provider_id=sid)
    if delivery is None:
        _count(request, runtime, TWILIO_STATUS, UNKNOWN_MESSAGE, sid[:40])
        return Response(status_code=204)
    values: dict[str, object] = {"provider_status": status}
    if status in FAILED_STATUSES:
        code = params.get("ErrorCode", "")[:16] or "?"
        values.update(error_code=code, last_error=f"Twilio reports the SMS {status} (error {code})")
        await Alert.filter(id=delivery.alert_id).update(
            last_error=f"SMS to {delivery.person or delivery.target}: {status} (Twilio error {code})")
    await Delivery.filter(id=delivery.id).update(**values)
    return Response(status_code=204)


async def slack_interactions(request: Request) -> Response:
    runtime = _runtime(request)
    if runtime is None:
        return PlainTextResponse("alerting is not configured", status_code=404)
    secret = runtime.slack_signing_secret
    if secret is None:
        log.warning("Slack request refused: set [notify.slack] signing_secret to accept button clicks")
        return _refuse(request, runtime, SLACK_INTERACTIONS, NOT_CONFIGURED, 401, "invalid signature")
    body = await request.body()
    problem = slack_signature_problem(secret, request.headers, body)
    if problem is not None:
        return _refuse(request, runtime, SLACK_INTERACTIONS, problem, 401, "invalid signature")
    if not await request.app.state.marks.mark_once(SLACK_MARK, request.headers["x-slack-signature"],
                                                   SLACK_REPLAY_TTL):
        return _refuse(request, runtime, SLACK_INTERACTIONS, REPLAY, 401, "replayed request")
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
        if not isinstance(payload, dict):
            raise ValueError("payload is not an object")
    except (KeyError, IndexError, ValueError, UnicodeDecodeError) as exc:
        return _refuse(request, runtime, SLACK_INTERACTIONS, MALFORMED_BODY, 400, "no payload", type(exc).__name__)
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
            outcome = await slack_ack(runtime.alerts, user, int(value), runtime.slack_ack_from)
            if outcome.refusal is not None:
                refusal = outcome.refusal
                _count(request, runtime, SLACK_INTERACTIONS, ACK_REFUSED, f"user {str(user.get('id', '?'))[:32]}")
    channel = payload.get("channel") if isinstance(payload.get("channel"), dict) else {}
    if refusal is None or runtime.slack is None or not channel.get("id") or not user.get("id"):
        return Response(status_code=200)
    # Slack wants the answer within 3 s: the message to the user goes out after it
    return Response(status_code=200, background=BackgroundTask(_tell_slack_user, runtime, str(channel["id"]),
                                                               str(user["id"]), refusal))


async def _tell_slack_user(runtime: NotifyRuntime, channel: str, user: str, text: str) -> None:
    """Why their click did nothing, shown to that Slack user only; a failure is logged, never raised."""
    assert runtime.slack is not None
    try:
        await runtime.slack.ephemeral(channel, user, text)
    except SendError as exc:
        log.warning("Slack: could not tell user %s why their click was refused: %s", user[:32], exc)


routes = [
    Route(f"{V1}/webhooks/twilio/sms", twilio_sms, methods=["POST"]),
    Route(f"{V1}/webhooks/twilio/status", twilio_status, methods=["POST"]),
    Route(f"{V1}/webhooks/slack/interactions", slack_interactions, methods=["POST"]),
]
