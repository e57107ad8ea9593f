"""``[web]``: the HTTP listener, its public URL and who may read /metrics."""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from web.settings.base import Section


class WebSettings(Section):
    """``[web]``: the HTTP listener."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: One log line per HTTP request (uvicorn's access log). Off for busy or benchmarked servers.
    access_log: bool = True
    #: The URL Twilio and Slack call back (webhooks); their signatures are checked against it.
    public_url: str | None = Field(None, pattern=r"^https?://[^/?#]+(/[^?#]*)?$")
    #: /metrics asks for ``Authorization: Bearer <metrics_token>`` when set; open (or ``metrics_allow``) when not.
    metrics_token: SecretStr | None = Field(None, min_length=16)
    #: /metrics answers only clients in these networks (e.g. ["127.0.0.1/32", "10.0.0.0/8"]); empty: any client.
    metrics_allow: list[str] = Field(default_factory=list)

    @field_validator("metrics_allow", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if isinstance(value, str):  # from HELPLINE_WEB_METRICS_ALLOW="10.0.0.0/8, 127.0.0.1"
            value = [item.strip() for item in value.split(",") if item.strip()]
        for net in value if isinstance(value, list) else ():
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f'{net!r} is not a network: write it like "10.0.0.0/8" or "127.0.0.1"') from None
        return value
