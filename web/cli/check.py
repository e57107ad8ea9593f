"""``helpline check``: is every dependency usable with this configuration? One result per dependency, with the fix.

Checks run concurrently, each bounded by ``timeout`` seconds: the database (connects; migrations applied), then
the phone numbers (with no ``default_region``, a warning when calls came from numbers written without
+<country code>: they cannot be normalised), each
``[[pbx]]`` (AMI login; the ``system`` read class, seen as ``FullyBooted``; the ``reporting`` and ``originate``
write classes, asked with actions that change nothing), each directory server (bind as the service account, then
read ``base_dn`` and look for one person), Twilio (the account answers to these credentials; ``from_number`` is one
of its numbers), Slack (``auth.test``; the bot can post to each ``slack:`` channel of the policies) and Redis
(``PING``). A dependency that is not configured is skipped. No secret is ever printed.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from web.cli import check_deps as deps
from web.cli.check_deps import Failed, Warned
from web.settings import Settings

Status = Literal["pass", "warn", "fail", "skip"]


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    check = sub.add_parser(
        "check",
        parents=[common],
        help="check every dependency and say how to fix failures",
        description="Check the database, each PBX (AMI login and permissions), each directory "
        "server, Twilio, Slack and Redis, concurrently with bounded timeouts. Exit 1 "
        "if any check fails.",
    )
    check.add_argument("--json", action="store_true", help="print the results as JSON")
    check.add_argument("--timeout", type=float, default=10.0, help="seconds allowed per check (default 10)")
    check.set_defaults(run=_check)


def _check(args: argparse.Namespace, settings: Settings) -> int:
    results = asyncio.run(run_checks(settings, timeout=args.timeout))
    print(render_json(results) if args.json else render_text(results))
    return 1 if any(r.status == "fail" for r in results) else 0


@dataclass
class CheckResult:
    name: str  #: "database", "pbx main", "directory ldaps://dc1:636", "twilio", "slack", "redis"
    status: Status
    detail: str  #: what was found
    fix: str | None = None  #: on failure: what to do
    seconds: float = 0.0


Check = Callable[[], Awaitable[str]]


async def run_checks(settings: Settings, timeout: float = 10.0) -> list[CheckResult]:
    """Every check that applies to ``settings``, run concurrently; results in a stable order."""
    checks: list[tuple[str, Check | None, str]] = [("database", lambda: deps.database(settings.database), "")]
    for pbx in settings.pbx:
        checks.append((f"pbx {pbx.name}", functools.partial(deps.pbx, pbx, timeout), ""))
    d = settings.directory
    if d.enabled:
        for uri in d.servers:
            checks.append((f"directory {uri}", functools.partial(deps.directory_server, d, uri), ""))
    else:
        checks.append(("directory", None, "no [directory] servers: callers are matched to people entered by hand"))
    n = settings.notify
    checks.append(("twilio", (lambda: deps.twilio(n.twilio)) if n.twilio else None, "no [notify.twilio]"))
    checks.append(("slack", (lambda: deps.slack(n)) if n.slack else None, "no [notify.slack]"))
    redis_url = settings.live.redis_url
    checks.append(
        (
            "redis",
            (lambda: deps.redis(redis_url.get_secret_value())) if redis_url else None,
            "no [live] redis_url: live events stay in this process",
        )
    )
    results = list(await asyncio.gather(*(_run(name, check, why, timeout) for name, check, why in checks)))
    # after the database check (both use the ORM, which is one per process): what the recorded calls say
    numbers = (
        None if results[0].status == "fail" else (lambda: deps.phone_numbers(settings.database, settings.directory))
    )
    results.insert(1, await _run("numbers", numbers, "the database cannot be read", timeout))
    return results


async def _run(name: str, check: Check | None, skipped_because: str, timeout: float) -> CheckResult:
    if check is None:
        return CheckResult(name, "skip", skipped_because)
    started = time.monotonic()
    try:
        detail = await asyncio.wait_for(check(), timeout)
        result = CheckResult(name, "pass", detail)
    except Warned as exc:
        result = CheckResult(name, "warn", exc.detail, exc.fix)
    except Failed as exc:
        result = CheckResult(name, "fail", exc.detail, exc.fix)
    except TimeoutError:
        result = CheckResult(
            name,
            "fail",
            f"no answer within {timeout:g} s",
            "check the host and port, that the service runs and that no firewall drops the "
            "packets (or allow more time: --timeout)",
        )
    except Exception as exc:  # a check's own bug must not hide the other results
        result = CheckResult(name, "fail", f"{type(exc).__name__}: {exc}", "see the error; report it if it persists")
    result.seconds = round(time.monotonic() - started, 3)
    return result


MARK = {"pass": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


def render_text(results: list[CheckResult]) -> str:
    lines = []
    for r in results:
        lines.append(f"[{MARK[r.status]}] {r.name}: {r.detail}")
        if r.fix:
            lines.append(f"       fix: {r.fix}")
    failed = sum(r.status == "fail" for r in results)
    warned = sum(r.status == "warn" for r in results)
    lines.append(
        f"{failed} of {len(results)} checks failed"
        if failed
        else f"all {sum(r.status in ('pass', 'warn') for r in results)} checks passed"
        f" ({sum(r.status == 'skip' for r in results)} skipped" + (f", {warned} with a warning" if warned else "") + ")"
    )
    return "\n".join(lines)


def render_json(results: list[CheckResult]) -> str:
    return json.dumps(
        {"ok": not any(r.status == "fail" for r in results), "checks": [asdict(r) for r in results]}, indent=2
    )
