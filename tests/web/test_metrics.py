"""/metrics on both databases: a recorded Asterisk session replayed to the real app, then scraped.

The exposition is parsed with prometheus_client's own parser (so it is valid), and the call and ticket counters
are compared with the recording's ground truth (``*.calls.jsonl``) and with what the database holds.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from notify.models import Delivery, DeliveryStatus
from pbx.replay import ReplayServer
from tests.support.ami import AMI, SECRET, USER
from tests.support.notify import notify_raw
from tests.support.notify_fakes import FakeSlack, FakeTwilio, LoopbackServer
from tests.support.samba import SambaAD, directory_environ
from tests.support.telephony import OUTCOME, running, settings_for, until_replayed
from tests.support.waiting import eventually
from tickets.actor import Actor
from tickets.agent_service import AgentService
from tickets.models import Call, Role, Ticket
from web.runtime import runtime_of
from web.settings import Settings, load_settings

RECORDING, TRUTH = "c_concurrent20_mixed.raw", "c_concurrent20_mixed.calls.jsonl"


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)], through prometheus_client's parser (raises on invalid exposition)."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def by(samples: list[tuple[dict[str, str], float]], label: str) -> dict[str, float]:
    out: Counter[str] = Counter()
    for labels, value in samples:
        out[labels[label]] += value
    return dict(out)


def one(samples: dict[str, Any], name: str, **labels: str) -> float:
    found = [v for lab, v in samples.get(name, []) if all(lab.get(k) == w for k, w in labels.items())]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


async def scrape(client: httpx.AsyncClient, **headers: str) -> dict[str, Any]:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_metrics_count_the_calls_and_tickets_of_a_replayed_recording(database_url: str) -> None:
    truth = [json.loads(line) for line in (AMI / TRUTH).read_text().splitlines()]
    expected_outcomes = Counter(OUTCOME[row["outcome"]] for row in truth)
    async with ReplayServer([AMI / RECORDING], username=USER, secret=SECRET) as server:
        async with running(settings_for(database_url, server.port)) as app:
            await until_replayed(server, app, len(truth))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://helpline") as client:
                m = await scrape(client)
                opened_in_db = await Call.filter(opened_ticket=True).count()
                tickets_in_db = await Ticket.all().count()

    assert by(m["helpline_calls_ended_total"], "outcome") == dict(expected_outcomes)
    offered = by(m["helpline_calls_offered_total"], "ticket")
    assert sum(offered.values()) == len(truth)
    assert offered.get("opened", 0) == opened_in_db == tickets_in_db
    assert offered.get("linked", 0) == len(truth) - opened_in_db
    waits = m["helpline_call_wait_seconds_count"]
    assert sum(v for _, v in waits) == len(truth)
    assert one(m, "helpline_ami_up", pbx="main") == 1
    assert one(m, "helpline_ami_state", pbx="main", state="connected") == 1
    assert one(m, "helpline_ami_events_received_total", pbx="main") > 0
    assert one(m, "helpline_ami_events_ignored_total", pbx="main") > 0
    assert one(m, "helpline_ami_malformed_frames_total", pbx="main") == 0
    assert one(m, "helpline_ami_logins_total", pbx="main") == 1
    assert one(m, "helpline_ami_reconnects_total", pbx="main") == 0
    lookups = by(m["helpline_caller_lookups_total"], "status")
    assert sum(lookups.values()) >= len(truth) and set(lookups) <= {"unique", "ambiguous", "none"}
    assert one(m, "helpline_metrics_database_up") == 1
    assert one(m, "helpline_live_subscribers") == 0


async def test_http_requests_are_labelled_by_route_template_and_carry_a_request_id(database_url: str) -> None:
    settings = Settings.model_validate({"database": {"url": database_url}})
    async with running(settings) as app:
        agent = await AgentService().create(login="ada", display_name="Ada", role=Role.ADMIN)
        token = (await AgentService().issue_token(agent.id))[1]
        auth = {"Authorization": f"Bearer {token}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://helpline") as client:
            for ref in ("IT-9", "IT-10", "77"):
                assert (await client.get(f"/api/v1/tickets/{ref}", headers=auth)).status_code == 404
            for path in ("/no/such/a", "/no/such/b"):
                assert (await client.get(path)).status_code == 404
            ok = await client.get("/healthz", headers={"X-Request-ID": "trace-42"})
            assert ok.headers["x-request-id"] == "trace-42"
            minted = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
            assert minted.headers["x-request-id"] not in ("", "bad id\twith spaces")
            assert minted.headers["x-request-id"] != (await client.get("/healthz")).headers["x-request-id"]
            m = await scrape(client)

    requests = {(lab["method"], lab["route"], lab["status"]): v for lab, v in m["helpline_http_requests_total"]}
    assert requests[("GET", "/api/v1/tickets/{ref}", "404")] == 3
    assert requests[("GET", "(unmatched)", "404")] == 2
    assert requests[("GET", "/healthz", "200")] == 3
    assert not any("IT-9" in route or "/no/such" in route for _, route, _ in requests), "raw paths are not labels"
    assert one(m, "helpline_http_request_duration_seconds_count", method="GET", route="/api/v1/tickets/{ref}") == 3


async def test_metrics_can_require_a_token_and_a_client_network(database_url: str) -> None:
    token = "metrics-token-0123456789"
    settings = Settings.model_validate(
        {"database": {"url": database_url}, "web": {"metrics_token": token, "metrics_allow": ["127.0.0.0/8"]}}
    )
    async with running(settings) as app:
        local = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        remote = httpx.ASGITransport(app=app, client=("192.0.2.7", 40000))
        async with httpx.AsyncClient(transport=local, base_url="http://helpline") as client:
            assert (await client.get("/metrics")).status_code == 403
            assert (
                await client.get("/metrics", headers={"Authorization": "Bearer wrong-token-000000"})
            ).status_code == 403
            assert "helpline_build_info" in await scrape(client, Authorization=f"Bearer {token}")
        async with httpx.AsyncClient(transport=remote, base_url="http://helpline") as client:
            assert (await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})).status_code == 403


# -- SLA events and alert deliveries, through the real scheduler and dispatcher to the Twilio and Slack fakes ------


@pytest.fixture
def provider_urls() -> Iterator[tuple[str, str]]:
    servers = [LoopbackServer(FakeTwilio().app()).start(), LoopbackServer(FakeSlack().app()).start()]
    try:
        yield servers[0].url, servers[1].url
    finally:
        for server in servers:
            server.stop()


async def test_sla_warnings_breaches_and_alert_deliveries_are_counted(
    database_url: str, provider_urls: tuple[str, str]
) -> None:
    twilio_url, slack_url = provider_urls
    notify = notify_raw(twilio_url, slack_url)
    notify["policies"] = [
        {
            "name": "sla",
            "match": {"event": ["sla.warning", "sla.breached"]},
            "steps": [{"after": "0m", "notify": ["person:olga", "slack:#it-oncall"]}],
        }
    ]
    settings = Settings.model_validate(
        {
            "database": {"url": database_url},
            "notify": notify,
            "sla": {"policies": [{"name": "fast", "first_response": "2s", "warn_at": [50]}]},
        }
    )
    async with running(settings) as app:
        await runtime_of(app).tickets.create(Actor.system("test"), title="The printer is on fire")
        sent = Delivery.filter(status=DeliveryStatus.SENT)
        await eventually(lambda: _count_at_least(sent, 4), what="4 deliveries sent")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://helpline") as client:
            m = await scrape(client)
    assert one(m, "helpline_sla_warnings_total", metric="first_response") == 1
    assert one(m, "helpline_sla_breaches_total", metric="first_response") == 1
    assert one(m, "helpline_sla_events_fired_total") == 2
    assert one(m, "helpline_deliveries", channel="sms", status="sent") == 2
    assert one(m, "helpline_deliveries", channel="slack", status="sent") == 2
    assert one(m, "helpline_notify_sent_total") == 4
    assert one(m, "helpline_notify_failed_total") == 0


async def _count_at_least(query: Any, n: int) -> bool:
    return bool(await query.count() >= n)


# -- the directory: sync age and lookups by result, against the Samba AD DC ------------------------------------------


async def test_directory_sync_age_and_lookup_results(database_url: str, samba_ad: SambaAD) -> None:
    settings = load_settings(environ={**directory_environ(samba_ad), "HELPLINE_DATABASE_URL": database_url})
    async with running(settings) as app:
        report = await runtime_of(app).directory.run_sync()  # (the app's start-up sync may be under way: one waits)
        assert report.ok, report.summary()
        intake = runtime_of(app).intake
        assert (await intake.identify("+15551230001")).status.value == "unique"
        assert (await intake.identify("+15559999999")).status.value == "none"
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://helpline") as client:
            m = await scrape(client)
    assert 0 <= one(m, "helpline_directory_sync_age_seconds") < 60
    assert one(m, "helpline_directory_last_sync_ok") == 1
    lookups = {lab["status"]: v for lab, v in m["helpline_caller_lookups_total"]}
    assert lookups == {"unique": 1, "none": 1}
