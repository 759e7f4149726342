"""send() from sync code: sync receivers inline, one event-loop entry per run of async ones."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async

import eventbus
from eventbus import AsyncSendError, Signal, _hops, _walkers

Receiver = Callable[..., Any]
Results = list[tuple[Receiver, Any]]

SYNC_METHODS = ["send", "send_robust"]


class Call:
    """What one receiver saw when it ran."""

    def __init__(self, name: str, thread: int, loop: asyncio.AbstractEventLoop | None) -> None:
        self.name = name
        self.thread = thread
        self.loop = loop


def make_receiver(kind: str, name: str, calls: list[Call]) -> Receiver:
    """A sync ("s") or async ("a") receiver that records its thread and running loop."""
    if kind == "s":

        def sync_receiver(sender: object, **kwargs: object) -> str:
            calls.append(Call(name, threading.get_ident(), None))
            return name

        return sync_receiver

    async def async_receiver(sender: object, **kwargs: object) -> str:
        calls.append(Call(name, threading.get_ident(), asyncio.get_running_loop()))
        return name

    return async_receiver


def connect_layout(signal: Signal, layout: str, calls: list[Call]) -> list[Receiver]:
    """Connect one receiver per letter of ``layout``, with descending priorities."""
    receivers = [make_receiver(kind, f"{kind}{i}", calls) for i, kind in enumerate(layout)]
    for position, receiver in enumerate(receivers):
        signal.connect(receiver, weak=False, priority=len(receivers) - position)
    return receivers


def names(layout: str) -> list[str]:
    """The names ``connect_layout`` gives, which are also the call order."""
    return [f"{kind}{i}" for i, kind in enumerate(layout)]


def expected_results(receivers: list[Receiver], layout: str) -> Results:
    return list(zip(receivers, names(layout), strict=True))


def send(signal: Signal, method: str, sender: object = None) -> Results:
    if method == "send":
        return signal.send(sender)
    return signal.send_robust(sender)


def async_runs(layout: str) -> list[list[int]]:
    """Indexes of each contiguous run of async receivers in ``layout``."""
    runs: list[list[int]] = []
    previous = ""
    for index, kind in enumerate(layout):
        if kind == "a":
            if previous == "a":
                runs[-1].append(index)
            else:
                runs.append([index])
        previous = kind
    return runs


@pytest.fixture
def loop_entries(monkeypatch: pytest.MonkeyPatch) -> list[Callable[..., Any]]:
    """The coroutine functions passed to ``async_to_sync`` by eventbus's send, in order."""
    entries: list[Callable[..., Any]] = []

    def counting_async_to_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        entries.append(func)
        return async_to_sync(func, *args, **kwargs)

    monkeypatch.setattr(_hops, "async_to_sync", counting_async_to_sync)
    return entries


@pytest.fixture
def hops_back(monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], Any]]:
    """The runs of sync receivers handed back to the calling thread from the event loop."""
    hops: list[Callable[[], Any]] = []
    real = _hops.to_thread

    async def counting_to_thread(func: Callable[[], Any]) -> Any:
        hops.append(func)
        return await real(func)

    monkeypatch.setattr(_walkers, "to_thread", counting_to_thread)
    return hops


def sync_runs_between_async(layout: str) -> int:
    """How many runs of sync receivers lie between two async receivers of ``layout``."""
    inner = layout.strip("s")
    return len([run for run in inner.split("a") if run])


@pytest.mark.parametrize("method", SYNC_METHODS)
@pytest.mark.parametrize(
    ("layout", "entries", "hops"),
    [
        ("sss", 0, 0),
        ("a", 1, 0),
        ("aaa", 1, 0),
        ("saas", 1, 0),
        ("asas", 1, 1),
        ("assa", 1, 1),
        ("aasaasa", 1, 2),
        ("sasasasas", 1, 3),
    ],
)
def test_a_send_enters_the_event_loop_once_and_hands_sync_runs_back_to_its_thread(
    method: str,
    layout: str,
    entries: int,
    hops: int,
    loop_entries: list[Callable[..., Any]],
    hops_back: list[Callable[[], Any]],
) -> None:
    """Sync receivers before the first async one and after the last run inline, the rest
    in one event-loop entry that hands each sync run between async ones back to this thread."""
    signal = Signal()
    calls: list[Call] = []
    receivers = connect_layout(signal, layout, calls)

    results = send(signal, method)

    assert len(loop_entries) == entries
    assert len(hops_back) == hops == sync_runs_between_async(layout)
    assert [r for r, _ in results] == receivers
    assert [c.name for c in calls] == names(layout)
    assert {c.thread for c in calls if c.loop is None} <= {threading.get_ident()}


