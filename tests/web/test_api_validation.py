"""Bad input gets a clear ``application/problem+json`` answer with the right status, never a 500."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.servers import Team
from tickets.agent_service import AgentService
from tickets.models import Role
from web.app import create_app
from web.resources import apis
from web.settings import load_settings

PROBLEM = "application/problem+json"
V1 = "/api/v1"
JSON = {"Content-Type": "application/json"}

#: Operations that take a JSON body / a query string, with path parameters filled in (ticket 1, person 1, agent 1).
IDS = {
    "ref": "IT-1",
    "person_id": 1,
    "agent_id": 1,
    "token_id": 1,
    "override_id": 1,
    "alert_id": 1,
    "response_id": 1,
    "alias_id": 1,
}
BODY_OPS = [(op.method, api.prefix + op.path.format(**IDS)) for api in apis() for op in api.operations if op.body]
QUERY_OPS = [
    (op.method, api.prefix + op.path.format(**IDS), op.query) for api in apis() for op in api.operations if op.query
]


def problem(r: Any, status: int, kind: str | None = None) -> dict[str, Any]:
    """Assert ``r`` is a problem with ``status`` (and type ``kind``); return its body."""
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:300]}"
    assert r.headers["content-type"] == PROBLEM, r.headers["content-type"]
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    if kind is not None:
        assert body["type"] == f"urn:helpline:problem:{kind}", body
    return dict(body)


def fields(body: dict[str, Any]) -> dict[str, str]:
    return {e["field"]: e["detail"] for e in body.get("errors", [])}


def cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


@pytest.fixture
def h(client: TestClient, team: Team) -> dict[str, str]:
    """Admin headers, with ticket IT-1 and person 1 existing (agent 1 is ada, token 1 hers)."""
    headers = team.header(team.admin)
    assert client.post(f"{V1}/tickets", headers=headers, json={"title": "Printer"}).status_code == 201
    assert client.post(f"{V1}/people", headers=headers, json={"name": "Ivan"}).status_code == 201
    return headers


def ticket_count(client: TestClient, h: dict[str, str]) -> int:
    return len(client.get(f"{V1}/tickets", headers=h, params={"limit": 200}).json()["items"])


# -- the body as a whole ----------------------------------------------------------------------------------------


def test_every_body_operation_refuses_broken_json_non_objects_and_unknown_fields(
    client: TestClient, h: dict[str, str]
) -> None:
    assert len(BODY_OPS) >= 9
    for method, url in BODY_OPS:
        for raw in (b'{"title": "x"', b"{'title': 'x'}", b'{"a": 1,}', b"\xff\xfe{}", b"nul", b"\x0b", b" \x0c "):
            problem(client.request(method, url, headers={**h, **JSON}, content=raw), 400, "invalid-json")
        for raw in (b"[]", b'"text"', b"42", b"null", b"true", b'[{"title": "x"}]'):
            body = problem(client.request(method, url, headers={**h, **JSON}, content=raw), 422, "invalid-body")
            assert "JSON object" in body["detail"]
        r = client.request(method, url, headers=h, json={"colour": "red"})
        body = problem(r, 422, "invalid-body")
        assert "colour" in fields(body) and "unknown field" in fields(body)["colour"]


def test_patch_of_fields_with_their_own_endpoint_points_to_it(client: TestClient, h: dict[str, str]) -> None:
    pointers = {"status": "/transitions", "assignee": "/assign", "priority": "impact and urgency"}
    for name, pointer in pointers.items():
        body = problem(client.patch(f"{V1}/tickets/IT-1", headers=h, json={name: "x"}), 422, "invalid-body")
        assert pointer in fields(body)[name], body
    assert client.get(f"{V1}/tickets/IT-1", headers=h).json()["version"] == 1


WRONG_VALUES = [
    ("/tickets", {"title": 5}, "title"),
    ("/tickets", {"title": ["a"]}, "title"),
    ("/tickets", {"title": "x", "impact": "urgent"}, "impact"),
    ("/tickets", {"title": "x", "type": "problem"}, "type"),
    ("/tickets", {"title": "x", "channel": "fax"}, "channel"),
    ("/tickets", {"title": "x", "requester_id": "1"}, "requester_id"),
    ("/tickets", {"title": "x", "requester_id": 0}, "requester_id"),
    ("/tickets", {"title": "x", "requester_id": 2**31}, "requester_id"),
    ("/tickets", {"title": "x", "requester_id": 1.5}, "requester_id"),
    ("/tickets", {"title": "x", "assignee": "Not A Login"}, "assignee"),
    ("/tickets", {"title": None}, "title"),
    ("/tickets", {}, "title"),
    ("/tickets/IT-1/comments", {"body": "x", "public": "true"}, "public"),
    ("/tickets/IT-1/comments", {"body": 1}, "body"),
    ("/tickets/IT-1/transitions", {"to": "done"}, "to"),
    ("/tickets/IT-1/assign", {}, "assignee"),
    ("/tickets/IT-1/merge", {}, "into"),
    ("/tickets/IT-1/merge", {"into": "IT 2"}, "into"),
    ("/canned-responses", {"title": "x", "body": " \u200b "}, "body"),
    ("/canned-responses", {"title": "x\ny", "body": "y"}, "title"),
    ("/canned-responses", {"title": "x", "body": "y", "shared": "yes"}, "shared"),
    ("/people", {"name": "x", "vip": "yes"}, "vip"),
    ("/people", {"name": "x", "email": "not-an-email"}, "email"),
    ("/agents", {"login": "x", "display_name": "X", "role": "root"}, "role"),
    ("/agents", {"login": "-x", "display_name": "X"}, "login"),
    ("/agents", {"login": "x", "display_name": "X", "extension": "1 2"}, "extension"),
]


def test_wrong_types_and_values_are_422_naming_the_field(client: TestClient, h: dict[str, str]) -> None:
    for url, payload, field in WRONG_VALUES:
        body = problem(client.post(V1 + url, headers=h, json=payload), 422, "invalid-body")
        assert field in fields(body), (url, payload, body)
        assert field in body["detail"]
    assert ticket_count(client, h) == 1


def test_bad_patches_are_422_and_change_nothing(client: TestClient, h: dict[str, str]) -> None:
    for payload, field in (
        ({"title": None}, "title"),
        ({"type": None}, "type"),
        ({"impact": None}, "impact"),
        ({"title": "  "}, "title"),
        ({"urgency": "HIGH"}, "urgency"),
        ({"requester_id": True}, "requester_id"),
        ({"group": ""}, "group"),
        ({"title": "ok", "impact": "huge"}, "impact"),
    ):
        body = problem(client.patch(f"{V1}/tickets/IT-1", headers=h, json=payload), 422, "invalid-body")
        assert field in fields(body), (payload, body)
    ticket = client.get(f"{V1}/tickets/IT-1", headers=h).json()
    assert (ticket["version"], ticket["title"]) == (1, "Printer")


def test_blank_and_missing_required_text(client: TestClient, h: dict[str, str]) -> None:
    for title in ("", " ", "\t\n", "\u3000"):
        body = problem(client.post(f"{V1}/tickets", headers=h, json={"title": title}), 422, "invalid-body")
        assert "title" in fields(body)
    assert fields(problem(client.post(f"{V1}/tickets", headers=h, json={}), 422))["title"] == "is required"
    for url, payload, field in (
        (f"{V1}/tickets/IT-1/comments", {"body": "   "}, "body"),
        (f"{V1}/people", {"name": " "}, "name"),
        (f"{V1}/agents", {"login": "zed", "display_name": ""}, "display_name"),
    ):
        assert field in fields(problem(client.post(url, headers=h, json=payload), 422, "invalid-body"))
    assert ticket_count(client, h) == 1


#: (url, base payload, field, longest accepted length) for every bounded text a client sends.
LIMITS = [
    ("/tickets", {}, "title", 200),
    ("/tickets", {"title": "t"}, "description", 20_000),
    ("/tickets", {"title": "t"}, "group", 64),
    ("/tickets", {"title": "t"}, "caller_number", 64),
    ("/tickets/IT-1/comments", {}, "body", 20_000),
    ("/people", {}, "name", 200),
    ("/people", {"name": "n"}, "department", 128),
    ("/people", {"name": "n"}, "title", 128),
    ("/people", {"name": "n"}, "phone", 64),
    ("/people", {"name": "n"}, "external_id", 255),
    ("/agents", {"login": "lim"}, "display_name", 200),
    ("/agents/1/tokens", {}, "name", 64),
]


def test_too_long_strings_are_422_and_the_longest_allowed_ones_are_stored_whole(
    client: TestClient, h: dict[str, str]
) -> None:
    for n, (url, base, field, limit) in enumerate(LIMITS):
        extra = {"login": f"lim{n}"} if url == "/agents" else {}
        # Multi-byte characters: the limit counts characters on every database.
        too_long = "я" * (limit + 1)
        body = problem(client.post(V1 + url, headers=h, json={**base, **extra, field: too_long}), 422, "invalid-body")
        assert field in fields(body), body
        longest = ("Ж🙂" * limit)[:limit]
        r = client.post(V1 + url, headers=h, json={**base, **extra, field: longest})
        assert r.status_code == 201, f"{url} {field}: {r.text[:300]}"
        if url == "/tickets/IT-1/comments":
            assert r.json()["body"] == longest
        elif url == "/agents/1/tokens":
            assert r.json()["name"] == longest
        else:
            assert r.json()[field] == longest
    with_login = client.post(f"{V1}/agents", headers=h, json={"login": "a" * 65, "display_name": "X"})
    assert "login" in fields(problem(with_login, 422))
    with_ext = client.post(f"{V1}/agents", headers=h, json={"login": "ext", "display_name": "X", "extension": "1" * 33})
    assert "extension" in fields(problem(with_ext, 422))


def test_nul_characters_are_refused_in_every_text(client: TestClient, h: dict[str, str]) -> None:
    for escape in (r"\u0000", r"x\u0000y"):
        for url, template, field in (
            (f"{V1}/tickets", '{"title": "%s"}', "title"),
            (f"{V1}/tickets", '{"title": "t", "description": "%s"}', "description"),
            (f"{V1}/tickets/IT-1/comments", '{"body": "%s"}', "body"),
            (f"{V1}/people", '{"name": "%s"}', "name"),
            (f"{V1}/agents", '{"login": "n", "display_name": "%s"}', "display_name"),
        ):
            r = client.post(url, headers={**h, **JSON}, content=(template % escape).encode())
            assert "NUL" in fields(problem(r, 422, "invalid-body"))[field]
    r = client.patch(f"{V1}/tickets/IT-1", headers={**h, **JSON}, content=b'{"title": "a\\u0000"}')
    assert "title" in fields(problem(r, 422))
    assert "q" in fields(problem(client.get(f"{V1}/tickets", headers=h, params={"q": "a\x00"}), 400, "invalid-query"))
    assert ticket_count(client, h) == 1


def test_lone_surrogates_are_refused(client: TestClient, h: dict[str, str]) -> None:
    for escape in (r"\ud800", r"\udfff", r"a\ud800b", r"\ud800\u0041", r"\udc00\ud800"):
        for url, template in (
            (f"{V1}/tickets", '{"title": "%s"}'),
            (f"{V1}/people", '{"name": "%s"}'),
            (f"{V1}/tickets/IT-1/comments", '{"body": "%s"}'),
            (f"{V1}/tickets", '{"%s": 1, "title": "t"}'),
        ):
            r = client.post(url, headers={**h, **JSON}, content=(template % escape).encode())
            assert r.status_code in (400, 422), r.text
            problem(r, r.status_code)
    assert ticket_count(client, h) == 1
    assert client.get(f"{V1}/people", headers=h).json()["items"][0]["name"] == "Ivan"


def test_escaped_surrogate_pairs_are_fine(client: TestClient, h: dict[str, str]) -> None:
    r = client.post(f"{V1}/tickets", headers={**h, **JSON}, content=b'{"title": "\\ud83d\\ude00 \\u0436"}')
    assert r.status_code == 201 and r.json()["title"] == "😀 ж"


#: Every single-line text a client sends (names, titles, groups, ...): (method, url, base payload, field).
SINGLE_LINE = [
    ("POST", "/tickets", {}, "title"),
    ("PATCH", "/tickets/IT-1", {}, "title"),
    ("POST", "/tickets", {"title": "t"}, "group"),
    ("POST", "/tickets", {"title": "t"}, "caller_number"),
    ("POST", "/tickets/IT-1/assign", {"assignee": None}, "group"),
    ("POST", "/people", {}, "name"),
    ("PATCH", "/people/1", {}, "name"),
    ("POST", "/people", {"name": "n"}, "department"),
    ("POST", "/people", {"name": "n"}, "title"),
    ("POST", "/people", {"name": "n"}, "phone"),
    ("POST", "/people", {"name": "n"}, "email"),
    ("POST", "/people", {"name": "n"}, "external_id"),
    ("POST", "/agents", {"login": "cc"}, "display_name"),
    ("PATCH", "/agents/1", {}, "display_name"),
    ("POST", "/agents/1/tokens", {}, "name"),
]


@pytest.mark.parametrize(
    "value",
    ["Ann\r\nX-Injected: 1", "Ann\nLee", "Ann\rLee", "a\tb", "\x1b[31mred", "a\x7fb", "a\x85b", "a\u2028b", "a\u2029b"],
    ids=["crlf", "lf", "cr", "tab", "escape", "del", "nel", "line-sep", "para-sep"],
)
def test_control_characters_are_refused_in_names_and_single_line_text(
    client: TestClient, h: dict[str, str], value: str
) -> None:
    """A name or a title is one line of text: a CR/LF in an agent's name broke click to call (AMI headers)."""
    for method, url, base, field in SINGLE_LINE:
        r = client.request(
            method,
            V1 + url,
            headers=h,
            json={**base, field: value if field != "email" else value.replace("a", "a@b", 1) + "@x.org"},
        )
        body = problem(r, 422, "invalid-body")
        assert field in fields(body), (method, url, field, body)
        assert "control character" in fields(body)[field] or "one line" in fields(body)[field], body
    assert ticket_count(client, h) == 1
    assert [p["name"] for p in client.get(f"{V1}/people", headers=h).json()["items"]] == ["Ivan"]
    assert client.get(f"{V1}/agents/1", headers=h).json()["display_name"] == "Ada"
    # multi-line texts keep their line breaks and tabs
    r = client.post(f"{V1}/tickets", headers=h, json={"title": "t", "description": "line 1\r\n\tline 2"})
    assert r.status_code == 201 and r.json()["description"] == "line 1\r\n\tline 2"
    r = client.post(f"{V1}/tickets/IT-1/comments", headers=h, json={"body": "one\ntwo"})
    assert r.status_code == 201 and r.json()["body"] == "one\ntwo"


