"""Scenario 8: remote signals over Redis, against redis-py itself and Channels' Redis layer.

The run starts a private ``redis-server`` (``_server``) and points this
process's eventbus node at it (``EVENTBUS["TRANSPORT"]``, through
``eventbus.apps.install``; the settings' own configuration comes back after).
Every event carries ``_peer.PAYLOAD`` (JSON types only) and goes from this
process, from sync code outside any transaction, to the peer processes
(``_peer``), started by the run. Three groups:

* ``transport_publish``: the cost of a send that publishes. ``eventbus send``
  is ``send()`` of a remote signal with no receivers in this process (so the
  send is encoding, signing and publishing); ``raw publish`` is redis-py's
  ``publish()`` of the very bytes eventbus published for that send, on a
  pooled client; ``encoding and signing`` is the wire's share alone, and
  ``encoding and signing, then raw publish`` the two by hand. Timed
  like every other group (``_timing.measure``), before any peer is started,
  so nothing is subscribed.
* ``transport_latency``: one event at a time, from the send to the receiver
  in the peer. The sender reads ``_peer.clock_ns()`` (``CLOCK_MONOTONIC``)
  just before each send and the receiver first thing on arrival, and writes
  it back over a pipe; the next event is sent once that answer is in. On
  Linux that clock is system-wide, so the difference is the one-way latency.
  A sample is the median of ``latency_events`` such latencies.
* ``transport_throughput``: ``throughput_events`` sends back to back; a sample
  is the time from just before the first send to the arrival of the last
  event, per event (so ``1e9 / sample`` events per second).

Latency and throughput cases (``_timing.interleave``): eventbus to a sync and
to an async broadcast receiver (signals ``SIGNAL_NAME`` and
``ASYNC_SIGNAL_NAME`` of the ``eventbus`` peer); redis-py's ``publish()`` of
``json.dumps(PAYLOAD)`` to the ``raw`` peer's subscribers, which
``json.loads()`` it (``_peer.raw_subscribers``: ``redis.asyncio``, and sync
redis-py in a thread); and Channels, ``await
channel_layer.group_send(group, message)`` from an asyncio loop to the
``channels`` peer's consumer (``_peer.channels_consumer``), with ``message``
being ``{"type": "bench.event", **PAYLOAD}``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import importlib.util
import inspect
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import eventbus

from . import _peer
from ._config import Config, Group, group
from ._peer import ASYNC_SIGNAL_NAME, CHANNELS_CAPACITY, PAYLOAD, SIGNAL_NAME, clock_ns
from ._server import RedisServer, redis_server_binary
from ._timing import Case, Sampler, interleave, measure

__all__ = [
    "BASELINE_SOURCE",
    "CHANNELS",
    "CHANNELS_REDIS",
    "RAW",
    "missing",
    "scenario_transport",
    "signals",
]

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def signals() -> tuple[eventbus.Signal, eventbus.Signal]:
    """The remote signals this process sends (no receivers here), made once, on first use.

    The first one's events go to the peer's sync broadcast receiver, the second one's
    to its async one.
    """
    return (
        eventbus.Signal(name=SIGNAL_NAME, remote=True),
        eventbus.Signal(name=ASYNC_SIGNAL_NAME, remote=True),
    )


#: The Channels distributions the Channels cases need.
CHANNELS = ("channels", "channels_redis")

#: Case names the targets read.
RAW, EVENTBUS, CHANNELS_REDIS = "raw redis-py", "eventbus", "channels_redis"

#: How long the run waits for a peer to start, and for an answer from it.
START_TIMEOUT_S = 60.0
ANSWER_TIMEOUT_S = 60.0


class Peer:
    """A peer process (``python -m benchmarks._peer``) and its side of the protocol."""

    def __init__(self, kind: str, url: str, name: str) -> None:
        self.kind = kind
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._peer", kind, url, name],
            cwd=ROOT,
            env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        assert self._process.stdout is not None
        assert self._process.stdin is not None
        self._stdin = self._process.stdin
        self._fd = self._process.stdout.fileno()
        self._buffer = b""

    def _line(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._fd], [], [], left)[0]:
                raise self._failure(f"no answer within {timeout} s")
            chunk = os.read(self._fd, 65536)
            if not chunk:
                raise self._failure("it exited")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _failure(self, what: str) -> RuntimeError:
        self._log.flush()
        self._log.seek(0)
        output = self._log.read().decode(errors="replace") or "(nothing)"
        return RuntimeError(f"benchmark peer {self.kind!r}: {what}; its stderr:\n{output}")

    def wait_ready(self) -> None:
        """Wait until the peer has subscribed."""
        line = self._line(START_TIMEOUT_S)
        if line != b"ready":
            raise self._failure(f"said {line!r} instead of 'ready'")

    def arm(self, mode: str, count: int) -> None:
        """Announce ``count`` events: answer ``each`` one, or once when ``all`` have arrived."""
        self._stdin.write(f"{mode} {count}\n".encode())
        self._stdin.flush()
        line = self._line(ANSWER_TIMEOUT_S)
        if line != b"ok":
            raise self._failure(f"said {line!r} instead of 'ok'")

    def arrival(self) -> int:
        """The next arrival time the peer reports (``clock_ns()`` there)."""
        line = self._line(ANSWER_TIMEOUT_S)
        if not line.isdigit():
            raise self._failure(f"said {line!r} instead of an arrival time")
        return int(line)

    def close(self) -> None:
        """Ask the peer to quit; kill it if it does not."""
        try:
            self._stdin.write(b"quit\n")
            self._stdin.close()
        except OSError:
            pass
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(10)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._log.close()


# -- the contenders' sends -----------------------------------------------------------------

Send = Callable[[], object]
AsyncSend = Callable[[], Coroutine[Any, Any, object]]


def eventbus_send(signal: eventbus.Signal) -> Send:
    """eventbus: ``send()`` of a remote signal with no receivers in this process."""

    def send() -> object:
        return signal.send(sender=None, **PAYLOAD)

    return send


def raw_publish(client: Any, channel: str, message: bytes) -> Send:
    """redis-py: ``publish()`` of the bytes eventbus published, on a pooled client."""

    def send() -> object:
        return client.publish(channel, message)

    return send


def raw_send(client: Any, channel: str) -> Send:
    """redis-py: ``publish()`` of the keyword arguments as JSON, on a pooled client."""

    def send() -> object:
        return client.publish(channel, json.dumps(PAYLOAD))

    return send


def channels_group_send(layer: Any, group: str) -> AsyncSend:
    """Channels: ``group_send()`` of the same keyword arguments, awaited on an asyncio loop."""
    message = {"type": _peer.CHANNELS_EVENT, **PAYLOAD}

    async def send() -> object:
        return await layer.group_send(group, message)

    return send


def _never() -> object:
    raise AssertionError("Channels is sent to from the asyncio loop only")


#: The code of the baselines and of Channels' side, as shown in the docs.
BASELINE_SOURCE = "\n\n\n".join(
    inspect.getsource(fn).rstrip()
    for fn in (
        eventbus_send,
        raw_publish,
        raw_send,
        _peer.raw_subscribers,
        channels_group_send,
        _peer.channels_consumer,
    )
)


# -- samplers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contender:
    """A sender and the peer whose receiver gets its events.

    ``send`` is called from this (sync) thread; ``asend`` is awaited on the run's
    asyncio loop instead, when given.
    """

    name: str
    peer: Peer
    send: Send
    asend: AsyncSend | None = None


def _latency(contender: Contender, count: int, runner: asyncio.Runner) -> Sampler:
    """``count`` events one at a time; the sample is the median one-way latency."""
    peer, send, asend = contender.peer, contender.send, contender.asend

    def sync_batch() -> float:
        peer.arm("each", count)
        found = []
        for _ in range(count):
            start = clock_ns()
            send()
            found.append(peer.arrival() - start)
        return statistics.median(found)

    async def async_batch() -> float:
        assert asend is not None
        peer.arm("each", count)
        found = []
        for _ in range(count):
            start = clock_ns()
            await asend()
            found.append(peer.arrival() - start)  # nothing else runs on this loop meanwhile
        return statistics.median(found)

    sample = sync_batch if asend is None else lambda: runner.run(async_batch())
    return Sampler(contender.name, sample, count)


def _throughput(contender: Contender, count: int, runner: asyncio.Runner) -> Sampler:
    """``count`` events back to back; the sample is the time to the last arrival per event."""
    peer, send, asend = contender.peer, contender.send, contender.asend

    def sync_batch() -> float:
        peer.arm("all", count)
        start = clock_ns()
        for _ in range(count):
            send()
        return (peer.arrival() - start) / count

    async def async_batch() -> float:
        assert asend is not None
        peer.arm("all", count)
        start = clock_ns()
        for _ in range(count):
            await asend()
        return (peer.arrival() - start) / count

    sample = sync_batch if asend is None else lambda: runner.run(async_batch())
    return Sampler(contender.name, sample, count)


# -- the scenario ------------------------------------------------------------------------------


@contextmanager
def _configured(url: str, prefix: str) -> Iterator[str]:
    """Point this process's eventbus at ``url`` for the block; yield its base channel."""
    from eventbus.apps import install  # noqa: PLC0415 - needs the app registry
    from eventbus.conf import TransportSettings, get_settings  # noqa: PLC0415

    transport = TransportSettings(url=url, channel_prefix=prefix, signing_key=_peer.SIGNING_KEY)
    install(dataclasses.replace(get_settings(), transport=transport))
    try:
        yield transport.channel
    finally:
        install(get_settings())


