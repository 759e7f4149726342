"""Drop-in: an ``eventbus.Signal`` behaves like the ``django.dispatch.Signal`` it subclasses.

Besides the direct checks, the differential tests build one scenario (sync receivers at the
default priority only) on a plain Django signal and on an eventbus signal, and require the
same results, the same return values and the same log records from both.
"""

from __future__ import annotations

import gc
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import django
import django.dispatch
import factory.django
import pytest

import eventbus
from tests.helpers import (
    KINDS,
    SEND_METHODS,
    Call,
    Receiver,
    Results,
    Sender,
    make_receiver,
    names,
    send_from_async,
)

DJANGO_ENTRY_LENGTH = 4 if django.VERSION >= (6, 0) else 3


def mute_signals(*signals: django.dispatch.Signal) -> factory.django.mute_signals:
    """factory_boy's real ``mute_signals`` (its constructor is untyped)."""
    return factory.django.mute_signals(*signals)  # type: ignore[no-untyped-call]


class EqualSender:
    """Equal to every other ``EqualSender``: only identity tells two of them apart."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EqualSender)

    def __hash__(self) -> int:
        return 0


class Handler:
    """Owner of a bound-method receiver."""

    def __init__(self, name: str) -> None:
        self.name = name

    def method(self, sender: object, **kwargs: object) -> str:
        return f"{self.name}.method"


# -- the class ------------------------------------------------------------------------------


def test_signal_is_a_django_signal() -> None:
    signal = eventbus.Signal()

    assert isinstance(signal, django.dispatch.Signal)
    assert issubclass(eventbus.Signal, django.dispatch.Signal)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", SEND_METHODS)
@pytest.mark.anyio
async def test_django_receiver_decorator_connects_to_an_eventbus_signal(
    kind: str, method: str
) -> None:
    signal = eventbus.Signal()
    log: list[Call] = []
    decorated = make_receiver(kind, "decorated", log)

    returned = django.dispatch.receiver(signal)(decorated)

    assert returned is decorated
    assert await send_from_async(signal, method, None) == [(decorated, "decorated")]
    assert names(log) == ["decorated"]


def test_django_receiver_decorator_accepts_a_mix_of_eventbus_and_django_signals() -> None:
    ours = eventbus.Signal()
    theirs = django.dispatch.Signal()
    sender = Sender("only")
    calls: list[tuple[object, object]] = []

    @django.dispatch.receiver([ours, theirs], sender=sender)
    def on_either(sender: object, **kwargs: object) -> str:
        calls.append((kwargs["signal"], sender))
        return "handled"

    assert ours.send(sender) == [(on_either, "handled")]
    assert theirs.send(sender) == [(on_either, "handled")]
    assert ours.send(Sender("other")) == []
    assert theirs.send(Sender("other")) == []
    assert calls == [(ours, sender), (theirs, sender)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", SEND_METHODS)
@pytest.mark.anyio
async def test_receivers_get_the_signal_the_sender_and_the_named_arguments(
    kind: str, method: str
) -> None:
    signal = eventbus.Signal()
    sender = Sender("s")
    log: list[Call] = []
    receiver = make_receiver(kind, "r", log)
    signal.connect(receiver)

    await send_from_async(signal, method, sender, colour="red", size=3)

    assert [(c.sender, c.signal, c.kwargs) for c in log] == [
        (sender, signal, {"colour": "red", "size": 3})
    ]


# -- connect / disconnect -------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_connect_returns_none_like_django(kind: str) -> None:
    signal = eventbus.Signal()
    receiver = make_receiver(kind, "r", [])
    connect: Callable[..., object] = signal.connect

    assert connect(receiver) is None
    assert connect(receiver) is None  # already connected: still None, as in Django


@pytest.mark.parametrize("kind", KINDS)
def test_disconnect_returns_whether_a_connection_was_removed(kind: str) -> None:
    signal = eventbus.Signal()
    sender = Sender("s")
    receiver = make_receiver(kind, "r", [])
    signal.connect(receiver, sender=sender)

    assert signal.disconnect(make_receiver(kind, "never", [])) is False
    assert signal.disconnect(receiver) is False  # connected for `sender`, not for every sender
    assert signal.disconnect(receiver, sender=Sender("other")) is False
    assert signal.disconnect(receiver, sender=sender) is True
    assert signal.disconnect(receiver, sender=sender) is False
    assert signal.send(sender) == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", SEND_METHODS)
@pytest.mark.anyio
async def test_dispatch_uid_identifies_the_connection_per_sender(kind: str, method: str) -> None:
    signal = eventbus.Signal()
    sender = Sender("s")
    log: list[Call] = []
    first, second, third = (make_receiver(kind, n, log) for n in ("first", "second", "third"))

    signal.connect(first, dispatch_uid="uid")
    signal.connect(second, dispatch_uid="uid")  # same uid, same (no) sender: ignored
    signal.connect(third, sender=sender, dispatch_uid="uid")  # same uid, other sender: kept

    assert await send_from_async(signal, method, None) == [(first, "first")]
    assert await send_from_async(signal, method, sender) == [(first, "first"), (third, "third")]
    assert signal.disconnect(dispatch_uid="uid") is True
    assert signal.disconnect(dispatch_uid="uid") is False
    assert await send_from_async(signal, method, None) == []
    assert await send_from_async(signal, method, sender) == [(third, "third")]
    assert names(log) == ["first", "first", "third", "third"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", SEND_METHODS)
@pytest.mark.anyio
async def test_sender_filter_compares_senders_by_identity(kind: str, method: str) -> None:
    signal = eventbus.Signal()
    mine, lookalike = EqualSender(), EqualSender()
    assert mine == lookalike
    log: list[Call] = []
    for_mine = make_receiver(kind, "for_mine", log)
    for_all = make_receiver(kind, "for_all", log)
    signal.connect(for_mine, sender=mine)
    signal.connect(for_all)

    assert await send_from_async(signal, method, mine) == [
        (for_mine, "for_mine"),
        (for_all, "for_all"),
    ]
    assert await send_from_async(signal, method, lookalike) == [(for_all, "for_all")]
    assert await send_from_async(signal, method, None) == [(for_all, "for_all")]
    assert names(log) == ["for_mine", "for_all", "for_all", "for_all"]


@pytest.mark.parametrize("kind", KINDS)
def test_has_listeners_answers_per_sender(kind: str) -> None:
    signal = eventbus.Signal()
    mine, other = Sender("mine"), Sender("other")
    specific = make_receiver(kind, "specific", [])
    general = make_receiver(kind, "general", [])

    assert signal.has_listeners() is False
    assert signal.has_listeners(mine) is False

    signal.connect(specific, sender=mine)
    assert signal.has_listeners(mine) is True
    assert signal.has_listeners(other) is False
    assert signal.has_listeners() is False

    signal.connect(general)
    assert signal.has_listeners(other) is True
    assert signal.has_listeners() is True

    signal.disconnect(general)
    signal.disconnect(specific, sender=mine)
    assert signal.has_listeners(mine) is False


# -- differential tests against a plain django.dispatch.Signal ------------------------------


Step = Callable[[Sequence[django.dispatch.Signal]], list[object]]


class Scenario:
    """One set of sync, priority-0 receivers, wired the same way onto several signals.

    Everything is shared, so that ``[(receiver, response), ...]`` lists from different
    signals compare equal: the same function objects, the same bound methods, and for
    the failing receivers the same exception instances.
    """

    def __init__(self, *, failing: bool, with_none_sender: bool) -> None:
        self.failing = failing
        self.sender_a = Sender("a")
        self.sender_b = Sender("b")
        self.senders: list[object] = [self.sender_a, self.sender_b, Sender("other")]
        if with_none_sender:
            self.senders.append(None)
        self.handler: Handler | None = Handler("handler")
        self.doomed: Handler | None = Handler("doomed")
        self.first_error = ValueError("first failure")
        self.second_error = KeyError("second failure")
        names = (
            *("one", "a_only", "two", "uid_first", "uid_second"),
            *("b_uid", "middle", "strong", "last", "late"),
        )
        self.r: dict[str, Receiver] = {name: self._returning(name) for name in names}
        self.r["boom"] = self._raising(self.first_error, "boom")
        self.r["a_boom"] = self._raising(self.second_error, "a_boom")

    @staticmethod
    def _returning(name: str) -> Receiver:
        def receiver(sender: object, **kwargs: object) -> str:
            return f"{name} <- {sender!r}"

        receiver.__qualname__ = f"Scenario.{name}"
        return receiver

    @staticmethod
    def _raising(error: Exception, name: str) -> Receiver:
        def receiver(sender: object, **kwargs: object) -> str:
            raise error

        receiver.__qualname__ = f"Scenario.{name}"
        return receiver

    def steps(self) -> list[Step]:
        return [self._wire, self._drop_doomed_handler, self._rewire]

    def _wire(self, signals: Sequence[django.dispatch.Signal]) -> list[object]:
        return [self._wire_one(signal) for signal in signals]

    def _wire_one(self, signal: django.dispatch.Signal) -> list[object]:
        r = self.r
        assert self.handler is not None
        assert self.doomed is not None
        connect: Callable[..., object] = signal.connect
        results = [
            connect(r["one"]),
            connect(r["a_only"], sender=self.sender_a),
            connect(self.handler.method),
            connect(r["two"]),
            connect(r["one"]),  # duplicate
            connect(r["uid_first"], dispatch_uid="uid"),
            connect(r["uid_second"], dispatch_uid="uid"),  # duplicate uid
            connect(r["b_uid"], sender=self.sender_b, dispatch_uid="uid"),
            connect(r["middle"]),
            connect(self.doomed.method),
            connect(r["strong"], weak=False),
            connect(r["one"], sender=self.sender_b),  # also connected for every sender
        ]
        if self.failing:
            results += [connect(r["boom"]), connect(r["a_boom"], sender=self.sender_a)]
        results += [
            connect(r["last"]),
            signal.disconnect(r["middle"]),
            signal.disconnect(r["middle"]),
            signal.disconnect(r["a_only"]),  # wrong sender
        ]
        return results

    def _drop_doomed_handler(self, signals: Sequence[django.dispatch.Signal]) -> list[object]:
        self.doomed = None
        gc.collect()
        return [None for _ in signals]

    def _rewire(self, signals: Sequence[django.dispatch.Signal]) -> list[object]:
        return [self._rewire_one(signal) for signal in signals]

    def _rewire_one(self, signal: django.dispatch.Signal) -> list[object]:
        connect: Callable[..., object] = signal.connect
        return [
            signal.disconnect(self.r["two"]),
            signal.disconnect(dispatch_uid="uid"),
            signal.disconnect(dispatch_uid="uid", sender=self.sender_a),
            connect(self.r["late"]),
            connect(self.r["two"]),  # reconnected: now after "late"
        ]


class PassThroughDjangoSignal(django.dispatch.Signal):
    """A Django signal subclass that overrides ``_live_receivers`` without changing it."""

    def _live_receivers(self, sender: Any) -> tuple[list[Receiver], list[Receiver]]:
        return super()._live_receivers(sender)


class PassThroughSignal(eventbus.Signal):
    """An eventbus signal subclass that overrides ``_live_receivers`` without changing it."""

    def _live_receivers(self, sender: Any) -> tuple[list[Receiver], list[Receiver]]:
        return super()._live_receivers(sender)


def _pair(use_caching: bool, subclassed: bool) -> tuple[django.dispatch.Signal, eventbus.Signal]:
    if subclassed:
        return PassThroughDjangoSignal(use_caching), PassThroughSignal(use_caching)
    return django.dispatch.Signal(use_caching), eventbus.Signal(use_caching)


SUBCLASSED = pytest.mark.parametrize(
    "subclassed", [False, True], ids=["plain", "live-receivers-override"]
)


def _log_summary(records: list[logging.LogRecord]) -> list[tuple[object, ...]]:
    return [
        (
            record.name,
            record.levelno,
            record.getMessage(),
            record.exc_info[1] if record.exc_info else None,
        )
        for record in records
    ]


@SUBCLASSED
@pytest.mark.parametrize("use_caching", [False, True])
def test_send_returns_what_django_send_returns(use_caching: bool, subclassed: bool) -> None:
    scenario = Scenario(failing=False, with_none_sender=not use_caching)
    theirs, ours = _pair(use_caching, subclassed)

    for step in scenario.steps():
        their_changes, our_changes = step([theirs, ours])
        assert our_changes == their_changes
        expected = [theirs.send(sender) for sender in scenario.senders]
        assert [ours.send(sender) for sender in scenario.senders] == expected
        assert [ours.has_listeners(s) for s in scenario.senders] == [
            theirs.has_listeners(s) for s in scenario.senders
        ]
    assert any(len(responses) > 3 for responses in expected)


@SUBCLASSED
@pytest.mark.parametrize("use_caching", [False, True])
def test_send_robust_returns_and_logs_what_django_send_robust_does(
    use_caching: bool, subclassed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    scenario = Scenario(failing=True, with_none_sender=not use_caching)
    theirs, ours = _pair(use_caching, subclassed)

    for step in scenario.steps():
        their_changes, our_changes = step([theirs, ours])
        assert our_changes == their_changes
        with caplog.at_level(logging.ERROR, logger="django.dispatch"):
            caplog.clear()
            expected = [theirs.send_robust(sender) for sender in scenario.senders]
            their_logs = _log_summary(caplog.records)
            caplog.clear()
            responses = [ours.send_robust(sender) for sender in scenario.senders]
            our_logs = _log_summary(caplog.records)
        assert responses == expected
        assert our_logs == their_logs
    failures = [r for rs in expected for _, r in rs if isinstance(r, Exception)]
    assert failures.count(scenario.first_error) == len(scenario.senders)
    assert failures.count(scenario.second_error) == 1
    assert their_logs[0][:3] == (
        "django.dispatch",
        logging.ERROR,
        "Error calling Scenario.boom in Signal.send_robust() (first failure)",
    )
    assert all(exc is not None for *_, exc in our_logs)


@SUBCLASSED
@pytest.mark.parametrize("use_caching", [False, True])
@pytest.mark.parametrize("method", ["asend", "asend_robust"])
@pytest.mark.asyncio
async def test_asend_matches_django_for_sync_receivers(
    use_caching: bool, subclassed: bool, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Django's asend only runs under asyncio, so this comparison does too."""
    robust = method == "asend_robust"
    scenario = Scenario(failing=robust, with_none_sender=not use_caching)
    theirs, ours = _pair(use_caching, subclassed)
    their_send: Callable[..., Awaitable[Results]] = getattr(theirs, method)
    our_send: Callable[..., Awaitable[Results]] = getattr(ours, method)

    for step in scenario.steps():
        their_changes, our_changes = step([theirs, ours])
        assert our_changes == their_changes
        with caplog.at_level(logging.ERROR, logger="django.dispatch"):
            caplog.clear()
            expected = [await their_send(sender) for sender in scenario.senders]
            their_logs = _log_summary(caplog.records)
            caplog.clear()
            responses = [await our_send(sender) for sender in scenario.senders]
            our_logs = _log_summary(caplog.records)
        assert responses == expected
        assert our_logs == their_logs
    assert any(len(responses) > 3 for responses in expected)
    assert bool(their_logs) is robust


