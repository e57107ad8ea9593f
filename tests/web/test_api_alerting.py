"""Alerting in the running app: the SLA event subscription, the dispatcher task, acks by SMS reply and Slack
button through the signed webhooks (forgeries refused), /api/v1/oncall, overrides and /api/v1/alerts."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from notify.models import Alert
from notify.schedule import WEEKDAYS
from tests.support.notify import IVAN, OLGA, notify_raw
from tests.support.notify_fakes import AUTH_TOKEN, SIGNING_SECRET, FakeSlack, FakeTwilio
from tests.support.servers import Team
from tests.support.waiting import wait_until
from tickets.agent_service import AgentService
from tickets.events import SlaBreached
from tickets.models import Role
from web.app import create_app
from web.runtime import runtime_of
from web.settings import Settings

V1 = "/api/v1"
PUBLIC = "https://helpline.example.com"


def ivan_on_call(notify: dict[str, Any]) -> dict[str, Any]:
    """``notify`` with its weekly rotations turned so that ivan is on call for it-primary (olga for it-secondary)
    from 3 days before the run's clock to 4 days after it, whatever the date: the alerts here go to "whoever is on
    call" in a running app, on the real clock. (The rotation itself is tested on a set clock in
    test_notify_schedule.py.)"""
    first = (datetime.now(ZoneInfo("Europe/Moscow")) - timedelta(days=3)).date()  # ivan's turn began that day
    for schedule in notify["schedules"]:
        schedule["rotation"].update(start=first.isoformat(), handoff=f"{WEEKDAYS[first.weekday()]} 09:00")
    return notify


@pytest.fixture
def app_client(database_url: str, fake_twilio: FakeTwilio, fake_slack: FakeSlack) -> Iterator[TestClient]:
    settings = Settings.model_validate(
        {
            "database": {"url": database_url},
            "web": {"public_url": PUBLIC},
            "notify": ivan_on_call(notify_raw(fake_twilio.url, fake_slack.url)),
        }
    )  # type: ignore[attr-defined]
    with TestClient(create_app(settings), raise_server_exceptions=True) as client:
        yield client


def team_of(client: TestClient) -> Team:
    async def make() -> Team:
        agents = AgentService()
        out = {}
        for login, role in (("ada", Role.ADMIN), ("sam", Role.SUPERVISOR), ("alice", Role.AGENT), ("bob", Role.AGENT)):
            agent = await agents.create(login=login, display_name=login.title(), role=role)
            out[login] = (await agents.issue_token(agent.id))[1]
        return Team(out["ada"], out["sam"], out["alice"], out["bob"])

    return client.portal.call(make)


@pytest.fixture
def tokens(app_client: TestClient) -> Team:
    return team_of(app_client)


def p1_breach(client: TestClient, team: Team, title: str = "VPN down for Finance") -> dict[str, Any]:
    r = client.post(
        f"{V1}/tickets", headers=team.header(team.agent), json={"title": title, "impact": "high", "urgency": "high"}
    )
    assert r.status_code == 201, r.text
    ticket = r.json()
    event = SlaBreached(ticket["id"], ticket["number"], "resolution", datetime.now(UTC), "p1")
    for handler in runtime_of(client.app).scheduler.handlers:  # as the SLA scheduler does for a breach
        client.portal.call(handler, event)
    return ticket


def twilio_post(client: TestClient, path: str, params: dict[str, str], token: str = AUTH_TOKEN) -> Any:
    signature = RequestValidator(token).compute_signature(PUBLIC + path, params)
    return client.post(
        path,
        content=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )


def slack_post(
    client: TestClient, payload: dict[str, Any], *, secret: str = SIGNING_SECRET, age: int = 0, tamper: bool = False
) -> Any:
    body = urlencode({"payload": json.dumps(payload)})
    ts = str(int(time.time()) - age)
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    if tamper:
        body = body.replace("U024BE7LH", "U000EVIL0")
    return client.post(
        f"{V1}/webhooks/slack/interactions",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sig,
        },
    )


def button(alert_id: int, user: str = "U024BE7LH") -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "someone"},
        "channel": {"id": "C0ITONCALL", "name": "it-oncall"},
        "actions": [{"action_id": "ack", "value": str(alert_id), "type": "button"}],
    }


def alerts(client: TestClient, team: Team) -> list[dict[str, Any]]:
    r = client.get(f"{V1}/alerts", headers=team.header(team.agent))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_breach_is_sent_and_acknowledged_by_sms_reply(
    app_client: TestClient, tokens: Team, fake_twilio: FakeTwilio, fake_slack: FakeSlack
) -> None:
    c = app_client
    ticket = p1_breach(c, tokens)
    wait_until(lambda: fake_twilio.to(IVAN) and len(fake_slack.posts) == 2)
    # the dispatcher records each outcome after the provider answers: wait for the rows, not only the requests
    wait_until(
        lambda: (
            {d["status"] for d in alerts(c, tokens)[0]["deliveries"] if d["round"] == 0 and d["step"] == 0} == {"sent"}
        )
    )
    code = ticket["number"].split("-")[1]
    path = f"{V1}/webhooks/twilio/sms"

    # forged: wrong token, tampered body -> 403, nothing changes
    assert twilio_post(c, path, {"From": IVAN, "Body": code}, token="not-the-token").status_code == 403
    forged = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + path, {"From": IVAN, "Body": "999"})
    r = c.post(
        path,
        content=urlencode({"From": IVAN, "Body": code}),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": forged},
    )
    assert r.status_code == 403
    assert runtime_of(c.app).webhook_stats.forged()["twilio"] == 2  # type: ignore[attr-defined]
    # a stranger, and a stale code, change nothing
    assert "not on the on-call list" in twilio_post(c, path, {"From": "+15005550006", "Body": code}).text
    assert "no open alert for 77" in twilio_post(c, path, {"From": IVAN, "Body": "77"}).text
    assert alerts(c, tokens)[0]["state"] == "open"

    r = twilio_post(c, path, {"From": IVAN, "Body": f"ACK {code}"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    assert f"acknowledged {ticket['number']}" in r.text and "Иван Петров" in r.text
    alert = alerts(c, tokens)[0]
    assert alert["state"] == "acknowledged" and alert["acknowledged_by"] == "ivan" and alert["ack_channel"] == "sms"
    assert {d["status"] for d in alert["deliveries"] if d["round"] == 0 and d["step"] == 0} == {"sent"}
    assert {d["status"] for d in alert["deliveries"] if d["step"] > 0} == {"cancelled"}
    wait_until(lambda: len(fake_slack.updates) == 2)  # both Slack messages now say who acknowledged
    history = c.get(f"{V1}/tickets/{ticket['number']}/activity", headers=tokens.header(tokens.agent)).json()["items"]
    bodies = [h.get("body") or "" for h in history]
    assert any(b.startswith("Alert acknowledged by ivan (sms)") for b in bodies)
    assert sum(" sent (" in b for b in bodies) == 3
    # a second reply changes nothing
    assert "no open alert" in twilio_post(c, path, {"From": IVAN, "Body": code}).text


def test_slack_button_acknowledges_and_forgeries_are_refused(
    app_client: TestClient, tokens: Team, fake_slack: FakeSlack
) -> None:
    c = app_client
    p1_breach(c, tokens)
    wait_until(lambda: len(fake_slack.posts) == 2)
    alert_id = alerts(c, tokens)[0]["id"]
    assert slack_post(c, button(alert_id), secret="wrong").status_code == 401
    assert slack_post(c, button(alert_id), age=301).status_code == 401  # a replay after 5 minutes
    assert slack_post(c, button(alert_id), tamper=True).status_code == 401
    assert runtime_of(c.app).webhook_stats.forged()["slack"] == 3  # type: ignore[attr-defined]
    assert alerts(c, tokens)[0]["state"] == "open"

    assert slack_post(c, button(alert_id)).status_code == 200
    alert = alerts(c, tokens)[0]
    assert alert["state"] == "acknowledged" and alert["acknowledged_by"] == "ivan" and alert["ack_channel"] == "slack"
    wait_until(lambda: len(fake_slack.updates) == 2)
    update = fake_slack.updates[0]
    assert "acknowledged by ivan" in update["text"]
    assert all(e["action_id"] != "ack" for b in update["blocks"] if b["type"] == "actions" for e in b["elements"])


def test_status_callback_and_permanent_errors_are_shown(
    app_client: TestClient, tokens: Team, fake_twilio: FakeTwilio, fake_slack: FakeSlack
) -> None:
    c = app_client
    fake_slack.channels.pop("#it-oncall")  # the channel was deleted: channel_not_found
    p1_breach(c, tokens)
    wait_until(lambda: fake_twilio.to(IVAN))
    alert = wait_until(lambda: [a for a in alerts(c, tokens) if a["last_error"]])[0]
    assert "channel_not_found" in alert["last_error"]
    failed = [d for d in alert["deliveries"] if d["status"] == "failed"]
    assert [(d["target"], d["error_code"], d["attempts"]) for d in failed] == [("#it-oncall", "channel_not_found", 1)]
    ready = c.get(f"{V1}/status", headers=tokens.header(tokens.supervisor)).json()
    assert ready["status"] == "degraded" and "slack channel_not_found" in ready["checks"]["alerting"]

    sid = fake_twilio.to(IVAN)[0]["sid"]
    status = twilio_post(
        c, f"{V1}/webhooks/twilio/status", {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    )
    assert status.status_code == 204
    sms = next(d for d in alerts(c, tokens)[0]["deliveries"] if d["provider_id"] == sid)
    assert sms["provider_status"] == "undelivered" and sms["error_code"] == "30003"


def test_oncall_and_overrides(app_client: TestClient, tokens: Team) -> None:
    c = app_client
    r = c.get(f"{V1}/oncall", headers=tokens.header(tokens.agent))
    assert r.status_code == 200
    body = r.json()
    primary = next(s for s in body["schedules"] if s["name"] == "it-primary")
    assert primary["timezone"] == "Europe/Moscow" and primary["now"] in ("ivan", "olga")
    assert primary["shifts"][0]["start"] == body["at"] and primary["shifts"][-1]["end"] == body["until"]
    assert {s["person"] for s in primary["shifts"]} == {"ivan", "olga"}  # two weeks: both take a turn

    now = datetime.now(UTC)
    swap = {
        "schedule": "it-primary",
        "person": "maria",
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=5)).isoformat(),
        "reason": "swap",
    }
    assert c.post(f"{V1}/oncall/overrides", headers=tokens.header(tokens.agent), json=swap).status_code == 403
    r = c.post(f"{V1}/oncall/overrides", headers=tokens.header(tokens.supervisor), json=swap)
    assert r.status_code == 201, r.text
    primary = next(
        s
        for s in c.get(f"{V1}/oncall", headers=tokens.header(tokens.agent)).json()["schedules"]
        if s["name"] == "it-primary"
    )
    assert primary["now"] == "maria" and primary["shifts"][0]["override"] is True
    bad = c.post(f"{V1}/oncall/overrides", headers=tokens.header(tokens.supervisor), json={**swap, "person": "nobody"})
    assert bad.status_code == 422
    assert (
        c.delete(f"{V1}/oncall/overrides/{r.json()['id']}", headers=tokens.header(tokens.supervisor)).status_code == 200
    )
    assert c.get(f"{V1}/oncall/overrides", headers=tokens.header(tokens.agent)).json()["items"] == []


def test_ack_by_api(app_client: TestClient, tokens: Team, fake_twilio: FakeTwilio) -> None:
    c = app_client
    ticket = p1_breach(c, tokens)
    wait_until(lambda: fake_twilio.to(IVAN))
    alert_id = alerts(c, tokens)[0]["id"]
    r = c.post(f"{V1}/alerts/{alert_id}/ack", headers=tokens.header(tokens.agent))
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "alice"
    assert c.post(f"{V1}/alerts/{alert_id}/ack", headers=tokens.header(tokens.agent)).status_code == 409
    history = c.get(f"{V1}/tickets/{ticket['number']}/activity", headers=tokens.header(tokens.agent)).json()["items"]
    assert [
        (h["actor"], h["kind"]) for h in history if (h["body"] or "").startswith("Alert acknowledged by alice (api)")
    ] == [("alice", "comment")]
    assert OLGA not in {m["to"] for m in fake_twilio.messages}


def test_slack_members_given_by_email_are_looked_up_once(app_client: TestClient) -> None:
    people = runtime_of(app_client.app).alerting.alerts.roster.people  # type: ignore[attr-defined]
    assert people["petr"].slack_user == "U0PETR"
    assert people["ghost"].slack_user is None and people["ghost"].slack_email is None  # users_not_found: not again


@contextmanager
def acking_from(
    database_url: str, fake_twilio: FakeTwilio, fake_slack: FakeSlack, ack_from: str
) -> Iterator[tuple[TestClient, Team]]:
    """The app with [notify.slack] ack_from = ``ack_from``, and a team of agents."""
    raw = notify_raw(fake_twilio.url, fake_slack.url)  # type: ignore[attr-defined]
    raw["slack"]["ack_from"] = ack_from
    settings = Settings.model_validate(
        {"database": {"url": database_url}, "web": {"public_url": PUBLIC}, "notify": raw}
    )
    with TestClient(create_app(settings), raise_server_exceptions=True) as client:
        yield client, team_of(client)


def posted_to_the_channel(fake_slack: FakeSlack) -> bool:
    """The alert is in #it-oncall (whoever is on call this week: only ivan also gets a DM)."""
    return any(p["channel"] == "C0ITONCALL" for p in fake_slack.posts)


