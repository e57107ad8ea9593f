"""The two providers: Twilio SMS (the official SDK, async HTTP client) and Slack (slack_sdk's AsyncWebClient).

Both are used with their own retries off: a POST the SDK repeats after a 5xx may already have been accepted (a
duplicate SMS). Failures are classified here once: :class:`SendError` says whether trying again can help and, for
rate limits, when (Retry-After). Clients are created in the running loop (:meth:`start`) and closed on shutdown.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client as TwilioClient

log = logging.getLogger(__name__)
TWILIO_HOSTS = ("https://api.twilio.com",)
#: Twilio error codes that another attempt cannot fix (invalid number, unsubscribed, not a mobile, no permission,
#: bad credentials, bad sender).
TWILIO_PERMANENT = {21211, 21610, 21614, 21408, 21612, 21606, 21608, 21660, 20003, 20404, 21601, 21602, 21617}
#: Slack errors worth another attempt; every other ``ok: false`` error is permanent (channel_not_found,
#: invalid_auth, not_in_channel, is_archived, account_inactive, token_revoked, ...).
SLACK_TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


class SendError(Exception):
    """A provider refused or could not be reached. ``permanent``: do not try again."""

    def __init__(
        self, message: str, *, permanent: bool, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.retry_after = retry_after


@dataclass(frozen=True)
class Sent:
    """What the provider answered: its id for the message (Twilio SID, Slack ts) and the Slack channel id."""

    provider_id: str
    provider_channel: str | None = None


class _LocalAsyncTwilioHttpClient(AsyncTwilioHttpClient):
    """Twilio's async client, with the API host replaced (a proxy, or a local server in tests)."""

    def __init__(self, base_url: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.base_url = base_url.rstrip("/")

    async def request(self, method: str, url: str, *a: Any, **kw: Any) -> Any:
        for host in TWILIO_HOSTS:
            if url.startswith(host):
                url = self.base_url + url[len(host) :]
        auth = kw.pop("auth", None)
        if auth is not None:  # as a header: aiohttp 3.14 deprecates the auth parameter the SDK would use
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            kw["headers"] = {**(kw.get("headers") or {}), "Authorization": f"Basic {token}"}
        return await super().request(method, url, *a, **kw)


class TwilioSms:
    """Sends SMS through Twilio's Messages API."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        *,
        base_url: str = "https://api.twilio.com",
        timeout: float = 10.0,
        status_callback: str | None = None,
    ) -> None:
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.from_number = from_number
        self.base_url = base_url
        self.timeout = timeout
        self.status_callback = status_callback
        self._http: AsyncTwilioHttpClient | None = None
        self._client: TwilioClient | None = None

    async def start(self) -> None:
        """Create the HTTP client, in the running loop (its aiohttp session binds to it). No retries."""
        self._http = _LocalAsyncTwilioHttpClient(self.base_url, timeout=self.timeout, max_retries=None)
        self._client = TwilioClient(self.account_sid, self._auth_token, http_client=self._http)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = self._client = None

    @property
    def client(self) -> TwilioClient:
        if self._client is None:
            raise RuntimeError("TwilioSms.start() was not called")
        return self._client

    async def send(self, to: str, body: str) -> Sent:
        extra: dict[str, Any] = {"status_callback": self.status_callback} if self.status_callback else {}
        try:
            message = await self.client.messages.create_async(to=to, from_=self.from_number, body=body, **extra)
        except TwilioRestException as exc:
            raise _twilio_error(exc) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SendError(f"Twilio unreachable: {type(exc).__name__}: {exc}", permanent=False) from None
        return Sent(str(message.sid))

    async def find(self, to: str, body: str, exclude: set[str] = frozenset()) -> str | None:  # type: ignore[assignment]
        """The SID of a recent message with this recipient and text that is not in ``exclude`` (the SIDs already
        recorded): did an interrupted attempt go out after all?"""
        try:
            recent = await self.client.messages.list_async(to=to, from_=self.from_number, limit=50)
        except TwilioRestException as exc:
            raise _twilio_error(exc) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SendError(f"Twilio unreachable: {type(exc).__name__}: {exc}", permanent=False) from None
        return next((str(m.sid) for m in recent if m.body == body and str(m.sid) not in exclude), None)


def _twilio_error(exc: TwilioRestException) -> SendError:
    code = exc.code
    status = exc.status or 0
    transient = status >= 500 or status == 429 or code in (20429, 20500, 20503)
    permanent = not transient and (code in TWILIO_PERMANENT or 400 <= status < 500)
    return SendError(
        f"Twilio {code or status}: {exc.msg}", permanent=permanent, code=str(code) if code is not None else str(status)
    )


class SlackChat:
    """Posts and updates Slack messages with a bot token."""

    def __init__(self, bot_token: str, *, base_url: str = "https://slack.com/api/", timeout: float = 10.0) -> None:
        self._token = bot_token
        self.base_url = base_url
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._client: AsyncWebClient | None = None

    async def start(self) -> None:
        """One aiohttp session for all calls; the SDK's own retries off (``retry_handlers=[]``)."""
        self._session = aiohttp.ClientSession()
        self._client = AsyncWebClient(
            token=self._token,
            base_url=self.base_url,
            timeout=int(self.timeout),
            session=self._session,
            retry_handlers=[],
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = self._client = None

    @property
    def client(self) -> AsyncWebClient:
        if self._client is None:
            raise RuntimeError("SlackChat.start() was not called")
        return self._client

    async def post(self, channel: str, text: str, blocks: list[dict[str, Any]]) -> Sent:
        # no previews of links (a caller's text may hold one); mentions need <!...> markup, which the texts escape
        resp = await self._call(
            self.client.chat_postMessage,
            channel=channel,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
        )
        return Sent(str(resp["ts"]), str(resp.get("channel") or channel))

    async def ephemeral(self, channel: str, user: str, text: str) -> None:
        """A message in ``channel`` that only ``user`` sees (chat.postEphemeral), e.g. why their click did nothing."""
        await self._call(self.client.chat_postEphemeral, channel=channel, user=user, text=text)

    async def user_by_email(self, email: str) -> str:
        """The Slack member id of ``email`` (users.lookupByEmail)."""
        resp = await self._call(self.client.users_lookupByEmail, email=email)
        return str(resp["user"]["id"])

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> Sent:
        resp = await self._call(self.client.chat_update, channel=channel, ts=ts, text=text, blocks=blocks)
        return Sent(str(resp.get("ts") or ts), str(resp.get("channel") or channel))

    @staticmethod
    async def _call(method: Any, **kw: Any) -> Any:
        try:
            return await method(**kw)
        except SlackApiError as exc:
            raise _slack_error(exc) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SendError(f"Slack unreachable: {type(exc).__name__}: {exc}", permanent=False) from None


def _slack_error(exc: SlackApiError) -> SendError:
    response = exc.response
    status = getattr(response, "status_code", 200)
    try:
        error = str(response.get("error") or "")
    except Exception:  # a body that is not JSON (a proxy's 502 page)
        error = ""
    retry_after: float | None = None
    header = (getattr(response, "headers", None) or {}).get("Retry-After") or (
        getattr(response, "headers", None) or {}
    ).get("retry-after")
    if header is not None:
        try:
            retry_after = float(header)
        except ValueError:
            retry_after = None
    transient = status == 429 or status >= 500 or error in SLACK_TRANSIENT
    code = error or f"http_{status}"
    return SendError(f"Slack {code}", permanent=not transient, code=code, retry_after=retry_after)
