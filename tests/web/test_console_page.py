"""The console page is served by helpline itself at / with its modules, locked down by its headers."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.support.paths import ROOT

CONSOLE = ROOT / "web" / "console"


def test_the_page_and_its_modules_are_served_with_a_strict_policy(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert '<script type="module" src="/console/app.js">' in page.text and 'lang="en"' in page.text
    modules = sorted(str(p.relative_to(CONSOLE)) for p in CONSOLE.rglob("*.js"))
    assert "app.js" in modules and "lang/th.js" in modules
    for module in modules:
        r = client.get(f"/console/{module}")
        assert r.status_code == 200 and "javascript" in r.headers["content-type"], module
        assert "innerHTML" not in r.text, f"{module}: data must never be parsed as HTML"
    assert client.get("/console/console.css").status_code == 200
    missing = client.get("/console/nope.js")
    assert missing.status_code == 404


STRICT = ("content-security-policy", "x-frame-options", "x-content-type-options")


def test_only_one_url_serves_the_page_and_every_asset_has_the_headers(client: TestClient) -> None:
    """The page was also served at /console/index.html, without CSP, X-Frame-Options and nosniff."""
    page = client.get("/")
    for path in (
        "/console/index.html",
        "/console/./index.html",
        "/console//index.html",
        "/console/index%2Ehtml",
        "/console/",
        "/console",
        "/console/../console/index.html",
    ):
        for method in ("GET", "HEAD"):
            r = client.request(method, path)  # /console redirects to /console/, which serves nothing
            assert r.status_code == 404 and "<html" not in r.text.lower(), (method, path, r.status_code)
    for module in ("app.js", "api.js", "live.js", "tray.js", "queue.js", "ticket.js", "dom.js", "console.css"):
        for method in ("GET", "HEAD"):
            r = client.request(method, f"/console/{module}")
            assert r.status_code == 200, (method, module)
            assert all(r.headers.get(h) == page.headers[h] for h in STRICT), (method, module, r.headers)
            assert r.headers["x-content-type-options"] == "nosniff"
        etag = client.get(f"/console/{module}").headers["etag"]
        cached = client.get(f"/console/{module}", headers={"If-None-Match": etag})
        assert cached.status_code == 304 and all(h in cached.headers for h in STRICT), module


def test_unknown_api_urls_still_get_problem_documents(client: TestClient) -> None:
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