def _published(client: Any, channel: str) -> bytes:
    """What one send of ``signals()[0]`` publishes, caught by a subscriber of this process's."""
    pubsub = client.pubsub()
    try:
        pubsub.subscribe(channel)
        pubsub.get_message(timeout=10)  # the subscribe confirmation
        eventbus_send(signals()[0])()
        message = pubsub.get_message(timeout=10)
    finally:
        pubsub.close()
    if message is None or message["type"] != "message":
        raise RuntimeError(f"eventbus's send published nothing on {channel!r}: {message!r}")
    data: bytes = message["data"]
    return data


def missing() -> list[str]:
    """Why the scenario cannot run here (empty: it can)."""
    if importlib.util.find_spec("redis") is None:
        return ["transport: redis-py is not installed (pip install -e '.[redis]')"]
    if redis_server_binary() is None:
        return [
            "transport: redis-server not found (install Debian's redis-server package, or "
            "point EVENTBUS_REDIS_SERVER at one)"
        ]
    return []


def scenario_transport(config: Config) -> tuple[list[Group], dict[str, Any], list[str]]:
    """8. Publishing, latency and throughput over a private Redis: groups, facts, skipped notes."""
    skipped = missing()
    binary = redis_server_binary()
    if skipped or binary is None:
        return [], {}, skipped
    import redis  # noqa: PLC0415 - optional

    with_channels = all(importlib.util.find_spec(name) is not None for name in CHANNELS)
    if not with_channels:
        skipped.append("transport: the Channels cases need channels and channels_redis")
    name = f"eventbus-bench-{uuid.uuid4().hex[:12]}"
    with ExitStack() as stack:
        server = stack.enter_context(RedisServer(binary))
        # Where eventbus publishes the sends of the first signal (its topic's channel).
        channel = f"{stack.enter_context(_configured(server.url, name))}:{SIGNAL_NAME}"
        client = redis.Redis.from_url(server.url)
        stack.callback(client.close)
        message = _published(client, channel)
        facts = {
            "redis_server": str(client.info("server")["redis_version"]),
            "message_bytes": len(message),
        }
        groups = [_publish_group(config, client, channel, message)]

        kinds = ["eventbus", "raw", *(["channels"] if with_channels else [])]
        peers = {kind: Peer(kind, server.url, name) for kind in kinds}
        for peer in peers.values():
            stack.callback(peer.close)
        for peer in peers.values():
            peer.wait_ready()
        runner = stack.enter_context(asyncio.Runner())
        bus, raw = peers["eventbus"], peers["raw"]
        event, async_event = signals()
        contenders = [
            Contender(RAW, raw, raw_send(client, f"{name}:async")),
            Contender(f"{RAW}, sync subscriber", raw, raw_send(client, f"{name}:sync")),
            Contender(f"{EVENTBUS}, sync receiver", bus, eventbus_send(event)),
            Contender(f"{EVENTBUS}, async receiver", bus, eventbus_send(async_event)),
        ]
        if with_channels:
            from channels_redis.core import (  # type: ignore[import-untyped]  # noqa: PLC0415
                RedisChannelLayer,
            )

            layer = RedisChannelLayer(hosts=[server.url], capacity=CHANNELS_CAPACITY)
            stack.callback(lambda: runner.run(layer.close_pools()))
            asend = channels_group_send(layer, name)
            contenders.append(Contender(CHANNELS_REDIS, peers["channels"], _never, asend))
        groups += _end_to_end(config, runner, contenders, len(message))
    return groups, facts, skipped


