"""The live feed: receiver runs and stock changes, pushed over Server-Sent Events from
``GET /events/``, from remote subscriptions.

The test process is the whole shop (no ``EVENTBUS["TRANSPORT"]``): the feed gets what
the process published back from its listener, after the commit, as from another process.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import anyio
import pytest
from asgiref.sync import sync_to_async

from eventbus import Event, Subscription
from eventbus.signals import post_save
from example_asgi.shop import sse
from example_asgi.shop.models import Order, Product
from example_asgi.shop.signals import ReceiverRun, order_placed, receiver_ran

from .conftest import TIMEOUT, Catalogue, EventStream, Shop, asettle, wait_until

pytestmark = pytest.mark.asyncio

#: What one successful order runs where it is placed, in order:
#: (signal, receiver, priority, kind, thread).
EXPECTED_RUNS = [
    ("post_save", "log_saved_order", 0, "sync", "worker"),
    ("order_placed", "reserve_stock", 100, "sync", "worker"),
    ("order_placed", "notify_warehouse", 50, "async", "loop"),
    ("order_placed", "record_sale", 20, "sync", "worker"),
    ("order_placed", "send_confirmation", 10, "after-commit", "worker"),
]
#: What it runs in every process of the shop, once record_sale's save of the product arrived.
BROADCAST_RUN = ("post_save", "drop_cached_products", 0, "broadcast", "worker")

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
    "pid",
}


def summary(runs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["signal"], r["receiver"], r["priority"], r["kind"], r["thread"]) for r in runs]


def local(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs of the receivers that ran where the order was placed (not broadcast ones)."""
    return [run for run in runs if run["kind"] != "broadcast"]


