"""The receiving process of the transport scenario: ``python -m benchmarks._peer KIND URL NAME``.

A peer receives events from the benchmark process over the Redis server at
``URL``, one kind of receiver per peer:

* ``eventbus``: a Django process with the ``eventbus`` app and
  ``EVENTBUS["TRANSPORT"]`` on ``URL`` (channel prefix ``NAME``, signing key
  ``SIGNING_KEY``). Its remote signal ``SIGNAL_NAME`` has one sync broadcast
  receiver, ``ASYNC_SIGNAL_NAME`` one async broadcast receiver; eventbus's own
  listener thread receives, checks, decodes and re-emits each event.
* ``raw``: two plain redis-py subscribers (``raw_subscribers``), each
  calling its receiver with the keyword arguments ``json.loads()`` of the
  message gives: on channel ``NAME:async`` a ``redis.asyncio``
  ``pubsub().listen()`` on an asyncio loop, which is how eventbus's listener
  receives (for async receivers); on ``NAME:sync`` a sync ``redis.Redis``
  ``pubsub().listen()`` in a thread, which is how its ``eventbus-receivers``
  thread receives (for sync receivers).
* ``channels``: a Channels ``AsyncConsumer`` (``channels_consumer``) in group
  ``NAME`` of a ``channels_redis.core.RedisChannelLayer`` on ``URL``, run the
  way Channels runs one, ``Consumer.as_asgi()(scope, receive, send)``, on an
  asyncio loop.

The protocol, one line at a time on the peer's standard streams: the peer
prints ``ready`` once everything is subscribed. The benchmark then writes
``each N`` (answer each of the next ``N`` events with its arrival time) or
``all N`` (answer once, when ``N`` more events have arrived, with the arrival
time of the last); the peer answers ``ok`` before any of them is sent. ``quit``
(or the end of its input) ends the peer. An arrival time is
:func:`clock_ns`, read first thing in the receiver.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = [
    "ASYNC_SIGNAL_NAME",
    "CHANNELS_CAPACITY",
    "CHANNELS_EVENT",
    "PAYLOAD",
    "SIGNAL_NAME",
    "SIGNING_KEY",
    "channels_consumer",
    "clock_ns",
    "main",
    "raw_subscribers",
]

#: The wire names of the remote signals both sides register (sync and async receiver).
SIGNAL_NAME = "benchmarks.transport.event"
ASYNC_SIGNAL_NAME = "benchmarks.transport.async_event"

#: The key both sides sign and check eventbus's messages with.
SIGNING_KEY = b"eventbus-benchmarks-not-secret"

#: Every event's keyword arguments: JSON types only, which every contender carries as they are.
PAYLOAD: dict[str, Any] = {
    "order": 1234,
    "sku": "SKU-0042",
    "quantity": 2,
    "total": "19.90",
    "email": "ann@example.com",
    "tags": ["new", "gift"],
}

#: The ``type`` of the Channels message that carries ``PAYLOAD`` (handled by ``bench_event``).
CHANNELS_EVENT = "bench.event"

#: Channels' capacity per channel: its default, 100, silently drops what a consumer has not
#: taken yet, which a throughput run would hit.
CHANNELS_CAPACITY = 1_000_000


def clock_ns() -> int:
    """``CLOCK_MONOTONIC`` in ns: on Linux it is system-wide (time since boot), so readings
    taken in two processes of one host can be subtracted."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


class Acks:
    """Answers the benchmark with arrival times (see the module docstring).

    ``arm`` runs on the main thread before the events it announces are sent;
    ``arrived`` on whichever thread receives, one event at a time.
    """

    def __init__(self) -> None:
        self.each = False
        self.left = 0

    def arm(self, mode: str, count: int) -> None:
        self.each, self.left = mode == "each", count

    def arrived(self) -> None:
        now = clock_ns()
        self.left -= 1
        if self.left < 0:
            os.write(1, b"unexpected event\n")
        elif self.each or self.left == 0:
            os.write(1, b"%d\n" % now)


def _configure_django(**settings: Any) -> None:
    import django  # noqa: PLC0415
    from django.conf import settings as django_settings  # noqa: PLC0415

    django_settings.configure(
        SECRET_KEY="eventbus-benchmarks-not-secret",
        USE_TZ=True,
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        **settings,
    )
    django.setup()


