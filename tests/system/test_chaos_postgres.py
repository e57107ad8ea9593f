"""PostgreSQL restarted under a running instance, mid-stream: the instance reports it, steps down from the PBX (its
lock went with the database session), and once the database is back it leads again, resynchronises, and no call
is lost or doubled.

Not the machine's shared cluster (other tests use it): a private, throwaway cluster made with ``initdb``.
"""

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
    private_cluster,
    until,
    until_healthy,
    write_config,
)
from tests.support.telephony import OUTCOME, truth

pytestmark = pytest.mark.timeout(120)


async def test_a_postgresql_restart_mid_stream_loses_and_doubles_nothing(tmp_path: Path) -> None:
    first, rest = split_recording(AMI / "c_concurrent20_mixed.raw", 1500)
    expected = truth(["c_concurrent20_mixed.calls.jsonl"])
    with private_cluster() as cluster:
        async with (
            fresh_database(cluster.url) as url,
            ReplayServer([Session(first), Session(rest)], username=USER, secret=SECRET) as pbx,
        ):
            instance = launch("a", url, write_config(tmp_path / "helpline.toml", pbx.port), tmp_path)
            try:
                await until_healthy(instance)
                instance.token = await admin_token(url, tmp_path)
                await until("the instance leads", lambda: has_check(instance, "ok"), logs=instance.log)
                await until("the first part streamed", lambda: pbx.streams_done >= 1, logs=instance.log)
                before = await calls_in(url, call_states(first))
                assert 0 < before.ended < len(expected), "the database goes away with calls up"

                await asyncio.to_thread(cluster.stop)
                async with httpx.AsyncClient(timeout=5) as http:
                    down = await http.get(instance.base_url + "/readyz")
                assert down.status_code == 503 and down.json() == {"status": "not ready"}
                await until("the instance stops listening", lambda: pbx.live_connections == 0, logs=instance.log)

                await asyncio.to_thread(cluster.start)
                await until("the instance leads again", lambda: has_check(instance, "ok"), logs=instance.log)
                after = await calls_ended(url, len(expected))
                assert_exactly_once(after, expected, OUTCOME)
                assert pbx.logins == 2, "one new login after the database came back"
                assert instance.process.poll() is None, "the instance kept running"
            finally:
                instance.stop()
