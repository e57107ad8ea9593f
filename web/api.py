"""Declaring API operations once: the route, who may call it, what it takes and returns.

Each :class:`Operation` becomes a Starlette route (authentication, role check, query and body validation, error
mapping) *and* an OpenAPI operation, from the same declaration.
"""

from __future__ import annotations

import json
import logging
import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from tickets.actor import Actor
from tickets.errors import DomainError
from tickets.models import Agent, Role
from web.http.problems import ApiError, from_api_error, from_domain_error
from web.runtime import Runtime, runtime_of

log = logging.getLogger(__name__)

Handler = Callable[["Call"], Awaitable["BaseModel | Reply | Response | None"]]
#: What If-Match accepts (also its pattern in the OpenAPI document): ``*``, ``"3"``, ``W/"3"`` or ``3``.
IF_MATCH_PATTERN = r'^(\*|(W/)?"[0-9]{1,9}"|[0-9]{1,9})$'
IF_MATCH = re.compile(IF_MATCH_PATTERN)
JSON_WHITESPACE = b" \t\r\n"  #: RFC 8259's whitespace (bytes.strip() would also drop \x0b and \x0c)


@dataclass
class Reply:
    """A handler result with a status or headers other than the operation's defaults."""

    body: BaseModel | None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    role: Role | None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    tag: str = "tickets"
    errors: tuple[int, ...] = ()
    #: The response carries an ETag header (the object's version).
    etag: bool = False
    #: The operation honours If-Match (optimistic concurrency).
    if_match: bool = False
    #: Other documented responses with a body that is not a problem (e.g. 503 from /readyz).
    alt_responses: dict[int, type[BaseModel]] = field(default_factory=dict)
    #: Other media types of the success response (e.g. text/csv for a report), with their description.
    alt_media: dict[str, str] = field(default_factory=dict)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


class Call:
    """What a handler gets: the request, the authenticated agent and the validated input."""

    def __init__(self, request: Request, agent: Agent | None, body: Any, query: Any) -> None:
        self.request = request
        self.agent = agent
        self.body = body
        self.query = query

    @property
    def runtime(self) -> Runtime:
        """The process's parts: services, listeners, settings (:mod:`web.runtime`)."""
        return runtime_of(self.request)

    @property
    def actor(self) -> Actor:
        assert self.agent is not None
        return Actor.of(self.agent)

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def id_param(self, name: str, what: str) -> int:
        """A numeric path parameter; anything else is a 404 for ``what``."""
        raw = self.path(name)
        if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**31:
            return int(raw)
        raise ApiError(404, "not-found", f"{what} {raw} does not exist")

    def if_match(self) -> int | None:
        """The version in an ``If-Match`` header (``"3"``), or ``None`` when absent or ``*``."""
        header = self.request.headers.get("if-match")
        tag = None if header is None else header.strip(" \t")
        if tag is None or tag == "*":
            return None
        if IF_MATCH.fullmatch(tag):
            return int(tag.removeprefix("W/").strip('"'))
        raise ApiError(400, "bad-if-match", 'If-Match must be the ETag of the resource, e.g. "3"')


