"""asend() from async code: async receivers on the calling task, one thread hop per sync run."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest
import sniffio
from asgiref.sync import sync_to_async

from eventbus import Signal
from tests.helpers import (
    ASYNC_METHODS,
    Call,
    Results,
    connect_layout,
    layout_names,
    names,
    send_from_async,
)

pytestmark = pytest.mark.anyio


def sync_runs(layout: str) -> list[list[int]]:
    """Indexes of each contiguous run of sync receivers in ``layout``."""
    runs: list[list[int]] = []
    previous = ""
    for index, kind in enumerate(layout):
        if kind == "s":
            if previous == "s":
                runs[-1].append(index)
            else:
                runs.append([index])
        previous = kind
    return runs


@pytest.mark.parametrize("method", ASYNC_METHODS)
@pytest.mark.parametrize("layout", ["a", "aaa", "asa", "saas"])
async def test_async_receivers_are_awaited_in_order_on_the_calling_task(
    method: str, layout: str
) -> None:
    signal = Signal()
    calls: list[Call] = []
    receivers = connect_layout(signal, layout, calls)

    results = await send_from_async(signal, method, value=1)

    assert names(calls) == layout_names(layout)
    assert results == list(zip(receivers, layout_names(layout), strict=True))
    assert [c.kwargs for c in calls] == [{"value": 1}] * len(layout)
    this_task = anyio.get_current_task().id
    assert [c.task for c in calls if c.name.startswith("a")] == [this_task] * layout.count("a")
    assert {c.thread for c in calls if c.name.startswith("a")} == {threading.current_thread()}


@pytest.mark.parametrize("method", ASYNC_METHODS)
@pytest.mark.parametrize(
    ("layout", "hops"),
    [
        ("aaa", 0),
        ("s", 1),
        ("sss", 1),
        ("ssa", 1),
        ("assa", 1),
        ("saas", 2),
        ("asas", 2),
        ("ssassas", 3),
    ],
)
async def test_each_contiguous_run_of_sync_receivers_is_one_thread_hop(
    method: str, layout: str, hops: int, thread_hops: list[Callable[[], Any]]
) -> None:
    signal = Signal()
    calls: list[Call] = []
    receivers = connect_layout(signal, layout, calls)

    results = await send_from_async(signal, method)

    assert len(thread_hops) == hops
    assert [r for r, _ in results] == receivers
    assert names(calls) == layout_names(layout)


@pytest.mark.parametrize("method", ASYNC_METHODS)
@pytest.mark.parametrize("layout", ["s", "sss", "ssass", "assas"])
async def test_sync_receivers_run_off_the_event_loop_thread_one_thread_per_run(
    method: str, layout: str
) -> None:
    signal = Signal()
    calls: list[Call] = []
    connect_layout(signal, layout, calls)

    await send_from_async(signal, method)

    threads = [c.thread for c in calls]
    for run in sync_runs(layout):
        run_threads = {threads[index] for index in run}
        assert len(run_threads) == 1
        assert threading.current_thread() not in run_threads


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("method", ASYNC_METHODS)
async def test_under_asyncio_sync_receivers_run_in_asgiref_thread_sensitive_thread(
    method: str,
) -> None:
    """Two separate sync runs use the thread ``sync_to_async(thread_sensitive=True)`` uses."""
    signal = Signal()
    calls: list[Call] = []
    connect_layout(signal, "ssass", calls)

    await send_from_async(signal, method)
    thread_sensitive = await sync_to_async(threading.current_thread, thread_sensitive=True)()

    assert names(calls) == layout_names("ssass")
    assert {c.thread for c in calls if c.name.startswith("s")} == {thread_sensitive}
    assert thread_sensitive != threading.current_thread()


# -- context variables ----------------------------------------------------------------


@pytest.mark.parametrize("method", ASYNC_METHODS)
@pytest.mark.parametrize("kind", ["s", "a"])
async def test_receivers_see_context_variables_set_by_the_caller(method: str, kind: str) -> None:
    request_id: ContextVar[str] = ContextVar("request_id", default="unset")
    seen: list[str] = []

    def sync_receiver(sender: object, **kwargs: object) -> None:
        seen.append(request_id.get())

    async def async_receiver(sender: object, **kwargs: object) -> None:
        seen.append(request_id.get())

    signal = Signal()
    signal.connect(sync_receiver if kind == "s" else async_receiver, weak=False)
    request_id.set("req-42")

    await send_from_async(signal, method)

    assert seen == ["req-42"]


@pytest.mark.parametrize("method", ASYNC_METHODS)
async def test_a_context_change_made_by_a_sync_receiver_reaches_later_receivers_and_caller(
    method: str,
) -> None:
    request_id: ContextVar[str] = ContextVar("request_id", default="unset")
    seen: list[str] = []

    def tag(sender: object, **kwargs: object) -> None:
        seen.append(request_id.get())
        request_id.set("set-by-sync")

    async def read_async(sender: object, **kwargs: object) -> None:
        seen.append(request_id.get())

    def read_sync(sender: object, **kwargs: object) -> None:
        seen.append(request_id.get())

    signal = Signal()
    signal.connect(tag, weak=False, priority=2)
    signal.connect(read_async, weak=False, priority=1)
    signal.connect(read_sync, weak=False, priority=0)
    request_id.set("from-caller")

    await send_from_async(signal, method)

    assert seen == ["from-caller", "set-by-sync", "set-by-sync"]
    assert request_id.get() == "set-by-sync"


# -- same results as send() -------------------------------------------------------------


@pytest.mark.parametrize("method", ASYNC_METHODS)
@pytest.mark.parametrize("layout", ["sss", "aaa", "sasa", "aass", "assa"])
async def test_asend_returns_the_same_results_as_send(method: str, layout: str) -> None:
    signal = Signal()
    calls: list[Call] = []
    receivers = connect_layout(signal, layout, calls)
    sender = object()

    from_send = await anyio.to_thread.run_sync(functools.partial(signal.send, sender, value=7))
    from_asend = await send_from_async(signal, method, sender, value=7)

    assert from_asend == from_send
    assert from_asend == list(zip(receivers, layout_names(layout), strict=True))
    assert names(calls) == layout_names(layout) * 2
    assert [c.kwargs for c in calls] == [{"value": 7}] * len(layout) * 2


# -- send() nested in a sync receiver of asend() -----------------------------------------


async def test_a_nested_send_runs_its_async_receivers_on_the_callers_own_loop(
    anyio_backend: str,
) -> None:
    """A sync receiver runs in a worker thread; its send() of another signal goes back to
    the loop awaiting asend() (trio included), not to a fresh asyncio loop."""
    outer, inner = Signal(), Signal()
    loop_thread = threading.get_ident()
    seen: list[tuple[str, int]] = []

    async def inner_async(sender: object, **kwargs: object) -> str:
        await anyio.lowlevel.checkpoint()  # a real await of the running backend
        seen.append((sniffio.current_async_library(), threading.get_ident()))
        return "inner"

    def inner_sync(sender: object, **kwargs: object) -> int:
        return threading.get_ident()

    def outer_sync(sender: object, **kwargs: object) -> Results:
        return inner.send(None)

    inner.connect(inner_sync, weak=False, priority=2)
    inner.connect(inner_async, weak=False, priority=1)
    inner.connect(inner_sync, weak=False, dispatch_uid="after")
    outer.connect(outer_sync, weak=False)

    [(_, nested)] = await outer.asend(None)

    worker = nested[0][1]
    assert worker != loop_thread
    assert [response for _, response in nested] == [worker, "inner", worker]
    assert seen == [(anyio_backend, loop_thread)]
