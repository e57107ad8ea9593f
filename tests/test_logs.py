"""Structured logs: one JSON object per line, request ids, and no configured secret ever written.

The full-flow test runs ``helpline serve`` in a subprocess at DEBUG with every secret configured (PBX, directory,
Twilio, Slack, console key, metrics token, database password, an API token), pointed at real local services (the
AMI replay of 20 calls, the Samba AD DC, the Twilio and Slack fakes), replays the calls, makes API calls and a
failed login, then reads everything the process wrote.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import (ReplayProcess, SambaAD, directory_environ, pbx_config, start_server, stop_server)
from tests.notify_fakes import AUTH_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack, FakeTwilio, LoopbackServer, providers_toml
from tests.notify_support import FROM
from tests.waiting import wait_until
from web import logs
from web.config import Settings

CONSOLE_KEY = "console-secret-key-0123456789abcdef-xyz"
METRICS_TOKEN = "metrics-token-abcdef0123456789"
DB_PASSWORD = "db-password-9f8e7d"
WRONG_PASSWORD = "Wrong-Login-Password-42"


def test_a_secret_in_a_message_extra_or_traceback_is_masked_and_each_line_is_json() -> None:
    settings = Settings.model_validate({"web": {"metrics_token": METRICS_TOKEN},
                                        "database": {"url": f"postgres://u:{DB_PASSWORD}@db/helpline"}})
    redactor = logs.Redactor()
    redactor.add_settings(settings)
    redactor.learn("api-token-learnt-from-a-header")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter(redactor))
    logger = logging.getLogger("test_logs.masking")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token %s and url %s", METRICS_TOKEN, settings.database.url.get_secret_value(),
                       extra={"pbx": "main", "header": "Bearer api-token-learnt-from-a-header", "count": 3})
        try:
            raise ValueError(f"bad password {DB_PASSWORD}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert METRICS_TOKEN not in text and DB_PASSWORD not in text and "api-token-learnt" not in text
    first, second = logs.parse_lines(text.splitlines())
    assert first["message"] == "token *** and url postgres://u:***@db/helpline"
    assert first["level"] == "warning" and first["logger"] == "test_logs.masking" and first["ts"].endswith("+00:00")
    assert first["pbx"] == "main" and first["count"] == 3 and first["header"] == "Bearer ***"
    assert "ValueError: bad password ***" in second["exc"]


def write_notify(path: Path, twilio_url: str, slack_url: str) -> None:
    with path.open("a") as f:
        f.write(f"""
{providers_toml(twilio_url, slack_url, FROM)}
[[notify.people]]
name = "ivan"
phone = "+15550002222"

[[notify.policies]]
name = "sla"
match = {{ event = ["sla.breached"] }}
steps = [{{ after = "0m", notify = ["person:ivan", "slack:#it-oncall"] }}]
""")


def test_a_full_run_logs_json_lines_with_request_ids_and_no_secret(
        database_url: str, tmp_path: Path, pbx_replay: ReplayProcess, samba_ad: SambaAD) -> None:
    if database_url.startswith("postgres"):  # the test cluster trusts local users: the password is only carried
        database_url = database_url.replace("postgres://postgres@", f"postgres://postgres:{DB_PASSWORD}@", 1)
    twilio_server = LoopbackServer(FakeTwilio().app()).start()
    slack_server = LoopbackServer(FakeSlack().app()).start()
    config = pbx_config(tmp_path, pbx_replay)
    write_notify(config, twilio_server.url, slack_server.url)
    env = {**directory_environ(samba_ad), "HELPLINE_CONFIG": str(config), "HELPLINE_LOG_FORMAT": "json",
           "HELPLINE_LOG_LEVEL": "debug", "HELPLINE_CONSOLE_SECRET_KEY": CONSOLE_KEY,
           "HELPLINE_WEB_METRICS_TOKEN": METRICS_TOKEN, "HELPLINE_DATABASE_URL": database_url}
    add = subprocess.run([sys.executable, "-m", "web.cli", "user", "add", "ada", "--role", "admin", "--password"],
                         input="Right-Password-123\nRight-Password-123\n", capture_output=True, text=True,
                         timeout=60, cwd=tmp_path, env={**os.environ, **env})
    assert add.returncode == 0, add.stderr
    api_token = add.stdout.strip().splitlines()[-1]
    start_env = {k: v for k, v in env.items() if k != "HELPLINE_CONFIG"}
    server = start_server(database_url, tmp_path, {**start_env, "HELPLINE_CONFIG": str(config)})
    try:
        auth = {"Authorization": f"Bearer {api_token}"}
        def pbx() -> dict[str, object]:
            return dict(httpx.get(f"{server.base_url}/api/v1/pbx", headers=auth, timeout=5).json()["items"][0])

        wait_until(lambda: int(pbx()["facts_applied"]) >= 60, 60, what="60 call facts applied", details=pbx,
                   every=0.2)
        tickets = httpx.get(f"{server.base_url}/api/v1/tickets", headers={**auth, "X-Request-ID": "flow-1"}, timeout=5)
        assert tickets.status_code == 200 and tickets.headers["x-request-id"] == "flow-1"
        assert httpx.get(f"{server.base_url}/api/v1/tickets/IT-999999", headers=auth, timeout=5).status_code == 404
        assert httpx.get(f"{server.base_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
                         timeout=5).status_code == 200
        failed = httpx.post(f"{server.base_url}/api/v1/session", json={"login": "ada", "password": WRONG_PASSWORD},
                            timeout=5)
        assert failed.status_code in (401, 403)
    finally:
        stop_server(server)
        twilio_server.stop()
        slack_server.stop()

    text = server.log()
    secrets = {"pbx secret": pbx_replay.secret, "directory password": samba_ad.password, "twilio": AUTH_TOKEN,
               "slack bot": BOT_TOKEN, "slack signing": SIGNING_SECRET, "console key": CONSOLE_KEY,
               "metrics token": METRICS_TOKEN, "api token": api_token, "database password": DB_PASSWORD,
               "a wrong password": WRONG_PASSWORD}
    leaked = [name for name, value in secrets.items() if value in text]
    assert not leaked, f"secrets in the logs: {leaked}"
    lines = logs.parse_lines(text.splitlines())  # every line is one JSON object
    assert len(lines) > 20 and all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["level"] == "debug" for line in lines)
    flow = [line for line in lines if line.get("request_id") == "flow-1"]
    assert any(line["logger"] == "uvicorn.access" and "/api/v1/tickets" in line["message"] for line in flow), flow
    assert any("PBX main" in line["message"] or "AMI main" in line["message"] for line in lines)
    assert json.dumps(lines)  # round-trips
