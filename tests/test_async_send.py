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

from eventbus import Signal, _hops, _walkers

pytestmark = pytest.mark.anyio

Receiver = Callable[..., Any]
Results = list[tuple[Receiver, Any]]

ASYNC_METHODS = ["asend", "asend_robust"]


class Call:
    """What one receiver saw when it ran."""

    def __init__(self, name: str, thread: int, task: int | None) -> None:
        self.name = name
        self.thread = thread
        self.task = task


def make_receiver(kind: str, name: str, calls: list[Call]) -> Receiver:
    """A sync ("s") or async ("a") receiver that records its thread (and task, if async)."""
    if kind == "s":

        def sync_receiver(sender: object, **kwargs: object) -> str:
            calls.append(Call(name, threading.get_ident(), None))
            return f"{name}:{kwargs.get('value')}"

        return sync_receiver

    async def async_receiver(sender: object, **kwargs: object) -> str:
        calls.append(Call(name, threading.get_ident(), anyio.get_current_task().id))
        return f"{name}:{kwargs.get('value')}"

    return async_receiver


def names(layout: str) -> list[str]:
    """The names ``connect_layout`` gives, which are also the call order."""
    return [f"{kind}{i}" for i, kind in enumerate(layout)]


def connect_layout(signal: Signal, layout: str, calls: list[Call]) -> list[Receiver]:
    """Connect one receiver per letter of ``layout``, with descending priorities."""
    receivers = [make_receiver(kind, f"{kind}{i}", calls) for i, kind in enumerate(layout)]
    for position, receiver in enumerate(receivers):
        signal.connect(receiver, weak=False, priority=len(receivers) - position)
    return receivers


async def asend(signal: Signal, method: str, sender: object = None, **named: object) -> Results:
    if method == "asend":
        return await signal.asend(sender, **named)
    return await signal.asend_robust(sender, **named)


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


@pytest.fixture
def thread_hops(monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], Any]]:
    """The callables eventbus's dispatch sends to a worker thread, one per hop."""
    hops: list[Callable[[], Any]] = []
    real = _hops.to_thread

    async def counting_to_thread(func: Callable[[], Any]) -> Any:
        hops.append(func)
        return await real(func)

    monkeypatch.setattr(_walkers, "to_thread", counting_to_thread)
    return hops


@pytest.mark.parametrize("method", ASYNC_METHODS)
@pytest.mark.parametrize("layout", ["a", "aaa", "asa", "saas"])
async def test_async_receivers_are_awaited_in_order_on_the_calling_task(
    method: str, layout: str
) -> None:
    signal = Signal()
    calls: list[Call] = []
    receivers = connect_layout(signal, layout, calls)

    results = await asend(signal, method, value=1)

    assert [c.name for c in calls] == names(layout)
    assert results == [(r, f"{n}:1") for r, n in zip(receivers, names(layout), strict=True)]
    this_task = anyio.get_current_task().id
    assert [c.task for c in calls if c.name.startswith("a")] == [this_task] * layout.count("a")
    assert {c.thread for c in calls if c.name.startswith("a")} == {threading.get_ident()}


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

    results = await asend(signal, method)

    assert len(thread_hops) == hops
    assert len(sync_runs(layout)) == hops
    assert [r for r, _ in results] == receivers
    assert [c.name for c in calls] == names(layout)


@pytest.mark.parametrize("method", ASYNC_METHODS)
@pytest.mark.parametrize("layout", ["s", "sss", "ssass", "assas"])
async def test_sync_receivers_run_off_the_event_loop_thread_one_thread_per_run(
    method: str, layout: str
) -> None:
    signal = Signal()
    calls: list[Call] = []
    connect_layout(signal, layout, calls)

    await asend(signal, method)

    threads = [c.thread for c in calls]
    for run in sync_runs(layout):
        run_threads = {threads[index] for index in run}
        assert len(run_threads) == 1
        assert threading.get_ident() not in run_threads


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("method", ASYNC_METHODS)
async def test_under_asyncio_sync_receivers_run_in_asgiref_thread_sensitive_thread(
    method: str,
) -> None:
    """Two separate sync runs use the thread ``sync_to_async(thread_sensitive=True)`` uses."""
    signal = Signal()
    calls: list[Call] = []
    connect_layout(signal, "ssass", calls)

    await asend(signal, method)
    thread_sensitive = await sync_to_async(threading.get_ident, thread_sensitive=True)()

    assert [c.name for c in calls] == names("ssass")
    assert {c.thread for c in calls if c.name.startswith("s")} == {thread_sensitive}
    assert thread_sensitive != threading.get_ident()


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

    await asend(signal, method)

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

    await asend(signal, method)

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
    from_asend = await asend(signal, method, sender, value=7)

    assert from_asend == from_send
    assert from_asend == [(r, f"{n}:7") for r, n in zip(receivers, names(layout), strict=True)]
    assert [c.name for c in calls] == names(layout) * 2


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
