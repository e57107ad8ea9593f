"""Console sessions: a signed, HttpOnly, SameSite=Strict cookie; CSRF tokens; login rate limits.

The cookie holds ``{agent id, CSRF token, session id, password fingerprint}`` signed with ``[console] secret_key``
(itsdangerous, timestamped): no session table. It expires after ``[console] session_ttl``; changing the agent's
password or deactivating them ends every session at once (the fingerprint no longer matches / the agent is
refused). Logging out clears the cookie and marks the session id as ended in the database
(:mod:`web.http.shared_marks`) until the cookie would have expired: every instance refuses it, also after a restart.

A request authenticated by the cookie that changes something (POST, PATCH, PUT, DELETE) must repeat the session's
CSRF token in ``X-CSRF-Token`` (the page reads it from the session answer): another site can make the browser send
the cookie (SameSite already stops that in current browsers) but cannot read the token.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.requests import HTTPConnection
from starlette.responses import Response

from tickets.models import Agent
from web.http.shared_marks import Hit, SharedMarks

COOKIE = "helpline_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Kinds of :mod:`web.http.shared_marks` marks: login attempts per login name and per client address.
LOGIN_MARK, IP_MARK = "login", "login-ip"
#: Kind of the marks of ended (logged out) sessions, by session id.
SESSION_ENDED = "session-ended"


@dataclass(frozen=True)
class Session:
    agent_id: int
    csrf: str
    sid: str
    value: str = ""  #: the signed cookie value
    expires: float = 0.0  #: when the cookie stops working (Unix time)
    fingerprint: str = ""  #: of the password hash the session was opened with


def fingerprint(password_hash: str | None) -> str:
    """A short digest of the stored hash: a new password changes it, which ends older sessions."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


class SessionManager:
    """Issues and checks session cookies; ended sessions are kept in ``marks`` (shared by every instance)."""

    def __init__(self, secret_key: str, ttl_seconds: int, marks: SharedMarks, *, secure: bool | None = None) -> None:
        self.serializer = URLSafeTimedSerializer(secret_key, salt="helpline.session")
        self.ttl = ttl_seconds
        self.marks = marks
        self.secure = secure  # None: when the request came over https

    def create(self, agent: Agent) -> Session:
        """A new session for ``agent`` (put it in a response with :meth:`set_cookie`)."""
        csrf, sid = secrets.token_urlsafe(24), secrets.token_urlsafe(12)
        value = self.serializer.dumps(
            {"a": agent.id, "c": csrf, "s": sid, "p": fingerprint(getattr(agent, "password_hash", None))}
        )
        return Session(agent.id, csrf, sid, value, time.time() + self.ttl)

    def set_cookie(self, response: Response, request: HTTPConnection, session: Session) -> None:
        secure = self.secure if self.secure is not None else request.url.scheme == "https"
        response.set_cookie(
            COOKIE, session.value, max_age=self.ttl, httponly=True, samesite="strict", secure=secure, path="/"
        )

    def decode(self, request: HTTPConnection) -> Session | None:
        """The session of a genuine, unexpired cookie, or None; whether it was ended is not checked here."""
        raw = request.cookies.get(COOKIE)
        if not raw or len(raw) > 4096:
            return None
        try:
            data, signed_at = self.serializer.loads(raw, max_age=self.ttl, return_timestamp=True)
        except (SignatureExpired, BadSignature):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("a"), int):
            return None
        return Session(
            data["a"],
            str(data.get("c", "")),
            str(data.get("s", "")),
            raw,
            signed_at.timestamp() + self.ttl,
            str(data.get("p", "")),
        )

    async def read(self, request: HTTPConnection) -> Session | None:
        """The valid session of the cookie (not expired, not ended on any instance), or None."""
        session = self.decode(request)
        if session is None or await self.marks.is_marked(SESSION_ENDED, session.sid):
            return None
        return session

    async def end(self, request: HTTPConnection, response: Response) -> None:
        """Clear the cookie, and refuse it everywhere until it would have expired."""
        found = self.decode(request)
        if found is not None:
            await self.marks.mark_once(SESSION_ENDED, found.sid, max(1.0, found.expires - time.time()))
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")

    @staticmethod
    def csrf_ok(request: HTTPConnection, session: Session) -> bool:
        if request.scope.get("method", "GET") in SAFE_METHODS:
            return True
        sent = request.headers.get(CSRF_HEADER, "")
        return bool(sent) and hmac.compare_digest(sent.encode(), session.csrf.encode())


class LoginLimiter:
    """At most ``per_login`` login attempts per login name and ``per_ip`` per client address within ``window``
    seconds, on every instance together (counted in the database: :mod:`web.http.shared_marks`).

    An attempt is counted *before* the password is checked, so concurrent guesses cannot all slip through while the
    slow check runs. A success clears the login's count and gives the address its attempt back: what the limits
    count is failures (and attempts still being checked).
    """

    def __init__(self, marks: SharedMarks, per_login: int = 5, per_ip: int = 20, window: float = 300.0) -> None:
        self.marks = marks
        self.per_login, self.per_ip, self.window = per_login, per_ip, window

    async def attempt(self, login: str, ip: str) -> int:
        """Count an attempt; 0 if it may go ahead, else the seconds until the next one may.

        The login's limit comes first: an attempt it refuses does not count against the address (a locked login
        retried from an office does not lock the office out). One the address refuses is given back to the login:
        its password was never checked."""
        hit = await self.marks.hit(LOGIN_MARK, login.lower(), self.window)
        if hit.count > self.per_login:
            return self._wait(hit)
        by_ip = await self.marks.hit(IP_MARK, ip, self.window)
        if by_ip.count > self.per_ip:
            await self.marks.release(LOGIN_MARK, login.lower())
            return self._wait(by_ip)
        return 0

    def _wait(self, hit: Hit) -> int:
        return max(1, math.ceil((hit.expires_at - self.marks.clock()).total_seconds()))

    async def succeeded(self, login: str, ip: str) -> None:
        await self.marks.forget(LOGIN_MARK, login.lower())
        await self.marks.release(IP_MARK, ip)
