"""The Samba AD domain controller the directory tests run against (tests/support/ad/samba_ad_up.sh), its settings and
its lock."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

AD_ENV = "HELPLINE_TEST_AD"


#: Where the fixture provisions the DC when HELPLINE_TEST_AD is not set (kept running: the next run reuses it).
AD_DIR = os.environ.get("HELPLINE_TEST_AD_DIR", "/tmp/helpline-test-ad")


@dataclass(frozen=True)
class SambaAD:
    """The test directory, as ``tests/support/ad/samba_ad_up.sh`` describes it in its env file."""

    url: str  #: ldaps://127.0.0.1:636
    starttls_url: str  #: ldap://127.0.0.1:389
    base_dn: str
    bind_dn: str  #: the read-only service account (UPN)
    password: str
    admin_dn: str
    admin_password: str
    ca_file: str
    server_name: str  #: the name in the DC's certificate
    directory: Path

    def pid(self) -> int:
        return int((self.directory / "run" / "samba.pid").read_text().strip())

    def dn(self, rdn: str) -> str:
        return f"{rdn},{self.base_dn}"


def read_env_file(path: Path) -> dict[str, str]:
    """``export NAME='value'`` lines -> {NAME: value}."""
    import shlex

    out = {}
    for line in path.read_text().splitlines():
        parts = shlex.split(line)
        if len(parts) == 2 and parts[0] == "export" and "=" in parts[1]:
            name, _, value = parts[1].partition("=")
            out[name] = value
    return out


#: A DC clock this far ahead of the run's is not the machine's: the DC was started under a shifted clock.
AD_CLOCK_TOLERANCE = timedelta(minutes=5)


def dc_clock_problem(ad: SambaAD) -> str | None:
    """Why the DC's clock makes it unusable for this run, or None.

    The DC judges passwords and stamps changes by its own clock. Run on the machine's clock, it serves a run whose
    clock is shifted ahead (nothing in the directory tests compares the two clocks). A DC started under a shifted
    clock (libfaketime) finds the seeded passwords expired: clock skew, not a date bomb; say so instead of
    letting every directory test fail with "password expired"."""
    import ssl

    from ldap3 import BASE, NONE, Connection, Tls
    from ldap3 import Server as LdapServer

    parts = urlsplit(ad.url)
    server = LdapServer(
        parts.hostname or "127.0.0.1",
        port=parts.port or 636,
        use_ssl=True,
        tls=Tls(validate=ssl.CERT_NONE),
        get_info=NONE,
        connect_timeout=5,
    )
    fix = (
        f"restart it on the machine's clock: tests/support/ad/samba_ad_down.sh {ad.directory} && "
        f"tests/support/ad/samba_ad_up.sh {ad.directory} (see docs/development.md, Active Directory)"
    )
    now = datetime.now(UTC)
    try:
        anonymous = Connection(server, receive_timeout=10)
        anonymous.open()
        anonymous.search("", "(objectClass=*)", BASE, attributes=["currentTime"])
        raw = str(anonymous.response[0]["raw_attributes"]["currentTime"][0], "ascii")  # 20261207221300.0Z
        anonymous.unbind()
        dc_now = datetime.strptime(raw[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except Exception as exc:  # the tests themselves say what is wrong with the DC
        print(f"\ncould not read the Samba AD DC's clock: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    if dc_now - now > AD_CLOCK_TOLERANCE:
        ahead = dc_now - now
        return (
            f"the Samba AD DC's clock reads {dc_now:%Y-%m-%d %H:%M} UTC, "
            f"{f'{ahead.days} days' if ahead.days else f'{ahead.seconds // 60} minutes'} ahead of this run's "
            f"({now:%Y-%m-%d %H:%M} UTC): it was started under a shifted clock (libfaketime) and finds the "
            f"directory's passwords expired. Clock skew, not a date bomb: {fix}"
        )
    for account, password in ((ad.bind_dn, ad.password), (ad.admin_dn, ad.admin_password)):
        try:
            conn = Connection(server, account, password, receive_timeout=10)
            bound = conn.bind()
            message = str(conn.result.get("message", ""))
            conn.unbind()
        except Exception:  # the tests themselves say what is wrong with the DC
            return None
        if not bound and ("data 532" in message or "data 773" in message):
            return (
                f"the Samba AD DC says the password of {account} expired ({message.strip()}): a DC started under a "
                f"shifted clock (libfaketime) judges passwords by it (its rootDSE may still show "
                f"{dc_now:%Y-%m-%d %H:%M} UTC). Clock skew, not a date bomb: {fix}"
            )
    return None


@contextlib.contextmanager
def ad_lock(ad: SambaAD, exclusive: bool) -> Iterator[SambaAD]:
    """Test sessions share one DC; a test that freezes or stops it runs while no other session's test uses it."""
    import fcntl

    try:
        lock = open(ad.directory / "tests.lock", "a")
    except OSError:  # not ours to write (another user's DC): run unlocked
        yield ad
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield ad
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def directory_environ(ad: SambaAD, **overrides: str) -> dict[str, str]:
    """``HELPLINE_DIRECTORY_*`` settings for the test directory (US numbers; the PBX's outside-line prefix is 9)."""
    env = {
        "HELPLINE_DIRECTORY_SERVERS": ad.url,
        "HELPLINE_DIRECTORY_DEFAULT_REGION": "US",
        "HELPLINE_DIRECTORY_BIND_DN": ad.bind_dn,
        "HELPLINE_DIRECTORY_PASSWORD": ad.password,
        "HELPLINE_DIRECTORY_BASE_DN": ad.base_dn,
        "HELPLINE_DIRECTORY_CA_FILE": ad.ca_file,
        "HELPLINE_DIRECTORY_TLS_SERVER_NAME": ad.server_name,
        "HELPLINE_DIRECTORY_VIP_GROUP": ad.dn("CN=VIP,OU=Groups,OU=Corp"),
        "HELPLINE_DIRECTORY_DIALLING_PREFIXES": "9",
        "HELPLINE_DIRECTORY_CONNECT_TIMEOUT": "2s",
        "HELPLINE_DIRECTORY_RECEIVE_TIMEOUT": "3s",
        "HELPLINE_DIRECTORY_RETRIES": "0",
    }
    env.update({f"HELPLINE_DIRECTORY_{k.upper()}": v for k, v in overrides.items()})
    return env
