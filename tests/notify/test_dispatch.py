"""The outbox under trouble: provider outages, rate limits, permanent errors, two dispatchers, a crash mid-send."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from notify.models import Alert, Delivery, DeliveryStatus
from tests.support.notify import IVAN, T0, World
from tests.support.paths import ROOT
from tests.support.waiting import eventually
from tickets.events import SlaBreached
from tickets.models import Activity
from web.settings import Settings


async def open_alert(w: World, title: str = "VPN down for Finance") -> int:
    ticket = await w.p1(title)
    await w.alerts.on_due(SlaBreached(ticket.id, ticket.number, "resolution", T0, "p1"))
    return ticket.id


async def statuses() -> dict[str, int]:
    out: dict[str, int] = {}
    for s in await Delivery.all().values_list("status", flat=True):
        out[str(getattr(s, "value", s))] = out.get(str(getattr(s, "value", s)), 0) + 1
    return out


async def test_an_hour_long_outage_loses_nothing_and_doubles_nothing(world: World) -> None:
    w = world
    for i in range(3):
        await open_alert(w, f"Outage {i}")
    w.twilio.down = w.fake_slack.down = True
    for _ in range(60):  # an hour, a pass a minute; the dispatcher backs off (at most 5 minutes apart)
        await w.dispatcher.run_due()
        w.clock.advance(minutes=1)
    assert w.twilio.messages == [] and w.fake_slack.posts == []
    assert (await statuses()).get("failed") is None
    attempts = await Delivery.filter(step=0, round=0).values_list("attempts", flat=True)
    assert all(5 <= a <= 25 for a in attempts), attempts  # backoff: not every minute, and not given up

    w.twilio.down = w.fake_slack.down = False
    for _ in range(12):
        await w.dispatcher.run_due()
        w.clock.advance(minutes=1)
    # everything that came due during the outage went out, once: 3 alerts x 2 rounds x (2 SMS + 2 Slack + 1 SMS)
    assert await statuses() == {"sent": 30}
    sids = [m["sid"] for m in w.twilio.messages]
    assert len(sids) == 18 == len(set(sids)) and len(w.fake_slack.posts) == 12


async def test_slack_429_retry_after_is_honoured(world: World) -> None:
    w = world
    w.fake_slack.retry_after = 30
    w.fake_slack.fail = [(429, "ratelimited")]
    await open_alert(w)
    await w.dispatcher.run_due()
    limited = await Delivery.get(error_code="ratelimited")
    assert limited.status == DeliveryStatus.QUEUED and limited.next_attempt_at == T0 + timedelta(seconds=30)
    w.clock.advance(seconds=29)
    await w.dispatcher.run_due()
    assert len(w.fake_slack.posts) == 1  # the other Slack message (a DM) went; the limited one waits
    w.clock.advance(seconds=1)
    await w.dispatcher.run_due()
    assert len(w.fake_slack.posts) == 2 and (await Delivery.get(id=limited.id)).status == DeliveryStatus.SENT


async def test_permanent_errors_are_not_retried_and_are_shown(world: World) -> None:
    w = world
    w.twilio.unsubscribed.add(IVAN)  # ivan texted STOP: Twilio 21610
    ticket_id = await open_alert(w)
    await w.dispatcher.run_due()
    w.clock.advance(minutes=5)
    await w.dispatcher.run_due()
    failed = await Delivery.get(channel="sms", target=IVAN, round=0)
    assert failed.status == DeliveryStatus.FAILED and failed.attempts == 1 and failed.error_code == "21610"
    assert w.twilio.requests == 1
    alert = await Alert.get(ticket_id=ticket_id)
    assert alert.last_error is not None and "21610" in alert.last_error
    notes = await Activity.filter(ticket_id=ticket_id, field="alert").values_list("body", flat=True)
    assert any("FAILED" in n and "21610" in n for n in notes)


async def test_transient_errors_give_up_after_retry_for(world: World) -> None:
    w = world
    w.twilio.fail = [(500, 20500)] * 1000
    await open_alert(w)
    for _ in range(14):  # 2h20m in 10-minute strides
        await w.dispatcher.run_due()
        w.clock.advance(minutes=10)
    first = await Delivery.get(channel="sms", target=IVAN, round=0)
    assert first.status == DeliveryStatus.FAILED and first.last_error is not None
    assert first.last_error.startswith("gave up after")


async def test_two_dispatchers_send_each_delivery_once(world: World) -> None:
    w = world
    w.twilio.delay = 0.02  # keep sends in flight while the other dispatcher claims
    for i in range(8):
        await open_alert(w, f"Storm {i}")
    second = w.second_dispatcher()
    w.dispatcher.settings.batch = second.settings.batch = 3
    await asyncio.gather(w.dispatcher.run_due(), second.run_due())
    assert await statuses() == {"sent": 24, "queued": 56}  # round 0 step 0: 8 x (SMS, DM, channel)
    assert len(w.twilio.messages) == 8 and len(w.fake_slack.posts) == 16
    assert w.dispatcher.counters.sent > 0 and second.counters.sent > 0  # both took a share


async def test_a_reply_lost_after_twilio_accepted_is_not_sent_twice(world: World) -> None:
    w = world
    w.twilio.lose_replies = 1  # Twilio took the message, then answered 500
    await open_alert(w)
    await w.dispatcher.run_due()
    assert len(w.twilio.to(IVAN)) == 1
    w.clock.advance(minutes=1)
    await w.dispatcher.run_due()
    sms = await Delivery.get(channel="sms", target=IVAN, round=0)
    assert sms.status == DeliveryStatus.SENT and sms.provider_id == w.twilio.to(IVAN)[0]["sid"]
    assert len(w.twilio.to(IVAN)) == 1 and w.dispatcher.counters.recovered == 1


async def test_process_killed_mid_send_sends_at_most_once(world: World, orm: Settings) -> None:
    """A dispatcher process is SIGKILLed after Twilio accepted its SMS but before the reply; after the lease the
    survivor finds the message at Twilio and records it instead of sending it again."""
    w = world
    await open_alert(w)
    w.twilio.hang_after_accept = 30.0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.notify_crash_worker",
            orm.database.url.get_secret_value(),
            w.twilio.url,
            w.fake_slack.url,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,  # type: ignore[attr-defined]
        stderr=subprocess.PIPE,
    )
    try:

        def accepted() -> bool:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            return bool(w.twilio.to(IVAN))

        await eventually(accepted, what="Twilio accepted the worker's SMS")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    w.twilio.hang_after_accept = 0.0
    sms = await Delivery.get(channel="sms", target=IVAN, round=0)
    assert sms.status == DeliveryStatus.SENDING and sms.text  # claimed, text saved, outcome never recorded

    await w.dispatcher.run_due()  # lease not yet expired: left alone
    assert (await Delivery.get(id=sms.id)).status == DeliveryStatus.SENDING
    w.clock.advance(minutes=2)
    await w.dispatcher.run_due()
    sms = await Delivery.get(id=sms.id)
    assert sms.status == DeliveryStatus.SENT and sms.provider_id == w.twilio.to(IVAN)[0]["sid"]
    assert len(w.twilio.to(IVAN)) == 1 and w.dispatcher.counters.recovered == 1


async def test_two_dispatcher_processes_send_each_delivery_once(world: World, orm: Settings, tmp_path: Path) -> None:
    """Two helpline instances on one database: every due delivery goes out exactly once between them."""
    w = world
    w.twilio.delay = 0.02
    for i in range(10):
        await open_alert(w, f"Storm {i}")
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.notify_crash_worker",
                orm.database.url.get_secret_value(),
                w.twilio.url,
                w.fake_slack.url,
                str(go),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]  # type: ignore[attr-defined]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready", p.stderr.read() if p.stderr else ""
        go.touch()
        outputs = [await asyncio.to_thread(p.communicate, timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    shares = [int(out.strip().rsplit(" ", 1)[-1]) for out, _ in outputs]
    assert sum(shares) == 30 and all(shares), shares  # both took a share of round 0, step 0: 10 x (SMS, DM, channel)
    assert await statuses() == {"sent": 30, "queued": 70}
    assert len(w.twilio.messages) == 10 and len({m["to"] for m in w.twilio.messages}) == 1
    assert len(w.fake_slack.posts) == 20


#: Holds the commit of every transaction that records a Slack post as sent until the test says go (a deferred
#: trigger runs at COMMIT, after everything the transaction read): the moment an acknowledgement may come in.
HOLD_SLACK_SENT = """CREATE TABLE test_go (go int);
CREATE FUNCTION test_hold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  WHILE NOT EXISTS (SELECT 1 FROM test_go) LOOP PERFORM pg_sleep(0.02); END LOOP; RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER test_hold AFTER UPDATE ON notify_delivery DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (NEW.status = 'sent' AND NEW.channel = 'slack') EXECUTE FUNCTION test_hold()"""
UNHOLD = (
    "DROP TRIGGER IF EXISTS test_hold ON notify_delivery; DROP FUNCTION IF EXISTS test_hold(); "
    "DROP TABLE IF EXISTS test_go"
)


async def test_an_ack_while_a_slack_post_is_being_recorded_still_updates_that_message(
    world: World, orm: Settings
) -> None:
    """The dispatcher records a Slack post (it read the alert: open) while the alert is acknowledged: that message
    is updated all the same. (Seen under load on PostgreSQL: both transactions ran side by side, each blind to the
    other, and the message kept saying the alert was open.)"""
    if orm.database.is_sqlite:
        pytest.skip("SQLite runs one writer at a time: the two transactions cannot overlap")
    w = world
    await open_alert(w)
    alert_id = (await Alert.first()).id  # type: ignore[union-attr]
    outside = await asyncpg.connect(orm.database.url.get_secret_value().replace("postgres://", "postgresql://", 1))
    try:
        await outside.execute(HOLD_SLACK_SENT)

        async def held() -> bool:  # a transaction that recorded a Slack post waits at its commit
            return bool(await outside.fetchval("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'"))

        async def ack_waits() -> bool:  # the acknowledgement is done, or waits for a lock
            return ack.done() or bool(
                await outside.fetchval("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            )

        sending = asyncio.create_task(w.dispatcher.run_due())
        await eventually(held, what="a Slack post recorded, its commit held")
        ack = asyncio.create_task(w.alerts.acknowledge([alert_id], "ivan", "slack"))
        await eventually(ack_waits, what="the acknowledgement done or waiting")
        await outside.execute("INSERT INTO test_go VALUES (1)")
        await asyncio.wait_for(asyncio.gather(sending, ack), 30)
    finally:
        await outside.execute(UNHOLD)
        await outside.close()
    await w.dispatcher.run_due()
    assert len(w.fake_slack.posts) == 2
    assert len(w.fake_slack.updates) == 2, "both Slack messages say the alert was acknowledged"
