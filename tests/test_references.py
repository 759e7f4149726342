"""References: what a connection keeps alive, what dies with the garbage collector, and the
connect-time validation that runs whatever ``settings.DEBUG`` says."""

from __future__ import annotations

import gc
import re
import weakref
from collections.abc import Callable
from typing import cast

import django
import django.dispatch
import pytest
from pytest_django import Settings

import eventbus
from tests.helpers import (
    KINDS,
    SEND_METHODS,
    Call,
    Receiver,
    Sender,
    make_receiver,
    names,
    send_from_async,
)


def cached_receivers(signal: eventbus.Signal) -> list[object]:
    """Every receiver the cached per-sender plans refer to (``None`` for a dead reference)."""
    return [
        record.deref() for plan in signal.sender_receivers_cache.values() for record in plan.records
    ]


def collect() -> None:
    """Run the garbage collector (twice: the first pass may only break cycles)."""
    gc.collect()
    gc.collect()


class SlottedSender:
    """A sender that cannot be weakly referenced."""

    __slots__ = ()


def big_int() -> int:
    """A new ``int`` object on each call (outside the small-int cache)."""
    return int("1" * 30)


class Handler:
    """Owner of bound-method receivers: ``on_s`` is a sync one, ``on_a`` an async one."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def on_s(self, sender: object, **kwargs: object) -> str:
        self.log.append("on_s")
        return "on_s"

    async def on_a(self, sender: object, **kwargs: object) -> str:
        self.log.append("on_a")
        return "on_a"

    def method_without_kwargs(self, sender: object) -> None:
        """Not a valid receiver."""

    def bound(self, kind: str) -> Receiver:
        """``on_s`` for kind "s", ``on_a`` for kind "a"."""
        return self.on_s if kind == "s" else self.on_a


class SlottedCallable:
    """A valid receiver that cannot be weakly referenced."""

    __slots__ = ()

    def __call__(self, sender: object, **kwargs: object) -> str:
        return "slotted"

    def method(self, sender: object, **kwargs: object) -> str:
        return "slotted.method"


class CallableWithoutKwargs:
    """A callable object that is not a valid receiver."""

    def __call__(self, sender: object) -> None:
        """Missing ``**kwargs``."""


class AsyncCallable:
    """A callable object whose ``__call__`` is a coroutine function."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def __call__(self, sender: object, **kwargs: object) -> str:
        self.log.append("awaited")
        return "awaited"


@pytest.fixture(params=[False, True], ids=["DEBUG=False", "DEBUG=True"])
def debug(request: pytest.FixtureRequest, settings: Settings) -> bool:
    """Run the test with ``settings.DEBUG`` off and on."""
    value: bool = request.param
    settings.DEBUG = value
    return value


# -- receivers are held weakly by default ---------------------------------------------------


@pytest.mark.usefixtures("debug")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("specific", [False, True], ids=["any-sender", "one-sender"])
def test_collected_receiver_is_gone_everywhere(kind: str, specific: bool) -> None:
    """Under DEBUG too: unlike Django's DEBUG check, validation must not keep it alive."""
    signal = eventbus.Signal()
    sender = Sender()
    log: list[Call] = []
    keeper = make_receiver(kind, "keeper", log)
    doomed = make_receiver(kind, "doomed", log)
    doomed_ref = weakref.ref(doomed)
    signal.connect(keeper)
    signal.connect(doomed, sender=sender if specific else None)
    responses = signal.send(sender)
    assert responses == [(keeper, "keeper"), (doomed, "doomed")]
    assert doomed in cached_receivers(signal)
    del responses, doomed

    collect()

    assert doomed_ref() is None
    assert None not in cached_receivers(signal)
    assert signal.send(sender) == [(keeper, "keeper")]
    assert [info.receiver for info in signal.receivers_for(sender)] == [keeper]
    assert names(log) == ["keeper", "doomed", "keeper"]
    signal.disconnect(keeper)
    assert signal.has_listeners(sender) is False
    assert signal.receivers_for(sender) == []


@pytest.mark.parametrize("kind", KINDS)
def test_only_receiver_collected_leaves_no_listeners(kind: str) -> None:
    signal = eventbus.Signal()
    doomed = make_receiver(kind, "doomed", [])
    doomed_ref = weakref.ref(doomed)
    signal.connect(doomed)
    assert signal.has_listeners() is True
    assert signal.send(None) == [(doomed, "doomed")]
    del doomed

    collect()

    assert doomed_ref() is None
    assert signal.has_listeners() is False
    assert signal.receivers_for() == []
    assert signal.send(None) == []
    assert None not in cached_receivers(signal)


@pytest.mark.parametrize("kind", KINDS)
def test_bound_method_receiver_stays_connected_while_its_instance_lives(kind: str) -> None:
    """The bound-method object itself is temporary: it must be held through a WeakMethod."""
    signal = eventbus.Signal()
    log: list[str] = []
    handler = Handler(log)
    signal.connect(handler.bound(kind))

    collect()

    assert signal.send(None) == [(handler.bound(kind), f"on_{kind}")]
    [info] = signal.receivers_for()
    assert info.weak is True
    assert info.receiver == handler.bound(kind)
    assert log == [f"on_{kind}"]


