"""Writes to the test Samba AD as its administrator, for tests that change the directory under a sync.

Tests that use it hold the DC exclusively (the ``samba_ad_exclusive`` fixture) and undo what they did (the people
they add are deleted on exit), so the seeded data other tests count stays as it is.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE, NONE, Connection, Server, Tls

UAC_ENABLED_NO_PASSWORD = 544  #: NORMAL_ACCOUNT | PASSWD_NOTREQD: enabled without a password (fast to add)
UAC_DISABLED = 546


class AdAdmin:
    """An administrator's connection; ``dn`` of the test people is under ``OU=Corp`` of the base DN."""

    def __init__(self, url: str, admin_dn: str, admin_password: str, base_dn: str) -> None:
        parts = urlsplit(url)
        server = Server(
            parts.hostname or "127.0.0.1",
            port=parts.port or 636,
            use_ssl=True,
            tls=Tls(validate=ssl.CERT_NONE),
            get_info=NONE,
            connect_timeout=5,
        )
        self.base_dn = base_dn
        self.conn = Connection(
            server,
            admin_dn,
            admin_password,
            auto_bind=True,
            receive_timeout=30,
            raise_exceptions=True,
            check_names=False,
        )
        self.added: list[str] = []

    def add_person(self, name: str, ou: str = "OU=Corp", **attributes: Any) -> str:
        """An enabled person (no password) with ``attributes``; deleted by :meth:`close`."""
        dn = f"CN={name},{ou},{self.base_dn}"
        account = "t" + uuid.uuid4().hex[:18]
        self.conn.add(
            dn,
            ["top", "person", "organizationalPerson", "user"],
            {
                "sAMAccountName": account,
                "displayName": name,
                "userAccountControl": str(UAC_ENABLED_NO_PASSWORD),
                **attributes,
            },
        )
        self.added.append(dn)
        return dn

    def replace(self, dn: str, **attributes: Any) -> None:
        self.conn.modify(dn, {k: [(MODIFY_REPLACE, v if isinstance(v, list) else [v])] for k, v in attributes.items()})

    def add_member(self, group_dn: str, member_dn: str) -> None:
        self.conn.modify(group_dn, {"member": [(MODIFY_ADD, [member_dn])]})

    def remove_member(self, group_dn: str, member_dn: str) -> None:
        self.conn.modify(group_dn, {"member": [(MODIFY_DELETE, [member_dn])]})

    def delete(self, dn: str) -> None:
        self.conn.delete(dn)
        if dn in self.added:
            self.added.remove(dn)

    def close(self) -> None:
        for dn in reversed(self.added):
            try:
                self.conn.delete(dn)
            except Exception:  # already gone
                pass
        self.added.clear()
        self.conn.unbind()


@contextmanager
def ad_admin(url: str, admin_dn: str, admin_password: str, base_dn: str) -> Iterator[AdAdmin]:
    admin = AdAdmin(url, admin_dn, admin_password, base_dn)
    try:
        yield admin
    finally:
        admin.close()


def unique_name(prefix: str) -> str:
    """A display name no other run uses (a crashed run may have left its person behind)."""
    return f"{prefix} {uuid.uuid4().hex[:8]}"


@pytest.fixture
def admin(samba_ad_exclusive: Any) -> Iterator[AdAdmin]:
    """The test DC's administrator (``samba_ad_exclusive``: the test holds the DC alone); what it adds is deleted."""
    ad = samba_ad_exclusive
    with ad_admin(ad.url, ad.admin_dn, ad.admin_password, ad.base_dn) as writer:
        yield writer
