"""Scenario 6: memory per connected receiver, and growth over many sends.

Memory is measured with ``tracemalloc`` (Python-level allocations, in bytes):

* **Per receiver**: the receivers are created first; then, traced, a signal is
  created, ``memory_receivers`` receivers are connected and one send is made
  (so per-sender caches are filled, as they are in use). The figure is the
  memory still allocated afterwards, divided by the receiver count. "strong"
  connects with ``weak=False``, "weak" with ``weak=True``; psygnal has no weak
  option for functions (it holds them strongly) and the floor is a tuple.
* **Growth**: a signal with one receiver is sent to ``growth_sends`` times
  after a warm-up; the figure is the memory allocated during those sends
  that is still allocated after them (0 means no growth).
"""

from __future__ import annotations

import gc
import importlib.util
import tracemalloc
from collections.abc import Callable
from typing import Any, TypedDict

import django.dispatch

import eventbus

from . import _competitors as comp

__all__ = ["Memory", "scenario_memory"]


class Memory(TypedDict):
    """Bytes per receiver (``None``: not applicable) and retained bytes after the sends."""

    per_receiver_strong: dict[str, float | None]
    per_receiver_weak: dict[str, float | None]
    receivers: int
    growth: dict[str, int]
    growth_sends: int


def _traced(work: Callable[[], object]) -> tuple[int, object]:
    """Run ``work`` traced; return the bytes it left allocated, and its result."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = work()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before, kept
    finally:
        tracemalloc.stop()


def _signals() -> dict[str, tuple[Callable[[], Any], bool]]:
    """``name -> (make_signal, has_weak_option)`` for the per-receiver figures."""
    found: dict[str, tuple[Callable[[], Any], bool]] = {
        "eventbus": (eventbus.Signal, True),
        "django": (django.dispatch.Signal, True),
        "django (use_caching)": (lambda: django.dispatch.Signal(use_caching=True), True),
    }
    if importlib.util.find_spec("blinker") is not None:
        import blinker  # noqa: PLC0415 - optional

        found["blinker"] = (blinker.Signal, True)
    if importlib.util.find_spec("psygnal") is not None:
        import psygnal  # noqa: PLC0415 - optional

        found["psygnal"] = (lambda: psygnal.SignalInstance((object, int)), False)
    return found


def _per_receiver(name: str, make: Callable[[], Any], weak: bool, count: int) -> float:
    psygnal = name == "psygnal"
    receivers = comp.psygnal_receivers(count) if psygnal else comp.sync_receivers(count)

    def work() -> object:
        signal = make()
        for receiver in receivers:
            if psygnal:
                signal.connect(receiver)
            else:
                signal.connect(receiver, weak=weak)
        if psygnal:
            signal.emit(comp.SENDER, comp.VALUE)
        else:
            signal.send(comp.SENDER, value=comp.VALUE)
        return signal

    allocated, _ = _traced(work)
    return allocated / count


def _growth(send: comp.Send, sends: int) -> int:
    for _ in range(1_000):  # warm-up: caches, interned objects, free lists
        comp.call(send)

    def work() -> object:
        for _ in range(sends):
            comp.call(send)
        return None

    return _traced(work)[0]


def scenario_memory(receivers: int, growth_sends: int) -> Memory:
    """Memory per receiver for each library, and retained memory after many sends."""
    strong: dict[str, float | None] = {}
    weak: dict[str, float | None] = {}
    for name, (make, has_weak) in _signals().items():
        strong[name] = _per_receiver(name, make, False, receivers)
        weak[name] = _per_receiver(name, make, True, receivers) if has_weak else None
    floor_size, _ = _traced(lambda: tuple(comp.sync_receivers(0)) + tuple([None] * receivers))
    strong["floor"] = floor_size / receivers
    weak["floor"] = None
    one = comp.sync_receivers(1)
    growth = {send.name: _growth(send, growth_sends) for send in comp.send_competitors(1, one)}
    return {
        "per_receiver_strong": strong,
        "per_receiver_weak": weak,
        "receivers": receivers,
        "growth": growth,
        "growth_sends": growth_sends,
    }
