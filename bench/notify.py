#!/usr/bin/env python3
"""helpline alerting benchmark: SLA breaches through the outbox and the dispatcher to Twilio and Slack.

    .venv/bin/python bench/notify.py                         # SQLite, 1,000 breaches at once + 100 breaches/s
    .venv/bin/python bench/notify.py --postgres postgres://postgres@127.0.0.1:5432/test
    make bench-notify BENCH_ARGS="--breaches 300 --paced-seconds 5"

The providers are the Twilio and Slack fakes of the test suite (tests/support/notify_fakes.py: the Messages API and
chat.postMessage, with their auth checks and error bodies), served by uvicorn in a separate process so that they do
not share this process's event loop or GIL. Here they answer every request after ``--latency`` (50 ms) and give
``--error-rate`` (5 %) of them a transient error, half a 500 and half a 429 with ``Retry-After: 1``. They log each
request's arrival (CLOCK_MONOTONIC, which both processes share), what it was about (the ticket number in the SMS
body or the Slack text) and the answer.

Alerting is the real thing: ``NotifyRuntime`` (the alert service, the dispatcher loop, the twilio and slack_sdk
clients with their retries off) on a fresh, migrated database (SQLite by default, ``--postgres URL``: a
``helpline_bench_notify_*`` database is created there and dropped at the end). The policy sends an SMS to the
on-call person and a Slack message to #it-oncall on every P1 breach: two deliveries per breach. Breaches are
published as the SLA scheduler publishes them (``SlaBreached`` to the alert service's subscriber), on tickets
created beforehand.

  (a) burst: ``--breaches`` breaches published at the same moment;
  (b) paced: ``--rate`` breaches per second for ``--paced-seconds`` (target: p99 breach -> provider request < 1 s);
  (c) paced, transient errors all 500s: the same without Retry-After (a 429 from Slack holds the whole channel for
      its Retry-After, as the dispatcher must; with every Slack message going to one channel that is what (b)
      measures for Slack, not the dispatcher).

Measured per run: the first-request latency (breach -> the provider receives the delivery's first request), the
accepted latency (-> the request the provider accepted, after retries), the send rate (deliveries whose first
request arrived per second), duplicates (a ticket accepted twice by a provider; must be 0) and losses (a delivery
never accepted, or not ``sent`` in the outbox; must be 0). The raw baseline of each run sends the same messages
with the same SDK clients straight away, no outbox, no database (a transient error is retried at once): the ratio
says what the outbox costs. Results are printed and written as JSON to bench/results/. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# This file is bench/notify.py: keep its folder off the import path, or it would stand in for the ``notify`` package.
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != BENCH]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from tests.support.notify_fakes import ACCOUNT_SID, AUTH_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack, FakeTwilio  # noqa: E402

ONCALL_PHONE = "+79161234567"
FROM = "+15550001111"
NUMBER = re.compile(r"\b[A-Z]{1,10}-\d+\b")
RESULTS = BENCH / "results"


# -- the providers, in a process of their own ----------------------------------------------------------------------


@dataclass
class Injection:
    """How the fake providers answer: after ``latency`` seconds, ``error_rate`` of requests a transient error."""

    latency: float = 0.05
    error_rate: float = 0.05
    seed: int = 1
    #: The transient errors to give, equally often.
    statuses: tuple[int, ...] = (500, 429)
    rng: random.Random = field(default_factory=random.Random)
    #: (arrival, provider, ticket number, HTTP status) per request.
    log: list[tuple[float, str, str, int]] = field(default_factory=list)

    def transient(self) -> int | None:
        """500 or 429 for this request, or None."""
        if self.rng.random() >= self.error_rate:
            return None
        return self.rng.choice(self.statuses)


class BenchTwilio(FakeTwilio):
    """The test suite's Twilio, answering after a delay and with injected transient errors."""

    injection: Injection

    async def create(self, request: Request) -> JSONResponse:
        arrived = time.monotonic()
        form = await request.form()  # cached: the fake reads it again
        found = NUMBER.search(str(form.get("Body", "")))
        key = found.group(0) if found else "?"
        await asyncio.sleep(self.injection.latency)
        status = self.injection.transient()
        if status is not None:
            self.injection.log.append((arrived, "sms", key, status))
            code = 20500 if status == 500 else 20429
            return self._error(status, code, "injected", {"Retry-After": "1"} if status == 429 else None)
        response = await super().create(request)
        self.injection.log.append((arrived, "sms", key, response.status_code))
        return response

    async def list(self, request: Request) -> JSONResponse:
        await asyncio.sleep(self.injection.latency)
        return await super().list(request)


