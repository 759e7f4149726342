"""Subscriptions: ``async with signal.subscribe() as events: async for event in events``."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import weakref
from typing import Any

import anyio
import anyio.to_thread
import pytest
from asgiref.sync import sync_to_async
from django.db import connections

import eventbus
from eventbus import Event, Overflow, Signal, Subscription, SubscriptionOverflowError, signals
from tests.helpers import relayed_senders
from tests.testapp.models import Author, Tag

pytestmark = pytest.mark.anyio


async def take(events: Subscription, count: int) -> list[Event]:
    """The next ``count`` events, failing the test instead of hanging."""
    taken = []
    with anyio.fail_after(5):
        for _ in range(count):
            taken.append(await anext(events))
    return taken


async def drain(events: Subscription) -> list[Event]:
    """Every event until iteration ends."""
    with anyio.fail_after(5):
        return [event async for event in events]


def summary(events: list[Event]) -> list[tuple[Any, dict[str, Any]]]:
    return [(event.sender, dict(event.kwargs)) for event in events]


# -- what is delivered ------------------------------------------------------------------


async def test_every_kind_of_send_is_delivered_in_send_order() -> None:
    signal = Signal()
    async with signal.subscribe() as events:
        signal.send(sender="a", n=1)
        signal.send_robust(sender="b", n=2)
        await signal.asend(sender="c", n=3)
        await signal.asend_robust(sender="d", n=4)
        got = await take(events, 4)
    assert summary(got) == [("a", {"n": 1}), ("b", {"n": 2}), ("c", {"n": 3}), ("d", {"n": 4})]
    assert all(event.signal is signal for event in got)


async def test_event_is_frozen_and_its_kwargs_read_only() -> None:
    signal = Signal()
    async with signal.subscribe() as events:
        signal.send(sender=None, item=[1])
        (event,) = await take(events, 1)
    with pytest.raises(AttributeError):
        event.sender = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.kwargs["item"] = 2  # type: ignore[index]
    assert event == Event(signal, None, {"item": [1]})


async def test_subscriptions_are_not_receivers() -> None:
    """Sends return the same results; receivers and their order are untouched."""
    signal = Signal()

    def first(sender: object, **kwargs: object) -> str:
        return "first"

    async def second(sender: object, **kwargs: object) -> str:
        return "second"

    signal.connect(first, priority=1)
    signal.connect(second)
    async with signal.subscribe() as events:
        results = await signal.asend(sender=None)
        assert [response for _, response in results] == ["first", "second"]
        assert len(signal.receivers) == 2
        assert [info.name.rsplit(".", 1)[-1] for info in signal.receivers_for()] == [
            "first",
            "second",
        ]
        assert len(await take(events, 1)) == 1


async def test_the_event_arrives_when_the_send_starts_before_its_receivers_run() -> None:
    signal = Signal()
    seen: list[int] = []
    async with signal.subscribe() as events:

        def receiver(sender: object, **kwargs: object) -> None:
            seen.append(events.pending)

        signal.connect(receiver)
        signal.send(sender=None)
        assert seen == [1]


async def test_a_sender_filter_delivers_only_that_senders_sends() -> None:
    signal = Signal()
    sender = object()
    async with signal.subscribe(sender=sender) as mine, signal.subscribe() as every:
        signal.send(sender=object(), n=1)
        signal.send(sender=sender, n=2)
        signal.send(sender=None, n=3)
        assert summary(await take(mine, 1)) == [(sender, {"n": 2})]
        assert [dict(e.kwargs)["n"] for e in await take(every, 3)] == [1, 2, 3]
        assert mine.pending == 0


async def test_every_open_subscription_gets_every_event() -> None:
    signal = Signal()
    async with signal.subscribe() as one, signal.subscribe() as two:
        assert signal.subscriptions == (one, two)
        for n in range(3):
            signal.send(sender=None, n=n)
        assert summary(await take(one, 3)) == summary(await take(two, 3))


async def test_sends_while_muted_are_not_delivered() -> None:
    signal = Signal()
    async with signal.subscribe() as events:
        with signal.muted():
            signal.send(sender=None, n=1)
            await signal.asend(sender=None, n=2)
        signal.send(sender=None, n=3)
        assert summary(await take(events, 1)) == [(None, {"n": 3})]
        assert events.pending == 0


async def test_a_send_refused_with_async_send_error_is_not_delivered() -> None:
    signal = Signal()

    async def receiver(sender: object, **kwargs: object) -> None: ...

    signal.connect(receiver)
    async with signal.subscribe() as events:
        with pytest.raises(eventbus.AsyncSendError):
            signal.send(sender=None)
        assert events.pending == 0
        await signal.asend(sender=None)
        assert events.pending == 1


# -- threads and loops -------------------------------------------------------------------


async def test_sends_from_other_threads_wake_a_waiting_consumer_in_order() -> None:
    signal = Signal()
    per_thread = 200
    async with signal.subscribe(maxsize=10_000) as events:

        def sender_thread(name: str) -> None:
            for n in range(per_thread):
                signal.send(sender=name, n=n)

        async def start_senders() -> None:
            # The consumer is already waiting when the first send happens.
            await anyio.sleep(0.01)
            threads = [threading.Thread(target=sender_thread, args=(f"t{i}",)) for i in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                await anyio.to_thread.run_sync(thread.join)

        async with anyio.create_task_group() as group:
            group.start_soon(start_senders)
            got = await take(events, 4 * per_thread)
    by_thread: dict[str, list[int]] = {}
    for event in got:
        by_thread.setdefault(event.sender, []).append(event.kwargs["n"])
    assert by_thread == {f"t{i}": list(range(per_thread)) for i in range(4)}


async def test_a_send_from_a_plain_thread_wakes_an_idle_loop() -> None:
    """Nothing else happens on the loop: only the thread-safe hand-off can wake it."""
    signal = Signal()
    async with signal.subscribe() as events:
        timer = threading.Timer(0.05, signal.send, kwargs={"sender": None, "n": 1})
        timer.start()
        try:
            got = await take(events, 1)
        finally:
            timer.join()
    assert summary(got) == [(None, {"n": 1})]


async def test_sends_from_another_event_loop_are_delivered() -> None:
    signal = Signal()

    async def receiver(sender: object, **kwargs: object) -> str:
        return "ran"

    signal.connect(receiver)
    async with signal.subscribe() as events:

        def other_loop() -> None:
            asyncio.run(signal.asend(sender="elsewhere", n=1))
            signal.send(sender="sync", n=2)  # async_to_sync: a loop of its own

        await anyio.to_thread.run_sync(other_loop)
        assert summary(await take(events, 2)) == [("elsewhere", {"n": 1}), ("sync", {"n": 2})]


async def test_waiting_is_cancel_safe() -> None:
    signal = Signal()
    async with signal.subscribe() as events:
        with anyio.move_on_after(0.01) as scope:
            await anext(events)
        assert scope.cancelled_caught
        signal.send(sender=None, n=1)
        assert summary(await take(events, 1)) == [(None, {"n": 1})]


async def test_several_consumers_share_one_subscription() -> None:
    signal = Signal()
    got: list[int] = []
    async with signal.subscribe() as events:

        async def consume() -> None:
            got.append((await anext(events)).kwargs["n"])

        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(consume)
                group.start_soon(consume)
                await anyio.sleep(0.01)  # both are waiting now
                signal.send(sender=None, n=1)
                signal.send(sender=None, n=2)
    assert sorted(got) == [1, 2]


# -- overflow ----------------------------------------------------------------------------


async def test_drop_oldest_keeps_the_newest_and_counts_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    signal = Signal()
    with caplog.at_level(logging.WARNING, logger="eventbus"):
        async with signal.subscribe(maxsize=3) as events:
            for n in range(1000):
                signal.send(sender=None, n=n)
            assert events.dropped == 997
            assert [e.kwargs["n"] for e in await take(events, 3)] == [997, 998, 999]
            assert not events.closed
    warnings = [r for r in caplog.records if r.name == "eventbus"]
    assert len(warnings) == 1
    assert "dropped its oldest event" in warnings[0].getMessage()


async def test_overflow_close_delivers_what_was_waiting_then_raises() -> None:
    signal = Signal()
    async with signal.subscribe(maxsize=2, overflow="close") as events:
        assert events.overflow is Overflow.CLOSE
        for n in range(3):
            signal.send(sender=None, n=n)
        assert events.closed
        assert signal.subscriptions == ()
        signal.send(sender=None, n=3)  # not delivered any more
        assert [e.kwargs["n"] for e in await take(events, 2)] == [0, 1]
        with pytest.raises(SubscriptionOverflowError, match=r"maxsize=.*overflow='drop_oldest'"):
            await anext(events)
        assert events.dropped == 0


async def test_overflow_close_wakes_a_waiting_consumer_with_the_error() -> None:
    """The consumer is waiting when five sends arrive in one go (no await between them)."""
    signal = Signal()
    async with signal.subscribe(maxsize=1, overflow=Overflow.CLOSE) as events:
        failure: list[BaseException] = []

        async def consume() -> None:
            try:
                async for _ in events:
                    pass
            except SubscriptionOverflowError as exc:
                failure.append(exc)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(consume)
                await anyio.wait_all_tasks_blocked()
                for n in range(5):
                    signal.send(sender=None, n=n)
    assert len(failure) == 1


async def test_senders_never_wait_for_a_full_subscription() -> None:
    """A sender thread finishes 10,000 sends while the consumer reads nothing."""
    signal = Signal()
    async with signal.subscribe(maxsize=1) as events:
        thread = threading.Thread(target=lambda: [signal.send(sender=None) for _ in range(10_000)])
        thread.start()
        await anyio.to_thread.run_sync(thread.join, 5)
        assert not thread.is_alive()
        assert events.dropped == 9_999
        assert events.pending == 1


# -- closing -----------------------------------------------------------------------------


async def test_leaving_the_block_unregisters_and_leaves_nothing_behind() -> None:
    signal = Signal()
    async with signal.subscribe() as events:
        assert signal.has_listeners()
        signal.send(sender=None)
    assert signal.subscriptions == ()
    assert not signal.has_listeners()
    assert events.closed
    assert events.pending == 0
    signal.send(sender=None)
    assert events.pending == 0
    ref = weakref.ref(events)
    del events
    gc.collect()
    assert ref() is None


async def test_an_abandoned_subscription_is_released_with_a_resource_warning() -> None:
    """Entered, never exited nor closed, and then dropped by its consumer."""
    signal = Signal(name="orders")
    consumer = [signal.subscribe()]
    await consumer[0].__aenter__()
    signal.send(sender=None)
    assert signal.has_listeners()
    assert consumer[0].pending == 1

    with pytest.warns(ResourceWarning, match=r"Subscription to orders .* garbage collected"):
        drop(consumer)

    assert not signal.has_listeners()
    assert signal.subscriptions == ()
    signal.send(sender=None)  # delivers to nobody, raises nothing


def drop(references: list[Any]) -> None:
    """Forget the only references to some objects, and collect them."""
    references.clear()
    gc.collect()


async def test_a_subscription_referenced_elsewhere_keeps_receiving() -> None:
    """Only the signal holds subscriptions weakly: a consumer's reference keeps one open."""
    signal = Signal()
    keep = [signal.subscribe()]
    await keep[0].__aenter__()
    gc.collect()
    signal.send(sender=None)
    assert keep[0].pending == 1
    await keep[0].__aexit__(None, None, None)
    assert not signal.has_listeners()


