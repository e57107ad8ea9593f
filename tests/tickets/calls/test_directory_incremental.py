"""Incremental directory syncs (uSNChanged) against the real Samba AD DC, on SQLite and PostgreSQL.

The tests that change the directory hold the DC exclusively and add (then delete) people of their own, so the seed
data other tests count is never touched.
"""

from __future__ import annotations

from datetime import timedelta

from directory.client import AsyncDirectory, DirectoryClient
from directory.numbers import CallerNumber, NumberPolicy
from tests.support.ad.admin import UAC_DISABLED, AdAdmin, unique_name
from tests.support.directory import numbers
from tests.support.samba import SambaAD, directory_environ
from tests.support.servers import free_port
from tests.support.waiting import eventually
from tickets.calls.caller_index import DirectoryCallerLookup
from tickets.calls.callers import MatchStatus
from tickets.calls.directory_sync import DirectorySync, SyncReport
from tickets.models import CallerIndexEntry, DirectoryUsnState, Person
from web.runtime.directory import DirectoryService
from web.settings import Settings, load_settings

POLICY = NumberPolicy("US", dialling_prefixes=("9",))


async def sync(
    ad: SambaAD, orm: Settings, *, full: bool = False, dry_run: bool = False, **overrides: str
) -> SyncReport:
    env = {"HELPLINE_DATABASE_URL": orm.database.url.get_secret_value(), **directory_environ(ad, **overrides)}
    settings = load_settings(environ=env).directory
    directory = AsyncDirectory(DirectoryClient(settings.client_config()))
    try:
        return await DirectorySync(directory, POLICY, full_sync_interval=settings.full_sync_interval).run(
            full=full, dry_run=dry_run
        )
    finally:
        directory.close()


async def who(number: str) -> tuple[MatchStatus, set[str], str | None]:
    match = await DirectoryCallerLookup(POLICY, state_ttl=0).lookup(CallerNumber.parse(number))
    ids = [match.person_id] if match.person_id else list(match.candidates)
    names = set(await Person.filter(id__in=ids).values_list("name", flat=True)) if ids else set()
    return match.status, names, match.attribute


async def test_after_a_full_sync_only_what_changed_is_read_and_applied(
    samba_ad_exclusive: SambaAD, orm: Settings, admin: AdAdmin
) -> None:
    ad = samba_ad_exclusive
    old, new, extension = numbers()
    name = unique_name("Ina Incremental")
    dn = admin.add_person(name, telephoneNumber=old, ipPhone=extension, department="IT")
    first = await sync(ad, orm)
    assert first.ok and first.mode == "full" and first.full_reason == "no earlier full sync", first.summary()
    assert await who(old) == (MatchStatus.UNIQUE, {name}, "telephoneNumber")
    others = dict(await Person.exclude(name=name).values_list("id", "updated_at"))
    index_before = await CallerIndexEntry.all().count()

    admin.replace(dn, telephoneNumber=new)
    dry = await sync(ad, orm, dry_run=True)
    assert dry.ok and dry.mode == "incremental" and dry.changed == [name] and dry.people == 1, dry.summary()
    assert (await who(new))[0] is MatchStatus.NONE  # a dry run writes nothing...
    changed = await sync(ad, orm)  # ...nor moves the watermark
    assert changed.ok and changed.mode == "incremental", changed.summary()
    assert (changed.people, changed.changed, changed.added, changed.removed) == (1, [name], [], [])
    assert await who(new) == (MatchStatus.UNIQUE, {name}, "telephoneNumber")
    assert await who("9" + "".join(ch for ch in new if ch.isdigit())) == (MatchStatus.UNIQUE, {name}, "telephoneNumber")
    assert (await who(old))[0] is MatchStatus.NONE
    assert await who(extension) == (MatchStatus.UNIQUE, {name}, "ipPhone")
    assert dict(await Person.exclude(name=name).values_list("id", "updated_at")) == others  # nobody else touched
    assert await CallerIndexEntry.all().count() == index_before
    assert await who("4009") == (MatchStatus.UNIQUE, {"Иван Петров"}, "ipPhone")

    nothing = await sync(ad, orm)
    assert nothing.mode == "incremental" and nothing.people == 0 and not nothing.changed, nothing.summary()

    vip_group = ad.dn("CN=VIP,OU=Groups,OU=Corp")  # membership changes the group, not the
    admin.add_member(vip_group, dn)  # member: still seen
    promoted = await sync(ad, orm)
    assert promoted.mode == "incremental" and name in promoted.changed and (await Person.get(name=name)).vip

    admin.replace(dn, userAccountControl=str(UAC_DISABLED))  # disabling changes the account
    disabled = await sync(ad, orm)
    assert disabled.mode == "incremental" and disabled.disabled == [name], disabled.summary()
    assert (await who(new))[0] is MatchStatus.NONE and (await who(extension))[0] is MatchStatus.NONE
    assert (await Person.get(name=name)).disabled