@pytest.mark.parametrize("method", SYNC_METHODS)
@pytest.mark.parametrize("layout", ["aaa", "saas", "aasaa", "asaaas"])
def test_the_async_receivers_of_one_send_share_one_running_loop(method: str, layout: str) -> None:
    signal = Signal()
    calls: list[Call] = []
    connect_layout(signal, layout, calls)

    send(signal, method)

    loops = [c.loop for c in calls if c.name.startswith("a")]
    assert loops[0] is not None
    assert all(loop is loops[0] for loop in loops)


# -- send() on a thread that runs an event loop -------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("method", SYNC_METHODS)
@pytest.mark.parametrize("layout", ["a", "sa", "sas", "as"])
async def test_send_inside_an_event_loop_with_async_receivers_raises(
    method: str, layout: str
) -> None:
    """Nothing runs, not even the sync receivers before the first async one."""
    signal = Signal(name="order_placed")
    calls: list[Call] = []
    connect_layout(signal, layout, calls)

    with pytest.raises(AsyncSendError, match=r"await signal\.asend\(") as excinfo:
        send(signal, method)

    assert isinstance(excinfo.value, RuntimeError)
    assert isinstance(excinfo.value, eventbus.EventbusError)
    assert calls == []


@pytest.mark.anyio
@pytest.mark.parametrize("method", SYNC_METHODS)
async def test_send_inside_an_event_loop_with_only_sync_receivers_runs_them(method: str) -> None:
    signal = Signal()
    calls: list[Call] = []
    receivers = connect_layout(signal, "sss", calls)

    results = send(signal, method)

    assert results == [(receivers[0], "s0"), (receivers[1], "s1"), (receivers[2], "s2")]
    assert [(c.name, c.thread) for c in calls] == [
        ("s0", threading.get_ident()),
        ("s1", threading.get_ident()),
        ("s2", threading.get_ident()),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("method", SYNC_METHODS)
async def test_send_inside_an_event_loop_ignores_async_receivers_of_other_senders(
    method: str,
) -> None:
    """Only receivers the send would call count: an async one for another sender does not."""
    signal = Signal()
    calls: list[Call] = []
    other_sender = object()
    handler = make_receiver("s", "s0", calls)
    elsewhere = make_receiver("a", "a1", calls)
    signal.connect(handler, weak=False)
    signal.connect(elsewhere, sender=other_sender, weak=False)

    assert send(signal, method) == [(handler, "s0")]
    assert [c.name for c in calls] == ["s0"]


# -- send() from a sync_to_async thread ---------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("thread_sensitive", [True, False])
@pytest.mark.parametrize("method", SYNC_METHODS)
@pytest.mark.parametrize("layout", ["a", "saas", "asa"])
async def test_send_from_a_sync_to_async_thread_runs_async_receivers_on_the_outer_loop(
    method: str, layout: str, thread_sensitive: bool
) -> None:
    signal = Signal()
    calls: list[Call] = []
    receivers = connect_layout(signal, layout, calls)
    outer_loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()

    def work() -> tuple[int, Results]:
        return threading.get_ident(), send(signal, method)

    worker_thread, results = await sync_to_async(work, thread_sensitive=thread_sensitive)()

    assert worker_thread != loop_thread
    assert results == expected_results(receivers, layout)
    assert [c.name for c in calls] == names(layout)
    assert all(c.loop is outer_loop for c in calls if c.name.startswith("a"))
    assert all(c.thread == worker_thread for c in calls if c.name.startswith("s"))
