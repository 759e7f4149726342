"""Errors: how a failing receiver stops (or does not stop) a send, and cancellation of asend()."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import anyio
import anyio.to_thread
import pytest

import eventbus
from tests.helpers import ASYNC_METHODS, KINDS, Call, Receiver, make_receiver, names, send_from_sync

#: Kinds of the three receivers of a send: the first succeeds, the second fails, the third
#: would succeed.
LAYOUTS = [
    pytest.param("sss", id="sync-sync-sync"),
    pytest.param("aaa", id="async-async-async"),
    pytest.param("sas", id="sync-async-sync"),
    pytest.param("asa", id="async-sync-async"),
    pytest.param("ssa", id="sync-sync-async"),
]

#: How a send is made: the method, and for the async ones the backend they run under.
NON_ROBUST = [
    pytest.param(("send", None), id="send"),
    pytest.param(("asend", "asyncio"), id="asend-asyncio"),
    pytest.param(("asend", "trio"), id="asend-trio"),
]
ROBUST = [
    pytest.param(("send_robust", None), id="send_robust"),
    pytest.param(("asend_robust", "asyncio"), id="asend_robust-asyncio"),
    pytest.param(("asend_robust", "trio"), id="asend_robust-trio"),
]


class Interrupt(BaseException):
    """A BaseException that is not an Exception, and that no event loop treats specially."""


def connect_three(
    layout: str, calls: list[Call], failure: BaseException
) -> tuple[eventbus.Signal, list[Receiver]]:
    signal = eventbus.Signal()
    receivers = [
        make_receiver(layout[0], "first", calls),
        make_receiver(layout[1], "second", calls, raises=failure),
        make_receiver(layout[2], "third", calls),
    ]
    for receiver in receivers:
        signal.connect(receiver, weak=False)
    return signal, receivers


def dispatch_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "django.dispatch"]


# -- non-robust sends ------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("how", NON_ROBUST)
def test_non_robust_send_raises_the_receivers_exception_unchanged(
    layout: str, how: tuple[str, str | None]
) -> None:
    calls: list[Call] = []
    failure = ValueError("second failed")
    signal, _ = connect_three(layout, calls, failure)

    with pytest.raises(ValueError, match="second failed") as exc_info:
        send_from_sync(signal, *how)

    assert exc_info.value is failure


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("how", NON_ROBUST)
def test_non_robust_send_stops_at_the_first_failing_receiver(
    layout: str, how: tuple[str, str | None]
) -> None:
    """The receivers before the failing one ran; the ones after it never run."""
    calls: list[Call] = []
    signal, _ = connect_three(layout, calls, ValueError("second failed"))

    with pytest.raises(ValueError, match="second failed"):
        send_from_sync(signal, *how)

    assert names(calls) == ["first", "second"]


@pytest.mark.parametrize("how", NON_ROBUST)
def test_non_robust_send_raises_the_first_failure_when_several_would_fail(
    how: tuple[str, str | None],
) -> None:
    calls: list[Call] = []
    first_failure = KeyError("first")
    signal = eventbus.Signal()
    receivers = [
        make_receiver("s", "ok", calls),
        make_receiver("a", "bad1", calls, raises=first_failure),
        make_receiver("s", "bad2", calls, raises=RuntimeError("second")),
    ]
    for priority, receiver in zip((3, 2, 1), receivers, strict=True):
        signal.connect(receiver, weak=False, priority=priority)

    with pytest.raises(KeyError) as exc_info:
        send_from_sync(signal, *how)

    assert exc_info.value is first_failure
    assert names(calls) == ["ok", "bad1"]


# -- robust sends ----------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("how", ROBUST)
def test_robust_send_runs_every_receiver_and_returns_the_exception_in_place(
    layout: str, how: tuple[str, str | None]
) -> None:
    calls: list[Call] = []
    failure = ValueError("second failed")
    signal, (first, second, third) = connect_three(layout, calls, failure)

    result = send_from_sync(signal, *how)

    assert names(calls) == ["first", "second", "third"]
    assert result == [(first, "first"), (second, failure), (third, "third")]
    assert result[1][1] is failure


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("how", ROBUST)
def test_robust_send_logs_each_failure_with_exc_info(
    layout: str,
    how: tuple[str, str | None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[Call] = []
    failure = ValueError("second failed")
    signal, _ = connect_three(layout, calls, failure)
    caplog.set_level(logging.ERROR, logger="django.dispatch")

    send_from_sync(signal, *how)

    (record,) = dispatch_records(caplog)
    assert record.levelno == logging.ERROR
    assert record.msg == "Error calling %s in Signal.send_robust() (%s)"
    assert "receiver_second" in record.getMessage()
    assert "second failed" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[1] is failure


@pytest.mark.parametrize("how", ROBUST)
def test_robust_send_logs_every_failure_in_call_order(
    how: tuple[str, str | None], caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[Call] = []
    failures = [ValueError("a"), TypeError("b"), LookupError("c")]
    signal = eventbus.Signal()
    receivers = [
        make_receiver("a", "one", calls, raises=failures[0]),
        make_receiver("s", "two", calls, raises=failures[1]),
        make_receiver("s", "ok", calls),
        make_receiver("a", "three", calls, raises=failures[2]),
    ]
    for receiver in receivers:
        signal.connect(receiver, weak=False)
    caplog.set_level(logging.ERROR, logger="django.dispatch")

    result = send_from_sync(signal, *how)

    assert [response for _, response in result] == [*failures[:2], "ok", failures[2]]
    records = dispatch_records(caplog)
    assert [r.exc_info[1] if r.exc_info else None for r in records] == failures
    assert ["receiver_one" in r.getMessage() for r in records] == [True, False, False]
    assert ["receiver_two" in r.getMessage() for r in records] == [False, True, False]
    assert ["receiver_three" in r.getMessage() for r in records] == [False, False, True]


def test_send_robust_does_not_swallow_keyboard_interrupt() -> None:
    calls: list[Call] = []
    interrupt = KeyboardInterrupt()
    signal, _ = connect_three("sss", calls, interrupt)

    with pytest.raises(KeyboardInterrupt) as exc_info:
        signal.send_robust(sender=None)

    assert exc_info.value is interrupt
    assert names(calls) == ["first", "second"]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("how", ROBUST)
def test_robust_send_does_not_swallow_base_exceptions(
    layout: str,
    how: tuple[str, str | None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[Call] = []
    interrupt = Interrupt("stop")
    signal, _ = connect_three(layout, calls, interrupt)
    caplog.set_level(logging.ERROR, logger="django.dispatch")

    with pytest.raises(Interrupt) as exc_info:
        send_from_sync(signal, *how)

    assert exc_info.value is interrupt
    assert names(calls) == ["first", "second"]
    assert dispatch_records(caplog) == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", NON_ROBUST + ROBUST)
def test_base_exception_from_a_concurrent_tier_propagates_unchanged(
    kind: str, how: tuple[str, str | None]
) -> None:
    """Not wrapped in a BaseExceptionGroup, so ``except KeyboardInterrupt`` keeps working."""
    calls: list[Call] = []
    interrupt = Interrupt("stop")
    signal = eventbus.Signal(concurrent=True)
    signal.connect(make_receiver("a", "peer", calls), weak=False, priority=1)
    signal.connect(make_receiver(kind, "failing", calls, raises=interrupt), weak=False, priority=1)
    signal.connect(make_receiver("s", "later", calls), weak=False)

    with pytest.raises(Interrupt) as exc_info:
        send_from_sync(signal, *how)

    assert exc_info.value is interrupt
    assert "later" not in names(calls)


# -- cancellation ----------------------------------------------------------------------------


def other_asyncio_tasks() -> set[asyncio.Task[Any]]:
    """The asyncio tasks alive now, apart from the current one."""
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current}


@pytest.mark.anyio
@pytest.mark.parametrize("method", ASYNC_METHODS)
@pytest.mark.parametrize("before", KINDS)
@pytest.mark.parametrize("after", KINDS)
async def test_cancelling_asend_cancels_the_awaiting_async_receiver(
    anyio_backend: str, method: str, before: str, after: str
) -> None:
    """Its code after the await never runs, later receivers never run, no task is orphaned."""
    calls: list[Call] = []
    started = anyio.Event()
    cancelled_exc = anyio.get_cancelled_exc_class()

    async def waiting(sender: object, **kwargs: object) -> str:
        calls.append(Call.now("waiting", sender, **kwargs))
        started.set()
        try:
            await anyio.sleep_forever()
        except cancelled_exc:
            calls.append(Call.now("waiting saw the cancellation"))
            raise
        calls.append(Call.now("waiting resumed"))
        return "waiting"

    signal = eventbus.Signal()
    signal.connect(make_receiver(before, "before", calls), weak=False)
    signal.connect(waiting, weak=False)
    signal.connect(make_receiver(after, "after", calls), weak=False)
    tasks_before = other_asyncio_tasks() if anyio_backend == "asyncio" else set()
    results: list[object] = []

    async with anyio.create_task_group() as group:

        async def send() -> None:
            results.append(await getattr(signal, method)(sender=None))

        group.start_soon(send)
        await started.wait()
        group.cancel_scope.cancel()

    assert group.cancel_scope.cancelled_caught
    assert results == []
    assert names(calls) == ["before", "waiting", "waiting saw the cancellation"]
    if anyio_backend == "asyncio":
        assert other_asyncio_tasks() == tasks_before


@pytest.mark.anyio
@pytest.mark.parametrize("method", ASYNC_METHODS)
async def test_move_on_after_around_asend_cancels_the_awaiting_receiver(
    anyio_backend: str, method: str
) -> None:
    calls: list[Call] = []
    cancelled_exc = anyio.get_cancelled_exc_class()

    async def waiting(sender: object, **kwargs: object) -> str:
        calls.append(Call.now("waiting", sender, **kwargs))
        try:
            await anyio.sleep_forever()
        except cancelled_exc:
            calls.append(Call.now("waiting saw the cancellation"))
            raise
        calls.append(Call.now("waiting resumed"))
        return "waiting"

    signal = eventbus.Signal()
    signal.connect(waiting, weak=False, priority=1)
    signal.connect(make_receiver("a", "after", calls), weak=False)
    tasks_before = other_asyncio_tasks() if anyio_backend == "asyncio" else set()

    with anyio.move_on_after(0.01) as scope:
        await getattr(signal, method)(sender=None)

    assert scope.cancelled_caught
    assert names(calls) == ["waiting", "waiting saw the cancellation"]
    if anyio_backend == "asyncio":
        assert other_asyncio_tasks() == tasks_before


@pytest.mark.anyio
async def test_cancelling_a_concurrent_tier_cancels_all_of_it_and_skips_later_tiers(
    anyio_backend: str,
) -> None:
    calls: list[Call] = []
    started = [anyio.Event(), anyio.Event()]
    cancelled_exc = anyio.get_cancelled_exc_class()

    def make_waiting(index: int) -> Receiver:
        async def waiting(sender: object, **kwargs: object) -> str:
            started[index].set()
            try:
                await anyio.sleep_forever()
            except cancelled_exc:
                calls.append(Call.now(f"waiting{index} saw the cancellation"))
                raise
            calls.append(Call.now(f"waiting{index} resumed"))
            return "waiting"

        return waiting

    signal = eventbus.Signal(concurrent=True)
    signal.connect(make_waiting(0), weak=False, priority=5)
    signal.connect(make_waiting(1), weak=False, priority=5)
    signal.connect(make_receiver("a", "later", calls), weak=False)
    signal.connect(make_receiver("s", "later_sync", calls), weak=False)
    tasks_before = other_asyncio_tasks() if anyio_backend == "asyncio" else set()

    async with anyio.create_task_group() as group:
        group.start_soon(signal.asend, None)
        for event in started:
            await event.wait()
        group.cancel_scope.cancel()

    assert sorted(names(calls)) == [
        "waiting0 saw the cancellation",
        "waiting1 saw the cancellation",
    ]
    if anyio_backend == "asyncio":
        assert other_asyncio_tasks() == tasks_before


@pytest.mark.anyio
@pytest.mark.parametrize("method", ASYNC_METHODS)
async def test_cancelling_asend_during_a_sync_hop_lets_the_running_receiver_finish_only(
    anyio_backend: str, method: str
) -> None:
    """A thread cannot be interrupted: the running sync receiver finishes, the next never starts."""
    started = threading.Event()
    release = threading.Event()
    first_finished = threading.Event()
    second_ran = threading.Event()

    def first(sender: object, **kwargs: object) -> str:
        started.set()
        release.wait(5)
        first_finished.set()
        return "first"

    def second(sender: object, **kwargs: object) -> str:
        second_ran.set()
        return "second"

    signal = eventbus.Signal()
    signal.connect(first, weak=False)
    signal.connect(second, weak=False)
    results: list[object] = []
    scope = anyio.CancelScope()
    tasks_before = other_asyncio_tasks() if anyio_backend == "asyncio" else set()

    async def send() -> None:
        with scope:
            results.append(await getattr(signal, method)(sender=None))

    async with anyio.create_task_group() as group:
        group.start_soon(send)
        assert await anyio.to_thread.run_sync(started.wait, 5)
        scope.cancel()
        # Let the cancellation reach asend() before the thread may go on.
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
        release.set()

    assert await anyio.to_thread.run_sync(first_finished.wait, 5)
    assert not second_ran.wait(0.5)
    assert results == []
    assert scope.cancelled_caught
    if anyio_backend == "asyncio":
        assert other_asyncio_tasks() == tasks_before
