#!/usr/bin/env python3
"""helpline scale-out benchmark: one vs two instances on PostgreSQL through the call storm, and the takeover time.

    .venv/bin/python bench/scale.py                     # 3 rounds of each, 5 takeovers (about 2 minutes)
    make bench-scale BENCH_ARGS="--rounds 5 --takeovers 10"

(a) storm: ``d_storm200`` (200 calls, 24,747 events) at max speed into a fresh, seeded PostgreSQL database, through
    the app in this process (``create_app`` + its lifespan, on uvloop), which holds the PBX's leadership. "one": this
    instance alone; "two": with a second ``helpline serve`` on the same database and the same [[pbx]], standing by
    (contending for the lock every second, running its SLA scheduler and dispatcher on the shared database). The
    replay server (``helpline pbx replay``, its own process) gives the leader an idle AMI session first; once the
    standby is up the leader reconnects and the storm streams. Figures: calls/s and events/s from the first frame's
    arrival to the commit of the last call's end, and the latency from a frame's arrival to the commit of its call
    fact (bench/pbx.py's probes: offered + answered + ended, p50/p99), each round checked against
    ``d_storm200.calls.jsonl``. Baseline, same round: bare panoramisk reading the storm (bench/pbx.py's reader).
(b) takeover: two ``helpline serve`` processes, a leader and a standby; ``kill -9`` of the leader; the time until the
    standby is connected to the PBX (its GET /api/v1/status says ``pbx:main: ok``, polled every 20 ms). Target
    < 5 s; printed against the standby's retry interval (1 s), the floor of the design.

With one PBX, only its leader does the intake: a second instance adds availability, not intake throughput (the
point of (a) is that standing by costs the leader nothing). Results are printed and written to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != BENCH]  # bench/pbx.py is not the pbx package
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _bench_pbx() -> Any:
    """bench/pbx.py (the PBX pipeline benchmark): its probes, databases, replay process and checks."""
    spec = importlib.util.spec_from_file_location("bench_pbx", BENCH / "pbx.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_pbx"] = module
    spec.loader.exec_module(module)
    return module


_pbx = _bench_pbx()
_api = _pbx._api
log, cpu_model, git_describe, percentile = _api.log, _api.cpu_model, _api.git_describe, _api.percentile

from pbx.replay import Recording  # noqa: E402
from tests.support import chaos  # noqa: E402
from tests.support.chaos import Instance  # noqa: E402
from web.app import create_app  # noqa: E402
from web.runtime import runtime_of  # noqa: E402
from web.runtime.leadership import Leadership  # noqa: E402

RECORDING: Path = _pbx.RECORDING
TAKEOVER_TARGET_S = 5.0
BANNER = b"Asterisk Call Manager/11.0.0\r\n"


# -- helpline serve processes: the chaos tests' (tests/support/chaos.py) --------------------------------------------


async def pbx_state(instance: Instance, wanted: str, timeout: float = 60.0, every: float = 0.05) -> float:
    """Wait until the instance's ``pbx:main`` status check reads ``wanted`` (``ok``: it leads; ``standby``)."""
    return await chaos.until(
        f"{instance.name}: pbx {wanted}",
        lambda: chaos.has_check(instance, wanted),
        timeout,
        every,
        logs=lambda: instance.log()[-2000:],
    )


async def launch(name: str, url: str, ami_port: int, workdir: Path, token: str | None = None) -> Instance:
    """``helpline serve`` with one [[pbx]] (the replay server), on a free port, answering, with a token for its
    status (``token``, else a new admin's: one per database)."""
    config = chaos.write_config(workdir / f"{name}.toml", ami_port, username=_pbx.USER, secret=_pbx.SECRET)
    instance = chaos.launch(name, url, config, workdir)
    await chaos.until_healthy(instance, 60)
    instance.token = token or await chaos.admin_token(url, workdir)
    return instance


# -- (a) the storm through one or two instances ---------------------------------------------------------------------


async def until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(0.02)


