"""How directory failures are named, for the AD answers the Samba DC cannot be made to give in a shared test run.

(Bad password 52e, disabled 533, TLS, timeouts and unreachable servers are produced for real against Samba in
test_directory_client.py; a locked-out or expired account would need the domain's lockout policy changed.)
"""

from __future__ import annotations

import pytest
from ldap3.core import exceptions as lx

from directory.errors import ErrorKind, bind_failure, classify

AD_MESSAGE = "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data {code}, v4563"


@pytest.mark.parametrize(
    "code, meaning",
    [
        ("52e", "wrong user name or password"),
        ("533", "disabled"),
        ("775", "locked out"),
        ("532", "password has expired"),
        ("773", "must be changed"),
        ("701", "account has expired"),
    ],
)
def test_ad_bind_sub_codes_are_explained(code: str, meaning: str) -> None:
    err = bind_failure(
        {"description": "invalidCredentials", "message": AD_MESSAGE.format(code=code)},
        server="ldaps://dc1:636",
        account="svc@corp.example",
    )
    assert err.kind is ErrorKind.BAD_CREDENTIALS and err.code == code and meaning in err.message
    assert not err.kind.retryable and "svc@corp.example" in err.message and "ldaps://dc1:636" in str(err)


def test_a_refusal_without_an_ad_code_still_says_what_to_check() -> None:
    err = bind_failure({"description": "invalidCredentials", "message": ""}, server="ldaps://ldap1", account="cn=x")
    assert err.code is None and "invalidCredentials" in err.message and "bind_dn" in err.message


@pytest.mark.parametrize(
    "exc, kind",
    [
        (
            lx.LDAPSocketOpenError("socket connection error while opening: [Errno 111] Connection refused"),
            ErrorKind.UNREACHABLE,
        ),
        (lx.LDAPSocketOpenError("invalid server address"), ErrorKind.UNREACHABLE),
        (lx.LDAPSessionTerminatedByServerError("session terminated by server"), ErrorKind.UNREACHABLE),
        (lx.LDAPSocketReceiveError("error receiving data: timed out"), ErrorKind.TIMEOUT),
        (
            lx.LDAPSocketOpenError("socket ssl wrapping error: _ssl.c:989: The handshake operation timed out"),
            ErrorKind.TIMEOUT,
        ),
        (
            lx.LDAPSocketOpenError(
                "socket ssl wrapping error: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
            ),
            ErrorKind.TLS,
        ),
        (lx.LDAPStartTLSError("wrap socket error: CERTIFICATE_VERIFY_FAILED"), ErrorKind.TLS),
        (lx.LDAPStrongerAuthRequiredResult(description="strongerAuthRequired"), ErrorKind.TLS_REQUIRED),
        (lx.LDAPPasswordIsMandatoryError("password is mandatory"), ErrorKind.BAD_CREDENTIALS),
        (lx.LDAPSizeLimitExceededResult(description="sizeLimitExceeded"), ErrorKind.SIZE_LIMIT),
        (lx.LDAPInsufficientAccessRightsResult(description="insufficientAccessRights"), ErrorKind.PERMISSION),
        (ValueError("something else"), ErrorKind.PROTOCOL),
    ],
)
def test_ldap3_exceptions_are_classified(exc: Exception, kind: ErrorKind) -> None:
    assert classify(exc, server="ldaps://dc1").kind is kind
