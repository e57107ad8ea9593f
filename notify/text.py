"""Alert texts: the SMS (kept within N segments, GSM-7 or UCS-2) and the Slack Block Kit message.

An SMS is GSM-7 when every character is in the GSM 03.38 alphabet (160 per single message, 153 per part of a
long one; the extension characters such as ``{`` or the euro sign count twice). One character outside it (Cyrillic,
Thai, most emoji) makes the whole message UCS-2: 70 per single message, 67 per part, counted in UTF-16 units.

Titles and caller names come from outside (a caller ID name is whatever the caller's phone says), so they are made
harmless before they reach on-call staff: in both channels control characters, line breaks and bidi overrides
become spaces (no forged lines, no reversed text); in Slack ``&``, ``<`` and ``>`` are escaped everywhere, the
fallback ``text`` included (no ``<!channel>``, no ``<url|disguised link>``); in an SMS, which has no markup, links
are broken instead (``https[:]//evil[.]example``), since phones make any URL or domain name tappable.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from notify.phrases import phrases
from tickets.languages import DEFAULT_LANGUAGE

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def units(text: str) -> int:
    """Length in the message's own units: GSM-7 septets or UTF-16 code units."""
    if is_gsm7(text):
        return sum(2 if c in GSM7_EXTENSION else 1 for c in text)
    return len(text.encode("utf-16-le")) // 2


