"""RFC 9457 problem details: every error the API returns is ``application/problem+json``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from tickets import errors

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:helpline:problem:"

#: Domain error -> HTTP status.
STATUS_OF: dict[type[errors.DomainError], int] = {
    errors.NotFound: 404,
    errors.StaleVersion: 412,
    errors.Conflict: 409,
    errors.Forbidden: 403,
    errors.InvalidField: 422,
    errors.InvalidTransition: 409,
}


class ApiError(Exception):
    """Raised by the web layer to answer with a problem."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field_errors: Iterable[dict[str, str]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.field_errors = list(field_errors)
        self.headers = headers or {}


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    field_errors: Iterable[dict[str, str]] = (),
    headers: dict[str, str] | None = None,
) -> Response:
    """A problem response. ``code`` becomes the stable ``type`` (``urn:helpline:problem:<code>``)."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    field_errors = list(field_errors)
    if field_errors:
        body["errors"] = field_errors
    return Response(json.dumps(body, ensure_ascii=False), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def from_api_error(exc: ApiError) -> Response:
    return problem(exc.status, exc.code, exc.detail, field_errors=exc.field_errors, headers=exc.headers)


def from_domain_error(exc: errors.DomainError) -> Response:
    status = next((s for cls, s in STATUS_OF.items() if isinstance(exc, cls)), 400)
    field_errors = [{"field": exc.field, "detail": exc.reason}] if isinstance(exc, errors.InvalidField) else []
    return problem(status, exc.code, exc.message, field_errors=field_errors)


async def http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown route, wrong method, body too large) as problems."""
    assert isinstance(exc, HTTPException)
    codes = {404: "no-such-route", 405: "method-not-allowed", 413: "body-too-large"}
    detail = {
        404: f"there is nothing at {request.url.path}; the API lives under /api/v1 (see /api/v1/openapi.json)",
        405: f"{request.method} is not allowed on {request.url.path}",
        413: "the request body is larger than [web] max_body_bytes allows",
    }.get(exc.status_code, str(exc.detail))
    return problem(exc.status_code, codes.get(exc.status_code, "http-error"), detail, headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal-error", "an unexpected error occurred; it has been logged")
