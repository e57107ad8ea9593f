"""``[console]``: the agents' page and its login sessions."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr

from web.settings.base import Duration, Section


class ConsoleSettings(Section):
    """``[console]``: the agents' web page and its login sessions."""

    #: Signs session cookies; set it (or ``secret_key_file``) when several workers serve the console. Default: a
    #: random key per process (sessions end when it restarts).
    secret_key: SecretStr | None = Field(None, min_length=32)
    session_ttl: Duration = timedelta(hours=12)
    #: Mark the cookie Secure; default: when the request came over https (behind a TLS proxy: set true).
    cookie_secure: bool | None = None
    #: Failed logins allowed per login name / per client address within 5 minutes.
    login_attempts: int = Field(5, ge=1, le=1000)
    ip_attempts: int = Field(20, ge=1, le=100_000)