async def storm_round(
    databases: Any, workdir: Path, idle: Path, instances: int, truth: dict[str, Any], events: int
) -> dict[str, Any]:
    url = await databases.new()
    server = _pbx.ReplayProcess([idle, RECORDING], speed=None, loop=False)
    standbys: list[Instance] = []
    try:
        app = create_app(_pbx.app_settings(url, server.port))
        probe = _pbx.Probe()
        probe.attach_intake(runtime_of(app).intake)
        async with app.router.lifespan_context(app):
            listener = runtime_of(app).pbx["main"]
            await until(lambda: listener.role == "leader" and listener.connection.connected, 30, "this instance leads")
            token = None
            for i in range(instances - 1):
                standbys.append(await launch(f"standby{i}", url, server.port, workdir, token))
                token = standbys[-1].token
            await asyncio.gather(*(pbx_state(s, "standby") for s in standbys))
            await asyncio.sleep(1.5)  # the standbys try the lock at least once
            await listener.stop()  # the idle session ends; the next login gets the storm
            await listener.start()
            probe.attach_queue(listener.connection.events)
            probe.attach_tracker(listener.tracker)
            probe.attach_listener(listener)
            cpu0 = time.process_time()
            await probe.wait_ended(len(truth), 120)
            cpu = time.process_time() - cpu0
            seconds = probe.last_commit - probe.first_arrival
            await asyncio.sleep(0.3)
            problems = await _pbx.check_calls(truth)
            status = listener.status()
        latency = _pbx.latency_report(probe.latencies())
    finally:
        for s in standbys:
            s.stop()
        server.stop()
    return {
        "instances": instances,
        "seconds": round(seconds, 3),
        "calls_per_s": round(len(truth) / seconds, 1),
        "events_per_s": round(events / seconds),
        "cpu_s": round(cpu, 3),
        "latency": latency,
        "p50_ms": latency["target_facts"].get("p50_ms"),
        "p99_ms": latency["target_facts"].get("p99_ms"),
        "problems": problems,
        "facts_failed": status["facts_failed"],
        "correct": not problems and status["facts_failed"] == 0 and status["dropped_events"] == 0,
    }


async def baseline_round(events: int) -> dict[str, Any]:
    server = _pbx.ReplayProcess([RECORDING], speed=None, loop=False)
    try:
        return await _pbx.panoramisk_reader(server.port, events)  # type: ignore[no-any-return]
    finally:
        server.stop()


# -- (b) takeover --------------------------------------------------------------------------------------------------


async def takeover_round(databases: Any, workdir: Path, idle: Path, n: int) -> float:
    url = await databases.new()
    server = _pbx.ReplayProcess([idle], speed=None, loop=False)  # then idle sessions, one per login
    a: Instance | None = None
    b: Instance | None = None
    try:
        a = await launch(f"a{n}", url, server.port, workdir)
        await pbx_state(a, "ok")
        b = await launch(f"b{n}", url, server.port, workdir, a.token)
        await pbx_state(b, "standby")
        await asyncio.sleep(1.0)
        started = time.perf_counter()
        a.kill()
        await pbx_state(b, "ok", timeout=30, every=0.02)
        return time.perf_counter() - started
    finally:
        for instance in (a, b):
            if instance is not None:
                instance.stop()
        server.stop()


# -- the run ---------------------------------------------------------------------------------------------------------


def median(rows: Sequence[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in rows))


