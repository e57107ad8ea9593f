"""The directory in the running product: configuration, ``helpline directory sync|lookup``, the status APIs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.samba import SambaAD, directory_environ
from tests.support.servers import Team, free_port
from tests.support.waiting import GENEROUS, wait_until
from tickets.agent_service import AgentService
from tickets.models import Role
from web.app import create_app
from web.settings import ConfigError, load_settings

# -- configuration ------------------------------------------------------------------------------------------------


def test_the_password_comes_from_a_file_or_the_environment_and_is_never_shown(tmp_path: Path) -> None:
    (tmp_path / "ad.secret").write_text("s3cret-from-file\n")
    (tmp_path / "helpline.toml").write_text("""
[directory]
servers = ["ldaps://dc1.corp.example:636", "ldaps://dc2.corp.example:636"]
bind_dn = "svc-helpline@corp.example"
password_file = "ad.secret"
base_dn = "DC=corp,DC=example"
sync_interval = "30m"
default_region = "US"
dialling_prefixes = ["9", "0"]
""")
    settings = load_settings(tmp_path / "helpline.toml", environ={})
    d = settings.directory
    assert d.enabled and d.client_config().password == "s3cret-from-file"
    assert d.sync_interval.total_seconds() == 1800 and d.number_policy().parse("95551230009").key == "+15551230009"
    assert (d.full_sync_interval.total_seconds(), d.live_fallback, d.live_timeout.total_seconds()) == (86400, False, 2)
    assert "s3cret" not in repr(d) and "s3cret" not in repr(d.client_config())
    no_secret = tmp_path / "no-secret.toml"
    no_secret.write_text((tmp_path / "helpline.toml").read_text().replace('password_file = "ad.secret"', ""))
    from_env = load_settings(no_secret, environ={"HELPLINE_DIRECTORY_PASSWORD": "from-env"})
    assert from_env.directory.client_config().password == "from-env"
    from_env_file = load_settings(no_secret, environ={"HELPLINE_DIRECTORY_PASSWORD_FILE": str(tmp_path / "ad.secret")})
    assert from_env_file.directory.client_config().password == "s3cret-from-file"


@pytest.mark.parametrize(
    "text, expected",
    [
        ('servers = ["ldap://dc1:389"]\nbind_dn = "a"\npassword = "p"\nbase_dn = "DC=x"', "clear text"),
        ('servers = ["ldaps://dc1"]\npassword = "p"', "set bind_dn, base_dn too"),
        ('servers = ["ldaps://dc1"]\nbind_dn = "a"\nbase_dn = "DC=x"', "password_file"),
        ('servers = ["http://dc1"]\nbind_dn = "a"\npassword = "p"\nbase_dn = "DC=x"', "ldaps://"),
        ('dialling_prefixes = ["9x"]', "1-4 digits"),
        (
            'servers = ["ldaps://dc1"]\nbind_dn = "a"\npassword = "p"\nbase_dn = "DC=x"\nlive_timeout = "90s"',
            "live_timeout",
        ),
        (
            'servers = ["ldaps://dc1"]\nbind_dn = "a"\npassword = "p"\nbase_dn = "DC=x"\nfull_sync_interval = "soon"',
            "full_sync_interval",
        ),
        ('extension_pattern = "4[0-9"', "not a regular expression"),
        (
            'servers = ["ldaps://dc1"]\nbind_dn = "a"\npassword = "p"\nbase_dn = "DC=x"\n'
            'ca_file = "/nonexistent/ca.pem"',
            "not a readable file",
        ),
    ],
)
def test_directory_errors_name_the_key_and_the_fix(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "helpline.toml"
    path.write_text("[directory]\n" + text + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert expected in str(caught.value) and "[directory]" in str(caught.value)
    assert '"p"' not in str(caught.value)


# -- the command line ---------------------------------------------------------------------------------------------


def helpline(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_directory_sync_and_lookup_from_the_command_line(samba_ad: SambaAD, database_url: str, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HELPLINE_DATABASE_URL": database_url, **directory_environ(samba_ad)}
    dry = helpline("directory", "sync", "--dry-run", env=env, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "would change" in dry.stdout and "added: Иван Петров" in dry.stdout
    done = helpline("directory", "sync", env=env, cwd=tmp_path)
    assert done.returncode == 0 and "added" in done.stdout, done.stderr
    assert samba_ad.password not in done.stdout + done.stderr
    again = helpline("directory", "sync", env=env, cwd=tmp_path)
    assert again.returncode == 0 and "incremental sync: 0 people changed" in again.stdout, again.stdout
    full = helpline("directory", "sync", "--full", "--dry-run", env=env, cwd=tmp_path)
    assert full.returncode == 0 and "full sync (asked for)" in full.stdout and "would change: 0 added" in full.stdout
    ivan = helpline("directory", "lookup", "95551230009", env=env, cwd=tmp_path)
    assert ivan.returncode == 0 and "+15551230009" in ivan.stdout
    assert "unique" in ivan.stdout and "Иван Петров, IT, Systems Engineer" in ivan.stdout
    assert "telephoneNumber" in ivan.stdout
    shared = helpline("directory", "lookup", "555.123.0100", env=env, cwd=tmp_path)
    assert "ambiguous" in shared.stdout and "Peggy Nguyen" in shared.stdout and "Xena Ueda" in shared.stdout
    vip = helpline("directory", "lookup", "4001", env=env, cwd=tmp_path)
    assert "Alice Anderson" in vip.stdout and "[VIP]" in vip.stdout and "ipPhone" in vip.stdout
    down_env = {**env, "HELPLINE_DIRECTORY_SERVERS": f"ldaps://127.0.0.1:{free_port()}"}
    down = helpline("directory", "sync", env=down_env, cwd=tmp_path)
    assert down.returncode == 1 and "unreachable" in down.stderr
    stale = helpline("directory", "lookup", "4009", env=down_env, cwd=tmp_path)
    assert "Иван Петров" in stale.stdout and "the last sync failed (unreachable)" in stale.stdout


def test_a_wrong_password_says_what_to_check(samba_ad: SambaAD, database_url: str, tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HELPLINE_DATABASE_URL": database_url,
        **directory_environ(samba_ad, password="wrong-password"),
    }
    result = helpline("directory", "sync", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "bad_credentials" in result.stderr and "AD code 52e" in result.stderr and "bind_dn" in result.stderr
    assert "wrong-password" not in result.stderr
    never = helpline("directory", "lookup", "4009", env=env, cwd=tmp_path)
    assert never.returncode == 1 and "unavailable" in never.stdout


# -- the API ------------------------------------------------------------------------------------------------------


def wait_for(client: TestClient, token: str, condition: str, timeout: float = GENEROUS) -> dict[str, object]:
    """The directory status, once its ``condition`` field is set."""

    def status() -> dict[str, object]:
        return dict(client.get("/api/v1/directory", headers=Team.header(token)).json())

    return wait_until(
        lambda: (body := status()).get(condition) and body,
        timeout,
        what=f"the directory status showing {condition}",
        details=status,
        every=0.1,
    )


def admin_token(client: TestClient) -> tuple[str, str]:
    async def make() -> tuple[str, str]:
        agents = AgentService()
        ada = await agents.create(login="ada", display_name="Ada", role=Role.ADMIN)
        bob = await agents.create(login="bob", display_name="Bob", role=Role.AGENT)
        return (await agents.issue_token(ada.id))[1], (await agents.issue_token(bob.id))[1]

    return client.portal.call(make)


def test_the_app_syncs_at_start_and_shows_the_directory_status(samba_ad: SambaAD, database_url: str) -> None:
    settings = load_settings(environ={"HELPLINE_DATABASE_URL": database_url, **directory_environ(samba_ad)})
    with TestClient(create_app(settings)) as client:
        admin, agent = admin_token(client)
        status = wait_for(client, admin, "synced")
        assert status["configured"] and status["synced"] and not status["stale"], status
        assert int(status["people"]) >= 46 and int(status["numbers"]) > 100 and status["sync_interval_seconds"] == 900
        assert status["last_full_sync_at"] is not None  # the first sync of a database is a full one
        assert status["dc"] == samba_ad.url  # and the next asks that DC for its changes only
        assert client.get("/api/v1/directory", headers=Team.header(agent)).status_code == 403
        ready = client.get("/api/v1/status", headers=Team.header(admin)).json()
        assert ready["checks"]["directory"] == "ok"
        found = client.get("/api/v1/people", params={"q": "петров"}, headers=Team.header(agent)).json()["items"]
        assert [(p["name"], p["department"], p["title"]) for p in found] == [("Иван Петров", "IT", "Systems Engineer")]
        thai = client.get("/api/v1/people", params={"q": "ใจดี"}, headers=Team.header(agent)).json()["items"]
        assert [p["name"] for p in thai] == ["สมชาย ใจดี"]


def test_status_is_degraded_when_the_directory_cannot_be_synced(samba_ad: SambaAD, database_url: str) -> None:
    env = {
        "HELPLINE_DATABASE_URL": database_url,
        **directory_environ(samba_ad, servers=f"ldaps://127.0.0.1:{free_port()}"),
    }
    with TestClient(create_app(load_settings(environ=env))) as client:
        admin, _ = admin_token(client)
        status = wait_for(client, admin, "last_error_kind")
        assert status["last_error_kind"] == "unreachable" and not status["synced"]
        assert client.get("/readyz").json() == {"status": "ready"}  # callers are identified later: tickets work
        ready = client.get("/api/v1/status", headers=Team.header(admin))
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["directory"] == "not synced yet: unreachable"


def test_without_a_directory_the_status_says_so(client: TestClient, team: Team) -> None:
    body = client.get("/api/v1/directory", headers=Team.header(team.admin)).json()
    assert body["configured"] is False and body["synced"] is False and body["sync_interval_seconds"] is None
    assert body["last_full_sync_at"] is None and body["dc"] is None
    assert "directory" not in client.get("/api/v1/status", headers=Team.header(team.admin)).json()["checks"]
