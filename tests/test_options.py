"""More receiver options: once=True, muted(), connected_to() and receivers_for()."""

from __future__ import annotations

import gc
import threading
from typing import Any

import pytest

import eventbus
from tests.helpers import (
    KINDS,
    SENDS,
    Call,
    Receiver,
    Results,
    make_receiver,
    names,
    send_from_sync,
)


def responses(result: Results) -> list[Any]:
    return [response for _, response in result]


def connect_layout(signal: eventbus.Signal, calls: list[Call]) -> list[Receiver]:
    """Connect sync and async receivers with assorted priorities; return them in call order."""
    receivers = {
        name: make_receiver(kind, name, calls)
        for name, kind in [("low", "s"), ("high", "a"), ("mid1", "s"), ("mid2", "a")]
    }
    signal.connect(receivers["low"], weak=False, priority=-5)
    signal.connect(receivers["high"], weak=False, priority=10)
    signal.connect(receivers["mid1"], weak=False, priority=3)
    signal.connect(receivers["mid2"], weak=False, priority=3)
    return [receivers[name] for name in ("high", "mid1", "mid2", "low")]


# -- once=True -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", SENDS)
def test_once_receiver_is_called_once_then_disconnected(
    kind: str, how: tuple[str, str | None]
) -> None:
    calls: list[Call] = []
    signal = eventbus.Signal()
    once = make_receiver(kind, "once", calls)
    always = make_receiver("s", "always", calls)
    signal.connect(once, weak=False, once=True, priority=1)
    signal.connect(always, weak=False)

    first = send_from_sync(signal, *how)
    second = send_from_sync(signal, *how)

    assert first == [(once, "once"), (always, "always")]
    assert second == [(always, "always")]
    assert names(calls) == ["once", "always", "always"]
    assert [info.receiver for info in signal.receivers_for(None)] == [always]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", SENDS)
def test_signal_has_no_listeners_after_its_only_once_receiver_ran(
    kind: str, how: tuple[str, str | None]
) -> None:
    calls: list[Call] = []
    signal = eventbus.Signal()
    once = make_receiver(kind, "once", calls)
    signal.connect(once, weak=False, once=True)
    assert signal.has_listeners()
    assert [info.once for info in signal.receivers_for(None)] == [True]

    assert send_from_sync(signal, *how) == [(once, "once")]

    assert not signal.has_listeners()
    assert signal.receivers_for(None) == []
    assert send_from_sync(signal, *how) == []
    assert names(calls) == ["once"]


@pytest.mark.usefixtures("frequent_thread_switches")
@pytest.mark.parametrize("kind", KINDS)
def test_once_receiver_is_called_once_when_sends_race_on_several_threads(kind: str) -> None:
    """8 threads send together, 200 times over, each time to a fresh once receiver."""
    threads_count, rounds = 8, 200
    calls: list[list[Call]] = [[] for _ in range(rounds)]
    signals = [eventbus.Signal() for _ in range(rounds)]
    receivers = [make_receiver(kind, "once", calls[index]) for index in range(rounds)]
    for signal, once in zip(signals, receivers, strict=True):
        signal.connect(once, weak=False, once=True)
    barrier = threading.Barrier(threads_count)
    errors: list[BaseException] = []
    results: list[Results] = [[] for _ in range(rounds)]

    def hammer() -> None:
        try:
            for index, signal in enumerate(signals):
                barrier.wait(5)
                results[index] += signal.send(sender=None)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=hammer) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert all(names(round_calls) == ["once"] for round_calls in calls)
    assert all(result == [(once, "once")] for result, once in zip(results, receivers, strict=True))
    assert not any(signal.has_listeners() for signal in signals)


@pytest.mark.parametrize("kind", KINDS)
def test_receiver_decorator_accepts_once(kind: str) -> None:
    calls: list[Call] = []
    signal = eventbus.Signal()
    once = eventbus.receiver(signal, once=True, weak=False)(make_receiver(kind, "once", calls))

    assert [info.once for info in signal.receivers_for(None)] == [True]
    assert signal.send(sender=None) == [(once, "once")]
    assert signal.send(sender=None) == []
    assert names(calls) == ["once"]
    assert not signal.has_listeners()


