"""``[log]``: how helpline logs (to standard error)."""

from __future__ import annotations

from typing import Literal

from web.settings.base import Section


class LogSettings(Section):
    """``[log]``: how helpline logs (to standard error)."""

    #: ``text`` for a terminal; ``json`` (one object per line, with request ids) for a log pipeline.
    format: Literal["text", "json"] = "text"
    #: Overrides ``[web] log_level`` when set.
    level: Literal["debug", "info", "warning", "error"] | None = None
