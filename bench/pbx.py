#!/usr/bin/env python3
"""helpline PBX pipeline benchmark: a recorded call storm through the real listener into committed calls and tickets.

    .venv/bin/python bench/pbx.py                        # both backends, full run (about 8 minutes on 2 cores)
    .venv/bin/python bench/pbx.py --backend sqlite --quick
    make bench-pbx BENCH_ARGS="--backend postgres --rounds 5"

The recording is ``tests/fixtures/ami/d_storm200.raw.gz`` (real Asterisk 22: 200 calls in 30 s, 24,747 events with
our FullyBooted, 10.6 MB). ``helpline pbx replay`` serves it from a separate process, so the replay server does not
share the pipeline's event loop. The pipeline is the app itself: ``create_app`` + its lifespan in this process (on
uvloop, like ``helpline serve``), i.e. ``AmiConnection -> PbxListener (CallTracker) -> CallIntake`` into a fresh,
migrated database holding the three agents of the recording and some of its callers as people. For each backend:

  (a) throughput: ``--rounds`` rounds at max speed; each round replays the storm through bare panoramisk (a Manager
      with a no-op synchronous ``'*'`` callback), through ``AmiConnection`` alone (one consumer task, no tracker, no
      database) and through the whole pipeline into a new database, alternating, so drift hits them alike. Rates are
      events/s from the first event's arrival to the last event handled (readers) or to the commit of the last
      call's end (pipeline); the ratio printed is pipeline / bare panoramisk. Each pipeline round is checked against
      ``d_storm200.calls.jsonl``: 200 calls, outcome, agent, who hung up, voicemail, one ticket opened per ticket.
  (b) latency: from the arrival of the frame behind a call fact (QueueCallerJoin -> CallOffered, AgentCalled ->
      AgentRinging, AgentConnect -> CallAnswered, the call's last Hangup -> CallEnded) to the return of the intake
      method that committed it; at max speed (the rounds of (a)) and at the storm's real pace (speed 1, 83 s from the
      first to the last event; ``--pace-seconds`` replays it faster).
  (c) memory: one app and one database; ``--memory-replays`` replays of the storm, each with its Uniqueids/Linkedids
      rewritten and its timestamps moved a day on (a new set of 200 calls, no repeat-call links to the day before),
      one per AMI session (the benchmark logs off; the listener reconnects and resynchronises, as after a network
      blip); the process's RSS after each replay has been committed.

Timestamps come from benchmark-only wrappers around public methods of the running objects (the connection's event
queue ``put_nowait``, the tracker's ``feed``, the intake's four methods); no production code knows about them.
Results are printed and written as JSON to bench/results/. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import ctypes
import gc
import gzip
import importlib.util
import json
import logging
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# This file is bench/pbx.py: keep its folder off the import path, or it would stand in for the ``pbx`` package.
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != BENCH]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _bench_api() -> Any:
    """bench/api.py (the API benchmark), for its helpers and conventions."""
    spec = importlib.util.spec_from_file_location("bench_api", BENCH / "api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_api"] = module
    spec.loader.exec_module(module)
    return module


_api = _bench_api()
RESULTS_DIR: Path = _api.RESULTS_DIR
DbPids, PostgresBackend = _api.DbPids, _api.PostgresBackend
cpu_model, git_describe, log, machine_cpu = _api.cpu_model, _api.git_describe, _api.log, _api.machine_cpu
percentile, pf, pg_url, process_cpu = _api.percentile, _api.pf, _api.pg_url, _api.process_cpu
CLK_TCK: int = _api.CLK_TCK

from panoramisk import Manager  # noqa: E402

from pbx.backoff import Backoff  # noqa: E402
from pbx.connection import AmiConnection, SessionMarker  # noqa: E402
from pbx.frames import read_recording  # noqa: E402
from pbx.replay import Recording  # noqa: E402
from pbx.tracker import CallTracker  # noqa: E402
from tickets.agent_service import AgentService  # noqa: E402
from tickets.models import Activity, Call, Ticket  # noqa: E402
from tickets.person_service import PersonService  # noqa: E402
from web.app import create_app  # noqa: E402
from web.runtime import db, runtime_of  # noqa: E402
from web.settings import Settings  # noqa: E402

AMI = ROOT / "tests" / "fixtures" / "ami"
RECORDING = AMI / "d_storm200.raw.gz"
TRUTH = AMI / "d_storm200.calls.jsonl"
USER, SECRET = "bench", "bench-secret"
#: Targets (docs/benchmarks.md).
SQLITE_RATE_TARGET = 20_000.0  # events/s through to committed tickets
RATIO_TARGET = 0.25  # of bare panoramisk's rate
PACED_P99_TARGET_MS = 50.0  # arrival -> committed fact, at the storm's real pace
#: Memory is flat when, from the 2nd replay (caches filled by the 1st) to the last, the objects the garbage collector
#: tracks do not grow (a Python-level leak of even one object per call shows here) and RSS, sampled after
#: ``malloc_trim(0)`` (glibc otherwise keeps freed heap memory after a burst: raw RSS moves in steps of several MB,
#: either way), grows by at most 3 MB.
MEMORY_FLAT_OBJECTS = 0.005
MEMORY_FLAT_MB = 3.0

OUTCOME = {"answered": "answered", "abandoned": "abandoned", "overflow-voicemail": "timeout"}
AGENTS = [("alice", "Alice Agent", "101"), ("bob", "Bob Agent", "102"), ("carol", "Carol Agent", "103")]
#: intake method -> (fact, the frame it comes from)
FACTS = {
    "offered": ("CallOffered", "QueueCallerJoin"),
    "ringing": ("AgentRinging", "AgentCalled"),
    "answered": ("CallAnswered", "AgentConnect"),
    "ended": ("CallEnded", "last Hangup"),
}
#: the facts of the latency target (the brief's QueueCallerJoin / AgentConnect / last Hangup)
TARGET_FACTS = ("offered", "answered", "ended")


# -- the recording ----------------------------------------------------------------------------------------------


def load_truth(path: Path = TRUTH) -> dict[str, dict[str, Any]]:
    return {row["uniqueid"]: row for row in map(json.loads, path.read_text().splitlines())}


_ID_HEADER = re.compile(rb"(?m)^(?!Timestamp:)([A-Za-z]+): 17(\d{8}\.\d+)\r$")
_TIMESTAMP = re.compile(rb"(?m)^Timestamp: (\d{10})\.")
DAY = 86_400


def rewritten_id(uniqueid: str, replay: int) -> str:
    """Replay ``replay``'s version of a recorded Uniqueid/Linkedid (same length: '1795795977.158' ->
    '3095795977.158')."""
    assert uniqueid.startswith("17")
    return f"{30 + replay}{uniqueid[2:]}"


def rewrite(raw: bytes, replay: int) -> bytes:
    """The recording as a new set of calls: every Uniqueid/Linkedid-like value (``17xxxxxxxx.n``, any header but
    Timestamp) gets the prefix of ``replay``, every Timestamp moves ``replay + 1`` days on. Lengths do not change, so
    the recorded chunking (timing file) still applies."""
    prefix = str(30 + replay).encode()
    shift = (replay + 1) * DAY
    raw = _ID_HEADER.sub(lambda m: m[1] + b": " + prefix + m[2] + b"\r", raw)
    return _TIMESTAMP.sub(lambda m: b"Timestamp: " + str(int(m[1]) + shift).encode() + b".", raw)


def timing_records(path: Path) -> bytes:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    for candidate in (path.with_name(f"{name}.timing.jsonl"), path.with_name(f"{name}.timing.jsonl.gz")):
        if candidate.exists():
            data = candidate.read_bytes()
            return gzip.decompress(data) if candidate.suffix == ".gz" else data
    return b""


def write_replays(workdir: Path, count: int) -> list[Path]:
    """``count`` rewritten copies of the storm (with its timing file) for the memory phase."""
    raw = read_recording(RECORDING)
    timing = timing_records(RECORDING)
    paths = []
    for k in range(count):
        path = workdir / f"storm-r{k:02d}.raw"
        path.write_bytes(rewrite(raw, k))
        if timing:
            path.with_name(path.name + ".timing.jsonl").write_bytes(timing)
        paths.append(path)
    return paths


# -- the replay server (a separate process: `helpline pbx replay`) ----------------------------------------------


class ReplayProcess:
    """``helpline pbx replay FILES... --port 0`` in its own process; the port is read from its first line."""

    def __init__(self, files: Sequence[Path], *, speed: float | None, loop: bool) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
        cmd = [
            sys.executable,
            "-m",
            "web.cli",
            "pbx",
            "replay",
            *map(str, files),
            "--port",
            "0",
            "--username",
            USER,
            "--secret",
            SECRET,
        ]
        cmd += ["--max"] if speed is None else ["--speed", f"{speed:g}"]
        if loop:
            cmd.append("--loop")
        self.process = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "127.0.0.1:" not in line:
            self.stop()
            raise RuntimeError(f"helpline pbx replay did not start: {line}{self.process.stderr.read()}")  # type: ignore[union-attr]
        self.port = int(line.split("127.0.0.1:")[1].split()[0])

    def cpu(self) -> float:
        return process_cpu(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# -- probes: timestamps from inside the running pipeline ------------------------------------------------------------


class Probe:
    """Benchmark-only wrappers around public methods of the running objects.

    * the connection's ``events.put_nowait`` (called synchronously by the protocol for each parsed event): the
      arrival time, kept on the message;
    * the tracker's ``feed``: which fact came from which frame;
    * the listener's ``record(facts)``: the time it returned, i.e. after the transaction(s) holding those facts
      committed (a burst of facts shares one);
    * the intake's ``offered/ringing/answered/ended``: which one runs (for :class:`RoundTrips`) and how often.
    """

    def __init__(self) -> None:
        self.first_arrival: float | None = None
        self.events = 0
        self.arrivals: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
        self.commits: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
        self.ended = 0
        self.last_commit: float | None = None
        self.current: str | None = None  #: the intake method running now (for RoundTrips)
        self.applied: collections.Counter[str] = collections.Counter()
        self._want = 0
        self._reached = asyncio.Event()

    def attach_queue(self, queue: Any) -> None:
        put = queue.put_nowait
        perf = time.perf_counter

        def put_nowait(item: Any) -> bool:
            now = perf()
            if self.first_arrival is None:
                self.first_arrival = now
            self.events += 1
            item.bench_arrival = now
            return put(item)

        queue.put_nowait = put_nowait

    def attach_tracker(self, tracker: Any) -> None:
        feed = tracker.feed
        kinds = {name: kind for kind, (name, _) in FACTS.items()}

        def traced(event: Any, received_at: Any = None) -> Any:
            facts = feed(event, received_at)
            if facts:
                at = getattr(event, "bench_arrival", None)
                if at is not None:
                    for fact in facts:
                        self.arrivals[(kinds[type(fact).__name__], fact.linkedid)].append(at)
            return facts

        tracker.feed = traced

    def attach_intake(self, intake: Any) -> None:
        for kind in FACTS:
            setattr(intake, kind, self._counted(kind, getattr(intake, kind)))

    def _counted(self, kind: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def counted(**kw: Any) -> Any:
            self.current = kind
            try:
                return await method(**kw)
            finally:
                self.current = None
                self.applied[kind] += 1

        return counted

    def attach_listener(self, listener: Any) -> None:
        record = listener.record
        kinds = {name: kind for kind, (name, _) in FACTS.items()}
        perf = time.perf_counter

        async def timed(facts: list[Any]) -> None:
            await record(facts)
            now = perf()
            for fact in facts:
                kind = kinds[type(fact).__name__]
                self.commits[(kind, fact.linkedid)].append(now)
                if kind == "ended":
                    self.ended += 1
                    self.last_commit = now
            if self.ended >= self._want:
                self._reached.set()

        listener.record = timed

    async def wait_ended(self, calls: int, timeout: float) -> None:
        self._want = calls
        if self.ended < calls:
            self._reached.clear()
            try:
                await asyncio.wait_for(self._reached.wait(), timeout)
            except TimeoutError:
                raise RuntimeError(f"only {self.ended} of {calls} calls ended within {timeout:.0f} s") from None

    def reset(self) -> None:
        """Forget the timestamps so far (the memory phase: the probe must not be what grows)."""
        self.first_arrival = None
        self.arrivals.clear()
        self.commits.clear()

    def latencies(self) -> dict[str, list[float]]:
        """Seconds from the frame's arrival to the commit of its fact, per intake method."""
        out: dict[str, list[float]] = {kind: [] for kind in FACTS}
        for (kind, linkedid), commits in self.commits.items():
            for arrived, committed in zip(self.arrivals.get((kind, linkedid), ()), commits):
                out[kind].append(committed - arrived)
        return out


