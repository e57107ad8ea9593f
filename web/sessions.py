"""Console sessions: a signed, HttpOnly, SameSite=Strict cookie; CSRF tokens; login rate limits.

The cookie holds ``{agent id, CSRF token, password fingerprint}`` signed with ``[console] secret_key`` (itsdangerous,
timestamped): no session table. It expires after ``[console] session_ttl``; changing the agent's password or
deactivating them ends every session at once (the fingerprint no longer matches / the agent is refused). Logging
out clears the cookie and refuses that cookie in this process until it expires.

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
from web.shared_marks import Hit, SharedMarks

COOKIE = "helpline_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Kinds of :mod:`web.shared_marks` marks: login attempts per login name and per client address.
LOGIN_MARK, IP_MARK = "login", "login-ip"


@dataclass(frozen=True)
class Session:
    agent_id: int
    csrf: str
    sid: str
    value: str = ""  #: the signed cookie value


def fingerprint(password_hash: str | None) -> str:
    """A short digest of the stored hash: a new password changes it, which ends older sessions."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


class SessionManager:
    """Issues and checks session cookies."""

    def __init__(self, secret_key: str, ttl_seconds: int, *, secure: bool | None = None) -> None:
        self.serializer = URLSafeTimedSerializer(secret_key, salt="helpline.session")
        self.ttl = ttl_seconds
        self.secure = secure  # None: when the request came over https
        self._ended: dict[str, float] = {}  # sid -> when it would have expired

    def create(self, agent: Agent) -> Session:
        """A new session for ``agent`` (put it in a response with :meth:`set_cookie`)."""
        csrf, sid = secrets.token_urlsafe(24), secrets.token_urlsafe(12)
        value = self.serializer.dumps({"a": agent.id, "c": csrf, "s": sid,
                                       "p": fingerprint(getattr(agent, "password_hash", None))})
        return Session(agent.id, csrf, sid, value)

    def set_cookie(self, response: Response, request: HTTPConnection, session: Session) -> None:
        secure = self.secure if self.secure is not None else request.url.scheme == "https"
        response.set_cookie(COOKIE, session.value, max_age=self.ttl, httponly=True, samesite="strict",
                            secure=secure, path="/")

    def read(self, request: HTTPConnection) -> tuple[Session, str] | None:
        """The valid session of the cookie (and its password fingerprint), or None."""
        raw = request.cookies.get(COOKIE)
        if not raw or len(raw) > 4096:
            return None
        try:
            data = self.serializer.loads(raw, max_age=self.ttl)
        except (SignatureExpired, BadSignature):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("a"), int):
            return None
        session = Session(data["a"], str(data.get("c", "")), str(data.get("s", "")))
        if session.sid in self._ended:
            return None
        return session, str(data.get("p", ""))

    def end(self, request: HTTPConnection, response: Response) -> None:
        found = self.read(request)
        if found is not None:
            now = time.time()
            self._ended = {sid: until for sid, until in self._ended.items() if until > now}
            self._ended[found[0].sid] = now + self.ttl
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")

    @staticmethod
    def csrf_ok(request: HTTPConnection, session: Session) -> bool:
        if request.scope.get("method", "GET") in SAFE_METHODS:
            return True
        sent = request.headers.get(CSRF_HEADER, "")
        return bool(sent) and hmac.compare_digest(sent.encode(), session.csrf.encode())


class LoginLimiter:
    """At most ``per_login`` login attempts per login name and ``per_ip`` per client address within ``window``
    seconds, on every instance together (counted in the database: :mod:`web.shared_marks`).

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