def report(
    meta: dict[str, Any],
    storms: list[dict[str, Any]],
    baselines: list[dict[str, Any]],
    takeovers: list[float],
    retry: float,
) -> dict[str, Any]:
    one = [r for r in storms if r["instances"] == 1]
    two = [r for r in storms if r["instances"] == 2]
    bare = statistics.median(b["events_per_s"] for b in baselines)
    print(
        f"\nhelpline scale-out benchmark, {meta['started']} (commit {meta['commit']}, {meta['cores']} cores, "
        f"load {meta['loadavg_start']} -> {meta['loadavg_end']})"
    )
    print(
        f"\n(a) storm ({meta['calls']} calls, {meta['events']} events) at max speed on PostgreSQL, median of "
        f"{len(one)} rounds each:"
    )
    print(
        f"  {'instances':<10} {'calls/s':>8} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs panoramisk':>14}  correct"
    )
    summary: dict[str, Any] = {"bare_panoramisk_events_per_s": round(bare)}
    for label, rows in (("one", one), ("two", two)):
        if not rows:
            continue
        row = {k: median(rows, k) for k in ("calls_per_s", "events_per_s", "p50_ms", "p99_ms")}
        row["ratio_to_panoramisk"] = round(row["events_per_s"] / bare, 2)
        row["correct"] = all(r["correct"] for r in rows)
        summary[label] = row
        print(
            f"  {label:<10} {row['calls_per_s']:>8.1f} {row['events_per_s']:>9.0f} {row['p50_ms']:>8.0f} "
            f"{row['p99_ms']:>8.0f} {row['ratio_to_panoramisk']:>14.2f}  {row['correct']}"
        )
    print(f"  bare panoramisk (same rounds): {bare:,.0f} events/s")
    if one and two:
        summary["two_vs_one_calls_per_s"] = round(summary["two"]["calls_per_s"] / summary["one"]["calls_per_s"], 2)
        summary["two_vs_one_p99"] = round(summary["two"]["p99_ms"] / summary["one"]["p99_ms"], 2)
        print(f"  two / one: calls/s x{summary['two_vs_one_calls_per_s']}, p99 x{summary['two_vs_one_p99']}")
    if takeovers:
        s = sorted(takeovers)
        summary["takeover_s"] = {
            "n": len(s),
            "min": round(s[0], 3),
            "median": round(statistics.median(s), 3),
            "max": round(s[-1], 3),
            "p90": round(percentile(s, 0.9), 3),
            "vs_retry_interval": round(statistics.median(s) / retry, 2),
            "target_s": TAKEOVER_TARGET_S,
            "pass": s[-1] < TAKEOVER_TARGET_S,
        }
        t = summary["takeover_s"]
        print(
            f"\n(b) takeover after kill -9 of the leader ({t['n']} times): median {t['median']:.2f} s, max "
            f"{t['max']:.2f} s (x{t['vs_retry_interval']} the standby's {retry:g} s retry); target < "
            f"{TAKEOVER_TARGET_S:g} s: {'PASS' if t['pass'] else 'FAIL'}"
        )
    return summary


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--postgres-url",
        default=os.environ.get("HELPLINE_BENCH_POSTGRES_URL")
        or os.environ.get("HELPLINE_TEST_POSTGRES_URL")
        or "postgres://postgres@127.0.0.1:5432/test",
        help="a server and a database to connect to for CREATE/DROP DATABASE (default: %(default)s)",
    )
    ap.add_argument("--rounds", type=int, default=3, help="storm rounds per instance count (default %(default)s)")
    ap.add_argument("--takeovers", type=int, default=5, help="kill -9 takeovers to time (default %(default)s)")
    ap.add_argument("--no-uvloop", action="store_true", help="run on the default asyncio loop")
    ap.add_argument("--json", type=Path, help="write the results here (default: bench/results/scale-<time>.json)")
    args = ap.parse_args(argv)
    if args.rounds < 0 or args.takeovers < 0:
        ap.error("--rounds and --takeovers must be >= 0")
    return args


async def main_async(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    events = Recording.load(RECORDING).events + 1  # + the FullyBooted the server sends after the login
    truth = _pbx.load_truth()
    meta: dict[str, Any] = {
        "started": started.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "commit": git_describe(),
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "loop": "asyncio" if args.no_uvloop else "uvloop",
        "events": events,
        "calls": len(truth),
        "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    workdir = Path(tempfile.mkdtemp(prefix="helpline-bench-scale-"))
    idle = workdir / "idle.raw"
    idle.write_bytes(BANNER)  # a session that logs in and stays quiet
    databases = _pbx.Databases("postgres", workdir, args.postgres_url)
    storms: list[dict[str, Any]] = []
    baselines: list[dict[str, Any]] = []
    takeovers: list[float] = []
    try:
        await databases.prepare()
        meta["postgres"] = databases.server_version
        for n in range(args.rounds):
            for instances in (1, 2) if n % 2 == 0 else (2, 1):  # alternating: drift hits both alike
                result = await storm_round(databases, workdir, idle, instances, truth, events)
                log(
                    f"round {n + 1}, {instances} instance(s): {result['calls_per_s']} calls/s, p99 "
                    f"{result['p99_ms']} ms, correct {result['correct']}"
                )
                storms.append(result)
            baselines.append(await baseline_round(events))
        for n in range(args.takeovers):
            takeovers.append(await takeover_round(databases, workdir, idle, n))
            log(f"takeover {n + 1}: {takeovers[-1]:.2f} s")
    finally:
        await databases.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    meta["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    retry = Leadership.__init__.__kwdefaults__["retry"]  # type: ignore[index]
    summary = report(meta, storms, baselines, takeovers, retry) if storms or takeovers else {}
    out = args.json or _api.RESULTS_DIR / f"scale-{started:%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"meta": meta, "summary": summary, "storms": storms, "baselines": baselines, "takeovers": takeovers},
            indent=2,
            default=str,
        )
        + "\n"
    )
    print(f"\nresults: {out}")
    return 0 if all(r["correct"] for r in storms) else 1


def main(argv: Sequence[str] | None = None) -> int:
    import logging

    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="[%(asctime)s] %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    return _api.run_loop(main_async(args), not args.no_uvloop)  # type: ignore[no-any-return]


if __name__ == "__main__":
    raise SystemExit(main())
