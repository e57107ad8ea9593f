"""Validation errors as people fix them: where (the section, the ``[[entry]]`` by its name, the key), what is wrong,
and for a mistyped key the key that was probably meant."""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from web.settings.base import did_you_mean

#: Keys whose value is never repeated in a message.
SECRET_WORDS = ("url", "secret", "password", "token")


def describe(err: Any, raw: dict[str, Any], root: type[BaseModel]) -> str:
    """``[[pbx]] main port: Input should be ... (got 0)`` for one pydantic error of ``root`` read from ``raw``."""
    loc = [str(p) for p in err["loc"]]
    where = _where(loc, raw, root)
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        hint = did_you_mean(loc[-1], model.model_fields) if model is not None else ""
        message = f"unknown key{hint or ' (check the spelling; docs/configuration.md lists every key)'}"
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    value = err.get("input")
    if err["type"] not in ("extra_forbidden", "missing") and isinstance(value, (str, int, float, bool)):
        shown = value if not isinstance(value, str) or len(value) < 80 else value[:77] + "..."
        if not any(s in where for s in SECRET_WORDS):
            message += f" (got {shown!r})"
    return f"{where}: {message}"


def _where(loc: list[str], raw: dict[str, Any], root: type[BaseModel]) -> str:
    """``[web] port``, ``[[sla.policies]] p1 match.priority.0`` (an entry by its name, else its number), ``web``."""
    for i, part in enumerate(loc):
        if part.isdigit() and _is_table_list(root, loc[:i]):
            entries: Any = raw
            for key in loc[:i]:
                entries = entries.get(key, {}) if isinstance(entries, dict) else {}
            index = int(part)
            entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
            name = entry.get("name") if isinstance(entry, dict) else None
            return " ".join([f"[[{'.'.join(loc[:i])}]]", str(name or f"#{index + 1}"), ".".join(loc[i + 1 :])]).strip()
    if len(loc) >= 2:
        return f"[{loc[0]}] {'.'.join(loc[1:])}"
    if loc:
        return f"[{loc[0]}]" if loc[0] in root.model_fields else loc[0]
    return "configuration"


def _model_at(root: type[BaseModel], path: Sequence[str]) -> type[BaseModel] | None:
    """The model of the table at ``path`` (list indexes skipped), or None."""
    model: type[BaseModel] | None = root
    for part in path:
        if part.isdigit():
            continue
        field = model.model_fields.get(part) if model is not None else None
        model = _model_of(field.annotation) if field is not None else None
        if model is None:
            return None
    return model


def _is_table_list(root: type[BaseModel], path: Sequence[str]) -> bool:
    """Whether ``path`` is a list of tables (``[[pbx]]``, ``[[sla.policies]]``)."""
    if not path or path[-1].isdigit():
        return False
    parent = _model_at(root, path[:-1])
    field = parent.model_fields.get(path[-1]) if parent is not None else None
    return field is not None and typing.get_origin(field.annotation) is list and _model_of(field.annotation) is not None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model inside ``X``, ``list[X]`` or ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, types.UnionType, typing.Union):
        for arg in typing.get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None
