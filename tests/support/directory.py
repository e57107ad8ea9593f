"""The test directory's data the directory tests share."""

from __future__ import annotations

import random


def numbers() -> tuple[str, str, str]:
    """Two desk numbers and an extension no seeded person has."""
    a, b = random.sample(range(1000, 10000), 2)
    return f"+1 (555) 321-{a}", f"555.321.{b}", f"7{random.randrange(1000):03d}"
