"""Scenarios 1-4: sends to sync, async and mixed receivers.

Each function returns ``Group``\\ s: the cases of one receiver count, timed
interleaved (see ``_timing``). Async cases run on one ``asyncio.Runner`` per
scenario and time themselves inside the coroutine, so starting the coroutine
is not part of the figure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypedDict

from asgiref.sync import AsyncToSync, SyncToAsync

from . import _competitors as comp
from ._config import Config, Group, group
from ._timing import Case, Timer, measure

__all__ = [
    "HopCount",
    "count_hops",
    "mixed",
    "mixed_receivers",
    "scenario_asend",
    "scenario_hops",
    "scenario_send",
]


def sync_timer(send: comp.Send) -> Timer:
    """Time ``batch`` calls of ``send`` from this (sync) thread."""
    fn, sender, value = send.send, comp.SENDER, comp.VALUE
    if send.positional:

        def positional(batch: int) -> int:
            start = time.perf_counter_ns()
            for _ in range(batch):
                fn(sender, value)
            return time.perf_counter_ns() - start

        return positional

    def keyword(batch: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(batch):
            fn(sender, value=value)
        return time.perf_counter_ns() - start

    return keyword


def async_timer(runner: asyncio.Runner, send: comp.AsyncSend) -> Timer:
    """Time ``batch`` awaits of ``send`` inside a coroutine on ``runner``'s loop."""
    fn, sender, value = send.send, comp.SENDER, comp.VALUE

    async def run(batch: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(batch):
            await fn(sender, value=value)
        return time.perf_counter_ns() - start

    def timer(batch: int) -> int:
        return runner.run(run(batch))

    return timer


def _sync_group(
    config: Config,
    scenario: str,
    n: int,
    baseline: str,
    sends: Sequence[comp.Send],
    *,
    hops: bool = False,
) -> Group:
    cases = [Case(s.name, sync_timer(s)) for s in sends]
    target = config.hop_target_ns if hops else config.target_ns
    return group(scenario, n, baseline, measure(cases, config.reps, target))


def _async_group(
    config: Config,
    runner: asyncio.Runner,
    scenario: str,
    n: int,
    baseline: str,
    sends: Sequence[comp.AsyncSend],
    *,
    hops: bool = False,
) -> Group:
    cases = [Case(s.name, async_timer(runner, s)) for s in sends]
    target = config.hop_target_ns if hops else config.target_ns
    return group(scenario, n, baseline, measure(cases, config.reps, target))


def scenario_send(config: Config) -> list[Group]:
    """1. ``send`` and ``send_robust`` to N sync receivers."""
    groups = []
    for n in config.sizes:
        receivers = comp.sync_receivers(n)
        groups.append(_sync_group(config, "send", n, "floor", comp.send_competitors(n, receivers)))
        groups.append(
            _sync_group(config, "send_robust", n, "floor", comp.send_robust_competitors(receivers))
        )
    return groups


def scenario_asend(config: Config) -> list[Group]:
    """2. ``asend`` to N async receivers (eventbus, Django, the async floor)."""
    groups = []
    with asyncio.Runner() as runner:
        for n in config.sizes:
            receivers = comp.async_receivers(n)
            sends = comp.asend_competitors(receivers)
            groups.append(_async_group(config, runner, "asend", n, "floor", sends))
    return groups


def scenario_hops(config: Config) -> list[Group]:
    """3. ``asend`` to sync receivers and ``send`` to async receivers from a sync thread."""
    groups = []
    with asyncio.Runner() as runner:
        for n in config.hop_sizes:
            sends = comp.hop_competitors(comp.sync_receivers(n))
            groups.append(
                _async_group(config, runner, "asend_sync", n, "one sync_to_async", sends, hops=True)
            )
    for n in config.hop_sizes:
        sync_sends = comp.loop_entry_competitors(comp.async_receivers(n))
        groups.append(
            _sync_group(config, "send_async", n, "one async_to_sync", sync_sends, hops=True)
        )
    return groups


# -- 4. mixed receivers -----------------------------------------------------------


class HopCount(TypedDict):
    """Thread hops and event-loop entries one send makes."""

    layout: str
    n: int
    method: str
    library: str
    loop_entries: int
    thread_hops: int


@contextmanager
def count_hops() -> Iterator[dict[str, int]]:
    """Count ``async_to_sync``/``sync_to_async`` calls (asgiref's) made in the block.

    Both Django and eventbus (under asyncio) change between sync and async code
    only through these two asgiref classes, so wrapping their ``__call__``
    counts every loop entry and thread hop without timing anything.
    """
    counts = {"loop_entries": 0, "thread_hops": 0}
    enter_loop = AsyncToSync.__call__
    hop_thread = SyncToAsync.__call__

    def counted_loop_entry(self: AsyncToSync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        counts["loop_entries"] += 1
        return enter_loop(self, *args, **kwargs)

    async def counted_thread_hop(self: SyncToAsync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        counts["thread_hops"] += 1
        return await hop_thread(self, *args, **kwargs)

    AsyncToSync.__call__ = counted_loop_entry  # type: ignore[method-assign]
    SyncToAsync.__call__ = counted_thread_hop  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        AsyncToSync.__call__ = enter_loop  # type: ignore[method-assign]
        SyncToAsync.__call__ = hop_thread  # type: ignore[method-assign]


def mixed_receivers(layout: str, n: int) -> list[Callable[..., Any]]:
    """``n`` receivers, half sync and half async: ``grouped`` or ``alternating``."""
    sync, async_ = comp.sync_receivers(n - n // 2), comp.async_receivers(n // 2)
    if layout == "grouped":
        return [*sync, *async_]
    mixed_order: list[Callable[..., Any]] = []
    for index in range(n):
        mixed_order.append((sync if index % 2 == 0 else async_)[index // 2])
    return mixed_order


def mixed(config: Config) -> tuple[list[Group], list[HopCount]]:
    """4. Mixed sync and async receivers, grouped and alternating: timings and hop counts.

    Per layout and N, eventbus and Django on the same receivers (all at priority 0),
    and the mechanism floor (``_competitors.floor_mixed_send`` / ``floor_mixed_asend``):
    ``send`` timed from this thread, which runs no event loop, and ``asend`` on an
    asyncio loop. Ratios are to Django.
    """
    groups: list[Group] = []
    hops: list[HopCount] = []
    with asyncio.Runner() as runner:
        for layout in ("grouped", "alternating"):
            for n in config.mixed_sizes:
                sends, asends = comp.mixed_competitors(mixed_receivers(layout, n))
                for s in sends:
                    with count_hops() as counts:
                        comp.call(s)
                    hops.append(_hop(layout, n, "send", s.name, counts))
                for a in asends:
                    with count_hops() as counts:
                        runner.run(_await(a))
                    hops.append(_hop(layout, n, "asend", a.name, counts))
                groups.append(
                    _sync_group(config, f"mixed_send_{layout}", n, "django", sends, hops=True)
                )
                groups.append(
                    _async_group(
                        config, runner, f"mixed_asend_{layout}", n, "django", asends, hops=True
                    )
                )
    return groups, hops


async def _await(send: comp.AsyncSend) -> Any:
    return await comp.acall(send)


def _hop(layout: str, n: int, method: str, library: str, counts: dict[str, int]) -> HopCount:
    return {
        "layout": layout,
        "n": n,
        "method": method,
        "library": library,
        "loop_entries": counts["loop_entries"],
        "thread_hops": counts["thread_hops"],
    }