class Api:
    """A collection of operations under one prefix."""

    def __init__(self, prefix: str = "/api/v1") -> None:
        self.prefix = prefix
        self.operations: list[Operation] = []

    def operation(
        self, method: str, path: str, *, summary: str, role: Role | None, **options: Any
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(Operation(method, path, handler, summary, role, **options))
            return handler

        return register

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.operation("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.operation("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.operation("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.operation("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.operation("DELETE", path, **kw)

    def routes(self) -> list[DeclaredRoute]:
        """One route per path (not per operation), so that a 405 lists every method of the path in ``Allow``."""
        by_path: dict[str, list[Operation]] = {}
        for op in self.operations:
            by_path.setdefault(op.path, []).append(op)
        return [DeclaredRoute(self.prefix, ops) for ops in by_path.values()]


class DeclaredRoute(Route):
    """The route of one path's declared operations; it keeps them, and the OpenAPI document is read from the app's
    routes (:func:`web.openapi.document_of`), so it describes exactly what the app serves."""

    def __init__(self, prefix: str, operations: list[Operation]) -> None:
        self.prefix = prefix
        self.operations = operations
        endpoints = {op.method: _endpoint(op) for op in operations}
        if "GET" in endpoints:
            endpoints["HEAD"] = endpoints["GET"]

        async def endpoint(request: Request) -> Response:
            return await endpoints[request.method](request)

        super().__init__(
            prefix + operations[0].path,
            endpoint,
            methods=list(endpoints),
            name="|".join(op.operation_id for op in operations),
        )

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """A path without parameters (``/agents/load``) owns it: a method it lacks is its 405, never a match of a
        parameter route beside it (``PATCH /agents/{agent_id}`` with agent_id ``load``)."""
        match, child = super().matches(scope)
        if match is Match.PARTIAL and not self.param_convertors:
            return Match.FULL, child
        return match, child


def _endpoint(op: Operation) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            agent = await runtime_of(request).auth.authorise(request, op.role) if op.role is not None else None
            query = _parse_query(request, op.query) if op.query else None
            if op.query is None and op.role is not None:  # health probes may carry cache-busting parameters
                _no_query(request)
            body = await _parse_body(request, op.body) if op.body else None
            result = await op.handler(Call(request, agent, body, query))
        except ApiError as exc:
            return from_api_error(exc)
        except DomainError as exc:
            return from_domain_error(exc)
        return _render(op, result)

    endpoint.__name__ = op.operation_id
    return endpoint


def _no_query(request: Request) -> None:
    """Operations without parameters refuse a query string too: a typo must not pass unnoticed."""
    if request.query_params:
        name = next(iter(request.query_params.keys()))
        raise ApiError(
            400,
            "invalid-query",
            f"unknown query parameter {name!r}: this operation takes none",
            field_errors=[{"field": n, "detail": "unknown"} for n in request.query_params.keys()],
        )


def _parse_query(request: Request, model: type[BaseModel]) -> BaseModel:
    params = request.query_params
    unknown = sorted(set(params.keys()) - set(model.model_fields))
    if unknown:
        raise ApiError(
            400,
            "invalid-query",
            f"unknown query parameter {unknown[0]!r}",
            field_errors=[
                {"field": name, "detail": f"unknown; use one of: {', '.join(model.model_fields)}"} for name in unknown
            ],
        )
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        values = params.getlist(name)
        if not values:
            continue
        if typing.get_origin(info.annotation) is list:
            data[name] = [part for value in values for part in value.split(",") if part != ""]
        elif len(values) > 1:
            raise ApiError(
                400, "invalid-query", f"give {name} once", field_errors=[{"field": name, "detail": "repeated"}]
            )
        else:
            data[name] = values[0]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        raise ApiError(
            400, "invalid-query", "; ".join(f"{e['field']}: {e['detail']}" for e in errors), field_errors=errors
        ) from None


async def _parse_body(request: Request, model: type[BaseModel]) -> BaseModel:
    raw = await request.body()
    if raw.strip(JSON_WHITESPACE):  # only JSON's own: a lone vertical tab or form feed is a body, and not JSON
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype != "application/json" and not (ctype.startswith("application/") and ctype.endswith("+json")):
            raise ApiError(415, "unsupported-media-type", "send the body as JSON with Content-Type: application/json")
    else:
        raw = b"{}"
    refuse_duplicate_keys(raw)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        kinds = {e["type"] for e in exc.errors()}
        if "json_invalid" in kinds:
            raise ApiError(400, "invalid-json", f"the body is not valid JSON: {exc.errors()[0]['msg']}") from None
        if "model_type" in kinds or "model_attributes_type" in kinds:
            raise ApiError(422, "invalid-body", "the body must be a JSON object") from None
        errors = field_errors(exc, model)
        raise ApiError(
            422, "invalid-body", "; ".join(f"{e['field']}: {e['detail']}" for e in errors), field_errors=errors
        ) from None


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _pairs_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def refuse_duplicate_keys(raw: bytes) -> None:
    """A 400 problem naming the key when a JSON object in ``raw`` gives a key twice (``{"a": 1, "a": 2}``).

    Parsers disagree on which value wins (the first, the last, an error), so a proxy or a client library could
    read another request than the one acted on. Text that is not JSON at all passes: the parser after this one
    reports it."""
    try:
        json.loads(raw, object_pairs_hook=_pairs_without_duplicates)
    except _DuplicateKey as exc:
        raise ApiError(
            400,
            "invalid-json",
            f"the body gives the key {exc.key!r} more than once",
            field_errors=[{"field": exc.key, "detail": "given more than once"}],
        ) from None
    except (ValueError, RecursionError):
        pass


def field_errors(exc: ValidationError, model: type[BaseModel] | None = None) -> list[dict[str, str]]:
    """Pydantic errors as ``[{"field": "a.b", "detail": "..."}]`` with messages a person can act on."""
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "constrained-")))]
        name = ".".join(loc) or "body"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            hints: dict[str, str] = getattr(model, "hints", {}) if model else {}
            allowed = ", ".join(model.model_fields) if model else ""
            message = hints.get(name) or (f"unknown field; allowed: {allowed}" if allowed else "unknown field")
        elif err["type"] == "missing":
            message = "is required"
        out.append({"field": name, "detail": message})
    return out


def _render(op: Operation, result: BaseModel | Reply | Response | None) -> Response:
    if isinstance(result, Response):
        return result
    reply = result if isinstance(result, Reply) else Reply(result)
    status = reply.status or op.status
    if reply.body is None:
        return Response(status_code=204 if status == 200 else status, headers=reply.headers)
    return Response(
        reply.body.model_dump_json(), status_code=status, media_type="application/json", headers=reply.headers
    )
