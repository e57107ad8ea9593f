"""Alert texts: SMS kept within its segments in GSM-7 and UCS-2 (Cyrillic, Thai, emoji survive), Slack blocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notify.models import Delivery
from notify.text import AlertFacts, escalation_marker, is_gsm7, segments, slack_blocks, sms_text, units
from tests.support.notify import IVAN, T0, World
from tickets.events import SlaWarning

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def facts(title: str, number: str = "IT-1042", event: str = "sla.warning") -> AlertFacts:
    return AlertFacts(7, number, "P1", title, event, "resolution", NOW + timedelta(minutes=5))


def test_the_issue_example() -> None:
    assert (
        sms_text(facts("VPN down for Finance"), NOW)
        == "IT-1042 P1 resolution due in 5m: VPN down for Finance - reply 1042 to ack"
    )


def test_gsm7_and_ucs2_are_counted_as_phones_do() -> None:
    assert is_gsm7("Café @ 5€ [ok]") and units("5€ [ok]") == 10  # € [ ] take two septets each
    assert not is_gsm7("Иван") and units("Иван") == 4
    assert units("🚨") == 2  # outside the BMP: a surrogate pair
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2 and segments("a" * 306) == 2
    assert segments("ж" * 70) == 1 and segments("ж" * 71) == 2 and segments("ж" * 134) == 2


def test_a_long_cyrillic_title_is_shortened_to_fit_and_keeps_the_ack_hint() -> None:
    title = "Не работает VPN у всей бухгалтерии на третьем этаже, сотрудники не могут войти в 1С " * 3
    one = sms_text(facts(title), NOW, max_segments=1)
    assert segments(one) == 1 and units(one) <= 70
    assert one.startswith("IT-1042 P1 resolution due in 5m: Не работает") and one.endswith("… - reply 1042 to ack")
    two = sms_text(facts(title), NOW, max_segments=2)
    assert segments(two) == 2 and units(two) <= 134 and len(two) > len(one)


def test_thai_and_emoji_are_never_cut_in_half() -> None:
    title = "อินเทอร์เน็ตใช้ไม่ได้ทั้งชั้น 🚨🚨🚨 " * 4
    text = sms_text(facts(title), NOW, max_segments=1)
    assert segments(text) == 1
    text.encode("utf-16-le")  # no lone surrogate
    assert text.endswith("- reply 1042 to ack")


def test_ascii_that_fits_stays_gsm7() -> None:
    text = sms_text(facts("Printer on 3rd floor jams", event="sla.breached"), NOW)
    assert is_gsm7(text) and text == "IT-1042 P1 resolution breached: Printer on 3rd floor jams - reply 1042 to ack"


def test_slack_blocks_have_acknowledge_and_open_until_acknowledged() -> None:
    f = AlertFacts(
        7,
        "IT-1042",
        "P1",
        "VPN <down> & out",
        "sla.breached",
        "resolution",
        NOW,
        "Иван Петров",
        "https://helpline.example.com/t/IT-1042",
    )
    text, blocks = slack_blocks(f, NOW)
    assert text == "IT-1042 P1 resolution breached: VPN &lt;down&gt; &amp; out"  # the fallback is mrkdwn too
    assert "VPN &lt;down&gt; &amp; out" in blocks[0]["text"]["text"] and "Иван Петров" in blocks[0]["text"]["text"]
    assert [(e["action_id"], e.get("value")) for e in blocks[-1]["elements"]] == [("ack", "7"), ("open", None)]
    _, acked = slack_blocks(f, NOW, acked_by="olga")
    assert [e["action_id"] for e in acked[-1]["elements"]] == ["open"]
    assert acked[1]["elements"][0]["text"] == "Acknowledged by olga"


async def test_unicode_arrives_intact_at_twilio_and_slack(world: World) -> None:
    w = world
    ticket = await w.p1("Не работает VPN — ใช้ไม่ได้")
    await w.alerts.on_due(SlaWarning(ticket.id, ticket.number, "resolution", 75, T0 + timedelta(minutes=5), "p1"))
    await w.dispatcher.run_due()
    (sms,) = w.twilio.to(IVAN)
    assert (
        sms["body"] == f"{ticket.number} P1 resolution due in 5m: Не работает VPN — ใช้ไม่ได้ - reply "
        f"{ticket.number.split('-')[1]} to ack"
    )
    assert (await Delivery.get(channel="sms", target=IVAN, step=0, round=0)).text == sms["body"]
    assert all("Не работает VPN — ใช้ไม่ได้" in p["text"] for p in w.fake_slack.posts)


def test_russian_and_thai_texts_are_their_own_words_around_the_title() -> None:
    warning, breach = facts("Не работает VPN"), facts("ใช้ไม่ได้", event="sla.breached")
    assert sms_text(warning, NOW, language="ru") == (
        "IT-1042 P1 срок решения через 5 мин: Не работает VPN — подтвердить: ответьте 1042"
    )
    assert sms_text(breach, NOW, language="th") == "IT-1042 P1 การแก้ไขปัญหาเกินกำหนดแล้ว: ใช้ไม่ได้ - ตอบ 1042 เพื่อรับทราบ"
    assert sms_text(warning, NOW, language="en") == sms_text(warning, NOW), "English is the default"
    later = AlertFacts(7, "IT-1042", "P1", "x", "sla.warning", "callback", NOW + timedelta(minutes=90))
    assert later.headline(NOW, "ru") == "срок обратного звонка через 1 ч 30 мин"
    assert later.headline(NOW, "th") == "การโทรกลับครบกำหนดใน 1 ชม. 30 นาที"
    assert later.headline(NOW) == "callback due in 1h30m"
    whole = AlertFacts(7, "IT-1042", "P1", "x", "sla.breached", None, NOW)
    assert whole.headline(NOW, "th") == "SLA เกินกำหนดแล้ว", "a Latin word is set apart from the Thai after it"
    assert escalation_marker(1, 1, "ru") == " (повтор 1, шаг 2)" and escalation_marker(1, 0, "th") == " (ขั้นที่ 2)"
    long = sms_text(facts("Не работает VPN у всей бухгалтерии на третьем этаже " * 4), NOW, language="ru")
    assert segments(long) == 2 and long.endswith("… — подтвердить: ответьте 1042")


def test_slack_blocks_in_russian_and_thai_keep_the_escaping() -> None:
    f = AlertFacts(7, "IT-1042", "P1", "VPN <down> & out", "sla.breached", "resolution", NOW, "Иван", "https://h/t/1")
    text, blocks = slack_blocks(f, NOW, language="ru")
    assert text == "IT-1042 P1 истёк срок решения: VPN &lt;down&gt; &amp; out"
    assert "Заявитель: Иван" in blocks[0]["text"]["text"] and "Срок: <!date^" in blocks[0]["text"]["text"]
    assert [e["text"]["text"] for e in blocks[-1]["elements"]] == ["Подтвердить", "Открыть"]
    text, acked = slack_blocks(f, NOW, acked_by="<!here> mallory", language="th")
    assert acked[1]["elements"][0]["text"] == "&lt;!here&gt; mallory รับทราบแล้ว"
    assert text.endswith("(&lt;!here&gt; mallory รับทราบแล้ว)") and "<!here>" not in text
    assert [e["text"]["text"] for e in acked[-1]["elements"]] == ["เปิดดู"]


#: What an attacker put in the caller ID name (and so in the ticket title "Call from ..." and the requester's name).
EVIL = "<!channel> <https://evil.example/reset|Reset your password> & <@U024BE7LH>"


def test_slack_text_is_escaped_everywhere() -> None:
    f = AlertFacts(
        7,
        "IT-1042",
        "P1",
        f"Call from {EVIL}\r\nAcknowledged by olga",
        "sla.breached",
        "callback",
        NOW,
        EVIL,
        "https://helpline.example.com/t/IT-1042",
    )
    text, blocks = slack_blocks(f, NOW)
    section = blocks[0]["text"]["text"]
    for shown in (text, section):
        assert "<!channel>" not in shown and "<https://" not in shown and "<@U024BE7LH>" not in shown
        assert (
            "&lt;!channel&gt; &lt;https://evil.example/reset|Reset your password&gt; &amp; &lt;@U024BE7LH&gt;" in shown
        )
        assert "\r" not in shown and "\nAcknowledged" not in shown, "a line break in a title cannot forge a line"
    _, acked = slack_blocks(f, NOW, acked_by="<!here> mallory")
    assert acked[1]["elements"][0]["text"] == "Acknowledged by &lt;!here&gt; mallory"


def test_sms_text_from_callers_is_inert() -> None:
    """Caller text cannot become a link or a new line: '://' and the dots of names are broken, controls removed."""
    text = sms_text(facts(f"Call from {EVIL}\r\n\u2028Visit www.evil.example or evil。example now\x07"), NOW)
    assert "://" not in text and "evil.example" not in text and "www." not in text and "。" not in text
    assert "https[:]//evil[.]example/reset" in text and "www[.]evil[.]example" in text and "evil[.]example" in text
    assert not any(c in text for c in "\r\n\x07\u2028"), text
    assert text.startswith("IT-1042 P1 resolution due in 5m: Call from <!channel>") and text.endswith("to ack")
    assert segments(text) <= 2
    # ordinary titles are unchanged, decimals aside
    assert (
        sms_text(facts("Outlook crashes - Иван (+79161234567)"), NOW)
        == "IT-1042 P1 resolution due in 5m: Outlook crashes - Иван (+79161234567) - reply 1042 to ack"
    )
    assert "version 16[.]0" in sms_text(facts("Office version 16.0 fails"), NOW)
    assert "\u202e" not in sms_text(facts("Invoice \u202efdp.exe"), NOW), "no right-to-left override tricks"


async def test_what_twilio_and_slack_receive_from_a_hostile_caller_is_inert(world: World) -> None:
    """The real twilio and slack-sdk clients against the local fakes: the SMS carries no link, Slack's text and
    blocks no mention or link markup, and Slack is asked not to unfurl anything."""
    w = world
    ticket = await w.p1(f"Call from {EVIL}\r\nor www.evil.example")
    await w.alerts.on_due(SlaWarning(ticket.id, ticket.number, "resolution", 75, T0 + timedelta(minutes=5), "p1"))
    await w.dispatcher.run_due()
    (sms,) = w.twilio.to(IVAN)
    assert "://" not in sms["body"] and "evil.example" not in sms["body"] and "\n" not in sms["body"]
    assert "https[:]//evil[.]example/reset|Reset your password" in sms["body"]
    assert w.fake_slack.posts, "posted to Slack"
    for post in w.fake_slack.posts:
        shown = [post["text"]] + [b["text"]["text"] for b in post["blocks"] if b["type"] == "section"]
        for text in shown:
            assert "<!channel>" not in text and "<https://evil" not in text and "<@U024BE7LH>" not in text, text
            assert "&lt;!channel&gt;" in text
        assert post["unfurl_links"] is False and post["unfurl_media"] is False
