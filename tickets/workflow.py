"""The ticket status workflow: which status may follow which.

``new -> open -> pending -> resolved -> closed``, with shortcuts a phone desk needs (a call solved on the spot
goes from new straight to resolved) and reopening of resolved and closed tickets.
"""

from __future__ import annotations

from tickets.errors import InvalidTransition
from tickets.models import TicketStatus as S

TRANSITIONS: dict[S, tuple[S, ...]] = {
    S.NEW: (S.OPEN, S.PENDING, S.RESOLVED),
    S.OPEN: (S.PENDING, S.RESOLVED),
    S.PENDING: (S.OPEN, S.RESOLVED),
    S.RESOLVED: (S.CLOSED, S.OPEN),
    S.CLOSED: (S.OPEN,),
}

#: Statuses in which work on the ticket is finished.
DONE = frozenset({S.RESOLVED, S.CLOSED})


def allowed(current: S) -> tuple[S, ...]:
    """The statuses a ticket in ``current`` may move to."""
    return TRANSITIONS[current]


def allowed_for(current: S, *, merged: bool) -> tuple[S, ...]:
    """The statuses a ticket may move to: none once it is merged into another (tickets/merge.py)."""
    return () if merged else TRANSITIONS[current]


def check(current: S, target: S) -> None:
    """Raise :class:`InvalidTransition` unless ``current -> target`` is allowed."""
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(current.value, target.value, tuple(s.value for s in TRANSITIONS[current]))


def is_reopen(current: S, target: S) -> bool:
    return current in DONE and target not in DONE
