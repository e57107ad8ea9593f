"""Console passwords: argon2id hashes (argon2-cffi's defaults), checked in a thread so the event loop keeps going."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASHER = PasswordHasher()
#: Verified against when the login does not exist, so that unknown logins take as long as wrong passwords.
_DUMMY = HASHER.hash("helpline-no-such-agent")
MIN_LENGTH = 8


def check_strength(password: str) -> str | None:
    """Why ``password`` is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > 1024:
        return "a password may have at most 1024 characters"
    return None


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (None: no password set; still costs one verification)."""
    return await asyncio.to_thread(_verify, stored, password)
