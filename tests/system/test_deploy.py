"""deploy/: the example configuration, the systemd units, the nginx site and the PostgreSQL script, checked with
the real config loader and the real tools (systemd-analyze, nginx -t, openssl, psql).

The settings models are introspected, so a key added to web/settings/ (or its sections) that is missing from
deploy/helpline.toml or docs/configuration.md fails here by name.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import tomllib
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from pydantic import BaseModel

from tests.support.paths import ROOT
from tests.support.waiting import quietly, wait_until
from web.live.open_streams import default_max_streams
from web.settings import LiveSettings, Settings, WebSettings, load_settings

DEPLOY = ROOT / "deploy"
EXAMPLE = DEPLOY / "helpline.toml"
UNITS = DEPLOY / "systemd"
NGINX_SITE = DEPLOY / "nginx" / "helpline.conf"
TOOL_TIMEOUT = 30

# --- the example configuration -----------------------------------------------------------------------------------

_HEADER = re.compile(r"^\[\[?([a-z][a-z0-9_.]*)\]\]?\s*(#.*)?$")
_KEY_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\"-]*)\s*=")
_COMMENTED = re.compile(r"^#\s?(?=\[\[?[a-z][a-z0-9_.]*\]\]?\s*(#.*)?$|[A-Za-z_][A-Za-z0-9_.\"-]*\s*=)")


def _lines(text: str) -> Iterator[tuple[str, bool]]:
    """Each TOML line of the example, with whether it is an optional (commented-out) one. Prose is left out."""
    for line in text.splitlines():
        if _COMMENTED.match(line):
            yield _COMMENTED.sub("", line, count=1), True
        elif line.strip() and not line.lstrip().startswith("#"):
            yield line, False


def _key_paths(value: object, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Dotted key paths in parsed TOML; list entries share their table's path; ``x_file`` also counts as ``x``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield prefix + (key,)
            if key.endswith("_file"):
                yield prefix + (key[: -len("_file")],)
            yield from _key_paths(item, prefix + (key,))
    elif isinstance(value, list):
        for item in value:
            yield from _key_paths(item, prefix)


def example_keys(text: str) -> set[tuple[str, ...]]:
    """Every key the example shows, active or commented out."""
    table: tuple[str, ...] = ()
    keys: set[tuple[str, ...]] = set()
    for line, _ in _lines(text):
        header = _HEADER.match(line.strip())
        if header:
            table = tuple(header.group(1).split("."))
            keys.update(table[:i] for i in range(1, len(table) + 1))
        elif _KEY_LINE.match(line):
            keys.update(_key_paths(tomllib.loads(line), table))
    return keys


def uncommented(text: str) -> str:
    """The example with every optional line switched on; of two alternatives in one table the first one stays."""
    out: list[str] = []
    seen: set[str] = set()
    for line, optional in _lines(text):
        if _HEADER.match(line.strip()):
            seen = set()
            out.append(line)
            continue
        match = _KEY_LINE.match(line)
        if match:
            key = match.group(1)
            base = key[: -len("_file")] if key.endswith("_file") else key
            if optional and {key, base, f"{base}_file"} & seen:
                continue
            seen.update({key, base})
        out.append(line)
    return "\n".join(out) + "\n"


def model_keys(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every key the loader accepts in ``model``, nested sections and list entries included."""
    keys: set[tuple[str, ...]] = set()
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        keys.add(prefix + (name,))
        for sub in _models_in(field.annotation):
            keys |= model_keys(sub, prefix + (name,))
    return keys


def _models_in(annotation: object) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    if isinstance(annotation, (types.UnionType, types.GenericAlias)) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            yield from _models_in(arg)


def _show(path: tuple[str, ...]) -> str:
    return f"[{'.'.join(path[:-1])}] {path[-1]}" if len(path) > 1 else f"[{path[0]}]"


def test_every_setting_is_in_the_example() -> None:
    missing = model_keys(Settings) - example_keys(EXAMPLE.read_text(encoding="utf-8"))
    assert not missing, (
        "deploy/helpline.toml does not show these settings (add each with its default, commented "
        "if optional): " + ", ".join(sorted(map(_show, missing)))
    )


