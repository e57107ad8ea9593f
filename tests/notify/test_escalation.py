"""A P1 breach walks its escalation policy with real HTTP round-trips to local Twilio and Slack, under a set clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from notify.inbound import sms_reply
from notify.models import Alert, AlertState, Delivery, DeliveryStatus
from tests.support.notify import IVAN, MARIA, OLGA, T0, World, build_world
from tests.support.notify_fakes import FakeSlack, FakeTwilio
from tests.support.sla import book
from tickets.actor import Actor
from tickets.events import SlaBreached, SlaWarning
from tickets.models import Activity, Level, SlaEvent, TicketStatus
from tickets.sla.clocks import SlaEngine
from tickets.sla.scheduler import SlaScheduler
from web.settings import Settings


async def breach(w: World, ticket_id: int, number: str) -> None:
    await w.alerts.on_due(SlaBreached(ticket_id, number, "resolution", T0, "p1"))


async def test_breach_walks_the_policy_until_acknowledged(world: World) -> None:
    w = world
    ticket = await w.p1()
    await breach(w, ticket.id, ticket.number)

    # 0m: the primary (ivan) by SMS and Slack DM, and #it-oncall
    assert await w.dispatcher.run_due() == 3
    assert [m["body"] for m in w.twilio.to(IVAN)] == [
        f"{ticket.number} P1 resolution breached: VPN down for Finance - reply {ticket.number[3:]} to ack"
    ]
    assert sorted(p["channel"] for p in w.fake_slack.posts) == ["C0ITONCALL", "D024BE7LH"]
    buttons = w.fake_slack.posts[0]["blocks"][-1]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Acknowledge", "Open"]
    assert buttons[1]["url"] == f"https://helpline.example.com/t/{ticket.number}"

    # nothing more until 10m; then the secondary (olga)
    w.clock.advance(minutes=9, seconds=59)
    assert await w.dispatcher.run_due() == 0
    w.clock.advance(seconds=1)
    assert await w.dispatcher.run_due() == 1
    assert len(w.twilio.to(OLGA)) == 1

    # acknowledged at 15m: maria (20m) and the repeat round never hear of it; the Slack messages say who
    alert = await Alert.get(ticket_id=ticket.id)
    w.clock.advance(minutes=5)
    await w.alerts.acknowledge([alert.id], "olga", "sms")
    assert await w.dispatcher.run_due() == 2  # the two Slack messages are updated
    assert all("Acknowledged by olga" in u["blocks"][1]["elements"][0]["text"] for u in w.fake_slack.updates)
    w.clock.advance(hours=3)
    assert await w.dispatcher.run_due() == 0
    assert w.twilio.to(MARIA) == [] and len(w.twilio.messages) == 2

    alert = await Alert.get(id=alert.id)
    assert alert.state == AlertState.ACKNOWLEDGED and alert.acknowledged_by == "olga"
    history = [a.body for a in await Activity.filter(ticket_id=ticket.id, kind="comment").order_by("id")]
    assert sum("sent" in (h or "") for h in history) == 4  # every delivery is in the ticket history
    assert any(h and h.startswith("Alert acknowledged by olga (sms)") for h in history)


async def test_without_ack_every_step_and_round_goes_out_once(world: World) -> None:
    w = world
    ticket = await w.p1()
    await breach(w, ticket.id, ticket.number)
    await breach(w, ticket.id, ticket.number)  # a replayed event opens nothing new
    for _ in range(8):  # round length 20m + 10m; two rounds; walk an hour in 10-minute strides
        await w.dispatcher.run_due()
        w.clock.advance(minutes=10)
    await w.dispatcher.run_due()
    # per round: ivan SMS+Slack, #it-oncall, olga SMS, maria SMS
    assert len(w.twilio.to(IVAN)) == 2 and len(w.twilio.to(OLGA)) == 2 and len(w.twilio.to(MARIA)) == 2
    assert len(w.fake_slack.posts) == 4
    statuses = await Delivery.all().values_list("status", flat=True)
    assert set(statuses) == {DeliveryStatus.SENT} and len(statuses) == 10


async def test_resolving_the_ticket_stops_the_escalation(world: World) -> None:
    w = world
    ticket = await w.p1()
    await breach(w, ticket.id, ticket.number)
    await w.dispatcher.run_due()
    await w.tickets.transition(Actor.system("test"), ticket.id, TicketStatus.RESOLVED, resolution="VPN restarted")
    w.clock.advance(hours=1)
    await w.dispatcher.run_due()
    assert len(w.twilio.messages) == 1
    assert (await Alert.get(ticket_id=ticket.id)).state == AlertState.RESOLVED
    assert len(w.fake_slack.updates) == 2  # the Slack messages no longer offer to acknowledge
    assert all(
        u["text"].endswith("(resolved)") and u["blocks"][1]["elements"][0]["text"] == "Resolved"
        for u in w.fake_slack.updates
    )


async def test_low_priority_and_unmatched_events_alert_nobody(world: World) -> None:
    w = world
    ticket = await w.tickets.create(Actor.system("test"), title="Mouse", impact=Level.LOW, urgency=Level.LOW)
    await w.alerts.on_due(SlaWarning(ticket.id, ticket.number, "resolution", 75, T0 + timedelta(hours=1), "p4"))
    assert await Alert.all().count() == 0


async def test_a_warning_then_a_breach_are_two_alerts(world: World) -> None:
    w = world
    ticket = await w.p1()
    await w.alerts.on_due(SlaWarning(ticket.id, ticket.number, "resolution", 75, T0 + timedelta(minutes=5), "p1"))
    await w.dispatcher.run_due()
    assert "resolution due in 5m" in w.twilio.to(IVAN)[0]["body"]
    await w.alerts.on_due(SlaWarning(ticket.id, ticket.number, "resolution", 90, T0 + timedelta(minutes=5), "p1"))
    await breach(w, ticket.id, ticket.number)
    assert await Alert.all().count() == 2


async def test_the_sla_engine_drives_alerts_end_to_end(world: World, tmp_path: Path) -> None:
    """Real SLA clocks (tests/support/sla.py policies, P1 24x7: first response 15m, warnings at 50% and 75%) fire
    through the SLA scheduler into alerting; an SMS reply acknowledges; the breach then escalates anew."""
    w = world
    engine = SlaEngine(book(tmp_path), clock=w.clock)
    w.tickets.sla = engine
    scheduler = SlaScheduler(engine, handlers=[w.alerts.on_due], clock=w.clock)
    ticket = await w.p1()
    w.clock.advance(minutes=7, seconds=30)
    assert await scheduler.run_due() == 1
    await w.dispatcher.run_due()
    code = ticket.number.split("-")[1]
    assert [m["body"] for m in w.twilio.to(IVAN)] == [
        f"{ticket.number} P1 first response due in 7m: VPN down for Finance - reply {code} to ack"
    ]

    reply = await sms_reply(w.alerts, IVAN, f"ack {code}")
    assert reply.acknowledged and "acknowledged" in reply.text
    w.clock.advance(minutes=4)  # 75%: the same alert (already acknowledged): nobody is woken again
    await scheduler.run_due()
    await w.dispatcher.run_due()
    assert len(w.twilio.to(IVAN)) == 1 and w.twilio.to(OLGA) == []

    w.clock.advance(minutes=4)  # breached: a new alert, a new escalation
    await scheduler.run_due()
    await w.dispatcher.run_due()
    assert "first response breached" in w.twilio.to(IVAN)[-1]["body"]
    w.clock.advance(minutes=10)
    await w.dispatcher.run_due()
    assert len(w.twilio.to(OLGA)) == 1
    history = [(a.kind, a.body or "") for a in await Activity.filter(ticket_id=ticket.id).order_by("id")]
    kinds = [k for k, _ in history]
    assert kinds.count("sla") >= 3 and any(b.startswith("Alert acknowledged by ivan (sms)") for _, b in history)


async def test_an_expired_acknowledgement_starts_the_escalation_again(
    orm: Settings, fake_twilio: FakeTwilio, fake_slack: FakeSlack
) -> None:
    w = build_world(orm, fake_twilio, fake_slack, ack_timeout="30m")
    await w.sms.start()
    await w.slack.start()
    try:
        ticket = await w.p1()
        await breach(w, ticket.id, ticket.number)
        await w.dispatcher.run_due()
        w.clock.advance(minutes=5)
        (alert,) = await w.alerts.acknowledge([(await Alert.get(ticket_id=ticket.id)).id], "ivan", "sms")
        w.clock.advance(minutes=29)
        await w.dispatcher.run_due()
        assert len(w.twilio.to(IVAN)) == 1 and (await Alert.get(id=alert.id)).state == AlertState.ACKNOWLEDGED
        w.clock.advance(minutes=1)  # 30 minutes after the ack, the ticket still not resolved
        await w.dispatcher.run_due()
        alert = await Alert.get(id=alert.id)
        assert alert.state == AlertState.OPEN and alert.cycle == 1
        assert len(w.twilio.to(IVAN)) == 2 and "(repeat 2, step 1)" in w.twilio.to(IVAN)[-1]["body"]
        w.clock.advance(minutes=10)
        await w.dispatcher.run_due()
        assert len(w.twilio.to(OLGA)) == 1  # and on up the policy
        notes = await Activity.filter(ticket_id=ticket.id).values_list("body", flat=True)
        assert any((n or "").startswith("Acknowledgement by ivan expired") for n in notes)
    finally:
        await w.sms.close()
        await w.slack.close()


async def test_catch_up_opens_the_alert_of_an_sla_event_that_was_never_heard(world: World, tmp_path: Path) -> None:
    """The process died between the SLA engine's commit and the alert's: the SLA event is there, no alert."""
    w = world
    engine = SlaEngine(book(tmp_path), clock=w.clock)
    w.tickets.sla = engine
    scheduler = SlaScheduler(engine, clock=w.clock)  # publishes to nobody: the alert subscriber never ran
    ticket = await w.p1()
    w.clock.advance(minutes=16)
    assert await scheduler.run_due() >= 1
    assert await Alert.all().count() == 0
    assert await SlaEvent.filter(ticket_id=ticket.id, kind="breached").count() == 1  # (late warnings are skipped)
    assert await w.alerts.catch_up() == 1
    assert await w.alerts.catch_up() == 0  # idempotent
    assert [a.reason for a in await Alert.filter(ticket_id=ticket.id)] == [
        "sla.breached:first_response:2026-03-02T10:15"
    ]
    await w.dispatcher.run_due()
    assert "first response breached" in w.twilio.to(IVAN)[0]["body"]


async def test_each_callback_target_alerts_once(world: World) -> None:
    """The same warning twice is one alert; a second missed call (a new callback target) is a new alert."""
    w = world
    ticket = await w.p1()
    first = SlaBreached(ticket.id, ticket.number, "callback", T0, "phone")
    await w.alerts.on_due(first)
    await w.alerts.on_due(first)
    await w.alerts.on_due(SlaBreached(ticket.id, ticket.number, "callback", T0 + timedelta(hours=2), "phone"))
    assert sorted(await Alert.filter(ticket_id=ticket.id).values_list("reason", flat=True)) == [
        "sla.breached:callback:2026-03-02T10:00",
        "sla.breached:callback:2026-03-02T12:00",
    ]