@pytest.mark.parametrize("kind", KINDS)
def test_connecting_a_bound_method_does_not_keep_its_instance_alive(kind: str) -> None:
    signal = eventbus.Signal()
    log: list[str] = []
    handler = Handler(log)
    handler_ref = weakref.ref(handler)
    signal.connect(handler.bound(kind))
    assert [response for _, response in signal.send(None)] == [f"on_{kind}"]
    del handler

    collect()

    assert handler_ref() is None
    assert signal.has_listeners() is False
    assert signal.send(None) == []
    assert signal.receivers_for() == []
    assert None not in cached_receivers(signal)
    assert log == [f"on_{kind}"]


@pytest.mark.parametrize("kind", KINDS)
def test_weak_false_keeps_a_closure_alive_until_disconnected(kind: str) -> None:
    signal = eventbus.Signal()
    log: list[Call] = []
    closure = make_receiver(kind, "closure", log)
    closure_ref = weakref.ref(closure)
    signal.connect(closure, weak=False)
    del closure

    collect()

    alive = closure_ref()
    assert alive is not None
    assert signal.send(None) == [(alive, "closure")]
    assert [info.weak for info in signal.receivers_for()] == [False]
    assert signal.disconnect(alive) is True
    del alive
    collect()
    assert closure_ref() is None
    assert names(log) == ["closure"]


# -- senders are held weakly ----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_connecting_for_a_sender_does_not_keep_the_sender_alive(kind: str) -> None:
    signal = eventbus.Signal()
    sender = Sender()
    sender_ref = weakref.ref(sender)
    receiver = make_receiver(kind, "r", [])
    signal.connect(receiver, sender=sender)
    assert signal.send(sender) == [(receiver, "r")]
    del sender

    collect()

    assert sender_ref() is None


@pytest.mark.parametrize("kind", KINDS)
def test_receivers_of_a_collected_sender_are_dropped(kind: str) -> None:
    """A new sender that reuses the dead one's address must not inherit its receivers."""
    signal = eventbus.Signal()
    log: list[Call] = []
    general = make_receiver(kind, "general", log)
    specific = make_receiver(kind, "specific", log)
    specific_ref = weakref.ref(specific)
    sender = Sender()
    dead_id = id(sender)
    signal.connect(general)
    signal.connect(specific, sender=sender, weak=False)
    del specific
    assert [response for _, response in signal.send(sender)] == ["general", "specific"]
    assert dead_id in signal.sender_receivers_cache
    del sender

    collect()
    newcomers = [Sender() for _ in range(20)]

    assert dead_id not in signal.sender_receivers_cache
    for newcomer in newcomers:
        assert signal.send(newcomer) == [(general, "general")]
        assert [info.receiver for info in signal.receivers_for(newcomer)] == [general]
    assert len(signal.receivers) == 1
    collect()
    assert specific_ref() is None  # the strong connection went with its sender
    assert names(log).count("specific") == 1


def adopt(signal: eventbus.Signal, receiver: Receiver, sender: object = None) -> None:
    """Connect ``receiver`` by inserting the raw entry a plain Django signal made for it."""
    plain = django.dispatch.Signal()
    plain.connect(receiver, sender=sender)
    signal.receivers.insert(0, plain.receivers[0])


@pytest.mark.parametrize("kind", KINDS)
def test_receiver_adopted_from_a_django_entry_is_still_held_weakly(kind: str) -> None:
    signal = eventbus.Signal()
    log: list[Call] = []
    doomed = make_receiver(kind, "doomed", log)
    doomed_ref = weakref.ref(doomed)
    adopt(signal, doomed)
    assert signal.send(None) == [(doomed, "doomed")]
    assert doomed in cached_receivers(signal)
    del doomed

    collect()

    assert doomed_ref() is None
    assert signal.has_listeners() is False
    assert signal.receivers_for() == []
    assert signal.send(None) == []
    assert None not in cached_receivers(signal)
    assert names(log) == ["doomed"]


@pytest.mark.skipif(django.VERSION < (6, 0), reason="Django 5.2 entries hold no sender reference")
@pytest.mark.parametrize("kind", KINDS)
def test_sender_of_an_adopted_django_entry_is_still_held_weakly(kind: str) -> None:
    """Django 6 entries hold their sender weakly; once adopted, its death must be noticed."""
    signal = eventbus.Signal()
    log: list[Call] = []
    general = make_receiver(kind, "general", log)
    specific = make_receiver(kind, "specific", log)
    sender = Sender()
    dead_id = id(sender)
    signal.connect(general)
    adopt(signal, specific, sender=sender)
    assert [response for _, response in signal.send(sender)] == ["specific", "general"]
    del sender

    collect()
    newcomers = [Sender() for _ in range(20)]

    for newcomer in newcomers:
        assert signal.send(newcomer) == [(general, "general")]
        assert [info.receiver for info in signal.receivers_for(newcomer)] == [general]
    # A newcomer may reuse the dead sender's id: then it shares the every-sender plan.
    cache = signal.sender_receivers_cache
    assert cache.get(dead_id) in (None, cache.get(id(None)))
    assert names(log).count("specific") == 1


