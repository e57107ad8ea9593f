"""[notify] settings: the issue's TOML shape, secrets from files and the environment (never shown), mistakes named."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from web.app import create_app
from web.settings import ConfigError, load_settings

TOKEN = "tw-secret-0123456789"
BASE = """
[web]
public_url = "https://helpline.example.com"

[notify.twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
from_number = "+15550001111"

[notify.slack]
bot_token_file = "slack.token"
signing_secret = "sign-secret"

[[notify.people]]
name = "ivan"
phone = "+7 916 123-45-67"
slack_user = "U024BE7LH"

[[notify.people]]
name = "olga"
phone = "+79161234568"

[[notify.schedules]]
name = "it-primary"
timezone = "Europe/Moscow"
rotation = { members = ["ivan", "olga"], length = "1w", handoff = "mon 09:00" }
overrides = [{ start = 2026-12-31T18:00:00, end = 2027-01-02T09:00:00, person = "olga", reason = "New Year" }]

[[notify.policies]]
name = "sla"
match = { event = ["sla.breached", "sla.warning"], priority = ["P1", "P2"] }
steps = [ { after = "0m",  notify = ["schedule:it-primary", "slack:#it-oncall"] },
          { after = "10m", notify = ["person:olga"] } ]
repeat = 2
{extra}
"""


def write(tmp_path: Path, extra: str = "") -> Path:
    text = BASE.replace("{extra}", extra)
    (tmp_path / "slack.token").write_text("xoxb-from-a-file\n")
    path = tmp_path / "helpline.toml"
    path.write_text(text)
    return path


def test_the_issue_shape_loads_with_secrets_from_env_and_files(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path), environ={"HELPLINE_TWILIO_AUTH_TOKEN": TOKEN})
    n = s.notify
    assert n.enabled and s.web.public_url == "https://helpline.example.com"
    assert n.twilio is not None and n.twilio.auth_token.get_secret_value() == TOKEN
    assert n.slack is not None and n.slack.bot_token.get_secret_value() == "xoxb-from-a-file"
    assert [p.phone for p in n.people] == ["+79161234567", "+79161234568"]  # normalised to E.164
    assert [p.language for p in n.people] == ["en", "en"], "alerts are in English unless a person says otherwise"
    assert TOKEN not in repr(s) and "xoxb-from-a-file" not in repr(s) and "sign-secret" not in repr(s)
    sched = n.roster().schedules["it-primary"]
    assert sched.on_call(datetime(2027, 1, 1, 12, tzinfo=UTC)) == "olga"  # the New Year override
    assert n.slack.ack_from == "mapped", "by default only people on the on-call list acknowledge in Slack"
    (policy,) = n.build_policies()
    assert policy.repeat == 2 and [str(t) for t in policy.steps[0].targets] == [
        "schedule:it-primary",
        "slack:#it-oncall",
    ]


def test_secret_file_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "tw.secret").write_text(TOKEN)
    s = load_settings(write(tmp_path), environ={"HELPLINE_TWILIO_AUTH_TOKEN_FILE": str(tmp_path / "tw.secret")})
    assert s.notify.twilio is not None and s.notify.twilio.auth_token.get_secret_value() == TOKEN


@pytest.mark.parametrize(
    "extra, replace, expected",
    [
        ("", {}, "[notify] twilio.auth_token: Field required"),
        ('[[notify.people]]\nname = "petr"\nphne = "+79160000000"\n', {}, "[[notify.people]] petr phne: unknown key"),
        ("", {'"person:olga"': '"person:nobody"'}, "policy 'sla': person:nobody is not in [[notify.people]]"),
        ("", {'"schedule:it-primary"': '"team:it"'}, "'team:it' is not a target"),
        ("", {'"Europe/Moscow"': '"Mars/Olympus"'}, "[[notify.schedules]] it-primary timezone: not an IANA time zone"),
        ("", {'"mon 09:00"': '"monday"'}, "handoff: write it like"),
        ("", {'"+79161234568"': '"12"'}, "[[notify.people]] olga phone: not a valid international number"),
        ("", {'after = "10m"': 'after = "ten"'}, "not a duration"),
        (
            "",
            {'name = "olga"\n': 'name = "olga"\nlanguage = "Russian"\n'},
            "[[notify.people]] olga language: 'Russian' is not a language helpline speaks; use one of en, ru, th "
            "(did you mean 'ru'?)",
        ),
        ("", {'name = "olga"\n': 'name = "olga"\nlanguage = "tha"\n'}, "olga language: 'tha' is not a language"),
        (
            "",
            {'signing_secret = "sign-secret"': 'signing_secret = "sign-secret"\nack_from = "everyone"'},
            "[notify] slack.ack_from: Input should be 'mapped', 'on_call' or 'anyone'",
        ),
    ],
)
def test_mistakes_name_the_key_and_the_fix(tmp_path: Path, extra: str, replace: dict[str, str], expected: str) -> None:
    path = write(tmp_path, extra)
    text = path.read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    path.write_text(text)
    env = {} if "auth_token" in expected else {"HELPLINE_TWILIO_AUTH_TOKEN": TOKEN}
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=env)
    message = str(err.value)
    assert expected in message, message
    assert TOKEN not in message


def test_no_notify_section_means_no_alerting() -> None:
    assert not load_settings(environ={}).notify.enabled
    # a token in the environment of a host without [notify.twilio] does not break start-up
    s = load_settings(environ={"HELPLINE_TWILIO_AUTH_TOKEN": TOKEN, "HELPLINE_SLACK_BOT_TOKEN": "xoxb-1"})
    assert s.notify.twilio is None and s.notify.slack is None


def test_secrets_are_not_logged_when_the_app_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, database_url: str
) -> None:
    path = write(tmp_path)
    s = load_settings(path, environ={"HELPLINE_TWILIO_AUTH_TOKEN": TOKEN, "HELPLINE_DATABASE_URL": database_url})
    with caplog.at_level(logging.DEBUG), TestClient(create_app(s)) as client:
        assert client.get("/healthz").status_code == 200
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in logged and "xoxb-from-a-file" not in logged and "sign-secret" not in logged