@pytest.mark.parametrize(
    "value",
    [
        "\u200b",
        "\u2060\ufeff",
        " \u200b\u200c\u200d ",
        "\u00ad",
        "\u202e",
        "\u3164",
        "\ufe0f",
        "\u2800\u200b"[1:],
        "\U000e0020",
    ],
    ids=[
        "zwsp",
        "word-joiner-bom",
        "zw-mix",
        "soft-hyphen",
        "rtl-override",
        "hangul-filler",
        "variation-selector",
        "grapheme-joiner",
        "tag-space",
    ],
)
def test_text_of_invisible_characters_is_blank(client: TestClient, h: dict[str, str], value: str) -> None:
    """Zero-width and format characters (Unicode Cf) are not text: a title made of them is refused like ''."""
    for method, url, base, field in (
        ("POST", "/tickets", {}, "title"),
        ("PATCH", "/tickets/IT-1", {}, "title"),
        ("POST", "/tickets", {"title": "t"}, "group"),
        ("POST", "/tickets/IT-1/comments", {}, "body"),
        ("POST", "/tickets/IT-1/transitions", {"to": "open"}, "comment"),
        ("POST", "/people", {}, "name"),
        ("PATCH", "/people/1", {}, "name"),
        ("POST", "/agents", {"login": "blank"}, "display_name"),
        ("PATCH", "/agents/1", {}, "display_name"),
    ):
        body = problem(client.request(method, V1 + url, headers=h, json={**base, field: value}), 422, "invalid-body")
        assert "blank" in fields(body)[field], (method, url, body)
    assert ticket_count(client, h) == 1
    ticket = client.get(f"{V1}/tickets/IT-1", headers=h).json()
    assert (ticket["title"], ticket["version"], ticket["status"]) == ("Printer", 1, "new")