class BenchSlack(FakeSlack):
    """The test suite's Slack, answering after a delay and with injected transient errors."""

    injection: Injection

    async def post(self, request: Request) -> JSONResponse:
        arrived = time.monotonic()
        args = await self._args(request)  # cached: the fake reads it again
        found = NUMBER.search(str(args.get("text", "")))
        key = found.group(0) if found else "?"
        await asyncio.sleep(self.injection.latency)
        status = self.injection.transient()
        if status is not None:
            self.injection.log.append((arrived, "slack", key, status))
            if status == 429:
                return JSONResponse(
                    {"ok": False, "error": "ratelimited"}, status_code=429, headers={"Retry-After": "1"}
                )
            return JSONResponse({"ok": False, "error": "internal_error"}, status_code=500)
        response = await super().post(request)
        ok = json.loads(bytes(response.body)).get("ok")
        self.injection.log.append((arrived, "slack", key, 200 if ok else 400))
        return response


def provider_app(injection: Injection) -> Starlette:
    twilio, slack = BenchTwilio(), BenchSlack()
    twilio.injection = slack.injection = injection

    async def read_log(request: Request) -> JSONResponse:
        return JSONResponse(injection.log)

    async def reset(request: Request) -> Response:
        settings = await request.json()
        injection.log.clear()
        twilio.messages.clear()
        slack.posts.clear()
        injection.latency = float(settings["latency"])
        injection.error_rate = float(settings["error_rate"])
        injection.rng.seed(int(settings["seed"]))
        injection.statuses = tuple(settings["statuses"])
        return Response(status_code=204)

    return Starlette(
        routes=[
            *twilio.app().routes,
            *slack.app().routes,
            Route("/_bench/log", read_log),
            Route("/_bench/reset", reset, methods=["POST"]),
        ]
    )


def serve_providers(port_queue: Any) -> None:
    """The child process: both fakes on one loopback port (uvloop when installed)."""
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port_queue.put(sock.getsockname()[1])
    config = uvicorn.Config(
        provider_app(Injection()), log_level="warning", lifespan="off", access_log=False, backlog=4096
    )
    uvicorn.Server(config).run(sockets=[sock])


