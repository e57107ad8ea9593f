"""Local aliases with the real Samba AD DC: no sync overrides one; ``helpline directory lookup`` says who made it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.samba import SambaAD, directory_environ
from tickets.actor import Actor
from tickets.calls.aliases import AliasService
from tickets.models import CallerAlias, CallerIndexEntry, Role
from tickets.person_service import PersonService
from web.settings import Settings, load_settings


def helpline(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


async def test_an_alias_outlives_every_sync_and_the_lookup_says_who_made_it(
    samba_ad: SambaAD, orm: Settings, tmp_path: Path
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HELPLINE_DATABASE_URL": orm.database.url.get_secret_value(),
        **directory_environ(samba_ad),
    }
    first = helpline("directory", "sync", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    policy = load_settings(environ=env).directory.number_policy()
    # Ivan's desk phone ("(555) 123-0009" in AD) is the one the front-desk tablet calls from: an agent says so.
    tablet = await PersonService().create(name="Front desk tablet (Ресепшн)")
    alias, new = await AliasService(policy).add(Actor("alice", Role.AGENT), tablet.id, "95551230009")
    assert new and alias.number == "+15551230009"
    for args in (("directory", "sync"), ("directory", "sync", "--full")):
        again = helpline(*args, env=env, cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert await CallerAlias.filter(key="+15551230009", person_id=tablet.id).exists()
    assert await CallerIndexEntry.filter(key="+15551230009").count() == 1  # AD still has it for Ivan
    lookup = helpline("directory", "lookup", "95551230009", env=env, cwd=tmp_path)
    assert lookup.returncode == 0, lookup.stderr
    assert "match: unique (from a local alias made by alice on " in lookup.stdout, lookup.stdout
    assert "Front desk tablet (Ресепшн)" in lookup.stdout
    assert (
        "(the directory has this number for #" in lookup.stdout and "Иван Петров, in telephoneNumber" in lookup.stdout
    )
    other = helpline("directory", "lookup", "4009", env=env, cwd=tmp_path)  # his extension is still his
    assert "Иван Петров" in other.stdout and "ipPhone" in other.stdout and "alias" not in other.stdout
