"""``Signal.receivers``: the list in Django's format, and what writing to it does."""

from __future__ import annotations

import gc
import weakref

import django.dispatch
import pytest

import eventbus
from tests.helpers import Receiver, make_receiver


def names(signal: eventbus.Signal, sender: object = None) -> list[str]:
    return [response for _, response in signal.send(sender=sender)]


@pytest.fixture
def abc() -> tuple[eventbus.Signal, list[Receiver]]:
    signal = eventbus.Signal()
    receivers = [make_receiver("s", name, []) for name in ("a", "b", "c")]
    for receiver, priority in zip(receivers, (10, 0, 0), strict=True):
        signal.connect(receiver, priority=priority, weak=False)
    return signal, receivers


def test_append_of_a_foreign_django_entry_connects_it_last_at_priority_zero(
    abc: tuple[eventbus.Signal, list[Receiver]],
) -> None:
    signal, _ = abc
    plain = django.dispatch.Signal()
    extra = make_receiver("s", "x", [])
    plain.connect(extra, weak=False)
    signal.receivers.append(plain.receivers[0])
    assert names(signal) == ["a", "b", "c", "x"]
    assert [info.priority for info in signal.receivers_for()] == [10, 0, 0, 0]


def test_extend_remove_pop_and_del_write_back(
    abc: tuple[eventbus.Signal, list[Receiver]],
) -> None:
    signal, _ = abc
    entries = signal.receivers
    entries.remove(entries[1])  # b
    assert names(signal) == ["a", "c"]
    entries = signal.receivers
    entries.pop()  # c
    assert names(signal) == ["a"]
    entries = signal.receivers
    del entries[0]
    assert names(signal) == []
    assert not signal.has_listeners()


def test_setitem_reorders_equal_priorities_and_keeps_priorities(
    abc: tuple[eventbus.Signal, list[Receiver]],
) -> None:
    signal, _ = abc
    entries = signal.receivers
    entries[1], entries[2] = entries[2], entries[1]
    # a keeps priority 10 even though the list put b and c around it.
    assert names(signal) == ["a", "c", "b"]


def test_extend_and_clear_write_back(abc: tuple[eventbus.Signal, list[Receiver]]) -> None:
    signal, _ = abc
    saved = list(signal.receivers)
    entries = signal.receivers
    entries.clear()
    assert names(signal) == []
    entries.extend(saved)
    assert names(signal) == ["a", "b", "c"]


def test_a_stale_list_does_not_overwrite_later_changes(
    abc: tuple[eventbus.Signal, list[Receiver]],
) -> None:
    """Like Django's list after ``signal.receivers = []``, an old snapshot is detached."""
    signal, _ = abc
    old = signal.receivers
    late = make_receiver("s", "late", [])
    signal.connect(late, weak=False)
    old.pop()
    assert names(signal) == ["a", "b", "c", "late"]


def test_duplicate_entries_in_an_assigned_list_connect_once(
    abc: tuple[eventbus.Signal, list[Receiver]],
) -> None:
    signal, _ = abc
    entries = signal.receivers
    signal.receivers = [*entries, *entries]
    assert names(signal) == ["a", "b", "c"]


def test_assigning_an_entry_of_the_wrong_shape_is_a_value_error_that_names_the_formats(
    abc: tuple[eventbus.Signal, list[Receiver]],
) -> None:
    signal, _ = abc
    with pytest.raises(ValueError, match=r"lookup_key, receiver, is_async"):
        signal.receivers = [("too", "short")]
    assert names(signal) == ["a", "b", "c"], "a rejected assignment changes nothing"


def test_dead_foreign_entries_are_dropped_on_assignment() -> None:
    signal = eventbus.Signal()
    plain = django.dispatch.Signal()
    doomed = make_receiver("s", "doomed", [])
    plain.connect(doomed)
    entry = plain.receivers[0]
    del doomed
    gc.collect()
    signal.receivers = [entry]
    assert signal.receivers == []


def test_foreign_entry_for_a_dead_sender_is_dropped_on_assignment() -> None:
    class Sender:
        pass

    sender = Sender()
    receiver = make_receiver("s", "r", [])
    ref = weakref.ref(sender)
    entry = ((id(receiver), id(sender)), receiver, ref, False)
    del sender
    gc.collect()
    signal = eventbus.Signal()
    signal.receivers = [entry]
    assert signal.receivers == []


def test_foreign_bound_method_entry_stays_weak() -> None:
    class Handler:
        def on(self, sender: object, **kwargs: object) -> str:
            return "handled"

    handler = Handler()
    plain = django.dispatch.Signal()
    plain.connect(handler.on)
    signal = eventbus.Signal()
    signal.receivers = list(plain.receivers)
    assert [response for _, response in signal.send(sender=None)] == ["handled"]
    info = signal.receivers_for()[0]
    assert info.weak
    assert info.qualname.endswith("Handler.on")
    del info
    del handler
    gc.collect()
    assert signal.send(sender=None) == []