def test_once_receiver_sending_the_signal_again_does_not_reach_itself() -> None:
    calls: list[str] = []
    signal = eventbus.Signal()

    def reentrant(sender: object, **kwargs: object) -> str:
        calls.append("reentrant")
        signal.send(sender=None)
        return "reentrant"

    signal.connect(reentrant, weak=False, once=True)

    assert signal.send(sender=None) == [(reentrant, "reentrant")]
    assert calls == ["reentrant"]


# -- muted() ---------------------------------------------------------------------------------


@pytest.mark.parametrize("how", SENDS)
def test_no_receiver_runs_inside_muted(how: tuple[str, str | None]) -> None:
    calls: list[Call] = []
    signal = eventbus.Signal()
    connect_layout(signal, calls)

    with signal.muted():
        assert send_from_sync(signal, *how) == []
        assert send_from_sync(signal, *how, sender=object()) == []

    assert calls == []


@pytest.mark.parametrize("how", SENDS)
def test_receivers_run_again_in_order_after_muted(how: tuple[str, str | None]) -> None:
    calls: list[Call] = []
    signal = eventbus.Signal()
    in_order = connect_layout(signal, calls)
    before = send_from_sync(signal, *how)

    with signal.muted():
        send_from_sync(signal, *how)
    after = send_from_sync(signal, *how)

    assert before == after
    assert [receiver for receiver, _ in after] == in_order
    assert responses(after) == ["high", "mid1", "mid2", "low"]
    assert [info.priority for info in signal.receivers_for(None)] == [10, 3, 3, -5]