class Providers:
    """The provider process, from the benchmark's side."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        self.process = ctx.Process(target=serve_providers, args=(queue,), daemon=True, name="bench-providers")
        self.process.start()
        self.url = f"http://127.0.0.1:{queue.get(timeout=30)}"

    async def reset(self, latency: float, error_rate: float, seed: int, statuses: tuple[int, ...] = (500, 429)) -> None:
        import httpx

        async with httpx.AsyncClient(timeout=30) as http:
            for _ in range(100):
                with contextlib.suppress(httpx.TransportError):
                    r = await http.post(
                        f"{self.url}/_bench/reset",
                        json={"latency": latency, "error_rate": error_rate, "seed": seed, "statuses": list(statuses)},
                    )
                    r.raise_for_status()
                    return
                await asyncio.sleep(0.1)
        raise RuntimeError("the provider process does not answer")

    async def log(self) -> list[tuple[float, str, str, int]]:
        import httpx

        async with httpx.AsyncClient(timeout=60) as http:
            return [tuple(row) for row in (await http.get(f"{self.url}/_bench/log")).json()]  # type: ignore[misc]

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)


# -- figures ----------------------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@dataclass
class RunResult:
    name: str
    breaches: int
    deliveries: int
    first_p50_ms: float | None
    first_p99_ms: float | None
    first_max_ms: float | None
    accepted_p50_ms: float | None
    accepted_p99_ms: float | None
    send_rate: float  # deliveries whose first request arrived, per second of the run
    completed_s: float  # from the first breach to the last accepted request
    requests: int
    transient_errors: int
    duplicates: int
    losses: int
    by_channel: dict[str, dict[str, float | None]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def analyse(
    name: str,
    breached: dict[str, float],
    log: list[tuple[float, str, str, int]],
    channels: tuple[str, ...] = ("sms", "slack"),
    outbox_losses: int = 0,
) -> RunResult:
    """Latencies, duplicates and losses from the breach times and the providers' request log."""
    first: dict[tuple[str, str], float] = {}
    accepted: dict[tuple[str, str], list[float]] = defaultdict(list)
    errors = 0
    for arrived, provider, key, status in log:
        if key not in breached:
            continue
        k = (key, provider)
        first[k] = min(first.get(k, arrived), arrived)
        if 200 <= status < 300:
            accepted[k].append(arrived)
        elif status in (429, 500):
            errors += 1
    expected = [(key, ch) for key in breached for ch in channels]
    duplicates = sum(len(v) - 1 for v in accepted.values() if len(v) > 1)
    lost = [k for k in expected if not accepted.get(k)]
    first_lat = [(first[k] - breached[k[0]]) * 1000 for k in expected if k in first]
    acc_lat = [(min(accepted[k]) - breached[k[0]]) * 1000 for k in expected if accepted.get(k)]
    start = min(breached.values())
    last_first = max(first.values(), default=start)
    last_accepted = max((min(v) for v in accepted.values() if v), default=start)
    by_channel = {}
    for ch in channels:
        f = [(first[k] - breached[k[0]]) * 1000 for k in expected if k[1] == ch and k in first]
        a = [(min(accepted[k]) - breached[k[0]]) * 1000 for k in expected if k[1] == ch and accepted.get(k)]
        by_channel[ch] = {"first_p50_ms": pct(f, 50), "first_p99_ms": pct(f, 99), "accepted_p99_ms": pct(a, 99)}
    return RunResult(
        name=name,
        breaches=len(breached),
        deliveries=len(expected),
        first_p50_ms=pct(first_lat, 50),
        first_p99_ms=pct(first_lat, 99),
        first_max_ms=max(first_lat, default=None),
        accepted_p50_ms=pct(acc_lat, 50),
        accepted_p99_ms=pct(acc_lat, 99),
        send_rate=len(first) / max(last_first - start, 1e-6),
        completed_s=last_accepted - start,
        requests=sum(1 for row in log if row[2] in breached),
        transient_errors=errors,
        duplicates=duplicates,
        losses=len(lost) + outbox_losses,
        by_channel=by_channel,
    )


# -- the workload ------------------------------------------------------------------------------------------------


@dataclass
class Breach:
    ticket_id: int
    number: str


Publish = Callable[[Breach], Awaitable[None]]


async def publish_all(breaches: list[Breach], publish: Publish, rate: float | None) -> dict[str, float]:
    """Publish every breach (all at once, or ``rate`` per second); the monotonic moment of each."""
    at: dict[str, float] = {}
    tasks = []
    start = time.monotonic()
    for i, b in enumerate(breaches):
        if rate:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        at[b.number] = time.monotonic()
        tasks.append(asyncio.create_task(publish(b)))
    await asyncio.gather(*tasks)
    return at