def test_invisible_characters_inside_real_text_are_kept(client: TestClient, h: dict[str, str]) -> None:
    for title in ("a\u200bb", "می\u200cخواهم", "👩\u200d💻 laptop", "\ufeffBOM first"):
        r = client.post(f"{V1}/tickets", headers=h, json={"title": title})
        assert r.status_code == 201 and r.json()["title"] == title, r.text


@pytest.mark.parametrize(
    "raw, key",
    [
        (b'{"title": "a", "title": "b"}', "title"),
        (b'{"title": "a", "description": "x", "description": "y"}', "description"),
        (b'{"title": "a", "impact": "low", "impact": "high"}', "impact"),
    ],
)
def test_duplicate_json_keys_are_400_naming_the_key(
    client: TestClient, h: dict[str, str], raw: bytes, key: str
) -> None:
    """JSON parsers disagree on {"a": 1, "a": 2} (first or last wins): the API refuses it instead of guessing."""
    body = problem(client.post(f"{V1}/tickets", headers={**h, **JSON}, content=raw), 400, "invalid-json")
    assert key in body["detail"] and fields(body) == {key: "given more than once"}
    body = problem(client.patch(f"{V1}/tickets/IT-1", headers={**h, **JSON}, content=raw), 400, "invalid-json")
    assert key in fields(body)
    assert ticket_count(client, h) == 1
    assert client.get(f"{V1}/tickets/IT-1", headers=h).json()["version"] == 1
    # the same key in two different objects is fine
    r = client.post(
        f"{V1}/oncall/overrides",
        headers={**h, **JSON},
        content=b'{"schedule": "s", "person": "p", "start": "2026-01-01T00:00:00Z", '
        b'"end": "2026-01-02T00:00:00Z", "reason": "x"}',
    )
    assert r.status_code == 422 and "schedule" in fields(r.json())


