"""Settings: one TOML file plus environment overrides, validated at start-up.

Order of precedence (last wins): built-in defaults, the TOML file (``--config`` or ``HELPLINE_CONFIG``),
environment variables ``HELPLINE_<SECTION>_<KEY>`` (for example ``HELPLINE_DATABASE_URL``, ``HELPLINE_WEB_PORT``).
A secret may instead be read from a file: ``<key>_file`` in TOML or ``HELPLINE_<SECTION>_<KEY>_FILE`` in the
environment. Every problem is reported with the key that causes it and how to fix it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, field_validator,
                      model_validator)

from directory.client import DEFAULT_PHONE_ATTRIBUTES, PEOPLE_FILTER, DirectoryConfig
from directory.numbers import NumberPolicy
from tickets.priority import DEFAULT_MATRIX, LEVELS, PRIORITIES
from web.settings.sla import SlaSettings, describe_entry
from web.settings.notify import NotifySettings, describe_entry as describe_notify_entry, resolve_notify_secrets

ENV_PREFIX = "HELPLINE_"
CONFIG_ENV = "HELPLINE_CONFIG"
DEFAULT_DATABASE_URL = "sqlite://./var/helpline.sqlite3"

# Keys whose value may come from "<key>_file" (TOML) or "HELPLINE_<SECTION>_<KEY>_FILE" (environment).
SECRET_KEYS: dict[str, tuple[str, ...]] = {"database": ("url",), "directory": ("password",)}
SECRET_KEYS.update({"live": ("redis_url",), "console": ("secret_key",)})
SECRET_KEYS["web"] = ("metrics_token",)
#: Environment names that set a key of a section (the longer HELPLINE_<SECTION>_<KEY> wins when both are set).
ENV_ALIASES: dict[str, tuple[str, str]] = {"HELPLINE_REDIS_URL": ("live", "redis_url")}


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds one actionable line per fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebSettings(_Section):
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
                raise ValueError(f"{net!r} is not a network: write it like \"10.0.0.0/8\" or \"127.0.0.1\"") from None
        return value


class DatabaseSettings(_Section):
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


_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")


def parse_duration(value: Any) -> Any:
    """``"24h"``, ``"15m"``, ``"1h30m"``, ``"90s"``, ``"2d"`` (or a number of seconds) -> timedelta."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match and any(match.groups()):
            d, h, m, sec = (int(g or 0) for g in match.groups())
            return timedelta(days=d, hours=h, minutes=m, seconds=sec)
        raise ValueError(f"not a duration: write it like 30s, 15m, 24h, 1h30m or 2d (got {value!r})")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class TicketSettings(_Section):
    """``[tickets]``: numbering and the ITIL priority matrix."""

    number_prefix: str = Field("IT", pattern=r"^[A-Z][A-Z0-9]{0,9}$")
    number_start: int = Field(1, ge=1, le=10**12)
    default_impact: Literal["high", "medium", "low"] = "medium"
    default_urgency: Literal["high", "medium", "low"] = "medium"
    #: Urgency of a ticket created without one for a VIP requester (the directory's vip_group); "" = as others.
    vip_urgency: Literal["high", "medium", "low", ""] = "high"
    priority_matrix: dict[str, dict[str, str]] = Field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_MATRIX.items()})
    #: A call from the same phone within this time is added to the caller's open ticket instead of opening one.
    repeat_call_window: Duration = timedelta(hours=24)

    @field_validator("priority_matrix")
    @classmethod
    def _matrix(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        if set(value) != set(LEVELS):
            raise ValueError(f"needs exactly the impact rows {', '.join(LEVELS)}; got {', '.join(sorted(value)) or 'none'}")
        for impact, row in value.items():
            if set(row) != set(LEVELS):
                raise ValueError(f"row {impact!r} needs exactly the urgency keys {', '.join(LEVELS)}")
            for urgency, priority in row.items():
                if priority not in PRIORITIES:
                    raise ValueError(f"{impact}.{urgency} = {priority!r}; use one of {', '.join(PRIORITIES)}")
        return value


def _comma_list(value: Any) -> Any:
    """A list from TOML, or ``"a, b"`` from an environment variable."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CommaList = Annotated[list[str], BeforeValidator(_comma_list)]


class DirectorySettings(_Section):
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
    #: Syncs read only what changed (uSNChanged) after a full one; a full sync (removals) at least this often; 0 = always full.
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
                raise ValueError(f"each prefix is 1-4 digits, e.g. [\"9\"] (got {prefix!r})")
        return value

    @field_validator("extension_pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression ({exc}); e.g. \"4[0-9]{{3}}\" for 4000-4999") from None
        return value

    @field_validator("phone_attributes")
    @classmethod
    def _attributes(cls, value: list[str]) -> list[str]:
        if not value or any(not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,63}", a) for a in value):
            raise ValueError("list LDAP attribute names, e.g. [\"telephoneNumber\", \"mobile\", \"ipPhone\"]")
        return value

    @model_validator(mode="after")
    def _complete(self) -> DirectorySettings:
        if not self.servers:
            return self
        missing = [k for k in ("bind_dn", "password", "base_dn") if not getattr(self, k)]
        if missing:
            hint = " (password_file = \"...\" or HELPLINE_DIRECTORY_PASSWORD)" if "password" in missing else ""
            raise ValueError(f"servers is set, so set {', '.join(missing)} too{hint}")
        for uri in self.servers:
            scheme = urlsplit(uri).scheme.lower()
            if scheme not in ("ldap", "ldaps"):
                raise ValueError(f"servers: {uri!r} must start with ldaps:// (port 636) or ldap:// (with starttls)")
            if scheme == "ldap" and not self.starttls:
                raise ValueError(f"servers: {uri!r} would send the password in clear text: use ldaps://, or "
                                 "starttls = true")
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
        return NumberPolicy(self.default_region, tuple(self.dialling_prefixes), self.max_extension_digits,
                            self.extension_pattern)

    def client_config(self) -> DirectoryConfig:
        assert self.enabled and self.password is not None
        return DirectoryConfig(
            servers=tuple(self.servers), bind_dn=self.bind_dn or "", password=self.password.get_secret_value(),
            base_dn=self.base_dn or "", starttls=self.starttls, ca_file=self.ca_file, tls_verify=self.tls_verify,
            tls_server_name=self.tls_server_name, connect_timeout=self.connect_timeout.total_seconds(),
            receive_timeout=self.receive_timeout.total_seconds(), retries=self.retries, page_size=self.page_size,
            phone_attributes=tuple(self.phone_attributes), user_filter=self.user_filter, vip_group=self.vip_group)


class PbxSettings(_Section):
    """One ``[[pbx]]``: an Asterisk server whose AMI helpline listens to."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    host: str = Field(min_length=1)
    port: int = Field(5038, ge=1, le=65535)
    username: str = Field(min_length=1)
    secret: SecretStr
    queues: list[str] = Field(default_factory=list)
    contexts: list[str] = Field(default_factory=list)
    ping_interval: Duration = timedelta(seconds=10)
    action_timeout: Duration = timedelta(seconds=10)
    #: Click to call: the agent's phone is rung on this channel, then the number is dialled in this context.
    originate_channel: str = Field("PJSIP/{extension}", pattern=r"^[^\r\n]*\{extension\}[^\r\n]*$")
    originate_context: str = Field("from-internal", pattern=r"^[^\r\n]+$")
    originate_ring: Duration = timedelta(seconds=30)

    @model_validator(mode="after")
    def _selects_something(self) -> PbxSettings:
        if not self.queues and not self.contexts:
            raise ValueError("name the IT line: queues = [\"helpdesk\"] (and/or contexts = [...])")
        if self.ping_interval < timedelta(seconds=1) or self.action_timeout < timedelta(seconds=1):
            raise ValueError("ping_interval and action_timeout must be at least 1s")
        return self


class LiveSettings(_Section):
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


class ConsoleSettings(_Section):
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


class LogSettings(_Section):
    """``[log]``: how helpline logs (to standard error)."""

    #: ``text`` for a terminal; ``json`` (one object per line, with request ids) for a log pipeline.
    format: Literal["text", "json"] = "text"
    #: Overrides ``[web] log_level`` when set.
    level: Literal["debug", "info", "warning", "error"] | None = None


class Settings(_Section):
    """All of helpline's settings."""

    web: WebSettings = WebSettings()
    database: DatabaseSettings = DatabaseSettings()
    directory: DirectorySettings = DirectorySettings()
    pbx: list[PbxSettings] = Field(default_factory=list)
    tickets: TicketSettings = TicketSettings()
    sla: SlaSettings = SlaSettings()
    notify: NotifySettings = NotifySettings()
    live: LiveSettings = LiveSettings()
    console: ConsoleSettings = ConsoleSettings()
    log: LogSettings = LogSettings()
    source: str = Field("defaults", exclude=True)

    @field_validator("pbx")
    @classmethod
    def _unique_names(cls, value: list[PbxSettings]) -> list[PbxSettings]:
        names = [p.name for p in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"two [[pbx]] entries are called {duplicates[0]!r}; names must differ")
        return value


def redact_url(url: str) -> str:
    """Replace the password in a URL by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


def load_settings(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (if any), apply environment overrides and validate.

    Raises :class:`ConfigError` naming every bad key.
    """
    env = os.environ if environ is None else environ
    path = path or env.get(CONFIG_ENV) or None
    raw: dict[str, Any] = {}
    source = "defaults"
    if path:
        file = Path(path)
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([f"{file}: configuration file not found (check --config / {CONFIG_ENV})"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{file}: not valid TOML: {exc}"]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"{file}: cannot read the configuration file: {exc}"]) from None
        source = str(file)
    problems: list[str] = []
    base = Path(path).parent if path else Path.cwd()
    _apply_env(raw, env, problems)
    for name, (section, key) in ENV_ALIASES.items():  # documented short names, e.g. HELPLINE_REDIS_URL
        full = f"{ENV_PREFIX}{section}_{key}".upper()
        if name in env and full not in env and isinstance(raw.setdefault(section, {}), dict):
            raw[section][key] = env[name]
        if f"{name}_FILE" in env and f"{full}_FILE" not in env and isinstance(raw.setdefault(section, {}), dict):
            raw[section][f"{key}_file"] = env[f"{name}_FILE"]  # the secret-file form of the short name
    _resolve_secret_files(raw, problems, base=base)
    _resolve_pbx_secrets(raw, env, problems, base=base)
    resolve_notify_secrets(raw, env, problems, base=base)
    if problems:
        raise ConfigError([f"{source}: {p}" for p in problems])
    try:
        return Settings.model_validate({**raw, "source": source})
    except ValidationError as exc:
        raise ConfigError([f"{source}: {_describe(err, raw)}" for err in exc.errors()]) from None


def _apply_env(raw: dict[str, Any], env: Mapping[str, str], problems: list[str]) -> None:
    sections = {name: model for name, model in _section_models().items()}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        rest = name[len(ENV_PREFIX):].lower()
        for section, model in sections.items():
            if not rest.startswith(section + "_"):
                continue
            key = rest[len(section) + 1:]
            base = key[:-5] if key.endswith("_file") else key
            if key in model.model_fields or base in model.model_fields or (
                    key.endswith("_file") and base in SECRET_KEYS.get(section, ())):  # ca_file is a key of its own
                table = raw.setdefault(section, {})
                if not isinstance(table, dict):
                    problems.append(f"[{section}] must be a table to apply {name}")
                    break
                table[key] = value
            break


def _resolve_secret_files(raw: dict[str, Any], problems: list[str], base: Path) -> None:
    for section, keys in SECRET_KEYS.items():
        table = raw.get(section)
        if not isinstance(table, dict):
            continue
        for key in keys:
            file_key = f"{key}_file"
            if file_key not in table:
                continue
            file_name = table.pop(file_key)
            if key in table:
                problems.append(f"[{section}] set either {key} or {file_key}, not both")
                continue
            file = Path(str(file_name))
            if not file.is_absolute():
                file = base / file
            try:
                table[key] = file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                problems.append(f"[{section}] {file_key}: cannot read {file}: {exc.strerror or exc}")


def _resolve_pbx_secrets(raw: dict[str, Any], env: Mapping[str, str], problems: list[str], base: Path) -> None:
    """Each [[pbx]] secret: ``secret``, ``secret_file``, or ``HELPLINE_PBX_<NAME>_SECRET[_FILE]`` (env wins)."""
    entries = raw.get("pbx", [])
    if not isinstance(entries, list):
        return
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        var = f"{ENV_PREFIX}PBX_{entry['name'].upper().replace('-', '_')}_SECRET"
        if var in env:
            entry["secret"] = env[var]
            entry.pop("secret_file", None)
        elif f"{var}_FILE" in env:
            entry.pop("secret", None)
            entry["secret_file"] = env[f"{var}_FILE"]
        if "secret_file" in entry:
            file_name = entry.pop("secret_file")
            if "secret" in entry:
                problems.append(f"[[pbx]] {entry['name']}: set either secret or secret_file, not both")
                continue
            file = Path(str(file_name))
            file = file if file.is_absolute() else base / file
            try:
                entry["secret"] = file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                problems.append(f"[[pbx]] {entry['name']}: secret_file: cannot read {file}: {exc.strerror or exc}")
        elif "secret" not in entry:
            problems.append(f"[[pbx]] {entry['name']}: no secret: set secret_file = \"...\" or {var}")


def _section_models() -> dict[str, type[BaseModel]]:
    out: dict[str, type[BaseModel]] = {}
    for name, field in Settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            out[name] = field.annotation
    return out


def _describe(err: Any, raw: dict[str, Any] | None = None) -> str:
    loc = [str(p) for p in err["loc"]]
    if len(loc) >= 2 and loc[0] == "pbx" and loc[1].isdigit():  # [[pbx]] entries are named by name, else number
        entries, index = (raw or {}).get("pbx", []), int(loc[1])
        entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        where = " ".join(["[[pbx]]", str(name or f"#{index + 1}"), ".".join(loc[2:])]).strip()
    elif describe_notify_entry(loc, raw) is not None:  # [[notify.people]] ivan phone
        where = describe_notify_entry(loc, raw) or ""
    elif len(loc) >= 3 and loc[0] == "sla" and loc[2].isdigit():  # [[sla.policies]] p1 match.priority.0
        where = " ".join([describe_entry(loc[1], int(loc[2]), raw), ".".join(loc[3:])]).strip()
    elif len(loc) >= 2:
        where = f"[{loc[0]}] {'.'.join(loc[1:])}"
    elif loc:
        where = f"[{loc[0]}]" if loc[0] in Settings.model_fields else loc[0]
    else:
        where = "configuration"
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; docs/configuration.md lists every key)"
    elif message.startswith("Value error, "):
        message = message[len("Value error, "):]
    value = err.get("input")
    if err["type"] not in ("extra_forbidden", "missing") and isinstance(value, (str, int, float, bool)):
        shown = value if not isinstance(value, str) or len(value) < 80 else value[:77] + "..."
        if not any(s in where for s in ("url", "secret", "password", "token")):
            message += f" (got {shown!r})"
    return f"{where}: {message}"
