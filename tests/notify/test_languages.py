"""Alerts in each person's language (``[[notify.people]] language``), through the real twilio and slack-sdk clients
against the local fakes: the words are theirs, the ticket's Cyrillic or Thai title arrives intact."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from notify.inbound import sms_reply
from tests.support.notify import IVAN, MARIA, OLGA, T0, World, build_world
from tests.support.notify_fakes import FakeSlack, FakeTwilio
from tickets.events import SlaBreached
from web.settings import Settings

TITLE = "Не работает 1С у бухгалтерии — ระบบบัญชีใช้ไม่ได้"


@pytest_asyncio.fixture
async def multilingual(orm: Settings, fake_twilio: FakeTwilio, fake_slack: FakeSlack) -> AsyncIterator[World]:
    """ivan (on call now, SMS and Slack) reads Russian, maria (step 3, SMS) Thai, olga has no language set."""
    w = build_world(orm, fake_twilio, fake_slack, languages={"ivan": "ru", "maria": "th"})
    await w.sms.start()
    await w.slack.start()
    try:
        yield w
    finally:
        await w.sms.close()
        await w.slack.close()


async def test_a_breach_reaches_each_person_in_their_language(multilingual: World) -> None:
    w = multilingual
    ticket = await w.p1(TITLE)
    code = ticket.number.split("-")[1]
    await w.alerts.on_due(SlaBreached(ticket.id, ticket.number, "resolution", T0, "p1"))
    await w.dispatcher.run_due()
    (ivan_sms,) = w.twilio.to(IVAN)
    assert ivan_sms["body"] == f"{ticket.number} P1 истёк срок решения: {TITLE} — подтвердить: ответьте {code}"
    dm = next(p for p in w.fake_slack.posts if p["channel"] == "D024BE7LH")
    assert dm["text"] == f"{ticket.number} P1 истёк срок решения: {TITLE}"
    assert [e["text"]["text"] for e in dm["blocks"][-1]["elements"]] == ["Подтвердить", "Открыть"]
    channel = next(p for p in w.fake_slack.posts if p["channel"] == "C0ITONCALL")
    assert channel["text"] == f"{ticket.number} P1 resolution breached: {TITLE}", "a channel is no person: English"

    w.clock.advance(minutes=10)  # step 2: olga, no language set
    await w.dispatcher.run_due()
    (olga_sms,) = w.twilio.to(OLGA)
    assert olga_sms["body"] == f"{ticket.number} P1 resolution breached (step 2): {TITLE} - reply {code} to ack"

    w.clock.advance(minutes=10)  # step 3: maria, Thai
    await w.dispatcher.run_due()
    (maria_sms,) = w.twilio.to(MARIA)
    assert maria_sms["body"] == (f"{ticket.number} P1 การแก้ไขปัญหาเกินกำหนดแล้ว (ขั้นที่ 3): {TITLE} - ตอบ {code} เพื่อรับทราบ")


async def test_the_slack_message_rewritten_after_an_ack_stays_in_russian(multilingual: World) -> None:
    w = multilingual
    ticket = await w.p1(TITLE)
    await w.alerts.on_due(SlaBreached(ticket.id, ticket.number, "resolution", T0, "p1"))
    await w.dispatcher.run_due()
    (alert_id,) = {int(p["blocks"][-1]["block_id"].split(":")[1]) for p in w.fake_slack.posts}
    await w.alerts.acknowledge([alert_id], by="ivan", channel="sms")
    await w.dispatcher.run_due()
    dm = next(u for u in w.fake_slack.updates if u["channel"] == "D024BE7LH")
    assert dm["text"].endswith(f"{TITLE} (подтверждено: ivan)")
    assert dm["blocks"][1]["elements"][0]["text"] == "Подтверждено: ivan"
    channel = next(u for u in w.fake_slack.updates if u["channel"] == "C0ITONCALL")
    assert channel["text"].endswith("(acknowledged by ivan)")


async def test_the_answers_to_sms_replies_are_in_the_senders_language(multilingual: World) -> None:
    w = multilingual
    ticket = await w.p1(TITLE)
    code = ticket.number.split("-")[1]
    await w.alerts.on_due(SlaBreached(ticket.id, ticket.number, "resolution", T0, "p1"))
    await w.dispatcher.run_due()
    assert (await sms_reply(w.alerts, IVAN, "ok")).text == (
        "helpline: чтобы подтвердить, ответьте номером заявки (например, 1042) или ACK ALL."
    )
    assert (await sms_reply(w.alerts, IVAN, "999")).text == (
        "helpline: открытых оповещений по 999 вам не отправлялось; ничего не изменено."
    )
    done = await sms_reply(w.alerts, IVAN, code)
    assert done.acknowledged and done.text == f"helpline: подтверждено: {ticket.number}. Спасибо, Иван Петров!"
    assert (await sms_reply(w.alerts, MARIA, "ok")).text == (
        "helpline: ตอบด้วยหมายเลขทิกเก็ต (เช่น 1042) หรือ ACK ALL เพื่อรับทราบ"
    )
    assert (await sms_reply(w.alerts, OLGA, "ok")).text.startswith("helpline: reply with the ticket number")
    stranger = await sms_reply(w.alerts, "+15550009999", code)
    assert not stranger.known_sender and "not on the on-call list" in stranger.text, "nobody's language: English"