# -- code that reads or assigns signal.receivers --------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_factory_boy_mute_signals_silences_then_restores_order_and_priorities(
    kind: str,
) -> None:
    signal = eventbus.Signal()
    plain = django.dispatch.Signal()
    log: list[Call] = []
    low, high, mid, high2, once = (
        make_receiver(kind, n, log) for n in ("low", "high", "mid", "high2", "once")
    )
    signal.connect(low, priority=-5)
    signal.connect(high, priority=10)
    signal.connect(mid)
    signal.connect(high2, priority=10)
    signal.connect(once, priority=3, once=True)
    plain_receiver = make_receiver("s", "plain", log)
    plain.connect(plain_receiver)
    before = signal.receivers_for()

    with mute_signals(signal, plain):
        assert signal.send(None) == []
        assert plain.send(None) == []
        assert signal.has_listeners() is False
        assert log == []

    assert signal.receivers_for() == before
    assert [info.priority for info in before] == [10, 10, 3, 0, -5]
    assert [name for _, name in signal.send(None)] == ["high", "high2", "once", "mid", "low"]
    assert plain.send(None) == [(plain_receiver, "plain")]
    assert signal.send(None)[0] == (high, "high")  # `once` still fires only once
    assert names(log) == (
        ["high", "high2", "once", "mid", "low", "plain", "high", "high2", "mid", "low"]
    )


