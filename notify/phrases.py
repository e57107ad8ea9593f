"""The words of the alert messages in English, Russian and Thai (``[[notify.people]] language``).

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
    space_around_latin=True,
)

PHRASES = {"en": EN, "ru": RU, "th": TH}


def phrases(language: str | None) -> Phrases:
    """The words of ``language``; English for None or a language without a translation."""
    return PHRASES.get(language or DEFAULT_LANGUAGE, EN)