def test_the_example_as_shipped_is_the_defaults() -> None:
    shipped = load_settings(EXAMPLE, environ={})
    assert shipped.source == str(EXAMPLE)
    assert shipped.model_dump() == load_settings(None, environ={}).model_dump(), (
        "an active line of deploy/helpline.toml is not the default: comment it out or show the default"
    )


def _secret_for(key: str) -> str:
    samples = {
        "url": "postgres://helpline:example-password@127.0.0.1:5432/helpline",
        "redis_url": "redis://:example-password@127.0.0.1:6379/0",
        "bot_token": "xoxb-1-example",
    }
    return samples.get(key, f"example-{key}-{secrets.token_hex(12)}")


def test_the_example_with_every_option_on_loads(tmp_path: Path) -> None:
    """Every commented-out line switched on, secrets in files where the example points: the loader accepts it."""
    text = uncommented(EXAMPLE.read_text(encoding="utf-8")).replace("/etc/helpline/", f"{tmp_path}/")
    written: dict[str, str] = {}
    for line, _ in _lines(text):
        match = re.match(r"^(\w+)_file\s*=\s*\"([^\"]+)\"", line)
        if match:
            file = Path(match.group(2))
            file.parent.mkdir(parents=True, exist_ok=True)
            written[match.group(1)] = _secret_for(match.group(1)) if match.group(1) != "ca" else "PEM"
            file.write_text(written[match.group(1)] + "\n", encoding="utf-8")
    config = tmp_path / "helpline.toml"
    config.write_text(text, encoding="utf-8")

    settings = load_settings(config, environ={"HELPLINE_WEB_PORT": "8081"})

    assert settings.web.port == 8081  # an environment override on top of the file
    assert settings.directory.enabled and settings.directory.password is not None
    assert settings.directory.password.get_secret_value() == written["password"]
    assert [p.name for p in settings.pbx] == ["main"] and settings.pbx[0].secret.get_secret_value() == written["secret"]
    assert settings.notify.twilio is not None and settings.notify.slack is not None
    assert settings.notify.twilio.auth_token.get_secret_value() == written["auth_token"]
    assert [p.name for p in settings.sla.policies] == ["p1-incidents", "default"]
    assert [p.name for p in settings.notify.policies] == ["sla"] and len(settings.notify.policies[0].steps) == 2
    assert settings.console.secret_key is not None and settings.live.redis_url is not None


def _doc_rows(markdown: str) -> list[tuple[set[str], str]]:
    """(the `keys` in the first cell, the whole row) of every table row."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            first = line.split("|")[1]
            rows.append(({k.split(" ")[0] for k in re.findall(r"`([^`]+)`", first)}, line))
    return rows


def test_every_setting_is_in_the_configuration_reference() -> None:
    """docs/configuration.md names every key in a table: in its own row, or in its parent's row as `key = ...`."""
    markdown = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = _doc_rows(markdown)
    cells = set().union(*(keys for keys, _ in rows))

    headings = "\n".join(line for line in markdown.splitlines() if line.startswith("#"))

    def documented(path: tuple[str, ...]) -> bool:
        if len(path) == 1:  # a section: its own heading
            return f"`[{path[0]}]`" in headings or f"`[[{path[0]}]]`" in headings
        if any(cell in (path[-1], ".".join(path[-2:])) or cell.startswith(path[-1] + ".") for cell in cells):
            return True
        return any(
            len(path) > 1 and path[-2] in keys and re.search(rf"\b{re.escape(path[-1])} =", row) for keys, row in rows
        )

    missing = [p for p in model_keys(Settings) if not documented(p)]
    assert not missing, "docs/configuration.md has no table row for: " + ", ".join(sorted(map(_show, missing)))


# --- systemd ------------------------------------------------------------------------------------------------------


