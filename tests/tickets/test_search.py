"""Text search gives exactly the substring matches, whichever path answers it (index, id list or scan)."""

from __future__ import annotations

import pytest

from tickets import listing
from tickets.actor import Actor
from tickets.listing import TicketFilter, find_tickets
from tickets.search import fold
from tickets.ticket_service import TicketService
from web.settings import Settings

TEXTS = [
    ("VPN не подключается", "с утра, у всего отдела"),
    ("Принтер HP 4050 жуёт бумагу", "этаж 3"),
    ("เครื่องพิมพ์ไม่ทำงาน", "ชั้น ๓ ห้องประชุม"),
    ('Quote "unbalanced', "50% of the fleet, snake_case names"),
    ("Outlook crashes", "after the KB5031354 update"),
    ("ПРИНТЕР в бухгалтерии", "ИВАН ПЕТРОВ"),
    ("Wi-Fi drops", "in room 4.12 — only on 5 GHz"),
    ("Password reset", "for петров.и"),
    ("Emoji 🎉 in subject", "naïve café résumé"),
    ("vpn again", "split tunnel"),
]
QUERIES = [
    "vpn",
    "VPN",
    "принтер",
    "ПРИНТЕР",
    "пётр",
    "петров",
    "พิมพ์",
    "ห้อง",
    '"unbal',
    "50%",
    "snake_case",
    "_",
    "%",
    "kb50",
    "ka",
    "4.12",
    "5 ghz",
    "🎉",
    "café",
    "naïve",
    "nothing-like-this",
    "it-3",
    "it-1",
    "e",
    "после",
    "x",
    "ап",
]


async def seeded() -> tuple[TicketService, list[int]]:
    service = TicketService()
    pbx = Actor.system("test")
    ids = []
    for title, description in TEXTS * 3:
        ids.append((await service.create(pbx, title=title, description=description)).id)
    return service, ids


async def all_hits(text: str) -> list[int]:
    out: list[int] = []
    key = None
    while True:
        rows, key = await find_tickets(TicketFilter(text=text), after=key, limit=7)
        out += [t.id for t in rows]
        if key is None:
            return out


def expected(tickets: list[tuple[int, str, str, str]], text: str) -> list[int]:
    needle = fold(text)
    return sorted((tid for tid, number, title, desc in tickets if needle in fold(number, title, desc)), reverse=True)


@pytest.mark.parametrize("hit_limit", [1000, 2])
async def test_search_finds_exactly_the_substring_matches(
    orm: Settings, monkeypatch: pytest.MonkeyPatch, hit_limit: int
) -> None:
    monkeypatch.setattr(listing, "SEARCH_HIT_LIMIT", hit_limit)  # 2: common words take the scanning path
    service, ids = await seeded()
    tickets = [(t.id, t.number, t.title, t.description) for t in [await service.get(i) for i in ids]]
    for text in QUERIES:
        assert await all_hits(text) == expected(tickets, text), text


async def test_search_follows_edits(orm: Settings) -> None:
    service, ids = await seeded()
    before = await all_hits("outlook")
    await service.update(Actor.system("test"), ids[4], {"title": "Thunderbird crashes"})
    assert await all_hits("outlook") == [i for i in before if i != ids[4]]
    assert await all_hits("thunderbird") == [ids[4]]
    assert await all_hits("ThunderBIRD crash") == [ids[4]]
