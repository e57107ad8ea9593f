"""Two ``helpline serve`` instances on one PostgreSQL database, both running the SLA scheduler and the alert
dispatcher: every SLA warning and breach is announced once, and every due alert step is delivered exactly once to
the (fake) Twilio and Slack, whichever instance claims it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.support.chaos import admin_token, asyncpg_url, fresh_database, launch, postgres_base, until, until_healthy
from tests.support.notify import FROM, OLGA
from tests.support.notify_fakes import FakeSlack, FakeTwilio, providers_toml

pytestmark = pytest.mark.timeout(90)
TICKETS = 8


def config(path: Path, twilio_url: str, slack_url: str) -> Path:
    """A 2-second first response (warning at 1 s), and every SLA event of a P1 to Olga by SMS and to #it-oncall."""
    path.write_text(f"""
[web]
access_log = false

[[sla.policies]]
name = "fast"
first_response = "2s"
warn_at = [50]

[notify]
lease = "2m"
retry_for = "2h"

{providers_toml(twilio_url, slack_url, FROM)}
[[notify.people]]
name = "olga"
phone = "{OLGA}"
channels = ["sms"]

[[notify.policies]]
name = "sla"
match = {{ event = ["sla.breached", "sla.warning"], priority = ["P1"] }}
steps = [{{ after = "0m", notify = ["person:olga", "slack:#it-oncall"] }}]
""")
    return path


async def deliveries(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_url(url), timeout=5)
    try:
        return await conn.fetch("SELECT alert_id, channel, target, status, provider_id FROM notify_delivery")
    finally:
        await conn.close()


async def test_two_instances_deliver_each_due_alert_step_exactly_once(
    tmp_path: Path, fake_twilio: FakeTwilio, fake_slack: FakeSlack
) -> None:
    fake_twilio.delay = 0.05  # sends overlap: both dispatchers are busy at once
    async with fresh_database(postgres_base()) as url:
        path = config(tmp_path / "helpline.toml", fake_twilio.url, fake_slack.url)  # type: ignore[attr-defined]
        instances = [launch(name, url, path, tmp_path) for name in ("a", "b")]
        try:
            for instance in instances:
                await until_healthy(instance)
            token = await admin_token(url, tmp_path)
            async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {token}"}) as http:
                for i in range(TICKETS):  # on either instance
                    created = await http.post(
                        instances[i % 2].base_url + "/api/v1/tickets",
                        json={"title": f"Outage {i}", "impact": "high", "urgency": "high"},
                    )
                    assert created.status_code == 201, created.text
            want = TICKETS * 2 * 2  # (warning, breach) x (SMS, Slack)

            async def all_sent() -> bool:
                rows = await deliveries(url)
                return len(rows) == want and all(r["status"] == "sent" for r in rows)

            await until(
                "every delivery sent", all_sent, timeout=45, logs=lambda: "\n".join(i.log()[-2000:] for i in instances)
            )
            rows = await deliveries(url)
        finally:
            for instance in instances:
                instance.stop()
    assert len({(r["alert_id"], r["channel"], r["target"]) for r in rows}) == want
    sms = [m for m in fake_twilio.messages if m["to"] == OLGA]
    assert len(sms) == len(fake_twilio.messages) == TICKETS * 2, "one SMS per SLA event, none twice"
    assert len(fake_slack.posts) == TICKETS * 2, "one Slack message per SLA event, none twice"
    assert Counter(r["provider_id"] for r in rows if r["channel"] == "sms") == Counter(m["sid"] for m in sms)