@pytest.mark.parametrize("make_sender", [big_int, SlottedSender], ids=["int", "slots"])
@pytest.mark.parametrize("kind", KINDS)
def test_unweakrefable_senders_connect_send_and_disconnect(
    kind: str, make_sender: Callable[[], object]
) -> None:
    signal = eventbus.Signal()
    sender, other = make_sender(), make_sender()
    assert sender is not other
    log: list[Call] = []
    receiver = make_receiver(kind, "r", log)

    signal.connect(receiver, sender=sender)

    assert signal.has_listeners(sender) is True
    assert signal.has_listeners(other) is False
    assert signal.send(sender) == [(receiver, "r")]
    assert signal.send(other) == []
    [info] = signal.receivers_for(sender)
    assert info.sender_id == id(sender)
    assert signal.disconnect(receiver, sender=other) is False
    assert signal.disconnect(receiver, sender=sender) is True
    assert signal.send(sender) == []
    assert signal.has_listeners(sender) is False
    assert names(log) == ["r"]


# -- validation, whatever DEBUG says --------------------------------------------------------


@pytest.mark.usefixtures("debug")
def test_non_callable_receiver_is_a_type_error_naming_it() -> None:
    signal = eventbus.Signal()

    with pytest.raises(TypeError, match="'not-a-receiver'"):
        signal.connect(cast("Receiver", "not-a-receiver"))

    assert signal.receivers == []


def _async_without_kwargs() -> Receiver:
    async def async_without_kwargs(sender: object) -> None:
        """Missing ``**kwargs``."""

    return async_without_kwargs


def sync_without_kwargs(sender: object) -> None:
    """Missing ``**kwargs``."""


@pytest.mark.usefixtures("debug")
@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: sync_without_kwargs, "sync_without_kwargs"),
        (_async_without_kwargs, "_async_without_kwargs.<locals>.async_without_kwargs"),
        (lambda: Handler([]).method_without_kwargs, "Handler.method_without_kwargs"),
        (CallableWithoutKwargs, "CallableWithoutKwargs"),
    ],
    ids=["function", "async-function", "bound-method", "callable-object"],
)
def test_receiver_without_kwargs_is_a_value_error_naming_it(
    make: Callable[[], Receiver], name: str
) -> None:
    signal = eventbus.Signal()
    receiver = make()

    with pytest.raises(ValueError, match=re.escape(name)):
        signal.connect(receiver, weak=False)

    assert signal.receivers == []


@pytest.mark.usefixtures("debug")
@pytest.mark.parametrize(
    ("make", "response"),
    [(SlottedCallable, "slotted"), (lambda: SlottedCallable().method, "slotted.method")],
    ids=["callable-object", "bound-method"],
)
def test_weak_connection_of_an_unweakrefable_callable_says_use_weak_false(
    make: Callable[[], Receiver], response: str
) -> None:
    signal = eventbus.Signal()
    receiver = make()

    with pytest.raises(TypeError, match="weak=False"):
        signal.connect(receiver)
    assert signal.receivers == []

    signal.connect(receiver, weak=False)
    assert signal.send(None) == [(receiver, response)]


def connect_via(via: str, signal: eventbus.Signal, receiver: Receiver, priority: int) -> None:
    """Connect with ``priority`` through ``connect``, ``@receiver`` or ``connected_to``."""
    if via == "connect":
        signal.connect(receiver, priority=priority)
    elif via == "receiver":
        eventbus.receiver(signal, priority=priority)(receiver)
    else:
        with signal.connected_to(receiver, priority=priority):
            pass


@pytest.mark.usefixtures("debug")
@pytest.mark.parametrize("priority", [True, 1.5, "1"], ids=repr)
@pytest.mark.parametrize("via", ["connect", "receiver", "connected_to"])
def test_non_int_priority_is_a_type_error(priority: object, via: str) -> None:
    signal = eventbus.Signal()
    receiver = make_receiver("s", "r", [])
    bad = cast("int", priority)

    with pytest.raises(TypeError, match="priority"):
        connect_via(via, signal, receiver, bad)

    assert signal.receivers == []
    assert signal.send(None) == []


# -- callable objects with an async __call__ ------------------------------------------------


@pytest.mark.parametrize("method", SEND_METHODS)
@pytest.mark.anyio
async def test_callable_object_with_async_call_is_awaited(method: str) -> None:
    signal = eventbus.Signal()
    log: list[str] = []
    receiver = AsyncCallable(log)
    signal.connect(receiver)

    responses = await send_from_async(signal, method, None)

    assert responses == [(receiver, "awaited")]
    assert log == ["awaited"]
    [info] = signal.receivers_for()
    assert info.is_async is True
    assert signal.receivers[0][-1] is True
