"""Helpers for the browser tests: Debian's Chromium through Playwright, a PBX replay in a thread, screenshots."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pbx.replay import ReplayServer, Session
from tests.support.live import PASSWORD
from tests.support.paths import ROOT
from tests.support.servers import Server
from tests.support.services import service_missing

CHROMIUM = os.environ.get("HELPLINE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]
ARTIFACTS = Path(os.environ.get("HELPLINE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
DOC_SHOTS = ROOT / "docs" / "img"
AXE = ROOT / "tests" / "support" / "vendor" / "axe-core" / "axe.min.js"


def chromium() -> Any:
    """A started Playwright and a headless Chromium (skip, or fail under HELPLINE_REQUIRE_ALL=1, when missing)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("the browser tests need the playwright package (pip install -e '.[test]')")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        service_missing(f"the browser tests need Chromium at {CHROMIUM} (apt-get install -y chromium)")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception:
        playwright.stop()
        raise
    return playwright, browser


@contextlib.contextmanager
def screenshots_on_failure(name: str, pages: dict[str, Any]) -> Iterator[None]:
    """Save a full-page screenshot of every page when the block fails (test-artifacts/<name>-<page>.png)."""
    try:
        yield
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for label, page in pages.items():
            with contextlib.suppress(Exception):
                page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
        raise


def doc_screenshot(page: Any, name: str) -> None:
    """Refresh docs/img/<name>.png when HELPLINE_DOC_SCREENSHOTS=1 (the console guide shows them)."""
    if os.environ.get("HELPLINE_DOC_SCREENSHOTS") == "1":
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(DOC_SHOTS / f"{name}.png"))


class ThreadedReplay:
    """A ReplayServer on its own event loop in a thread (the helpline server under test is another process).

    The first connection gets an idle PBX; :meth:`play` drops it, and the listener's reconnection gets the
    recording: the calls start when the test is ready for them.
    """

    def __init__(self, recording: Path, username: str, secret: str, speed: float = 2.0) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = ReplayServer([Session(), Session.of(recording)], username=username, secret=secret, speed=speed)
        self.username, self.secret = username, secret

    def __enter__(self) -> ThreadedReplay:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self

    @property
    def port(self) -> int:
        return int(self.server.port)

    def pbx_toml(self) -> str:
        """A ``[[pbx]]`` section of a helpline configuration that listens to this replay (queue helpdesk)."""
        return (
            f'[[pbx]]\nname = "main"\nhost = "127.0.0.1"\nport = {self.port}\nusername = "{self.username}"\n'
            f'secret = "{self.secret}"\nqueues = ["helpdesk"]\n'
        )

    def play(self) -> None:
        self.loop.call_soon_threadsafe(self.server.drop)

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def log_in(
    browser: Any,
    server: Server,
    login: str,
    password: str = PASSWORD,
    locale: str = "en-GB",
    storage: dict[str, str] | None = None,
    init: str = "",
    **context: Any,
) -> Any:
    """A new browser context (1280x720, ``locale``, ``storage`` put in localStorage first, the script ``init`` run
    before the page's own) logged in as ``login``."""
    page = browser.new_context(viewport={"width": 1280, "height": 720}, locale=locale, **context).new_page()
    if init:
        page.add_init_script(init)
    if storage:
        page.add_init_script(
            "".join(f"localStorage.setItem({json.dumps(k)}, {json.dumps(v)});" for k, v in storage.items())
        )
    page.goto(server.base_url + "/")
    page.locator("#login-name").fill(login)
    page.locator("#login-password").fill(password)
    page.locator("#login-form button[type=submit]").click()
    return page


def renders(page: Any, selector: str, containing: str = "") -> bool:
    """Whether the text of ``selector`` (the first match containing ``containing``) is drawn with real glyphs: its
    width differs from the same number of unassigned code points (which every font draws as the same 'tofu' box)."""
    return bool(
        page.evaluate(
            """([selector, containing]) => {
        const el = [...document.querySelectorAll(selector)].find((e) => e.textContent.includes(containing));
        const font = getComputedStyle(el).font;
        const ctx = document.createElement("canvas").getContext("2d");
        ctx.font = font;
        const text = el.textContent.trim();
        const tofu = "\\u0378".repeat([...text].length);
        const width = ctx.measureText(text).width;
        return width > 0 && Math.abs(width - ctx.measureText(tofu).width) > 1;
    }""",
            [selector, containing],
        )
    )


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """Run the vendored axe-core on the page as it is now (the context needs ``bypass_csp=True``): the violations
    of the given impacts, each with the rule, its help text and the offending elements."""
    if not page.evaluate("() => Boolean(window.axe)"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        {"rule": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in found
        if v["impact"] in impacts
    ]
