"""The live feed: traced receiver runs, pushed over Server-Sent Events from ``GET /events/``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eventbus import Event, Subscription
from example_asgi.shop import sse
from example_asgi.shop.models import Order, Product
from example_asgi.shop.signals import order_placed, receiver_ran
from example_asgi.shop.tracing import ReceiverRun

from .conftest import Catalogue, EventStream, Shop

pytestmark = pytest.mark.asyncio

#: What one successful order runs, in order: (signal, receiver, priority, kind, thread).
EXPECTED_RUNS = [
    ("post_save", "log_saved_order", 0, "sync", "worker"),
    ("order_placed", "reserve_stock", 100, "sync", "worker"),
    ("order_placed", "notify_warehouse", 50, "async", "loop"),
    ("order_placed", "record_sale", 20, "sync", "worker"),
    ("order_placed", "send_confirmation", 10, "after-commit", "worker"),
]

FEED_FIELDS = {
    "seq",
    "order",
    "signal",
    "receiver",
    "priority",
    "kind",
    "thread",
    "thread_name",
    "duration_ms",
    "at",
    "error",
}


def summary(runs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["signal"], r["receiver"], r["priority"], r["kind"], r["thread"]) for r in runs]


async def test_the_stream_opens_at_once_with_sse_headers_and_a_retry_line() -> None:
    async with EventStream() as stream:
        first = await stream.open()

        assert stream.status == 200
        assert stream.headers["content-type"] == "text/event-stream"
        assert stream.headers["cache-control"] == "no-cache"
        assert stream.headers["x-accel-buffering"] == "no"
        assert first.retry == sse.RETRY_MS
        assert first.comments == ["live feed of the shop's receivers"]
        assert first.data == ""


@pytest.mark.django_db(transaction=True)
async def test_an_order_streams_every_receiver_run_in_execution_order(
    catalogue: Catalogue, shop: Shop
) -> None:
    async with EventStream() as stream:
        await stream.open()
        reply = await shop.order(catalogue.beans.pk, 2)
        assert reply.status == 201
        runs = await stream.receiver_runs(len(EXPECTED_RUNS))

    order = reply.json()["order"]
    assert summary(runs) == EXPECTED_RUNS
    assert all(set(run) == FEED_FIELDS for run in runs)
    assert {run["order"] for run in runs} == {order}
    assert [run["seq"] for run in runs] == sorted(run["seq"] for run in runs)
    assert all(run["error"] is None and run["duration_ms"] >= 0 for run in runs)
    # The sync receivers and the commit all ran on the request's one worker thread,
    # the async receiver on the event loop's.
    worker_threads = {run["thread_name"] for run in runs if run["thread"] == "worker"}
    assert len(worker_threads) == 1
    assert runs[2]["thread_name"] not in worker_threads
    assert runs[2]["duration_ms"] >= 40  # notify_warehouse awaits 50 ms


@pytest.mark.django_db(transaction=True)
async def test_a_subscription_in_the_test_sees_the_same_runs_as_the_stream(
    catalogue: Catalogue, shop: Shop
) -> None:
    async with receiver_ran.subscribe() as events:
        reply = await shop.order(catalogue.grinder.pk, 1)
        assert reply.status == 201
        # Every run has been delivered by the time the response is sent:
        # after-commit receivers run at the commit, before the view returns.
        assert events.pending == len(EXPECTED_RUNS)
        received = [await anext(events) for _ in EXPECTED_RUNS]

    runs = [event.kwargs["run"] for event in received]
    assert all(isinstance(run, ReceiverRun) for run in runs)
    assert summary([run.as_json() for run in runs]) == EXPECTED_RUNS
    assert [event.sender.name for event in received] == [run.signal for run in runs]


@pytest.mark.django_db(transaction=True)
async def test_a_receiver_that_raises_is_reported_with_its_error_and_ends_the_feed(
    catalogue: Catalogue, shop: Shop
) -> None:
    """The stock vanishes before reserve_stock runs: it raises, and nothing after it runs."""

    def sell_out(sender: object, order: Order, **kwargs: object) -> None:
        Product.objects.filter(pk=order.product_id).update(stock=0)

    async with receiver_ran.subscribe() as events:
        with order_placed.connected_to(sell_out, priority=200):
            reply = await shop.order(catalogue.beans.pk, 1)
        runs = [(await anext(events)).kwargs["run"] for _ in range(events.pending)]

    assert reply.status == 400
    assert [(run.receiver, run.error is None) for run in runs] == [
        ("log_saved_order", True),
        ("reserve_stock", False),
    ]
    assert runs[1].error == (
        f"OutOfStock: Order #{runs[1].order}: the stock ran out while it was being placed."
    )


def open_subscriptions() -> tuple[Subscription, ...]:
    return receiver_ran.subscriptions


async def test_the_subscription_is_gone_once_the_client_disconnects() -> None:
    stream = EventStream()
    await stream.open()
    assert len(open_subscriptions()) == 1

    await stream.disconnect()
    await asyncio.sleep(0.05)

    assert stream.communicator.future.done()
    assert open_subscriptions() == ()


async def test_an_idle_stream_sends_keep_alive_comments() -> None:
    messages = sse.feed_stream(keepalive=0.01)
    try:
        assert (await anext(messages)).startswith("retry: ")
        assert await anext(messages) == ": keep-alive\n\n"
        assert await anext(messages) == ": keep-alive\n\n"
    finally:
        await messages.aclose()
    assert receiver_ran.subscriptions == ()


async def test_waiting_for_a_keep_alive_loses_no_run() -> None:
    """A run sent while the stream waits comes out next, keep-alive timer or not."""
    messages = sse.feed_stream(keepalive=0.01)
    try:
        await anext(messages)
        await anext(messages)  # a keep-alive: the timer expired once already
        receiver_ran.send(sender=order_placed, run=make_run(seq=7))
        assert await anext(messages) == sse.format_event(
            Event(receiver_ran, order_placed, {"run": make_run(seq=7)})
        )
    finally:
        await messages.aclose()


async def test_a_closed_subscription_ends_the_stream() -> None:
    """What the server does at shutdown: closing the subscriptions ends every stream."""
    messages = sse.feed_stream()
    await anext(messages)
    (subscription,) = receiver_ran.subscriptions
    subscription.close()
    with pytest.raises(StopAsyncIteration):
        await anext(messages)
    assert receiver_ran.subscriptions == ()


async def test_a_slow_client_is_told_how_many_runs_it_lost() -> None:
    messages = sse.feed_stream(maxsize=2)
    try:
        await anext(messages)
        for seq in range(5):
            receiver_ran.send(sender=order_placed, run=make_run(seq=seq))
        assert await anext(messages) == ": 3 event(s) dropped, the client is too slow\n\n"
        assert '"seq": 3' in await anext(messages)
    finally:
        await messages.aclose()


def make_run(seq: int) -> ReceiverRun:
    return ReceiverRun(
        seq=seq,
        order=1,
        signal="order_placed",
        receiver="reserve_stock",
        priority=100,
        kind="sync",
        thread="worker",
        thread_name="ThreadPoolExecutor-0_0",
        duration_ms=0.5,
        at="2026-01-01T00:00:00.000+00:00",
        error=None,
    )
