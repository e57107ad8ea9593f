"""The directory sync and the caller lookup, against the real Samba AD DC, on SQLite and PostgreSQL.

The seeded directory (tests/support/ad/seed_directory.py) has the cases that break help desks: six formats of the same
kind of number, a reception phone two people share, a number reassigned from a disabled ex-employee, a number only in
otherTelephone, an " x210" suffix, ipPhone extensions, Cyrillic names, VIPs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from directory.client import AsyncDirectory, DirectoryClient
from directory.numbers import CallerNumber, NumberPolicy
from tests.support.paths import AD_SCRIPTS
from tests.support.samba import SambaAD, directory_environ
from tests.support.servers import free_port
from tests.support.services import machine_clock
from tickets.calls import directory_sync
from tickets.calls.caller_index import DirectoryCallerLookup, directory_status
from tickets.calls.callers import CallerMatch, MatchStatus
from tickets.calls.directory_sync import DirectorySync, SyncReport
from tickets.models import CallerIndexEntry, DirectorySyncRun, Person, Ticket
from web.runtime import build_runtime
from web.settings import Settings, load_settings

POLICY = NumberPolicy("US", dialling_prefixes=("9",))
NOT_SALES = "(&(objectCategory=person)(objectClass=user)(!(department=Sales)))"


def ad_settings(ad: SambaAD, orm: Settings, **overrides: str) -> Settings:
    env = {"HELPLINE_DATABASE_URL": orm.database.url.get_secret_value(), **directory_environ(ad, **overrides)}
    return load_settings(environ=env)


async def sync(ad: SambaAD, orm: Settings, *, on_page: Any = None, **overrides: str) -> SyncReport:
    settings = ad_settings(ad, orm, **overrides).directory
    directory = AsyncDirectory(DirectoryClient(settings.client_config()))
    try:
        return await DirectorySync(directory, POLICY, removal_guard=settings.removal_guard).run(on_page=on_page)
    finally:
        directory.close()


async def who(number: str) -> tuple[MatchStatus, set[str], CallerMatch]:
    match = await DirectoryCallerLookup(POLICY, state_ttl=0).lookup(CallerNumber.parse(number))
    ids = [match.person_id] if match.person_id else list(match.candidates)
    names = set(await Person.filter(id__in=ids).values_list("name", flat=True)) if ids else set()
    return match.status, names, match


# (what the trunk or an extension sends, who it is, the attribute it is found in). AD has them as written in
# seed_directory.py: "+1 (555) 123-0001", "+1 555-123-0002", "(555) 123-0003", "+1.555.123.0004", "555 123 0005",
# "+15551230006".
CALLERS = [
    ("+15551230001", "Alice Anderson", "telephoneNumber"),
    ("5551230002", "Bob Brown", "telephoneNumber"),
    ("95551230003", "Carol Clark", "telephoneNumber"),  # outside-line 9 from the PBX
    ("15551230004", "David Davis", "telephoneNumber"),
    ("+1 555 123 0005", "Erin Evans", "telephoneNumber"),
    ("5551230006", "Frank Fischer", "telephoneNumber"),
    ("(555) 123-0009", "Иван Петров", "telephoneNumber"),
    ("+15559870009", "Иван Петров", "mobile"),  # "555.987.0009" in AD
    ("4009", "Иван Петров", "ipPhone"),  # his extension
    ("5551230012", "Niaj Lopez", "telephoneNumber"),  # reassigned from disabled Vikram Silva
    ("5551230030", "Gabriela Dubois", "otherTelephone"),  # only in otherTelephone
    ("5551230036", "Maria Jensen", "telephoneNumber"),  # "+1 (555) 123-0036 x210" in AD
    ("+44 20 7946 0010", "Judy Jones", "otherTelephone"),  # a UK number
]


async def test_every_caller_is_identified_whatever_the_format(samba_ad: SambaAD, orm: Settings) -> None:
    report = await sync(samba_ad, orm)
    assert report.ok and report.people >= 50 and report.numbers > 100, report.summary()
    for number, name, attribute in CALLERS:
        status, names, match = await who(number)
        assert (status, names, match.attribute) == (MatchStatus.UNIQUE, {name}, attribute), number
        assert not match.stale
    ivan = await Person.get(name="Иван Петров")
    assert (ivan.department, ivan.title, ivan.vip, ivan.disabled) == ("IT", "Systems Engineer", False, False)
    assert (await Person.get(name="Alice Anderson")).vip


async def test_a_shared_phone_is_a_choice_and_disabled_accounts_are_never_picked(
    samba_ad: SambaAD, orm: Settings
) -> None:
    assert (await sync(samba_ad, orm)).ok
    status, names, match = await who("555-123-0100")
    assert status is MatchStatus.AMBIGUOUS and names == {"Peggy Nguyen", "Xena Ueda"} and match.person_id is None
    for number in ("5551230017", "4017", "+15559870045", "4050"):  # disabled ex-employees' numbers
        assert (await who(number))[0] is MatchStatus.NONE, number
    assert await Person.filter(name__in=["Trent Quinn", "Vikram Silva"], disabled=True).count() == 2
    for number in ("anonymous", "<unknown>", "", "5559999999", "*)(uid=*"):
        assert (await who(number))[0] is MatchStatus.NONE, number


async def test_a_second_sync_changes_nothing_and_a_dry_run_writes_nothing(samba_ad: SambaAD, orm: Settings) -> None:
    settings = ad_settings(samba_ad, orm).directory
    directory = AsyncDirectory(DirectoryClient(settings.client_config()))
    syncer = DirectorySync(directory, POLICY)
    try:
        dry = await syncer.run(dry_run=True)
        assert dry.ok and len(dry.added) == dry.people and await Person.all().count() == 0
        assert (await directory_status(True)).synced is False
        first = await syncer.run()
        ids = dict(await Person.all().values_list("directory_guid", "id"))
        second = await syncer.run()
    finally:
        directory.close()
    assert len(first.added) == first.people and not (second.added or second.changed or second.removed)
    assert (first.mode, second.mode) == ("full", "incremental")
    assert dict(await Person.all().values_list("directory_guid", "id")) == ids
    assert await CallerIndexEntry.all().count() == first.numbers


async def test_with_the_directory_down_lookups_use_the_last_sync_and_say_so(samba_ad: SambaAD, orm: Settings) -> None:
    assert (await sync(samba_ad, orm)).ok
    down = await sync(samba_ad, orm, servers=f"ldaps://127.0.0.1:{free_port()}")
    assert not down.ok and down.error_kind == "unreachable"
    status, names, match = await who("4009")
    assert status is MatchStatus.UNIQUE and names == {"Иван Петров"} and match.stale
    state = await directory_status(True)
    assert state.synced and state.stale and state.last_error_kind == "unreachable" and state.people >= 46
    assert (await sync(samba_ad, orm)).ok
    assert not (await who("4009"))[2].stale


async def test_never_synced_and_the_directory_down_is_unavailable(samba_ad: SambaAD, orm: Settings) -> None:
    report = await sync(samba_ad, orm, password="wrong-password")
    assert not report.ok and report.error_kind == "bad_credentials" and "52e" in (report.error or "")
    assert (await who("4009"))[0] is MatchStatus.UNAVAILABLE
    assert (await who("anonymous"))[0] is MatchStatus.NONE


async def test_a_sync_cut_off_mid_way_changes_nobody(samba_ad_exclusive: SambaAD, orm: Settings) -> None:
    """The second read would drop Sales (filter), but the DC freezes after two pages: nothing may change."""
    samba_ad = samba_ad_exclusive  # freezes or stops the shared DC: no other session may use it now
    assert (await sync(samba_ad, orm)).ok
    before = await CallerIndexEntry.all().count()
    pid = samba_ad.pid()

    def freeze_after_two_pages(pages: int, people: int) -> None:
        if pages == 2:
            os.kill(pid, signal.SIGSTOP)

    try:
        cut = await sync(
            samba_ad, orm, on_page=freeze_after_two_pages, page_size="5", receive_timeout="1s", user_filter=NOT_SALES
        )
    finally:
        os.kill(pid, signal.SIGCONT)
    assert not cut.ok and cut.error_kind == "timeout", cut.summary()
    assert await Person.filter(disabled=True).count() == 4 + 2  # the disabled seed accounts, Guest, krbtgt
    assert await CallerIndexEntry.all().count() == before
    assert (await who("+442079460010"))[1] == {"Judy Jones"}  # Sales, still there


async def test_only_a_complete_sync_marks_people_gone_from_the_directory(samba_ad: SambaAD, orm: Settings) -> None:
    assert (await sync(samba_ad, orm)).ok
    without_sales = await sync(samba_ad, orm, user_filter=NOT_SALES)
    assert without_sales.ok and "Judy Jones" in without_sales.removed
    assert (await Person.get(name="Judy Jones")).disabled
    assert (await who("+442079460010"))[0] is MatchStatus.NONE
    back = await sync(samba_ad, orm)
    assert "Judy Jones" in back.changed and not (await Person.get(name="Judy Jones")).disabled
    assert (await who("+442079460010"))[1] == {"Judy Jones"}


async def test_a_sync_that_would_remove_most_people_removes_nobody(samba_ad: SambaAD, orm: Settings) -> None:
    assert (await sync(samba_ad, orm)).ok
    only_it = await sync(samba_ad, orm, user_filter="(&(objectCategory=person)(objectClass=user)(department=IT))")
    assert only_it.ok and not only_it.removed and "nobody was removed" in (only_it.warning or "")
    assert (await who("+15551230001"))[1] == {"Alice Anderson"}
    assert (await directory_status(True)).last_error_kind == "removal_guard"


async def test_a_phone_call_gets_its_requester_from_the_directory(samba_ad: SambaAD, orm: Settings) -> None:
    services = build_runtime(ad_settings(samba_ad, orm))  # as helpline runs: the intake asks the directory
    directory = services.directory
    assert directory is not None
    try:
        assert (await directory.run_sync()).ok
        at = datetime.now(UTC)
        call = await services.intake.offered(
            pbx="main",
            linkedid="1700000000.1",
            at=at,
            caller_number="95551230009",
            caller_name="IVAN PETROV",
            queue="helpdesk",
        )
        ticket = await Ticket.get(id=call.ticket_id).prefetch_related("requester")
        assert ticket.requester is not None and ticket.requester.name == "Иван Петров"
        shared = await services.intake.offered(
            pbx="main", linkedid="1700000000.2", at=at, caller_number="5551230100", caller_name="", queue="helpdesk"
        )
        assert (await Ticket.get(id=shared.ticket_id)).requester_id is None
    finally:
        await directory.stop()


async def test_calls_taken_before_the_first_good_sync_get_their_requester_after_it(
    samba_ad: SambaAD, orm: Settings
) -> None:
    services = build_runtime(ad_settings(samba_ad, orm, password="wrong-password"))
    directory = services.directory
    assert directory is not None
    try:
        assert not (await directory.run_sync()).ok  # AD refuses us: callers cannot be identified
        at = datetime.now(UTC)
        ivan = await services.intake.offered(
            pbx="main", linkedid="1700000001.1", at=at, caller_number="4009", caller_name="", queue="helpdesk"
        )
        shared = await services.intake.offered(
            pbx="main", linkedid="1700000001.2", at=at, caller_number="5551230100", caller_name="", queue="helpdesk"
        )
        assert (await Ticket.get(id=ivan.ticket_id)).requester_id is None
        fixed = ad_settings(samba_ad, orm)  # the admin fixes the password
        directory.sync = DirectorySync(AsyncDirectory(DirectoryClient(fixed.directory.client_config())), POLICY)
        report = await directory.run_sync()
        assert report.ok and report.rematched == 1, report.summary()
    finally:
        await directory.stop()
    ticket = await Ticket.get(id=ivan.ticket_id).prefetch_related("requester", "activities")
    assert ticket.requester is not None and ticket.requester.name == "Иван Петров"
    assert any(a.actor_label == "directory" and a.field == "requester" for a in ticket.activities)
    assert (await Ticket.get(id=shared.ticket_id)).requester_id is None  # ambiguous: the agent picks


async def test_old_sync_records_are_pruned_but_never_the_last_good_one(
    samba_ad: SambaAD, orm: Settings, monkeypatch: Any
) -> None:
    monkeypatch.setattr(directory_sync, "KEEP_RUNS", 2)
    assert (await sync(samba_ad, orm)).ok
    for _ in range(4):
        assert not (await sync(samba_ad, orm, servers=f"ldaps://127.0.0.1:{free_port()}")).ok
    assert await DirectorySyncRun.all().count() == 3  # the last two, and the last good one
    state = await directory_status(True)
    assert state.synced and state.stale
    assert (await who("4009"))[1] == {"Иван Петров"}


async def test_samba_stopped_mid_sync_changes_nobody_and_the_next_sync_recovers(
    samba_ad_exclusive: SambaAD, orm: Settings
) -> None:
    """The DC really goes away (samba_ad_down.sh) between two pages, then comes back (samba_ad_up.sh)."""
    samba_ad = samba_ad_exclusive  # freezes or stops the shared DC: no other session may use it now
    scripts = AD_SCRIPTS
    assert (await sync(samba_ad, orm)).ok
    before = sorted(await CallerIndexEntry.all().values_list("key", "person_id"))

    def stop_after_two_pages(pages: int, people: int) -> None:
        if pages == 2:
            subprocess.run(
                [str(scripts / "samba_ad_down.sh"), str(samba_ad.directory)],
                check=True,
                capture_output=True,
                timeout=30,
            )

    try:
        cut = await sync(samba_ad, orm, on_page=stop_after_two_pages, page_size="5", user_filter=NOT_SALES)
    finally:
        subprocess.run(
            [str(scripts / "samba_ad_up.sh"), str(samba_ad.directory)],
            check=True,
            capture_output=True,
            timeout=120,
            env={**machine_clock(os.environ), "SAMBA_AD_PYTHON": sys.executable},
        )
    assert not cut.ok and cut.error_kind in ("unreachable", "timeout"), cut.summary()
    assert sorted(await CallerIndexEntry.all().values_list("key", "person_id")) == before
    assert not await Person.filter(name="Judy Jones", disabled=True).exists()
    assert (await sync(samba_ad, orm)).ok