async def test_an_exception_in_the_block_unregisters() -> None:
    signal = Signal()
    with pytest.raises(KeyError):
        async with signal.subscribe():
            raise KeyError("boom")
    assert signal.subscriptions == ()


async def test_cancelling_a_waiting_consumer_unregisters() -> None:
    signal = Signal()
    entered = anyio.Event()

    async def consume() -> None:
        async with signal.subscribe() as events:
            entered.set()
            async for _ in events:
                pass

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(consume)
            await entered.wait()
            assert len(signal.subscriptions) == 1
            group.cancel_scope.cancel()
    assert signal.subscriptions == ()


async def test_close_lets_the_consumer_read_what_was_waiting_then_ends() -> None:
    signal = Signal()
    async with signal.subscribe() as events:
        signal.send(sender=None, n=1)
        events.close()
        events.close()  # idempotent
        signal.send(sender=None, n=2)
        assert signal.subscriptions == ()
        assert summary(await drain(events)) == [(None, {"n": 1})]


async def test_close_from_another_thread_ends_a_waiting_iteration() -> None:
    signal = Signal()
    async with signal.subscribe() as events:

        async def close_later() -> None:
            await anyio.sleep(0.01)
            await anyio.to_thread.run_sync(events.close)

        async with anyio.create_task_group() as group:
            group.start_soon(close_later)
            assert await drain(events) == []


