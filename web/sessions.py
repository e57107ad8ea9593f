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
import secrets
import time
from collections import deque
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.requests import HTTPConnection
from starlette.responses import Response

from tickets.models import Agent

COOKIE = "helpline_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
    """At most ``per_login`` failed logins per login name and ``per_ip`` per client address within ``window``
    seconds (in this process). A success clears the login's failures."""

    def __init__(self, per_login: int = 5, per_ip: int = 20, window: float = 300.0) -> None:
        self.per_login, self.per_ip, self.window = per_login, per_ip, window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        found = self._failures.get(key)
        if found is None:
            return deque()
        while found and found[0] <= now - self.window:
            found.popleft()
        if not found:
            del self._failures[key]
        return found

    def retry_after(self, login: str, ip: str) -> int:
        """Seconds until another attempt is allowed (0: now)."""
        now = time.monotonic()
        waits = []
        for key, limit in ((f"login:{login.lower()}", self.per_login), (f"ip:{ip}", self.per_ip)):
            recent = self._recent(key, now)
            if len(recent) >= limit:
                waits.append(recent[-limit] + self.window - now)
        return max(1, int(max(waits)) + 1) if waits else 0

    def failed(self, login: str, ip: str) -> None:
        now = time.monotonic()
        if len(self._failures) > 100_000:  # a flood of made-up logins must not eat the memory
            self._failures.clear()
        for key in (f"login:{login.lower()}", f"ip:{ip}"):
            self._failures.setdefault(key, deque(maxlen=1000)).append(now)

    def succeeded(self, login: str) -> None:
        self._failures.pop(f"login:{login.lower()}", None)
