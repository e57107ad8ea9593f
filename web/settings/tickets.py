"""``[tickets]``: numbering, default impact and urgency, the priority matrix, repeat calls."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from tickets.priority import DEFAULT_MATRIX, LEVELS, PRIORITIES
from web.settings.base import Duration, Section


class TicketSettings(Section):
    """``[tickets]``: numbering and the ITIL priority matrix."""

    number_prefix: str = Field("IT", pattern=r"^[A-Z][A-Z0-9]{0,9}$")
    number_start: int = Field(1, ge=1, le=10**12)
    default_impact: Literal["high", "medium", "low"] = "medium"
    default_urgency: Literal["high", "medium", "low"] = "medium"
    #: Urgency of a ticket created without one for a VIP requester (the directory's vip_group); "" = as others.
    vip_urgency: Literal["high", "medium", "low", ""] = "high"
    priority_matrix: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_MATRIX.items()}
    )
    #: A call from the same phone within this time is added to the caller's open ticket instead of opening one.
    repeat_call_window: Duration = timedelta(hours=24)

    @field_validator("priority_matrix")
    @classmethod
    def _matrix(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        if set(value) != set(LEVELS):
            raise ValueError(
                f"needs exactly the impact rows {', '.join(LEVELS)}; got {', '.join(sorted(value)) or 'none'}"
            )
        for impact, row in value.items():
            if set(row) != set(LEVELS):
                raise ValueError(f"row {impact!r} needs exactly the urgency keys {', '.join(LEVELS)}")
            for urgency, priority in row.items():
                if priority not in PRIORITIES:
                    raise ValueError(f"{impact}.{urgency} = {priority!r}; use one of {', '.join(PRIORITIES)}")
        return value
