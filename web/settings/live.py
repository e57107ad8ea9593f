"""``[live]``: the console's live events: Redis for several workers, history, stream caps."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from web.settings.base import Duration, Section


class LiveSettings(Section):
    """``[live]``: live events for the console (``GET /api/v1/events``)."""

    #: Redis shared by several helpline workers (``HELPLINE_REDIS_URL``); none: events stay in this process.
    redis_url: SecretStr | None = None
    stream: str = Field("helpline:live", min_length=1, max_length=200)
    #: Recent events kept for clients that reconnect (``Last-Event-ID``).
    history: int = Field(1000, ge=10, le=100_000)
    keepalive: Duration = timedelta(seconds=15)
    #: Streams one agent may hold open on one instance (browser tabs, scripts); more are refused with 429.
    max_streams_per_agent: int = Field(8, ge=1, le=10_000)
    #: Streams one instance serves at most; more are refused with 503. None: from the open-file limit, keeping a
    #: quarter of it (at least 128 files) for everything else (web/live/open_streams.py).
    max_streams: int | None = Field(None, ge=1, le=1_000_000)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and urlsplit(value.get_secret_value()).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must start with redis:// (for example redis://127.0.0.1:6379/0), rediss:// or unix://")
        return value
