"""``/api/v1/session``: console login (POST), who am I plus the CSRF token (GET), logout (DELETE).

Login takes ``{"login", "password"}`` as JSON; attempts are counted per login and per client address (before the
password is checked, in the database every instance shares) and, past the limit, answered ``429`` with
``Retry-After``. A wrong login and a wrong password get the same answer.

An active agent that has no console password yet (``helpline user add`` off a terminal) is told so instead, with
the command that sets one: a deliberate, small disclosure (that this login exists and cannot log in), made only
after the attempt was counted and after the same password verification as any other attempt (docs/api.md).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tickets.models import Agent, Role
from web.api import refuse_duplicate_keys
from web.auth.passwords import verify_password
from web.auth.sessions import Session
from web.http.problems import ApiError, from_api_error, problem
from web.resources.render import agent_out
from web.runtime import runtime_of

MAX_BODY = 8192
NO_PASSWORD = "this account has no password yet: an admin sets one with `helpline user password {login}`"


def _reply(agent: Agent, csrf: str | None, status: int = 200) -> Response:
    body = {"agent": json.loads(agent_out(agent).model_dump_json()), "csrf_token": csrf}
    return Response(
        json.dumps(body, ensure_ascii=False),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


async def _credentials(request: Request) -> tuple[str, str]:
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != "application/json":  # also stops plain HTML forms of other sites
        raise ApiError(415, "unsupported-media-type", 'send {"login", "password"} as application/json')
    raw = (await request.body())[:MAX_BODY]
    refuse_duplicate_keys(raw)
    try:
        data: Any = json.loads(raw or b"{}")
    except ValueError:
        raise ApiError(400, "invalid-json", "the body is not valid JSON") from None
    login, password = (data.get("login"), data.get("password")) if isinstance(data, dict) else (None, None)
    if not isinstance(login, str) or not isinstance(password, str) or not login or not password:
        raise ApiError(
            422,
            "invalid-body",
            "login and password are required",
            field_errors=[{"field": f, "detail": "is required"} for f in ("login", "password")],
        )
    return login[:64], password[:1024]


async def login(request: Request) -> Response:
    limiter = runtime_of(request).login_limiter
    ip = request.client.host if request.client else "unknown"
    try:
        name, password = await _credentials(request)
        wait = await limiter.attempt(name, ip)  # counted before the slow check: concurrent guesses count too
        if wait:
            return problem(
                429,
                "too-many-logins",
                f"too many failed logins; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        agent = await Agent.get_or_none(login=name)
        ok = await verify_password(agent.password_hash if agent else None, password)  # None: a dummy, same time
        if agent is not None and agent.active and agent.password_hash is None:
            raise ApiError(401, "no-password", NO_PASSWORD.format(login=agent.login))
        if agent is None or not ok or not agent.active:
            raise ApiError(401, "invalid-login", "wrong login or password (or the agent is deactivated)")
    except ApiError as exc:
        return from_api_error(exc)
    await limiter.succeeded(name, ip)
    session: Session = runtime_of(request).sessions.create(agent)
    response = _reply(agent, session.csrf, 201)
    runtime_of(request).sessions.set_cookie(response, request, session)
    return response


async def current(request: Request) -> Response:
    try:
        agent = await runtime_of(request).auth.authorise(request, Role.AGENT)
    except ApiError as exc:
        return from_api_error(exc)
    found = await runtime_of(request).sessions.read(request) if "authorization" not in request.headers else None
    return _reply(agent, found.csrf if found else None)


async def logout(request: Request) -> Response:
    try:
        if (
            await runtime_of(request).auth.session_agent(request) is None
        ):  # also checks the CSRF token: logout is a change
            raise ApiError(401, "unauthenticated", "there is no session to end")
    except ApiError as exc:
        response = from_api_error(exc)
        if exc.status == 401:
            await runtime_of(request).sessions.end(request, response)
        return response
    response = Response(status_code=204)
    await runtime_of(request).sessions.end(request, response)
    return response


def routes(prefix: str = "/api/v1") -> list[Route]:
    async def session(request: Request) -> Response:
        handler = {"POST": login, "GET": current, "HEAD": current, "DELETE": logout}[request.method]
        return await handler(request)

    return [Route(f"{prefix}/session", session, methods=["GET", "POST", "DELETE"], name="session")]
