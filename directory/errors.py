"""Directory failures, classified into what an administrator can act on.

ldap3 2.9 raises a zoo of exceptions (``../shared/notes/ldap3-and-samba-ad.md`` section 5 has the census measured
against Samba AD); :func:`classify` turns each into one :class:`DirectoryError` with a ``kind`` and a message that
says what to check. Messages never contain the password.
"""

from __future__ import annotations

import re
from enum import Enum

from ldap3.core import exceptions as lx


class ErrorKind(str, Enum):
    UNREACHABLE = "unreachable"  #: no server answered (refused, no route, name does not resolve)
    TIMEOUT = "timeout"  #: a server accepted the connection but did not answer in time
    BAD_CREDENTIALS = "bad_credentials"  #: the service account could not bind (AD sub-code in the message)
    TLS = "tls"  #: certificate not trusted, wrong name, TLS not spoken
    TLS_REQUIRED = "tls_required"  #: the server refuses a simple bind without TLS
    SIZE_LIMIT = "size_limit"  #: the server truncated a search (sizeLimitExceeded): partial data
    PERMISSION = "permission"  #: the service account may not read what was asked
    PROTOCOL = "protocol"  #: any other LDAP error

    @property
    def retryable(self) -> bool:
        """Worth another attempt, on this server or the next."""
        return self in (ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT)


#: AD's bind failure sub-codes ("data 52e" in the diagnostic message) -> what they mean for the admin.
AD_BIND_CODES = {
    "525": "the account does not exist",
    "52e": "wrong user name or password",
    "530": "the account may not log on at this time",
    "531": "the account may not log on from this computer",
    "532": "the password has expired",
    "533": "the account is disabled",
    "701": "the account has expired",
    "773": "the password must be changed before the account can be used",
    "775": "the account is locked out (too many bad passwords)",
}
_AD_CODE = re.compile(r"\bdata ([0-9a-f]{3}),", re.IGNORECASE)


class DirectoryError(Exception):
    """A directory operation failed; ``kind`` says which way, ``server`` where (when known)."""

    def __init__(self, kind: ErrorKind, message: str, *, server: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.server = server
        self.code = code  #: AD bind sub-code such as ``52e``

    def __str__(self) -> str:
        where = f" ({self.server})" if self.server else ""
        return f"{self.kind.value}{where}: {self.message}"


def ad_bind_code(message: str) -> str | None:
    """The AD sub-code (``52e``, ``533``, ``775``...) in a bind failure's diagnostic message."""
    match = _AD_CODE.search(message or "")
    return match.group(1).lower() if match else None


def bind_failure(result: dict[str, object] | None, *, server: str, account: str) -> DirectoryError:
    """The error for a refused bind, from ldap3's ``connection.result``."""
    result = result or {}
    description = str(result.get("description") or "")
    message = str(result.get("message") or "")
    if description == "strongerAuthRequired" or description == "confidentialityRequired":
        return DirectoryError(
            ErrorKind.TLS_REQUIRED,
            "the server refuses a password bind without TLS: use ldaps:// or starttls = true",
            server=server,
        )
    code = ad_bind_code(message)
    meaning = AD_BIND_CODES.get(code or "", "the server refused the credentials")
    return DirectoryError(
        ErrorKind.BAD_CREDENTIALS,
        f"cannot bind as {account}: {meaning}"
        + (f" (AD code {code})" if code else f" ({description})")
        + ". Check [directory] bind_dn and the password (password_file / HELPLINE_DIRECTORY_PASSWORD); "
        "bind_dn may be a UPN (svc@corp.example), a DN or DOMAIN\\user",
        server=server,
        code=code,
    )


def classify(exc: BaseException, *, server: str | None = None, account: str = "the service account") -> DirectoryError:
    """One :class:`DirectoryError` for any exception ldap3 (or the socket layer) raised."""
    if isinstance(exc, DirectoryError):
        return exc
    text = str(exc)
    low = text.lower()
    if isinstance(exc, (lx.LDAPStartTLSError, lx.LDAPCertificateError)) or (
        isinstance(exc, lx.LDAPSocketOpenError) and ("ssl" in low or "certificate" in low) and "timed out" not in low
    ):
        hint = (
            "the server certificate is not trusted: set [directory] ca_file to the CA that signed the domain "
            "controllers' certificates"
            if "verify failed" in low
            else "the certificate does not name this server: set [directory] tls_server_name to the name in the "
            "certificate (or use that name in servers)"
            if "hostname" in low or "match" in low
            else "the TLS handshake failed (is it the LDAPS port, 636, for ldaps://, and 389 for starttls?)"
        )
        return DirectoryError(ErrorKind.TLS, f"{hint}: {text}", server=server)
    if "timed out" in low or isinstance(exc, (TimeoutError, lx.LDAPResponseTimeoutError)):
        return DirectoryError(
            ErrorKind.TIMEOUT,
            "the server accepted the connection but did not answer in time "
            "(overloaded or hung domain controller, or a firewall dropping packets; see "
            f"connect_timeout / receive_timeout): {text}",
            server=server,
        )
    if isinstance(exc, lx.LDAPPasswordIsMandatoryError):
        return DirectoryError(
            ErrorKind.BAD_CREDENTIALS,
            "no password is configured for the service account: set "
            "[directory] password_file or HELPLINE_DIRECTORY_PASSWORD",
            server=server,
        )
    if isinstance(exc, (lx.LDAPStrongerAuthRequiredResult, lx.LDAPConfidentialityRequiredResult)):
        return DirectoryError(
            ErrorKind.TLS_REQUIRED,
            "the server refuses a password bind without TLS: use ldaps:// or starttls = true",
            server=server,
        )
    if isinstance(exc, lx.LDAPInvalidCredentialsResult):
        return bind_failure(
            {"description": "invalidCredentials", "message": getattr(exc, "message", text)},
            server=server or "",
            account=account,
        )
    if isinstance(exc, lx.LDAPInsufficientAccessRightsResult):
        return DirectoryError(ErrorKind.PERMISSION, f"the service account may not read this: {text}", server=server)
    if isinstance(exc, lx.LDAPSizeLimitExceededResult):
        return DirectoryError(ErrorKind.SIZE_LIMIT, f"the server truncated the search: {text}", server=server)
    if isinstance(
        exc,
        (
            lx.LDAPCommunicationError,
            lx.LDAPServerPoolExhaustedError,
            lx.LDAPMaximumRetriesError,
            ConnectionError,
            OSError,
        ),
    ):
        return DirectoryError(
            ErrorKind.UNREACHABLE,
            "cannot reach the server (is it running, is the host and port "
            f"in [directory] servers right, does a firewall block it?): {text}",
            server=server,
        )
    return DirectoryError(ErrorKind.PROTOCOL, f"{type(exc).__name__}: {text}", server=server)
