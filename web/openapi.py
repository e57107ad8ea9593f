"""The OpenAPI 3.1 document, generated from the declared operations and their pydantic models."""

from __future__ import annotations

import re
import typing
import weakref
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.applications import Starlette

from web.api import IF_MATCH_PATTERN, DeclaredRoute, Operation
from web.http.problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE
from web.schemas.common import Problem
from web.version import VERSION

REF = "#/components/schemas/{model}"
PATH_PARAM = re.compile(r"{([a-z_]+)}")
REASONS = {
    400: "Bad request: malformed JSON, query parameter, cursor or If-Match",
    401: "No token, or an unknown or revoked one",
    403: "The token's agent may not do this",
    404: "No such object",
    409: "Conflicts with the current state (invalid transition, closed ticket, duplicate)",
    412: "If-Match does not match the current version",
    413: "Body larger than [web] max_body_bytes",
    415: "Body is not JSON",
    422: "Body fails validation; see errors[] for each field",
}


def document_of(app: Starlette) -> dict[str, Any]:
    """The document of the operations ``app`` serves (its :class:`~web.api.DeclaredRoute` routes), built once."""
    found = _documents.get(app)
    if found is None:
        operations = [(r.prefix, op) for r in app.routes if isinstance(r, DeclaredRoute) for op in r.operations]
        found = _documents[app] = build(operations, version=VERSION)
    return found


_documents: weakref.WeakKeyDictionary[Starlette, dict[str, Any]] = weakref.WeakKeyDictionary()


def build(operations: list[tuple[str, Operation]], *, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations`` (each with its API's prefix)."""
    models: set[type[BaseModel]] = {Problem}
    for _, op in operations:
        for model in (op.body, op.query, op.response, *op.alt_responses.values()):
            if model is not None:
                models.add(model)
    keyed = [
        (m, "validation" if _is_input(m, operations) else "serialization")
        for m in sorted(models, key=lambda m: m.__name__)
    ]
    refs, top = models_json_schema(keyed, ref_template=REF)
    schemas: dict[str, Any] = top.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for prefix, op in operations:
        paths.setdefault(prefix + op.path, {})[op.method.lower()] = _operation(op, refs, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "helpline",
            "version": version,
            "description": "IT service desk API. Every error is application/problem+json (RFC 9457).",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from `helpline user add` or POST /api/v1/agents.",
                }
            },
        },
        "tags": [{"name": t} for t in ("tickets", "calls", "people", "agents", "directory", "sla", "service")],
    }


def _is_input(model: type[BaseModel], operations: list[tuple[str, Operation]]) -> bool:
    return any(model in (op.body, op.query) for _, op in operations)


def _ref(model: type[BaseModel], mode: str, refs: dict[Any, Any]) -> dict[str, Any]:
    return refs[(model, mode)]


def _operation(op: Operation, refs: dict[Any, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
    params: list[dict[str, Any]] = []
    for name in PATH_PARAM.findall(op.path):
        schema: dict[str, Any] = (
            {"type": "string", "minLength": 1, "description": "Ticket id (42) or number (IT-42)"}
            if name == "ref"
            else {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
        )
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if op.query is not None:
        query_schema = schemas[op.query.__name__]
        for name, prop in query_schema["properties"].items():
            param: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": _strip_title(prop)}
            if "description" in prop:
                param["description"] = prop["description"]
            if typing.get_origin(op.query.model_fields[name].annotation) is list:
                param.update(style="form", explode=False)
            params.append(param)
    if op.if_match:
        params.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": IF_MATCH_PATTERN},
                "description": "The ETag you read; the change is refused with 412 if the object moved on.",
            }
        )
    if params:
        out["parameters"] = params
    if op.body is not None:
        # An empty body is read as {}: it may be left out when the model has no required field.
        required = any(f.is_required() for f in op.body.model_fields.values())
        content = {"application/json": {"schema": _ref(op.body, "validation", refs)}}
        out["requestBody"] = {"required": required, "content": content}
    responses: dict[str, Any] = {}
    success: dict[str, Any] = {"description": "OK" if op.status == 200 else "Created"}
    if op.response is not None:
        success["content"] = {"application/json": {"schema": _ref(op.response, "serialization", refs)}}
    else:
        success["content"] = {"application/json": {"schema": {"type": "object"}}}
    for media, description in op.alt_media.items():
        success["content"][media] = {"schema": {"type": "string", "description": description}}
    if op.etag:
        success["headers"] = {"ETag": {"schema": {"type": "string"}, "description": "The version, for If-Match."}}
    responses[str(op.status)] = success
    for status, model in op.alt_responses.items():
        responses[str(status)] = {
            "description": "See the body",
            "content": {"application/json": {"schema": _ref(model, "serialization", refs)}},
        }
    for status in sorted(_error_statuses(op)):
        responses[str(status)] = {
            "description": REASONS.get(status, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": _ref(Problem, "serialization", refs)}},
        }
    out["responses"] = responses
    out["security"] = [{"bearer": []}] if op.role is not None else []
    return out


def _error_statuses(op: Operation) -> set[int]:
    statuses = set(op.errors)
    if op.query is not None or op.body is not None or op.if_match or op.role is not None:
        statuses.add(400)  # authenticated operations refuse unknown query parameters
    if op.if_match:
        statuses.add(412)
    if op.body is not None:
        statuses |= {413, 415, 422}
    if op.role is not None:
        statuses |= {401, 403}
    if PATH_PARAM.search(op.path):
        statuses.add(404)
    return statuses


def _strip_title(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in ("title", "description")}
