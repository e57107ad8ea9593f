"""Where things are: the project, the tests' fixtures, the recordings of a real Asterisk."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
FIXTURES = TESTS / "fixtures"
#: The AMI sessions recorded from a real Asterisk (their README tells what happened in each).
AMI = FIXTURES / "ami"
#: The scripts that install, provision and start the Samba AD DC.
AD_SCRIPTS = TESTS / "support" / "ad"
