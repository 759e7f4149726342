"""Scenario 5: connecting many receivers, then disconnecting all of them.

Each repetition builds a fresh signal, times connecting ``connect_count``
receivers (eventbus and psygnal with random priorities from a fixed seed;
Django and blinker have no priorities), then times disconnecting them in
connection order. Both figures are ns per receiver; the two groups share their
repetitions, so they are interleaved alike.
"""

from __future__ import annotations

import importlib.util
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import django.dispatch

import eventbus

from . import _competitors as comp
from ._config import Config, Group, group
from ._timing import Case, CaseResult, measure

__all__ = ["scenario_connect"]

Connect = Callable[[Any, Callable[..., Any], int], object]


def _connect_plain(signal: Any, receiver: Callable[..., Any], priority: int) -> object:
    return signal.connect(receiver)


def _connect_priority(signal: Any, receiver: Callable[..., Any], priority: int) -> object:
    return signal.connect(receiver, priority=priority)


def _libraries() -> list[tuple[str, Callable[[], Any], Connect, bool]]:
    """``(name, make_signal, connect, uses_priorities)`` for each library."""
    found: list[tuple[str, Callable[[], Any], Connect, bool]] = [
        ("eventbus (random priorities)", eventbus.Signal, _connect_priority, True),
        ("eventbus (priority 0)", eventbus.Signal, _connect_plain, False),
        ("django", django.dispatch.Signal, _connect_plain, False),
    ]
    if importlib.util.find_spec("blinker") is not None:
        import blinker  # noqa: PLC0415 - optional

        found.append(("blinker", blinker.Signal, _connect_plain, False))
    if importlib.util.find_spec("psygnal") is not None:
        import psygnal  # noqa: PLC0415 - optional

        def make_psygnal() -> Any:
            return psygnal.SignalInstance((object, int))

        found.append(("psygnal (random priorities)", make_psygnal, _connect_priority, True))
    return found


def scenario_connect(config: Config) -> list[Group]:
    """Connect then disconnect ``config.connect_count`` receivers, per library."""
    count = config.connect_count
    rng = random.Random(20240601)
    priorities = [rng.randint(-1000, 1000) for _ in range(count)]
    zeros = [0] * count
    disconnect_samples: dict[str, list[float]] = {}
    cases = []
    for name, make, connect, prioritised in _libraries():
        receivers = comp.psygnal_receivers(count) if "psygnal" in name else None
        receivers = receivers or comp.sync_receivers(count)
        timer = _timer(make, connect, receivers, priorities if prioritised else zeros)
        disconnect_samples[name] = []
        cases.append(Case(name, _recording(timer, disconnect_samples[name], count), 1, count))
    connects = measure(cases, config.connect_reps, config.target_ns)
    disconnects: dict[str, CaseResult] = {
        name: {"batch": 1, "samples": samples[-config.connect_reps :]}
        for name, samples in disconnect_samples.items()
    }
    unit = "ns/receiver"
    return [
        group("connect", count, "django", connects, unit=unit),
        group("disconnect", count, "django", disconnects, unit=unit),
    ]


def _timer(
    make: Callable[[], Any],
    connect: Connect,
    receivers: Sequence[Callable[..., Any]],
    priorities: Sequence[int],
) -> Callable[[], tuple[int, int]]:
    def run() -> tuple[int, int]:
        signal = make()
        start = time.perf_counter_ns()
        for receiver, priority in zip(receivers, priorities, strict=True):
            connect(signal, receiver, priority)
        connected = time.perf_counter_ns()
        for receiver in receivers:
            signal.disconnect(receiver)
        return connected - start, time.perf_counter_ns() - connected

    return run


def _recording(
    run: Callable[[], tuple[int, int]], disconnects: list[float], count: int
) -> Callable[[int], int]:
    """A timer for the connect figure that records the disconnect figure on the side."""

    def timer(batch: int) -> int:
        connect_ns, disconnect_ns = run()
        disconnects.append(disconnect_ns / count)
        return connect_ns

    return timer