def notify_settings(providers_url: str) -> dict[str, Any]:
    return {
        "twilio": {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "from_number": FROM,
            "api_base_url": providers_url,
            "status_callbacks": False,
        },
        "slack": {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET, "api_base_url": providers_url + "/api/"},
        "people": [{"name": "ivan", "phone": ONCALL_PHONE, "channels": ["sms"]}],
        "schedules": [
            {
                "name": "it-primary",
                "timezone": "Europe/Moscow",
                "rotation": {"members": ["ivan"], "length": "1w", "handoff": "mon 09:00"},
            }
        ],
        "policies": [
            {
                "name": "sla",
                "match": {"event": ["sla.breached"], "priority": ["P1"]},
                "steps": [
                    {"after": "0m", "notify": ["schedule:it-primary", "slack:#it-oncall"]},
                    {"after": "30m", "notify": ["schedule:it-primary"]},
                ],
                "repeat": 0,
            }
        ],
    }


class Outbox:
    """The real alerting runtime on a fresh database."""

    def __init__(self, database_url: str, providers_url: str) -> None:
        from web.settings import Settings

        self.settings = Settings.model_validate(
            {
                "database": {"url": database_url},
                "web": {"public_url": "https://helpline.example.com"},
                "notify": notify_settings(providers_url),
            }
        )
        self.runtime: Any = None

    async def open(self) -> None:
        from tickets.ticket_service import TicketService
        from web.runtime import db
        from web.runtime.notify import NotifyRuntime

        await db.open_orm(self.settings.database)
        await db.upgrade(self.settings.database)
        self.tickets = TicketService()
        self.runtime = NotifyRuntime(self.settings, self.tickets, {})
        await self.runtime.start()

    async def close(self) -> None:
        from web.runtime import db

        if self.runtime is not None:
            await self.runtime.stop()
        await db.close_orm()

    async def tickets_for(self, n: int, label: str) -> list[Breach]:
        from tickets.actor import Actor
        from tickets.models import Level

        actor = Actor.system("bench")
        out = []
        for i in range(n):
            t = await self.tickets.create(
                actor, title=f"{label} outage {i}: VPN down for Finance", impact=Level.HIGH, urgency=Level.HIGH
            )
            out.append(Breach(t.id, t.number))
        return out

    async def publish(self, b: Breach) -> None:
        from tickets.events import SlaBreached

        await self.runtime.alerts.on_due(  # as the SLA scheduler does for a breach it records
            SlaBreached(b.ticket_id, b.number, "resolution", datetime.now(UTC), "p1")
        )

    async def settle(self, numbers: set[str], timeout: float) -> int:
        """Wait until no delivery of these tickets is queued or sending; how many are not ``sent`` then."""
        from notify.models import Alert, Delivery, DeliveryStatus
        from tickets.models import Ticket

        ids = list(await Ticket.filter(number__in=list(numbers)).values_list("id", flat=True))
        alerts = list(await Alert.filter(ticket_id__in=ids).values_list("id", flat=True))
        mine = Delivery.filter(alert_id__in=alerts, step=0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not await mine.filter(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING]).exists():
                break
            await asyncio.sleep(0.25)
        sent = await Delivery.filter(alert_id__in=alerts, step=0, status=DeliveryStatus.SENT).count()
        return 2 * len(numbers) - sent


class Raw:
    """The baseline: the same SDK clients, each message sent at once, a transient error retried at once."""

    def __init__(self, providers_url: str) -> None:
        from notify.channels import SlackChat, TwilioSms

        self.sms = TwilioSms(ACCOUNT_SID, AUTH_TOKEN, FROM, base_url=providers_url)
        self.slack = SlackChat(BOT_TOKEN, base_url=providers_url + "/api/")

    async def open(self) -> None:
        await self.sms.start()
        await self.slack.start()

    async def close(self) -> None:
        await self.sms.close()
        await self.slack.close()

    async def publish(self, b: Breach) -> None:
        from notify.channels import SendError

        text = f"{b.number} P1 resolution breached: VPN down for Finance - reply {b.number.split('-')[1]} to ack"
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]

        async def until_accepted(send: Callable[[], Awaitable[Any]]) -> None:
            for _ in range(20):
                try:
                    await send()
                    return
                except SendError as exc:
                    if exc.permanent:
                        raise

        await asyncio.gather(
            until_accepted(lambda: self.sms.send(ONCALL_PHONE, text)),
            until_accepted(lambda: self.slack.post("#it-oncall", text, blocks)),
        )


