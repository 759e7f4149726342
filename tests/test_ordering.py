"""One order: descending priority, ties in connection order, in every send method."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import django.dispatch
import pytest

import eventbus
from eventbus import DuplicateReceiverWarning, Signal
from tests.helpers import SENDS, Call, Sender, make_receiver, names, send_from_sync

#: Receiver kinds in connection order: "s" is a plain function, "a" a coroutine function.
LAYOUTS = ["ssssss", "aaaaaa", "sasasa", "aaasss", "assaas", "saaass"]

#: Priorities in connection order, and the connection indexes in the order they must run.
PRIORITY_ORDERS = [
    pytest.param((0, 7, -3, 7, -50, 0), [1, 3, 0, 5, 2, 4], id="ties-at-7-0"),
    pytest.param((-1, -1, 20, -5, 20, -1), [2, 4, 0, 1, 5, 3], id="ties-at-20-minus1"),
]


@pytest.mark.parametrize("how", SENDS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(("priorities", "expected"), PRIORITY_ORDERS)
def test_receivers_run_by_descending_priority_then_connection_order(
    how: tuple[str, str | None], layout: str, priorities: tuple[int, ...], expected: list[int]
) -> None:
    """Sync and async receivers share one order, and the result list follows it."""
    signal = Signal()
    calls: list[Call] = []
    receivers = [make_receiver(kind, f"r{i}", calls) for i, kind in enumerate(layout)]
    for receiver, priority in zip(receivers, priorities, strict=True):
        signal.connect(receiver, priority=priority)

    results = send_from_sync(signal, *how)

    assert names(calls) == [f"r{i}" for i in expected]
    assert results == [(receivers[i], f"r{i}") for i in expected]


@pytest.mark.parametrize("how", SENDS)
@pytest.mark.parametrize("layout", ["ss", "aa", "sa", "as"])
def test_sender_specific_and_catch_all_receivers_share_one_order(
    how: tuple[str, str | None], layout: str
) -> None:
    """A sender-specific receiver is merged into the order of the catch-all ones."""
    signal = Signal()
    sender = Sender()
    calls: list[Call] = []
    catch_all = make_receiver(layout[0], "catch_all", calls)
    specific = make_receiver(layout[1], "specific", calls)
    last = make_receiver("s", "last", calls)
    signal.connect(catch_all, priority=0)
    signal.connect(last, priority=-1)
    signal.connect(specific, sender=sender, priority=10)

    results = send_from_sync(signal, *how, sender)

    assert names(calls) == ["specific", "catch_all", "last"]
    assert results == [(specific, "specific"), (catch_all, "catch_all"), (last, "last")]
    assert send_from_sync(signal, *how, Sender()) == [
        (catch_all, "catch_all"),
        (last, "last"),
    ]


@pytest.mark.parametrize("how", SENDS)
def test_readme_example_runs_in_priority_order(how: tuple[str, str | None]) -> None:
    """reserve_stock (100, sync), notify_warehouse (10, async), audit (0, sync): same results."""
    order_placed = Signal()
    calls: list[str] = []

    class Order:
        pass

    @eventbus.receiver(order_placed, priority=100)
    def reserve_stock(sender: object, order: str, **kwargs: object) -> str:
        calls.append("reserve_stock")
        return f"reserved {order}"

    @eventbus.receiver(order_placed, priority=10)
    async def notify_warehouse(sender: object, order: str, **kwargs: object) -> str:
        calls.append("notify_warehouse")
        return f"notified {order}"

    @eventbus.receiver(order_placed)
    def audit(sender: object, order: str, **kwargs: object) -> str:
        calls.append("audit")
        return f"audited {order}"

    results = send_from_sync(order_placed, *how, Order, order="o-1")

    assert calls == ["reserve_stock", "notify_warehouse", "audit"]
    assert results == [
        (reserve_stock, "reserved o-1"),
        (notify_warehouse, "notified o-1"),
        (audit, "audited o-1"),
    ]


# -- connecting twice -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["s", "a"])
def test_reconnecting_the_same_receiver_is_a_silent_no_op(kind: str) -> None:
    """Same receiver and sender, same priority: no warning, first position kept."""
    signal = Signal()
    calls: list[Call] = []
    first = make_receiver(kind, "first", calls)
    second = make_receiver(kind, "second", calls)
    signal.connect(first, priority=5)
    signal.connect(second, priority=5)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        signal.connect(first, priority=5)

    assert [info.receiver for info in signal.receivers_for(None)] == [first, second]
    assert [r for r, _ in signal.send(None)] == [first, second]
    assert names(calls) == ["first", "second"]


@pytest.mark.parametrize("kind", ["s", "a"])
def test_reconnecting_the_same_dispatch_uid_is_a_silent_no_op(kind: str) -> None:
    """Same dispatch_uid and sender, same priority: the first receiver stays, in place."""
    signal = Signal()
    calls: list[Call] = []
    first = make_receiver(kind, "first", calls)
    second = make_receiver(kind, "second", calls)
    replacement = make_receiver(kind, "replacement", calls)
    signal.connect(first, dispatch_uid="uid-1")
    signal.connect(second, dispatch_uid="uid-2")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        signal.connect(replacement, dispatch_uid="uid-1")

    assert signal.send(None) == [(first, "first"), (second, "second")]
    assert names(calls) == ["first", "second"]


@pytest.mark.parametrize("kind", ["s", "a"])
def test_reconnecting_with_another_priority_warns_and_keeps_the_first_connection(
    kind: str,
) -> None:
    signal = Signal()
    calls: list[Call] = []
    first = make_receiver(kind, "first", calls)
    second = make_receiver(kind, "second", calls)
    signal.connect(first, priority=1)
    signal.connect(second, priority=1)

    with pytest.warns(DuplicateReceiverWarning, match=first.__qualname__) as record:
        signal.connect(first, priority=50)

    assert len(record) == 1
    assert record[0].filename == __file__
    assert [(i.receiver, i.priority) for i in signal.receivers_for(None)] == [
        (first, 1),
        (second, 1),
    ]
    assert signal.send(None) == [(first, "first"), (second, "second")]


@pytest.mark.parametrize("kind", ["s", "a"])
def test_reconnecting_a_dispatch_uid_with_another_priority_warns(kind: str) -> None:
    """The warning names the receiver passed to connect(); the first connection stays."""
    signal = Signal()
    calls: list[Call] = []
    first = make_receiver(kind, "first", calls)
    second = make_receiver(kind, "second", calls)
    replacement = make_receiver(kind, "replacement", calls)
    signal.connect(first, dispatch_uid="uid-1")
    signal.connect(second, dispatch_uid="uid-2")

    with pytest.warns(DuplicateReceiverWarning, match=replacement.__qualname__):
        signal.connect(replacement, dispatch_uid="uid-1", priority=9)

    assert [(i.receiver, i.priority) for i in signal.receivers_for(None)] == [
        (first, 0),
        (second, 0),
    ]
    assert signal.send(None) == [(first, "first"), (second, "second")]


def test_the_same_receiver_for_two_senders_is_two_connections() -> None:
    """Another sender is another connection: no warning, each keeps its own priority."""
    signal = Signal()
    calls: list[Call] = []
    shared = make_receiver("s", "shared", calls)
    other = make_receiver("s", "other", calls)
    sender_a, sender_b = Sender(), Sender()
    signal.connect(other, priority=5)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        signal.connect(shared, sender=sender_a, priority=10)
        signal.connect(shared, sender=sender_b, priority=0)

    assert [r for r, _ in signal.send(sender_a)] == [shared, other]
    assert [r for r, _ in signal.send(sender_b)] == [other, shared]


def test_duplicate_warning_from_the_receiver_decorator_points_at_the_caller() -> None:
    signal = Signal()
    calls: list[Call] = []
    handler = make_receiver("s", "handler", calls)
    signal.connect(handler, priority=1)

    with pytest.warns(DuplicateReceiverWarning, match=handler.__qualname__) as record:
        eventbus.receiver(signal, priority=2)(handler)

    assert len(record) == 1
    assert record[0].filename == __file__


# -- priority validation ----------------------------------------------------------


# -- the receiver decorator -------------------------------------------------------


@pytest.mark.parametrize("kind", ["s", "a"])
def test_receiver_decorator_returns_the_function_unchanged(kind: str) -> None:
    signal = Signal()
    handler = make_receiver(kind, "handler", [])

    decorated = eventbus.receiver(signal, priority=3)(handler)

    assert decorated is handler


@pytest.mark.parametrize("kind", ["s", "a"])
def test_receiver_decorator_accepts_every_connect_option(kind: str) -> None:
    signal = Signal()
    sender = Sender()
    calls: list[Call] = []
    before = make_receiver("s", "before", calls)
    after = make_receiver("s", "after", calls)
    handler = make_receiver(kind, "handler", calls)
    signal.connect(after, priority=-1)
    signal.connect(before, priority=8)

    eventbus.receiver(
        signal, sender=sender, weak=False, dispatch_uid="handler-uid", priority=4, once=True
    )(handler)

    [_, info, _] = signal.receivers_for(sender)
    assert (info.receiver, info.priority, info.weak, info.once) == (handler, 4, False, True)
    assert (info.dispatch_uid, info.sender, info.is_async) == ("handler-uid", sender, kind == "a")
    assert [r for r, _ in signal.send(Sender())] == [before, after]
    assert names(calls) == ["before", "after"]
    calls.clear()
    assert [r for r, _ in signal.send(sender)] == [before, handler, after]
    assert [r for r, _ in signal.send(sender)] == [before, after]
    assert names(calls) == ["before", "handler", "after", "before", "after"]


@pytest.mark.parametrize("container", [list, tuple])
def test_receiver_decorator_connects_to_each_signal_of_a_list(
    container: Callable[[list[Signal]], Any],
) -> None:
    first_signal, second_signal = Signal(), Signal()
    calls: list[Call] = []
    low = make_receiver("s", "low", calls)
    first_signal.connect(low, priority=-1)
    second_signal.connect(low, priority=-1)

    @eventbus.receiver(container([first_signal, second_signal]), priority=2)
    async def handler(sender: object, **kwargs: object) -> str:
        calls.append(Call.now("handler", sender, **kwargs))
        return "handler"

    assert first_signal.send(None) == [(handler, "handler"), (low, "low")]
    assert second_signal.send(None) == [(handler, "handler"), (low, "low")]
    assert names(calls) == ["handler", "low", "handler", "low"]


def test_receiver_decorator_connects_plain_django_signals_without_priority() -> None:
    plain = django.dispatch.Signal()
    ours = Signal()
    calls: list[str] = []

    @eventbus.receiver([ours, plain], weak=False, dispatch_uid="both")
    def handler(sender: object, **kwargs: object) -> str:
        calls.append("handler")
        return "handler"

    assert plain.send(None) == [(handler, "handler")]
    assert ours.send(None) == [(handler, "handler")]
    assert calls == ["handler", "handler"]


@pytest.mark.parametrize("priority", [1, -1])
def test_receiver_decorator_rejects_priority_for_a_plain_django_signal(priority: int) -> None:
    plain = django.dispatch.Signal()
    handler = make_receiver("s", "handler", [])

    with pytest.raises(TypeError, match=r"django\.dispatch\.Signal"):
        eventbus.receiver([plain], priority=priority)(handler)

    assert not plain.has_listeners()


def test_receiver_decorator_that_raises_connects_nothing() -> None:
    """Rejecting a plain Django signal in the list leaves the eventbus signals untouched too."""
    ours = Signal()
    plain = django.dispatch.Signal()
    handler = make_receiver("s", "handler", [])

    with pytest.raises(TypeError, match=r"django\.dispatch\.Signal"):
        eventbus.receiver([ours, plain], priority=5)(handler)

    assert ours.receivers_for(None) == []
    assert not plain.has_listeners()
