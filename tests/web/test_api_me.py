"""/me: the agent's own console language and time zone, their defaults, and what an agent may change of themselves."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support.servers import Team
from tickets.agent_service import AgentService
from tickets.models import Role
from web.app import create_app
from web.auth.passwords import hash_password
from web.http.languages import negotiate
from web.settings import load_settings

V1 = "/api/v1"
LANGUAGES = ("en", "ru", "th")


@pytest.mark.parametrize(
    "header, expected",
    [
        (None, None),
        ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"),
        ("de-DE, th;q=0.5, en;q=0.4", "th"),
        ("en;q=0.2, TH-th;q=0.9", "th"),
        ("fr-CH, fr;q=0.9, *;q=0.5", None),
        ("ru;q=0, en", "en"),
        ("ru;q=abc, th", "th"),
        ("th, ru", "th"),
        (";;;,,,q=1", None),
    ],
)
def test_accept_language_picks_the_highest_ranked_language_we_speak(header: str | None, expected: str | None) -> None:
    assert negotiate(header, LANGUAGES) == expected


def test_me_defaults_to_the_browser_language_and_utc(client: TestClient, team: Team) -> None:
    alice = team.header(team.agent)
    assert client.get(f"{V1}/me", headers=alice).json()["language"] == "en"
    me = client.get(f"{V1}/me", headers={**alice, "Accept-Language": "ru-RU,ru;q=0.9,en;q=0.8"}).json()
    assert me["login"] == "alice" and me["language"] == "ru" and me["time_zone"] == "UTC"
    assert client.get(f"{V1}/me", headers={**alice, "Accept-Language": "fr, th;q=0.3"}).json()["language"] == "th"
    assert client.get(f"{V1}/me", headers={**alice, "Accept-Language": "de"}).json()["language"] == "en"


def test_an_agent_chooses_their_own_language_and_time_zone(client: TestClient, team: Team) -> None:
    alice, bob = team.header(team.agent), team.header(team.other_agent)
    r = client.patch(f"{V1}/me", headers=alice, json={"language": "th", "time_zone": "Asia/Bangkok"})
    assert r.status_code == 200, r.text
    assert r.json()["language"] == "th" and r.json()["time_zone"] == "Asia/Bangkok" and r.json()["login"] == "alice"
    again = client.get(f"{V1}/me", headers={**alice, "Accept-Language": "ru"}).json()
    assert again["language"] == "th" and again["time_zone"] == "Asia/Bangkok", "the choice wins over the browser"
    assert client.get(f"{V1}/me", headers=bob).json()["language"] == "en", "only their own record"
    only_zone = client.patch(f"{V1}/me", headers=alice, json={"time_zone": "Europe/Moscow"}).json()
    assert only_zone["language"] == "th" and only_zone["time_zone"] == "Europe/Moscow", "fields not sent stay"
    reset = client.patch(f"{V1}/me", headers={**alice, "Accept-Language": "ru"}, json={"language": None}).json()
    assert reset["language"] == "ru", "null: the browser decides again"


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"language": "Russian"}, "language", "did you mean 'ru'?"),
        ({"language": "de"}, "language", "use one of en, ru, th"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "not an IANA time zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone", "not an IANA time zone"),
        ({"time_zone": "localtime"}, "time_zone", "not an IANA time zone"),
        ({"language": 7}, "language", ""),
        ({"role": "admin"}, "role", ""),
        ({"display_name": "Alice the Great"}, "display_name", ""),
    ],
)
def test_unknown_languages_zones_and_other_fields_are_422(
    client: TestClient, team: Team, body: dict[str, object], field: str, words: str
) -> None:
    r = client.patch(f"{V1}/me", headers=team.header(team.agent), json=body)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
    errors = {e["field"]: e["detail"] for e in r.json()["errors"]}
    assert field in errors and words in errors[field], errors
    me = client.get(f"{V1}/me", headers=team.header(team.agent)).json()
    assert me["role"] == "agent" and me["display_name"] == "Alice" and me["language"] == "en"


def test_the_console_session_changes_preferences_with_its_csrf_token(client: TestClient, team: Team) -> None:
    async def give_password() -> None:
        agents = AgentService()
        alice = await agents.by_login("alice")
        assert alice is not None
        await agents.set_password(alice.id, hash_password("correct horse battery"))

    client.portal.call(give_password)
    csrf = client.post(f"{V1}/session", json={"login": "alice", "password": "correct horse battery"}).json()
    assert client.patch(f"{V1}/me", json={"language": "ru"}).status_code == 403, "no CSRF token: refused"
    r = client.patch(f"{V1}/me", json={"language": "ru"}, headers={"X-CSRF-Token": csrf["csrf_token"]})
    assert r.status_code == 200 and r.json()["language"] == "ru"
    assert client.get(f"{V1}/me").json()["language"] == "ru"


def test_the_default_time_zone_is_the_business_calendars(tmp_path: Path, database_url: str) -> None:
    config = tmp_path / "helpline.toml"
    config.write_text(
        '[sla]\n[[sla.calendars]]\nname = "bangkok"\ntimezone = "Asia/Bangkok"\nhours = {mon = ["09:00-18:00"]}\n'
        '[[sla.calendars]]\nname = "moscow"\ntimezone = "Europe/Moscow"\nhours = {mon = ["09:00-18:00"]}\n',
        encoding="utf-8",
    )
    settings = load_settings(config, environ={"HELPLINE_DATABASE_URL": database_url})
    with TestClient(create_app(settings)) as client:

        async def make() -> str:
            agents = AgentService()
            agent = await agents.create(login="somchai", display_name="สมชาย", role=Role.AGENT)
            return (await agents.issue_token(agent.id))[1]

        token = client.portal.call(make)
        me = client.get(f"{V1}/me", headers={"Authorization": f"Bearer {token}", "Accept-Language": "th-TH"}).json()
        assert me["time_zone"] == "Asia/Bangkok" and me["language"] == "th" and me["display_name"] == "สมชาย"
