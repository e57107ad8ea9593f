"""Webhooks from Twilio and Slack: is the request theirs, is it new, and what was refused.

They carry no API token: each request is authenticated by the provider's signature instead, checked before anything
is read from it (Twilio: ``X-Twilio-Signature`` over the configured public URL and the form; Slack: signing secret
v0 over the raw body, with a 5-minute window). A validly signed request is acted on once: what was handled is
marked in the store every instance shares (:mod:`web.http.shared_marks`), so another instance, or this one after a
restart, refuses the replay too.

Every refused request is counted by source and reason in :class:`WebhookStats` and logged (rate-limited) without
secrets, signatures or bodies.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections import Counter
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from twilio.request_validator import RequestValidator

from web.http.shared_marks import SharedMarks

log = logging.getLogger(__name__)

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
#: Reasons that mean "not provably from the provider".
FORGED = frozenset({NOT_CONFIGURED, MISSING_SIGNATURE, BAD_SIGNATURE, STALE_TIMESTAMP, REPLAY})
LOG_EVERY = 10.0  # seconds: at most one log line per (source, reason) in this time; the rest are summed up

SLACK_WINDOW = 300  # seconds: older Slack requests are refused (replays)
FORM = "application/x-www-form-urlencoded"
#: Seconds a Twilio message is remembered (Twilio signatures carry no time: a replay is known by its SID).
TWILIO_REPLAY_TTL = 24 * 3600.0
#: Seconds a Slack signature is remembered: longer than the window in which its timestamp is accepted.
SLACK_REPLAY_TTL = 2.0 * SLACK_WINDOW
#: Kinds of the shared marks of handled requests.
TWILIO_MARK, SLACK_MARK = "webhook-twilio", "webhook-slack"


class Refused(Exception):
    """A webhook request that is not acted on: ``reason`` (counted), ``status`` and ``text`` (the answer)."""

    def __init__(self, reason: str, status: int, text: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason, self.status, self.text, self.detail = reason, status, text, detail


class WebhookStats:
    """Webhook requests refused since the process started, by source and reason. Read by /metrics.

    ``rejected[(source, reason)]`` is a count. Each refusal is logged (one warning; a flood of the same kind is
    summed into one line per :data:`LOG_EVERY` seconds) with the source, reason, a short detail and the client
    address, never a secret, signature or body.
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
        log.warning(
            "webhook %s refused: %s%s from %s%s", source, reason, f" ({detail})" if detail else "", client or "?", more
        )

    def forged(self) -> dict[str, int]:
        """Requests not provably from the provider, by provider (``twilio``, ``slack``)."""
        out = {"twilio": 0, "slack": 0}
        for (source, reason), n in self.rejected.items():
            if reason in FORGED:
                out["slack" if source == SLACK_INTERACTIONS else "twilio"] += n
        return out

    def as_dict(self) -> dict[str, dict[str, int]]:
        """``{source: {reason: count}}``, for an API or a status page."""
        out: dict[str, dict[str, int]] = {}
        for (source, reason), count in sorted(self.rejected.items()):
            out.setdefault(source, {})[reason] = count
        return out

    def total(self, source: str | None = None) -> int:
        return sum(n for (s, _), n in self.rejected.items() if source is None or s == source)


async def twilio_form(request: Request, token: str | None, public_url: str | None) -> dict[str, str]:
    """The form of a request Twilio signed for ``public_url`` + its path with ``token``; raises :class:`Refused`."""
    if token is None or public_url is None:
        log.warning("Twilio webhook refused: set [notify.twilio] and [web] public_url to accept it")
        raise Refused(NOT_CONFIGURED, 403, "invalid signature")
    signature = request.headers.get("x-twilio-signature", "")
    if not signature:
        raise Refused(MISSING_SIGNATURE, 403, "invalid signature")
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != FORM:
        raise Refused(MALFORMED_BODY, 400, f"expected {FORM}", f"content type {media[:40]!r}")
    try:
        form = await request.form()
    except HTTPException:
        raise  # too large: the app's problem answer
    except Exception as exc:
        raise Refused(MALFORMED_BODY, 400, "unreadable form", type(exc).__name__) from None
    params = {k: str(v) for k, v in form.items()}
    url = public_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not RequestValidator(token).validate(url, params, signature):
        raise Refused(BAD_SIGNATURE, 403, "invalid signature", request.url.path)
    return params


async def slack_body(request: Request, secret: str | None) -> bytes:
    """The raw body of a request Slack signed with ``secret`` within the window; raises :class:`Refused`."""
    if secret is None:
        log.warning("Slack request refused: set [notify.slack] signing_secret to accept button clicks")
        raise Refused(NOT_CONFIGURED, 401, "invalid signature")
    body = await request.body()
    problem = slack_signature_problem(secret, request.headers, body)
    if problem is not None:
        raise Refused(problem, 401, "invalid signature")
    return body


def slack_signature_problem(
    secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> str | None:
    """Why a Slack request does not pass signing v0 (a reason constant), or None when it does.

    ``v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")``. The signature is checked before the timestamp's age: a
    forgery is ``bad_signature`` whatever its timestamp, a genuine request more than 5 minutes off is
    ``stale_timestamp``.
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


def slack_signature_ok(secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None) -> bool:
    """Whether a Slack request passes signing v0 (see :func:`slack_signature_problem`)."""
    return slack_signature_problem(secret, headers, body, now) is None


REPLAY_TTL = {TWILIO_MARK: TWILIO_REPLAY_TTL, SLACK_MARK: SLACK_REPLAY_TTL}


async def seen_before(marks: SharedMarks, kind: str, key: str) -> bool:
    """Mark a signed request (its Twilio SID, its Slack signature) handled; True if some instance already had: a
    replay. If acting on it then fails, :func:`not_handled` lets the provider's retry through."""
    return not await marks.mark_once(kind, key, REPLAY_TTL[kind])


async def not_handled(marks: SharedMarks, kind: str, key: str) -> None:
    """Undo :func:`seen_before`: the request was not acted on after all."""
    await marks.forget(kind, key)