def summary_ms(values: Sequence[float]) -> dict[str, Any]:
    s = sorted(values)
    if not s:
        return {"n": 0}
    return {
        "n": len(s),
        "p50_ms": round(percentile(s, 0.50) * 1000, 2),
        "p90_ms": round(percentile(s, 0.90) * 1000, 2),
        "p99_ms": round(percentile(s, 0.99) * 1000, 2),
        "max_ms": round(s[-1] * 1000, 2),
        "mean_ms": round(sum(s) / len(s) * 1000, 2),
    }


def latency_report(latencies: dict[str, list[float]]) -> dict[str, Any]:
    report = {kind: summary_ms(values) for kind, values in latencies.items()}
    report["target_facts"] = summary_ms([v for kind in TARGET_FACTS for v in latencies[kind]])
    return report


# -- databases --------------------------------------------------------------------------------------------------


async def seed(url: str) -> None:
    """Migrate, then add what a helpline next to this PBX would know: the queue's agents by extension, and a person
    for the front desk and for every second named caller (the others are unknown numbers)."""
    settings = Settings.model_validate({"database": {"url": url}})
    await db.open_orm(settings.database)
    try:
        await db.upgrade(settings.database)
        agents = AgentService()
        for login, name, extension in AGENTS:
            await agents.create(login=login, display_name=name, extension=extension)
        people = PersonService()
        seen: set[str] = set()
        for row in load_truth().values():
            match = re.match(r'"(.*)" <(.*)>', row["caller"])
            if not match or match[2] in seen or match[2] == "anonymous":
                continue
            seen.add(match[2])
            if match[2] == "4321" or len(seen) % 2:
                await people.create(name=match[1], phone=match[2], email=f"caller{len(seen)}@example.com")
    finally:
        await db.close_orm()


