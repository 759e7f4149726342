"""eventbus.testing: capture() records sends without changing them, muted() silences signals."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import anyio
import anyio.lowlevel
import django.dispatch
import pytest
from django.db.models.signals import post_save
from django.test import TestCase

import eventbus
from eventbus.testing import Capture, Sent, capture, muted
from tests.helpers import KINDS, Call, Receiver, make_receiver, names
from tests.testapp.models import Author, Gadget


class Shop:
    """A sender."""


class Warehouse:
    """Another sender."""


SIGNAL_KINDS = [
    pytest.param(lambda: eventbus.Signal(name="order_placed"), id="eventbus"),
    pytest.param(django.dispatch.Signal, id="django"),
]


@pytest.fixture(params=SIGNAL_KINDS)
def signal(request: pytest.FixtureRequest) -> django.dispatch.Signal:
    make: Callable[[], django.dispatch.Signal] = request.param
    signal = make()
    backend = (
        request.getfixturevalue("anyio_backend")
        if "anyio_backend" in request.fixturenames
        else None
    )
    if backend == "trio" and not isinstance(signal, eventbus.Signal):
        pytest.skip("django.dispatch.Signal.asend() needs asyncio")
    return signal


def own_methods(signal: object) -> set[str]:
    return {"send", "send_robust", "asend", "asend_robust"} & set(vars(signal))


# -- capture(): what is recorded ------------------------------------------------------


def test_capture_records_every_sync_send_with_sender_kwargs_and_method(
    signal: django.dispatch.Signal,
) -> None:
    with capture(signal) as sent:
        signal.send(Shop, order_id=1)
        signal.send_robust(sender=Warehouse, order_id=2, total=10)

    assert [(s.signal, s.sender, s.kwargs, s.method) for s in sent] == [
        (signal, Shop, {"order_id": 1}, "send"),
        (signal, Warehouse, {"order_id": 2, "total": 10}, "send_robust"),
    ]


@pytest.mark.anyio
async def test_capture_records_every_async_send(signal: django.dispatch.Signal) -> None:
    with capture(signal) as sent:
        await signal.asend(Shop, order_id=1)
        await signal.asend_robust(sender=Shop, order_id=2)

    assert [(s.sender, s.kwargs, s.method) for s in sent] == [
        (Shop, {"order_id": 1}, "asend"),
        (Shop, {"order_id": 2}, "asend_robust"),
    ]


def test_capture_with_a_sender_records_only_sends_from_that_very_object(
    signal: django.dispatch.Signal,
) -> None:
    with capture(signal, sender=Shop) as sent:
        signal.send(Shop, n=1)
        signal.send(Warehouse, n=2)
        signal.send(Shop(), n=3)

    assert [s.kwargs for s in sent] == [{"n": 1}]


def test_capture_records_sends_of_a_muted_signal_and_one_without_receivers(
    signal: django.dispatch.Signal,
) -> None:
    called: list[Call] = []
    with capture(signal) as sent:
        signal.send(Shop, n=1)
        signal.connect(make_receiver("s", "recorder", called), weak=False)
        with muted(signal):
            signal.send(Shop, n=2)

    assert called == []
    assert [s.kwargs for s in sent] == [{"n": 1}, {"n": 2}]


def test_a_send_whose_receiver_raises_is_still_recorded(signal: django.dispatch.Signal) -> None:
    def fail(**kwargs: Any) -> None:
        raise LookupError("out of stock")

    signal.connect(fail, weak=False)
    with capture(signal) as sent, pytest.raises(LookupError, match="out of stock"):
        signal.send(Shop, order_id=1)

    sent.assert_sent_once(sender=Shop, order_id=1)


@pytest.mark.anyio
async def test_an_asend_whose_receiver_raises_is_still_recorded(
    signal: django.dispatch.Signal,
) -> None:
    async def fail(**kwargs: Any) -> None:
        raise LookupError("out of stock")

    signal.connect(fail, weak=False)
    with capture(signal) as sent, pytest.raises(LookupError, match="out of stock"):
        await signal.asend(Shop, order_id=1)

    sent.assert_sent_once(sender=Shop, order_id=1)


def test_sends_from_other_threads_are_recorded(signal: django.dispatch.Signal) -> None:
    with capture(signal) as sent:
        worker = threading.Thread(target=signal.send, args=(Shop,), kwargs={"n": 1})
        worker.start()
        worker.join()

    sent.assert_sent_once(sender=Shop, n=1)


def test_capture_records_djangos_own_post_save(db: None) -> None:
    with capture(post_save, sender=Author) as sent:
        author = Author.objects.create(name="Ursula")

    saved = sent.assert_sent_once(sender=Author, instance=author, created=True)
    assert saved.kwargs["using"] == "default"
    assert saved.signal is post_save


# -- capture(): nothing else changes --------------------------------------------------


def ordered_receivers(signal: eventbus.Signal, seen: list[Call]) -> None:
    signal.connect(make_receiver("s", "low", seen), weak=False, priority=-5)
    signal.connect(make_receiver("a", "first", seen), weak=False, priority=10)
    signal.connect(make_receiver("s", "second", seen), weak=False)
    signal.connect(make_receiver("s", "third", seen), weak=False)
    signal.connect(make_receiver("a", "fourth", seen), weak=False)


def thread_pattern(seen: list[Call], calling_thread: threading.Thread) -> list[tuple[str, str]]:
    """Each receiver with "caller", or "hop N" for the Nth run of receivers off that thread.

    Consecutive receivers on one worker thread share a hop; which pool thread
    serves a hop is up to the pool, so thread identities are not compared.
    """
    pattern = []
    hops = 0
    previous: threading.Thread | None = None
    for call in seen:
        if call.thread is calling_thread:
            pattern.append((call.name, "caller"))
        else:
            if call.thread is not previous:
                hops += 1
            pattern.append((call.name, f"hop {hops}"))
        previous = call.thread
    return pattern


def test_capture_keeps_the_receivers_their_order_and_responses_of_send() -> None:
    signal = eventbus.Signal()
    plain: list[Call] = []
    ordered_receivers(signal, plain)
    expected = signal.send(Shop, n=1)

    captured: list[Call] = []
    signal = eventbus.Signal()
    ordered_receivers(signal, captured)
    with capture(signal):
        responses = signal.send(Shop, n=1)

    assert [r for _, r in responses] == [r for _, r in expected]
    assert [r for _, r in responses] == ["first", "second", "third", "fourth", "low"]
    me = threading.current_thread()
    assert thread_pattern(captured, me) == thread_pattern(plain, me)


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["asend", "asend_robust"])
async def test_capture_adds_no_thread_hop_or_task_to_asend(method: str) -> None:
    async def run(signal: eventbus.Signal) -> tuple[list[Call], list[object]]:
        seen: list[Call] = []
        tasks: list[object] = []
        ordered_receivers(signal, seen)

        async def task_probe(**kwargs: Any) -> None:
            tasks.append(anyio.get_current_task().id)

        signal.connect(task_probe, weak=False, priority=100)
        await getattr(signal, method)(Shop, n=1)
        return seen, tasks

    me = threading.current_thread()
    this_task = anyio.get_current_task().id
    plain, plain_tasks = await run(eventbus.Signal())
    signal = eventbus.Signal()
    with capture(signal) as sent:
        captured, captured_tasks = await run(signal)

    assert plain_tasks == captured_tasks == [this_task]
    assert thread_pattern(captured, me) == thread_pattern(plain, me)
    assert names(captured) == ["first", "second", "third", "fourth", "low"]
    # The async receivers run on the calling thread; each run of sync ones is one hop.
    assert thread_pattern(captured, me) == [
        ("first", "caller"),
        ("second", "hop 1"),
        ("third", "hop 1"),
        ("fourth", "caller"),
        ("low", "hop 2"),
    ]
    assert len(sent) == 1


def test_outside_a_capture_the_signal_has_no_wrapped_methods(
    signal: django.dispatch.Signal,
) -> None:
    with capture(signal):
        assert own_methods(signal) == {"send", "send_robust", "asend", "asend_robust"}

    assert own_methods(signal) == set()


def test_the_wrapped_methods_keep_the_names_of_the_originals(
    signal: django.dispatch.Signal,
) -> None:
    with capture(signal):
        assert signal.send.__name__ == "send"
        assert signal.asend_robust.__name__ == "asend_robust"


# -- capture(): nesting and restoring -------------------------------------------------


def test_nested_captures_each_record_the_sends_made_while_they_are_open(
    signal: django.dispatch.Signal,
) -> None:
    with capture(signal) as outer:
        signal.send(Shop, n=1)
        with capture(signal) as inner:
            signal.send(Shop, n=2)
        signal.send(Shop, n=3)
        assert own_methods(signal) == {"send", "send_robust", "asend", "asend_robust"}

    assert [s.kwargs["n"] for s in outer] == [1, 2, 3]
    assert [s.kwargs["n"] for s in inner] == [2]
    assert own_methods(signal) == set()


def test_overlapping_captures_may_stop_in_any_order(signal: django.dispatch.Signal) -> None:
    first = capture(signal).start()
    second = capture(signal).start()
    signal.send(Shop, n=1)
    first.stop()
    signal.send(Shop, n=2)
    second.stop()
    signal.send(Shop, n=3)

    assert [s.kwargs["n"] for s in first] == [1]
    assert [s.kwargs["n"] for s in second] == [1, 2]
    assert own_methods(signal) == set()


def test_captures_of_different_signals_are_independent() -> None:
    a, b = eventbus.Signal(), eventbus.Signal()
    with capture(a) as sent_a, capture(b) as sent_b:
        a.send(Shop, n=1)
        b.send(Shop, n=2)

    assert [s.kwargs for s in sent_a] == [{"n": 1}]
    assert [s.kwargs for s in sent_b] == [{"n": 2}]


def test_a_send_method_patched_before_the_capture_is_restored(
    signal: django.dispatch.Signal,
) -> None:
    with mock.patch.object(signal, "send", return_value=mock.sentinel.patched) as patched:
        with capture(signal) as sent:
            assert signal.send(Shop, n=1) is mock.sentinel.patched
        assert vars(signal)["send"] is patched

    patched.assert_called_once_with(Shop, n=1)
    sent.assert_sent_once(n=1)
    assert own_methods(signal) == set()


def test_a_send_method_patched_during_the_capture_is_left_to_its_patcher(
    signal: django.dispatch.Signal,
) -> None:
    called: list[Call] = []
    signal.connect(make_receiver("s", "recorder", called), weak=False)
    sent = capture(signal).start()
    with mock.patch.object(signal, "send", return_value=["patched"]) as patched:
        sent.stop()
        assert vars(signal)["send"] is patched
    # The patcher put the capture's wrapper back: it forwards without recording.
    signal.send(Shop, n=1)

    assert len(sent) == 0
    assert len(called) == 1


def test_a_capture_is_stopped_even_when_the_block_raises(signal: django.dispatch.Signal) -> None:
    with pytest.raises(KeyError), capture(signal) as sent:
        raise KeyError

    assert not sent.active
    assert own_methods(signal) == set()


# -- capture(): the Capture object ----------------------------------------------------


def test_a_capture_is_a_sequence_of_sent_records() -> None:
    signal = eventbus.Signal()
    with capture(signal) as sent:
        signal.send(Shop, n=1)
        signal.send(Warehouse, n=2)

    assert len(sent) == 2
    assert isinstance(sent[0], Sent)
    assert sent[1].sender is Warehouse
    assert sent[:1] == sent.sends[:1]
    assert list(sent) == sent.sends
    assert sent[0].as_dict() == {"sender": Shop, "n": 1}


def test_clear_forgets_the_sends_and_recording_goes_on() -> None:
    signal = eventbus.Signal()
    with capture(signal) as sent:
        signal.send(Shop, n=1)
        sent.clear()
        signal.send(Shop, n=2)

    assert [s.kwargs for s in sent] == [{"n": 2}]


def test_start_and_stop_report_the_state_and_stopping_twice_changes_nothing() -> None:
    signal = eventbus.Signal(name="order_placed")
    sent = capture(signal)
    assert not sent.active
    assert repr(sent) == f"<Capture of {signal!r}: 0 sends, stopped>"

    assert sent.start() is sent
    assert repr(sent) == f"<Capture of {signal!r}: 0 sends, recording>"
    with pytest.raises(RuntimeError, match="already recording; use a new capture"):
        sent.start()
    sent.stop()
    sent.stop()

    assert not sent.active
    assert own_methods(signal) == set()


def test_a_stopped_capture_can_start_again_and_keeps_its_sends() -> None:
    signal = eventbus.Signal()
    sent = capture(signal)
    with sent:
        signal.send(Shop, n=1)
    signal.send(Shop, n=2)
    with sent:
        signal.send(Shop, n=3)

    assert [s.kwargs["n"] for s in sent] == [1, 3]


@pytest.mark.parametrize("not_a_signal", ["post_save", None, eventbus.Signal])
def test_capture_rejects_anything_but_a_signal_instance(not_a_signal: Any) -> None:
    with pytest.raises(TypeError, match=r"capture\(\) takes django.dispatch.Signal"):
        capture(not_a_signal)


# -- the assertions -------------------------------------------------------------------


@pytest.fixture
def order_sends() -> Iterator[Capture]:
    signal = eventbus.Signal(name="order_placed")
    with capture(signal) as sent:
        signal.send(Shop, order_id=1, total=10)
        signal.send(Warehouse, order_id=2, total=20)
        signal.send(Shop, order_id=3, total=30)
        yield sent


def test_assert_sent_matches_a_subset_of_the_kwargs_and_returns_the_first_match(
    order_sends: Capture,
) -> None:
    assert order_sends.assert_sent(sender=Shop) is order_sends[0]
    assert order_sends.assert_sent(total=20) is order_sends[1]
    assert order_sends.assert_sent(sender=Shop, order_id=3, total=30) is order_sends[2]
    assert order_sends.assert_sent(order_id=mock.ANY, total=30) is order_sends[2]
    assert order_sends.assert_sent() is order_sends[0]


def test_assert_sent_failure_shows_the_closest_send_as_a_diff_and_all_sends(
    order_sends: Capture,
) -> None:
    with pytest.raises(AssertionError) as failure:
        order_sends.assert_sent(sender=Warehouse, order_id=2, total=25)

    signal = order_sends.signal
    assert str(failure.value) == (
        f"Expected at least one send of {signal!r} matching\n"
        "{\n"
        f"    'sender': {Warehouse!r},\n"
        "    'order_id': 2,\n"
        "    'total': 25,\n"
        "}\n"
        "but none of the 3 captured sends matches. Closest: #1 (keys the expectation names):\n"
        "- expected\n"
        "+ actual\n"
        "  {\n"
        f"      'sender': {Warehouse!r},\n"
        "      'order_id': 2,\n"
        "-     'total': 25,\n"
        "?               ^\n"
        "+     'total': 20,\n"
        "?               ^\n"
        "  }\n"
        "All captured sends:\n"
        f"  #0 send(sender={Shop!r}, order_id=1, total=10)\n"
        f"  #1 send(sender={Warehouse!r}, order_id=2, total=20)\n"
        f"  #2 send(sender={Shop!r}, order_id=3, total=30)"
    )


def test_assert_sent_failure_shows_a_missing_kwarg_as_missing(order_sends: Capture) -> None:
    with pytest.raises(
        AssertionError, match=r"-     'coupon': 'SPRING',\n      'order_id': 1,\n  }"
    ):
        order_sends.assert_sent(order_id=1, coupon="SPRING")


def test_assert_sent_failure_says_when_nothing_was_sent() -> None:
    signal = eventbus.Signal(name="order_placed")
    with capture(signal) as sent:
        pass

    with pytest.raises(AssertionError) as failure:
        sent.assert_sent(order_id=1)

    assert str(failure.value) == (
        f"Expected at least one send of {signal!r} matching\n"
        "{\n    'order_id': 1,\n}\nbut nothing was sent."
    )


def test_assert_sent_once_passes_for_exactly_one_match(order_sends: Capture) -> None:
    assert order_sends.assert_sent_once(sender=Warehouse) is order_sends[1]


def test_assert_sent_once_fails_for_several_matches_and_lists_them(order_sends: Capture) -> None:
    with pytest.raises(AssertionError) as failure:
        order_sends.assert_sent_once(sender=Shop)

    assert str(failure.value) == (
        f"Expected exactly one send of {order_sends.signal!r} matching\n"
        f"{{\n    'sender': {Shop!r},\n}}\n"
        "but 2 sends match:\n"
        f"  #0 send(sender={Shop!r}, order_id=1, total=10)\n"
        f"  #2 send(sender={Shop!r}, order_id=3, total=30)"
    )


def test_assert_sent_once_fails_for_no_match(order_sends: Capture) -> None:
    with pytest.raises(AssertionError, match=r"Expected exactly one send of .* matching"):
        order_sends.assert_sent_once(order_id=4)


def test_assert_not_sent_passes_when_nothing_matches(order_sends: Capture) -> None:
    order_sends.assert_not_sent(order_id=4)
    order_sends.assert_not_sent(sender=Warehouse, total=10)


def test_assert_not_sent_fails_and_lists_the_matching_sends(order_sends: Capture) -> None:
    with pytest.raises(AssertionError) as failure:
        order_sends.assert_not_sent(order_id=2)

    assert str(failure.value) == (
        f"Expected no send of {order_sends.signal!r} matching\n"
        "{\n    'order_id': 2,\n}\n"
        "but 1 send does:\n"
        f"  #1 send(sender={Warehouse!r}, order_id=2, total=20)"
    )


def test_assert_not_sent_without_arguments_means_nothing_was_sent(order_sends: Capture) -> None:
    with pytest.raises(AssertionError, match=r"Expected no send of .*>\s+but 3 sends do:"):
        order_sends.assert_not_sent()
    order_sends.clear()
    order_sends.assert_not_sent()


def test_assert_sends_passes_for_the_exact_sequence(order_sends: Capture) -> None:
    order_sends.assert_sends(
        [
            {"sender": Shop, "order_id": 1},
            {"order_id": 2, "total": 20},
            {"sender": Shop, "total": 30},
        ]
    )


def test_assert_sends_fails_for_another_order_with_a_diff(order_sends: Capture) -> None:
    with pytest.raises(AssertionError) as failure:
        order_sends.assert_sends([{"order_id": 2}, {"order_id": 1}, {"order_id": 3}])

    message = str(failure.value)
    assert message.startswith(
        f"Expected 3 sends of {order_sends.signal!r}, in this order, but 3 were captured, "
        "and they differ (keyword arguments an expectation does not name are left out):\n"
        "- expected\n+ actual\n  [\n      {\n-         'order_id': 2,\n"
    )
    assert "+         'order_id': 1,\n" in message
    assert message.endswith(
        f"All captured sends:\n  #0 send(sender={Shop!r}, order_id=1, total=10)\n"
        f"  #1 send(sender={Warehouse!r}, order_id=2, total=20)\n"
        f"  #2 send(sender={Shop!r}, order_id=3, total=30)"
    )


def test_assert_sends_fails_for_extra_sends_and_shows_them_whole(order_sends: Capture) -> None:
    with pytest.raises(AssertionError) as failure:
        order_sends.assert_sends([{"order_id": 1}, {"order_id": 2}])

    message = str(failure.value)
    assert "Expected 2 sends of" in message
    assert "but 3 were captured" in message
    assert "+     {\n" in message
    assert f"+         'sender': {Shop!r},\n+         'order_id': 3,\n" in message


def test_assert_sends_fails_for_missing_sends(order_sends: Capture) -> None:
    with pytest.raises(AssertionError, match=r"Expected 4 sends of .* but 3 were captured"):
        order_sends.assert_sends([{}, {}, {}, {"order_id": 4}])


def test_assert_sends_of_nothing() -> None:
    signal = eventbus.Signal()
    with capture(signal) as sent:
        pass
    sent.assert_sends([])
    signal.send(Shop)  # after the block: not recorded
    sent.assert_sends([])


def test_assert_sends_of_nothing_fails_when_something_was_sent() -> None:
    signal = eventbus.Signal()
    with capture(signal) as sent:
        signal.send(Shop, n=1)

    with pytest.raises(AssertionError, match=r"(?s)Expected 0 sends.*- \[\]\n\+ \[\n"):
        sent.assert_sends([])


def test_the_assertions_document_their_default_sender_as_any_sender() -> None:
    default = inspect.signature(Capture.assert_sent).parameters["sender"].default
    assert repr(default) == "<any sender>"


def test_failure_messages_print_long_values_over_several_lines() -> None:
    signal = eventbus.Signal()
    lines = [f"line number {i} of the order notes" for i in range(6)]
    with capture(signal) as sent:
        signal.send(Shop, notes=lines)

    with pytest.raises(AssertionError) as failure:
        sent.assert_sent(notes=[*lines[:5], "changed"])

    message = str(failure.value)
    assert "-      'changed']," in message
    assert "+      'line number 5 of the order notes']," in message
    assert "       'line number 4 of the order notes',\n" in message


# -- muted() --------------------------------------------------------------------------


def make_receivers(signal: django.dispatch.Signal, called: list[Call]) -> list[Receiver]:
    receivers = [make_receiver("s", name, called) for name in ("a", "b", "c")]
    if isinstance(signal, eventbus.Signal):
        signal.connect(receivers[0], weak=False, priority=-1)
        signal.connect(receivers[1], weak=False, priority=5)
        signal.connect(receivers[2], weak=False)
    else:
        for each in receivers:
            signal.connect(each, weak=False)
    return receivers


def test_muted_silences_the_receivers_and_restores_them_in_order(
    signal: django.dispatch.Signal,
) -> None:
    called: list[Call] = []
    make_receivers(signal, called)
    signal.send(Shop)
    before = names(called)
    receivers_before = list(signal.receivers)
    called.clear()

    with muted(signal):
        assert signal.send(Shop) == []
    assert called == []

    signal.send(Shop)
    assert names(called) == before
    assert list(signal.receivers) == receivers_before


def test_muted_keeps_eventbus_priorities() -> None:
    signal = eventbus.Signal()
    make_receivers(signal, [])
    before = [(r.name, r.priority) for r in signal.receivers_for(Shop)]

    with muted(signal):
        pass

    assert [(r.name, r.priority) for r in signal.receivers_for(Shop)] == before
    assert [p for _, p in before] == [5, 0, -1]


@pytest.mark.anyio
async def test_muted_silences_async_sends_too(signal: django.dispatch.Signal) -> None:
    called: list[Call] = []
    make_receivers(signal, called)
    with muted(signal):
        assert await signal.asend(Shop) == []
        assert await signal.asend_robust(Shop) == []
    assert called == []


def test_a_cached_plain_django_signal_is_muted_too() -> None:
    signal = django.dispatch.Signal(use_caching=True)
    called: list[Call] = []
    make_receivers(signal, called)
    signal.send(Shop)  # fills the per-sender cache
    called.clear()

    with muted(signal):
        signal.send(Shop)
    assert called == []
    signal.send(Shop)
    assert names(called) == ["a", "b", "c"]


def test_an_eventbus_receiver_connected_while_muted_stays_connected() -> None:
    signal = eventbus.Signal()
    called: list[Call] = []
    with muted(signal):
        signal.connect(make_receiver("s", "recorder", called), weak=False)
    signal.send(Shop)
    assert len(called) == 1


def test_a_plain_django_receiver_connected_while_muted_is_dropped() -> None:
    signal = django.dispatch.Signal()
    called: list[Call] = []
    with muted(signal):
        signal.connect(make_receiver("s", "recorder", called), weak=False)
    signal.send(Shop)
    assert called == []


def test_muted_takes_several_signals_and_restores_them_when_the_block_raises() -> None:
    called: list[Call] = []
    first, second = eventbus.Signal(), django.dispatch.Signal()
    make_receivers(first, called)
    make_receivers(second, called)

    def send_both_then_fail() -> None:
        first.send(Shop)
        second.send(Shop)
        raise KeyError

    with pytest.raises(KeyError), muted(first, second):
        send_both_then_fail()
    assert called == []

    first.send(Shop)
    second.send(Shop)
    assert names(called) == ["b", "c", "a", "a", "b", "c"]


def test_muting_the_same_signal_twice_nests(signal: django.dispatch.Signal) -> None:
    called: list[Call] = []
    make_receivers(signal, called)
    with muted(signal, signal), muted(signal):
        signal.send(Shop)
    signal.send(Shop)
    assert sorted(names(called)) == ["a", "b", "c"]


def test_muted_decorates_a_sync_function_and_mutes_each_call(
    signal: django.dispatch.Signal,
) -> None:
    called: list[Call] = []
    make_receivers(signal, called)

    @muted(signal)
    def place_order(depth: int) -> int:
        signal.send(Shop)
        return depth if depth == 0 else place_order(depth - 1) + 1

    assert place_order(2) == 2
    assert place_order.__name__ == "place_order"
    assert called == []
    signal.send(Shop)
    assert sorted(names(called)) == ["a", "b", "c"]


@pytest.mark.anyio
async def test_muted_decorates_an_async_function_for_the_whole_await(
    signal: django.dispatch.Signal,
) -> None:
    called: list[Call] = []
    make_receivers(signal, called)

    @muted(signal)
    async def place_order() -> str:
        await anyio.lowlevel.checkpoint()
        await signal.asend(Shop)
        return "placed"

    assert await place_order() == "placed"
    assert called == []
    await signal.asend(Shop)
    assert sorted(names(called)) == ["a", "b", "c"]


def test_muted_refuses_to_decorate_a_class() -> None:
    with pytest.raises(TypeError, match="muted\\(\\) decorates functions, not classes like Shop"):
        muted(eventbus.Signal())(Shop)


def test_muted_needs_at_least_one_signal_instance() -> None:
    with pytest.raises(TypeError, match=r"muted\(\) needs at least one signal"):
        muted()
    with pytest.raises(TypeError, match=r"muted\(\) takes django.dispatch.Signal"):
        muted(eventbus.Signal(), "post_save")  # type: ignore[arg-type]


def test_one_muted_object_cannot_be_entered_twice_at_once() -> None:
    signal = eventbus.Signal(name="order_placed")
    muting = muted(signal)
    assert repr(muting) == f"muted({signal!r})"
    with muting, pytest.raises(RuntimeError, match="already active; use a new muted"):
        muting.__enter__()
    with muting:  # reusable once exited
        pass


def test_muted_with_capture_asserts_a_send_without_running_receivers(db: None) -> None:
    called: list[Call] = []
    record = make_receiver("s", "recorder", called)
    post_save.connect(record, sender=Author, weak=False)
    try:
        with muted(post_save), capture(post_save, sender=Author) as sent:
            author = Author.objects.create(name="Ursula")
    finally:
        post_save.disconnect(record, sender=Author)

    assert called == []
    sent.assert_sent_once(instance=author, created=True)


# -- after-commit receivers and Django's on_commit capture ----------------------------


def after_commit_receiver(signal: eventbus.Signal, kind: str, ran: list[Call]) -> Receiver:
    """Connect a receiver of ``kind`` that runs after commit and records into ``ran``."""
    receiver = make_receiver(kind, "after_commit", ran)
    signal.connect(receiver, weak=False, on_commit=True)
    return receiver


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
def test_after_commit_receivers_run_when_pytest_django_executes_the_captured_callbacks(
    kind: str, django_capture_on_commit_callbacks: Any
) -> None:
    signal = eventbus.Signal()
    ran: list[Call] = []
    receiver = after_commit_receiver(signal, kind, ran)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert signal.send(Shop, order_id=1) == [(receiver, eventbus.AFTER_COMMIT)]
        assert ran == []

    assert len(callbacks) == 1
    assert [call.kwargs["order_id"] for call in ran] == [1]


@pytest.mark.django_db
def test_after_commit_receivers_do_not_run_when_the_callbacks_are_not_executed(
    django_capture_on_commit_callbacks: Any,
) -> None:
    signal = eventbus.Signal()
    ran: list[Call] = []
    after_commit_receiver(signal, "s", ran)

    with django_capture_on_commit_callbacks() as callbacks:
        signal.send(Shop, order_id=1)
    assert ran == []

    callbacks[0]()
    assert [call.kwargs["order_id"] for call in ran] == [1]


@pytest.mark.django_db
def test_a_captured_and_muted_after_commit_signal_records_the_send_but_defers_nothing(
    django_capture_on_commit_callbacks: Any,
) -> None:
    signal = eventbus.Signal()
    ran: list[Call] = []
    after_commit_receiver(signal, "s", ran)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        muted(signal),
        capture(signal) as sent,
    ):
        signal.send(Shop, order_id=1)

    assert callbacks == []
    assert ran == []
    sent.assert_sent_once(sender=Shop, order_id=1)


class AfterCommitInDjangoTestCase(TestCase):
    """Django's own ``TestCase.captureOnCommitCallbacks`` runs after-commit receivers."""

    def test_after_commit_receivers_run_when_the_callbacks_are_executed(self) -> None:
        signal = eventbus.Signal()
        ran: list[Call] = []
        after_commit_receiver(signal, "s", ran)

        with self.captureOnCommitCallbacks(execute=True) as callbacks, capture(signal) as sent:
            signal.send(Shop, order_id=1)
            assert ran == []

        assert len(callbacks) == 1
        assert [call.kwargs["order_id"] for call in ran] == [1]
        sent.assert_sent_once(sender=Shop, order_id=1)


# -- sends that only happen when someone listens ----------------------------------------


@pytest.mark.django_db
def test_a_capture_records_a_bridged_save_that_no_receiver_listens_to() -> None:
    """The bridge relays only for listeners; an open capture is one."""
    assert not eventbus.signals.post_save.has_listeners(Author)
    with capture(eventbus.signals.post_save, sender=Author) as sent:
        assert eventbus.signals.post_save.has_listeners(Author)
        author = Author.objects.create(name="Ann")
    sent.assert_sent_once(sender=Author, instance=author, created=True)
    assert not eventbus.signals.post_save.has_listeners(Author)


@pytest.mark.django_db
def test_a_capture_records_a_bulk_signal_that_no_receiver_listens_to() -> None:
    with capture(eventbus.signals.post_bulk_create) as sent:
        Gadget.objects.bulk_create([Gadget(name="a"), Gadget(name="b")])
    assert [len(s.kwargs["objs"]) for s in sent] == [2]


def test_a_capture_on_one_sender_listens_to_that_sender_only() -> None:
    signal = eventbus.Signal()
    with capture(signal, sender=Author):
        assert signal.has_listeners(Author)
        assert not signal.has_listeners(Gadget)
    assert not signal.has_listeners(Author)
