"""``[database]``: the embedded SQLite file, or a PostgreSQL server."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from web.settings.base import Section, redact_url

DEFAULT_DATABASE_URL = "sqlite://./var/helpline.sqlite3"


class DatabaseSettings(Section):
    """``[database]``: where tickets live. SQLite file by default, PostgreSQL by URL."""

    url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)
    pool_max: int = Field(10, ge=1, le=200)

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in ("sqlite", "postgres", "postgresql", "asyncpg"):
            raise ValueError(
                "must start with sqlite:// (for example sqlite://./var/helpline.sqlite3) "
                "or postgres:// (for example postgres://helpline@127.0.0.1:5432/helpline)"
            )
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_secret_value().startswith("sqlite:")

    def redacted_url(self) -> str:
        """The URL with any password replaced, safe for logs."""
        return redact_url(self.url.get_secret_value())