class Databases:
    """Fresh databases from one migrated, seeded template: a copied file (SQLite) or CREATE DATABASE ... TEMPLATE
    (PostgreSQL); everything made is removed by :meth:`cleanup`."""

    def __init__(self, backend: str, workdir: Path, postgres_url: str) -> None:
        self.backend = backend
        self.workdir = workdir
        self.pg = PostgresBackend(postgres_url) if backend == "postgres" else None
        self.template = ""
        self.count = 0

    async def prepare(self) -> None:
        if self.pg is None:
            path = self.workdir / "template.sqlite3"
            await seed(f"sqlite://{path}")
            self.template = str(path)
        else:
            url = await self.pg.new_database("pbxtmpl")
            await seed(url)
            self.template = url.rsplit("/", 1)[1]

    async def new(self) -> str:
        self.count += 1
        if self.pg is None:
            path = self.workdir / f"run{self.count:02d}.sqlite3"
            shutil.copyfile(self.template, path)
            return f"sqlite://{path}"
        import asyncpg

        name = f"helpline_bench_pbx_{os.getpid()}_{self.count:02d}"
        conn = await asyncpg.connect(self.pg.admin_url, timeout=10)
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        finally:
            await conn.close()
        self.pg.created.append(name)
        return pg_url(self.pg.base, name)

    def db_pids(self, url: str) -> DbPids:
        if self.pg is None:
            return DbPids()
        return DbPids(self.pg.admin_url, url.rsplit("/", 1)[1].split("?", 1)[0])

    @property
    def server_version(self) -> str:
        return self.pg.server_version if self.pg else ""

    async def cleanup(self) -> None:
        if self.pg is not None:
            await self.pg.cleanup()


# -- the readers --------------------------------------------------------------------------------------------------


async def panoramisk_reader(port: int, expected: int) -> dict[str, Any]:
    """Bare panoramisk 1.4: a Manager with a synchronous no-op '*' callback."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    count = 0
    first = 0.0
    perf = time.perf_counter

    def noop(manager: Manager, event: object) -> None:
        nonlocal count, first
        count += 1
        if count == 1:
            first = perf()
        if count == expected and not done.done():
            done.set_result(perf())

    manager = Manager(
        host="127.0.0.1", port=port, username=USER, secret=SECRET, ping_delay=3600, reconnect_timeout=3600, loop=loop
    )
    manager.register_event("*", noop)
    cpu0 = time.process_time()
    await manager.connect()
    end = await asyncio.wait_for(done, 120)
    cpu = time.process_time() - cpu0
    manager.close()
    return reader_result(expected, end - first, cpu)


async def ami_reader(port: int, expected: int, only_events: frozenset[str] | None) -> dict[str, Any]:
    """``AmiConnection`` with one consumer task that takes batches and drops them: every event parsed and queued
    (``only_events`` None, as bench/ami_connection.py measures it), or only the tracker's (as the listener has it)."""
    conn = AmiConnection(
        "127.0.0.1", port, USER, SECRET, name="bench", session_markers=True, ping_interval=3600, only_events=only_events
    )
    probe = Probe()
    probe.attach_queue(conn.events)
    cpu0 = time.process_time()
    await conn.start()
    delivered = 0
    while delivered + conn.counters.events_ignored < expected:
        if only_events is None:
            batch = await conn.events.get_batch()
        else:  # the stream may end with ignored events: look again every 2 ms
            try:
                batch = await asyncio.wait_for(conn.events.get_batch(), 0.002)
            except TimeoutError:
                continue
        delivered += sum(1 for item in batch if not isinstance(item, SessionMarker))
    end = time.perf_counter()
    cpu = time.process_time() - cpu0
    status = conn.status()
    await conn.close()
    assert status.dropped_events == 0 and status.malformed_frames == 0, status
    assert probe.first_arrival is not None
    return reader_result(expected, end - probe.first_arrival, cpu)


def reader_result(events: int, seconds: float, cpu: float) -> dict[str, Any]:
    return {
        "events": events,
        "seconds": round(seconds, 4),
        "events_per_s": round(events / seconds),
        "cpu_s": round(cpu, 3),
    }


# -- the pipeline -------------------------------------------------------------------------------------------------


def app_settings(url: str, port: int) -> Settings:
    """What a user's config would say: one [[pbx]] with the IT queue, default timeouts."""
    return Settings.model_validate(
        {
            "database": {"url": url},
            "pbx": [
                {
                    "name": "main",
                    "host": "127.0.0.1",
                    "port": port,
                    "username": USER,
                    "secret": SECRET,
                    "queues": ["helpdesk"],
                }
            ],
        }
    )


