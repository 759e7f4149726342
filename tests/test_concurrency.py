"""Opt-in concurrency: ``Signal(concurrent=True)`` runs each priority tier concurrently."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from eventbus import Signal
from tests.helpers import (
    ASYNC_METHODS,
    SYNC_METHODS,
    Call,
    Receiver,
    Results,
    make_receiver,
    names,
    send_from_async,
    send_from_sync,
)


class Rendezvous:
    """anyio events by name, created on first use inside the running event loop."""

    def __init__(self) -> None:
        self._events: dict[str, anyio.Event] = {}

    def __getitem__(self, name: str) -> anyio.Event:
        if name not in self._events:
            self._events[name] = anyio.Event()
        return self._events[name]


def meeting_receiver(name: str, other: str, rendezvous: Rendezvous, log: list[Call]) -> Receiver:
    """An async receiver that announces itself, then waits for ``other`` to do the same.

    Two of them only finish if they run concurrently: run one after the other, the
    first waits for the second forever (here: until ``fail_after`` gives up).
    """

    async def meet(sender: object, **kwargs: object) -> str:
        log.append(Call.now(f"start {name}", sender, **kwargs))
        rendezvous[name].set()
        with anyio.fail_after(5):
            await rendezvous[other].wait()
        log.append(Call.now(f"end {name}", sender, **kwargs))
        return name

    return meet


# -- concurrency within a tier ----------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("method", ASYNC_METHODS)
async def test_async_receivers_of_equal_priority_run_concurrently(method: str) -> None:
    """Each of the two receivers waits for the other: sequentially this would dead-lock."""
    signal = Signal(concurrent=True)
    log: list[Call] = []
    rendezvous = Rendezvous()
    first = meeting_receiver("first", "second", rendezvous, log)
    second = meeting_receiver("second", "first", rendezvous, log)
    signal.connect(first, weak=False, priority=5)
    signal.connect(second, weak=False, priority=5)

    with anyio.fail_after(5):
        results = await send_from_async(signal, method)

    assert results == [(first, "first"), (second, "second")]
    assert sorted(names(log)[:2]) == ["start first", "start second"]


@pytest.mark.anyio
@pytest.mark.parametrize("method", ASYNC_METHODS)
async def test_tiers_run_one_after_the_other_in_priority_order(method: str) -> None:
    """Each receiver sees every receiver of the higher tiers already finished."""
    signal = Signal(concurrent=True)
    finished: list[str] = []
    seen: dict[str, set[str]] = {}

    def tier_receiver(name: str, kind: str) -> Receiver:
        if kind == "s":

            def sync_receiver(sender: object, **kwargs: object) -> str:
                seen[name] = set(finished)
                finished.append(name)
                return name

            return sync_receiver

        async def async_receiver(sender: object, **kwargs: object) -> str:
            seen[name] = set(finished)
            await anyio.lowlevel.checkpoint()
            await anyio.lowlevel.checkpoint()
            finished.append(name)
            return name

        return async_receiver

    layout = [
        ("high_a", "a", 10),
        ("high_s", "s", 10),
        ("high_b", "a", 10),
        ("mid_a", "a", 0),
        ("mid_b", "a", 0),
        ("low_s", "s", -10),
    ]
    receivers = [tier_receiver(name, kind) for name, kind, _ in layout]
    for receiver, (_, _, priority) in zip(receivers, layout, strict=True):
        signal.connect(receiver, weak=False, priority=priority)

    with anyio.fail_after(5):
        results = await send_from_async(signal, method)

    high = {"high_a", "high_s", "high_b"}
    assert seen["high_a"] <= high
    assert seen["high_b"] <= high
    assert seen["mid_a"] == seen["mid_b"] == high
    assert seen["low_s"] == high | {"mid_a", "mid_b"}
    assert results == [(r, name) for r, (name, _, _) in zip(receivers, layout, strict=True)]


@pytest.mark.anyio
@pytest.mark.parametrize("method", ASYNC_METHODS)
async def test_results_follow_priority_and_connection_order_not_completion_order(
    method: str,
) -> None:
    signal = Signal(concurrent=True)
    completed: list[str] = []
    rendezvous = Rendezvous()

    async def top(sender: object, **kwargs: object) -> str:
        completed.append("top")
        return "top"

    async def slow(sender: object, **kwargs: object) -> str:
        with anyio.fail_after(5):
            await rendezvous["fast done"].wait()
        completed.append("slow")
        return "slow"

    async def fast(sender: object, **kwargs: object) -> str:
        completed.append("fast")
        rendezvous["fast done"].set()
        return "fast"

    def bottom(sender: object, **kwargs: object) -> str:
        completed.append("bottom")
        return "bottom"

    signal.connect(bottom, weak=False, priority=-1)
    signal.connect(slow, weak=False, priority=3)
    signal.connect(fast, weak=False, priority=3)
    signal.connect(top, weak=False, priority=9)

    with anyio.fail_after(5):
        results = await send_from_async(signal, method)

    assert completed == ["top", "fast", "slow", "bottom"]
    assert results == [(top, "top"), (slow, "slow"), (fast, "fast"), (bottom, "bottom")]


@pytest.mark.anyio
@pytest.mark.parametrize("method", ASYNC_METHODS)
@pytest.mark.parametrize("concurrent", [None, False], ids=["default", "explicit"])
async def test_a_non_concurrent_signal_runs_equal_priorities_one_after_the_other(
    method: str, concurrent: bool | None
) -> None:
    signal = Signal() if concurrent is None else Signal(concurrent=concurrent)
    log: list[str] = []

    def stepping_receiver(name: str) -> Receiver:
        async def step(sender: object, **kwargs: object) -> str:
            log.append(f"start {name}")
            await anyio.lowlevel.checkpoint()
            await anyio.lowlevel.checkpoint()
            log.append(f"end {name}")
            return name

        return step

    first, second, third = (stepping_receiver(n) for n in ("first", "second", "third"))
    for receiver in (first, second, third):
        signal.connect(receiver, weak=False, priority=5)

    results = await send_from_async(signal, method)

    assert log == [
        "start first",
        "end first",
        "start second",
        "end second",
        "start third",
        "end third",
    ]
    assert results == [(first, "first"), (second, "second"), (third, "third")]


@pytest.mark.anyio
@pytest.mark.parametrize("method", ASYNC_METHODS)
async def test_sync_receivers_of_a_mixed_tier_run_in_one_hop_alongside_the_async_ones(
    method: str, thread_hops: list[Callable[[], Any]]
) -> None:
    """The first sync receiver waits for the async one, which waits for the sync one."""
    signal = Signal(concurrent=True)
    sync_started = threading.Event()
    async_done = threading.Event()
    threads: dict[str, int] = {}

    def sync_first(sender: object, **kwargs: object) -> bool:
        threads["sync_first"] = threading.get_ident()
        sync_started.set()
        return async_done.wait(5)

    async def async_middle(sender: object, **kwargs: object) -> bool:
        saw_sync = await anyio.to_thread.run_sync(sync_started.wait, 5)
        async_done.set()
        return saw_sync

    def sync_last(sender: object, **kwargs: object) -> bool:
        threads["sync_last"] = threading.get_ident()
        return async_done.is_set()

    for receiver in (sync_first, async_middle, sync_last):
        signal.connect(receiver, weak=False, priority=1)

    with anyio.fail_after(10):
        results = await send_from_async(signal, method)

    assert results == [(sync_first, True), (async_middle, True), (sync_last, True)]
    assert len(thread_hops) == 1
    assert threads["sync_first"] == threads["sync_last"] != threading.get_ident()


# -- failures ---------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("failing_kind", ["s", "a"])
async def test_a_failure_cancels_the_rest_of_its_tier_and_the_later_tiers(
    failing_kind: str,
) -> None:
    """asend() raises the receiver's own exception, not an ExceptionGroup."""
    signal = Signal(concurrent=True)
    log: list[str] = []
    error = ValueError("out of stock")
    sibling_waiting = threading.Event()
    sibling_waiting_async = anyio.Event()
    never = anyio.Event()

    def before(sender: object, **kwargs: object) -> str:
        log.append("before")
        return "before"

    async def sibling(sender: object, **kwargs: object) -> str:
        log.append("sibling waiting")
        sibling_waiting.set()
        sibling_waiting_async.set()
        await never.wait()
        log.append("sibling resumed")
        return "sibling"

    def failing_sync(sender: object, **kwargs: object) -> str:
        if sibling_waiting.wait(5):
            raise error
        return "sibling never waited"

    async def failing_async(sender: object, **kwargs: object) -> str:
        await sibling_waiting_async.wait()
        raise error

    async def later(sender: object, **kwargs: object) -> str:
        log.append("later")
        return "later"

    failing = failing_sync if failing_kind == "s" else failing_async
    signal.connect(before, weak=False, priority=10)
    signal.connect(sibling, weak=False, priority=5)
    signal.connect(failing, weak=False, priority=5)
    signal.connect(later, weak=False, priority=0)

    with anyio.fail_after(5), pytest.raises(ValueError, match="out of stock") as excinfo:
        await signal.asend(None)

    assert excinfo.value is error
    assert log == ["before", "sibling waiting"]


