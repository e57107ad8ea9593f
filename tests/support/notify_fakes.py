"""Local stand-ins for the Twilio and Slack Web APIs, served over real HTTP on a loopback port.

They speak the shapes the real services do, as far as helpline uses them:

* Twilio: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (form body, HTTP Basic auth with the account SID and
  auth token; 201 with the Message resource; errors as ``{"code", "message", "more_info", "status"}``: 20003
  authentication, 21211 invalid To, 21610 unsubscribed, 20429 too many requests, 20500 internal error) and ``GET
  .../Messages.json`` (the list, filtered by To and From, newest first). * Slack: ``chat.postMessage``, ``chat.update``
  and ``users.lookupByEmail`` (Bearer token, JSON or form body; HTTP 200 with ``ok: false``
  and an ``error`` for API errors; 429 with ``Retry-After`` when rate limited).

Failures are scripted: ``fail`` holds the answers to give next (status, code), ``down`` answers every request with
a 500, ``delay`` holds each answer back (timeouts).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.waiting import wait_until

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-test-auth-token"
BOT_TOKEN = "xoxb-test-bot-token"
SIGNING_SECRET = "slack-test-signing-secret"


def providers_toml(twilio_url: str, slack_url: str, from_number: str) -> str:
    """The ``[notify.twilio]`` and ``[notify.slack]`` sections of a helpline configuration for these fakes."""
    return f"""
[notify.twilio]
account_sid = "{ACCOUNT_SID}"
auth_token = "{AUTH_TOKEN}"
from_number = "{from_number}"
api_base_url = "{twilio_url}"

[notify.slack]
bot_token = "{BOT_TOKEN}"
signing_secret = "{SIGNING_SECRET}"
api_base_url = "{slack_url}/api/"
"""


E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class LoopbackServer:
    """A Starlette app served by uvicorn in a thread of its own, on a free loopback port."""

    def __init__(self, app: Starlette) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        self.thread.start()
        wait_until(lambda: self.server.started, what="the fake server started", every=0.005)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@dataclass
class FakeTwilio:
    """Twilio's Messages API."""

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    messages: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    fail: list[tuple[int, int]] = field(default_factory=list)
    down: bool = False
    delay: float = 0.0
    unsubscribed: set[str] = field(default_factory=set)
    #: Accept the message, then answer with a 500 (the reply is lost: the client cannot know it went out).
    lose_replies: int = 0
    #: Accept the message, then hold the reply this long (the sender can be killed while it waits).
    hang_after_accept: float = 0.0
    #: The account's phone numbers (IncomingPhoneNumbers), for ``helpline check``.
    numbers: list[str] = field(default_factory=lambda: ["+15550001111"])

    def app(self) -> Starlette:
        path = "/2010-04-01/Accounts/{sid}/Messages.json"
        return Starlette(
            routes=[
                Route(path, self.create, methods=["POST"]),
                Route(path, self.list, methods=["GET"]),
                Route("/2010-04-01/Accounts/{sid}.json", self.account, methods=["GET"]),
                Route("/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json", self.phone_numbers, methods=["GET"]),
            ]
        )

    async def account(self, request: Request) -> JSONResponse:
        """``GET /2010-04-01/Accounts/{sid}.json``: the Account resource."""
        refused = self._auth(request)
        if refused is not None:
            return refused
        return JSONResponse(
            {
                "sid": self.account_sid,
                "friendly_name": "helpline test account",
                "status": "active",
                "type": "Full",
                "owner_account_sid": self.account_sid,
                "auth_token": None,
                "date_created": None,
                "date_updated": None,
                "subresource_uris": {},
                "uri": f"/2010-04-01/Accounts/{self.account_sid}.json",
            }
        )

    async def phone_numbers(self, request: Request) -> JSONResponse:
        """``GET .../IncomingPhoneNumbers.json`` (filtered by PhoneNumber): the account's numbers."""
        refused = self._auth(request)
        if refused is not None:
            return refused
        wanted = request.query_params.get("PhoneNumber")
        rows = [
            {
                "sid": "PN" + f"{i:032x}",
                "account_sid": self.account_sid,
                "phone_number": n,
                "friendly_name": n,
                "capabilities": {"sms": True, "voice": True, "mms": False},
            }
            for i, n in enumerate(self.numbers)
            if wanted is None or n == wanted
        ]
        base = f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers.json"
        return JSONResponse(
            {
                "incoming_phone_numbers": rows,
                "end": len(rows) - 1,
                "first_page_uri": base,
                "next_page_uri": None,
                "page": 0,
                "page_size": 50,
                "previous_page_uri": None,
                "start": 0,
                "uri": base,
            }
        )

    def _auth(self, request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if header != expected or request.path_params["sid"] != self.account_sid:
            return self._error(401, 20003, "Authenticate")
        return None

    @staticmethod
    def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
            status_code=status,
            headers=headers,
        )

    async def create(self, request: Request) -> JSONResponse:
        self.requests += 1
        if self.delay:
            await asyncio.sleep(self.delay)  # a slow provider: the test asks for it
        refused = self._auth(request)
        if refused is not None:
            return refused
        if self.down:
            return self._error(500, 20500, "Internal Server Error")
        if self.fail:
            status, code = self.fail.pop(0)
            return self._error(status, code, "scripted failure", {"Retry-After": "1"} if status == 429 else None)
        form = await request.form()
        to, from_, body = str(form.get("To", "")), str(form.get("From", "")), str(form.get("Body", ""))
        if not E164.match(to):
            return self._error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if to in self.unsubscribed:
            return self._error(400, 21610, "Attempt to send to unsubscribed recipient")
        if not body:
            return self._error(400, 21602, "Message body is required.")
        now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        sid = "SM" + secrets.token_hex(16)
        message = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": from_,
            "body": body,
            "status": "queued",
            "num_segments": "1",
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "price": None,
            "error_code": None,
            "error_message": None,
            "messaging_service_sid": None,
            "price_unit": "USD",
            "status_callback": form.get("StatusCallback"),
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "subresource_uris": {},
        }
        self.messages.append(message)
        waited = 0.0
        while waited < self.hang_after_accept:  # the test ends the wait early by setting it to 0
            await asyncio.sleep(0.05)  # hanging after accepting IS the behaviour asked for (from another thread)
            waited += 0.05
        if self.lose_replies:
            self.lose_replies -= 1
            return self._error(500, 20500, "Internal Server Error")
        return JSONResponse(message, status_code=201)

    async def list(self, request: Request) -> JSONResponse:
        refused = self._auth(request)
        if refused is not None:
            return refused
        to, from_ = request.query_params.get("To"), request.query_params.get("From")
        rows = [
            m
            for m in reversed(self.messages)
            if (to is None or m["to"] == to) and (from_ is None or m["from"] == from_)
        ]
        size = int(request.query_params.get("PageSize", "50"))
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        return JSONResponse(
            {
                "messages": rows[:size],
                "end": min(size, len(rows)) - 1,
                "first_page_uri": base,
                "next_page_uri": None,
                "page": 0,
                "page_size": size,
                "previous_page_uri": None,
                "start": 0,
                "uri": base,
            }
        )

    def to(self, number: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["to"] == number]