def _systemd_tool(name: str) -> str:
    tool = shutil.which(name)
    if tool is None:  # a tool, not a service: HELPLINE_REQUIRE_ALL does not require it
        pytest.skip(
            f"{name} is not installed (the systemd package); a tool, not a service, so "
            "HELPLINE_REQUIRE_ALL=1 does not require it"
        )
    return tool


def _units_under_test(tmp_path: Path) -> Path:
    """The unit and its credentials drop-in, with ExecStart pointing at this virtualenv's helpline."""
    helpline = Path(sys.executable).parent / "helpline"
    assert helpline.is_file(), f"{helpline}: install the project (pip install -e .) so the unit has a real command"
    units = tmp_path / "units"
    (units / "helpline.service.d").mkdir(parents=True)
    text = (UNITS / "helpline.service").read_text(encoding="utf-8")
    assert text.count("/opt/helpline/venv/bin/helpline") == 2  # ExecStartPre (db upgrade) and ExecStart (serve)
    (units / "helpline.service").write_text(text.replace("/opt/helpline/venv/bin/helpline", str(helpline)))
    shutil.copy(UNITS / "credentials.conf", units / "helpline.service.d" / "credentials.conf")
    return units


def _run(args: list[str], **kwargs: typing.Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=TOOL_TIMEOUT, **kwargs)


def test_systemd_unit_and_drop_in_verify_cleanly(tmp_path: Path) -> None:
    tool = _systemd_tool("systemd-analyze")
    units = _units_under_test(tmp_path)
    done = _run([tool, "verify", "--man=no", "./helpline.service"], cwd=units)
    # verify exits 0 on unknown keys and unsafe settings too: any message is a finding
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
    unit = (UNITS / "helpline.service").read_text(encoding="utf-8")
    for line in (
        "ExecStartPre=/opt/helpline/venv/bin/helpline db upgrade",
        "User=helpline",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/helpline",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    ):
        assert line in unit


def test_systemd_unit_gives_room_for_event_streams() -> None:
    """Each console holds a connection (an open file) for its event stream: the default 1024 files would cap an
    instance at 768 streams (web/live/open_streams.py keeps a quarter free for the rest)."""
    unit = (UNITS / "helpline.service").read_text(encoding="utf-8")
    assert "\nLimitNOFILE=65536\n" in unit
    assert default_max_streams(65536) == 49152 and default_max_streams(1024) == 768


def test_systemd_unit_is_hardened(tmp_path: Path) -> None:
    tool = _systemd_tool("systemd-analyze")
    units = _units_under_test(tmp_path)
    done = _run([tool, "security", "--offline=yes", "--no-pager", "./helpline.service"], cwd=units)
    level = re.search(r"Overall exposure level for helpline\.service: ([0-9.]+)", done.stdout)
    assert level, done.stdout + done.stderr
    assert float(level.group(1)) <= 2.0, done.stdout  # 0 = fully locked down, 10 = not at all; "OK" up to 3.9


def test_sysusers_and_tmpfiles_create_the_user_and_private_directories(tmp_path: Path) -> None:
    sysusers, tmpfiles = _systemd_tool("systemd-sysusers"), _systemd_tool("systemd-tmpfiles")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    done = _run([sysusers, f"--root={root}", str(UNITS / "helpline.sysusers")])
    assert done.returncode == 0, done.stderr
    passwd = [line.split(":") for line in (root / "etc" / "passwd").read_text().splitlines()]
    user = next(entry for entry in passwd if entry[0] == "helpline")
    assert user[5:] == ["/var/lib/helpline", "/usr/sbin/nologin"]
    done = _run([tmpfiles, f"--root={root}", "--create", str(UNITS / "helpline.tmpfiles")])
    assert done.returncode == 0, done.stderr
    for directory in (root / "etc" / "helpline", root / "etc" / "helpline" / "secrets"):
        info = directory.stat()
        assert (oct(info.st_mode & 0o777), info.st_uid, str(info.st_gid)) == ("0o750", 0, user[3])


# --- nginx --------------------------------------------------------------------------------------------------------


def _nginx() -> str:
    from tests.support.services import service_missing

    tool = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).is_file()), None)
    if tool is None:
        service_missing("nginx is not installed (apt-get install -y nginx; .ci/run installs it as root)")
    return typing.cast(str, tool)


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "fullchain.pem", directory / "privkey.pem"
    done = _run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=helpline.example.com",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ]
    )
    assert done.returncode == 0, done.stderr
    return cert, key


