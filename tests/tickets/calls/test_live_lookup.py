"""The live LDAP fallback (``[directory] live_fallback``) against the real Samba AD DC, on SQLite and PostgreSQL.

A number nobody has in the synced index is asked of the directory itself: someone added to AD since the last sync
is found (and written to the index); hostile input never matches everyone; an unreachable or silent directory
leaves the index's answer standing, within the bounded timeout.
"""

from __future__ import annotations

import socket
import time

from directory.client import DirectoryClient, number_filter
from directory.numbers import CallerNumber
from tests.support.ad.admin import AdAdmin, unique_name
from tests.support.directory import numbers
from tests.support.samba import SambaAD, directory_environ
from tests.support.servers import free_port
from tickets.calls.callers import MatchStatus
from tickets.models import CallerIndexEntry, Person
from web.runtime.directory import DirectoryService
from web.settings import Settings, load_settings

HOSTILE = ["*", "(", ")", "\\", "\x00", "*)(objectClass=*", "4009)(|(ipPhone=*", "*4*", "\\2a", "(ipPhone=*)"]


def service(ad: SambaAD, orm: Settings, **overrides: str) -> DirectoryService:
    env = {
        "HELPLINE_DATABASE_URL": orm.database.url.get_secret_value(),
        **directory_environ(ad, **{"live_fallback": "true", "live_timeout": "1s", **overrides}),
    }
    return DirectoryService(load_settings(environ=env).directory)


async def who(directory: DirectoryService, number: str) -> tuple[MatchStatus, set[str], str | None]:
    match = await directory.lookup.lookup(CallerNumber.parse(number))
    ids = [match.person_id] if match.person_id else list(match.candidates)
    names = set(await Person.filter(id__in=ids).values_list("name", flat=True)) if ids else set()
    return match.status, names, match.attribute


async def test_someone_added_after_the_last_sync_is_found_live(
    samba_ad_exclusive: SambaAD, orm: Settings, admin: AdAdmin
) -> None:
    ad = samba_ad_exclusive
    desk, mobile, extension = numbers()
    digits = "".join(ch for ch in desk if ch.isdigit())[1:]  # as the trunk sends it: 555321NNNN
    live, index_only, fresh = service(ad, orm), service(ad, orm, live_fallback="false"), service(ad, orm)
    try:
        assert (await live.run_sync()).ok
        assert (await who(live, digits))[0] is MatchStatus.NONE  # not in AD yet: "nobody" is cached
        name = unique_name("Leo Live")
        admin.add_person(name, telephoneNumber=desk, department="Support", title="Intern")
        admin.add_person(unique_name("Eve Extension"), ipPhone=extension)
        assert (await who(index_only, digits))[0] is MatchStatus.NONE  # the index does not know them
        assert (await who(live, digits))[0] is MatchStatus.NONE  # the cached answer, within live_cache_ttl
        assert await who(fresh, "9" + digits) == (MatchStatus.UNIQUE, {name}, "telephoneNumber")
        person = await Person.get(name=name)
        assert (person.department, person.title, person.disabled, person.directory_guid is not None) == (
            "Support",
            "Intern",
            False,
            True,
        )
        assert await who(index_only, digits) == (MatchStatus.UNIQUE, {name}, "telephoneNumber")  # now indexed
        status, names, attribute = await who(fresh, extension)
        assert status is MatchStatus.UNIQUE and attribute == "ipPhone" and next(iter(names)).startswith("Eve")
        assert (await who(fresh, mobile))[0] is MatchStatus.NONE  # a number nobody has
        assert await who(fresh, "4009") == (MatchStatus.UNIQUE, {"Иван Петров"}, "ipPhone")  # from the index
        report = await index_only.run_sync(full=True)  # the next sync takes them as they are
        assert report.ok and name not in report.added and await Person.filter(name=name).count() == 1
    finally:
        for directory in (live, index_only, fresh):
            await directory.stop()


def test_hostile_input_is_escaped_and_never_matches_everyone(samba_ad: SambaAD) -> None:
    env = directory_environ(samba_ad)
    client = DirectoryClient(load_settings(environ=env).directory.client_config())
    assert [p.name for p in client.find_by_number(extension="4009")] == ["Иван Петров"]
    assert [p.name for p in client.find_by_number(digits="5551230009")] == ["Иван Петров"]
    benign = number_filter(["ipPhone"], extension="4009") or ""
    for value in HOSTILE:
        assert client.find_by_number(extension=value) == [], repr(value)
        assert client.find_by_number(digits=value) == [], repr(value)
        search = number_filter(["ipPhone"], extension=value) or ""
        assert "\x00" not in search and "=*)" not in search, search  # nothing unescaped
        assert (search.count("("), search.count(")")) == (benign.count("("), benign.count(")")), search
        assert number_filter(["ipPhone"], digits=value) is None  # only digits are searched, and 6 or more
    assert "(ipPhone=\\2a\\29\\28objectClass=\\2a)" in (number_filter(["ipPhone"], extension="*)(objectClass=*") or "")
    assert number_filter(["ipPhone"]) is None and number_filter(["ipPhone"], digits="(555)") is None
    assert "(ipPhone=*5*5*5*1*2*3*0*0*0*9*)" in (number_filter(["ipPhone"], digits="(555) 123-0009*)(") or "")
    assert client.find_by_number() == []


async def test_hostile_numbers_with_the_live_fallback_on_match_nobody(samba_ad: SambaAD, orm: Settings) -> None:
    directory = service(samba_ad, orm)
    try:
        assert (await directory.run_sync()).ok
        people = await Person.all().count()
        for value in HOSTILE + ["5" * 200, "+1 555 CALL NOW", "4009\x00", "٤٠٠٩"]:
            assert (await who(directory, value))[0] is MatchStatus.NONE, repr(value)
        assert await Person.all().count() == people
    finally:
        await directory.stop()


async def test_an_unreachable_or_silent_directory_leaves_the_index_answer_standing(
    samba_ad: SambaAD, orm: Settings
) -> None:
    good = service(samba_ad, orm)
    try:
        assert (await good.run_sync()).ok
    finally:
        await good.stop()
    index = await CallerIndexEntry.all().count()
    with socket.socket() as silent:  # accepts TCP, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        for servers in (f"ldaps://127.0.0.1:{free_port()}", f"ldaps://127.0.0.1:{silent.getsockname()[1]}"):
            directory = service(samba_ad, orm, servers=servers)
            try:
                started = time.monotonic()
                assert (await who(directory, "5553219999"))[0] is MatchStatus.NONE, servers
                assert time.monotonic() - started < 3, servers  # live_timeout = 1s
                started = time.monotonic()
                assert (await who(directory, "5553219998"))[0] is MatchStatus.NONE
                assert time.monotonic() - started < 0.5  # paused after the failure
                assert await who(directory, "4009") == (MatchStatus.UNIQUE, {"Иван Петров"}, "ipPhone")
            finally:
                await directory.stop()
    assert await CallerIndexEntry.all().count() == index