@dataclass
class FakeSlack:
    """Slack's chat.postMessage, chat.update and chat.postEphemeral."""

    token: str = BOT_TOKEN
    channels: dict[str, str] = field(default_factory=lambda: {"#it-oncall": "C0ITONCALL", "C0ITONCALL": "C0ITONCALL"})
    users: dict[str, str] = field(default_factory=lambda: {"petr@example.com": "U0PETR"})
    posts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    fail: list[tuple[int, str]] = field(default_factory=list)
    down: bool = False
    retry_after: int = 1
    #: Channels (ids) the bot is not a member of (conversations.info says is_member false).
    not_member: set[str] = field(default_factory=set)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/chat.postMessage", self.post, methods=["POST"]),
                Route("/api/chat.update", self.update, methods=["POST"]),
                Route("/api/chat.postEphemeral", self.ephemeral, methods=["POST"]),
                Route("/api/users.lookupByEmail", self.lookup, methods=["GET", "POST"]),
                Route("/api/auth.test", self.auth_test, methods=["GET", "POST"]),
                Route("/api/conversations.info", self.conversation, methods=["GET", "POST"]),
                Route("/api/conversations.list", self.conversations, methods=["GET", "POST"]),
            ]
        )

    async def auth_test(self, request: Request) -> JSONResponse:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        return JSONResponse(
            {
                "ok": True,
                "url": "https://example.slack.com/",
                "team": "Example",
                "user": "helpline",
                "team_id": "T0EXAMPLE",
                "user_id": "U0HELPLINE",
                "bot_id": "B0HELPLINE",
            }
        )

    def _conversation(self, channel_id: str) -> dict[str, Any]:
        name = next(
            (k.lstrip("#") for k, v in self.channels.items() if v == channel_id and k.startswith("#")),
            channel_id.lower(),
        )
        return {
            "id": channel_id,
            "name": name,
            "is_channel": True,
            "is_archived": False,
            "is_member": channel_id not in self.not_member,
        }

    async def conversation(self, request: Request) -> JSONResponse:
        """``conversations.info``: a channel by id."""
        refused = self._refuse(request)
        if refused is not None:
            return refused
        args = dict(request.query_params) if request.method == "GET" else await self._args(request)
        channel = str(args.get("channel", ""))
        if channel not in self.channels.values():
            return JSONResponse({"ok": False, "error": "channel_not_found"})
        return JSONResponse({"ok": True, "channel": self._conversation(channel)})

    async def conversations(self, request: Request) -> JSONResponse:
        """``conversations.list``: every channel (one page)."""
        refused = self._refuse(request)
        if refused is not None:
            return refused
        ids = sorted(set(self.channels.values()))
        return JSONResponse(
            {"ok": True, "channels": [self._conversation(i) for i in ids], "response_metadata": {"next_cursor": ""}}
        )

    async def lookup(self, request: Request) -> JSONResponse:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        args = dict(request.query_params) if request.method == "GET" else await self._args(request)
        user = self.users.get(str(args.get("email", "")))
        if user is None:
            return JSONResponse({"ok": False, "error": "users_not_found"})
        return JSONResponse({"ok": True, "user": {"id": user, "name": args["email"].split("@")[0]}})

    async def _args(self, request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            return dict(await request.json())
        form = await request.form()
        return {k: v for k, v in form.items()}

    def _refuse(self, request: Request) -> JSONResponse | None:
        self.requests += 1
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        if self.down:
            return JSONResponse({"ok": False, "error": "internal_error"}, status_code=500)
        if self.fail:
            status, error = self.fail.pop(0)
            headers = {"Retry-After": str(self.retry_after)} if status == 429 else None
            return JSONResponse({"ok": False, "error": error}, status_code=status, headers=headers)
        return None

    def _channel(self, name: str) -> str | None:
        if name in self.channels:
            return self.channels[name]
        if re.fullmatch(r"[UW][A-Z0-9]{2,20}", name):
            return "D" + name[1:]  # a DM with the user
        return None

    async def post(self, request: Request) -> JSONResponse:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        args = await self._args(request)
        channel = self._channel(str(args.get("channel", "")))
        if channel is None:
            return JSONResponse({"ok": False, "error": "channel_not_found"})
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        ts = f"{time.time():.6f}"
        self.posts.append(
            {
                "channel": channel,
                "ts": ts,
                "text": args.get("text"),
                "blocks": blocks,
                "unfurl_links": args.get("unfurl_links"),
                "unfurl_media": args.get("unfurl_media"),
            }
        )
        return JSONResponse(
            {
                "ok": True,
                "channel": channel,
                "ts": ts,
                "message": {"type": "message", "text": args.get("text"), "ts": ts},
            }
        )

    async def ephemeral(self, request: Request) -> JSONResponse:
        """``chat.postEphemeral``: a message only ``user`` sees in ``channel``."""
        refused = self._refuse(request)
        if refused is not None:
            return refused
        args = await self._args(request)
        channel = self._channel(str(args.get("channel", ""))) or (
            str(args.get("channel")) if str(args.get("channel", "")).startswith("D") else None
        )
        if channel is None:
            return JSONResponse({"ok": False, "error": "channel_not_found"})
        if not args.get("user"):
            return JSONResponse({"ok": False, "error": "user_not_in_channel"})
        self.ephemerals.append({"channel": channel, "user": args["user"], "text": args.get("text")})
        return JSONResponse({"ok": True, "message_ts": f"{time.time():.6f}"})

    async def update(self, request: Request) -> JSONResponse:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        args = await self._args(request)
        post = next((p for p in self.posts if p["channel"] == args.get("channel") and p["ts"] == args.get("ts")), None)
        if post is None:
            return JSONResponse({"ok": False, "error": "message_not_found"})
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        self.updates.append({"channel": post["channel"], "ts": post["ts"], "text": args.get("text"), "blocks": blocks})
        return JSONResponse({"ok": True, "channel": post["channel"], "ts": post["ts"], "text": args.get("text")})