@pytest.mark.parametrize("kind", KINDS)
def test_factory_boy_mute_signals_works_as_a_decorator(kind: str) -> None:
    signal = eventbus.Signal()
    log: list[Call] = []
    first, second = make_receiver(kind, "first", log), make_receiver(kind, "second", log)
    signal.connect(second)
    signal.connect(first, priority=1)

    def send_inside() -> Results:
        return signal.send(None)

    muted_send = mute_signals(signal)(send_inside)

    assert muted_send() == []
    assert muted_send() == []  # the decorator can be entered again
    assert log == []
    assert signal.send(None) == [(first, "first"), (second, "second")]
    assert [info.priority for info in signal.receivers_for()] == [1, 0]


@pytest.mark.parametrize("kind", KINDS)
def test_receiver_connected_inside_mute_signals_keeps_its_priority(kind: str) -> None:
    signal = eventbus.Signal()
    log: list[Call] = []
    top, bottom, added = (make_receiver(kind, n, log) for n in ("top", "bottom", "added"))
    signal.connect(bottom, priority=-1)
    signal.connect(top, priority=9)

    with mute_signals(signal):
        signal.connect(added, priority=5)
        assert signal.send(None) == [(added, "added")]

    assert signal.send(None) == [(top, "top"), (added, "added"), (bottom, "bottom")]
    assert [info.priority for info in signal.receivers_for()] == [9, 5, -1]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("weak", [True, False])
