"""The words of the alert messages, and of the answers to on-call people's replies, in English, Russian and Thai
(``[[notify.people]] language``).

Only our own words are here; the ticket's title, number and caller are shown as they are (made harmless by
:mod:`notify.text`). The SMS phrases are short: a Cyrillic or Thai SMS is UCS-2, 70 characters a segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tickets.languages import DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Phrases:
    """One language's words. ``{what}`` is a metric's word, ``{left}`` a duration, ``{code}`` the ack code."""

    #: The metric in a headline (None: no metric, the ticket's SLA as a whole).
    metrics: dict[str | None, str]
    breached: str
    due_in: str
    due_now: str
    #: Hours, minutes and seconds in a duration; ``spaced``: ``1 ч 30 мин`` rather than ``1h30m``.
    units: tuple[str, str, str]
    spaced: bool
    step: str
    repeat: str
    sms_tail: str
    caller: str
    due: str
    acknowledged_by: str
    resolved: str
    #: The same two notes inside the one-line fallback text.
    acknowledged_by_inline: str
    resolved_inline: str
    acknowledge: str
    open: str
    #: Answers to an on-call person's SMS reply, and the Slack refusal they may get.
    reply_how: str
    reply_none: str
    reply_already: str
    reply_done: str
    refused_not_on_call: str
    #: Thai runs words together but sets Latin words (SLA, a metric name) apart with a space.
    space_around_latin: bool = field(default=False)


EN = Phrases(
    metrics={None: "SLA", "first_response": "first response", "resolution": "resolution", "callback": "callback"},
    breached="{what} breached",
    due_in="{what} due in {left}",
    due_now="{what} due now",
    units=("h", "m", "s"),
    spaced=False,
    step=" (step {step})",
    repeat=" (repeat {round}, step {step})",
    sms_tail=" - reply {code} to ack",
    caller="Caller: {caller}",
    due="Due: ",
    acknowledged_by="Acknowledged by {who}",
    resolved="Resolved",
    acknowledged_by_inline="acknowledged by {who}",
    resolved_inline="resolved",
    acknowledge="Acknowledge",
    open="Open",
    reply_how="helpline: reply with the ticket number (e.g. 1042) or ACK ALL to acknowledge.",
    reply_none="helpline: no open alert for {code} was sent to you; nothing was changed.",
    reply_already="helpline: already acknowledged; nothing was changed.",
    reply_done="helpline: acknowledged {tickets}. Thank you, {name}.",
    refused_not_on_call="helpline: only whoever is on call now, or was paged for this alert, can acknowledge it; "
    "nothing was changed.",
)

RU = Phrases(  # the metric in the genitive: «срок решения»
    metrics={
        None: "по SLA",
        "first_response": "первого ответа",
        "resolution": "решения",
        "callback": "обратного звонка",
    },
    breached="истёк срок {what}",
    due_in="срок {what} через {left}",
    due_now="срок {what} истекает сейчас",
    units=("ч", "мин", "с"),
    spaced=True,
    step=" (шаг {step})",
    repeat=" (повтор {round}, шаг {step})",
    sms_tail=" — подтвердить: ответьте {code}",
    caller="Заявитель: {caller}",
    due="Срок: ",
    acknowledged_by="Подтверждено: {who}",
    resolved="Решено",
    acknowledged_by_inline="подтверждено: {who}",
    resolved_inline="решено",
    acknowledge="Подтвердить",
    open="Открыть",
    reply_how="helpline: чтобы подтвердить, ответьте номером заявки (например, 1042) или ACK ALL.",
    reply_none="helpline: открытых оповещений по {code} вам не отправлялось; ничего не изменено.",
    reply_already="helpline: уже подтверждено; ничего не изменено.",
    reply_done="helpline: подтверждено: {tickets}. Спасибо, {name}!",
    refused_not_on_call="helpline: подтвердить оповещение может только тот, кто сейчас дежурит или получил его; "
    "ничего не изменено.",
)

TH = Phrases(
    metrics={
        None: "SLA",
        "first_response": "การตอบกลับครั้งแรก",
        "resolution": "การแก้ไขปัญหา",
        "callback": "การโทรกลับ",
    },
    breached="{what}เกินกำหนดแล้ว",
    due_in="{what}ครบกำหนดใน {left}",
    due_now="{what}ครบกำหนดตอนนี้",
    units=("ชม.", "นาที", "วินาที"),
    spaced=True,
    step=" (ขั้นที่ {step})",
    repeat=" (ซ้ำรอบที่ {round} ขั้นที่ {step})",
    sms_tail=" - ตอบ {code} เพื่อรับทราบ",
    caller="ผู้แจ้ง: {caller}",
    due="กำหนด: ",
    acknowledged_by="{who} รับทราบแล้ว",
    resolved="แก้ไขแล้ว",
    acknowledged_by_inline="{who} รับทราบแล้ว",
    resolved_inline="แก้ไขแล้ว",
    acknowledge="รับทราบ",
    open="เปิดดู",
    reply_how="helpline: ตอบด้วยหมายเลขทิกเก็ต (เช่น 1042) หรือ ACK ALL เพื่อรับทราบ",
    reply_none="helpline: ไม่มีการแจ้งเตือนที่ยังเปิดอยู่ของ {code} ที่ส่งถึงคุณ ไม่มีการเปลี่ยนแปลง",
    reply_already="helpline: มีผู้รับทราบไปแล้ว ไม่มีการเปลี่ยนแปลง",
    reply_done="helpline: รับทราบ {tickets} แล้ว ขอบคุณ {name}",
    refused_not_on_call="helpline: เฉพาะผู้ที่อยู่เวรตอนนี้หรือผู้ที่ได้รับการแจ้งเตือนนี้เท่านั้นที่รับทราบได้ ไม่มีการเปลี่ยนแปลง",
    space_around_latin=True,
)

PHRASES = {"en": EN, "ru": RU, "th": TH}


def phrases(language: str | None) -> Phrases:
    """The words of ``language``; English for None or a language without a translation."""
    return PHRASES.get(language or DEFAULT_LANGUAGE, EN)
