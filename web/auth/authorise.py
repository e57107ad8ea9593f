"""Who is asking: an API token (``Authorization: Bearer``), else the console's session cookie; and their role."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from tickets.agent_service import AgentService, hash_token
from tickets.models import Agent, Role
from web import logs
from web.auth.sessions import COOKIE, SessionManager, fingerprint
from web.http.problems import ApiError


class Authoriser:
    """Tells who a request comes from: the agents' tokens and the console's sessions."""

    def __init__(self, agents: AgentService, sessions: SessionManager) -> None:
        self.agents = agents
        self.sessions = sessions

    async def authorise(self, request: HTTPConnection, role: Role) -> Agent:
        """The agent a request comes from, if their role is at least ``role``: by bearer token, else by the
        console's session cookie. Raises :class:`~web.http.problems.ApiError` 401 (nobody, or not valid) or 403
        (role, CSRF)."""
        header = request.headers.get("authorization")
        challenge = {"WWW-Authenticate": 'Bearer realm="helpline"'}
        if not header:  # the console: a session cookie (web.auth.sessions)
            by_session = await self.session_agent(request)
            if by_session is not None:
                if Role(by_session.role).rank < role.rank:
                    raise ApiError(
                        403, "forbidden", f"this needs the {role.value} role; you are {Role(by_session.role).value}"
                    )
                return by_session
            raise ApiError(
                401,
                "unauthenticated",
                "send an API token: 'Authorization: Bearer <token>' (helpline user add prints one)",
                headers=challenge,
            )
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiError(
                401, "unauthenticated", "the Authorization header must be 'Bearer <token>'", headers=challenge
            )
        agent = await self.agents.authenticate(secret.strip())
        if agent is None:
            raise ApiError(
                401,
                "invalid-token",
                "the token is unknown, revoked, or its agent is deactivated",
                headers={"WWW-Authenticate": 'Bearer realm="helpline", error="invalid_token"'},
            )
        request.state.token_hash = hash_token(secret.strip())  # what authenticated the request (event streams keep it)
        logs.redactor.learn(secret.strip())  # a verified token: never written to the logs (only verified ones: anybody
        # could send any word as a token, and the logs would blank it out everywhere)
        if Role(agent.role).rank < role.rank:
            raise ApiError(403, "forbidden", f"this needs the {role.value} role; you are {Role(agent.role).value}")
        return agent

    async def session_agent(self, request: HTTPConnection) -> Agent | None:
        """The active agent of a valid session cookie, or None (no, expired, ended or forged cookie).

        Raises ``403 csrf`` when the cookie is valid but a state-changing request lacks the session's CSRF token.
        """
        manager = self.sessions
        if COOKIE not in request.cookies:
            return None
        session = await manager.read(request)
        if session is None:
            return None
        agent = await Agent.get_or_none(id=session.agent_id)
        if agent is None or not agent.active or fingerprint(agent.password_hash) != session.fingerprint:
            return None
        if not manager.csrf_ok(request, session):
            raise ApiError(
                403,
                "csrf",
                "a change made with the console's session needs its CSRF token in the "
                "X-CSRF-Token header (GET /api/v1/session returns it)",
            )
        request.state.session = session  # what authenticated the request (event streams keep it)
        return agent