def test_duplicate_json_keys_in_the_console_login_are_400(client: TestClient, h: dict[str, str]) -> None:
    raw = b'{"login": "ada", "login": "root", "password": "whatever it is"}'
    body = problem(client.post(f"{V1}/session", headers=JSON, content=raw), 400, "invalid-json")
    assert fields(body) == {"login": "given more than once"}


# -- transport: size, media type, routes, methods -----------------------------------------------------------------


@pytest.fixture
def small_app(database_url: str) -> Iterator[tuple[TestClient, str]]:
    """An app with [web] max_body_bytes = 4096, and an admin token for it."""
    settings = load_settings(environ={"HELPLINE_DATABASE_URL": database_url, "HELPLINE_WEB_MAX_BODY_BYTES": "4096"})
    with TestClient(create_app(settings)) as c:

        async def admin_token() -> str:
            agents = AgentService()
            ada = await agents.create(login="ada", display_name="Ada", role=Role.ADMIN)
            return (await agents.issue_token(ada.id))[1]

        yield c, c.portal.call(admin_token)


def test_bodies_over_max_body_bytes_are_413(small_app: tuple[TestClient, str]) -> None:
    small_client, token = small_app
    h = {"Authorization": f"Bearer {token}", **JSON}
    fits = json.dumps({"title": "fits", "description": "d" * 3000}).encode()
    assert small_client.post(f"{V1}/tickets", headers=h, content=fits).status_code == 201
    big = json.dumps({"title": "too big", "description": "d" * 5000}).encode()
    problem(small_client.post(f"{V1}/tickets", headers=h, content=big), 413, "body-too-large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds for streamed bodies too
        yield b'{"title": "streamed", "description": "'
        for _ in range(10):
            yield b"d" * 1000
        yield b'"}'

    problem(small_client.post(f"{V1}/tickets", headers=h, content=chunks()), 413, "body-too-large")
    listed = small_client.get(f"{V1}/tickets", headers=h).json()["items"]
    assert [t["title"] for t in listed] == ["fits"]


def test_bodies_that_are_not_json_are_415(client: TestClient, h: dict[str, str]) -> None:
    raw = b'{"title": "x"}'
    for ctype in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "json",
    ):
        problem(
            client.post(f"{V1}/tickets", headers={**h, "Content-Type": ctype}, content=raw),
            415,
            "unsupported-media-type",
        )
    problem(client.post(f"{V1}/tickets", headers=h, content=raw), 415, "unsupported-media-type")
    assert ticket_count(client, h) == 1
    for ctype in ("application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"):
        assert client.post(f"{V1}/tickets", headers={**h, "Content-Type": ctype}, content=raw).status_code == 201