@pytest.mark.parametrize("with_sender", [False, True])
def test_receivers_entries_have_the_installed_djangos_tuple_shape(
    kind: str, weak: bool, with_sender: bool
) -> None:
    theirs, ours = django.dispatch.Signal(), eventbus.Signal()
    receiver = make_receiver(kind, "r", [])
    sender = Sender("s") if with_sender else None
    theirs.connect(receiver, sender=sender, weak=weak)
    ours.connect(receiver, sender=sender, weak=weak)

    [their_entry] = theirs.receivers
    [our_entry] = ours.receivers

    assert isinstance(our_entry, tuple)
    assert len(our_entry) == len(their_entry) == DJANGO_ENTRY_LENGTH
    assert our_entry[0] == their_entry[0]  # lookup key
    assert type(our_entry[1]) is type(their_entry[1])
    live = our_entry[1]() if weak else our_entry[1]
    assert live is receiver
    assert our_entry[-1] == their_entry[-1] == (kind == "a")  # is_async
    if DJANGO_ENTRY_LENGTH == 4:
        their_sender_ref, our_sender_ref = their_entry[2], our_entry[2]
        assert type(our_sender_ref) is type(their_sender_ref)
        if sender is not None:
            assert our_sender_ref() is their_sender_ref() is sender


def test_receivers_entry_of_a_weak_bound_method_holds_a_weak_method() -> None:
    theirs, ours = django.dispatch.Signal(), eventbus.Signal()
    handler = Handler("h")
    theirs.connect(handler.method)
    ours.connect(handler.method)

    [their_entry] = theirs.receivers
    [our_entry] = ours.receivers

    assert our_entry[0] == their_entry[0]
    assert isinstance(our_entry[1], weakref.WeakMethod)
    assert type(our_entry[1]) is type(their_entry[1])
    assert our_entry[1]() == handler.method


