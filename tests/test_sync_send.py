"""send() from sync code: sync receivers inline, one event-loop entry per run of async ones."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async

import eventbus
from eventbus import AsyncSendError, Signal
from tests.helpers import (
    SYNC_METHODS,
    Call,
    Receiver,
    Results,
    connect_layout,
    layout_names,
    make_receiver,
    names,
    send_from_sync,
)


def expected_results(receivers: list[Receiver], layout: str) -> Results:
    return list(zip(receivers, layout_names(layout), strict=True))


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
    thread_hops: list[Callable[[], Any]],
) -> None:
    """Sync receivers before the first async one and after the last run inline, the rest
    in one event-loop entry that hands each sync run between async ones back to this thread."""
    signal = Signal()
    calls: list[Call] = []
    receivers = connect_layout(signal, layout, calls)

    results = send_from_sync(signal, method)

    assert len(loop_entries) == entries
    assert len(thread_hops) == hops
    assert [r for r, _ in results] == receivers
    assert names(calls) == layout_names(layout)
    assert {c.thread for c in calls if c.name.startswith("s")} <= {threading.current_thread()}


@pytest.mark.parametrize("method", SYNC_METHODS)
@pytest.mark.parametrize("layout", ["aaa", "saas", "aasaa", "asaaas"])
def test_the_async_receivers_of_one_send_share_one_running_loop(method: str, layout: str) -> None:
    signal = Signal()
    calls: list[Call] = []
    connect_layout(signal, layout, calls)

    send_from_sync(signal, method)

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
        send_from_sync(signal, method)

    assert isinstance(excinfo.value, RuntimeError)
    assert isinstance(excinfo.value, eventbus.EventbusError)
    assert calls == []


@pytest.mark.anyio
@pytest.mark.parametrize("method", SYNC_METHODS)
async def test_send_inside_an_event_loop_with_only_sync_receivers_runs_them(method: str) -> None:
    signal = Signal()
    calls: list[Call] = []
    receivers = connect_layout(signal, "sss", calls)

    results = send_from_sync(signal, method)

    assert results == [(receivers[0], "s0"), (receivers[1], "s1"), (receivers[2], "s2")]
    assert [(c.name, c.thread) for c in calls] == [
        ("s0", threading.current_thread()),
        ("s1", threading.current_thread()),
        ("s2", threading.current_thread()),
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

    assert send_from_sync(signal, method) == [(handler, "s0")]
    assert names(calls) == ["s0"]


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
    loop_thread = threading.current_thread()

    def work() -> tuple[threading.Thread, Results]:
        return threading.current_thread(), send_from_sync(signal, method)

    worker_thread, results = await sync_to_async(work, thread_sensitive=thread_sensitive)()

    assert worker_thread != loop_thread
    assert results == expected_results(receivers, layout)
    assert names(calls) == layout_names(layout)
    assert all(c.loop is outer_loop for c in calls if c.name.startswith("a"))
    assert all(c.thread == worker_thread for c in calls if c.name.startswith("s"))
