"""``helpline check`` against real things: the test databases, the local AMI replay server, the Samba AD DC, the
Twilio and Slack fakes, the local Redis. Each dependency passes when it is right and fails, with a fix, when not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from pbx.replay import ReplayServer
from tests.support.ami import AMI, SECRET, USER
from tests.support.notify import notify_raw
from tests.support.notify_fakes import FakeSlack, FakeTwilio, LoopbackServer
from tests.support.samba import SambaAD, directory_environ
from tests.support.servers import free_port
from web.cli.check import CheckResult, run_checks
from web.settings import Settings, load_settings

REDIS_URL = "redis://127.0.0.1:6379/0"


def results_by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


def pbx_settings(database_url: str, port: int, secret: str = SECRET) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": database_url},
            "pbx": [
                {
                    "name": "main",
                    "host": "127.0.0.1",
                    "port": port,
                    "username": USER,
                    "secret": secret,
                    "queues": ["helpdesk"],
                }
            ],
        }
    )


async def test_a_migrated_database_passes_and_an_unreachable_one_fails_with_the_fix(database_url: str) -> None:
    good = results_by_name(await run_checks(Settings.model_validate({"database": {"url": database_url}})))
    assert good["database"].status == "pass" and "schema up to date" in good["database"].detail
    assert {good[n].status for n in ("directory", "twilio", "slack", "redis")} == {"skip"}

    port = free_port()  # nothing listens there
    bad = results_by_name(
        await run_checks(
            Settings.model_validate(
                {"database": {"url": f"postgres://helpline:db-password-123@127.0.0.1:{port}/helpline"}}
            ),
            timeout=5,
        )
    )
    assert bad["database"].status == "fail"
    assert "HELPLINE_DATABASE_URL" in (bad["database"].fix or "")
    assert "db-password-123" not in json.dumps([vars(r) for r in bad.values()])


async def test_an_empty_sqlite_database_passes_with_a_note(tmp_path: Path) -> None:
    result = results_by_name(
        await run_checks(Settings.model_validate({"database": {"url": f"sqlite://{tmp_path}/fresh.sqlite3"}}))
    )["database"]
    assert result.status == "pass" and "empty database" in result.detail


async def test_the_pbx_login_is_checked_and_a_wrong_secret_fails(database_url: str) -> None:
    async with ReplayServer([AMI / "a_answered.raw"], username=USER, secret=SECRET) as server:
        ok = results_by_name(await run_checks(pbx_settings(database_url, server.port), timeout=8))["pbx main"]
        bad = results_by_name(await run_checks(pbx_settings(database_url, server.port, "wrong-secret"), timeout=8))[
            "pbx main"
        ]
    assert ok.status == "pass", ok
    assert "logged in" in ok.detail and "Originate allowed" in ok.detail and "QueuePause" in ok.detail
    assert bad.status == "fail" and "login refused" in bad.detail
    assert "manager.conf" in (bad.fix or "") and "wrong-secret" not in bad.detail + (bad.fix or "")


async def test_a_pbx_user_without_the_system_read_class_fails_with_the_manager_conf_fix(database_url: str) -> None:
    async with ReplayServer([AMI / "a_answered.raw"], username=USER, secret=SECRET, fully_booted=False) as server:
        result = results_by_name(await run_checks(pbx_settings(database_url, server.port), timeout=8))["pbx main"]
    assert result.status == "fail" and "'system'" in result.detail
    assert "read = system,call,agent" in (result.fix or "")


async def test_a_closed_pbx_port_fails(database_url: str) -> None:
    result = results_by_name(await run_checks(pbx_settings(database_url, free_port()), timeout=5))["pbx main"]
    assert result.status == "fail" and "cannot connect" in result.detail


async def test_the_directory_bind_and_search_are_checked(database_url: str, samba_ad: SambaAD) -> None:
    env = {**directory_environ(samba_ad), "HELPLINE_DATABASE_URL": database_url}
    good = results_by_name(await run_checks(load_settings(environ=env)))[f"directory {samba_ad.url}"]
    assert good.status == "pass" and "people found" in good.detail
    wrong = load_settings(environ={**env, "HELPLINE_DIRECTORY_PASSWORD": "Not-The-Password-1"})
    bad = results_by_name(await run_checks(wrong))[f"directory {samba_ad.url}"]
    assert bad.status == "fail" and "password" in (bad.fix or "")
    assert "Not-The-Password-1" not in bad.detail + (bad.fix or "")
    nowhere = load_settings(environ={**env, "HELPLINE_DIRECTORY_BASE_DN": "OU=Nowhere," + samba_ad.base_dn})
    missing = results_by_name(await run_checks(nowhere))[f"directory {samba_ad.url}"]
    assert missing.status == "fail" and "base_dn" in missing.fix


@pytest.fixture
def fakes() -> Iterator[tuple[FakeTwilio, FakeSlack, str, str]]:
    twilio, slack = FakeTwilio(), FakeSlack()
    servers = [LoopbackServer(twilio.app()).start(), LoopbackServer(slack.app()).start()]
    try:
        yield twilio, slack, servers[0].url, servers[1].url
    finally:
        for server in servers:
            server.stop()


def notify_settings(database_url: str, twilio_url: str, slack_url: str, **changes: Any) -> Settings:
    raw = notify_raw(twilio_url, slack_url)
    for key, value in changes.items():
        section, _, field = key.partition("__")
        raw[section] = {**raw[section], field: value}
    return Settings.model_validate({"database": {"url": database_url}, "notify": raw})


async def test_twilio_and_slack_credentials_number_and_channel_are_checked(
    database_url: str, fakes: tuple[FakeTwilio, FakeSlack, str, str]
) -> None:
    twilio, slack, twilio_url, slack_url = fakes
    good = results_by_name(await run_checks(notify_settings(database_url, twilio_url, slack_url)))
    assert good["twilio"].status == "pass" and "+15550001111" in good["twilio"].detail
    assert good["slack"].status == "pass" and "#it-oncall" in good["slack"].detail

    bad = results_by_name(
        await run_checks(
            notify_settings(
                database_url,
                twilio_url,
                slack_url,
                twilio__auth_token="wrong-twilio-token",
                slack__bot_token="xoxb-wrong-token",
            )
        )
    )
    assert bad["twilio"].status == "fail" and "auth_token" in (bad["twilio"].fix or "")
    assert bad["slack"].status == "fail" and "invalid_auth" in bad["slack"].detail
    assert "bot_token" in (bad["slack"].fix or "")

    twilio.numbers = ["+15550009999"]
    slack.not_member = {"C0ITONCALL"}
    other = results_by_name(await run_checks(notify_settings(database_url, twilio_url, slack_url)))
    assert other["twilio"].status == "fail" and "not a phone number of account" in other["twilio"].detail
    assert other["slack"].status == "fail" and "not a member" in other["slack"].detail
    assert "/invite" in (other["slack"].fix or "")


async def test_redis_is_pinged(database_url: str) -> None:
    import redis.asyncio as aredis

    probe = aredis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await probe.ping()
    except (aredis.RedisError, OSError) as exc:
        from tests.support.services import service_missing

        service_missing(f"no Redis at {REDIS_URL}: {exc}")
    finally:
        await probe.aclose()
    ok = results_by_name(
        await run_checks(Settings.model_validate({"database": {"url": database_url}, "live": {"redis_url": REDIS_URL}}))
    )["redis"]
    assert ok.status == "pass"
    bad = results_by_name(
        await run_checks(
            Settings.model_validate(
                {"database": {"url": database_url}, "live": {"redis_url": f"redis://127.0.0.1:{free_port()}/0"}}
            )
        )
    )["redis"]
    assert bad.status == "fail" and "redis_url" in (bad.fix or "")


def test_the_command_exits_non_zero_on_a_failure_and_prints_json(database_url: str, tmp_path: Path) -> None:
    config = tmp_path / "helpline.toml"
    config.write_text(
        f'[[pbx]]\nname = "main"\nhost = "127.0.0.1"\nport = {free_port()}\nusername = "helpline"\n'
        'secret = "cli-secret-value"\nqueues = ["helpdesk"]\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env["HELPLINE_DATABASE_URL"] = database_url
    run = subprocess.run(
        [sys.executable, "-m", "web.cli", "check", "-c", str(config), "--json", "--timeout", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    assert report["ok"] is False
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["database"]["status"] == "pass" and checks["pbx main"]["status"] == "fail"
    assert checks["pbx main"]["fix"] and "cli-secret-value" not in run.stdout + run.stderr

    config.write_text("")
    text = subprocess.run(
        [sys.executable, "-m", "web.cli", "check", "-c", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert text.returncode == 0, text.stdout + text.stderr
    assert "[ok  ] database" in text.stdout and "[skip] twilio" in text.stdout


async def test_numbers_without_a_country_code_and_no_region_are_a_warning(database_url: str) -> None:
    """No [directory] default_region: calls from 84951234567 (Moscow, written nationally) cannot be normalised.
    `helpline check` says so, with the setting to add; it is a warning, not a failure. With the region set, or
    with no such calls, the check passes."""
    from datetime import datetime

    from tickets.calls.intake import CallIntake, IntakeSettings
    from tickets.ticket_service import TicketService
    from web.cli.check import render_text
    from web.runtime import db

    unset = Settings.model_validate({"database": {"url": database_url}})
    quiet = results_by_name(await run_checks(unset))["numbers"]
    assert quiet.status == "pass" and "default_region is not set" in quiet.detail
    await db.open_orm(unset.database)
    try:
        intake = CallIntake(TicketService(), settings=IntakeSettings(numbers=unset.directory.number_policy()))
        for n, number in enumerate(["84951234567", "+74951234567", "4321", "anonymous", "84957654321"]):
            await intake.offered(
                pbx="main",
                linkedid=f"N{n}",
                at=datetime.now(UTC),
                caller_number=number,
                caller_name="",
                queue="helpdesk",
            )
        assert intake.national_without_region == 2
    finally:
        await db.close_orm()
    results = await run_checks(unset)
    warned = results_by_name(results)["numbers"]
    assert warned.status == "warn", warned
    assert "2 calls" in warned.detail and ("84957654321" in warned.detail or "84951234567" in warned.detail)
    assert 'default_region = "RU"' in (warned.fix or "")
    assert "[WARN] numbers" in render_text(results) and "checks failed" not in render_text(results)
    moscow = Settings.model_validate({"database": {"url": database_url}, "directory": {"default_region": "RU"}})
    assert results_by_name(await run_checks(moscow))["numbers"].status == "pass"
