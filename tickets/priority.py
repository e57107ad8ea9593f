"""ITIL priority: impact x urgency -> P1..P4, by a configurable matrix."""

from __future__ import annotations

from collections.abc import Mapping

LEVELS = ("high", "medium", "low")
PRIORITIES = ("P1", "P2", "P3", "P4")

#: impact -> urgency -> priority. The usual ITIL 3x3 matrix folded onto four priorities.
DEFAULT_MATRIX: Mapping[str, Mapping[str, str]] = {
    "high": {"high": "P1", "medium": "P2", "low": "P3"},
    "medium": {"high": "P2", "medium": "P3", "low": "P4"},
    "low": {"high": "P3", "medium": "P4", "low": "P4"},
}


class PriorityMatrix:
    """Looks up the priority of an impact/urgency pair."""

    def __init__(self, matrix: Mapping[str, Mapping[str, str]] = DEFAULT_MATRIX) -> None:
        for impact in LEVELS:
            for urgency in LEVELS:
                if matrix[impact][urgency] not in PRIORITIES:
                    raise ValueError(f"priority for {impact}/{urgency} must be one of {PRIORITIES}")
        self._matrix = {i: dict(matrix[i]) for i in LEVELS}

    def priority(self, impact: str, urgency: str) -> str:
        """The priority for ``impact`` x ``urgency`` (both one of :data:`LEVELS`)."""
        return self._matrix[impact][urgency]

    def as_dict(self) -> dict[str, dict[str, str]]:
        return {i: dict(row) for i, row in self._matrix.items()}