@pytest.mark.parametrize("how", SENDS)
def test_nested_muted_blocks_stay_muted_until_the_outer_one_exits(
    how: tuple[str, str | None],
) -> None:
    calls: list[Call] = []
    signal = eventbus.Signal()
    connect_layout(signal, calls)

    with signal.muted():
        with signal.muted():
            assert send_from_sync(signal, *how) == []
        assert send_from_sync(signal, *how) == []
        assert calls == []
    result = send_from_sync(signal, *how)

    assert responses(result) == ["high", "mid1", "mid2", "low"]
    assert names(calls) == ["high", "mid1", "mid2", "low"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", SENDS)
def test_receiver_connected_inside_muted_runs_only_after_it(
    kind: str, how: tuple[str, str | None]
) -> None:
    calls: list[Call] = []
    signal = eventbus.Signal()
    connect_layout(signal, calls)
    late = make_receiver(kind, "late", calls)

    with signal.muted():
        signal.connect(late, weak=False, priority=5)
        assert send_from_sync(signal, *how) == []
        assert calls == []
    result = send_from_sync(signal, *how)

    assert responses(result) == ["high", "late", "mid1", "mid2", "low"]


def test_muted_unmutes_when_the_block_raises() -> None:
    calls: list[Call] = []
    signal = eventbus.Signal()
    connect_layout(signal, calls)

    with pytest.raises(ZeroDivisionError), signal.muted():
        1 / 0  # noqa: B018 - raise inside the block

    assert responses(signal.send(sender=None)) == ["high", "mid1", "mid2", "low"]


def test_muted_signal_still_lists_its_receivers() -> None:
    calls: list[Call] = []
    signal = eventbus.Signal()
    in_order = connect_layout(signal, calls)

    with signal.muted():
        assert [info.receiver for info in signal.receivers_for(None)] == in_order


@pytest.mark.parametrize("how", SENDS)
def test_once_receiver_is_not_used_up_inside_muted(how: tuple[str, str | None]) -> None:
    calls: list[Call] = []
    signal = eventbus.Signal()
    once = make_receiver("a", "once", calls)
    signal.connect(once, weak=False, once=True)

    with signal.muted():
        assert send_from_sync(signal, *how) == []
    first = send_from_sync(signal, *how)
    second = send_from_sync(signal, *how)

    assert first == [(once, "once")]
    assert second == []
    assert names(calls) == ["once"]


# -- connected_to() --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", SENDS)
def test_connected_to_connects_only_inside_the_block(
    kind: str, how: tuple[str, str | None]
) -> None:
    calls: list[Call] = []
    signal = eventbus.Signal()
    temporary = make_receiver(kind, "temporary", calls)

    with signal.connected_to(temporary) as yielded:
        assert yielded is temporary
        inside = send_from_sync(signal, *how)
    after = send_from_sync(signal, *how)

    assert inside == [(temporary, "temporary")]
    assert after == []
    assert names(calls) == ["temporary"]
    assert not signal.has_listeners()


@pytest.mark.parametrize("how", SENDS)
def test_connected_to_honours_priority(how: tuple[str, str | None]) -> None:
    calls: list[Call] = []
    signal = eventbus.Signal()
    connect_layout(signal, calls)
    temporary = make_receiver("a", "temporary", calls)

    with signal.connected_to(temporary, None, 3):
        inside = send_from_sync(signal, *how)
    with signal.connected_to(temporary, priority=11):
        first = send_from_sync(signal, *how)
    after = send_from_sync(signal, *how)

    assert responses(inside) == ["high", "mid1", "mid2", "temporary", "low"]
    assert responses(first) == ["temporary", "high", "mid1", "mid2", "low"]
    assert responses(after) == ["high", "mid1", "mid2", "low"]


def test_connected_to_honours_sender() -> None:
    calls: list[Call] = []
    signal = eventbus.Signal()
    chosen, other = object(), object()
    temporary = make_receiver("s", "temporary", calls)
    everyone = make_receiver("s", "everyone", calls)
    signal.connect(everyone, weak=False)

    with signal.connected_to(temporary, sender=chosen, priority=1):
        to_chosen = signal.send(sender=chosen)
        to_other = signal.send(sender=other)
        to_none = signal.send(sender=None)
    after = signal.send(sender=chosen)

    assert responses(to_chosen) == ["temporary", "everyone"]
    assert responses(to_other) == ["everyone"]
    assert responses(to_none) == ["everyone"]
    assert responses(after) == ["everyone"]


def test_connected_to_holds_a_lambda_strongly_by_default() -> None:
    signal = eventbus.Signal()

    with signal.connected_to(lambda **kwargs: "lambda"):
        gc.collect()
        result = signal.send(sender=None)
        (info,) = signal.receivers_for(None)

    assert responses(result) == ["lambda"]
    assert info.weak is False
    assert signal.send(sender=None) == []


@pytest.mark.parametrize("kind", KINDS)
def test_connected_to_leaves_an_earlier_connection_in_place(kind: str) -> None:
    calls: list[Call] = []
    signal = eventbus.Signal()
    existing = make_receiver(kind, "existing", calls)
    signal.connect(existing, weak=False)

    with signal.connected_to(existing):
        inside = signal.send(sender=None)
    after = signal.send(sender=None)

    assert inside == [(existing, "existing")]
    assert after == [(existing, "existing")]
    assert [info.receiver for info in signal.receivers_for(None)] == [existing]


def test_connected_to_leaves_an_earlier_dispatch_uid_connection_in_place() -> None:
    calls: list[Call] = []
    signal = eventbus.Signal()
    existing = make_receiver("s", "existing", calls)
    newcomer = make_receiver("s", "newcomer", calls)
    signal.connect(existing, weak=False, dispatch_uid="uid")

    with signal.connected_to(newcomer, dispatch_uid="uid"):
        inside = signal.send(sender=None)
    after = signal.send(sender=None)

    assert inside == [(existing, "existing")]
    assert after == [(existing, "existing")]


@pytest.mark.parametrize("kind", KINDS)
def test_connected_to_disconnects_when_the_block_raises(kind: str) -> None:
    calls: list[Call] = []
    signal = eventbus.Signal()
    temporary = make_receiver(kind, "temporary", calls)

    with pytest.raises(LookupError, match="inside"), signal.connected_to(temporary):
        raise LookupError("inside")

    assert not signal.has_listeners()
    assert signal.send(sender=None) == []
    assert calls == []


def test_connected_to_accepts_once() -> None:
    calls: list[Call] = []
    signal = eventbus.Signal()
    temporary = make_receiver("s", "temporary", calls)

    with signal.connected_to(temporary, once=True):
        first = signal.send(sender=None)
        second = signal.send(sender=None)
    after = signal.send(sender=None)

    assert first == [(temporary, "temporary")]
    assert second == after == []
    assert names(calls) == ["temporary"]


# -- receivers_for() -------------------------------------------------------------------------


@pytest.mark.parametrize("concurrent", [False, True], ids=["sequential", "concurrent"])
def test_receivers_for_lists_receivers_in_the_order_send_calls_them(concurrent: bool) -> None:
    calls: list[Call] = []
    signal = eventbus.Signal(concurrent=concurrent)
    alpha, beta = object(), object()
    connect_layout(signal, calls)
    layout = [
        ("a_any", "s", None, 0),
        ("b_alpha", "a", alpha, 3),
        ("c_beta", "s", beta, 3),
        ("d_alpha", "s", alpha, 100),
        ("e_beta", "a", beta, -100),
        ("f_any", "a", None, 3),
        ("g_alpha", "s", alpha, -5),
    ]
    for name, kind, sender, priority in layout:
        signal.connect(make_receiver(kind, name, calls), sender, weak=False, priority=priority)

    for sender in (None, alpha, beta, object()):
        listed = signal.receivers_for(sender)
        sent = signal.send(sender=sender)
        assert [info.receiver for info in listed] == [receiver for receiver, _ in sent]
        priorities = [info.priority for info in listed]
        assert priorities == sorted(priorities, reverse=True)

    assert responses(signal.send(sender=alpha)) == [
        "d_alpha",
        "high",
        "mid1",
        "mid2",
        "b_alpha",
        "f_any",
        "a_any",
        "low",
        "g_alpha",
    ]


def test_receivers_for_describes_each_receiver() -> None:
    signal = eventbus.Signal()
    chosen = threading.Event()  # any weak-referenceable object will do as a sender

    def recv(sender: object, **kwargs: object) -> str:
        return "recv"

    async def arecv(sender: object, **kwargs: object) -> str:
        return "arecv"

    def once_recv(sender: object, **kwargs: object) -> str:
        return "once"

    signal.connect(recv, priority=7)
    signal.connect(arecv, sender=chosen, weak=False, dispatch_uid="uid-a", priority=2)
    signal.connect(once_recv, weak=False, once=True, priority=-1)

    first, second, third = signal.receivers_for(chosen)

    assert first.receiver is recv
    assert (first.priority, first.is_async, first.weak, first.once) == (7, False, True, False)
    assert first.dispatch_uid is None
    assert first.sender is None
    assert first.module == __name__
    assert first.qualname == "test_receivers_for_describes_each_receiver.<locals>.recv"
    assert first.lineno == recv.__code__.co_firstlineno
    assert first.name == f"{__name__}.test_receivers_for_describes_each_receiver.<locals>.recv"

    assert second.receiver is arecv
    assert (second.priority, second.is_async, second.weak, second.once) == (2, True, False, False)
    assert second.dispatch_uid == "uid-a"
    assert second.sender is chosen
    assert second.module == __name__
    assert second.qualname == "test_receivers_for_describes_each_receiver.<locals>.arecv"
    assert second.lineno == arecv.__code__.co_firstlineno
    assert second.name == f"{__name__}.{second.qualname}"

    assert third.receiver is once_recv
    assert (third.priority, third.is_async, third.weak, third.once) == (-1, False, False, True)
    assert third.qualname == "test_receivers_for_describes_each_receiver.<locals>.once_recv"
    assert third.lineno == once_recv.__code__.co_firstlineno

    assert [info.receiver for info in signal.receivers_for(None)] == [recv, once_recv]


def test_receivers_for_names_a_bound_method_by_its_function() -> None:
    signal = eventbus.Signal()

    class Listener:
        def on_event(self, sender: object, **kwargs: object) -> str:
            return "method"

    listener = Listener()
    signal.connect(listener.on_event)

    (info,) = signal.receivers_for(None)

    assert info.receiver == listener.on_event
    assert info.weak is True
    assert info.qualname == (
        "test_receivers_for_names_a_bound_method_by_its_function.<locals>.Listener.on_event"
    )
    assert info.lineno == Listener.on_event.__code__.co_firstlineno
    assert info.module == __name__
