"""``[directory]``: reading callers' numbers, and Active Directory when ``servers`` is set."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from directory import DEFAULT_PHONE_ATTRIBUTES, PEOPLE_FILTER, DirectoryConfig, NumberPolicy
from web.settings.base import CommaList, Duration, Section


class DirectorySettings(Section):
    """``[directory]``: how callers are identified: number rules, and Active Directory when ``servers`` is set."""

    #: ISO country of numbers written without +<country code>; not set: such numbers are kept as written.
    default_region: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    #: Dialling prefixes the PBX puts in front of outside numbers (a leading 9 or 0 for an outside line).
    dialling_prefixes: CommaList = Field(default_factory=list)
    max_extension_digits: int = Field(6, ge=1, le=15)
    extension_pattern: str | None = None
    servers: CommaList = Field(default_factory=list)
    bind_dn: str | None = None
    password: SecretStr | None = None
    base_dn: str | None = None
    starttls: bool = False
    ca_file: str | None = None
    tls_verify: bool = True
    tls_server_name: str | None = None
    vip_group: str | None = None
    sync_interval: Duration = timedelta(minutes=15)
    connect_timeout: Duration = timedelta(seconds=5)
    receive_timeout: Duration = timedelta(seconds=15)
    retries: int = Field(1, ge=0, le=5)
    page_size: int = Field(500, ge=1, le=1000)
    phone_attributes: CommaList = Field(default_factory=lambda: list(DEFAULT_PHONE_ATTRIBUTES))
    user_filter: str = PEOPLE_FILTER
    #: A complete sync removes at most this share of the people at once (more looks like a misconfiguration).
    removal_guard: float = Field(0.5, gt=0, le=1)
    #: Syncs read only what changed (uSNChanged) after a full one; a full sync (removals) at least this often; 0 =
    #: always full.
    full_sync_interval: Duration = timedelta(hours=24)
    #: Ask the directory itself for a number nobody has in the synced index (someone added since the last sync).
    live_fallback: bool = False
    #: How long a live lookup may take before the index's answer stands (at least 1s).
    live_timeout: Duration = timedelta(seconds=2)
    #: How long a live answer (also "nobody") is reused, and how long live lookups pause after a failure.
    live_cache_ttl: Duration = timedelta(seconds=60)

    @field_validator("dialling_prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        for prefix in value:
            if not re.fullmatch(r"[0-9]{1,4}", prefix):
                raise ValueError(f'each prefix is 1-4 digits, e.g. ["9"] (got {prefix!r})')
        return value

    @field_validator("extension_pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f'not a regular expression ({exc}); e.g. "4[0-9]{{3}}" for 4000-4999') from None
        return value

    @field_validator("phone_attributes")
    @classmethod
    def _attributes(cls, value: list[str]) -> list[str]:
        if not value or any(not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,63}", a) for a in value):
            raise ValueError('list LDAP attribute names, e.g. ["telephoneNumber", "mobile", "ipPhone"]')
        return value

    @model_validator(mode="after")
    def _complete(self) -> DirectorySettings:
        if not self.servers:
            return self
        missing = [k for k in ("bind_dn", "password", "base_dn") if not getattr(self, k)]
        if missing:
            hint = ' (password_file = "..." or HELPLINE_DIRECTORY_PASSWORD)' if "password" in missing else ""
            raise ValueError(f"servers is set, so set {', '.join(missing)} too{hint}")
        for uri in self.servers:
            scheme = urlsplit(uri).scheme.lower()
            if scheme not in ("ldap", "ldaps"):
                raise ValueError(f"servers: {uri!r} must start with ldaps:// (port 636) or ldap:// (with starttls)")
            if scheme == "ldap" and not self.starttls:
                raise ValueError(
                    f"servers: {uri!r} would send the password in clear text: use ldaps://, or starttls = true"
                )
        if self.ca_file and not Path(self.ca_file).is_file():
            raise ValueError(f"ca_file: {self.ca_file} is not a readable file")
        if self.connect_timeout < timedelta(seconds=1) or self.receive_timeout < timedelta(seconds=1):
            raise ValueError("connect_timeout and receive_timeout must be at least 1s")
        if self.sync_interval < timedelta(minutes=1):
            raise ValueError("sync_interval must be at least 1m")
        if self.full_sync_interval < timedelta(0):
            raise ValueError("full_sync_interval must be 0 (every sync is a full one) or a duration such as 24h")
        if not timedelta(seconds=1) <= self.live_timeout <= timedelta(seconds=30):
            raise ValueError("live_timeout must be between 1s and 30s (a call waits for it)")
        if self.live_cache_ttl < timedelta(0):
            raise ValueError("live_cache_ttl must be a duration such as 60s (0: no cache)")
        return self

    @property
    def enabled(self) -> bool:
        """Active Directory is configured (callers are identified from the synced index)."""
        return bool(self.servers)

    def number_policy(self) -> NumberPolicy:
        return NumberPolicy(
            self.default_region, tuple(self.dialling_prefixes), self.max_extension_digits, self.extension_pattern
        )

    def client_config(self) -> DirectoryConfig:
        assert self.enabled and self.password is not None
        return DirectoryConfig(
            servers=tuple(self.servers),
            bind_dn=self.bind_dn or "",
            password=self.password.get_secret_value(),
            base_dn=self.base_dn or "",
            starttls=self.starttls,
            ca_file=self.ca_file,
            tls_verify=self.tls_verify,
            tls_server_name=self.tls_server_name,
            connect_timeout=self.connect_timeout.total_seconds(),
            receive_timeout=self.receive_timeout.total_seconds(),
            retries=self.retries,
            page_size=self.page_size,
            phone_attributes=tuple(self.phone_attributes),
            user_filter=self.user_filter,
            vip_group=self.vip_group,
        )
