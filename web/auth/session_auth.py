"""Who a request comes from when it carries the console's session cookie instead of a bearer token."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from tickets.models import Agent
from web.http.problems import ApiError
from web.auth.sessions import COOKIE, SessionManager, fingerprint


async def session_agent(request: HTTPConnection) -> Agent | None:
    """The active agent of a valid session cookie, or None (no, expired, ended or forged cookie).

    Raises ``403 csrf`` when the cookie is valid but a state-changing request lacks the session's CSRF token.
    """
    manager: SessionManager = request.app.state.runtime.sessions
    if manager is None or COOKIE not in request.cookies:
        return None
    session = await manager.read(request)
    if session is None:
        return None
    agent = await Agent.get_or_none(id=session.agent_id)
    if agent is None or not agent.active or fingerprint(agent.password_hash) != session.fingerprint:
        return None
    if not manager.csrf_ok(request, session):
        raise ApiError(403, "csrf", "a change made with the console's session needs its CSRF token in the "
                                    "X-CSRF-Token header (GET /api/v1/session returns it)")
    request.state.session = session  # what authenticated the request (event streams keep it)
    return agent