async def check_calls(truth: dict[str, dict[str, Any]]) -> list[str]:
    """The database against the ground truth (as tests/web/runtime/test_telephony.py checks it); the problems found."""
    problems: list[str] = []
    calls = {c.linkedid: c for c in await Call.filter(pbx="main")}
    if sorted(calls) != sorted(truth):
        problems.append(
            f"{len(calls)} calls in the database, {len(truth)} placed; "
            f"{len(set(truth) - set(calls))} missing, {len(set(calls) - set(truth))} unexpected"
        )
    for linkedid, row in truth.items():
        call = calls.get(linkedid)
        if call is None:
            continue
        outcome = call.outcome.value if call.outcome is not None else None
        if outcome != OUTCOME[row["outcome"]]:
            problems.append(f"{linkedid}: outcome {outcome}, expected {OUTCOME[row['outcome']]}")
        if call.ticket_id is None:
            problems.append(f"{linkedid}: no ticket")
        if row["outcome"] == "answered" and (
            call.agent_name != row["agent"] or call.ended_by != row["complete_reason"]
        ):
            problems.append(
                f"{linkedid}: agent {call.agent_name}/{call.ended_by}, expected {row['agent']}/{row['complete_reason']}"
            )
        if row["outcome"] == "overflow-voicemail" and not call.voicemail:
            problems.append(f"{linkedid}: voicemail not recorded")
    opened = collections.Counter(c.ticket_id for c in calls.values() if c.opened_ticket)
    tickets = await Ticket.all().values_list("id", flat=True)
    bad = [t for t in tickets if opened.get(t, 0) != 1]
    if bad:
        problems.append(f"{len(bad)} tickets not opened by exactly one call")
    return problems[:10]


@dataclass
class PipelineRun:
    """One replay (or several, for memory) through the app into one database."""

    url: str
    port: int
    pids: DbPids
    server: ReplayProcess
    probe: Probe = field(default_factory=Probe)

    async def __aenter__(self) -> PipelineRun:
        self.app = create_app(app_settings(self.url, self.port))
        self.probe.attach_intake(runtime_of(self.app).intake)
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        # The lifespan built and started the listener but has not yielded to the loop since: nothing has been
        # connected or received yet, so the probes see every event.
        self.listener = runtime_of(self.app).pbx["main"]
        assert self.listener.connection.status().events_received == 0
        self.probe.attach_queue(self.listener.connection.events)
        self.probe.attach_tracker(self.listener.tracker)
        self.probe.attach_listener(self.listener)
        self.cpu0 = time.process_time()
        self.threads0 = thread_cpu()
        self.server_cpu0 = self.server.cpu()
        self.machine0 = machine_cpu()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._lifespan.__aexit__(*exc)

    async def measure(self, calls: int, events: int, timeout: float) -> dict[str, Any]:
        """Wait until ``calls`` calls have ended (committed), then the figures of the run so far."""
        await self.probe.wait_ended(calls, timeout)
        cpu = time.process_time() - self.cpu0
        threads = thread_cpu()
        server_cpu = self.server.cpu() - self.server_cpu0
        busy1, total1 = machine_cpu()
        db_cpu = sum((await self.pids.snapshot()).values()) if self.pids.enabled else None
        probe = self.probe
        assert probe.first_arrival is not None and probe.last_commit is not None
        seconds = probe.last_commit - probe.first_arrival
        await asyncio.sleep(0.3)  # anything still in flight would now show
        status = self.listener.status()
        return {
            "events": events,
            "calls": calls,
            "seconds": round(seconds, 4),
            "events_per_s": round(events / seconds),
            "calls_per_s": round(calls / seconds, 1),
            "facts_applied": status["facts_applied"],
            "facts_failed": status["facts_failed"],
            "fact_retries": status["fact_retries"],
            "dropped_events": status["dropped_events"],
            "events_received": status["events_received"],
            "events_probed": probe.events,
            "cpu_s": round(cpu, 3),
            "cpu_us_per_event": round(cpu / events * 1e6, 1),
            "cpu_ms_per_call": round(cpu / calls * 1e3, 2),
            "cpu_main_thread_s": round(threads[0] - self.threads0[0], 3),
            "cpu_other_threads_s": round(threads[1] - self.threads0[1], 3),
            "facts_by_kind": dict(probe.applied),
            "db_cpu_s": None if db_cpu is None else round(db_cpu, 3),
            "replay_server_cpu_s": round(server_cpu, 3),
            "machine_busy_cores": round(
                (busy1 - self.machine0[0]) / max(total1 - self.machine0[1], 1e-9) * (os.cpu_count() or 1), 2
            ),
        }


async def pipeline_round(
    databases: Databases, server: ReplayProcess, truth: dict[str, dict[str, Any]], events: int, timeout: float
) -> dict[str, Any]:
    url = await databases.new()
    run = PipelineRun(url, server.port, databases.db_pids(url), server)
    trips = RoundTrips(run.probe)
    with trips if databases.backend == "sqlite" else contextlib.nullcontext():
        async with run:
            result = await run.measure(len(truth), events, timeout)
            result["problems"] = await check_calls(truth)
            result["tickets"] = await Ticket.all().count()
            result["activities"] = await Activity.all().count()
    if trips.counts:
        applied = run.probe.applied
        result["sqlite_round_trips"] = dict(trips.counts)
        result["sqlite_round_trips_per_fact"] = {
            k: round(trips.counts[k] / applied[k], 1) for k in applied if applied[k]
        }
    result["latency"] = latency_report(run.probe.latencies())
    result["_latencies"] = run.probe.latencies()
    result["correct"] = not result["problems"] and result["facts_failed"] == 0 and result["dropped_events"] == 0
    return result


def thread_cpu() -> tuple[float, float]:
    """CPU seconds of this process so far: (the main thread, which runs the event loop; all other threads, i.e. the
    database driver's: aiosqlite runs SQLite in a thread of its own)."""
    main = other = 0.0
    pid = os.getpid()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields_ = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu = (int(fields_[11]) + int(fields_[12])) / CLK_TCK
        if int(task.name) == pid:
            main += cpu
        else:
            other += cpu
    return main, other


