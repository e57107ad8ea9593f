"""Working in the console in a real browser (Debian's Chromium): edits that survive a hang-up, a call tray that
never disturbs typing, the views and paging, the keyboard alone, three languages, and no serious accessibility
violation (axe-core)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.ami import AMI, SECRET, USER
from tests.support.console import (
    ThreadedReplay,
    axe_violations,
    chromium,
    doc_screenshot,
    log_in,
    renders,
    screenshots_on_failure,
)
from tests.support.live import add_agents, login, run_elsewhere
from tests.support.servers import Server, start_server, stop_server
from tests.support.waiting import wait_until
from tickets.actor import Actor
from tickets.models import Role
from tickets.person_service import PersonService
from tickets.ticket_service import TicketService
from web.runtime import db
from web.settings import Settings

CALLER = "Алиса Примерова"  # "Alice Example" <+15551230001> in a_answered.raw, as the directory knows her
TICKETS = 30
#: The contrast against the page of the focused element's ring, a button's border and a field's border.
CONTRAST = """() => {
    const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
    const lum = (c) => rgb(c).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
        .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
    const page = getComputedStyle(document.body).backgroundColor;
    const focused = getComputedStyle(document.activeElement);
    return {
        ring: focused.outlineStyle,
        focus: ratio(focused.outlineColor, page),
        button: ratio(getComputedStyle(document.querySelector("#search-form button")).borderTopColor, page),
        input: ratio(getComputedStyle(document.querySelector("#search-q")).borderTopColor, page),
    };
}"""


@pytest.fixture
def browser() -> Iterator[Any]:
    playwright, browser = chromium()
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()


def directory(url: str, tickets: int) -> None:
    """The caller (Cyrillic, VIP) and ``tickets`` tickets of hers, titles in three scripts."""

    async def run() -> None:
        await db.open_orm(Settings.model_validate({"database": {"url": url}}).database)
        try:
            person = await PersonService().create(name=CALLER, phone="+15551230001", department="Бухгалтерия", vip=True)
            titles = ["Не работает VPN ที่บ้าน", "Printer jam on floor 3", "อีเมลเข้าไม่ได้"]
            for i in range(tickets):
                await TicketService().create(
                    Actor.system("test"), title=f"{titles[i % 3]} #{i + 1}", requester_id=person.id
                )
        finally:
            await db.close_orm()

    run_elsewhere(run())


@pytest.fixture
def desk(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[Server, ThreadedReplay]]:
    """alice (ext 101, the recording's answering agent) and her caller with one older ticket (IT-1); the PBX
    replays one answered call (a_answered.raw: rings, answered, 4 s of talk, hang-up) when told to: IT-2."""
    path = tmp_path / "helpline.sqlite3"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite://{path}"
    add_agents(Settings.model_validate({"database": {"url": url}}), ("alice", Role.AGENT, "101"))
    directory(url, 1)
    with ThreadedReplay(AMI / "a_answered.raw", USER, SECRET, speed=1.0) as pbx:
        config = tmp_path / "helpline.toml"
        config.write_text(pbx.pbx_toml())
        server = start_server(url, tmp_path, {"HELPLINE_CONFIG": str(config)})
        try:
            yield server, pbx
        finally:
            stop_server(server)


@pytest.fixture
def office(tmp_path: Path, sqlite_template: Path) -> Iterator[Server]:
    """alice (agent) and sam (supervisor), and 30 open tickets, none assigned (no PBX)."""
    path = tmp_path / "helpline.sqlite3"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite://{path}"
    add_agents(
        Settings.model_validate({"database": {"url": url}}),
        ("alice", Role.AGENT, "101"),
        ("sam", Role.SUPERVISOR, None),
    )
    directory(url, TICKETS)
    server = start_server(url, tmp_path)
    try:
        yield server
    finally:
        stop_server(server)


def call_state(api: Any, number: str) -> str | None:
    r = api.get(f"/api/v1/tickets/{number}")
    return r.json()["calls"][0]["state"] if r.status_code == 200 and r.json()["calls"] else None


def test_a_hang_up_between_opening_and_resolving_loses_nothing(
    browser: Any, desk: tuple[Server, ThreadedReplay]
) -> None:
    """The call's end changes the ticket while Alice types its resolution; with the live stream the page takes the
    new version in without touching what she typed, and the resolve goes through."""
    server, pbx = desk
    alice = log_in(browser, server, "alice")
    with screenshots_on_failure("hang-up-live", {"alice": alice}):
        alice.locator("#live-state.on").wait_for(timeout=10000)
        pbx.play()
        card = alice.locator("#tray article.pop")
        card.locator(".badge.state", has_text="answered").wait_for(timeout=20000)
        card.locator("button.open-ticket").click()
        view = alice.locator("#ticket")
        view.get_by_role("heading").filter(has_text="Call from").wait_for(timeout=5000)
        view.get_by_label("Move to").select_option("resolved")
        view.get_by_label("Resolution").fill("Перезапустили VPN\nи проверили")
        view.get_by_label("Title", exact=True).fill("VPN не работает дома")
        card.locator(".badge.state", has_text="ended").wait_for(timeout=20000)
        view.locator(".timeline .call", has_text="talked").wait_for(timeout=10000)  # the hang-up reached the page
        expect(view.get_by_label("Resolution")).to_have_value("Перезапустили VPN\nи проверили")
        view.get_by_role("button", name="Change status").click()
        expect(view.locator(".t-status")).to_have_text("resolved", timeout=10000)
        expect(view.locator(".t-resolution")).to_have_text("Перезапустили VPN\nи проверили")
        view.get_by_role("button", name="Save changes").click()
        expect(view.get_by_role("heading", level=2)).to_contain_text("VPN не работает дома", timeout=10000)
        assert view.locator(".failure").count() == 0


def test_a_412_from_a_hang_up_is_reapplied_and_the_typed_resolution_kept(
    browser: Any, desk: tuple[Server, ThreadedReplay]
) -> None:
    """Without the live stream (a blip) the page still holds the old version when the call ends: the resolve gets
    412, the page reloads the ticket, keeps the typed resolution and the edited title, and applies both."""
    server, pbx = desk
    alice = log_in(browser, server, "alice")
    alice.route("**/api/v1/events", lambda route: route.abort())
    api = login(server.base_url, "alice")
    with screenshots_on_failure("hang-up-412", {"alice": alice}):
        alice.locator("#whoami").wait_for(timeout=10000)
        pbx.play()
        wait_until(lambda: call_state(api, "IT-2") == "answered", what="the call to be answered")
        alice.locator("#search-q").fill("IT-2")
        alice.locator("#search-q").press("Enter")
        view = alice.locator("#ticket")
        view.get_by_role("heading").filter(has_text="IT-2: Call from").wait_for(timeout=5000)
        expect(alice.locator("#ticket-title")).to_be_focused(timeout=5000)
        view.get_by_label("Move to").select_option("resolved")
        view.get_by_label("Resolution").fill("Перезапустили VPN")
        view.get_by_label("Title", exact=True).fill("VPN не работает дома")
        wait_until(lambda: call_state(api, "IT-2") == "ended", what="the hang-up")
        view.get_by_role("button", name="Change status").click()
        alice.locator("#notice", has_text="changed meanwhile").wait_for(timeout=10000)
        expect(view.locator(".t-status")).to_have_text("resolved", timeout=10000)
        expect(view.locator(".t-resolution")).to_have_text("Перезапустили VPN")
        expect(view.get_by_label("Title", exact=True)).to_have_value("VPN не работает дома")  # still unsaved, kept
        view.get_by_role("button", name="Save changes").click()
        expect(view.get_by_role("heading", level=2)).to_contain_text("VPN не работает дома", timeout=10000)
        assert api.get("/api/v1/tickets/IT-2").json()["title"] == "VPN не работает дома"
        assert view.locator(".failure").count() == 0


def test_only_a_field_changed_on_both_sides_is_asked_about(browser: Any, office: Server) -> None:
    """Alice edits the title and description of IT-1; meanwhile Sam changes its title and impact. Her page takes
    Sam's impact (she did not touch it), keeps her description, and asks about the title only."""
    alice = log_in(browser, office, "alice")
    sam = login(office.base_url, "sam")
    with screenshots_on_failure("conflict", {"alice": alice}):
        alice.locator("#live-state.on").wait_for(timeout=10000)
        alice.locator("#search-q").fill("IT-1")
        alice.locator("#search-q").press("Enter")
        view = alice.locator("#ticket")
        expect(alice.locator("#ticket-title")).to_be_focused(timeout=5000)  # the ticket is open
        view.get_by_label("Title", exact=True).fill("VPN: клиент не запускается")
        view.get_by_label("Description").fill("Пробовали\nперезагрузить")
        etag = sam.get("/api/v1/tickets/IT-1").headers["etag"]
        changed = sam.patch(
            "/api/v1/tickets/IT-1", json={"title": "VPN down at home", "impact": "high"}, headers={"If-Match": etag}
        )
        assert changed.status_code == 200, changed.text
        conflict = view.locator(".f-title .conflict")
        expect(conflict).to_contain_text("VPN down at home", timeout=10000)
        expect(view.get_by_label("Impact", exact=True)).to_have_value("high")
        expect(view.get_by_label("Title", exact=True)).to_have_value("VPN: клиент не запускается")
        expect(view.get_by_label("Description")).to_have_value("Пробовали\nперезагрузить")
        assert view.locator(".f-description .conflict").is_hidden()
        conflict.get_by_role("button", name="Keep mine").click()
        view.get_by_role("button", name="Save changes").click()
        expect(view.get_by_role("heading", level=2)).to_have_text("IT-1: VPN: клиент не запускается", timeout=10000)
        now = sam.get("/api/v1/tickets/IT-1").json()
        assert (now["title"], now["description"], now["impact"]) == (
            "VPN: клиент не запускается",
            "Пробовали\nперезагрузить",
            "high",
        )


def test_a_pop_lands_in_the_tray_while_typing_and_leaves_after_the_wrap_up(
    browser: Any, desk: tuple[Server, ThreadedReplay]
) -> None:
    server, pbx = desk
    alice = log_in(browser, server, "alice", storage={"helpline.wrapup": "2"})
    with screenshots_on_failure("tray", {"alice": alice}):
        alice.locator("#live-state.on").wait_for(timeout=10000)
        alice.locator("#search-q").fill("IT-1")
        alice.locator("#search-q").press("Enter")
        expect(alice.locator("#ticket-title")).to_be_focused(timeout=5000)  # the ticket is open
        comment = alice.get_by_role("textbox", name="Reply or note")
        comment.click()
        alice.keyboard.type("Проверяю настройки ")
        pbx.play()
        card = alice.locator("aside #tray article.pop")
        card.wait_for(timeout=20000)
        alice.keyboard.type("VPN")  # the pop took neither the focus nor the place of the form
        expect(comment).to_have_value("Проверяю настройки VPN")
        assert alice.evaluate("document.activeElement.id") == "t-comment"
        box, form = card.bounding_box(), comment.bounding_box()
        assert box["x"] >= form["x"] + form["width"], "the tray is beside the ticket, not above it"
        doc_screenshot(alice, "console-tray")
        card.locator(".badge.state", has_text="answered").wait_for(timeout=20000)
        card.get_by_role("button", name="New ticket for this call").click()  # the call opened IT-2: that one
        alice.locator("#ticket").get_by_role("heading").filter(has_text="IT-2: Call from").wait_for(timeout=5000)
        card.locator(".badge.state", has_text="ended").wait_for(timeout=20000)
        expect(alice.locator("#tray article.pop")).to_have_count(0, timeout=15000)  # 2 s of wrap-up, then gone
        expect(alice.locator("#tray-empty")).to_be_visible()


#: A tab in the background, whose notifications and sounds are counted (the browser's own still run).
BACKGROUND = """
Object.defineProperty(document, "hidden", { get: () => true });
window.shown = [];
const Real = window.Notification;
window.Notification = function (title, options) {
    window.shown.push([title, options.body]);
    return new Real(title, options);
};
Object.defineProperty(window.Notification, "permission", { get: () => Real.permission });
window.Notification.requestPermission = () => Real.requestPermission();
window.tones = 0;
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) { window.tones += 1; return start.apply(this, args); };
"""


def test_a_background_tab_is_told_of_a_ringing_call_when_the_agent_asked(
    browser: Any, desk: tuple[Server, ThreadedReplay]
) -> None:
    server, pbx = desk
    alice = log_in(browser, server, "alice", init=BACKGROUND, permissions=["notifications"])
    with screenshots_on_failure("notify", {"alice": alice}):
        alice.locator("#live-state.on").wait_for(timeout=10000)
        alice.get_by_label("Alert me in the background").check()
        alice.reload()  # the choice is remembered in this browser
        expect(alice.get_by_label("Alert me in the background")).to_be_checked(timeout=10000)
        alice.locator("#live-state.on").wait_for(timeout=10000)
        pbx.play()
        alice.locator("#tray article.pop").wait_for(timeout=20000)
        wait_until(lambda: alice.evaluate("window.shown.length") == 1, what="one desktop notification")
        assert alice.evaluate("window.shown[0]") == ["A call is ringing for you", "Alice Example"]
        assert alice.evaluate("window.tones") == 1, "and one short tone"


def test_views_count_and_page_and_a_number_jumps_to_its_ticket(browser: Any, office: Server) -> None:
    alice = log_in(browser, office, "alice")
    with screenshots_on_failure("views", {"alice": alice}):
        unassigned = alice.locator("#views button[data-view='unassigned']")
        expect(unassigned.locator(".count")).to_have_text(str(TICKETS), timeout=10000)
        unassigned.click()
        rows = alice.locator("#ticket-list li.ticket-row")
        expect(rows).to_have_count(25)
        alice.get_by_role("button", name="More").click()
        expect(rows).to_have_count(TICKETS)
        expect(alice.get_by_role("button", name="More")).to_be_hidden()
        # priority has a colour and words
        assert rows.first.locator(".prio").inner_text().startswith("P")
        alice.locator("#search-q").fill("it-3")
        alice.locator("#search-q").press("Enter")
        expect(alice.locator("#ticket h2")).to_have_text("IT-3: อีเมลเข้าไม่ได้ #3", timeout=5000)
        alice.locator("#search-q").fill("IT-999")
        alice.locator("#search-q").press("Enter")
        expect(alice.locator("#search-form .failure")).to_contain_text("no ticket IT-999")
        alice.locator("#search-form .failure").get_by_role("button", name="Dismiss").click()
        expect(alice.locator("#search-form .failure")).to_have_count(0)


def test_a_walk_up_gets_a_new_ticket_with_the_requester_picked_from_the_directory(browser: Any, office: Server) -> None:
    alice = log_in(browser, office, "alice")
    with screenshots_on_failure("new-ticket", {"alice": alice}):
        alice.get_by_role("button", name="New ticket").click()
        form = alice.locator("form.new-ticket")
        form.get_by_role("button", name="Create ticket").click()
        expect(form.locator(".failure")).to_contain_text("A title is needed")  # next to the form, until dismissed
        form.get_by_label("Title").fill("Монитор мигает / จอกะพริบ")
        form.get_by_label("Description").fill("Подошла к стойке.\nМонитор Dell, этаж 2")
        form.get_by_label("Came by").select_option("web")
        form.get_by_label("Requester").fill("Алиса")
        form.get_by_role("button", name=CALLER).click()
        expect(form.locator(".picker .chosen")).to_have_text(CALLER)
        form.get_by_role("button", name="Create ticket").click()
        view = alice.locator("#ticket")
        expect(view.get_by_role("heading", level=2)).to_have_text(
            f"IT-{TICKETS + 1}: Монитор мигает / จอกะพริบ", timeout=5000
        )
        expect(view.locator(".t-requester")).to_have_text(f"{CALLER} (VIP)")
        expect(view.get_by_label("Description")).to_have_value("Подошла к стойке.\nМонитор Dell, этаж 2")
        # and the requester can be changed the same way (here: cleared)
        view.locator(".f-requester_id").get_by_role("button", name="clear").click()
        view.get_by_role("button", name="Save changes").click()
        expect(view.locator(".t-requester")).to_have_text("—", timeout=5000)


def test_a_canned_response_lands_in_the_reply_with_the_tickets_fields(browser: Any, office: Server) -> None:
    api = login(office.base_url, "alice")
    body = "Здравствуйте, {{requester.name}}!\nПо заявке {{ticket.number}} ({{ticket.bogus}}) мы перезвоним."
    made = api.post("/api/v1/canned-responses", json={"title": "Перезвоним", "body": body})
    assert made.status_code == 201, made.text
    alice = log_in(browser, office, "alice")
    with screenshots_on_failure("canned", {"alice": alice}):
        alice.locator("#search-q").fill("IT-4")
        alice.locator("#search-q").press("Enter")
        view = alice.locator("#ticket")
        view.get_by_label("Canned response").select_option(label="Перезвоним")
        expect(view.get_by_role("textbox", name="Reply or note")).to_have_value(
            f"Здравствуйте, {CALLER}!\nПо заявке IT-4 ({{{{ticket.bogus}}}}) мы перезвоним.", timeout=5000
        )
        expect(view.locator("form.comment .failure")).to_contain_text("ticket.bogus")  # said, not silently left
        view.get_by_role("button", name="Send").click()
        expect(view.locator(".timeline .note .body")).to_contain_text("По заявке IT-4", timeout=5000)


def test_the_keyboard_alone_works_a_ticket(browser: Any, office: Server) -> None:
    alice = log_in(browser, office, "alice")
    with screenshots_on_failure("keyboard", {"alice": alice}):
        alice.locator("#views button[data-view='unassigned']").wait_for(timeout=10000)
        keys = alice.keyboard
        keys.press("/")
        assert alice.evaluate("document.activeElement.id") == "search-q"
        contrast = alice.evaluate(CONTRAST)
        assert contrast["ring"] != "none" and contrast["focus"] >= 3, contrast  # WCAG 2.2 non-text contrast
        assert contrast["button"] >= 3 and contrast["input"] >= 3, contrast
        keys.type("IT-3")
        keys.press("Enter")
        expect(alice.locator("#ticket h2")).to_contain_text("IT-3:", timeout=5000)
        expect(alice.locator("#ticket-title")).to_be_focused()
        alice.locator("#work").focus()
        keys.press("g")
        keys.press("v")
        assert alice.evaluate("document.activeElement.classList.contains('view')")
        alice.locator("#views button[data-view='unassigned']").focus()
        keys.press("Enter")
        expect(alice.locator("#list-title")).to_have_text("Unassigned")
        expect(alice.locator("#ticket-list li.ticket-row")).to_have_count(25)
        keys.press("j")
        keys.press("j")
        second = alice.locator("#ticket-list li.ticket-row").nth(1)
        expect(second).to_have_class("ticket-row selected")
        number = second.get_attribute("data-number")
        keys.press("Enter")
        expect(alice.locator("#ticket h2")).to_contain_text(f"{number}:", timeout=5000)
        expect(alice.locator("#ticket-title")).to_be_focused()  # opening moves the focus to the ticket
        keys.press("c")
        assert alice.evaluate("document.activeElement.id") == "t-comment"
        keys.type("Первая строка")
        keys.press("Shift+Enter")
        keys.type("second line")
        keys.press("Control+Enter")
        note = alice.locator("#ticket .timeline .note .body")
        expect(note).to_have_text("Первая строка\nsecond line", timeout=5000)  # the line break is kept
        alice.locator("#work").focus()
        keys.press("?")
        expect(alice.locator("#help")).to_be_visible()
        keys.press("Escape")
        expect(alice.locator("#help")).to_be_hidden()


@pytest.mark.parametrize(
    ("locale", "views", "save", "sample"),
    [
        ("en-GB", "Views", "Save changes", "Printer"),
        ("ru-RU", "Представления", "Сохранить изменения", "Не работает"),
        ("th-TH", "มุมมอง", "บันทึกการเปลี่ยนแปลง", "อีเมล"),
    ],
)
def test_the_console_speaks_the_agents_language_and_passes_axe(
    browser: Any, office: Server, locale: str, views: str, save: str, sample: str
) -> None:
    """The browser's language chooses (Accept-Language / navigator.language); every screen is drawn with real
    glyphs and axe-core finds no serious or critical violation on the login, the main screen, a ticket and the
    keys dialog."""
    page = browser.new_context(viewport={"width": 1280, "height": 720}, locale=locale, bypass_csp=True).new_page()
    with screenshots_on_failure(f"language-{locale}", {"page": page}):
        page.goto(office.base_url + "/")
        page.locator("#login-name").wait_for()
        assert axe_violations(page) == []
        page.close()
        page = log_in(browser, office, "sam", locale=locale, bypass_csp=True)
        expect(page.locator("#views-title")).to_have_text(views, timeout=10000)
        page.locator("#views button[data-view='team']").click()
        page.locator("#ticket-list li.ticket-row").first.wait_for(timeout=5000)
        page.locator("#ticket-list button.open", has_text=sample).first.click()
        expect(page.locator("#ticket form.details button[type=submit]")).to_have_text(save, timeout=5000)
        assert renders(page, "#views-title"), f"{locale}: the views heading is drawn with real glyphs"
        assert renders(page, "#ticket h2"), f"{locale}: the ticket title too"
        assert page.evaluate("document.documentElement.lang") == locale[:2]
        page.evaluate("window.scrollTo(0, 0)")
        doc_screenshot(page, f"console-{locale[:2]}")
        assert axe_violations(page) == []
        page.keyboard.press("?")
        expect(page.locator("#help")).to_be_visible()
        assert axe_violations(page) == []
        # the switcher changes the language (and this browser remembers it)
        page.keyboard.press("Escape")
        other = "th" if locale[:2] != "th" else "ru"
        page.locator("#language").select_option(other)
        expect(page.locator("#views-title")).to_have_text("มุมมอง" if other == "th" else "Представления", timeout=10000)


def test_a_call_is_linked_to_the_callers_open_ticket_with_one_click(
    browser: Any, desk: tuple[Server, ThreadedReplay]
) -> None:
    """The caller rings about IT-1 again: one click in the tray merges the call's new ticket (IT-2) into IT-1, which
    now has the call in its history; IT-2 says where it went."""
    server, pbx = desk
    alice = log_in(browser, server, "alice")
    api = login(server.base_url, "alice")
    with screenshots_on_failure("link-call", {"alice": alice}):
        alice.locator("#live-state.on").wait_for(timeout=10000)
        pbx.play()
        card = alice.locator("#tray article.pop")
        card.get_by_role("button", name="Link this call to IT-1").click(timeout=20000)
        expect(alice.locator("#ticket-title")).to_have_text("IT-1: Не работает VPN ที่บ้าน #1", timeout=10000)
        alice.locator("#ticket .timeline .call").first.wait_for(timeout=10000)
        merged = api.get("/api/v1/tickets/IT-2").json()
        assert (merged["status"], merged["merged_into"]["number"]) == ("closed", "IT-1")
        alice.locator("#search-q").fill("IT-2")
        alice.locator("#search-q").press("Enter")
        expect(alice.locator("#ticket .t-merged")).to_contain_text("IT-1", timeout=5000)