def acknowledged_in_history(c: TestClient, team: Team, number: str) -> list[str]:
    items = c.get(f"{V1}/tickets/{number}/activity", headers=team.header(team.agent)).json()["items"]
    return [h["body"] for h in items if (h["body"] or "").startswith("Alert acknowledged")]


def test_slack_acks_only_from_people_on_the_on_call_list_by_default(
    app_client: TestClient, tokens: Team, fake_slack: FakeSlack
) -> None:
    """Anybody in #it-oncall could acknowledge; now a stranger's click changes nothing and tells them why (them
    only), and the alert records both the on-call person and the Slack user who did acknowledge."""
    c = app_client
    ticket = p1_breach(c, tokens)
    wait_until(lambda: posted_to_the_channel(fake_slack))
    alert_id = alerts(c, tokens)[0]["id"]
    assert slack_post(c, button(alert_id, user="U0STRANGER")).status_code == 200
    (told,) = wait_until(lambda: fake_slack.ephemerals)
    assert (told["channel"], told["user"]) == ("C0ITONCALL", "U0STRANGER") and "on-call list" in told["text"]
    assert alerts(c, tokens)[0]["state"] == "open" and acknowledged_in_history(c, tokens, ticket["number"]) == []
    assert runtime_of(c.app).webhook_stats.rejected[("slack_interactions", "ack_refused")] == 1

    assert slack_post(c, button(alert_id)).status_code == 200  # ivan, on the list
    alert = alerts(c, tokens)[0]
    assert (alert["state"], alert["acknowledged_by"], alert["acknowledged_via"], alert["ack_channel"]) == (
        "acknowledged",
        "ivan",
        "Slack user U024BE7LH (@someone)",
        "slack",
    )
    assert acknowledged_in_history(c, tokens, ticket["number"]) == [
        f"Alert acknowledged by ivan (slack: Slack user U024BE7LH (@someone)): {alert['reason']}"
    ]
    assert len(fake_slack.ephemerals) == 1