class RoundTrips:
    """Counts the pipeline's trips to the SQLite thread (each statement, BEGIN, SAVEPOINT, RELEASE, COMMIT is one),
    by the intake method that made them, while active (a class-level wrapper of aiosqlite's ``_execute``)."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.counts: collections.Counter[str] = collections.Counter()

    def __enter__(self) -> RoundTrips:
        import aiosqlite.core

        self._cls = aiosqlite.core.Connection
        self._orig = original = self._cls._execute
        counts, probe = self.counts, self.probe

        async def _execute(conn: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            counts[probe.current or "outside"] += 1
            return await original(conn, fn, *args, **kwargs)

        self._cls._execute = _execute
        return self

    def __exit__(self, *exc: Any) -> None:
        self._cls._execute = self._orig


def release_free_heap() -> None:
    """glibc's ``malloc_trim(0)``: give the heap's free pages back, so that RSS shows what the process holds rather
    than what the allocator happens to keep (it moves RSS in steps of several MB after a burst, either way)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def slope(values: Sequence[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    xs = range(n)
    mx, my = (n - 1) / 2, sum(values) / n
    return sum((x - mx) * (y - my) for x, y in zip(xs, values)) / sum((x - mx) ** 2 for x in xs)


async def memory_run(
    databases: Databases, workdir: Path, replays: int, truth: dict[str, dict[str, Any]], events: int
) -> dict[str, Any]:
    """``replays`` sessions of rewritten storms into one app and one database; RSS after each."""
    files = write_replays(workdir, replays)
    quiet = logging.getLogger("pbx.connection")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "disconnected: the PBX closed the connection" after each Logoff is expected
    server = ReplayProcess(files, speed=None, loop=False)
    url = await databases.new()
    rss: list[float] = []
    rss_trimmed: list[float] = []
    seconds: list[float] = []
    live: list[tuple[int, int]] = []
    blocks: list[int] = []  # Python objects/blocks alive: a leak shows here before it shows in RSS
    objects: list[int] = []
    try:
        run = PipelineRun(url, server.port, databases.db_pids(url), server)
        async with run:
            listener = run.listener
            # Logging off every few seconds would make the listener back off up to 30 s before reconnecting (as it
            # should with a flapping PBX); here the drop is ours, so reconnect at once.
            listener.connection.backoff = Backoff(0.05, 0.1)
            for k in range(replays):
                await run.probe.wait_ended(len(truth) * (k + 1), 300)
                assert run.probe.first_arrival is not None and run.probe.last_commit is not None
                seconds.append(round(run.probe.last_commit - run.probe.first_arrival, 3))
                await asyncio.sleep(0.3)
                rss.append(round(rss_mb(), 1))
                gc.collect()
                release_free_heap()
                rss_trimmed.append(round(rss_mb(), 1))
                blocks.append(sys.getallocatedblocks())
                objects.append(len(gc.get_objects()))
                live.append((listener.tracker.live, listener.tracker.candidates))
                log(
                    f"  replay {k + 1}/{replays}: {seconds[-1]:.2f} s, RSS {rss[-1]:.1f} MB "
                    f"(after gc and malloc_trim {rss_trimmed[-1]:.1f}), {blocks[-1]:,} blocks, {objects[-1]:,} "
                    f"gc objects, "
                    f"calls followed {live[-1]}"
                )
                if k + 1 < replays:  # next session: log off; the listener reconnects and gets the next recording
                    run.probe.reset()
                    await listener.connection.send_action({"Action": "Logoff"})
            expected = {rewritten_id(uid, k): row for k in range(replays) for uid, row in truth.items()}
            problems = await check_calls(expected)
            status = listener.status()
    finally:
        server.stop()
        quiet.setLevel(level)
    half = rss[len(rss) // 2 :]
    growth_half = half[-1] - half[0]
    objects_growth = (objects[-1] - objects[1]) / objects[1]
    trimmed_growth = rss_trimmed[-1] - rss_trimmed[1]
    flat = trimmed_growth <= MEMORY_FLAT_MB and objects_growth <= MEMORY_FLAT_OBJECTS
    return {
        "replays": replays,
        "events_per_replay": events,
        "calls_per_replay": len(truth),
        "rss_mb": rss,
        "rss_trimmed_mb": rss_trimmed,
        "allocated_blocks": blocks,
        "gc_objects": objects,
        "seconds_per_replay": seconds,
        "live_and_candidates": live,
        "growth_mb": round(rss[-1] - rss[0], 1),
        "growth_after_first_mb": round(rss[-1] - rss[1], 1),
        "growth_second_half_mb": round(growth_half, 1),
        "slope_mb_per_replay": round(slope(rss[1:]), 3),
        "trimmed_growth_after_first_mb": round(trimmed_growth, 1),
        "objects_growth": round(objects_growth, 4),
        "blocks_growth": blocks[-1] - blocks[1],
        "flat": flat,
        "problems": problems,
        "logins": status["logins"],
        "resyncs": status["resyncs"],
        "facts_failed": status["facts_failed"],
        "dropped_events": status["dropped_events"],
        "correct": not problems and status["facts_failed"] == 0,
    }


# -- one backend --------------------------------------------------------------------------------------------------


def median_of(rounds: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


async def bench_backend(
    backend: str,
    args: argparse.Namespace,
    workdir: Path,
    max_server: ReplayProcess,
    expected_events: int,
    duration: float,
) -> dict[str, Any]:
    truth = load_truth()
    databases = Databases(backend, workdir, args.postgres_url)
    result: dict[str, Any] = {"backend": backend}
    try:
        await databases.prepare()
        log(f"{backend}: warm-up (one unmeasured pipeline replay and one bare panoramisk replay)")
        await pipeline_round(databases, max_server, truth, expected_events, 120)
        await panoramisk_reader(max_server.port, expected_events)

        # (a) max speed, readers and pipeline alternating
        rounds: dict[str, list[dict[str, Any]]] = {"panoramisk": [], "ami": [], "ami_filtered": [], "pipeline": []}
        wanted = CallTracker("main", ["helpdesk"]).event_names  # what the listener's connection parses
        latencies: dict[str, list[float]] = {kind: [] for kind in FACTS}
        stamp = args.started.strftime("%Y%m%d-%H%M%S")
        profile = RESULTS_DIR / f"profile-pbx-{stamp}-{backend}.txt" if args.profile else None
        if profile is not None:
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        for n in range(args.rounds):
            rounds["panoramisk"].append(await panoramisk_reader(max_server.port, expected_events))
            rounds["ami"].append(await ami_reader(max_server.port, expected_events, None))
            rounds["ami_filtered"].append(await ami_reader(max_server.port, expected_events, wanted))
            with Spy(profile, append=n > 0):
                r = await pipeline_round(databases, max_server, truth, expected_events, 180)
            for kind, values in r.pop("_latencies").items():
                latencies[kind].extend(values)
            rounds["pipeline"].append(r)
            log(
                f"{backend}: round {n + 1}/{args.rounds}: panoramisk "
                f"{rounds['panoramisk'][-1]['events_per_s']:,} ev/s, "
                f"AmiConnection {rounds['ami'][-1]['events_per_s']:,} ev/s (tracker's events only "
                f"{rounds['ami_filtered'][-1]['events_per_s']:,}), pipeline {r['events_per_s']:,} ev/s "
                f"({r['calls_per_s']} calls/s, {r['seconds']:.2f} s), correct: {r['correct']}"
            )
        result["rounds"] = rounds
        pipe = median_of(rounds["pipeline"], "events_per_s")
        pano = median_of(rounds["panoramisk"], "events_per_s")
        ami = median_of(rounds["ami"], "events_per_s")
        amif = median_of(rounds["ami_filtered"], "events_per_s")
        result["throughput"] = {
            "pipeline_events_per_s": pipe,
            "pipeline_calls_per_s": median_of(rounds["pipeline"], "calls_per_s"),
            "panoramisk_events_per_s": pano,
            "ami_events_per_s": ami,
            "ami_filtered_events_per_s": amif,
            "ratio_pipeline_vs_panoramisk": round(pipe / pano, 3),
            "ratio_ami_vs_panoramisk": round(ami / pano, 3),
            "ratio_ami_filtered_vs_panoramisk": round(amif / pano, 3),
            "ratio_per_round": [
                round(p["events_per_s"] / q["events_per_s"], 3)
                for p, q in zip(rounds["pipeline"], rounds["panoramisk"])
            ],
            "pipeline_cpu_us_per_event": median_of(rounds["pipeline"], "cpu_us_per_event"),
            "pipeline_cpu_ms_per_call": median_of(rounds["pipeline"], "cpu_ms_per_call"),
            "panoramisk_cpu_us_per_event": round(
                statistics.median(r["cpu_s"] for r in rounds["panoramisk"]) / expected_events * 1e6, 1
            ),
            "ami_cpu_us_per_event": round(
                statistics.median(r["cpu_s"] for r in rounds["ami"]) / expected_events * 1e6, 1
            ),
            "ami_filtered_cpu_us_per_event": round(
                statistics.median(r["cpu_s"] for r in rounds["ami_filtered"]) / expected_events * 1e6, 1
            ),
            "pipeline_cpu_main_thread_s": median_of(rounds["pipeline"], "cpu_main_thread_s"),
            "pipeline_cpu_other_threads_s": median_of(rounds["pipeline"], "cpu_other_threads_s"),
        }
        if rounds["pipeline"][0].get("db_cpu_s") is not None:
            result["throughput"]["db_cpu_s"] = statistics.median(r["db_cpu_s"] for r in rounds["pipeline"])
        result["latency_max_speed"] = latency_report(latencies)
        if profile is not None:
            result["profile"] = {"file": str(profile.relative_to(ROOT)), "where": profile_summary(profile)}

        # (b) real pace
        if "b" in args.phases:
            result["paced"] = await paced_run(databases, truth, expected_events, duration, args.pace_seconds)
        # (c) memory
        if "c" in args.phases:
            log(f"{backend}: (c) {args.memory_replays} replays with new Linkedids into one app and database")
            result["memory"] = await memory_run(databases, workdir, args.memory_replays, truth, expected_events)
        if databases.server_version:
            result["postgres_version"] = databases.server_version
    finally:
        await databases.cleanup()
    result["targets"] = targets(result)
    return result


async def paced_run(
    databases: Databases,
    truth: dict[str, dict[str, Any]],
    expected_events: int,
    duration: float,
    pace_seconds: float | None,
) -> dict[str, Any]:
    speed = duration / pace_seconds if pace_seconds else 1.0
    log(f"{databases.backend}: (b) one replay at {speed:g}x real pace ({duration / speed:.0f} s)")
    paced_server = ReplayProcess([RECORDING], speed=speed, loop=False)
    try:
        paced = await pipeline_round(databases, paced_server, truth, expected_events, duration / speed + 120)
    finally:
        paced_server.stop()
    paced.pop("_latencies")
    paced["speed"] = speed
    lat = paced["latency"]["target_facts"]
    log(
        f"{databases.backend}: paced: p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms; "
        f"correct: {paced['correct']}"
    )
    return paced


def targets(r: dict[str, Any]) -> dict[str, Any]:
    """PASS/FAIL per target; ``applies`` False: printed for information only; a phase not run gives no entry."""
    t = r["throughput"]
    out: dict[str, Any] = {}
    runs = r["rounds"]["pipeline"] + [r[k] for k in ("paced", "memory") if k in r]
    out["correct"] = {"pass": all(x["correct"] for x in runs), "applies": True}
    ratio = t["pipeline_events_per_s"] / t["panoramisk_events_per_s"]  # unrounded
    out["rate_ge_20000"] = {
        "pass": t["pipeline_events_per_s"] >= SQLITE_RATE_TARGET,
        "applies": r["backend"] == "sqlite",
        "events_per_s": t["pipeline_events_per_s"],
    }
    out["ratio_ge_quarter"] = {"pass": ratio >= RATIO_TARGET, "applies": r["backend"] == "sqlite", "ratio": ratio}
    if "paced" in r:
        p99 = r["paced"]["latency"]["target_facts"]["p99_ms"]
        out["paced_p99_lt_50ms"] = {"pass": p99 < PACED_P99_TARGET_MS, "applies": True, "p99_ms": p99}
    if "memory" in r:
        m = r["memory"]
        out["memory_flat"] = {
            "pass": m["flat"],
            "applies": True,
            "trimmed_growth_after_first_mb": m["trimmed_growth_after_first_mb"],
            "growth_after_first_mb": m["growth_after_first_mb"],
            "objects_growth": m["objects_growth"],
        }
    return out


# -- the profile ----------------------------------------------------------------------------------------------------


class Spy:
    """``py-spy record`` of this process during one pipeline round (``--profile``): collapsed stacks, appended to
    ``out`` round after round. Off when ``out`` is None."""

    def __init__(self, out: Path | None, append: bool) -> None:
        self.out, self.append = out, append
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Spy:
        if self.out is None:
            return self
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(exe).exists():
            log("--profile needs py-spy (pip install py-spy); not profiling")
            return self
        self.part = self.out.with_suffix(".part")
        self.process = subprocess.Popen(
            [exe, "record", "--pid", str(os.getpid()), "--rate", "250", "--format", "raw", "--output", str(self.part)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.5)  # py-spy needs a moment to attach; this blocks the loop before the round, not during it
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.process is None or self.out is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if self.part.exists():
            with self.out.open("a" if self.append else "w") as out:
                out.write(self.part.read_text())
            self.part.unlink()


LAYERS = [
    ("pypika", "SQL building (pypika)"),
    ("tortoise/", "tortoise ORM"),
    ("aiosqlite", "aiosqlite (thread hop)"),
    ("asyncpg", "asyncpg"),
    ("panoramisk", "panoramisk"),
    ("pbx/protocol", "AMI parsing (pbx.protocol)"),
    ("pbx/queue", "event queue"),
    ("pbx/tracker", "call tracker"),
    ("pbx/ami_values", "call tracker"),
    ("pbx/", "pbx, other"),
    ("tickets/", "tickets (intake, services)"),
    ("directory/", "phone numbers"),
    ("phonenumbers", "phone numbers"),
    ("web/", "web (listener)"),
    ("bench/", "benchmark probes"),
    ("uvloop", "event loop"),
    ("asyncio", "event loop"),
]


def profile_summary(path: Path) -> dict[str, Any]:
    """Samples of the event-loop thread by layer (the innermost frame of a known layer decides), from py-spy's
    collapsed stacks."""
    layers: collections.Counter[str] = collections.Counter()
    total = 0
    if not path.exists():
        return {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not any("_consume" in f or "data_received" in f for f in frames):
            continue
        n = int(count)
        total += n
        for frame in reversed(frames):
            where = frame[frame.rfind("(") + 1 :]
            layer = next((name for key, name in LAYERS if key in where), None)
            if layer is not None:
                layers[layer] += n
                break
        else:
            layers["other"] += n
    return {"samples": total, "share": {k: round(v / total, 3) for k, v in layers.most_common()} if total else {}}


# -- output -------------------------------------------------------------------------------------------------------


def print_report(meta: dict[str, Any], results: list[dict[str, Any]]) -> None:
    p = print
    p()
    p(f"helpline PBX pipeline benchmark  {meta['started']}  commit {meta['commit']}")
    p(
        f"machine: {meta['cores']} cores {meta['cpu']}, Python {meta['python']}, {meta['loop']}, load avg at start "
        f"{meta['loadavg_start']}, at end {meta['loadavg_end']}"
    )
    p(
        f"recording: {meta['recording']} ({meta['events']:,} events, {meta['calls']} calls, "
        f"{meta['megabytes']:.1f} MB, "
        f"{meta['duration_s']:.1f} s at real pace); {meta['args']['rounds']} rounds at max speed"
    )
    p()
    p(
        "(a) max speed: events/s from the first event's arrival to the last event handled (readers) or the last "
        "call committed (pipeline); median of rounds; ratio = x / bare panoramisk"
    )
    hdr = (
        f"{'backend':9} {'pipeline ev/s':>13} {'calls/s':>7} {'s':>5} {'ratio':>6} | {'panoramisk':>10} | "
        f"{'AmiConnection':>13} {'ratio':>6} | {'tracker events':>14} {'ratio':>6} | correct"
    )
    p(hdr)
    p("-" * len(hdr))
    for r in results:
        t = r["throughput"]
        pipe = r["rounds"]["pipeline"]
        p(
            f"{r['backend']:9} {t['pipeline_events_per_s']:>13,.0f} {t['pipeline_calls_per_s']:>7.1f} "
            f"{median_of(pipe, 'seconds'):>5.2f} {t['ratio_pipeline_vs_panoramisk']:>6.3f} | "
            f"{t['panoramisk_events_per_s']:>10,.0f} | {t['ami_events_per_s']:>13,.0f} "
            f"{t['ratio_ami_vs_panoramisk']:>6.3f} | "
            f"{t['ami_filtered_events_per_s']:>14,.0f} {t['ratio_ami_filtered_vs_panoramisk']:>6.3f} | "
            f"{sum(x['correct'] for x in pipe)}/{len(pipe)}"
        )
    p(
        "  AmiConnection: every event parsed and queued (as bench/ami_connection.py); tracker events: only the events "
        "the\n  tracker reads are parsed, the others skipped unparsed, as the listener's connection does"
    )
    for r in results:
        p(
            f"  {r['backend']}: pipeline per round {[x['events_per_s'] for x in r['rounds']['pipeline']]}, panoramisk "
            f"{[x['events_per_s'] for x in r['rounds']['panoramisk']]}, ratios {r['throughput']['ratio_per_round']}"
        )
    p()
    p("where the time goes (pipeline, median of rounds, per replay of the storm)")
    for r in results:
        t = r["throughput"]
        x = r["rounds"]["pipeline"][-1]
        dbc = t.get("db_cpu_s")
        p(
            f"  {r['backend']}: {x['facts_applied']} facts ({x['facts_by_kind']}), {x['tickets']} tickets, "
            f"{x['activities']} activity entries; dropped events {x['dropped_events']}, failed facts "
            f"{x['facts_failed']}"
        )
        p(
            f"  {r['backend']}: cpu {median_of(r['rounds']['pipeline'], 'cpu_s'):.2f} s = event-loop thread "
            f"{t['pipeline_cpu_main_thread_s']:.2f} s + driver threads {t['pipeline_cpu_other_threads_s']:.2f} s"
            + ("" if dbc is None else f"; PostgreSQL backends {dbc:.2f} s")
            + f"; {t['pipeline_cpu_ms_per_call']:.2f} ms per call; replay server {x['replay_server_cpu_s']:.2f} s; "
            f"machine busy {x['machine_busy_cores']:.2f} of {meta['cores']} cores"
        )
        if "sqlite_round_trips_per_fact" in x:
            p(
                f"  {r['backend']}: trips to the SQLite thread per fact (statements + BEGIN/SAVEPOINT/RELEASE/COMMIT): "
                f"{x['sqlite_round_trips_per_fact']}"
            )
        where = r.get("profile", {}).get("where", {})
        if where:
            share = ", ".join(f"{k} {v:.0%}" for k, v in where["share"].items() if v >= 0.01)
            p(f"  {r['backend']}: event-loop thread by layer (py-spy, {where['samples']} samples): {share}")
    p()
    p("(b) latency, frame arrival -> fact committed: p50 / p99 / max ms")
    columns = [(r["backend"] + " max speed", r["latency_max_speed"]) for r in results]
    columns += [(r["backend"] + " real pace", r["paced"]["latency"]) for r in results if "paced" in r]
    hdr = f"{'fact (frame)':36}" + "".join(f" {name:>24}" for name, _ in columns)
    p(hdr)
    p("-" * len(hdr))
    for kind, (fact, frame) in [*FACTS.items(), ("target_facts", ("offered+answered+ended", ""))]:
        label = f"{fact} ({frame})" if frame else fact
        cells = []
        for _, lat in columns:
            s = lat[kind]
            cells.append("-" if not s["n"] else f"{s['p50_ms']:.1f} / {s['p99_ms']:.1f} / {s['max_ms']:.0f}")
        p(f"{label:36}" + "".join(f" {c:>24}" for c in cells))
    for r in results:
        if "paced" not in r:
            continue
        p(
            f"  {r['backend']}: real pace = speed {r['paced']['speed']:g}, {r['paced']['seconds']:.1f} s from first "
            f"event to last commit; cpu {r['paced']['cpu_s']:.2f} s"
        )
    p()
    p("(c) memory: RSS (MB) after each replay of 200 new calls into one app and database")
    for r in results:
        if "memory" not in r:
            p(f"  {r['backend']}: not run")
            continue
        m = r["memory"]
        p(f"  {r['backend']}: {m['rss_mb']}")
        p(f"  {' ' * len(r['backend'])}  after gc.collect() and malloc_trim(0): {m['rss_trimmed_mb']}")
        pad = " " * len(r["backend"])
        p(
            f"  {pad}  growth {m['growth_mb']:+.1f} MB overall, {m['growth_after_first_mb']:+.1f} MB from replay 2, "
            f"{m['growth_second_half_mb']:+.1f} MB over the second half; slope from replay 2 "
            f"{m['slope_mb_per_replay']:+.2f} MB/replay"
        )
        p(
            f"  {pad}  gc-tracked objects {m['gc_objects'][1]:,} -> {m['gc_objects'][-1]:,} "
            f"({m['objects_growth']:+.2%}), "
            f"allocated blocks {m['blocks_growth']:+,} from replay 2; calls followed (live, candidates) at the end "
            f"{m['live_and_candidates'][-1]}; logins {m['logins']}, seconds per replay {m['seconds_per_replay']}"
        )
    p()
    p("targets")
    for r in results:
        t = r["targets"]
        b = r["backend"]
        if b == "sqlite":
            p(
                f"  >= {SQLITE_RATE_TARGET:,.0f} events/s to committed tickets on SQLite: "
                f"{pf(t['rate_ge_20000']['pass'])}  "
                f"{t['rate_ge_20000']['events_per_s']:,.0f}/s"
            )
            p(
                f"  >= a quarter of bare panoramisk's rate on SQLite: {pf(t['ratio_ge_quarter']['pass'])}  "
                f"{t['ratio_ge_quarter']['ratio']:.3f}"
            )
        else:
            p(
                f"  (not a target) {b}: {t['rate_ge_20000']['events_per_s']:,.0f} events/s, ratio "
                f"{t['ratio_ge_quarter']['ratio']:.3f}"
            )
        if "paced_p99_lt_50ms" in t:
            p(
                f"  p99 arrival -> ticket < {PACED_P99_TARGET_MS:.0f} ms at real pace [{b}]: "
                f"{pf(t['paced_p99_lt_50ms']['pass'])}  {t['paced_p99_lt_50ms']['p99_ms']:.1f} ms"
            )
        if "memory_flat" in t:
            m = r["memory"]
            p(
                f"  memory flat over {m['replays']} replays [{b}]: {pf(t['memory_flat']['pass'])}  from replay 2: RSS "
                f"after malloc_trim {m['trimmed_growth_after_first_mb']:+.1f} MB (allowed {MEMORY_FLAT_MB:g}; "
                f"raw RSS {m['growth_after_first_mb']:+.1f} MB), gc-tracked objects {m['objects_growth']:+.2%} "
                f"(allowed {MEMORY_FLAT_OBJECTS:.1%})"
            )
        p(f"  every replay gave exactly the recorded calls [{b}]: {pf(t['correct']['pass'])}")
        others = [("paced", r[k]) for k in ("paced", "memory") if k in r]
        for label, x in [("round", y) for y in r["rounds"]["pipeline"]] + others:
            if x["problems"]:
                p(f"    {label}: {x['problems']}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument(
        "--postgres-url",
        default=os.environ.get("HELPLINE_BENCH_POSTGRES_URL")
        or os.environ.get("HELPLINE_TEST_POSTGRES_URL")
        or "postgres://postgres@127.0.0.1:5432/test",
        help="a server and a database to connect to for CREATE/DROP DATABASE (default: %(default)s)",
    )
    ap.add_argument("--rounds", type=int, default=5, help="max-speed rounds per backend (default %(default)s)")
    ap.add_argument(
        "--pace-seconds",
        type=float,
        default=None,
        help="replay the storm at real pace squeezed into this many seconds (default: real pace, 83 s)",
    )
    ap.add_argument("--memory-replays", type=int, default=10, help="replays for the memory check (default %(default)s)")
    ap.add_argument(
        "--quick", action="store_true", help="a smoke run: 2 rounds, the real pace squeezed into 20 s, 4 memory replays"
    )
    ap.add_argument(
        "--phases",
        default="abc",
        help="which parts to run: a throughput, b latency at real pace, c memory (default %(default)s)",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="sample this process with py-spy (250 Hz) during the pipeline rounds of (a); collapsed stacks "
        "go to bench/results/ (those rounds are then a little slower)",
    )
    ap.add_argument("--no-uvloop", action="store_true", help="run on the default asyncio loop")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (SQLite files, recordings)")
    ap.add_argument("--json", type=Path, help="write the results here (default: bench/results/pbx-<time>.json)")
    args = ap.parse_args(argv)
    if args.quick:  # smaller defaults; sizes given explicitly still win
        for name, value in {"rounds": 2, "pace_seconds": 20.0, "memory_replays": 4}.items():
            if getattr(args, name) == ap.get_default(name):
                setattr(args, name, value)
    if args.rounds < 1 or args.memory_replays < 2:
        ap.error("--rounds must be >= 1 and --memory-replays >= 2")
    return args


async def main_async(args: argparse.Namespace) -> int:
    started = args.started = datetime.now(UTC)
    rec = Recording.load(RECORDING)
    expected_events = rec.events + 1  # + the FullyBooted the server sends after the login
    assert rec.chunks is not None
    duration = rec.chunks[-1][0] - rec.chunks[0][0]
    meta = {
        "started": started.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "commit": git_describe(),
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "loop": "asyncio" if args.no_uvloop else "uvloop",
        "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "recording": RECORDING.name,
        "events": expected_events,
        "calls": len(load_truth()),
        "megabytes": len(rec.stream) / 1e6,
        "duration_s": duration,
        "args": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("postgres_url", "started")
        },
    }
    del rec
    workdir = Path(tempfile.mkdtemp(prefix="helpline-bench-pbx-"))
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = []
    max_server = ReplayProcess([RECORDING], speed=None, loop=True)
    try:
        for name in backends:
            bdir = workdir / name
            bdir.mkdir()
            results.append(await bench_backend(name, args, bdir, max_server, expected_events, duration))
    finally:
        max_server.stop()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    meta["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print_report(meta, results)
    out = args.json or RESULTS_DIR / f"pbx-{started:%Y%m%d-%H%M%S}-{args.backend}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nresults: {out}")
    return (
        0 if all(r["targets"]["correct"]["pass"] for r in results) else 1
    )  # a missed target is reported, not an error


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="[%(asctime)s] %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    return _api.run_loop(main_async(args), not args.no_uvloop)


if __name__ == "__main__":
    raise SystemExit(main())
