"""Alerting in the running app: the SLA event subscription, the dispatcher task, acks by SMS reply and Slack
button through the signed webhooks (forgeries refused), /api/v1/oncall, overrides and /api/v1/alerts."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from notify.schedule import WEEKDAYS
from tests.conftest import Team
from tests.notify_fakes import AUTH_TOKEN, SIGNING_SECRET, FakeSlack, FakeTwilio
from tests.notify_support import IVAN, OLGA, fake_slack, fake_twilio, notify_raw  # noqa: F401
from tests.waiting import wait_until
from tickets.agent_service import AgentService
from tickets.events import SlaBreached
from tickets.models import Role
from web.app import create_app
from web.config import Settings

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
    settings = Settings.model_validate({
        "database": {"url": database_url}, "web": {"public_url": PUBLIC},
        "notify": ivan_on_call(notify_raw(fake_twilio.url, fake_slack.url))})  # type: ignore[attr-defined]
    with TestClient(create_app(settings), raise_server_exceptions=True) as client:
        yield client


@pytest.fixture
def tokens(app_client: TestClient) -> Team:
    async def make() -> Team:
        agents = AgentService()
        out = {}
        for login, role in (("ada", Role.ADMIN), ("sam", Role.SUPERVISOR), ("alice", Role.AGENT), ("bob", Role.AGENT)):
            agent = await agents.create(login=login, display_name=login.title(), role=role)
            out[login] = (await agents.issue_token(agent.id))[1]
        return Team(out["ada"], out["sam"], out["alice"], out["bob"])

    return app_client.portal.call(make)


def p1_breach(client: TestClient, team: Team, title: str = "VPN down for Finance") -> dict[str, Any]:
    r = client.post(f"{V1}/tickets", headers=team.header(team.agent),
                    json={"title": title, "impact": "high", "urgency": "high"})
    assert r.status_code == 201, r.text
    ticket = r.json()
    services = client.app.state.services  # type: ignore[attr-defined]
    event = SlaBreached(ticket["id"], ticket["number"], "resolution", datetime.now(timezone.utc), "p1")
    client.portal.call(services.tickets.publish, event)  # as the SLA scheduler does after its commit
    return ticket


def twilio_post(client: TestClient, path: str, params: dict[str, str], token: str = AUTH_TOKEN) -> Any:
    signature = RequestValidator(token).compute_signature(PUBLIC + path, params)
    return client.post(path, content=urlencode(params), headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})


def slack_post(client: TestClient, payload: dict[str, Any], *, secret: str = SIGNING_SECRET,
               age: int = 0, tamper: bool = False) -> Any:
    body = urlencode({"payload": json.dumps(payload)})
    ts = str(int(time.time()) - age)
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    if tamper:
        body = body.replace("U024BE7LH", "U000EVIL0")
    return client.post(f"{V1}/webhooks/slack/interactions", content=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sig})


def button(alert_id: int, user: str = "U024BE7LH") -> dict[str, Any]:
    return {"type": "block_actions", "user": {"id": user, "username": "someone"},
            "actions": [{"action_id": "ack", "value": str(alert_id), "type": "button"}]}


def alerts(client: TestClient, team: Team) -> list[dict[str, Any]]:
    r = client.get(f"{V1}/alerts", headers=team.header(team.agent))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_breach_is_sent_and_acknowledged_by_sms_reply(app_client: TestClient, tokens: Team,
                                                      fake_twilio: FakeTwilio, fake_slack: FakeSlack) -> None:
    c = app_client
    ticket = p1_breach(c, tokens)
    wait_until(lambda: fake_twilio.to(IVAN) and len(fake_slack.posts) == 2)
    # the dispatcher records each outcome after the provider answers: wait for the rows, not only the requests
    wait_until(lambda: {d["status"] for d in alerts(c, tokens)[0]["deliveries"]
                      if d["round"] == 0 and d["step"] == 0} == {"sent"})
    code = ticket["number"].split("-")[1]
    path = f"{V1}/webhooks/twilio/sms"

    # forged: wrong token, tampered body -> 403, nothing changes
    assert twilio_post(c, path, {"From": IVAN, "Body": code}, token="not-the-token").status_code == 403
    forged = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + path, {"From": IVAN, "Body": "999"})
    r = c.post(path, content=urlencode({"From": IVAN, "Body": code}),
               headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": forged})
    assert r.status_code == 403
    assert c.app.state.notify.forged["twilio"] == 2  # type: ignore[attr-defined]
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


def test_slack_button_acknowledges_and_forgeries_are_refused(app_client: TestClient, tokens: Team,
                                                             fake_slack: FakeSlack) -> None:
    c = app_client
    p1_breach(c, tokens)
    wait_until(lambda: len(fake_slack.posts) == 2)
    alert_id = alerts(c, tokens)[0]["id"]
    assert slack_post(c, button(alert_id), secret="wrong").status_code == 401
    assert slack_post(c, button(alert_id), age=301).status_code == 401  # a replay after 5 minutes
    assert slack_post(c, button(alert_id), tamper=True).status_code == 401
    assert c.app.state.notify.forged["slack"] == 3  # type: ignore[attr-defined]
    assert alerts(c, tokens)[0]["state"] == "open"

    assert slack_post(c, button(alert_id)).status_code == 200
    alert = alerts(c, tokens)[0]
    assert alert["state"] == "acknowledged" and alert["acknowledged_by"] == "ivan" and alert["ack_channel"] == "slack"
    wait_until(lambda: len(fake_slack.updates) == 2)
    update = fake_slack.updates[0]
    assert "acknowledged by ivan" in update["text"]
    assert all(e["action_id"] != "ack" for b in update["blocks"] if b["type"] == "actions" for e in b["elements"])


def test_status_callback_and_permanent_errors_are_shown(app_client: TestClient, tokens: Team,
                                                        fake_twilio: FakeTwilio, fake_slack: FakeSlack) -> None:
    c = app_client
    fake_slack.channels.pop("#it-oncall")  # the channel was deleted: channel_not_found
    p1_breach(c, tokens)
    wait_until(lambda: fake_twilio.to(IVAN))
    alert = wait_until(lambda: [a for a in alerts(c, tokens) if a["last_error"]])[0]
    assert "channel_not_found" in alert["last_error"]
    failed = [d for d in alert["deliveries"] if d["status"] == "failed"]
    assert [(d["target"], d["error_code"], d["attempts"]) for d in failed] == [("#it-oncall", "channel_not_found", 1)]
    ready = c.get("/readyz").json()
    assert ready["status"] == "degraded" and "slack channel_not_found" in ready["checks"]["alerting"]

    sid = fake_twilio.to(IVAN)[0]["sid"]
    status = twilio_post(c, f"{V1}/webhooks/twilio/status",
                         {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"})
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

    now = datetime.now(timezone.utc)
    swap = {"schedule": "it-primary", "person": "maria", "start": (now - timedelta(hours=1)).isoformat(),
            "end": (now + timedelta(hours=5)).isoformat(), "reason": "swap"}
    assert c.post(f"{V1}/oncall/overrides", headers=tokens.header(tokens.agent), json=swap).status_code == 403
    r = c.post(f"{V1}/oncall/overrides", headers=tokens.header(tokens.supervisor), json=swap)
    assert r.status_code == 201, r.text
    primary = next(s for s in c.get(f"{V1}/oncall", headers=tokens.header(tokens.agent)).json()["schedules"]
                   if s["name"] == "it-primary")
    assert primary["now"] == "maria" and primary["shifts"][0]["override"] is True
    bad = c.post(f"{V1}/oncall/overrides", headers=tokens.header(tokens.supervisor), json={**swap, "person": "nobody"})
    assert bad.status_code == 422
    assert c.delete(f"{V1}/oncall/overrides/{r.json()['id']}", headers=tokens.header(tokens.supervisor)).status_code == 200
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
    assert [(h["actor"], h["kind"]) for h in history if (h["body"] or "").startswith("Alert acknowledged by alice (api)")
            ] == [("alice", "comment")]
    assert OLGA not in {m["to"] for m in fake_twilio.messages}


def test_slack_members_given_by_email_are_looked_up_once(app_client: TestClient) -> None:
    people = app_client.app.state.notify.alerts.roster.people  # type: ignore[attr-defined]
    assert people["petr"].slack_user == "U0PETR"
    assert people["ghost"].slack_user is None and people["ghost"].slack_email is None  # users_not_found: not again