# -- runs --------------------------------------------------------------------------------------------------------


async def one_run(
    name: str,
    providers: Providers,
    breaches: list[Breach],
    publish: Publish,
    rate: float | None,
    args: argparse.Namespace,
    settle: Callable[[set[str]], Awaitable[int]] | None = None,
    statuses: tuple[int, ...] = (500, 429),
) -> RunResult:
    await providers.reset(args.latency, args.error_rate, args.seed, statuses)
    at = await publish_all(breaches, publish, rate)
    losses = await settle(set(at), args.settle_timeout) if settle else 0
    await asyncio.sleep(0.5)  # the last answers reach the log
    result = analyse(name, at, await providers.log(), outbox_losses=losses)
    if losses:
        result.notes.append(f"{losses} deliveries not 'sent' in the outbox after {args.settle_timeout:.0f} s")
    return result


async def create_pg_database(base: str) -> str:
    import asyncpg

    name = f"helpline_bench_notify_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(base.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return re.sub(r"/[^/?]*(\?|$)", f"/{name}\\1", base, count=1) if base.count("/") >= 3 else f"{base}/{name}"


async def drop_pg_database(base: str, url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1].split("?")[0]
    conn = await asyncpg.connect(base.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    providers = Providers()
    tmp = Path(tempfile.mkdtemp(prefix="helpline-bench-notify-"))
    database_url = await create_pg_database(args.postgres) if args.postgres else f"sqlite://{tmp / 'bench.sqlite3'}"
    outbox = Outbox(database_url, providers.url)
    raw = Raw(providers.url)
    paced_n = int(args.rate * args.paced_seconds)
    results: list[RunResult] = []
    try:
        await providers.reset(args.latency, args.error_rate, args.seed)
        await outbox.open()
        await raw.open()
        burst = await outbox.tickets_for(args.breaches, "burst")
        paced = await outbox.tickets_for(paced_n, "paced")
        paced500 = await outbox.tickets_for(paced_n, "paced-500")
        warm = await outbox.tickets_for(20, "warm-up")
        await one_run("warm-up", providers, warm, outbox.publish, None, args, outbox.settle)
        fake_burst = [Breach(0, f"RAW-{i}") for i in range(args.breaches)]
        fake_paced = [Breach(0, f"RAWP-{i}") for i in range(paced_n)]
        results.append(await one_run("raw: burst", providers, fake_burst, raw.publish, None, args))
        results.append(await one_run("outbox: burst", providers, burst, outbox.publish, None, args, outbox.settle))
        results.append(await one_run("raw: paced", providers, fake_paced, raw.publish, args.rate, args))
        results.append(await one_run("outbox: paced", providers, paced, outbox.publish, args.rate, args, outbox.settle))
        # the same pace with 500s only: what the dispatcher does when no Retry-After holds a Slack channel
        results.append(
            await one_run(
                "outbox: paced500", providers, paced500, outbox.publish, args.rate, args, outbox.settle, statuses=(500,)
            )
        )
        counters = asdict(outbox.runtime.dispatcher.counters)
    finally:
        await raw.close()
        await outbox.close()
        providers.stop()
        if args.postgres:
            await drop_pg_database(args.postgres, database_url)
        shutil.rmtree(tmp, ignore_errors=True)
    return {"results": results, "dispatcher": counters, "database": "postgres" if args.postgres else "sqlite"}


def fmt(v: float | None, unit: str = "") -> str:
    return "-" if v is None else f"{v:,.0f}{unit}"


def report(out: dict[str, Any], args: argparse.Namespace) -> bool:
    results: dict[str, RunResult] = {r.name: r for r in out["results"]}
    print(
        f"\nhelpline alerting benchmark: {out['database']}, providers answer in {args.latency * 1000:.0f} ms, "
        f"{args.error_rate:.0%} transient errors (500 / 429 Retry-After 1)"
    )
    print(
        f"{'run':<16}{'deliv.':>7}{'send/s':>9}{'first p50':>11}{'first p99':>11}{'accepted p99':>14}"
        f"{'done':>8}{'req.':>7}{'errors':>8}{'dup.':>6}{'lost':>6}"
    )
    for r in out["results"]:
        print(
            f"{r.name:<16}{r.deliveries:>7}{r.send_rate:>9,.0f}{fmt(r.first_p50_ms, ' ms'):>11}"
            f"{fmt(r.first_p99_ms, ' ms'):>11}{fmt(r.accepted_p99_ms, ' ms'):>14}{r.completed_s:>7.1f}s"
            f"{r.requests:>7}{r.transient_errors:>8}{r.duplicates:>6}{r.losses:>6}"
        )
        for ch, figures in r.by_channel.items():
            print(
                f"  {ch:<14}{'':>16}{fmt(figures['first_p50_ms'], ' ms'):>11}{fmt(figures['first_p99_ms'], ' ms'):>11}"
                f"{fmt(figures['accepted_p99_ms'], ' ms'):>14}"
            )
        for note in r.notes:
            print(f"  ! {note}")
    for kind in ("burst", "paced"):
        o, r = results[f"outbox: {kind}"], results[f"raw: {kind}"]
        rate = o.send_rate / r.send_rate if r.send_rate else float("nan")
        p99 = (o.first_p99_ms or 0) / (r.first_p99_ms or 1)
        extra = (o.first_p99_ms or 0) - (r.first_p99_ms or 0)
        print(
            f"{kind}: outbox / raw send rate {rate:.2f}; first-request p99 outbox / raw {p99:.1f}x ({extra:+,.0f} ms)"
        )
    ok = all(r.duplicates == 0 and r.losses == 0 for r in out["results"])
    print(f"duplicates and losses 0 in every run: {'yes' if ok else 'NO'}")

    def verdict(ms: float | None) -> str:
        return f"{fmt(ms, ' ms')} {'MET' if ms is not None and ms < 1000 else 'MISSED'}"

    paced, p500 = results["outbox: paced"], results["outbox: paced500"]
    print(
        f"target p99 breach -> provider request < 1 s at {args.rate:.0f} breaches/s: "
        f"all {verdict(paced.first_p99_ms)} (SMS {verdict(paced.by_channel['sms']['first_p99_ms'])}, "
        f"Slack {verdict(paced.by_channel['slack']['first_p99_ms'])}); "
        f"with 500s only (no Retry-After hold): all {verdict(p500.first_p99_ms)}"
    )
    print(f"dispatcher counters: {out['dispatcher']}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", metavar="URL", help="run on PostgreSQL (a database is created and dropped)")
    parser.add_argument("--breaches", type=int, default=1000, help="breaches published at once (default 1000)")
    parser.add_argument("--rate", type=float, default=100.0, help="breaches per second in the paced run")
    parser.add_argument("--paced-seconds", type=float, default=10.0, help="length of the paced run")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the providers take to answer")
    parser.add_argument("--error-rate", type=float, default=0.05, help="share of transient provider errors")
    parser.add_argument("--seed", type=int, default=20260601)
    parser.add_argument("--settle-timeout", type=float, default=120.0, help="seconds to wait for the outbox")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    started = time.time()
    try:
        import uvloop  # as ``helpline serve`` runs

        out = uvloop.run(bench(args))
    except ImportError:
        out = asyncio.run(bench(args))
    ok = report(out, args)
    RESULTS.mkdir(exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    path = RESULTS / f"notify-{datetime.now(UTC):%Y%m%dT%H%M%S}-{out['database']}.json"
    path.write_text(
        json.dumps(
            {
                "args": vars(args),
                "commit": commit.strip(),
                "started": started,
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg()},
                "dispatcher": out["dispatcher"],
                "results": [asdict(r) for r in out["results"]],
            },
            indent=2,
        )
    )
    print(f"written to {path.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
