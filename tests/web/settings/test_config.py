"""Configuration: defaults, the TOML file, environment overrides, secret files, and errors that name the key."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from tests.support.paths import ROOT
from web.settings import ConfigError, Settings, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "helpline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_at_all_gives_a_working_default() -> None:
    s = load_settings(environ={})
    assert (s.web.host, s.web.port) == ("127.0.0.1", 8080)
    assert s.database.url.get_secret_value() == "sqlite://./var/helpline.sqlite3" and s.database.is_sqlite
    assert s.tickets.number_prefix == "IT" and s.source == "defaults"


def test_file_then_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[web]\nport = 9000\nhost = "0.0.0.0"\n[tickets]\nnumber_prefix = "HD"\n')
    s = load_settings(
        path, environ={"HELPLINE_WEB_PORT": "9100", "HELPLINE_DATABASE_URL": "postgres://h:pw@db:5432/helpline"}
    )
    assert s.web.port == 9100 and s.web.host == "0.0.0.0" and s.tickets.number_prefix == "HD"
    assert s.database.redacted_url() == "postgres://h:***@db:5432/helpline"
    assert "pw" not in repr(s) and "pw" not in str(s.model_dump())


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[web]\nport = 8181\n")
    assert load_settings(environ={"HELPLINE_CONFIG": str(path)}).web.port == 8181


def test_secret_from_file_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "db.secret").write_text("postgres://h:s3cret@db/helpline\n")
    s = load_settings(write(tmp_path, '[database]\nurl_file = "db.secret"\n'), environ={})
    assert s.database.url.get_secret_value() == "postgres://h:s3cret@db/helpline"
    env_file = tmp_path / "env.secret"
    env_file.write_text("sqlite:///tmp/x.sqlite3")
    s = load_settings(environ={"HELPLINE_DATABASE_URL_FILE": str(env_file)})
    assert s.database.url.get_secret_value() == "sqlite:///tmp/x.sqlite3"
    redis_file = tmp_path / "redis.secret"  # the short name's file form, as the systemd credentials drop-in uses it
    redis_file.write_text("redis://:r3dis@cache:6379/0\n")
    s = load_settings(environ={"HELPLINE_REDIS_URL_FILE": str(redis_file)})
    assert s.live.redis_url is not None and s.live.redis_url.get_secret_value() == "redis://:r3dis@cache:6379/0"


@pytest.mark.parametrize(
    "text,env,expected",
    [
        ("[web]\nport = 70000\n", {}, "[web] port: Input should be less than or equal to 65535 (got 70000)"),
        ("[web]\nprot = 80\n", {}, "[web] prot: unknown key"),
        ("[wbe]\nport = 80\n", {}, "wbe: unknown key"),
        ("", {"HELPLINE_WEB_PORT": "eighty"}, "[web] port: Input should be a valid integer"),
        ('[database]\nurl = "mysql://x"\n', {}, "[database] url: must start with sqlite://"),
        ('[tickets]\nnumber_prefix = "it-"\n', {}, "[tickets] number_prefix: String should match pattern"),
        ('[tickets.priority_matrix]\nhigh = {high = "P1"}\n', {}, "[tickets] priority_matrix: Value error"),
        ('[database]\nurl = "sqlite://a"\nurl_file = "b"\n', {}, "[database] set either url or url_file, not both"),
        ('[database]\nurl_file = "missing.secret"\n', {}, "[database] url_file: cannot read"),
        ("[web\nport = 1\n", {}, "not valid TOML"),
        ("[web]\nmax_body_bytes = 10\n", {}, "[web] max_body_bytes: Input should be greater than or equal to 1024"),
    ],
)
def test_errors_name_the_key_and_the_fix(tmp_path: Path, text: str, env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), environ=env)
    message = str(caught.value)
    assert expected.split(": Value error")[0] in message, message
    assert message.startswith(str(tmp_path)), "the message says which file"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("[web]\nprot = 80\n", "[web] prot: unknown key (did you mean 'port'?)"),
        ("[wbe]\nport = 80\n", "wbe: unknown key (did you mean 'web'?)"),
        (
            '[[pbx]]\nname = "main"\nhost = "h"\nusername = "u"\nsecret = "s"\nqueues = ["q"]\nquees = ["q"]\n',
            "[[pbx]] main quees: unknown key (did you mean 'queues'?)",
        ),
        (
            '[sla]\n[[sla.calendars]]\nname = "office"\nhours = {mon = ["09:00-18:00"]}\n'
            '[[sla.policies]]\nname = "p1"\ncalendar = "ofice"\nresolution = "4h"\n',
            "calendar 'ofice' is not defined (did you mean 'office'?)",
        ),
        ("[web]\nzzz = 1\n", "[web] zzz: unknown key (check the spelling; docs/configuration.md lists every key)"),
    ],
)
def test_a_mistyped_key_or_name_gets_a_suggestion(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), environ={})
    assert expected in str(caught.value), str(caught.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, '[web]\nport = 0\nhost = 5\nlog_level = "loud"\n'), environ={})
    assert len(caught.value.problems) == 3


def test_missing_file_is_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_secrets_are_not_echoed_in_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"HELPLINE_DATABASE_URL": "mysql://user:topsecret@db/x"})
    assert "topsecret" not in str(caught.value)


def test_the_example_file_in_deploy_is_valid_and_equals_the_defaults() -> None:
    example = ROOT / "deploy" / "helpline.toml"
    loaded = load_settings(example, environ={})
    defaults = load_settings(environ={})
    assert loaded.model_dump(exclude={"source"}) == defaults.model_dump(exclude={"source"})
    assert loaded.database.url.get_secret_value() == defaults.database.url.get_secret_value()


def test_the_example_file_and_the_reference_document_every_key() -> None:
    root = ROOT
    example = (root / "deploy" / "helpline.toml").read_text()
    reference = (root / "docs" / "configuration.md").read_text()
    for section, field in Settings.model_fields.items():
        model, heading = field.annotation, f"## `[{section}]`"
        if typing.get_origin(model) is list:  # [[pbx]]: an array of tables
            model, heading = typing.get_args(model)[0], f"## `[[{section}]]`"
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        assert heading in reference, f"docs/configuration.md lacks {heading}"
        for key in model.model_fields:
            assert re.search(rf"^\s*#?\s*{key}\s*=", example, re.M) or f"[{section}.{key}]" in example, (
                f"deploy/helpline.toml lacks {section}.{key}"
            )
            assert f"| `{key}`" in reference, f"docs/configuration.md lacks {section}.{key}"


PBX = """
[[pbx]]
name = "main"
host = "127.0.0.1"
username = "helpline"
secret_file = "ami.secret"
queues = ["helpdesk"]