@pytest.mark.parametrize("kind", KINDS)
def test_inserting_a_django_entry_first_runs_it_first_among_priority_zero(kind: str) -> None:
    theirs, ours = django.dispatch.Signal(), eventbus.Signal()
    log: list[Call] = []
    a, b, urgent, foreign = (make_receiver(kind, n, log) for n in ("a", "b", "urgent", "foreign"))
    ours.connect(a)
    ours.connect(b)
    ours.connect(urgent, priority=1)
    theirs.connect(foreign)

    ours.receivers.insert(0, theirs.receivers[0])

    assert ours.send(None) == [(urgent, "urgent"), (foreign, "foreign"), (a, "a"), (b, "b")]
    infos = ours.receivers_for()
    assert [info.priority for info in infos] == [1, 0, 0, 0]
    assert infos[1].receiver is foreign
    assert infos[1].is_async is (kind == "a")
    assert names(log) == ["urgent", "foreign", "a", "b"]


@pytest.mark.parametrize("kind", KINDS)
def test_assigning_an_empty_receivers_list_disconnects_everything(kind: str) -> None:
    signal = eventbus.Signal()
    sender = Sender("s")
    log: list[Call] = []
    signal.connect(make_receiver(kind, "general", log), weak=False)
    signal.connect(make_receiver(kind, "specific", log), sender=sender, weak=False)
    assert signal.send(sender) != []  # populate the per-sender cache

    signal.receivers = []

    assert signal.has_listeners() is False
    assert signal.has_listeners(sender) is False
    assert signal.send(sender) == []
    assert signal.send(None) == []
    assert signal.receivers_for(sender) == []
    assert names(log) == ["general", "specific"]


# -- subclasses overriding _live_receivers --------------------------------------------------


class SkippingSignal(eventbus.Signal):
    """Leaves out every receiver whose name starts with ``skip``."""

    def _live_receivers(self, sender: Any) -> tuple[list[Receiver], list[Receiver]]:
        sync_receivers, async_receivers = super()._live_receivers(sender)
        return (
            [r for r in sync_receivers if not r.__name__.startswith("skip")],
            [r for r in async_receivers if not r.__name__.startswith("skip")],
        )


