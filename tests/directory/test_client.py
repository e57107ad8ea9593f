"""The LDAP client against a real Samba AD DC (tests/support/ad/): what it reads, how it fails over, how failures are
named."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from directory.client import AsyncDirectory, DirectoryClient, DirectoryConfig, DirectoryPerson
from directory.errors import DirectoryError, ErrorKind
from tests.support.samba import SambaAD
from tests.support.servers import free_port

STAFF = 50
DISABLED = {"Trent Quinn", "Jamal Gonzalez", "Vikram Silva", "Amir Yilmaz"}  # seed #17, #33, #45, #50
HEADS = {"Alice Anderson", "Bob Brown", "Carol Clark", "David Davis", "Erin Evans", "Frank Fischer", "Grace Garcia"}


def config(ad: SambaAD, **changes: object) -> DirectoryConfig:
    base = DirectoryConfig(
        servers=(ad.url,),
        bind_dn=ad.bind_dn,
        password=ad.password,
        base_dn=ad.base_dn,
        ca_file=ad.ca_file,
        tls_server_name=ad.server_name,
        connect_timeout=2,
        receive_timeout=3,
        retries=0,
        vip_group=ad.dn("CN=VIP,OU=Groups,OU=Corp"),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def staff(people: list[DirectoryPerson]) -> dict[str, DirectoryPerson]:
    return {p.name: p for p in people if ",OU=Staff,OU=Corp," in p.dn}


def failure(cfg: DirectoryConfig) -> DirectoryError:
    with pytest.raises(DirectoryError) as caught:
        DirectoryClient(cfg).fetch_people()
    return caught.value


def test_reads_every_person_with_numbers_names_and_flags(samba_ad: SambaAD) -> None:
    result = DirectoryClient(config(samba_ad)).fetch_people()
    people = staff(result.people)
    assert len(people) == STAFF and result.server == samba_ad.url
    ivan = people["Иван Петров"]
    assert (ivan.department, ivan.title, ivan.account) == (
        "IT",
        "Systems Engineer",
        "iivanova",
    )  # sAMAccountName from the Latin seed name
    assert ("telephoneNumber", "(555) 123-0009") in ivan.phones and ("ipPhone", "4009") in ivan.phones
    assert "สมชาย ใจดี" in people and "Ольга Смирнова" in people
    assert {n for n, p in people.items() if p.disabled} == DISABLED
    assert {n for n, p in people.items() if p.vip} == HEADS
    assert people["Gabriela Dubois"].phones and all(a != "telephoneNumber" for a, _ in people["Gabriela Dubois"].phones)
    assert ("telephoneNumber", "+1 (555) 123-0036 x210") in people["Maria Jensen"].phones
    assert {v for p in people.values() for a, v in p.phones if a == "otherTelephone"} >= {"+44 20 7946 0010"}
    assert len({p.guid for p in result.people}) == len(result.people)  # objectGUID, decoded


def test_paging_reads_the_same_people_as_one_page(samba_ad: SambaAD) -> None:
    pages: list[tuple[int, int]] = []
    small = DirectoryClient(config(samba_ad, page_size=7)).fetch_people(on_page=lambda p, n: pages.append((p, n)))
    whole = DirectoryClient(config(samba_ad, page_size=1000)).fetch_people()
    assert small.pages >= 8 and whole.pages == 1
    assert sorted(p.guid for p in small.people) == sorted(p.guid for p in whole.people)
    assert pages[-1] == (small.pages, len(small.people))


def test_vip_membership_follows_nested_groups(samba_ad: SambaAD) -> None:
    """Helpdesk is a member of IT Staff: its members are IT Staff through the chain (LDAP_MATCHING_RULE_IN_CHAIN)."""
    people = staff(
        DirectoryClient(config(samba_ad, vip_group=samba_ad.dn("CN=IT Staff,OU=Groups,OU=Corp"))).fetch_people().people
    )
    vip = {n for n, p in people.items() if p.vip}
    assert "Иван Петров" in vip  # in Helpdesk only (nested)
    assert "Bob Brown" in vip  # in IT Staff directly
    assert "Alice Anderson" not in vip


def test_a_vip_group_with_filter_metacharacters_is_escaped_not_injected(samba_ad: SambaAD) -> None:
    evil = samba_ad.dn("CN=VIP*)(objectClass=*,OU=Groups,OU=Corp")
    people = staff(DirectoryClient(config(samba_ad, vip_group=evil)).fetch_people().people)
    assert len(people) == STAFF and not any(p.vip for p in people.values())


@pytest.mark.parametrize("form", ["upn", "dn", "domain"])
def test_the_service_account_binds_by_upn_dn_or_domain_user(samba_ad: SambaAD, form: str) -> None:
    user = {
        "upn": samba_ad.bind_dn,
        "domain": "CORP\\svc-telephony",
        "dn": samba_ad.dn("CN=svc-telephony,OU=Service Accounts,OU=Corp"),
    }[form]
    assert DirectoryClient(config(samba_ad, bind_dn=user)).check() == samba_ad.url


def test_starttls_on_389(samba_ad: SambaAD) -> None:
    cfg = config(samba_ad, servers=(samba_ad.starttls_url,), starttls=True)
    assert len(staff(DirectoryClient(cfg).fetch_people().people)) == STAFF


def test_fails_over_to_the_next_server_when_the_first_is_down(samba_ad: SambaAD) -> None:
    dead = f"ldaps://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = DirectoryClient(config(samba_ad, servers=(dead, samba_ad.url))).fetch_people()
    assert result.server == samba_ad.url and len(staff(result.people)) == STAFF
    assert time.monotonic() - started < 5


def test_every_server_down_is_unreachable_after_bounded_retries(samba_ad: SambaAD) -> None:
    dead = (f"ldaps://127.0.0.1:{free_port()}", f"ldaps://127.0.0.1:{free_port()}")
    slept: list[float] = []
    client = DirectoryClient(config(samba_ad, servers=dead, retries=2), sleep=slept.append)
    with pytest.raises(DirectoryError) as caught:
        client.check()
    assert caught.value.kind is ErrorKind.UNREACHABLE and "no directory server answered" in caught.value.message
    assert dead[0] in caught.value.message and slept == [0.5, 1.0]


def test_a_wrong_password_is_bad_credentials_with_the_ad_code_and_not_retried(samba_ad: SambaAD) -> None:
    slept: list[float] = []
    client = DirectoryClient(config(samba_ad, password="not-the-password", retries=3), sleep=slept.append)
    with pytest.raises(DirectoryError) as caught:
        client.check()
    err = caught.value
    assert err.kind is ErrorKind.BAD_CREDENTIALS and err.code == "52e" and "wrong user name or password" in str(err)
    assert "not-the-password" not in str(err) and slept == []


def test_a_disabled_service_account_is_named_as_such(samba_ad: SambaAD) -> None:
    err = failure(config(samba_ad, bind_dn="tquinn@corp.example.test", password="Welc0me!2024-Seed"))
    assert err.kind is ErrorKind.BAD_CREDENTIALS and err.code == "533" and "disabled" in err.message


def test_a_password_bind_without_tls_is_refused_by_ad(samba_ad: SambaAD) -> None:
    err = failure(config(samba_ad, servers=(samba_ad.starttls_url,), starttls=False))
    assert err.kind is ErrorKind.TLS_REQUIRED and "starttls" in err.message


def test_an_untrusted_certificate_is_a_tls_error(samba_ad: SambaAD, tmp_path: Path) -> None:
    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=Other CA",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(other_ca),
        ],
        check=True,
        capture_output=True,
    )
    for cfg in (
        config(samba_ad, ca_file=str(other_ca)),
        config(samba_ad, ca_file=str(other_ca), servers=(samba_ad.starttls_url,), starttls=True),
    ):
        err = failure(cfg)
        assert err.kind is ErrorKind.TLS and "ca_file" in err.message


def test_a_certificate_for_another_name_is_a_tls_error(samba_ad: SambaAD) -> None:
    err = failure(config(samba_ad, tls_server_name="dc9.elsewhere.test"))
    assert err.kind is ErrorKind.TLS and "tls_server_name" in err.message


def test_the_insecure_option_works_and_is_logged(samba_ad: SambaAD, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="directory.client"):
        client = DirectoryClient(config(samba_ad, tls_verify=False, ca_file=None, tls_server_name=None))
    assert "verification is OFF" in caplog.text and samba_ad.password not in caplog.text
    assert client.check() == samba_ad.url


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A server that accepts TCP connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("tls", ["ldaps", "starttls"])
def test_a_server_that_never_answers_times_out_then_the_next_one_is_used(
    samba_ad: SambaAD, silent_server: int, tls: str
) -> None:
    scheme = "ldaps" if tls == "ldaps" else "ldap"
    silent = f"{scheme}://127.0.0.1:{silent_server}"
    started = time.monotonic()
    err = failure(config(samba_ad, servers=(silent,), starttls=tls == "starttls", receive_timeout=1, connect_timeout=1))
    assert err.kind is ErrorKind.TIMEOUT and time.monotonic() - started < 5
    good = samba_ad.url if tls == "ldaps" else samba_ad.starttls_url
    cfg = config(samba_ad, servers=(silent, good), starttls=tls == "starttls", receive_timeout=1, connect_timeout=1)
    assert DirectoryClient(cfg).check() == good


def test_a_frozen_domain_controller_times_out(samba_ad_exclusive: SambaAD) -> None:
    samba_ad = samba_ad_exclusive  # freezes or stops the shared DC: no other session may use it now
    pid = samba_ad.pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        err = failure(config(samba_ad, receive_timeout=1, connect_timeout=1))
        elapsed = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert err.kind is ErrorKind.TIMEOUT and elapsed < 5
    assert DirectoryClient(config(samba_ad)).check() == samba_ad.url


async def test_the_async_client_runs_ldap_in_worker_threads(samba_ad: SambaAD) -> None:
    directory = AsyncDirectory(DirectoryClient(config(samba_ad)))
    try:
        result = await directory.fetch_people()
        assert len(staff(result.people)) == STAFF
    finally:
        directory.close()