def test_unknown_routes_are_404_problems(client: TestClient, h: dict[str, str]) -> None:
    for url in ("/nope", f"{V1}/nope", f"{V1}/tickets/IT-1/nope", "/api/v2/tickets", f"{V1}/tickets/IT-1/comments/1"):
        problem(client.get(url, headers=h), 404, "no-such-route")


def test_missing_objects_are_404_problems(client: TestClient, h: dict[str, str]) -> None:
    for url in (
        f"{V1}/tickets/IT-999",
        f"{V1}/tickets/999",
        f"{V1}/tickets/0",
        f"{V1}/tickets/-1",
        f"{V1}/tickets/99999999999999",
        f"{V1}/tickets/%00",
        f"{V1}/tickets/%ED%A0%80",
        f"{V1}/tickets/{'X' * 300}",
        f"{V1}/tickets/IT-999/activity",
        f"{V1}/people/999",
        f"{V1}/people/abc",
        f"{V1}/people/99999999999",
        f"{V1}/agents/0",
        f"{V1}/agents/1e3",
        f"{V1}/agents/99/tokens",
        f"{V1}/agents/%D9%A1",
    ):
        problem(client.get(url, headers=h), 404, "not-found")
    problem(client.delete(f"{V1}/agents/1/tokens/999", headers=h), 404, "not-found")
    problem(client.patch(f"{V1}/tickets/IT-999", headers=h, json={"title": "x"}), 404, "not-found")
    problem(client.post(f"{V1}/tickets/IT-999/transitions", headers=h, json={"to": "open"}), 404, "not-found")


