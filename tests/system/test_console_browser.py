"""The console in a real browser (Debian's Chromium via Playwright) against a real ``helpline serve`` with a PBX
replaying a recorded call: log in, the screen pop reaches the agent whose phone rings and nobody else, the ticket
can be worked from the page, Cyrillic and Thai render."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.ami import AMI, SECRET, USER
from tests.support.console import ThreadedReplay, chromium, doc_screenshot, log_in, renders, screenshots_on_failure
from tests.support.live import PASSWORD, add_agents, run_elsewhere
from tests.support.servers import Server, run_cli, start_server, stop_server
from tickets.actor import Actor
from tickets.models import Role
from tickets.person_service import PersonService
from tickets.ticket_service import TicketService
from web.runtime import db
from web.settings import Settings

CALLER = "Алиса Примерова"  # "Alice Example" <+15551230001> in a_answered.raw, as the directory knows her


@pytest.fixture
def browser() -> Iterator[Any]:
    playwright, browser = chromium()
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()


@pytest.fixture(params=["known"])
def desk(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[tuple[Server, ThreadedReplay]]:
    """helpline with agents alice (ext 101: the recording's answering agent) and bob (102), the caller known to the
    directory with an older ticket (``ambiguous``: and someone else with the same number), and a PBX that replays
    one answered call when told to."""
    path = tmp_path / "helpline.sqlite3"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite://{path}"
    settings = Settings.model_validate({"database": {"url": url}})
    add_agents(settings, ("alice", Role.AGENT, "101"), ("bob", Role.AGENT, "102"))

    async def directory() -> None:
        await db.open_orm(settings.database)
        try:
            person = await PersonService().create(
                name=CALLER, phone="+15551230001", department="Бухгалтерия", title="Главный бухгалтер", vip=True
            )
            await TicketService().create(Actor.system("test"), title="Не работает VPN ที่บ้าน", requester_id=person.id)
            if request.param == "ambiguous":
                await PersonService().create(name="สมชาย ใจดี", phone="+1 555 123 0001", department="ต้อนรับ")
        finally:
            await db.close_orm()

    run_elsewhere(directory())
    with ThreadedReplay(AMI / "a_answered.raw", USER, SECRET, speed=1.0) as pbx:
        config = tmp_path / "helpline.toml"
        config.write_text(
            f'[[pbx]]\nname = "main"\nhost = "127.0.0.1"\nport = {pbx.port}\nusername = "{USER}"\n'
            f'secret = "{SECRET}"\nqueues = ["helpdesk"]\noriginate_channel = "Local/{{extension}}@agents"\n'
        )
        server = start_server(url, tmp_path, {"HELPLINE_CONFIG": str(config)})
        try:
            yield server, pbx
        finally:
            stop_server(server)


def test_wrong_password_is_refused_and_logout_returns_to_the_login(
    browser: Any, tmp_path: Path, sqlite_template: Path
) -> None:
    path = tmp_path / "helpline.sqlite3"
    shutil.copyfile(sqlite_template, path)
    add_agents(Settings.model_validate({"database": {"url": f"sqlite://{path}"}}), ("alice", Role.AGENT, "101"))
    server = start_server(f"sqlite://{path}", tmp_path)
    try:
        page = log_in(browser, server, "alice", "not the password")
        with screenshots_on_failure("login", {"page": page}):
            expect(page.get_by_role("alert")).to_have_text("Wrong login or password.")
            assert page.locator("#console").is_hidden()
            page.get_by_label("Password").fill(PASSWORD)
            page.keyboard.press("Enter")  # the keyboard alone logs in
            page.locator("#whoami").get_by_text("Alice Agent").wait_for(timeout=5000)
            page.reload()  # the session survives a reload (cookie), the password field is never refilled
            page.locator("#whoami").get_by_text("Alice Agent").wait_for(timeout=5000)
            page.get_by_role("button", name="Log out").click()
            page.get_by_role("heading", name="Log in").wait_for(timeout=5000)
            page.reload()
            page.get_by_role("heading", name="Log in").wait_for(timeout=5000)
    finally:
        stop_server(server)


def test_the_first_admin_added_by_a_script_is_told_how_to_get_a_password(
    browser: Any, tmp_path: Path, sqlite_template: Path
) -> None:
    """The README's first run off a terminal: ``helpline user add ada --role admin`` sets no password; the login page
    says so and names the command, which then lets her in."""
    path = tmp_path / "helpline.sqlite3"
    shutil.copyfile(sqlite_template, path)
    env = {**os.environ, "HELPLINE_DATABASE_URL": f"sqlite://{path}"}
    env.pop("HELPLINE_CONFIG", None)

    def helpline(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=env, cwd=tmp_path, stdin=stdin)

    added = helpline("user", "add", "ada", "--role", "admin", "--name", "Ada Admin")
    assert added.returncode == 0 and "helpline user password ada" in added.stderr, added.stderr
    server = start_server(f"sqlite://{path}", tmp_path)
    try:
        page = log_in(browser, server, "ada", PASSWORD)
        with screenshots_on_failure("no-password", {"page": page}):
            expect(page.get_by_role("alert")).to_have_text(
                "this account has no password yet: an admin sets one with `helpline user password ada`"
            )
            assert page.locator("#console").is_hidden()
            assert helpline("user", "password", "ada", "--password-file", "-", stdin=PASSWORD + "\n").returncode == 0
            page.get_by_label("Password").fill(PASSWORD)
            page.keyboard.press("Enter")
            page.locator("#whoami").get_by_text("Ada Admin").wait_for(timeout=5000)
    finally:
        stop_server(server)


def test_the_screen_pop_reaches_the_ringing_agent_only_and_the_ticket_can_be_worked(
    browser: Any, desk: tuple[Server, ThreadedReplay]
) -> None:
    server, pbx = desk
    alice, bob = log_in(browser, server, "alice"), log_in(browser, server, "bob")
    with screenshots_on_failure("screen-pop", {"alice": alice, "bob": bob}):
        for page in (alice, bob):
            page.locator("#live-state.on").wait_for(timeout=10000)
        pbx.play()  # the call: Alice Agent (ext 101) rings, answers, talks 4 s, hangs up

        card = alice.locator("article.pop")
        card.wait_for(timeout=20000)
        assert card.locator("h3.caller").inner_text() == CALLER
        assert card.locator(".badge.vip").is_visible()
        assert card.locator(".department").inner_text() == "Бухгалтерия"
        assert card.locator(".job-title").inner_text() == "Главный бухгалтер"
        assert "Не работает VPN ที่บ้าน" in card.locator(".recent").inner_text()
        assert renders(alice, "article.pop h3.caller"), "Cyrillic is drawn with real glyphs"
        assert renders(alice, "article.pop .recent button", "ที่บ้าน"), "so is Thai (with Cyrillic)"
        doc_screenshot(alice, "console-screen-pop")
        card.locator(".badge.state", has_text="ended").wait_for(timeout=20000)
        # bob's phone never rang: no pop (nor is he a member of the queue, which rang only Alice)
        assert bob.locator("article.pop").count() == 0

        # the notes box adds an internal comment to the call's ticket
        card.get_by_label("Notes for").fill("Звонила из дома, VPN")
        card.get_by_role("button", name="Save note").click()
        alice.get_by_role("status").filter(has_text="Note added").wait_for(timeout=5000)

        card.locator("button.open-ticket").click()
        view = alice.locator("#ticket")
        view.get_by_role("heading").filter(has_text="Call from").wait_for(timeout=5000)
        view.locator(".history").get_by_text("Звонила из дома, VPN").wait_for(timeout=5000)
        assert view.locator(".t-assignee").inner_text() == "Alice Agent", "the answering agent got the ticket"

        view.get_by_role("textbox", name="Reply or note").fill("Перезапустили клиент VPN")
        view.get_by_role("button", name="Send").click()
        view.locator(".history").get_by_text("Перезапустили клиент VPN").wait_for(timeout=5000)

        view.get_by_label("Impact", exact=True).select_option("high")
        view.get_by_label("Urgency", exact=True).select_option("high")
        view.get_by_role("button", name="Save changes").click()
        view.locator(".t-priority").get_by_text("P1").wait_for(timeout=5000)

        view.get_by_label("Move to").select_option("pending")
        view.get_by_role("button", name="Change status").click()
        view.locator(".t-status").get_by_text("pending").wait_for(timeout=5000)

        view.get_by_label("Assignee", exact=True).fill("bob")
        view.get_by_role("button", name="Save changes").click()
        view.locator(".t-assignee").get_by_text("Bob Agent").wait_for(timeout=5000)
        doc_screenshot(alice, "console-ticket")
        # bob's console hears of it: the ticket is now in his queue
        bob.locator("#ticket-list").get_by_text("Call from").wait_for(timeout=10000)


@pytest.mark.parametrize("desk", ["ambiguous"], indirect=True)
def test_an_ambiguous_caller_is_picked_with_one_click(browser: Any, desk: tuple[Server, ThreadedReplay]) -> None:
    server, pbx = desk
    alice = log_in(browser, server, "alice")
    with screenshots_on_failure("ambiguous", {"alice": alice}):
        alice.locator("#live-state.on").wait_for(timeout=10000)
        pbx.play()
        card = alice.locator("article.pop")
        card.wait_for(timeout=20000)
        choice = card.get_by_role("group", name="Several people have this number")
        choice.get_by_role("button", name="สมชาย ใจดี").wait_for(timeout=5000)
        assert renders(alice, "article.pop fieldset button", "สมชาย"), "Thai is drawn with real glyphs"
        choice.get_by_role("button", name=CALLER).click()
        alice.locator("article.pop h3.caller", has_text=CALLER).wait_for(timeout=5000)
        assert alice.locator("article.pop .department").inner_text() == "Бухгалтерия"
        alice.locator("article.pop button.open-ticket").click()
        alice.locator("#ticket").get_by_text(f"{CALLER} (VIP)").wait_for(timeout=5000)


@pytest.fixture
def queue_desk(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[Server, ThreadedReplay]]:
    """helpline with alice (ext 101, a member of the helpdesk queue in the recording) and dave (104, in no queue),
    and a PBX that, when told to, is the one of f_resync_snapshot.raw: helpline connects while 3 calls talk to
    Alice, Bob and Carol and 3 wait in the queue; the waiting ones are answered a few seconds later."""
    path = tmp_path / "helpline.sqlite3"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite://{path}"
    add_agents(
        Settings.model_validate({"database": {"url": url}}), ("alice", Role.AGENT, "101"), ("dave", Role.AGENT, "104")
    )
    with ThreadedReplay(AMI / "f_resync_snapshot.raw", USER, SECRET, speed=2.0) as pbx:
        config = tmp_path / "helpline.toml"
        config.write_text(
            f'[[pbx]]\nname = "main"\nhost = "127.0.0.1"\nport = {pbx.port}\nusername = "{USER}"\n'
            f'secret = "{SECRET}"\nqueues = ["helpdesk"]\n'
        )
        server = start_server(url, tmp_path, {"HELPLINE_CONFIG": str(config)})
        try:
            yield server, pbx
        finally:
            stop_server(server)


def test_the_queue_board_shows_the_agents_queues_live(browser: Any, queue_desk: tuple[Server, ThreadedReplay]) -> None:
    server, pbx = queue_desk
    alice, dave = log_in(browser, server, "alice"), log_in(browser, server, "dave")
    with screenshots_on_failure("queue-board", {"alice": alice, "dave": dave}):
        for page in (alice, dave):
            page.locator("#live-state.on").wait_for(timeout=10000)
        expect(alice.locator("#queue-stats-empty")).to_be_visible()  # no PBX news yet
        pbx.play()

        helpdesk = alice.locator("#queue-stats tbody tr[data-queue='helpdesk']")
        expect(helpdesk.locator(".q-waiting")).to_have_text("3", timeout=20000)
        expect(helpdesk.locator(".q-agents")).to_have_text("0 free, 3 busy, 0 paused")
        # the waiting calls are on her board too, with the three being talked to
        expect(alice.locator("#queue-board tbody tr", has_text="waiting")).to_have_count(3)
        longest = helpdesk.locator(".q-longest")
        first = longest.inner_text()
        # the longest wait ticks on between events (every second; a loaded machine may take longer to show it)
        expect(longest).not_to_have_text(first, timeout=15000)
        doc_screenshot(alice, "console-queue-board")

        expect(helpdesk.locator(".q-waiting")).to_have_text("0", timeout=20000)  # answered by Bob, Carol, Alice
        expect(helpdesk.locator(".q-longest")).to_have_text("—")
        expect(alice.locator("#queue-board tbody tr", has_text="waiting")).to_have_count(0)
        expect(helpdesk.locator(".q-agents")).to_have_text("3 free, 0 busy, 0 paused", timeout=20000)
        # her own phone in the top bar, with Pause; dave's phone is in no queue: nothing to show or pause
        expect(alice.locator("#phone .phone-state")).to_have_text("free", timeout=20000)
        expect(alice.locator("#phone").get_by_role("button", name="Pause")).to_be_visible()

        # dave is in no queue: neither the queue nor its calls reach his board
        assert dave.locator("#queue-stats tbody tr").count() == 0
        assert dave.locator("#queue-board tbody tr").count() == 0
        expect(dave.locator("#queue-stats-empty")).to_be_visible()

        # a console opened later shows the board at once (GET /api/v1/queues), dave's still nothing
        later = log_in(browser, server, "alice")
        row = later.locator("#queue-stats tbody tr[data-queue='helpdesk']")
        expect(row.locator(".q-agents")).to_have_text("3 free, 0 busy, 0 paused", timeout=10000)
        expect(row.locator(".q-today")).to_contain_text("answered")
        dave.reload()
        dave.locator("#live-state.on").wait_for(timeout=10000)
        assert dave.locator("#queue-stats tbody tr").count() == 0


def test_a_withheld_caller_pops_up_with_no_call_back_button(
    browser: Any, tmp_path: Path, sqlite_template: Path
) -> None:
    """b2: "Anonymous" <anonymous> rings Bob (102) and hangs up while it rings. His card shows the number as
    withheld and offers no "Call back anonymous"; the missed call's ticket asks for no call back either."""
    path = tmp_path / "helpline.sqlite3"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite://{path}"
    add_agents(Settings.model_validate({"database": {"url": url}}), ("bob", Role.AGENT, "102"))
    with ThreadedReplay(AMI / "b2_abandoned_while_ringing.raw", USER, SECRET, speed=1.0) as pbx:
        config = tmp_path / "helpline.toml"
        config.write_text(
            f'[[pbx]]\nname = "main"\nhost = "127.0.0.1"\nport = {pbx.port}\nusername = "{USER}"\n'
            f'secret = "{SECRET}"\nqueues = ["helpdesk"]\n'
        )
        server = start_server(url, tmp_path, {"HELPLINE_CONFIG": str(config)})
        try:
            bob = log_in(browser, server, "bob")
            with screenshots_on_failure("withheld", {"bob": bob}):
                bob.locator("#live-state.on").wait_for(timeout=10000)
                pbx.play()
                card = bob.locator("article.pop")
                card.wait_for(timeout=20000)
                expect(card.get_by_text("withheld", exact=True)).to_be_visible()
                card.locator(".badge.state", has_text="ended").wait_for(timeout=20000)
                assert card.get_by_role("button", name="Call back").count() == 0
                assert card.locator("button.call-back").count() == 0
                card.locator("button.open-ticket").click()
                view = bob.locator("#ticket")
                view.get_by_role("heading").filter(has_text="Missed call: a withheld number").wait_for(timeout=10000)
                assert view.get_by_role("button", name="Call").count() == 0
        finally:
            stop_server(server)