def test_a_send_after_the_consumers_loop_is_gone_does_not_raise() -> None:
    """A subscription left open by a loop that ended is harmless to senders."""
    signal = Signal()
    holder: list[Subscription] = []

    async def abandon() -> None:
        events = signal.subscribe()
        await events.__aenter__()
        holder.append(events)
        waiting = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0)
        waiting.cancel()

    thread = threading.Thread(target=asyncio.run, args=(abandon(),))
    thread.start()
    thread.join()
    signal.send(sender=None, n=1)  # wakes a waiter on a closed loop: swallowed
    (events,) = holder
    assert events.pending == 1
    events.close()
    assert signal.subscriptions == ()


# -- misuse ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"maxsize": 0}, ValueError, "at least 1"),
        ({"maxsize": -5}, ValueError, "at least 1"),
        ({"maxsize": "10"}, TypeError, "positive int"),
        ({"maxsize": True}, TypeError, "positive int"),
        ({"maxsize": 2.5}, TypeError, "positive int"),
        ({"overflow": "block"}, ValueError, "'drop_oldest', 'close'"),
    ],
)
def test_bad_options_fail_at_once_with_what_to_pass(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    signal = Signal(name="orders")
    with pytest.raises(error, match=message) as caught:
        signal.subscribe(**options)
    assert "orders" in str(caught.value)


async def test_a_subscription_is_entered_once() -> None:
    signal = Signal()
    events = signal.subscribe()
    async with events:
        pass
    with pytest.raises(RuntimeError, match=r"entered once.*subscribe\(\) again"):
        await events.__aenter__()


async def test_iterating_before_entering_says_how_to_use_it() -> None:
    events = Signal().subscribe()
    with pytest.raises(RuntimeError, match=r"async with signal\.subscribe"):
        await anext(events)


def test_entering_outside_an_event_loop_is_refused() -> None:
    events = Signal().subscribe()
    coroutine = events.__aenter__()
    with pytest.raises(RuntimeError, match="running asyncio or trio event loop"):
        coroutine.send(None)


async def test_repr_shows_state_and_counts() -> None:
    signal = Signal(name="orders")
    async with signal.subscribe(sender="shop", maxsize=1) as events:
        signal.send(sender="shop")
        signal.send(sender="shop")
        assert repr(events).endswith("sender='shop' open, 1 waiting, 1 dropped>")
        assert "orders" in repr(events)


# -- model signals through the bridge -----------------------------------------------------


def create_author(name: str) -> Author:
    """Runs in asgiref's thread-sensitive thread, which lives as long as the process.

    (anyio's worker threads would exit later and drop an in-memory SQLite
    connection Django refuses to close, which Python 3.13 reports.)
    """
    try:
        author = Author.objects.create(name=name)
        Tag.objects.create()  # another model: not delivered
        return author
    finally:
        connections.close_all()  # PostgreSQL cannot drop a database still in use


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("sender", [Author, "testapp.Author"], ids=["model", "label"])
async def test_a_subscription_alone_makes_the_bridge_relay_that_model(sender: object) -> None:
    """No bus receiver is connected: the subscription is what makes post_save relay."""
    assert relayed_senders(signals.post_save) == []
    async with signals.post_save.subscribe(sender=sender) as events:
        assert relayed_senders(signals.post_save) == [Author]
        author = await sync_to_async(create_author)("Ann")
        (event,) = await take(events, 1)
        assert events.pending == 0
    assert event.sender is Author
    assert event.kwargs["instance"] == author
    assert event.kwargs["created"] is True
    assert relayed_senders(signals.post_save) == []


async def test_an_unknown_model_label_is_refused() -> None:
    with pytest.raises(LookupError, match=r"no model .testapp\.Nope. is registered"):
        signals.post_save.subscribe(sender="testapp.Nope")


async def test_a_catch_all_subscription_needs_one_catch_all_relay() -> None:
    assert relayed_senders(signals.pre_save) == []
    async with signals.pre_save.subscribe():
        assert relayed_senders(signals.pre_save) == [None]
    assert relayed_senders(signals.pre_save) == []