@pytest.mark.parametrize("method", SEND_METHODS)
@pytest.mark.anyio
async def test_overridden_live_receivers_selects_and_eventbus_orders(method: str) -> None:
    signal = SkippingSignal()
    log: list[Call] = []
    sync_low = make_receiver("s", "sync_low", log)
    skip_async = make_receiver("a", "skip_async", log)
    async_high = make_receiver("a", "async_high", log)
    skip_sync = make_receiver("s", "skip_sync", log)
    sync_mid = make_receiver("s", "sync_mid", log)
    signal.connect(sync_low)
    signal.connect(skip_async, priority=5)
    signal.connect(async_high, priority=10)
    signal.connect(skip_sync, priority=20)
    signal.connect(sync_mid, priority=5)

    responses = await send_from_async(signal, method, None)

    # Django would call the sync receivers first; eventbus keeps priority order.
    assert responses == [
        (async_high, "async_high"),
        (sync_mid, "sync_mid"),
        (sync_low, "sync_low"),
    ]
    assert names(log) == ["async_high", "sync_mid", "sync_low"]
    assert [info.receiver for info in signal.receivers_for()] == [async_high, sync_mid, sync_low]


@pytest.mark.parametrize("kind", KINDS)
def test_overridden_live_receivers_decides_has_listeners(kind: str) -> None:
    signal = SkippingSignal()
    skipped = make_receiver(kind, "skipped", [])
    kept = make_receiver(kind, "kept", [])

    signal.connect(skipped)
    assert signal.has_listeners() is False
    assert signal.send(None) == []

    signal.connect(kept)
    assert signal.has_listeners() is True
    assert signal.send(None) == [(kept, "kept")]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", SEND_METHODS)
@pytest.mark.anyio
async def test_overridden_live_receivers_keeps_the_sender_filter(kind: str, method: str) -> None:
    """A receiver connected for one sender and for every sender runs once for other senders."""
    signal = PassThroughSignal()
    mine, other = Sender("mine"), Sender("other")
    log: list[Call] = []
    receiver = make_receiver(kind, "r", log)
    signal.connect(receiver, sender=mine)
    signal.connect(receiver)

    assert await send_from_async(signal, method, other) == [(receiver, "r")]
    assert await send_from_async(signal, method, None) == [(receiver, "r")]
    assert await send_from_async(signal, method, mine) == [(receiver, "r"), (receiver, "r")]
    assert names(log) == ["r"] * 4


# -- code that holds the lock, and what Django's __init__ sets -----------------------------


def run_bounded(target: Callable[[], None]) -> None:
    """Run ``target`` in a thread and fail (instead of hanging) if it does not finish."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "dead-locked"
    assert errors == []


def test_assigning_receivers_while_holding_the_lock_does_not_dead_lock() -> None:
    """The pattern a versioning app uses to mute a signal: ``with signal.lock: receivers = []``."""
    signal = eventbus.Signal()
    signal.connect(Handler("h").method, weak=False)
    saved = signal.receivers

    def mute_and_restore() -> None:
        with signal.lock:
            signal.receivers = []
        assert not signal.has_listeners()
        with signal.lock:
            signal.receivers = saved

    run_bounded(mute_and_restore)
    assert signal.has_listeners()


def test_djangos_clear_dead_receivers_under_the_lock_does_not_dead_lock() -> None:
    """Django's own signals tests call it so, after a weak receiver died."""
    signal = eventbus.Signal()

    def doomed(sender: object, **kwargs: object) -> None: ...

    signal.connect(doomed)
    del doomed
    gc.collect()

    def clear() -> None:
        with signal.lock:
            signal._clear_dead_receivers()  # type: ignore[attr-defined]

    run_bounded(clear)
    assert signal.receivers == []


def test_every_attribute_djangos_init_sets_exists_on_an_eventbus_signal() -> None:
    """eventbus does not call Django's __init__, so check nothing it sets is missing."""
    django_signal = django.dispatch.Signal(use_caching=True)
    bus_signal = eventbus.Signal(use_caching=True)
    missing = [name for name in vars(django_signal) if not hasattr(bus_signal, name)]
    assert missing == []
    assert bus_signal.use_caching is True
    assert bus_signal._dead_receivers is False
    assert isinstance(bus_signal.receivers, list)
    with bus_signal.lock:
        bus_signal.sender_receivers_cache.clear()