def _on_loop(main: Callable[[threading.Event], Coroutine[Any, Any, None]]) -> None:
    """Run ``main(ready)`` on an asyncio loop in a daemon thread; return once it sets ``ready``."""
    ready = threading.Event()
    thread = threading.Thread(target=lambda: asyncio.run(main(ready)), name="peer", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the peer did not subscribe within 10 s")


# -- eventbus -------------------------------------------------------------------------------


def _eventbus(url: str, prefix: str, acks: Acks) -> None:
    _configure_django(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "eventbus"],
        EVENTBUS={"TRANSPORT": {"URL": url, "CHANNEL_PREFIX": prefix, "SIGNING_KEY": SIGNING_KEY}},
    )
    import eventbus  # noqa: PLC0415

    def receive(sender: Any, **kwargs: Any) -> None:
        acks.arrived()

    async def areceive(sender: Any, **kwargs: Any) -> None:
        acks.arrived()

    from eventbus._node import node  # noqa: PLC0415 - the process's listener

    for name, receiver in ((SIGNAL_NAME, receive), (ASYNC_SIGNAL_NAME, areceive)):
        signal = eventbus.Signal(name=name, remote=True)
        # Connecting a broadcast receiver starts the listener.
        signal.connect(receiver, weak=False, delivery="broadcast")
        _keep.append(signal)
    if not node.wait_subscribed(10):
        raise RuntimeError("eventbus's listener did not subscribe within 10 s")


# -- the baselines ----------------------------------------------------------------------------


def raw_subscribers(url: str, channel: str, receive: Callable[..., None]) -> None:
    """Plain redis-py subscribers (see the module docstring); returns once all are subscribed."""
    import redis  # noqa: PLC0415
    import redis.asyncio  # noqa: PLC0415

    async def subscribe(ready: threading.Event) -> None:
        plain = redis.asyncio.Redis.from_url(url).pubsub()
        await plain.subscribe(f"{channel}:async")
        await anext(plain.listen())  # the subscribe confirmation
        ready.set()
        await listen(plain)

    async def listen(pubsub: Any) -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                receive(None, **json.loads(message["data"]))

    _on_loop(subscribe)

    pubsub = redis.Redis.from_url(url).pubsub()  # type: ignore[no-untyped-call]
    pubsub.subscribe(f"{channel}:sync")
    pubsub.get_message(timeout=10)  # the subscribe confirmation

    def listen_sync() -> None:
        for message in pubsub.listen():
            if message["type"] == "message":
                receive(None, **json.loads(message["data"]))

    threading.Thread(target=listen_sync, name="peer-sync", daemon=True).start()


def _raw(url: str, channel: str, acks: Acks) -> None:
    def receive(sender: Any, **kwargs: Any) -> None:
        acks.arrived()

    raw_subscribers(url, channel, receive)


def channels_consumer(group: str, receive: Callable[..., None]) -> Any:
    """A Channels consumer class that joins ``group`` and calls ``receive`` per event."""
    from channels.consumer import AsyncConsumer  # type: ignore[import-untyped]  # noqa: PLC0415

    class Consumer(AsyncConsumer):  # type: ignore[misc]
        async def bench_join(self, message: dict[str, Any]) -> None:
            await self.channel_layer.group_add(group, self.channel_name)

        async def bench_event(self, message: dict[str, Any]) -> None:
            receive(None, **message)

    return Consumer


def _channels(url: str, group: str, acks: Acks) -> None:
    _configure_django(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "channels"],
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [url], "capacity": CHANNELS_CAPACITY},
            }
        },
    )

    def receive_event(sender: Any, **kwargs: Any) -> None:
        acks.arrived()

    consumer = channels_consumer(group, receive_event)

    async def run(ready: threading.Event) -> None:
        joined = asyncio.Event()
        sent_join = False

        async def receive() -> dict[str, Any]:
            # The ASGI side of the consumer: one message to join the group, then nothing.
            nonlocal sent_join
            if not sent_join:
                sent_join = True
                return {"type": "bench.join"}
            joined.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            raise AssertionError(f"the consumer sent {message!r}")

        task = asyncio.create_task(consumer.as_asgi()({"type": "channel"}, receive, send))
        await joined.wait()  # asked for its next message: bench_join has returned
        ready.set()
        await task

    _on_loop(run)


_keep: list[Any] = []

_KINDS: dict[str, Callable[[str, str, Acks], None]] = {
    "eventbus": _eventbus,
    "raw": _raw,
    "channels": _channels,
}


def main(argv: list[str]) -> int:
    """Run one peer (see the module docstring); return its exit status."""
    if len(argv) != 3 or argv[0] not in _KINDS:
        kinds = ",".join(_KINDS)
        print(f"usage: python -m benchmarks._peer {{{kinds}}} URL NAME", file=sys.stderr)
        return 2
    kind, url, name = argv
    acks = Acks()
    _KINDS[kind](url, name, acks)
    os.write(1, b"ready\n")
    for line in sys.stdin:
        command, _, count = line.strip().partition(" ")
        if command == "quit":
            break
        acks.arm(command, int(count))
        os.write(1, b"ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
