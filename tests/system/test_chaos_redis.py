"""Redis killed mid-stream: live events degrade (the console's SSE stream ends, /readyz says so), nothing else does:
every call and ticket is still recorded, exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from pbx.replay import ReplayServer, Session
from tests.support.ami import AMI, SECRET, USER, call_states, split_recording
from tests.support.chaos import (
    admin_token,
    assert_exactly_once,
    calls_ended,
    calls_in,
    fresh_database,
    has_check,
    launch,
    postgres_base,
    private_redis,
    until,
    until_healthy,
    write_config,
)
from tests.support.telephony import OUTCOME, truth

pytestmark = pytest.mark.timeout(90)


async def test_redis_down_mid_stream_degrades_live_events_only(tmp_path: Path) -> None:
    first, rest = split_recording(AMI / "c_concurrent20_mixed.raw", 1500)
    expected = truth(["c_concurrent20_mixed.calls.jsonl"])
    with private_redis(tmp_path) as redis:
        async with (
            fresh_database(postgres_base()) as url,
            ReplayServer([Session(first), Session(rest)], username=USER, secret=SECRET) as pbx,
        ):
            config = write_config(tmp_path / "helpline.toml", pbx.port, redis_url=redis.url)
            instance = launch("a", url, config, tmp_path)
            try:
                await until_healthy(instance)
                token = instance.token = await admin_token(url, tmp_path)
                await until("the instance leads", lambda: has_check(instance, "ok"), logs=instance.log)
                await until("the first part streamed", lambda: pbx.streams_done >= 1, logs=instance.log)
                await calls_in(url, call_states(first))
                assert (await instance.readyz())["status"] == "ready"

                async with httpx.AsyncClient(
                    timeout=httpx.Timeout(5, read=30), headers={"Authorization": f"Bearer {token}"}
                ) as http:
                    frames: list[str] = []

                    async def follow() -> None:  # the console: everything since the start, then live
                        async with http.stream(
                            "GET", instance.base_url + "/api/v1/events", params={"last_event_id": "0-0"}
                        ) as response:
                            assert response.status_code == 200
                            async for line in response.aiter_lines():
                                frames.append(line)

                    console = asyncio.create_task(follow())
                    await until(
                        "the console gets the calls so far",
                        lambda: any(f.startswith("event: call.ended") for f in frames),
                        logs=instance.log,
                    )

                    redis.kill()
                    await asyncio.wait_for(console, 15)  # the stream ends: the browser reconnects and retries
                    assert (await instance.readyz())["status"] == "ready", "the API works without live events"
                    ready = await instance.status()
                    assert ready["status"] == "degraded" and ready["checks"]["live"].startswith("redis unreachable")
                    async with http.stream("GET", instance.base_url + "/api/v1/events") as again:
                        assert again.status_code == 200, "a reconnecting console is served (quietly, for now)"

                pbx.drop()  # the PBX connection breaks: the listener reconnects, resyncs and follows the rest
                after = await calls_ended(url, len(expected))
                assert_exactly_once(after, expected, OUTCOME)
                assert pbx.logins == 2 and instance.process.poll() is None
            finally:
                instance.stop()
