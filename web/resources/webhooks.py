"""Webhooks that Twilio and Slack call: inbound SMS (acks), SMS status callbacks, Slack button clicks.

They carry no API token: each request is authenticated by the provider's signature instead, checked before
anything is read from it (Twilio: ``X-Twilio-Signature`` over the configured public URL and the form; Slack:
signing secret v0 over the raw body, with a 5-minute replay window). A forged request is refused (Twilio 403,
Slack 401) and counted. These routes are plain Starlette routes, outside the token-authenticated operations of the
OpenAPI document; docs/alerting.md describes them.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from notify.inbound import slack_signature_ok, sms_reply
from notify.models import Alert, Delivery
from web.notify_wiring import V1, NotifyRuntime

log = logging.getLogger(__name__)
FAILED_STATUSES = ("undelivered", "failed")


def _runtime(request: Request) -> NotifyRuntime | None:
    return getattr(request.app.state, "notify", None)


async def _twilio_form(request: Request, runtime: NotifyRuntime) -> dict[str, str] | None:
    """The form of a request Twilio signed, or None (refused and counted)."""
    form = await request.form()
    params = {k: str(v) for k, v in form.items()}
    token = runtime.twilio_token
    if token is None or runtime.public_url is None:
        log.warning("Twilio webhook refused: set [notify.twilio] and [web] public_url to accept it")
        runtime.forged["twilio"] += 1
        return None
    url = runtime.public_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not RequestValidator(token).validate(url, params, request.headers.get("x-twilio-signature", "")):
        runtime.forged["twilio"] += 1
        log.warning("Twilio webhook with a bad signature refused (%s)", request.url.path)
        return None
    return params


async def twilio_sms(request: Request) -> Response:
    runtime = _runtime(request)
    if runtime is None:
        return PlainTextResponse("alerting is not configured", status_code=404)
    params = await _twilio_form(request, runtime)
    if params is None:
        return PlainTextResponse("invalid signature", status_code=403)
    outcome = await sms_reply(runtime.alerts, params.get("From", ""), params.get("Body", ""))
    reply = MessagingResponse()
    reply.message(outcome.text)
    return Response(str(reply), media_type="application/xml")


async def twilio_status(request: Request) -> Response:
    runtime = _runtime(request)
    if runtime is None:
        return PlainTextResponse("alerting is not configured", status_code=404)
    params = await _twilio_form(request, runtime)
    if params is None:
        return PlainTextResponse("invalid signature", status_code=403)
    sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "")[:16]
    delivery = await Delivery.get_or_none(provider_id=sid) if sid else None
    if delivery is not None and status:
        values: dict[str, object] = {"provider_status": status}
        if status in FAILED_STATUSES:
            code = params.get("ErrorCode") or "?"
            values.update(error_code=code, last_error=f"Twilio reports the SMS {status} (error {code})")
            await Alert.filter(id=delivery.alert_id).update(
                last_error=f"SMS to {delivery.person or delivery.target}: {status} (Twilio error {code})")
        await Delivery.filter(id=delivery.id).update(**values)
    return Response(status_code=204)


async def slack_interactions(request: Request) -> Response:
    runtime = _runtime(request)
    if runtime is None:
        return PlainTextResponse("alerting is not configured", status_code=404)
    body = await request.body()
    secret = runtime.slack_signing_secret
    if secret is None or not slack_signature_ok(secret, request.headers, body):
        runtime.forged["slack"] += 1
        log.warning("Slack request with a bad or old signature refused")
        return PlainTextResponse("invalid signature", status_code=401)
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
    except (KeyError, IndexError, ValueError, UnicodeDecodeError):
        return PlainTextResponse("no payload", status_code=400)
    if payload.get("type") != "block_actions":
        return Response(status_code=200)
    user = payload.get("user") or {}
    person = runtime.alerts.roster.person_by_slack(str(user.get("id", "")))
    who = person.name if person else f"slack:{user.get('username') or user.get('name') or user.get('id', '?')}"
    for action in payload.get("actions") or []:
        value = str(action.get("value", ""))
        if action.get("action_id") == "ack" and value.isdigit() and len(value) <= 9:
            await runtime.alerts.acknowledge([int(value)], who, "slack")
    return Response(status_code=200)


routes = [
    Route(f"{V1}/webhooks/twilio/sms", twilio_sms, methods=["POST"]),
    Route(f"{V1}/webhooks/twilio/status", twilio_status, methods=["POST"]),
    Route(f"{V1}/webhooks/slack/interactions", slack_interactions, methods=["POST"]),
]