def test_wrong_methods_are_405_problems_that_say_what_is_allowed(client: TestClient, h: dict[str, str]) -> None:
    for method, url, allowed in (
        ("DELETE", f"{V1}/tickets/IT-1", {"GET", "PATCH"}),
        ("PUT", f"{V1}/tickets/IT-1", {"GET", "PATCH"}),
        ("DELETE", f"{V1}/tickets", {"GET", "POST"}),
        ("GET", f"{V1}/tickets/IT-1/transitions", {"POST"}),
        ("POST", "/healthz", {"GET"}),
        ("PATCH", f"{V1}/agents/1/tokens", {"GET", "POST"}),
    ):
        r = client.request(method, url, headers=h)
        problem(r, 405, "method-not-allowed")
        assert allowed <= {m.strip() for m in r.headers["allow"].split(",")}, (url, r.headers["allow"])


# -- query strings and cursors ------------------------------------------------------------------------------------


def test_unknown_query_parameters_are_400_naming_them(client: TestClient, h: dict[str, str]) -> None:
    """Also on operations that take no query string at all: a typo must not pass unnoticed."""
    authenticated = [
        (op.method, api.prefix + op.path.format(**IDS))
        for api in apis()
        for op in api.operations
        if op.role is not None
    ]
    assert len(authenticated) > len(QUERY_OPS) >= 4
    for method, url in authenticated:
        body = problem(client.request(method, url, headers=h, params={"stauts": "open"}), 400, "invalid-query")
        assert "stauts" in fields(body) and "stauts" in body["detail"]
    assert client.get("/healthz", params={"_": "1700000000"}).status_code == 200


BAD_QUERIES = [
    ({"limit": "0"}, "limit"),
    ({"limit": "201"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"limit": ["1", "2"]}, "limit"),
    ({"status": "new,bogus"}, "status"),
    ({"priority": "P5"}, "priority"),
    ({"type": "problem"}, "type"),
    ({"channel": "fax"}, "channel"),
    ({"sort": "title"}, "sort"),
    ({"assignee": "Nobody Here"}, "assignee"),
    ({"assignee": "ghost"}, "assignee"),
    ({"requester_id": "x"}, "requester_id"),
    ({"requester_id": "0"}, "requester_id"),
    ({"q": ""}, "q"),
    ({"q": "x" * 201}, "q"),
    ({"group": ""}, "group"),
]


def test_bad_query_values_are_400_naming_the_parameter(client: TestClient, h: dict[str, str]) -> None:
    for params, field in BAD_QUERIES:
        body = problem(client.get(f"{V1}/tickets", headers=h, params=params), 400, "invalid-query")
        # A bad item of a list parameter is named with its position: status.1 is the second status.
        assert any(name.split(".")[0] == field for name in fields(body)), (params, body)


def test_damaged_cursors_are_400(client: TestClient, h: dict[str, str]) -> None:
    damaged = [
        "garbage",
        "!!!",
        "x" * 600,
        base64.urlsafe_b64encode(b"not json").decode(),
        cursor("-created", 1),
        cursor("-created", 1, 2, 3),
        cursor("-created", "1", 1),
        cursor("-created", 1, -1),
        cursor("-created", 1, 2**40),
        cursor("-created", True, 1),
        cursor("-created", 1.5, 1),
        cursor("-updated", {"t": "yesterday"}, 1),
        cursor("-updated", {"t": "2026-01-01T00:00:00"}, 1),
        cursor("-updated", {"x": 1}, 1),
        cursor("-updated", 5, 1),
        cursor("-updated", {"t": "0001-01-01T00:00:00+05:00"}, 1),
        cursor("-updated", {"t": "9999-12-31T23:59:59-05:00"}, 1),
        cursor("priority", "P1\u0000", 1),
        cursor("priority", "P1\ud800", 1),
        cursor("priority", "P" * 300, 1),
        cursor("priority", "P11", 1),
        cursor("priority", 1, 1),
    ]
    for sort in ("-created", "created", "-updated", "updated", "priority"):
        for value in damaged:
            r = client.get(f"{V1}/tickets", headers=h, params={"sort": sort, "cursor": value})
            assert r.status_code == 400, (sort, value, r.text[:300])
            assert r.json()["type"] in ("urn:helpline:problem:bad-cursor", "urn:helpline:problem:invalid-query")
    for url in (f"{V1}/people", f"{V1}/agents", f"{V1}/tickets/IT-1/activity"):
        for value in ("garbage", cursor("people", "x", 1), cursor("agents", 1, 2**40)):
            r = client.get(url, headers=h, params={"cursor": value})
            assert r.status_code == 400, (url, value, r.text)


