"""``GET /metrics``: the Prometheus text of the process's metrics, for the clients ``[web] metrics_token`` and
``metrics_allow`` let in (docs/monitoring.md lists every metric)."""

from __future__ import annotations

import hmac
import ipaddress

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from web.metrics import PATH
from web.runtime import runtime_of
from web.settings import WebSettings


def allowed(request: Request, web: WebSettings) -> bool:
    """``[web] metrics_token`` (Bearer) and ``metrics_allow`` (client networks), when set."""
    if web.metrics_allow:
        host = request.client.host if request.client else ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if not any(address in ipaddress.ip_network(net, strict=False) for net in web.metrics_allow):
            return False
    if web.metrics_token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = web.metrics_token.get_secret_value()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
            return False
    return True


async def metrics_endpoint(request: Request) -> Response:
    runtime = runtime_of(request)
    if not allowed(request, runtime.settings.web):
        return PlainTextResponse("metrics: not allowed (see [web] metrics_token / metrics_allow)\n", status_code=403)
    await runtime.collector.refresh()
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def routes() -> list[Route]:
    return [Route(PATH, metrics_endpoint, methods=["GET"])]