def broadcast(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [run for run in runs if run["kind"] == "broadcast"]


def remote_subscriptions() -> list[Subscription]:
    return [s for s in (*receiver_ran.subscriptions, *post_save.subscriptions) if s.remote]


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


async def test_the_stream_holds_remote_subscriptions_while_it_is_open() -> None:
    async with EventStream() as stream:
        await stream.open()
        subscriptions = remote_subscriptions()

        assert [s.signal for s in subscriptions] == [receiver_ran, post_save]
        assert subscriptions[1].sender is Product
    assert remote_subscriptions() == []


@pytest.mark.django_db(transaction=True)
async def test_an_order_streams_every_receiver_run_in_execution_order(
    catalogue: Catalogue, shop: Shop
) -> None:
    async with EventStream() as stream:
        await stream.open()
        reply = await shop.order(catalogue.beans.pk, 2)
        assert reply.status == 201
        runs = await stream.receiver_runs(len(EXPECTED_RUNS) + 1)

    order = reply.json()["order"]
    placed = local(runs)
    assert summary(placed) == EXPECTED_RUNS
    assert all(set(run) == FEED_FIELDS for run in runs)
    assert {run["order"] for run in placed} == {order}
    assert {run["pid"] for run in runs} == {os.getpid()}
    assert [run["seq"] for run in placed] == sorted(run["seq"] for run in placed)
    assert all(run["error"] is None and run["duration_ms"] >= 0 for run in runs)
    # The sync receivers and the commit all ran on the request's one worker thread,
    # the async receiver on the event loop's.
    worker_threads = {run["thread_name"] for run in placed if run["thread"] == "worker"}
    assert len(worker_threads) == 1
    assert placed[2]["thread_name"] not in worker_threads
    assert placed[2]["duration_ms"] >= 40  # notify_warehouse awaits 50 ms


@pytest.mark.django_db(transaction=True)
async def test_every_process_drops_its_cached_products_once_the_order_committed(
    catalogue: Catalogue, shop: Shop
) -> None:
    """Here one process: its broadcast receiver runs once, after the order's local receivers."""
    async with EventStream() as stream:
        await stream.open()
        reply = await shop.order(catalogue.beans.pk, 1)
        runs = await stream.receiver_runs(len(EXPECTED_RUNS) + 1)

    assert reply.status == 201
    [dropped] = broadcast(runs)
    assert summary([dropped]) == [BROADCAST_RUN]
    assert dropped["order"] is None
    assert dropped["pid"] == os.getpid()
    # It ran on the listener's side, after the commit: after the order's save of the product.
    record_sale = next(run for run in runs if run["receiver"] == "record_sale")
    assert dropped["at"] >= record_sale["at"]


@pytest.mark.django_db(transaction=True)
async def test_an_order_streams_the_new_stock_of_its_product(
    catalogue: Catalogue, shop: Shop
) -> None:
    async with EventStream() as stream:
        await stream.open()
        reply = await shop.order(catalogue.beans.pk, 3)
        # record_sale saves the product before it reports its own run.
        await stream.receiver_runs(len(EXPECTED_RUNS))

    assert reply.status == 201
    assert [m.json() for m in stream.skipped if m.event == "stock"] == [
        {"id": catalogue.beans.pk, "name": "Espresso beans", "stock": 9, "sold": 3}
    ]


@pytest.mark.django_db(transaction=True)
async def test_a_product_saved_anywhere_streams_its_stock(catalogue: Catalogue) -> None:
    """Not only orders: any save of a product, as from a management command or another process."""

    def restock() -> None:
        catalogue.grinder.stock = 20
        catalogue.grinder.save()

    async with EventStream() as stream:
        await stream.open()
        await sync_to_async(restock)()
        [stock] = await stream.events("stock", 1)

    assert stock == {"id": catalogue.grinder.pk, "name": "Hand grinder", "stock": 20, "sold": 0}


@pytest.mark.django_db(transaction=True)
async def test_a_rolled_back_order_sends_nothing_to_the_stream(
    catalogue: Catalogue, shop: Shop
) -> None:
    """Its runs are reported in its transaction: they go on the wire only if it commits."""

    def sell_out(sender: object, order: Order, **kwargs: object) -> None:
        Product.objects.filter(pk=order.product_id).update(stock=0)

    async with EventStream() as stream:
        await stream.open()
        with order_placed.connected_to(sell_out, priority=200):
            refused = await shop.order(catalogue.beans.pk, 1)
        placed = await shop.order(catalogue.grinder.pk, 1)
        runs = await stream.receiver_runs(len(EXPECTED_RUNS))

    assert (refused.status, placed.status) == (400, 201)
    assert {run["order"] for run in local(runs)} == {placed.json()["order"]}
    # The grinder's new stock; the beans' never changed.
    assert [m.json()["id"] for m in stream.skipped if m.event == "stock"] == [catalogue.grinder.pk]


@pytest.mark.django_db(transaction=True)
async def test_a_subscription_in_the_test_sees_the_same_runs_as_the_stream(
    catalogue: Catalogue, shop: Shop
) -> None:
    """A local subscription: the sends of this process, as they happen."""
    async with receiver_ran.subscribe() as events:
        reply = await shop.order(catalogue.grinder.pk, 1)
        assert reply.status == 201
        # Every run of the order has been delivered by the time the response is sent:
        # after-commit receivers run at the commit, before the view returns.
        assert events.pending >= len(EXPECTED_RUNS)
        await asettle()  # and the broadcast receiver's, once the listener handled the save
        received = [await anext(events) for _ in range(events.pending)]

    runs = [event.kwargs["run"] for event in received]
    assert all(isinstance(run, ReceiverRun) for run in runs)
    assert summary(local([run.as_json() for run in runs])) == EXPECTED_RUNS
    assert summary(broadcast([run.as_json() for run in runs])) == [BROADCAST_RUN]
    assert [event.sender for event in received] == [run.signal for run in runs]


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


async def test_the_subscriptions_are_gone_once_the_client_disconnects() -> None:
    stream = EventStream()
    await stream.open()
    assert len(remote_subscriptions()) == 2

    await stream.disconnect()
    await asyncio.sleep(0.05)

    assert stream.communicator.future.done()
    assert remote_subscriptions() == []


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
    """A run sent while the stream waits comes out, keep-alive timer or not."""
    messages = sse.feed_stream(keepalive=0.001)
    try:
        await anext(messages)
        await anext(messages)  # a keep-alive: the timer expired once already
        await receiver_ran.asend(sender="order_placed", run=make_run(seq=7))
        with anyio.fail_after(TIMEOUT):
            while (message := await anext(messages)) == ": keep-alive\n\n":
                pass
        assert message == sse.format_event(
            Event(receiver_ran, "order_placed", {"run": make_run(seq=7)})
        )
    finally:
        await messages.aclose()


async def test_a_run_travels_whole_and_arrives_as_a_receiver_run() -> None:
    async with receiver_ran.subscribe(remote=True) as events:
        await receiver_ran.asend(sender="order_placed", run=make_run(seq=8))
        with anyio.fail_after(TIMEOUT):
            event = await anext(events)

    assert event.sender == "order_placed"
    assert event.kwargs == {"run": make_run(seq=8)}


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
            await receiver_ran.asend(sender="order_placed", run=make_run(seq=seq))
        # All five arrive while the client reads nothing.
        [runs] = [s for s in receiver_ran.subscriptions if s.remote]
        await wait_until(lambda: runs.dropped == 3, lambda: f"{runs!r}, expected 3 dropped")
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
        pid=4242,
    )