def test_a_cursor_only_works_with_the_sort_and_list_it_was_made_for(client: TestClient, h: dict[str, str]) -> None:
    for title in ("two", "three"):
        client.post(f"{V1}/tickets", headers=h, json={"title": title})
    sorts = ("-created", "created", "-updated", "updated", "priority")
    cursors = {s: client.get(f"{V1}/tickets", headers=h, params={"sort": s, "limit": 1}).json()["next"] for s in sorts}
    assert all(cursors.values())
    for made_for in sorts:
        for used_with in sorts:
            r = client.get(f"{V1}/tickets", headers=h, params={"sort": used_with, "cursor": cursors[made_for]})
            if made_for == used_with:
                assert r.status_code == 200
            else:
                problem(r, 400, "bad-cursor")
    client.post(f"{V1}/people", headers=h, json={"name": "Second"})
    people_cursor = client.get(f"{V1}/people", headers=h, params={"limit": 1}).json()["next"]
    problem(
        client.get(f"{V1}/tickets", headers=h, params={"sort": "created", "cursor": people_cursor}), 400, "bad-cursor"
    )
    problem(client.get(f"{V1}/agents", headers=h, params={"cursor": people_cursor}), 400, "bad-cursor")


# -- If-Match ------------------------------------------------------------------------------------------------------


def test_if_match(client: TestClient, h: dict[str, str]) -> None:
    url = f"{V1}/tickets/IT-1"
    for bad in ("abc", '"abc"', '"1.0"', '"-1"', '"99999999999"', '" 1"'):
        r = client.patch(url, headers={**h, "If-Match": bad}, json={"title": "lost"})
        problem(r, 400, "bad-if-match")
    etag = client.get(url, headers=h).headers["etag"]
    assert etag == '"1"'
    ok = client.patch(url, headers={**h, "If-Match": etag}, json={"title": "first"})
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"' and ok.json()["title"] == "first"
    # Somebody else's change has happened since version 1: every guarded operation refuses.
    for method, path, payload in (
        ("PATCH", "", {"title": "lost"}),
        ("POST", "/assign", {"assignee": "ada"}),
        ("POST", "/transitions", {"to": "open"}),
    ):
        r = client.request(method, url + path, headers={**h, "If-Match": etag}, json=payload)
        assert "version 1" in problem(r, 412, "stale-version")["detail"]
    after = client.get(url, headers=h).json()
    assert (after["title"], after["version"], after["assignee"], after["status"]) == ("first", 2, None, "new")
    for method, path, payload in (
        ("POST", "/assign", {"assignee": "ada"}),
        ("POST", "/transitions", {"to": "open"}),
        ("PATCH", "", {"title": "third"}),
    ):
        current = client.get(url, headers=h).headers["etag"]
        r = client.request(method, url + path, headers={**h, "If-Match": current}, json=payload)
        assert r.status_code == 200, r.text
        assert r.headers["etag"] == f'"{int(current.strip(chr(34))) + 1}"'
    assert client.patch(url, headers={**h, "If-Match": "*"}, json={"title": "any"}).status_code == 200
    assert client.patch(url, headers={**h, "If-Match": 'W/"6"'}, json={"title": "weak"}).status_code == 200