def _publish_group(config: Config, client: Any, channel: str, message: bytes) -> Group:
    from eventbus._wire import Wire  # noqa: PLC0415 - the wire's share, for reference

    wire = Wire(key=_peer.SIGNING_KEY)

    def encode() -> object:
        return wire.dumps(SIGNAL_NAME, None, PAYLOAD)

    raw = raw_publish(client, channel, message)

    def by_hand() -> object:
        return client.publish(channel, encode())

    cases = [
        Case("raw publish", _loop(raw)),
        Case("eventbus send", _loop(eventbus_send(signals()[0]))),
        Case("encoding and signing", _loop(encode)),
        Case("encoding and signing, then raw publish", _loop(by_hand)),
    ]
    results = measure(cases, config.reps, config.publish_target_ns)
    return group("transport_publish", len(message), "raw publish", results, unit="ns/send")


def _loop(send: Send) -> Callable[[int], int]:
    def timer(batch: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(batch):
            send()
        return time.perf_counter_ns() - start

    return timer


def _end_to_end(
    config: Config, runner: asyncio.Runner, contenders: list[Contender], size: int
) -> list[Group]:
    names = {c.name for c in contenders}
    latency = interleave(
        [_latency(c, config.latency_events, runner) for c in contenders], config.reps
    )
    throughput = interleave(
        [_throughput(c, config.throughput_events, runner) for c in contenders], config.reps
    )
    return [
        group("transport_latency", size, RAW, latency, unit="ns/event one-way"),
        group(
            "transport_throughput",
            size,
            CHANNELS_REDIS if CHANNELS_REDIS in names else RAW,
            throughput,
            unit="ns/event back to back",
        ),
    ]