@pytest.mark.anyio
@pytest.mark.parametrize("failing_kind", ["s", "a"])
async def test_a_robust_send_runs_every_tier_and_returns_the_failure_in_place(
    failing_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    signal = Signal(concurrent=True)
    error = ValueError("out of stock")
    failed = threading.Event()

    async def sibling(sender: object, **kwargs: object) -> str:
        saw_failure = await anyio.to_thread.run_sync(failed.wait, 5)
        await anyio.lowlevel.checkpoint()
        return f"sibling saw failure: {saw_failure}"

    def failing_sync(sender: object, **kwargs: object) -> str:
        failed.set()
        raise error

    async def failing_async(sender: object, **kwargs: object) -> str:
        failed.set()
        raise error

    async def later_async(sender: object, **kwargs: object) -> str:
        return "later_async"

    def later_sync(sender: object, **kwargs: object) -> str:
        return "later_sync"

    failing = failing_sync if failing_kind == "s" else failing_async
    signal.connect(sibling, weak=False, priority=5)
    signal.connect(failing, weak=False, priority=5)
    signal.connect(later_async, weak=False, priority=0)
    signal.connect(later_sync, weak=False, priority=0)

    with caplog.at_level(logging.ERROR, logger="django.dispatch"), anyio.fail_after(5):
        results = await signal.asend_robust(None)

    assert results == [
        (sibling, "sibling saw failure: True"),
        (failing, error),
        (later_async, "later_async"),
        (later_sync, "later_sync"),
    ]
    assert results[1][1] is error
    failures = [r for r in caplog.records if r.name == "django.dispatch"]
    assert len(failures) == 1
    assert failures[0].levelno == logging.ERROR
    assert failures[0].exc_info is not None
    assert failures[0].exc_info[1] is error


# -- send() from sync code ---------------------------------------------------------------


@pytest.mark.parametrize("method", SYNC_METHODS)
def test_send_runs_the_async_receivers_of_a_tier_concurrently(method: str) -> None:
    """Sync receivers still run on the calling thread, whether in a tier of their own or not."""
    signal = Signal(concurrent=True)
    log: list[Call] = []
    rendezvous = Rendezvous()
    top = make_receiver("s", "top", log)
    first = meeting_receiver("first", "second", rendezvous, log)
    in_tier = make_receiver("s", "in_tier", log)
    second = meeting_receiver("second", "first", rendezvous, log)
    bottom = make_receiver("s", "bottom", log)
    signal.connect(bottom, weak=False, priority=-5)
    signal.connect(first, weak=False, priority=2)
    signal.connect(in_tier, weak=False, priority=2)
    signal.connect(second, weak=False, priority=2)
    signal.connect(top, weak=False, priority=7)

    results = send_from_sync(signal, method)

    assert results == [
        (top, "top"),
        (first, "first"),
        (in_tier, "in_tier"),
        (second, "second"),
        (bottom, "bottom"),
    ]
    sync_calls = [call for call in log if call.name in ("top", "in_tier", "bottom")]
    assert [call.thread for call in sync_calls] == [threading.current_thread()] * 3
    assert names(log)[0] == "top"
    assert names(log)[-1] == "bottom"
    middle = {"start first", "start second", "end first", "end second", "in_tier"}
    assert set(names(log)[1:-1]) == middle


# -- changing concurrent, and results of a receiver connected twice ------------------


@pytest.mark.parametrize("method", SYNC_METHODS)
@pytest.mark.parametrize("now", [True, False], ids=["turned-on", "turned-off"])
def test_changing_concurrent_after_a_send_applies_to_the_next_sends(method: str, now: bool) -> None:
    """The plans cached for the old value are rebuilt: every receiver still runs, in order."""
    signal = Signal(concurrent=not now)
    log: list[Call] = []
    first, second = make_receiver("s", "first", log), make_receiver("a", "second", log)
    signal.connect(first, weak=False)
    signal.connect(second, weak=False)
    assert [r for r, _ in send_from_sync(signal, method)] == [first, second]

    signal.concurrent = now

    assert signal.concurrent is now
    assert [r for r, _ in send_from_sync(signal, method)] == [first, second]
    assert sorted(names(log)) == ["first", "first", "second", "second"]


def test_concurrent_must_stay_a_bool() -> None:
    signal = Signal()
    with pytest.raises(TypeError, match=r"concurrent=\.\.\.\) must be True or False"):
        signal.concurrent = "yes"  # type: ignore[assignment]
    assert signal.concurrent is False


@pytest.mark.parametrize("method", SYNC_METHODS)
def test_a_tier_places_results_by_connection_even_for_one_function_connected_twice(
    method: str,
) -> None:
    """The first connection of ``twice`` is a ``once`` receiver that a nested send claims
    before the tier runs: its result slot stays empty and the second connection's result
    keeps its own place, after the async receiver's."""
    signal = Signal(concurrent=True)
    nested: list[Results] = []

    def nest(sender: object, **kwargs: object) -> None:
        if not nested:
            nested.append([])
            nested[0] = signal.send(None, tag="inner")

    def twice(sender: object, tag: str, **kwargs: object) -> str:
        return f"twice:{tag}"

    async def middle(sender: object, **kwargs: object) -> str:
        return "middle"

    signal.connect(nest, weak=False, priority=1)
    signal.connect(twice, weak=False, dispatch_uid="first", once=True)
    signal.connect(middle, weak=False)
    signal.connect(twice, weak=False, dispatch_uid="second")

    results = send_from_sync(signal, method, tag="outer")

    assert [response for _, response in results] == [None, "middle", "twice:outer"]
    assert [response for _, response in nested[0]] == [None, "twice:inner", "middle", "twice:inner"]