def test_comment_then_resolve_with_if_match(client: TestClient, h: dict[str, str]) -> None:
    """A comment changes the ticket's version: its 201 carries the new version (ETag and ticket_version), so the
    next guarded change can send it instead of failing with 412."""
    url = f"{V1}/tickets/IT-1"
    etag = client.get(url, headers=h).headers["etag"]
    assert etag == '"1"'
    commented = client.post(url + "/comments", headers=h, json={"body": "looking"})
    assert commented.status_code == 201, commented.text
    assert commented.headers["etag"] == '"2"' and commented.json()["ticket_version"] == 2
    assert commented.json()["body"] == "looking" and commented.json()["kind"] == "comment"
    resolved = client.post(
        url + "/transitions",
        headers={**h, "If-Match": commented.headers["etag"]},
        json={"to": "resolved", "resolution": "toner"},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.headers["etag"] == '"3"' and resolved.json()["version"] == 3
    # the stale ETag still loses
    problem(
        client.post(url + "/transitions", headers={**h, "If-Match": commented.headers["etag"]}, json={"to": "open"}),
        412,
        "stale-version",
    )


# -- domain rules ---------------------------------------------------------------------------------------------------


def test_invalid_transitions_are_409_naming_the_allowed_ones(client: TestClient, h: dict[str, str]) -> None:
    url = f"{V1}/tickets/IT-1/transitions"
    body = problem(client.post(url, headers=h, json={"to": "closed"}), 409, "invalid-transition")
    assert "from new to closed" in body["detail"] and "open, pending, resolved" in body["detail"]
    problem(client.post(url, headers=h, json={"to": "new"}), 409, "invalid-transition")
    assert client.post(url, headers=h, json={"to": "open"}).status_code == 200
    body = problem(client.post(url, headers=h, json={"to": "open"}), 409, "invalid-transition")
    assert "pending, resolved" in body["detail"]
    assert client.get(f"{V1}/tickets/IT-1", headers=h).json()["status"] == "open"


def test_resolving_needs_a_resolution(client: TestClient, h: dict[str, str]) -> None:
    url = f"{V1}/tickets/IT-1/transitions"
    for payload in (
        {"to": "resolved"},
        {"to": "resolved", "resolution": ""},
        {"to": "resolved", "resolution": "  "},
        {"to": "resolved", "resolution": None},
        {"to": "resolved", "resolution": "\u200b\u2060\ufeff"},
    ):
        body = problem(client.post(url, headers=h, json=payload), 422)
        assert "resolution" in fields(body)
    assert client.get(f"{V1}/tickets/IT-1", headers=h).json()["status"] == "new"
    done = client.post(url, headers=h, json={"to": "resolved", "resolution": "Replaced toner"})
    assert done.status_code == 200 and done.json()["resolution"] == "Replaced toner"


def test_references_to_missing_people_and_agents_are_422(client: TestClient, h: dict[str, str]) -> None:
    r = client.post(f"{V1}/tickets", headers=h, json={"title": "x", "requester_id": 999})
    assert "requester_id" in fields(problem(r, 422, "invalid-field"))
    r = client.post(f"{V1}/tickets", headers=h, json={"title": "x", "assignee": "ghost"})
    assert "assignee" in fields(problem(r, 422, "invalid-field"))
    r = client.patch(f"{V1}/tickets/IT-1", headers=h, json={"requester_id": 999})
    assert "requester_id" in fields(problem(r, 422, "invalid-field"))
    r = client.post(f"{V1}/tickets/IT-1/assign", headers=h, json={"assignee": "ghost"})
    assert "assignee" in fields(problem(r, 422, "invalid-field"))
    assert ticket_count(client, h) == 1
    ticket = client.get(f"{V1}/tickets/IT-1", headers=h).json()
    assert ticket["version"] == 1 and ticket["requester"] is None and ticket["assignee"] is None
    # A deactivated agent cannot be given tickets either, and the error names the field the client sent.
    bob = client.post(f"{V1}/agents", headers=h, json={"login": "bobby", "display_name": "Bobby"}).json()
    client.patch(f"{V1}/agents/{bob['id']}", headers=h, json={"active": False})
    r = client.post(f"{V1}/tickets/IT-1/assign", headers=h, json={"assignee": "bobby"})
    assert "assignee" in fields(problem(r, 422, "invalid-field"))
    r = client.post(f"{V1}/tickets", headers=h, json={"title": "x", "assignee": "bobby"})
    assert "assignee" in fields(problem(r, 422, "invalid-field"))


def test_closed_tickets_refuse_changes_with_409(client: TestClient, h: dict[str, str]) -> None:
    url = f"{V1}/tickets/IT-1"
    client.post(url + "/transitions", headers=h, json={"to": "resolved", "resolution": "done"})
    client.post(url + "/transitions", headers=h, json={"to": "closed"})
    problem(client.patch(url, headers=h, json={"title": "x"}), 409, "conflict")
    problem(client.post(url + "/comments", headers=h, json={"body": "x"}), 409, "conflict")
    problem(client.post(url + "/assign", headers=h, json={"assignee": "ada"}), 409, "conflict")
