"""The status workflow and the priority matrix: pure rules, no database."""

from __future__ import annotations

import itertools

import pytest

from tickets import workflow
from tickets.errors import InvalidTransition
from tickets.models import TicketStatus as S
from tickets.priority import DEFAULT_MATRIX, LEVELS, PriorityMatrix


def test_the_happy_path_is_allowed() -> None:
    path = [S.NEW, S.OPEN, S.PENDING, S.OPEN, S.RESOLVED, S.CLOSED]
    for current, target in itertools.pairwise(path):
        workflow.check(current, target)


@pytest.mark.parametrize(
    "current,target",
    [
        (S.NEW, S.CLOSED),
        (S.OPEN, S.CLOSED),
        (S.PENDING, S.CLOSED),
        (S.CLOSED, S.RESOLVED),
        (S.CLOSED, S.PENDING),
        (S.OPEN, S.NEW),
        (S.RESOLVED, S.PENDING),
        (S.OPEN, S.OPEN),
    ],
)
def test_refused_transitions_name_what_is_allowed(current: S, target: S) -> None:
    with pytest.raises(InvalidTransition) as caught:
        workflow.check(current, target)
    assert caught.value.allowed == tuple(s.value for s in workflow.allowed(current))
    assert f"from {current.value} to {target.value}" in str(caught.value)


def test_nothing_goes_back_to_new_and_everything_can_reach_closed() -> None:
    assert all(S.NEW not in targets for targets in workflow.TRANSITIONS.values())
    for start in S:
        seen, frontier = {start}, [start]
        while frontier:
            for nxt in workflow.allowed(frontier.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert S.CLOSED in seen


def test_reopen_is_leaving_resolved_or_closed() -> None:
    assert workflow.is_reopen(S.RESOLVED, S.OPEN) and workflow.is_reopen(S.CLOSED, S.OPEN)
    assert not workflow.is_reopen(S.PENDING, S.OPEN) and not workflow.is_reopen(S.RESOLVED, S.CLOSED)


def test_default_matrix_is_itil_ordered() -> None:
    """Higher impact or higher urgency never lowers the priority (P1 is the most urgent)."""
    m = PriorityMatrix()
    rank = {lvl: i for i, lvl in enumerate(LEVELS)}  # high=0
    for a, b in itertools.product(LEVELS, repeat=2):
        for c, d in itertools.product(LEVELS, repeat=2):
            if rank[a] <= rank[c] and rank[b] <= rank[d]:
                assert m.priority(a, b) <= m.priority(c, d)
    assert m.priority("high", "high") == "P1" and m.priority("low", "low") == "P4"


def test_matrix_is_configurable_and_checked() -> None:
    custom = {i: dict(row) for i, row in DEFAULT_MATRIX.items()}
    custom["low"]["low"] = "P3"
    assert PriorityMatrix(custom).priority("low", "low") == "P3"
    custom["low"]["low"] = "P9"
    with pytest.raises(ValueError):
        PriorityMatrix(custom)