async def test_a_deleted_account_is_only_seen_by_the_periodic_full_sync(
    samba_ad_exclusive: SambaAD, orm: Settings, admin: AdAdmin
) -> None:
    ad = samba_ad_exclusive
    number, _, _ = numbers()
    name = unique_name("Dora Deleted")
    dn = admin.add_person(name, mobile=number)
    assert (await sync(ad, orm)).mode == "full"
    admin.delete(dn)
    incremental = await sync(ad, orm)
    assert incremental.mode == "incremental" and not incremental.removed
    assert (await who(number))[1] == {name}  # deletions leave no trace to read
    state = await DirectoryUsnState.get(source="default")
    await DirectoryUsnState.filter(id=state.id).update(full_sync_at=state.full_sync_at - timedelta(hours=25))
    periodic = await sync(ad, orm)
    assert periodic.mode == "full" and "full_sync_interval" in (periodic.full_reason or "")
    assert periodic.removed == [name] and (await who(number))[0] is MatchStatus.NONE
    assert (await sync(ad, orm)).mode == "incremental"
    assert (await sync(ad, orm, full_sync_interval="0s")).mode == "full"  # 0: every sync is a full one


async def test_another_dc_a_restored_dc_or_a_new_scope_means_a_full_sync(samba_ad: SambaAD, orm: Settings) -> None:
    assert (await sync(samba_ad, orm)).mode == "full"
    dead = f"ldaps://127.0.0.1:{free_port()}"
    failover = await sync(samba_ad, orm, servers=f"{dead},{samba_ad.url}")
    assert failover.ok and failover.mode == "incremental"  # the same DC behind another address

    state = await DirectoryUsnState.get(source="default")
    assert state.highest_usn and state.invocation_id and "CN=DC1," in (state.dc_name or "")
    await DirectoryUsnState.filter(id=state.id).update(dc_name=state.dc_name.replace("CN=DC1,", "CN=DC2,"))
    other_dc = await sync(samba_ad, orm)
    assert other_dc.mode == "full" and "another domain controller answered (DC2 before, DC1 now)" in (
        other_dc.full_reason or ""
    ), other_dc.summary()

    await DirectoryUsnState.filter(id=state.id).update(invocation_id="00000000-0000-0000-0000-000000000001")
    restored = await sync(samba_ad, orm)
    assert restored.mode == "full" and "invocationId" in (restored.full_reason or "")

    narrower = await sync(samba_ad, orm, user_filter="(&(objectCategory=person)(objectClass=user)(department=IT))")
    assert narrower.mode == "full" and "user_filter" in (narrower.full_reason or "")
    back = await sync(samba_ad, orm)
    assert back.mode == "full" and not back.removed and (await who("4009"))[1] == {"Иван Петров"}

    forced = await sync(samba_ad, orm, full=True)
    assert forced.mode == "full" and forced.full_reason == "asked for" and not (forced.added or forced.changed)
    await DirectoryUsnState.all().delete()
    assert (await sync(samba_ad, orm)).full_reason == "no earlier full sync"


async def test_a_failed_sync_keeps_the_watermark(samba_ad: SambaAD, orm: Settings) -> None:
    assert (await sync(samba_ad, orm)).ok
    before = await DirectoryUsnState.get(source="default").values("highest_usn", "full_sync_at", "updated_at")
    down = await sync(samba_ad, orm, servers=f"ldaps://127.0.0.1:{free_port()}")
    assert not down.ok
    assert await DirectoryUsnState.get(source="default").values("highest_usn", "full_sync_at", "updated_at") == before
    assert (await sync(samba_ad, orm)).mode == "incremental"


async def test_the_in_memory_index_answers_and_follows_syncs_made_elsewhere(samba_ad: SambaAD, orm: Settings) -> None:
    env = {"HELPLINE_DATABASE_URL": orm.database.url.get_secret_value(), **directory_environ(samba_ad)}
    app = DirectoryService(load_settings(environ=env).directory)  # as in a running helpline
    app.lookup.state_ttl = 0
    try:
        assert (await app.run_sync()).ok
        await CallerIndexEntry.filter(key="ext:4009").delete()  # the table loses it; memory has it
        assert (await who("4009"))[0] is MatchStatus.NONE
        match = await app.lookup.lookup(CallerNumber.parse("4009"))
        assert match.status is MatchStatus.UNIQUE and match.attribute == "ipPhone"
        no_it = await sync(samba_ad, orm, user_filter="(&(objectCategory=person)(objectClass=user)(!(department=IT)))")
        assert no_it.ok and "Иван Петров" in no_it.removed  # another process's sync: Ivan is gone

        async def ivan_gone() -> bool:  # noticed, reloaded in the background
            return (await app.lookup.lookup(CallerNumber.parse("4009"))).status is MatchStatus.NONE

        await eventually(ivan_gone, what="the index following the other sync")
        assert (await app.lookup.lookup(CallerNumber.parse("4001"))).status is MatchStatus.UNIQUE
    finally:
        await app.stop()
