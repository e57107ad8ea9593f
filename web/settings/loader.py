"""Reading the settings: built-in defaults, the TOML file, then the environment; validated, every fault named.

Order of precedence (last wins): built-in defaults, the TOML file (``--config`` or ``HELPLINE_CONFIG``),
environment variables ``HELPLINE_<SECTION>_<KEY>`` (for example ``HELPLINE_DATABASE_URL``, ``HELPLINE_WEB_PORT``).
A secret may instead be read from a file (:mod:`web.settings.secrets`). Every problem is reported with the key
that causes it and how to fix it (:mod:`web.settings.errors`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from web.settings.errors import describe
from web.settings.root import Settings
from web.settings.secrets import SECTION_SECRETS, resolve_secrets

ENV_PREFIX = "HELPLINE_"
CONFIG_ENV = "HELPLINE_CONFIG"
#: Environment names that set a key of a section (the longer HELPLINE_<SECTION>_<KEY> wins when both are set).
ENV_ALIASES: dict[str, tuple[str, str]] = {"HELPLINE_REDIS_URL": ("live", "redis_url")}


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds one actionable line per fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


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
    _apply_env(raw, env, problems)
    resolve_secrets(raw, env, problems, base=Path(path).parent if path else Path.cwd())
    if problems:
        raise ConfigError([f"{source}: {p}" for p in problems])
    try:
        return Settings.model_validate({**raw, "source": source})
    except ValidationError as exc:
        raise ConfigError([f"{source}: {describe(err, raw, Settings)}" for err in exc.errors()]) from None


def _apply_env(raw: dict[str, Any], env: Mapping[str, str], problems: list[str]) -> None:
    """``HELPLINE_<SECTION>_<KEY>[_FILE]`` into ``raw``; a name that matches no key of its section is named."""
    sections = _section_models()
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        for section, model in sections.items():
            if not rest.startswith(section + "_"):
                continue
            key = rest[len(section) + 1 :]
            base = key[:-5] if key.endswith("_file") else key
            if (
                key in model.model_fields
                or base in model.model_fields
                or (key.endswith("_file") and base in SECTION_SECRETS.get(section, ()))
            ):  # ca_file: a key of its own
                table = raw.setdefault(section, {})
                if not isinstance(table, dict):
                    problems.append(f"[{section}] must be a table to apply {name}")
                    break
                table[key] = value
            break
    for name, (section, key) in ENV_ALIASES.items():  # documented short names, e.g. HELPLINE_REDIS_URL
        full = f"{ENV_PREFIX}{section}_{key}".upper()
        if name in env and full not in env and isinstance(raw.setdefault(section, {}), dict):
            raw[section][key] = env[name]
        if f"{name}_FILE" in env and f"{full}_FILE" not in env and isinstance(raw.setdefault(section, {}), dict):
            raw[section][f"{key}_file"] = env[f"{name}_FILE"]  # the secret-file form of the short name


def _section_models() -> dict[str, type[BaseModel]]:
    out: dict[str, type[BaseModel]] = {}
    for name, field in Settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            out[name] = field.annotation
    return out