def segments(text: str) -> int:
    """How many SMS parts ``text`` takes."""
    n = units(text)
    single, part = (160, 153) if is_gsm7(text) else (70, 67)
    return 1 if n <= single else -(-n // part)


def capacity(gsm7: bool, max_segments: int) -> int:
    single, part = (160, 153) if gsm7 else (70, 67)
    return single if max_segments == 1 else part * max_segments


def fit(head: str, middle: str, tail: str, max_segments: int) -> str:
    """``head + middle + tail``, with ``middle`` shortened (never split in a surrogate pair) to fit."""
    text = head + middle + tail
    if segments(text) <= max_segments:
        return text
    gsm = is_gsm7(text)
    ellipsis = "..." if gsm else "\u2026"
    room = capacity(gsm, max_segments) - units(head + tail + ellipsis)
    cut = ""
    for c in middle:
        if units(cut + c) > room:
            break
        cut += c
    return head + cut.rstrip() + ellipsis + tail


#: Bidi embeddings, overrides and isolates: they reorder how the text around them is shown ("fdp.exe").
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Full stops that IDNA reads as the dot of a domain name.
_DOTS = "[.\u3002\uff0e\uff61]"
_DOMAIN_DOT = re.compile(rf"(?<=\w){_DOTS}(?=\w)")


def one_line(text: str) -> str:
    """``text`` on one line: control characters (Unicode Cc), line and paragraph separators and bidi controls
    become spaces, runs of white space one space."""
    return " ".join(
        "".join(" " if c in _BIDI or unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text).split()
    )


def inert(text: str) -> str:
    """Outside text for an SMS: on one line, and nothing a phone would make a link of. ``://`` becomes ``[:]//``
    and a dot between letters or digits ``[.]`` (``evil.example``, ``www.x.y``, ``10.0.0.1``; also the ideographic
    and full-width dots that domain names accept). Phone numbers stay tappable."""
    return _DOMAIN_DOT.sub("[.]", one_line(text).replace("://", "[:]//"))


def slack_escape(text: str) -> str:
    """Outside text for Slack mrkdwn, on one line, with ``&``, ``<`` and ``>`` escaped as Slack asks: nothing in it
    can be a mention (``<!channel>``, ``<@U123>``) or a link with a disguised label (``<url|label>``)."""
    return one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def human(delta: timedelta, language: str = DEFAULT_LANGUAGE) -> str:
    """``5m``, ``2h``, ``1h30m``, ``45s`` (in Russian ``1 ч 30 мин``, in Thai ``1 ชม. 30 นาที``)."""
    p = phrases(language)
    seconds = max(int(delta.total_seconds()), 0)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    parts = [(h, p.units[0]), (m, p.units[1])] if h else [(m, p.units[1])] if m else [(s, p.units[2])]
    parts = [(n, unit) for n, unit in parts if n] or parts[:1]
    return " ".join(f"{n} {unit}" for n, unit in parts) if p.spaced else "".join(f"{n}{unit}" for n, unit in parts)


@dataclass(frozen=True)
class AlertFacts:
    """What a message says about an alert."""

    alert_id: int
    number: str
    priority: str
    title: str
    event: str  # sla.warning / sla.breached
    metric: str | None
    due_at: datetime | None
    caller: str | None = None
    url: str | None = None

    @property
    def ack_code(self) -> str:
        return self.number.rsplit("-", 1)[-1]

    def headline(self, now: datetime, language: str = DEFAULT_LANGUAGE) -> str:
        """``resolution due in 5m``, ``срок решения через 5 мин``, ``การแก้ไขปัญหาจะครบกำหนดในอีก 5 นาที``."""
        p = phrases(language)
        what = p.metrics.get(self.metric) or (self.metric or "SLA").replace("_", " ")
        if p.space_around_latin and what[-1:].isascii():
            what += " "
        if self.event == "sla.breached":
            return p.breached.format(what=what)
        if self.due_at is not None and self.due_at > now:
            return p.due_in.format(what=what, left=human(self.due_at - now, language))
        return p.due_now.format(what=what)


def escalation_marker(step: int, round: int, language: str = DEFAULT_LANGUAGE) -> str:
    """`` (step 2)``, `` (repeat 1, step 1)``: tells the messages of an alert apart (none for the first)."""
    p = phrases(language)
    if round:
        return p.repeat.format(round=round, step=step + 1)
    return p.step.format(step=step + 1) if step else ""


def sms_text(
    facts: AlertFacts, now: datetime, max_segments: int = 2, marker: str = "", language: str = DEFAULT_LANGUAGE
) -> str:
    """``IT-1042 P1 resolution due in 5m: VPN down for Finance - reply 1042 to ack`` (or in Russian, Thai).

    Every SMS of an alert to one number differs (``marker``): a retry can ask Twilio whether its text went out.
    The title is made :func:`inert` (it may hold a caller's name).
    """
    head = f"{facts.number} {facts.priority} {facts.headline(now, language)}{marker}: "
    tail = phrases(language).sms_tail.format(code=facts.ack_code)
    return fit(head, inert(facts.title), tail, max_segments)


def slack_blocks(
    facts: AlertFacts,
    now: datetime,
    *,
    acked_by: str | None = None,
    resolved: bool = False,
    language: str = DEFAULT_LANGUAGE,
) -> tuple[str, list[dict[str, Any]]]:
    """The fallback text and Block Kit blocks: ticket, priority, caller, SLA, Acknowledge and Open buttons.

    Once acknowledged (``acked_by``) or resolved, the message says so and loses its Acknowledge button.
    """
    p = phrases(language)
    icon = ":white_check_mark:" if acked_by or resolved else ":rotating_light:"
    esc = slack_escape
    headline = esc(facts.headline(now, language))
    text = f"{esc(facts.number)} {esc(facts.priority)} {headline}: {esc(facts.title)}"
    lines = [f"{icon} *{esc(facts.number)}* {esc(facts.priority)} - {headline}", esc(facts.title)]
    if facts.caller:
        lines.append(p.caller.format(caller=esc(facts.caller)))
    if facts.due_at is not None:
        lines.append(
            f"{p.due}<!date^{int(facts.due_at.timestamp())}^{{date_short_pretty}} {{time}}|"
            f"{facts.due_at.isoformat(timespec='minutes')}>"
        )
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]
    buttons: list[dict[str, Any]] = []
    if acked_by or resolved:
        who = esc(acked_by) if acked_by else ""
        note = p.acknowledged_by.format(who=who) if acked_by else p.resolved
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
        text += f" ({p.acknowledged_by_inline.format(who=who) if acked_by else p.resolved_inline})"
    else:
        buttons.append(
            {
                "type": "button",
                "action_id": "ack",
                "style": "primary",
                "value": str(facts.alert_id),
                "text": {"type": "plain_text", "text": p.acknowledge},
            }
        )
    if facts.url:
        buttons.append(
            {"type": "button", "action_id": "open", "url": facts.url, "text": {"type": "plain_text", "text": p.open}}
        )
    if buttons:
        blocks.append({"type": "actions", "block_id": f"alert:{facts.alert_id}", "elements": buttons})
    return text, blocks
