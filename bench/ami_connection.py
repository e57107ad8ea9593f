#!/usr/bin/env python3
"""AMI read throughput: the hardened ``pbx.AmiConnection`` vs bare panoramisk, same stream, same run.

    .venv/bin/python bench/ami_connection.py                 # d_storm200 (24,746 events, 10 MB), 5 rounds each
    .venv/bin/python bench/ami_connection.py --rounds 3 --loop uvloop

``helpline pbx replay --max --loop`` serves the recording from a separate process (one session per connection).
Each round times, from ``connect()`` to the last event of the session:
  * raw: a bare asyncio Protocol that only counts frame terminators (the ceiling of this server + loopback);
  * panoramisk: panoramisk 1.4's ``Manager`` with a synchronous no-op ``'*'`` callback;
  * ami-queue: ``AmiConnection`` (incremental UTF-8, bounded frames, counters) with one consumer task taking
    ``get_batch()`` from its queue and doing nothing;
  * ami-get: the same with one ``await get()`` per event.
Readers alternate within a round, so drift on a shared machine hits them alike. Prints median events/s and the
ratio to panoramisk; with --json writes the figures to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from panoramisk import Manager  # noqa: E402

from pbx.connection import AmiConnection  # noqa: E402
from pbx.replay import Recording  # noqa: E402

DEFAULT = ROOT / "tests" / "fixtures" / "ami" / "d_storm200.raw.gz"
USER = SECRET = "bench"


async def raw_reader(port: int, expected: int) -> float:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    started = time.perf_counter()

    class Counting(asyncio.Protocol):
        frames = 0
        tail = b""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            login = f"Action: Login\r\nUsername: {USER}\r\nSecret: {SECRET}\r\n\r\n".encode()
            transport.write(login)  # type: ignore[attr-defined]

        def data_received(self, data: bytes) -> None:
            data = self.tail + data
            self.frames += data.count(b"\r\n\r\n")
            self.tail = data[-3:]
            if self.frames >= expected + 1 and not done.done():  # + the login response
                done.set_result(time.perf_counter())

    transport, _ = await loop.create_connection(Counting, "127.0.0.1", port)
    end = await asyncio.wait_for(done, 120)
    transport.close()
    return end - started


async def panoramisk_reader(port: int, expected: int) -> float:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    count = 0

    def noop(manager: Manager, event: object) -> None:
        nonlocal count
        count += 1
        if count == expected and not done.done():
            done.set_result(time.perf_counter())

    manager = Manager(
        host="127.0.0.1", port=port, username=USER, secret=SECRET, ping_delay=3600, reconnect_timeout=3600, loop=loop
    )
    manager.register_event("*", noop)
    started = time.perf_counter()
    await manager.connect()
    end = await asyncio.wait_for(done, 120)
    manager.close()
    return end - started


async def ami_reader(port: int, expected: int, batch: bool) -> float:
    conn = AmiConnection("127.0.0.1", port, USER, SECRET, name="bench", queue_size=100_000, ping_interval=3600)
    started = time.perf_counter()
    await conn.start()
    count = 0
    while count < expected:
        if batch:
            count += len(await conn.events.get_batch(10_000))
        else:
            await conn.events.get()
            count += 1
    end = time.perf_counter()
    status = conn.status()
    await conn.close()
    assert status.dropped_events == 0 and status.malformed_frames == 0, status
    return end - started


async def run(port: int, expected: int, rounds: int) -> dict[str, list[float]]:
    readers: dict[str, Callable[[], Awaitable[float]]] = {
        "raw": lambda: raw_reader(port, expected),
        "panoramisk": lambda: panoramisk_reader(port, expected),
        "ami-queue": lambda: ami_reader(port, expected, batch=True),
        "ami-get": lambda: ami_reader(port, expected, batch=False),
    }
    await readers["panoramisk"]()  # warm-up (imports, page cache)
    rates: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(rounds):
        for name, reader in readers.items():
            seconds = await reader()
            rates[name].append(expected / seconds)
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recording", nargs="?", default=str(DEFAULT))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--json", action="store_true", help="also write bench/results/ami-connection-<time>.json")
    args = parser.parse_args()

    rec = Recording.load(args.recording)
    expected = rec.events + 1  # + our FullyBooted after the login
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "web.cli",
            "pbx",
            "replay",
            args.recording,
            "--max",
            "--loop",
            "--port",
            "0",
            "--username",
            USER,
            "--secret",
            SECRET,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        port = int(line.split("127.0.0.1:")[1].split()[0])
        if args.loop == "uvloop":
            import uvloop

            rates = uvloop.run(run(port, expected, args.rounds))
        else:
            rates = asyncio.run(run(port, expected, args.rounds))
    finally:
        server.terminate()
        server.wait()

    base = statistics.median(rates["panoramisk"])
    print(
        f"{Path(args.recording).name}: {expected} events, {len(rec.stream) / 1e6:.1f} MB, {args.rounds} rounds, "
        f"{args.loop}, Python {platform.python_version()}"
    )
    print(f"{'reader':<12} {'median ev/s':>12} {'min':>10} {'max':>10} {'vs panoramisk':>14}")
    for name, values in rates.items():
        med = statistics.median(values)
        print(f"{name:<12} {med:>12,.0f} {min(values):>10,.0f} {max(values):>10,.0f} {med / base:>13.2f}x")
    if args.json:
        out = ROOT / "bench" / "results" / f"ami-connection-{datetime.now():%Y%m%d-%H%M%S}-{args.loop}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(
            json.dumps(
                {
                    "recording": args.recording,
                    "events": expected,
                    "loop": args.loop,
                    "python": platform.python_version(),
                    "rates": rates,
                },
                indent=2,
            )
        )
        print(f"written {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