def test_slack_acks_from_whoever_is_on_call(database_url: str, fake_twilio: FakeTwilio, fake_slack: FakeSlack) -> None:
    """ack_from = "on_call": petr is on the list (his Slack id looked up by e-mail) but on call nowhere and not
    paged for the alert; ivan is put on call by an override, so whatever the week he may."""
    with acking_from(database_url, fake_twilio, fake_slack, "on_call") as (c, team):
        now = datetime.now(UTC)
        swap = {
            "schedule": "it-primary",
            "person": "ivan",
            "start": (now - timedelta(hours=1)).isoformat(),
            "end": (now + timedelta(hours=5)).isoformat(),
            "reason": "test",
        }
        assert c.post(f"{V1}/oncall/overrides", headers=team.header(team.supervisor), json=swap).status_code == 201
        p1_breach(c, team)
        wait_until(lambda: posted_to_the_channel(fake_slack))
        alert_id = alerts(c, team)[0]["id"]
        assert slack_post(c, button(alert_id, user="U0PETR")).status_code == 200
        (told,) = wait_until(lambda: fake_slack.ephemerals)
        assert told["user"] == "U0PETR" and "on call now" in told["text"]
        assert alerts(c, team)[0]["state"] == "open"
        assert slack_post(c, button(alert_id, user="U0STRANGER")).status_code == 200  # not even on the list
        wait_until(lambda: len(fake_slack.ephemerals) == 2)
        assert alerts(c, team)[0]["state"] == "open"
        assert slack_post(c, button(alert_id)).status_code == 200
        alert = alerts(c, team)[0]
        assert (alert["state"], alert["acknowledged_by"]) == ("acknowledged", "ivan")


