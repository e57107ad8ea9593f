"""Errors the ticket domain raises. The web layer turns each into an ``application/problem+json`` response."""

from __future__ import annotations


class DomainError(Exception):
    """Base class. ``code`` is a stable machine-readable slug; the message is for people."""

    code = "domain-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    code = "not-found"


class Conflict(DomainError):
    """The request clashes with the current state (duplicate key, stale version)."""

    code = "conflict"


class StaleVersion(Conflict):
    code = "stale-version"


class Forbidden(DomainError):
    """The actor may not do this to this object."""

    code = "forbidden"


class InvalidField(DomainError):
    """A value is acceptable in shape but not here (e.g. an unknown requester id)."""

    code = "invalid-field"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class InvalidTransition(DomainError):
    code = "invalid-transition"

    def __init__(self, current: str, target: str, allowed: tuple[str, ...]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none"
        super().__init__(f"a ticket cannot go from {current} to {target}; from {current} it can go to: {allowed_text}")
        self.current = current
        self.target = target
        self.allowed = allowed
