"""Across real processes, over a real Redis server: what a send puts on the wire arrives.

Each test starts its own ``redis-server`` (``tests/redis_server.py``) and peer processes
(``python -m tests.peers``), on SQLite (a file the peers share) and on PostgreSQL (a
database of the test's own). Peers write what their broadcast receivers got to a file,
one JSON line each; every wait is bounded.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from eventbus._wire import Wire
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[1]
WAIT = 15.0
PG = "host=127.0.0.1 port=5432 user=postgres dbname=test"

#: Once per Django leg: its peers run on SQLite and on PostgreSQL whatever the suite's database.
pytestmark = pytest.mark.skipif(
    os.environ.get("EVENTBUS_TEST_DB") == "postgres",
    reason="runs in the SQLite run of each leg (its peers use both databases)",
)


def wait_until(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Peers:
    """Starts peer processes against one Redis server and one database; stops them all."""

    def __init__(self, redis_url: str, database: str, directory: Path, prefix: str) -> None:
        self.directory = directory
        self.prefix = prefix
        self.env = {
            **os.environ,
            "EVENTBUS_PEER_DB": database,
            "EVENTBUS_PEER_REDIS": redis_url,
            "EVENTBUS_PEER_PREFIX": prefix,
            "PYTHONPATH": str(ROOT),
        }
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.processes: list[subprocess.Popen[str]] = []

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "tests.peers", *args],
            env={**self.env, **env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result

    def listen(self, name: str) -> tuple[subprocess.Popen[str], Path]:
        out = self.directory / f"{name}.jsonl"
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.peers", "listen", str(out)],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(process)
        assert process.stdout is not None
        ready = process.stdout.readline()  # bounded by the peer's own startup
        assert ready.strip() == "ready", (ready, process.stderr.read() if process.stderr else "")
        return process, out

    def send(self, scenario: str, **env: str) -> dict[str, Any]:
        out = self.directory / f"send-{uuid.uuid4().hex}.jsonl"
        self.run("send", str(out), scenario, **env)
        [done] = lines(out)
        return dict(done)

    def stop(self, process: subprocess.Popen[str]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=WAIT)

    def close(self) -> None:
        for process in self.processes:
            self.stop(process)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database every peer of the test shares, with the test app's tables."""
    if request.param == "sqlite":
        yield f"sqlite:{tmp_path / 'peers.sqlite3'}"
        return
    name = f"eventbus_peers_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres:{name}"
    finally:
        with psycopg.connect(PG, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def peers(redis_server: RedisServer, database: str, tmp_path: Path) -> Iterator[Peers]:
    group = Peers(redis_server.url, database, tmp_path, prefix=f"eventbus-test-{uuid.uuid4().hex}")
    group.run("migrate")
    try:
        yield group
    finally:
        group.close()


def orders(path: Path) -> list[Any]:
    return [line["n"] for line in lines(path) if line.get("signal") == "order_placed"]


def has_at_least(path: Path, count: int) -> bool:
    return len(lines(path)) >= count


def has_order(path: Path, n: int) -> bool:
    return n in orders(path)


def test_committed_sends_reach_every_listening_process_and_rolled_back_ones_never(
    peers: Peers,
) -> None:
    _, first_out = peers.listen("first")
    _, second_out = peers.listen("second")

    done = peers.send("committed-and-rolled-back")

    for out in (first_out, second_out):
        wait_until(functools.partial(has_at_least, out, 3), f"three events in {out.name}")
    peers.send("one", EVENTBUS_PEER_N="99")  # a marker: everything before it has arrived
    for out in (first_out, second_out):
        wait_until(functools.partial(has_order, out, 99), f"the marker in {out.name}")
        assert orders(out) == [1, 3, 99]
        assert [line for line in lines(out) if line.get("signal") == "post_save"] == [
            {"signal": "post_save", "name": "Ann", "created": True}
        ]
    # 1, 3, and the save's pre_save and post_save; never 2 nor "savepoint".
    assert done["counters"]["published"] == 4


def test_a_redis_restart_is_survived_and_what_was_sent_while_it_was_down_is_lost(
    peers: Peers, redis_server: RedisServer
) -> None:
    listener, out = peers.listen("listener")
    peers.send("one", EVENTBUS_PEER_N="1")
    wait_until(lambda: orders(out) == [1], "the first event")

    redis_server.stop()
    down = peers.send("one", EVENTBUS_PEER_N="2")  # succeeds: the failure is logged, counted
    assert down["counters"]["publish_failed"] == 1
    redis_server.start()

    def arrives(n: int) -> bool:
        peers.send("one", EVENTBUS_PEER_N=str(n))
        try:
            wait_until(lambda: n in orders(out), f"event {n}", timeout=1.0)
        except AssertionError:
            return False
        return True

    first_after = wait_until(
        lambda: next((n for n in range(100, 130) if arrives(n)), None), "reconnection"
    )
    # That event came through the eventbus-receivers thread; the listener thread, which
    # counts the process's reconnects, is back once it is on the base channel again.
    wait_until(
        lambda: redis_server.subscribers(f"{peers.prefix}:events") >= 1,
        "the listener's subscription",
    )
    peers.stop(listener)
    received = orders(out)
    assert 2 not in received
    assert received[0] == 1
    assert received[-1] == first_after
    [counters] = [line["counters"] for line in lines(out) if "counters" in line]
    assert counters["reconnects"] == 1


def test_a_killed_listener_does_not_stop_the_others_and_a_new_one_joins(
    peers: Peers,
) -> None:
    doomed, doomed_out = peers.listen("doomed")
    _, survivor_out = peers.listen("survivor")
    doomed.kill()
    doomed.wait(timeout=WAIT)

    peers.send("one", EVENTBUS_PEER_N="1")
    wait_until(lambda: orders(survivor_out) == [1], "the survivor's event")
    _, late_out = peers.listen("late")
    peers.send("one", EVENTBUS_PEER_N="2")
    wait_until(lambda: orders(late_out) == [2], "the new listener's event")
    wait_until(lambda: orders(survivor_out) == [1, 2], "the survivor's second event")
    assert orders(doomed_out) == []


def test_malformed_unsigned_foreign_and_oversized_messages_are_dropped_and_counted(
    peers: Peers, redis_server: RedisServer
) -> None:
    listener, out = peers.listen("listener")
    channel = f"{peers.env['EVENTBUS_PEER_PREFIX']}:events"
    foreign = Wire(key=b"another project's key").dumps("tests.peers.order_placed", None, {"n": 5})
    client = redis_server.client()
    for junk in (b"{not json", b"eventbus1." + b"0" * 64 + b".{}", foreign, b"x" * (2 << 20)):
        client.publish(channel, junk)
    peers.send("one", EVENTBUS_PEER_N="6")
    wait_until(lambda: orders(out) == [6], "the valid event after the junk")
    peers.stop(listener)
    [counters] = [line["counters"] for line in lines(out) if "counters" in line]
    assert counters["dropped"] == {"malformed": 1, "bad signature": 2, "oversized": 1}
    assert counters["received"] == 5
    assert counters["delivered"] == 1


def test_two_projects_sharing_one_redis_do_not_see_each_other(
    peers: Peers, redis_server: RedisServer, database: str, tmp_path: Path
) -> None:
    listener, out = peers.listen("listener")
    other = Peers(redis_server.url, database, tmp_path, prefix="another-project")
    other.send("one", EVENTBUS_PEER_N="7")
    peers.send("one", EVENTBUS_PEER_N="8")
    wait_until(lambda: orders(out) == [8], "this project's event")
    peers.stop(listener)
    [counters] = [line["counters"] for line in lines(out) if "counters" in line]
    assert counters["received"] == 1


def test_manage_py_eventbus_listen_runs_until_sigterm_and_prints_its_counters(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """A process with no broadcast receiver of its own subscribes to no signal's channel:
    the other processes' events never reach it, and SIGTERM stops it cleanly."""
    group = Peers(redis_server.url, f"sqlite:{tmp_path / 'db.sqlite3'}", tmp_path, "listen-test")
    group.run("migrate")
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "eventbus", "listen"],
        env={**group.env, "DJANGO_SETTINGS_MODULE": "tests.peers.settings"},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("eventbus listening on redis://127.0.0.1:"), first
        assert "has a broadcast receiver or a remote subscription" in process.stdout.readline()
        group.send("one", EVENTBUS_PEER_N="1")
        wait_until(
            lambda: redis_server.client().pubsub_numsub("listen-test:events")[0][1] == 1,
            "the listener's subscription",
        )
        group.send("one", EVENTBUS_PEER_N="2")
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=WAIT)
    assert process.returncode == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith("eventbus stopped listening: ")
    counters = json.loads(last.removeprefix("eventbus stopped listening: "))
    assert (counters["received"], counters["dropped"]) == (0, {})
