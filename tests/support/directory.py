"""The test directory's data the directory tests share."""

from __future__ import annotations

import random


def numbers() -> tuple[str, str, str]:
    """Two desk numbers and an extension no seeded person has."""
    a, b = random.sample(range(1000, 10000), 2)
    return f"+1 (555) 321-{a}", f"555.321.{b}", f"7{random.randrange(1000):03d}"


#: Numbers as people write them in their own country (AD's ``c``), and the E.164 number the PBX presents for them.
#: A site in the US (default_region US) with staff abroad: 4 of the 12 are written the site's way.
NATIONAL: list[tuple[str, str, str]] = [
    ("US", "(555) 123-4567", "+15551234567"),
    ("US", "555.765.4321", "+15557654321"),
    ("US", "555 246 8642", "+15552468642"),
    ("US", "1-555-135-7913", "+15551357913"),
    ("DE", "030/1234567", "+49301234567"),  # Berlin
    ("DE", "089 12345678", "+498912345678"),  # Munich
    ("TH", "02 123 4567", "+6621234567"),  # Bangkok
    ("TH", "081 234 5678", "+66812345678"),  # a Thai mobile
    ("GB", "020 7946 0123", "+442079460123"),  # London
    ("RU", "8 (495) 123-45-67", "+74951234567"),  # Moscow, with the trunk prefix 8
    ("FR", "01 23 45 67 89", "+33123456789"),  # Paris
    ("JP", "03-1234-5678", "+81312345678"),  # Tokyo
]
