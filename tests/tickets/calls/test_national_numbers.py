"""Numbers written in a person's own national format, against the real Samba AD DC, on SQLite and PostgreSQL.

A Berlin employee's "030/1234567" and a Bangkok one's "02 123 4567" are read in their AD country (``c``), so the
E.164 number the PBX presents finds them; without a country (or with one phone numbers do not know) the site's
default region is used, as before.
"""

from __future__ import annotations

from directory import AsyncDirectory, DirectoryClient, NumberPolicy
from directory.numbers import CallerNumber
from tests.support.ad.admin import AdAdmin, unique_name
from tests.support.directory import NATIONAL
from tests.support.samba import SambaAD, directory_environ
from tickets.calls.caller_index import DirectoryCallerLookup
from tickets.calls.callers import MatchStatus
from tickets.calls.directory_sync import DirectorySync, SyncReport
from tickets.models import Person
from web.settings import Settings, load_settings

POLICY = NumberPolicy("US", dialling_prefixes=("9",))  # a site in the US, as the seeded directory is


async def sync(ad: SambaAD, orm: Settings, *, full: bool = False) -> SyncReport:
    env = {"HELPLINE_DATABASE_URL": orm.database.url.get_secret_value(), **directory_environ(ad)}
    directory = AsyncDirectory(DirectoryClient(load_settings(environ=env).directory.client_config()))
    try:
        return await DirectorySync(directory, POLICY).run(full=full)
    finally:
        directory.close()


async def who(number: str) -> tuple[MatchStatus, str | None]:
    match = await DirectoryCallerLookup(POLICY, state_ttl=0).lookup(CallerNumber.parse(number))
    person = await Person.get_or_none(id=match.person_id) if match.person_id else None
    return match.status, person.name if person else None


async def test_national_numbers_match_by_the_persons_country(
    samba_ad_exclusive: SambaAD, orm: Settings, admin: AdAdmin
) -> None:
    names = {}
    for country, written, e164 in NATIONAL:
        name = unique_name(f"National {country}")
        admin.add_person(name, c=country, telephoneNumber=written, physicalDeliveryOfficeName=f"Office {country}")
        names[e164] = name
    report = await sync(samba_ad_exclusive, orm, full=True)
    assert report.ok, report.summary()
    found = {e164: await who(e164) for e164 in names}
    assert found == {e164: (MatchStatus.UNIQUE, name) for e164, name in names.items()}
    # As the PBX may also send them: the outside line 9 and the US international prefix 011, or spaced.
    assert await who("9011" + "6621234567") == (MatchStatus.UNIQUE, names["+6621234567"])
    assert await who("+66 2 123 4567") == (MatchStatus.UNIQUE, names["+6621234567"])
    assert await who("2 123 4567") == (MatchStatus.NONE, None)  # national in Thailand, not for a US site
    berlin = await Person.get(name=names["+49301234567"])
    assert (berlin.country, berlin.office, berlin.phone, berlin.phone_key) == (
        "DE",
        "Office DE",
        "030/1234567",
        "+49301234567",
    )
    # The same numbers read the way they were before (the site's region for everyone): the figure for the docs.
    before = sum(POLICY.parse(written).key == e164 for _, written, e164 in NATIONAL)
    print(f"\nnational-format numbers that match: before {before} of {len(NATIONAL)}, now {len(names)}")
    assert before == 4 and len(found) == len(NATIONAL) == 12


async def test_a_country_set_or_changed_later_is_picked_up_by_an_incremental_sync(
    samba_ad_exclusive: SambaAD, orm: Settings, admin: AdAdmin
) -> None:
    name = unique_name("Somchai Later")
    dn = admin.add_person(name, telephoneNumber="02 123 4567")  # no country yet: read as a US number, wrongly
    unknown = admin.add_person(unique_name("Nowhere Land"), c="XX", mobile="(555) 246-8642")  # unknown: US
    assert (await sync(samba_ad_exclusive, orm, full=True)).ok
    assert await who("+6621234567") == (MatchStatus.NONE, None)
    assert (await who("+15552468642"))[0] is MatchStatus.UNIQUE
    admin.replace(dn, c="TH")
    report = await sync(samba_ad_exclusive, orm)
    assert report.ok and report.mode == "incremental" and name in report.changed, report.summary()
    assert await who("+6621234567") == (MatchStatus.UNIQUE, name)
    assert (await Person.get(name=name)).country == "TH"
    assert (await Person.get(directory_guid__isnull=False, name__startswith="Nowhere Land")).country is None
    admin.delete(unknown)
