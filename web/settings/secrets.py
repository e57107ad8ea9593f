"""Secrets from files and the environment, the one way for every section.

A secret key may be given as ``<key>_file`` (a path, relative to the configuration file) instead of its value, in
TOML or in the environment (``HELPLINE_<SECTION>_<KEY>_FILE``); some have a documented short environment name too
(``HELPLINE_TWILIO_AUTH_TOKEN``). The environment wins over the file. What is read replaces the ``_file`` key
before validation, so messages and logs never show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Keys of the plain sections whose value may come from a file.
SECTION_SECRETS: dict[str, tuple[str, ...]] = {
    "database": ("url",),
    "directory": ("password",),
    "live": ("redis_url",),
    "console": ("secret_key",),
    "web": ("metrics_token",),
}
#: ``[notify.<channel>]`` secrets and their documented short environment names.
NOTIFY_SECRETS: dict[tuple[str, str], str] = {
    ("twilio", "auth_token"): "HELPLINE_TWILIO_AUTH_TOKEN",
    ("slack", "bot_token"): "HELPLINE_SLACK_BOT_TOKEN",
    ("slack", "signing_secret"): "HELPLINE_SLACK_SIGNING_SECRET",
}


def resolve_secrets(raw: dict[str, Any], env: Mapping[str, str], problems: list[str], base: Path) -> None:
    """Fill every secret of ``raw`` from its file or the environment; append what cannot be read to ``problems``."""
    for section, keys in SECTION_SECRETS.items():
        table = raw.get(section)
        if isinstance(table, dict):
            for key in keys:
                read_secret(table, key, f"[{section}]", base, problems)
    for entry in raw.get("pbx", []) if isinstance(raw.get("pbx"), list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            var = f"HELPLINE_PBX_{entry['name'].upper().replace('-', '_')}_SECRET"
            from_environment(entry, "secret", env, (var,))
            where, before = f"[[pbx]] {entry['name']}:", len(problems)
            read_secret(entry, "secret", where, base, problems)
            if "secret" not in entry and len(problems) == before:
                problems.append(f'{where} no secret: set secret_file = "..." or {var}')
    notify = raw.get("notify")
    for (channel, key), short in NOTIFY_SECRETS.items():
        table = notify.get(channel) if isinstance(notify, dict) else None
        if isinstance(table, dict):  # only a channel the file configures (its other keys come from there)
            from_environment(table, key, env, (short, f"HELPLINE_NOTIFY_{channel.upper()}_{key.upper()}"))
            read_secret(table, key, f"[notify.{channel}]", base, problems)


def from_environment(table: dict[str, Any], key: str, env: Mapping[str, str], names: tuple[str, ...]) -> None:
    """The first of the environment ``names`` that is set replaces ``key`` in ``table``; else the first of their
    ``_FILE`` forms replaces it by that file."""
    value = next((env[name] for name in names if name in env), None)
    file = next((env[f"{name}_FILE"] for name in names if f"{name}_FILE" in env), None)
    if value is not None:
        table[key] = value
        table.pop(f"{key}_file", None)
    elif file is not None:
        table.pop(key, None)
        table[f"{key}_file"] = file


def read_secret(table: dict[str, Any], key: str, where: str, base: Path, problems: list[str]) -> None:
    """Replace ``<key>_file`` in ``table`` by the file's content (stripped)."""
    file_key = f"{key}_file"
    if file_key not in table:
        return
    file = Path(str(table.pop(file_key)))
    if key in table:
        problems.append(f"{where} set either {key} or {file_key}, not both")
        return
    file = file if file.is_absolute() else base / file
    try:
        table[key] = file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        problems.append(f"{where} {file_key}: cannot read {file}: {exc.strerror or exc}")