def _nginx_config(tmp_path: Path, site: str) -> Path:
    """A minimal nginx.conf around the site, with every path inside tmp_path."""
    cert, key = _certificate(tmp_path)
    site = site.replace("/etc/ssl/helpline/fullchain.pem", str(cert)).replace("/etc/ssl/helpline/privkey.pem", str(key))
    (tmp_path / "site.conf").write_text(site)
    temp = tmp_path / "nginx-temp"
    temp.mkdir()
    temp.chmod(0o777)  # the workers (nobody, when started as root) write request bodies here
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/nginx-error.log;\nevents {{}}\nhttp {{\n"
        f"  access_log off;\n  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
        f"  include {tmp_path}/site.conf;\n}}\n"
    )
    return conf


def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    nginx = _nginx()
    conf = _nginx_config(tmp_path, NGINX_SITE.read_text(encoding="utf-8"))
    done = _run([nginx, "-t", "-q", "-c", str(conf), "-p", str(tmp_path)])
    assert done.returncode == 0, done.stderr


def _block(site: str, location: str) -> str:
    start = site.index(f"location {location} {{")
    return site[start : site.index("}", start)]


def test_nginx_site_matches_what_helpline_needs() -> None:
    site = NGINX_SITE.read_text(encoding="utf-8")
    limit = re.search(r"client_max_body_size (\d+)([km]?);", site)
    assert limit, "client_max_body_size is missing"
    size = int(limit.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[limit.group(2)]
    assert size == WebSettings().max_body_bytes, "keep client_max_body_size equal to [web] max_body_bytes"
    events = _block(site, "= /api/v1/events")
    assert "proxy_buffering off;" in events
    timeout = re.search(r"proxy_read_timeout (\d+)([smh]);", events)
    assert timeout and int(timeout.group(1)) * {"s": 1, "m": 60, "h": 3600}[timeout.group(2)] >= 600
    assert "deny all;" in _block(site, "= /metrics")
    assert "deny all;" in _block(site, "= /readyz"), "readiness is for the monitoring network, not the internet"
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "Host"):
        assert f"proxy_set_header {header} " in site


@pytest.mark.slow
def test_nginx_proxies_a_real_pair_with_one_instance_down(tmp_path: Path) -> None:
    """The site in front of a real `helpline serve` and a dead second instance: requests reach the live one, https
    is seen through X-Forwarded-Proto (the session cookie is Secure), a too large body stops at nginx, and the
    live event stream is not buffered."""
    import httpx

    from tests.support.servers import free_port, start_server, stop_server

    nginx = _nginx()
    database = f"sqlite://{tmp_path}/helpline.sqlite3"
    server = start_server(database, tmp_path, {"HELPLINE_LIVE_KEEPALIVE": "1s"})
    try:
        add = _run(
            [sys.executable, "-m", "web.cli", "user", "add", "ada", "--role", "admin", "--password"],
            input="correct horse battery staple\n",
            cwd=tmp_path,
            env={**os.environ, "HELPLINE_DATABASE_URL": database},
        )
        assert add.returncode == 0, add.stderr
        token = add.stdout.strip()
        https, http, dead = free_port(), free_port(), free_port()
        port = urlsplit(server.base_url).port
        site = NGINX_SITE.read_text(encoding="utf-8")
        site = re.sub(r"^\s*listen \[::\].*\n", "", site, flags=re.M)
        site = site.replace("listen 443 ssl", f"listen 127.0.0.1:{https} ssl").replace(
            "listen 80;", f"listen 127.0.0.1:{http};"
        )
        site = site.replace("server 10.0.0.21:8080", f"server 127.0.0.1:{dead}").replace(
            "server 10.0.0.22:8080", f"server 127.0.0.1:{port}"
        )
        conf = _nginx_config(tmp_path, site)
        proxy = subprocess.Popen(
            [nginx, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_for_port(https, proxy)
            base = f"https://127.0.0.1:{https}"
            with httpx.Client(base_url=base, verify=False, timeout=10, headers={"Host": "helpline.example.com"}) as web:
                assert all(web.get("/healthz").status_code == 200 for _ in range(4))  # the dead instance is skipped
                login = web.post("/api/v1/session", json={"login": "ada", "password": "correct horse battery staple"})
                assert login.status_code == 201, login.text
                assert "secure" in login.headers["set-cookie"].lower()
                big = web.post(
                    "/api/v1/tickets",
                    content=b"x" * (WebSettings().max_body_bytes + 1),
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
                assert big.status_code == 413 and "nginx" in big.text
                assert web.get("/", follow_redirects=False).status_code == 200
                with web.stream("GET", "/api/v1/events", headers={"Authorization": f"Bearer {token}"}) as events:
                    assert events.status_code == 200
                    assert events.headers["content-type"].startswith("text/event-stream")
                    first = next(events.iter_raw())  # a keep-alive comment within [live] keepalive = 1 s
                    assert first
            plain = httpx.get(f"http://127.0.0.1:{http}/healthz", headers={"Host": "helpline.example.com"})
            assert plain.status_code == 301 and plain.headers["location"] == "https://helpline.example.com/healthz"
        finally:
            proxy.terminate()
            proxy.wait(10)
    finally:
        stop_server(server)


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    from tests.support.servers import listening

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(
                f"exited with {process.returncode}: {process.stderr.read().decode() if process.stderr else ''}"
            )
        return listening(port)

    wait_until(up, what=f"something listening on port {port}")


# --- PostgreSQL and Redis -----------------------------------------------------------------------------------------


def _pg_base() -> str:
    from tests.support.services import service_missing

    url = os.environ.get("HELPLINE_TEST_POSTGRES_URL")
    if not url:
        service_missing("HELPLINE_TEST_POSTGRES_URL is not set")
    for tool in ("psql", "pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            service_missing(f"{tool} is not installed (postgresql-client)")
    return typing.cast(str, url)


def _with(url: str, *, user: str | None = None, password: str | None = None, database: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if user:
        netloc = f"{user}:{password}@{netloc}" if password else f"{user}@{netloc}"
    elif "@" in parts.netloc:
        netloc = parts.netloc
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{database}" if database else parts.path))


@pytest.mark.postgres
def test_postgres_script_creates_a_role_that_can_migrate_and_the_backup_restores(tmp_path: Path) -> None:
    """deploy/postgres/create.sql as documented, `helpline db upgrade` as the new role, then the documented backup
    (pg_dump -Fc) restored into a fresh database (pg_restore) holds the same data."""
    base = _pg_base()
    name = f"helpline_deploy_{secrets.token_hex(4)}"
    password = secrets.token_hex(12)
    admin = _with(base, database="postgres")
    created = _run(
        [
            "psql",
            admin,
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            f"role={name}",
            "-v",
            f"db={name}",
            "-v",
            f"password={password}",
            "-f",
            str(DEPLOY / "postgres" / "create.sql"),
        ]
    )
    try:
        assert created.returncode == 0, created.stderr
        url = _with(base, user=name, password=password, database=name)
        env = {**os.environ, "HELPLINE_DATABASE_URL": url}
        cli = [sys.executable, "-m", "web.cli"]
        upgraded = _run(cli + ["db", "upgrade"], env=env, cwd=tmp_path)
        assert upgraded.returncode == 0 and "applied" in upgraded.stdout, upgraded.stderr
        assert _run(cli + ["user", "add", "ada", "--role", "admin"], env=env, cwd=tmp_path).returncode == 0

        dump = tmp_path / "helpline.dump"
        pg_env = {**os.environ, "PGPASSWORD": password}
        target = urlsplit(url)
        conn = ["-h", target.hostname or "127.0.0.1", "-p", str(target.port or 5432), "-U", name]
        done = _run(["pg_dump", "-Fc", *conn, "-d", name, "-f", str(dump)], env=pg_env)
        assert done.returncode == 0, done.stderr
        done = _run(
            [
                "psql",
                admin,
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                f"CREATE DATABASE {name}_restored OWNER {name} ENCODING 'UTF8' LOCALE 'C.UTF-8' TEMPLATE template0",
            ]
        )
        assert done.returncode == 0, done.stderr
        done = _run(
            ["pg_restore", *conn, "-d", f"{name}_restored", "--no-owner", "--exit-on-error", str(dump)], env=pg_env
        )
        assert done.returncode == 0, done.stderr
        restored = {
            **os.environ,
            "HELPLINE_DATABASE_URL": _with(url, user=name, password=password, database=f"{name}_restored"),
        }
        assert _run(cli + ["db", "status"], env=restored, cwd=tmp_path).returncode == 0
        again = _run(cli + ["user", "add", "ada"], env=restored, cwd=tmp_path)
        assert again.returncode == 1 and "ada" in again.stderr  # the agent came back with the restore
    finally:
        for statement in (
            f"DROP DATABASE IF EXISTS {name}_restored WITH (FORCE)",
            f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
            f"DROP ROLE IF EXISTS {name}",
        ):
            _run(["psql", admin, "-c", statement])


def test_redis_snippet_lets_helpline_use_its_stream_and_nothing_else(tmp_path: Path) -> None:
    """deploy/redis/helpline.conf in a real redis-server: the `helpline` user may make every call the live-event
    broker makes (web/live/broker.py) on its stream, and nothing else; the default user is off."""
    import redis

    from tests.support.servers import free_port
    from tests.support.services import machine_clock, service_missing

    server = shutil.which("redis-server")
    if server is None:
        service_missing("redis-server is not installed (apt-get install -y redis-server)")
    port, password = free_port(), secrets.token_hex(12)
    conf = tmp_path / "redis.conf"
    conf.write_text(
        (DEPLOY / "redis" / "helpline.conf")
        .read_text()
        .replace(">CHANGE-ME-ADMIN", ">admin-" + password)
        .replace(">CHANGE-ME", ">" + password)
    )
    process = subprocess.Popen(
        [server, str(conf), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(tmp_path), "--daemonize", "no"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=machine_clock(os.environ),
    )  # redis-server cannot run under libfaketime
    try:
        client = redis.Redis.from_url(
            f"redis://helpline:{password}@127.0.0.1:{port}/0",
            socket_timeout=5,
            socket_connect_timeout=1,
            decode_responses=True,
        )

        def answers() -> bool:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            return bool(quietly(client.ping, redis.ConnectionError)())

        wait_until(answers, what="the private redis-server")
        stream = LiveSettings().stream
        first = client.xadd(stream, {"type": "ticket.created", "data": "{}"}, maxlen=1000, approximate=True)
        assert client.xrevrange(stream, count=1)[0][0] == first
        second = client.xadd(stream, {"type": "ticket.updated", "data": "{}"}, maxlen=1000, approximate=True)
        assert client.xread({stream: first}, block=1000, count=500) == [
            [stream, [(second, {"type": "ticket.updated", "data": "{}"})]]
        ]
        assert [entry for entry, _ in client.xrange(stream, min=f"({first}", count=1000)] == [second]
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.set("other:key", "1")
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.config_get("save")
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout=5).ping()  # the default user is off
    finally:
        process.terminate()
        process.wait(10)


# --- Prometheus ---------------------------------------------------------------------------------------------------


def _exported(metric: str, source: str) -> bool:
    """Whether the metrics source exports ``metric`` (counters and histograms get _total/_bucket/... suffixes)."""
    base = re.sub(r"_(total|bucket|sum|count|created)$", "", metric)
    if f'"{base}"' in source:
        return True
    dynamic = re.findall(r'f"(helpline_[a-z_]+)\{key\}"', source)  # helpline_notify_{key}: the keys are literals
    return any(base.startswith(prefix) and f'"{base[len(prefix) :]}"' in source for prefix in dynamic)


def test_prometheus_rules_use_metrics_helpline_exports() -> None:
    import yaml

    rules = yaml.safe_load((DEPLOY / "prometheus" / "helpline.rules.yml").read_text(encoding="utf-8"))
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert scrape["rule_files"][0].endswith("/helpline.rules.yml")
    targets = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
    assert len(targets) >= 2 and all(t.endswith(f":{WebSettings().port}") for t in targets)
    source = "\n".join(
        (ROOT / "web" / path).read_text(encoding="utf-8") for path in ("metrics.py", "runtime/metrics.py")
    )
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {"HelplinePbxDisconnected", "HelplineDirectorySyncStale", "HelplineAlertDeliveriesFailed"} <= {
        rule["alert"] for rule in alerts
    }
    for rule in alerts:
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"]
        for metric in re.findall(r"\bhelpline_[a-z_]+", rule["expr"]):
            assert _exported(metric, source), f"{rule['alert']}: helpline exports no metric {metric}"


# --- the operations guide -----------------------------------------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_operations_guide_links_resolve() -> None:
    """Every relative link of docs/operations.md and deploy/**/*.md names a file that exists (and a heading in it)."""
    pages = [ROOT / "docs" / "operations.md", *sorted(DEPLOY.rglob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and file.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", file.read_text(encoding="utf-8"), flags=re.M)
                if anchor not in {_slug(h) for h in headings}:
                    broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "broken links: " + ", ".join(broken)


def test_every_systemd_credential_reaches_its_setting(tmp_path: Path) -> None:
    """Each LoadCredential of credentials.conf is named by an Environment= line that the loader applies: the secret
    from the credentials directory wins over the file helpline.toml names."""
    from pydantic import SecretStr

    dropin = (UNITS / "credentials.conf").read_text(encoding="utf-8")
    credentials = dict(re.findall(r"^LoadCredential=([\w-]+):(\S+)$", dropin, flags=re.M))
    variables = dict(re.findall(r"^Environment=(HELPLINE_\w+)=%d/([\w-]+)$", dropin, flags=re.M))
    assert credentials and sorted(variables.values()) == sorted(credentials)
    store = tmp_path / "credentials"
    store.mkdir()
    tokens = {}
    for name in credentials:
        tokens[name] = secrets.token_hex(16)
        value = {
            "database-url": f"postgres://helpline:{tokens[name]}@db/helpline",
            "redis-url": f"redis://:{tokens[name]}@redis:6379/0",
            "slack-bot-token": f"xoxb-{tokens[name]}",
        }.get(name, tokens[name])
        (store / name).write_text(value + "\n")
    # the example with every option on, its own secret files present too (the environment must win over them)
    text = uncommented(EXAMPLE.read_text(encoding="utf-8")).replace("/etc/helpline/", f"{tmp_path}/")
    text = re.sub(r'^url = "sqlite:[^"]*"\n', "", text, flags=re.M)  # docs/operations.md: delete it for url_file
    for path in re.findall(r'_file\s*=\s*"([^"]+)"', text):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(
            "xoxb-from-the-file\n"
            if "slack-bot" in path
            else "postgres://from-the-file@db/x\n"
            if "database" in path
            else "redis://from-the-file\n"
            if "redis" in path
            else "from-the-file-0123456789abcdef\n"
        )
    config = tmp_path / "helpline.toml"
    config.write_text(text)

    settings = load_settings(config, environ={var: str(store / name) for var, name in variables.items()})

    def secret_values(value: object) -> Iterator[str]:
        if isinstance(value, SecretStr):
            yield value.get_secret_value()
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                yield from secret_values(getattr(value, name))
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from secret_values(item)

    loaded = list(secret_values(settings))
    unused = [name for name, token in tokens.items() if not any(token in value for value in loaded)]
    assert not unused, f"credentials.conf: these credentials do not reach a setting: {unused}"