def test_slack_acks_from_anyone_when_configured(
    database_url: str, fake_twilio: FakeTwilio, fake_slack: FakeSlack
) -> None:
    with acking_from(database_url, fake_twilio, fake_slack, "anyone") as (c, team):
        ticket = p1_breach(c, team)
        wait_until(lambda: posted_to_the_channel(fake_slack))
        alert_id = alerts(c, team)[0]["id"]
        assert slack_post(c, button(alert_id, user="U0STRANGER")).status_code == 200
        alert = alerts(c, team)[0]
        assert (alert["state"], alert["acknowledged_by"], alert["acknowledged_via"]) == (
            "acknowledged",
            "slack:U0STRANGER",
            "Slack user U0STRANGER (@someone)",
        )
        assert acknowledged_in_history(c, team, ticket["number"]) == [
            f"Alert acknowledged by slack:U0STRANGER (slack: Slack user U0STRANGER (@someone)): {alert['reason']}"
        ]
        assert fake_slack.ephemerals == []


def test_an_sla_event_reaches_alerting_once(app_client: TestClient, tokens: Team) -> None:
    """As the process is wired (web/runtime/subscriptions.py): a breach opens its alert inside the SLA scheduler's
    transaction, and the same event published after the commit (to the console, metrics) does not reach alerting
    a second time. Before the composition root, alerting also heard every SLA event after the commit."""
    runtime = runtime_of(app_client.app)
    assert runtime.alerting is not None
    alerts = runtime.alerting.alerts
    opened: list[str] = []
    open_alert = alerts.open

    async def counting_open(ticket_id: int, event: str, *args: Any, **kwargs: Any) -> Any:
        opened.append(event)
        return await open_alert(ticket_id, event, *args, **kwargs)

    alerts.open = counting_open  # type: ignore[method-assign]
    ticket = p1_breach(app_client, tokens)  # the scheduler's handlers, as for a breach it records
    event = SlaBreached(ticket["id"], ticket["number"], "resolution", datetime.now(UTC), "p1")
    app_client.portal.call(runtime.bus.publish, event)  # what the scheduler publishes after its commit
    assert opened == ["sla.breached"]
    assert app_client.portal.call(Alert.filter(ticket_id=ticket["id"]).count) == 1
