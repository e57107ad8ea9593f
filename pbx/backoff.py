"""Exponential backoff with jitter, for reconnecting to a PBX."""

from __future__ import annotations

import random


class Backoff:
    """Delays that grow ``initial * factor**n`` up to ``maximum``, each shortened by a random part.

    With ``jitter=0.5`` a delay is uniform in ``[d/2, d]`` ("equal jitter"): many helpline instances reconnecting to
    a restarted Asterisk do not arrive in lockstep, and the delay never collapses to zero.
    """

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        *,
        factor: float = 2.0,
        jitter: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial or factor < 1 or not 0 <= jitter <= 1:
            raise ValueError("need 0 < initial <= maximum, factor >= 1 and 0 <= jitter <= 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.attempts = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The delay before the next attempt (and count the attempt)."""
        ceiling = min(self.maximum, self.initial * self.factor ** min(self.attempts, 64))
        self.attempts += 1
        return ceiling * (1 - self.jitter * self._rng.random())

    def reset(self) -> None:
        """Start again from ``initial`` (after a connection that stayed up)."""
        self.attempts = 0