[[pbx]]
name = "branch-2"
host = "10.0.0.2"
port = 5039
username = "helpline"
secret = "in-the-file"
contexts = ["it-line"]
ping_interval = "30s"
"""


def test_several_pbx_with_secrets_from_file_and_environment(tmp_path: Path) -> None:
    (tmp_path / "ami.secret").write_text("s3cret\n")
    s = load_settings(
        write(tmp_path, PBX + '[tickets]\nrepeat_call_window = "1h30m"\n'),
        environ={"HELPLINE_PBX_BRANCH_2_SECRET": "from-env"},
    )
    main, branch = s.pbx
    assert (main.name, main.port, main.secret.get_secret_value(), main.queues) == ("main", 5038, "s3cret", ["helpdesk"])
    assert branch.secret.get_secret_value() == "from-env" and branch.ping_interval.total_seconds() == 30
    assert s.tickets.repeat_call_window.total_seconds() == 5400
    assert "s3cret" not in repr(s) and "from-env" not in repr(s)


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            '[[pbx]]\nname = "main"\nhost = "h"\nusername = "u"\nsecret = "s"\n',
            "[[pbx]] main: Value error, name the IT line",
        ),
        ('[[pbx]]\nname = "main"\nhost = "h"\nusername = "u"\nqueues = ["q"]\n', "[[pbx]] main: no secret"),
        (
            '[[pbx]]\nname = "main"\nhost = "h"\nusername = "u"\nsecret = "s"\nqueues = ["q"]\nport = 0\n',
            "[[pbx]] main port: Input should be greater than or equal to 1",
        ),
        (
            '[[pbx]]\nname = "Main PBX"\nhost = "h"\nusername = "u"\nsecret = "s"\nqueues = ["q"]\n',
            "[[pbx]] Main PBX name",
        ),
        (
            '[[pbx]]\nname = "a"\nhost = "h"\nusername = "u"\nsecret = "s"\nqueues = ["q"]\n' * 2,
            "two [[pbx]] entries are called 'a'",
        ),
        (
            '[[pbx]]\nname = "a"\nhost = "h"\nusername = "u"\nsecret = "s"\nqueues = ["q"]\nping_interval = "soon"\n',
            "[[pbx]] a ping_interval: Value error, not a duration",
        ),
        ('[tickets]\nrepeat_call_window = "1 week"\n', "[tickets] repeat_call_window: Value error, not a duration"),
    ],
)
def test_pbx_errors_name_the_entry(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), environ={})
    assert expected.replace("Value error, ", "") in str(caught.value).replace("Value error, ", ""), str(caught.value)
