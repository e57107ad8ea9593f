#!/usr/bin/env python3
"""Live events under load: N SSE clients on one ``helpline serve`` while a recording of calls replays.

    .venv/bin/python bench/live.py                        # 500 clients, the 200-call storm at real pace
    .venv/bin/python bench/live.py --clients 100 --recording tests/fixtures/ami/c_concurrent20_mixed.raw

The fake Asterisk runs in this process and replays at real pace with the recording's ``Timestamp`` headers moved to
now (``web.cli.demo.fresh_copy``), so a call event's ``at`` is when its AMI frame was due on the wire: the delay of an
event is its arrival at a client minus ``at`` (the replay's own pacing error, well under a millisecond, is counted
in). Clients connect as a supervisor (they get every call event). Reports p50/p99/max delay over every call event
at every client, events per client, and the server's resident memory per connected client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from pbx.replay import Recording, ReplayServer, Session  # noqa: E402
from web.cli.demo import fresh_copy  # noqa: E402

AT = re.compile(rb'"at":"([^"]+)"')
FIRST_TIMESTAMP = re.compile(rb"Timestamp: (\d{10}\.\d{6})")
#: Seconds between a frame's shifted Timestamp and the moment the replay is due to send it (set at the start).
correction = [0.0]
STORM = ROOT / "tests" / "fixtures" / "ami" / "d_storm200.raw.gz"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def client(
    port: int, token: str, delays: list[float], ready: asyncio.Event, opened: list[int], total: int
) -> None:
    """A bare SSE client (asyncio streams: httpx costs too much CPU for 500 of them next to the server)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(
        f"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Accept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b": ready"):
                opened[0] += 1
                if opened[0] == total:
                    ready.set()
            elif line.startswith(b"event: call."):
                data = await reader.readline()  # "data: {...}" follows "event:"
                found = AT.search(data)  # cheaper than json.loads: the client must not be the bottleneck
                if found:
                    at = datetime.fromisoformat(found.group(1).decode()).timestamp()
                    delays.append(time.time() - at - correction[0])
    finally:
        writer.close()


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="helpline-bench-live-"))
    recording = Recording.load(args.recording)
    # the fake Asterisk gets a thread and event loop of its own: 500 clients must not delay its frames
    pbx_loop = asyncio.new_event_loop()
    threading.Thread(target=pbx_loop.run_forever, daemon=True).start()
    pbx = ReplayServer([Session(), None], username="bench", secret="bench", speed=1.0)
    asyncio.run_coroutine_threadsafe(pbx.start(), pbx_loop).result(10)
    env = {k: v for k, v in os.environ.items() if k != "HELPLINE_CONFIG"}
    port = args.port or _free_port()
    (work / "helpline.toml").write_text(
        f'[web]\nport = {port}\naccess_log = false\nlog_level = "warning"\n[database]\nurl = "sqlite://{work}/b.sqlite3"\n'
        f'[[pbx]]\nname = "main"\nhost = "127.0.0.1"\nport = {pbx.port}\nusername = "bench"\nsecret = "bench"\n'
        f'queues = ["helpdesk"]\n'
        # one supervisor's token holds every stream: the per-agent cap (8 by default) would refuse all but 8
        f"[live]\nmax_streams_per_agent = {args.clients}\n"
    )
    env["HELPLINE_CONFIG"] = str(work / "helpline.toml")
    run = lambda *a, **kw: subprocess.run(
        [sys.executable, "-m", "web.cli", *a], env=env, cwd=work, capture_output=True, text=True, **kw
    )
    run("db", "upgrade", check=True)
    token = run("user", "add", "boss", "--role", "supervisor", check=True).stdout.strip()
    server = subprocess.Popen([sys.executable, "-m", "web.cli", "serve"], env=env, cwd=work)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        idle = rss_kib(server.pid)
        delays: list[float] = []
        ready, opened = asyncio.Event(), [0]
        tasks = [
            asyncio.create_task(client(port, token, delays, ready, opened, args.clients)) for _ in range(args.clients)
        ]
        await asyncio.wait_for(ready.wait(), 120)
        connected = rss_kib(server.pid)
        now = time.time()
        pbx.sessions[1] = Session(fresh_copy(recording, 0, now))
        first = float(FIRST_TIMESTAMP.search(recording.stream).group(1))  # type: ignore[union-attr]
        before = pbx.connections
        pbx_loop.call_soon_threadsafe(pbx.drop)  # the listener reconnects and gets the recording
        while pbx.connections == before:
            await asyncio.sleep(0.001)
        # frame k is due at start + (its Timestamp - first); ``at`` holds its Timestamp + (int(now) - int(first))
        correction[0] = time.time() - first - (int(now) - int(first))
        length = recording.chunks[-1][0] if recording.chunks else 30.0
        await asyncio.sleep(length + args.settle)
        peak = rss_kib(server.pid)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        server.terminate()
        server.wait(20)
        asyncio.run_coroutine_threadsafe(pbx.close(), pbx_loop).result(10)
        pbx_loop.call_soon_threadsafe(pbx_loop.stop)
        shutil.rmtree(work, ignore_errors=True)
    if not delays:
        raise SystemExit("no call event reached the clients")
    q = statistics.quantiles(delays, n=100)
    print(f"{args.clients} clients, {len(delays)} call events delivered ({len(delays) / args.clients:.0f} per client)")
    print(
        f"delay AMI frame -> client: p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, "
        f"max {max(delays) * 1000:.0f} ms"
    )
    print(
        f"server RSS: idle {idle / 1024:.0f} MiB, {args.clients} clients {connected / 1024:.0f} MiB "
        f"({(connected - idle) / args.clients:.0f} KiB per client), during the replay {peak / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--recording", type=Path, default=STORM)
    parser.add_argument("--port", type=int, default=0, help="HTTP port (default: a free one)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to wait after the replay ends")
    asyncio.run(main(parser.parse_args()))
