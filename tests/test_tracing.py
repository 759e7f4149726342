"""Tracing: the records of every send and receiver run, trace() blocks, listeners, the log.

Timing is never asserted: durations only as ``>= 0`` or relative to each other.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import transaction
from django.db.transaction import TransactionManagementError

import eventbus
from eventbus import AFTER_COMMIT, Signal, _trace, tracing
from eventbus._node import node
from eventbus.apps import install
from eventbus.conf import EventbusSettings, TracingSettings
from eventbus.tracing import Record, RunRecord, SendRecord, Trace
from tests.helpers import (
    ASYNC_METHODS,
    KINDS,
    SEND_METHODS,
    SENDS,
    SYNC_METHODS,
    Receiver,
    layout_names,
    send_from_async,
    send_from_sync,
)

WAIT = 5.0

#: ``SENDS`` (every method, the async ones on each backend) split by robustness.
ROBUST_SENDS = [p for p in SENDS if "_robust" in str(p.id)]
RAISING_SENDS = [p for p in SENDS if p not in ROBUST_SENDS]


def reset_tracing() -> int:
    """Turn tracing off: no listener, no setting, no open block; return how many blocks
    were left open."""
    for listener in tracing._state.listeners:
        tracing.remove_listener(listener)
    tracing.configure(TracingSettings())
    with tracing._state.lock:
        leaked = tracing._state.open_blocks
        tracing._state.open_blocks = 0
        tracing._state.refresh()
    return leaked


@pytest.fixture(autouse=True)
def tracing_off() -> Iterator[None]:
    """Every test starts and ends with tracing off (and fails if it left a block open)."""
    reset_tracing()
    yield
    assert reset_tracing() == 0, "a trace() block was left open"
    assert not installed()


def installed() -> bool:
    """Whether a tracer is installed in the core (tracing is on somewhere in the process)."""
    return _trace.tracer is not None


def run_of(seen: Trace, receiver: Receiver) -> RunRecord:
    """The one run of ``receiver`` that ``seen`` holds."""
    [run] = [run for run in seen.runs if run.receiver is receiver]
    return run


@dataclass(frozen=True)
class Ran:
    """One receiver call: its name, its sender, and the name of its thread, read while it
    ran (trio renames its worker threads between jobs)."""

    name: str
    sender: object
    thread: str


def make_receiver(
    kind: str, name: str, log: list[Ran], *, raises: BaseException | None = None
) -> Receiver:
    """A sync ("s") or async ("a") receiver that logs a ``Ran`` and returns ``name``, or
    raises ``raises``; its dotted name is ``tests.test_tracing.receiver_<name>``."""

    def ran(sender: object) -> str:
        log.append(Ran(name, sender, threading.current_thread().name))
        if raises is not None:
            raise raises
        return name

    def sync_receiver(sender: object, **kwargs: Any) -> str:
        return ran(sender)

    async def async_receiver(sender: object, **kwargs: Any) -> str:
        return ran(sender)

    receiver: Receiver = sync_receiver if kind == "s" else async_receiver
    receiver.__qualname__ = f"receiver_{name}"
    return receiver


def connect_layout(signal: Signal, layout: str, log: list[Ran]) -> list[Receiver]:
    """One receiver per letter of ``layout`` ("s" sync, "a" async), in that order (by
    descending priority), named as ``layout_names()`` says."""
    receivers = [
        make_receiver(kind, name, log)
        for kind, name in zip(layout, layout_names(layout), strict=True)
    ]
    for position, receiver in enumerate(receivers):
        signal.connect(receiver, weak=False, priority=len(receivers) - position)
    return receivers


def threads(log: list[Ran]) -> list[str]:
    """The threads the receivers of ``log`` ran on, in order."""
    return [ran.thread for ran in log]


def names(log: list[Ran]) -> list[str]:
    return [ran.name for ran in log]


def assert_send_holds_its_runs(send: SendRecord) -> None:
    """Each run names its send, runs in order, and the send lasts as long as they do."""
    assert all(run.send_id == send.id for run in send.runs)
    assert all(run.id > send.id for run in send.runs)
    assert [run.id for run in send.runs] == sorted(run.id for run in send.runs)
    assert all(run.duration >= 0 for run in send.runs)
    assert send.duration >= sum(run.duration for run in send.runs)


# -- off by default, and free --------------------------------------------------------------


def test_tracing_is_off_by_default_and_sends_run_untraced() -> None:
    signal, log = Signal(), list[Ran]()
    receiver = make_receiver("s", "r", log)
    signal.connect(receiver, weak=False)

    assert not installed()
    assert signal.send(sender=None) == [(receiver, "r")]
    assert _trace.carrier() is None


def test_a_trace_block_installs_the_tracer_and_the_last_block_to_close_removes_it() -> None:
    with tracing.trace():
        assert installed()
        with tracing.trace():
            assert installed()
        assert installed()
    assert not installed()


def test_a_block_closed_by_an_exception_still_removes_the_tracer() -> None:
    with pytest.raises(ZeroDivisionError), tracing.trace():
        raise ZeroDivisionError
    assert not installed()


def test_a_listener_installs_the_tracer_until_it_is_removed_and_counts_once() -> None:
    seen: list[Record] = []
    tracing.add_listener(seen.append)
    tracing.add_listener(seen.append)
    assert installed()
    Signal().send(sender=None)
    assert [type(record) for record in seen] == [SendRecord]  # called once, not twice

    assert tracing.remove_listener(seen.append) is True
    assert not installed()
    assert tracing.remove_listener(seen.append) is False


def test_a_listener_must_be_callable() -> None:
    with pytest.raises(TypeError, match="A tracing listener must be callable, not 42"):
        tracing.add_listener(42)  # type: ignore[arg-type]
    assert not installed()


def test_a_trace_block_refuses_a_listener_that_is_not_callable_before_it_opens() -> None:
    with (
        pytest.raises(TypeError, match="A tracing listener must be callable, not 'log'"),
        tracing.trace("log"),  # type: ignore[arg-type]
    ):
        pass  # pragma: no cover - never entered
    assert not installed()


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param(TracingSettings(log=True), id="LOG"),
        pytest.param(TracingSettings(slow_receiver=0.5), id="SLOW_RECEIVER"),
        pytest.param(TracingSettings(opentelemetry=True), id="OPENTELEMETRY"),
    ],
)
def test_each_setting_installs_the_tracer_and_configuring_them_off_removes_it(
    settings: TracingSettings,
) -> None:
    tracing.configure(settings)
    assert installed()
    tracing.configure(TracingSettings())
    assert not installed()


def test_configuring_leaves_listeners_and_blocks_alone() -> None:
    seen: list[Record] = []
    tracing.add_listener(seen.append)
    with tracing.trace() as block:
        tracing.configure(TracingSettings(log=True))
        tracing.configure(TracingSettings())
        assert installed()
        Signal().send(sender=None)
    assert len(block.sends) == 1
    assert len(seen) == 1


def test_the_app_applies_the_tracing_setting_when_it_installs(
    reinstall: Callable[..., None],
) -> None:
    reinstall(tracing=TracingSettings(slow_receiver=1.0))
    assert installed()
    install(EventbusSettings())
    assert not installed()


def test_opentelemetry_without_the_api_installed_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.core.exceptions import ImproperlyConfigured  # noqa: PLC0415

    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImproperlyConfigured, match=r"pip install 'eventbus\[opentelemetry\]'"):
        tracing.configure(TracingSettings(opentelemetry=True, log=True))
    assert not installed()  # nothing of the refused configuration was applied


def test_a_block_sees_only_the_sends_made_in_its_own_context() -> None:
    """A block open on another thread turns the tracer on, but traces nothing here."""
    signal = Signal()
    opened, done = threading.Event(), threading.Event()
    elsewhere: list[Trace] = []

    def other_thread() -> None:
        with tracing.trace() as seen:
            elsewhere.append(seen)
            opened.set()
            assert done.wait(WAIT)

    thread = threading.Thread(target=other_thread)
    thread.start()
    try:
        assert opened.wait(WAIT)
        assert installed()
        assert signal.send(sender=None) == []
    finally:
        done.set()
        thread.join(WAIT)
    assert elsewhere[0].records == []


# -- what a send reports -----------------------------------------------------------------


@pytest.mark.parametrize("method", SYNC_METHODS)
def test_a_send_reports_each_run_where_it_ended_then_the_send(method: str) -> None:
    signal, log = Signal(name="tests.tracing.order_placed"), list[Ran]()
    receivers = connect_layout(signal, "sss", log)
    sender = object()

    with tracing.trace() as seen:
        results = send_from_sync(signal, method, sender=sender, order=7)

    assert results == list(zip(receivers, layout_names("sss"), strict=True))
    assert [type(record) for record in seen.records] == [RunRecord] * 3 + [SendRecord]
    [send] = seen.sends
    assert send.runs == tuple(seen.runs)
    assert (send.signal, send.sender, send.kwargs, send.method) == (
        signal,
        sender,
        {"order": 7},
        method,
    )
    assert (send.parent, send.exception, send.event_loop) == (None, None, None)
    assert send.thread == threading.current_thread().name
    assert send.signal_name == "tests.tracing.order_placed"
    assert [run.receiver for run in send.runs] == receivers
    assert [run.priority for run in send.runs] == [3, 2, 1]
    assert [run.thread for run in send.runs] == threads(log)
    for run in send.runs:
        assert (run.signal, run.sender, run.kwargs) == (signal, sender, {"order": 7})
        assert (run.is_async, run.delivery, run.event_loop) == (False, "local", None)
        assert (run.outcome, run.exception) == ("returned", None)
        assert run.signal_name == "tests.tracing.order_placed"
    assert [run.receiver_name for run in send.runs] == [
        f"tests.test_tracing.receiver_{name}" for name in layout_names("sss")
    ]
    assert_send_holds_its_runs(send)


def test_async_receivers_of_send_are_reported_on_the_loop_they_ran_on() -> None:
    """``send()`` from sync code enters a new asyncio loop for them (asgiref's, on its
    own thread); the priority order is shared with the sync receivers."""
    signal, log = Signal(), list[Ran]()
    receivers = connect_layout(signal, "sas", log)

    with tracing.trace() as seen:
        signal.send(sender=None)

    [send] = seen.sends
    assert [run.receiver for run in send.runs] == receivers
    assert [run.is_async for run in send.runs] == [False, True, False]
    assert [run.thread for run in send.runs] == threads(log)
    assert [run.event_loop for run in send.runs] == [None, "asyncio", None]
    assert send.runs[1].thread != threading.current_thread().name
    assert_send_holds_its_runs(send)


@pytest.mark.anyio
@pytest.mark.parametrize("method", ASYNC_METHODS)
async def test_asend_reports_sync_runs_in_their_thread_and_async_ones_on_the_loop(
    method: str, anyio_backend: str
) -> None:
    signal, log = Signal(), list[Ran]()
    receivers = connect_layout(signal, "saas", log)

    with tracing.trace() as seen:
        await send_from_async(signal, method, value=1)

    [send] = seen.sends
    here = threading.current_thread().name
    assert (send.method, send.thread, send.event_loop) == (method, here, anyio_backend)
    assert [run.receiver for run in send.runs] == receivers
    assert [run.is_async for run in send.runs] == [False, True, True, False]
    assert [run.thread for run in send.runs] == threads(log)
    assert [run.thread == here for run in send.runs] == [False, True, True, False]
    assert [run.event_loop for run in send.runs] == [None, anyio_backend, anyio_backend, None]
    assert all(run.kwargs == {"value": 1} for run in send.runs)
    assert_send_holds_its_runs(send)


@pytest.mark.anyio
async def test_send_called_on_an_event_loop_reports_that_loop(anyio_backend: str) -> None:
    signal, log = Signal(), list[Ran]()
    receiver = make_receiver("s", "s", log)
    signal.connect(receiver, weak=False)

    with tracing.trace() as seen:
        signal.send(sender=None)

    [send] = seen.sends
    [run] = send.runs
    here = threading.current_thread().name
    assert (send.thread, send.event_loop) == (here, anyio_backend)
    assert (run.thread, run.event_loop) == (here, anyio_backend)


@pytest.mark.anyio
async def test_a_concurrent_tier_reports_every_run_and_the_next_tier_after_it(
    anyio_backend: str,
) -> None:
    """Two async receivers that only finish together, a sync one in the same tier, and a
    lower-priority one that starts once the tier has settled."""
    signal, log = Signal(concurrent=True), list[Ran]()
    met: dict[str, anyio.Event] = {"a": anyio.Event(), "b": anyio.Event()}

    def meeting(name: str, other: str) -> Receiver:
        async def meet(sender: object, **kwargs: object) -> str:
            log.append(Ran(name, sender, threading.current_thread().name))
            met[name].set()
            with anyio.fail_after(WAIT):
                await met[other].wait()
            return name

        meet.__qualname__ = f"meet_{name}"
        return meet

    first, second = meeting("a", "b"), meeting("b", "a")
    in_thread, last = make_receiver("s", "s", log), make_receiver("a", "last", log)
    for receiver in (first, second, in_thread):
        signal.connect(receiver, weak=False, priority=1)
    signal.connect(last, weak=False)

    with tracing.trace() as seen:
        results = await signal.asend(sender=None)

    assert results == [(first, "a"), (second, "b"), (in_thread, "s"), (last, "last")]
    [send] = seen.sends
    assert {run.receiver for run in send.runs[:3]} == {first, second, in_thread}
    assert send.runs[3].receiver is last
    here = threading.current_thread().name
    assert {run.receiver: run.thread for run in send.runs} == {
        first: here,
        second: here,
        last: here,
        in_thread: next(call.thread for call in log if call.name == "s"),
    }
    assert all(run.outcome == "returned" for run in send.runs)
    assert run_of(seen, in_thread).event_loop is None
    assert run_of(seen, first).event_loop == anyio_backend


def test_a_once_receiver_has_a_run_in_the_first_send_only() -> None:
    signal, log = Signal(), list[Ran]()
    once, always = make_receiver("s", "once", log), make_receiver("s", "always", log)
    signal.connect(once, weak=False, once=True, priority=1)
    signal.connect(always, weak=False)

    with tracing.trace() as seen:
        signal.send(sender=None)
        signal.send(sender=None)

    first, second = seen.sends
    assert [run.receiver for run in first.runs] == [once, always]
    assert [run.receiver for run in second.runs] == [always]


@pytest.mark.parametrize("send", SENDS)
def test_a_send_without_receivers_is_still_reported(send: tuple[str, str | None]) -> None:
    method, backend = send
    signal = Signal(name="tests.tracing.nobody")

    with tracing.trace() as seen:
        assert send_from_sync(signal, method, backend, sender="me") == []

    assert [type(record) for record in seen.records] == [SendRecord]
    [record] = seen.sends
    assert (record.method, record.sender, record.runs, record.exception) == (method, "me", (), None)


def test_a_muted_signal_reports_its_sends_without_runs() -> None:
    signal, log = Signal(), list[Ran]()
    signal.connect(make_receiver("s", "r", log), weak=False)

    with tracing.trace() as seen, signal.muted():
        assert signal.send(sender=None) == []

    assert log == []
    [send] = seen.sends
    assert send.runs == ()


def test_the_records_of_a_block_are_listed_and_counted() -> None:
    signal = Signal()
    signal.connect(make_receiver("s", "r", []), weak=False)
    with tracing.trace() as seen:
        signal.send(sender=None)
    assert repr(seen) == "<Trace: 1 send(s), 1 run(s)>"
    assert seen.records == [*seen.runs, *seen.sends]


# -- failures --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("send", ROBUST_SENDS)
def test_a_robust_send_reports_the_failed_run_and_goes_on(
    send: tuple[str, str | None], kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    method, backend = send
    signal, log = Signal(name="tests.tracing.robust"), list[Ran]()
    error = ValueError("broken")
    before, failing = (
        make_receiver("s", "before", log),
        make_receiver(kind, "failing", log, raises=error),
    )
    after = make_receiver("s", "after", log)
    for priority, receiver in enumerate((after, failing, before)):
        signal.connect(receiver, weak=False, priority=priority)

    with caplog.at_level(logging.ERROR, logger="django.dispatch"), tracing.trace() as seen:
        results = send_from_sync(signal, method, backend)

    assert results == [(before, "before"), (failing, error), (after, "after")]
    [record] = seen.sends
    assert record.exception is None
    assert [run.outcome for run in record.runs] == ["returned", "raised", "returned"]
    assert [run.exception for run in record.runs] == [None, error, None]
    assert [run.thread for run in record.runs] == threads(log)
    assert "broken" in caplog.text  # robust sends keep their logging


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("send", RAISING_SENDS)
def test_a_failing_send_reports_its_exception_and_no_run_after_it(
    send: tuple[str, str | None], kind: str
) -> None:
    method, backend = send
    signal, log = Signal(), list[Ran]()
    error = ValueError("broken")
    before, failing = (
        make_receiver("s", "before", log),
        make_receiver(kind, "failing", log, raises=error),
    )
    after = make_receiver("s", "after", log)
    for priority, receiver in enumerate((after, failing, before)):
        signal.connect(receiver, weak=False, priority=priority)

    with tracing.trace() as seen, pytest.raises(ValueError, match="broken") as raised:
        send_from_sync(signal, method, backend)

    assert raised.value is error
    [record] = seen.sends
    assert record.exception is error
    assert [run.receiver for run in record.runs] == [before, failing]
    assert [run.outcome for run in record.runs] == ["returned", "raised"]
    assert record.runs[1].exception is error
    assert names(log) == ["before", "failing"]


class Abort(BaseException):
    """Not an ``Exception``: even robust sends let it through."""


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("send", SENDS)
def test_a_base_exception_is_reported_on_the_run_and_the_send(
    send: tuple[str, str | None], kind: str
) -> None:
    method, backend = send
    signal = Signal()
    abort = Abort("stop")
    failing = make_receiver(kind, "failing", [], raises=abort)
    signal.connect(failing, weak=False)

    with tracing.trace() as seen, pytest.raises(Abort):
        send_from_sync(signal, method, backend)

    [record] = seen.sends
    [run] = record.runs
    assert (run.outcome, run.exception, record.exception) == ("raised", abort, abort)


# -- after-commit receivers --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", KINDS)
def test_an_after_commit_receiver_is_deferred_in_the_send_then_runs_at_the_commit(
    kind: str,
) -> None:
    signal, log = Signal(), list[Ran]()
    local, deferred = make_receiver("s", "local", log), make_receiver(kind, "deferred", log)
    signal.connect(local, weak=False, priority=1)
    signal.connect(deferred, weak=False, on_commit=True)

    with tracing.trace() as seen:
        with transaction.atomic():
            assert signal.send(sender=None) == [(local, "local"), (deferred, AFTER_COMMIT)]
            [send] = seen.sends
            assert [run.receiver for run in seen.runs] == [local]
        [*_, committed] = seen.records

    assert [(run.receiver, run.outcome) for run in send.runs] == [
        (local, "returned"),
        (deferred, "deferred"),
    ]
    note = send.runs[1]
    assert (note.delivery, note.duration, note.exception) == ("after-commit", 0.0, None)
    assert isinstance(committed, RunRecord)
    assert committed.receiver is deferred
    assert (committed.send_id, committed.delivery, committed.outcome) == (
        send.id,
        "after-commit",
        "returned",
    )
    assert committed.id not in {run.id for run in send.runs}
    assert committed.thread == log[-1].thread
    assert committed.event_loop == (None if kind == "s" else "asyncio")


@pytest.mark.django_db(transaction=True)
def test_an_after_commit_receiver_has_no_run_when_the_transaction_rolls_back() -> None:
    signal = Signal()
    deferred = make_receiver("s", "deferred", [])
    signal.connect(deferred, weak=False, on_commit=True)

    def send_then_roll_back() -> None:
        with transaction.atomic():
            signal.send(sender=None)
            raise ZeroDivisionError

    with tracing.trace() as seen, pytest.raises(ZeroDivisionError):
        send_then_roll_back()

    [send] = seen.sends
    assert [run.outcome for run in send.runs] == ["deferred"]
    assert seen.runs == []


@pytest.mark.django_db(transaction=True)
def test_an_after_commit_run_reaches_a_block_that_closed_before_the_commit() -> None:
    signal = Signal()
    deferred = make_receiver("s", "deferred", [])
    signal.connect(deferred, weak=False, on_commit=True)

    with transaction.atomic():
        with tracing.trace() as seen:
            signal.send(sender=None)
        assert seen.runs == []

    [run] = seen.runs
    assert (run.receiver, run.outcome) == (deferred, "returned")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("send", SENDS)
def test_outside_a_transaction_an_after_commit_receiver_runs_at_once(
    send: tuple[str, str | None], kind: str
) -> None:
    method, backend = send
    signal, log = Signal(), list[Ran]()
    deferred = make_receiver(kind, "deferred", log)
    signal.connect(deferred, weak=False, on_commit=True)

    with tracing.trace() as seen:
        assert send_from_sync(signal, method, backend) == [(deferred, "deferred")]

    [record] = seen.sends
    [run] = record.runs
    assert (run.receiver, run.delivery, run.outcome) == (deferred, "after-commit", "returned")
    assert run.thread == log[0].thread
    assert seen.records == [run, record]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("send", SENDS)
def test_a_failing_after_commit_receiver_is_reported_raised_and_the_send_goes_on(
    send: tuple[str, str | None], kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    method, backend = send
    signal, log = Signal(), list[Ran]()
    error = ValueError("broken")
    deferred = make_receiver(kind, "deferred", log, raises=error)
    later = make_receiver("s", "later", log)
    signal.connect(deferred, weak=False, on_commit=True, priority=1)
    signal.connect(later, weak=False)

    with caplog.at_level(logging.ERROR, logger="eventbus"), tracing.trace() as seen:
        assert send_from_sync(signal, method, backend) == [(deferred, error), (later, "later")]

    [record] = seen.sends
    assert [(run.outcome, run.exception) for run in record.runs] == [
        ("raised", error),
        ("returned", None),
    ]
    assert record.exception is None
    assert "after commit" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_refused_after_commit_receiver_is_reported_deferred_with_the_refusal() -> None:
    """Manual transaction mode: Django's on_commit() refuses, the send reports the refusal."""
    signal = Signal()
    deferred = make_receiver("s", "deferred", [])
    signal.connect(deferred, weak=False, on_commit=True)

    transaction.set_autocommit(False)
    try:
        with tracing.trace() as seen:
            [(_, refusal)] = signal.send(sender=None)
    finally:
        transaction.rollback()
        transaction.set_autocommit(True)

    assert isinstance(refusal, TransactionManagementError)
    [run] = seen.sends[0].runs
    assert (run.outcome, run.exception) == ("deferred", refusal)


@pytest.mark.django_db(transaction=True)
@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("kind", KINDS)
async def test_asend_in_an_async_transaction_defers_to_its_commit(kind: str) -> None:
    signal, log = Signal(), list[Ran]()
    deferred = make_receiver(kind, "deferred", log)
    signal.connect(deferred, weak=False, on_commit=True)

    with tracing.trace() as seen:
        async with eventbus.atomic():
            assert await signal.asend(sender=None) == [(deferred, AFTER_COMMIT)]
            assert seen.runs == []

    [send] = seen.sends
    [note] = send.runs
    [run] = seen.runs
    assert (note.outcome, run.outcome) == ("deferred", "returned")
    assert (run.send_id, run.delivery) == (send.id, "after-commit")
    assert run.thread == log[0].thread


# -- nesting -----------------------------------------------------------------------------


def test_a_send_made_in_a_receiver_is_a_child_of_that_run_at_any_depth() -> None:
    first, second, third = Signal(), Signal(), Signal()
    third.connect(make_receiver("s", "leaf", []), weak=False)

    def relay(to: Signal) -> Receiver:
        def forward(sender: object, **kwargs: Any) -> None:
            to.send(sender=sender)

        return forward

    first.connect(relay(second), weak=False)
    second.connect(relay(third), weak=False)

    with tracing.trace() as seen:
        first.send(sender=None)
        first.send(sender=None)  # a second tree, with its own parents

    assert [send.signal for send in seen.sends] == [third, second, first] * 2
    for leaf, middle, root in (seen.sends[:3], seen.sends[3:]):
        assert root.parent is None
        assert middle.parent == root.runs[0].id
        assert leaf.parent == middle.runs[0].id
        assert root.duration >= middle.duration >= leaf.duration


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("nested_method", SEND_METHODS)
async def test_a_send_made_in_a_receiver_of_asend_is_a_child_of_that_run(
    kind: str, nested_method: str, anyio_backend: str
) -> None:
    """Sync receivers of ``asend()`` run after a thread hop, async ones on the loop; the
    nested send may be any method that fits where the receiver runs."""
    outer, inner = Signal(), Signal()
    inner.connect(make_receiver("s", "leaf", []), weak=False)

    if kind == "s":

        def nesting(sender: object, **kwargs: Any) -> None:
            send = getattr(inner, nested_method)
            if nested_method in SYNC_METHODS:
                send(sender=None)
            elif anyio_backend == "asyncio":
                async_to_sync(send)(sender=None)
            else:
                anyio.from_thread.run(functools.partial(send, sender=None))

        receiver: Receiver = nesting
    else:

        async def anesting(sender: object, **kwargs: Any) -> None:
            await send_from_async(inner, nested_method)

        receiver = anesting
    outer.connect(receiver, weak=False)

    with tracing.trace() as seen:
        await outer.asend(sender=None)

    child, parent = seen.sends
    assert (child.signal, parent.signal) == (inner, outer)
    [run] = parent.runs
    assert (run.receiver, child.parent) == (receiver, run.id)
    assert child.method == nested_method
    assert [run.receiver_name for run in child.runs] == ["tests.test_tracing.receiver_leaf"]


# -- isolation ---------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_block_in_one_task_sees_only_that_tasks_sends() -> None:
    """Two tasks send concurrently; only one is in a block. Its sends are traced across
    ``sync_to_async`` hops too; the other task's are not."""
    signal, log = Signal(), list[Ran]()
    signal.connect(make_receiver("s", "sync", log), weak=False, priority=1)
    signal.connect(make_receiver("a", "async", log), weak=False)
    opened, sent = asyncio.Event(), asyncio.Event()
    seen: list[Trace] = []

    async def traced() -> None:
        with tracing.trace() as block:
            seen.append(block)
            opened.set()
            await sent.wait()
            await signal.asend(sender="traced")
            await sync_to_async(signal.send)(sender="traced in a thread")

    async def untraced() -> None:
        await opened.wait()
        await signal.asend(sender="untraced")
        await sync_to_async(signal.send)(sender="untraced in a thread")
        sent.set()

    await asyncio.gather(traced(), untraced())

    [block] = seen
    assert [send.sender for send in block.sends] == ["traced", "traced in a thread"]
    assert {run.sender for run in block.runs} == {"traced", "traced in a thread"}
    assert len(log) == 8  # every send ran its receivers


def test_an_inner_blocks_records_reach_the_outer_block_and_both_listeners() -> None:
    signal = Signal()
    signal.connect(make_receiver("s", "r", []), weak=False)
    heard: list[tuple[str, Record]] = []

    with tracing.trace(lambda record: heard.append(("outer", record))) as outer:
        signal.send(sender="outer only")
        with tracing.trace(lambda record: heard.append(("inner", record))) as inner:
            signal.send(sender="both")
        signal.send(sender="outer again")

    assert [send.sender for send in outer.sends] == ["outer only", "both", "outer again"]
    assert [send.sender for send in inner.sends] == ["both"]
    assert inner.records == outer.records[2:4]
    assert [(who, record) for who, record in heard if record in inner.records] == [
        (who, record) for record in inner.records for who in ("outer", "inner")
    ]
    assert [record for who, record in heard if who == "outer"] == outer.records


# -- listeners ---------------------------------------------------------------------------


def test_a_listener_gets_each_run_then_the_send_with_the_same_records_as_a_block() -> None:
    signal = Signal()
    connect_layout(signal, "ss", [])
    heard: list[Record] = []
    tracing.add_listener(heard.append)

    with tracing.trace() as seen:
        signal.send(sender=None)

    assert [type(record) for record in heard] == [RunRecord, RunRecord, SendRecord]
    assert heard == seen.records
    assert all(a is b for a, b in zip(heard, seen.records, strict=True))


def broken_listener(record: Record) -> None:
    raise RuntimeError("listener broke")


@pytest.mark.parametrize("send", SENDS)
def test_a_listener_that_raises_is_logged_and_changes_nothing(
    send: tuple[str, str | None], caplog: pytest.LogCaptureFixture
) -> None:
    method, backend = send
    signal = Signal()
    receivers = connect_layout(signal, "sa", [])
    tracing.add_listener(broken_listener)

    with caplog.at_level(logging.ERROR, logger="eventbus.tracing"), tracing.trace() as seen:
        results = send_from_sync(signal, method, backend)

    assert results == list(zip(receivers, layout_names("sa"), strict=True))
    assert len(seen.records) == 3  # the listeners after the broken one were still called
    failures = [r for r in caplog.records if r.name == "eventbus.tracing"]
    assert len(failures) == 3
    assert all(
        r.getMessage()
        == "The tracing listener tests.test_tracing.broken_listener raised; the send goes on."
        for r in failures
    )
    assert all(r.exc_info is not None and r.exc_info[0] is RuntimeError for r in failures)


def test_a_listener_sending_a_signal_is_not_traced() -> None:
    traced, side = Signal(), Signal()
    traced.connect(make_receiver("s", "r", []), weak=False)
    side_log: list[Ran] = []
    side.connect(make_receiver("s", "side", side_log), weak=False)
    heard: list[Record] = []

    def sending_listener(record: Record) -> None:
        heard.append(record)
        side.send(sender=record)

    tracing.add_listener(sending_listener)
    traced.send(sender=None)

    assert [record.signal for record in heard] == [traced, traced]
    assert [call.sender for call in side_log] == heard  # its sends ran, untraced


@pytest.mark.anyio
async def test_an_awaitable_a_listener_returns_in_async_code_is_awaited_before_going_on(
    anyio_backend: str,
) -> None:
    steps: list[str] = []

    async def after(record: Record) -> None:
        await anyio.lowlevel.checkpoint()
        steps.append(type(record).__name__)

    def listener(record: Record) -> Awaitable[None]:
        return after(record)

    async def first(sender: object, **kwargs: Any) -> None:
        steps.append("first")

    async def second(sender: object, **kwargs: Any) -> None:
        steps.append("second")

    signal = Signal()
    signal.connect(first, weak=False, priority=1)
    signal.connect(second, weak=False)
    tracing.add_listener(listener)

    await signal.asend(sender=None)

    assert steps == ["first", "RunRecord", "second", "RunRecord", "SendRecord"]


def test_an_awaitable_returned_in_sync_code_is_refused_closed_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    signal = Signal()
    signal.connect(make_receiver("s", "r", []), weak=False)
    returned: list[Any] = []

    async def later() -> None:
        raise AssertionError("never awaited")

    def listener(record: Record) -> Awaitable[None]:
        awaitable = later()
        returned.append(awaitable)
        return awaitable

    tracing.add_listener(listener)
    with caplog.at_level(logging.ERROR, logger="eventbus.tracing"):
        assert signal.send(sender=None) != []

    assert [inspect.getcoroutinestate(each) for each in returned] == ["CORO_CLOSED"] * 2
    messages = [r.getMessage() for r in caplog.records if r.name == "eventbus.tracing"]
    assert len(messages) == 2
    assert all("returned <coroutine object" in m for m in messages)
    assert all("from sync code, where nothing can await it" in m for m in messages)


def test_a_value_returned_in_sync_code_is_refused_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracing.add_listener(lambda record: 42)  # type: ignore[arg-type,return-value]
    with caplog.at_level(logging.ERROR, logger="eventbus.tracing"):
        Signal().send(sender=None)

    [message] = [r.getMessage() for r in caplog.records if r.name == "eventbus.tracing"]
    assert "returned 42 from sync code" in message


# -- LOG and SLOW_RECEIVER ---------------------------------------------------------------


def failing_receiver(sender: object, **kwargs: Any) -> None:
    raise ValueError("boom")


def quick_receiver(sender: object, **kwargs: Any) -> str:
    return "quick"


def slow_receiver(sender: object, **kwargs: Any) -> str:
    time.sleep(0.02)
    return "slow"


async def async_receiver(sender: object, **kwargs: Any) -> str:
    return "async"


def tracing_messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "eventbus.tracing" and r.levelno == level
    ]


MS = r"\d+\.\d{3} ms"


def test_log_writes_a_debug_line_per_run_and_per_send(caplog: pytest.LogCaptureFixture) -> None:
    signal = Signal(name="tests.tracing.logged")
    signal.connect(quick_receiver, priority=1)
    signal.connect(failing_receiver)
    tracing.configure(TracingSettings(log=True))

    with caplog.at_level(logging.DEBUG, logger="eventbus.tracing"):
        signal.send_robust(sender="shop")
        with pytest.raises(ValueError, match="boom"):
            signal.send(sender=quick_receiver)

    here = threading.current_thread().name
    lines = tracing_messages(caplog, logging.DEBUG)
    expected = [
        rf"tests\.tracing\.logged -> tests\.test_tracing\.quick_receiver \(priority 1, sync, "
        rf"local\) on {here}: returned in {MS}",
        rf"tests\.tracing\.logged -> tests\.test_tracing\.failing_receiver \(priority 0, sync, "
        rf"local\) on {here}: raised ValueError\('boom'\) in {MS}",
        rf"tests\.tracing\.logged\.send_robust\(sender='shop'\): 2 receiver\(s\) on {here} "
        rf"in {MS}",
        rf"tests\.tracing\.logged -> tests\.test_tracing\.quick_receiver .*: returned in {MS}",
        rf"tests\.tracing\.logged -> tests\.test_tracing\.failing_receiver .*: raised "
        rf"ValueError\('boom'\) in {MS}",
        rf"tests\.tracing\.logged\.send\(sender=tests\.test_tracing\.quick_receiver\): "
        rf"2 receiver\(s\) on {here} in {MS}, raised ValueError\('boom'\)",
    ]
    assert len(lines) == len(expected), lines
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)


@pytest.mark.anyio
async def test_log_names_the_event_loop_in_async_code(
    caplog: pytest.LogCaptureFixture, anyio_backend: str
) -> None:
    signal = Signal(name="tests.tracing.logged")
    signal.connect(async_receiver)
    tracing.configure(TracingSettings(log=True))

    with caplog.at_level(logging.DEBUG, logger="eventbus.tracing"):
        await signal.asend(sender=None)

    here = threading.current_thread().name
    run, send = tracing_messages(caplog, logging.DEBUG)
    assert re.fullmatch(
        rf"tests\.tracing\.logged -> tests\.test_tracing\.async_receiver \(priority 0, async, "
        rf"local\) on {anyio_backend} loop, {here}: returned in {MS}",
        run,
    )
    assert re.fullmatch(
        rf"tests\.tracing\.logged\.asend\(sender=None\): 1 receiver\(s\) on {anyio_backend} "
        rf"loop, {here} in {MS}",
        send,
    )


def test_without_log_nothing_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    signal = Signal()
    signal.connect(quick_receiver)
    with caplog.at_level(logging.DEBUG, logger="eventbus.tracing"), tracing.trace():
        signal.send(sender=None)
    assert tracing_messages(caplog, logging.DEBUG) == []


def test_a_run_slower_than_the_threshold_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    signal = Signal(name="tests.tracing.slow")
    signal.connect(slow_receiver)
    signal.connect(quick_receiver)
    tracing.configure(TracingSettings(slow_receiver=0.001))

    with caplog.at_level(logging.DEBUG, logger="eventbus.tracing"):
        assert [response for _, response in signal.send(sender=None)] == ["slow", "quick"]

    [warning] = tracing_messages(caplog, logging.WARNING)
    assert re.fullmatch(
        r"Slow receiver: tests\.test_tracing\.slow_receiver of tests\.tracing\.slow took "
        r'\d+\.\d ms \(EVENTBUS\["TRACING"\]\["SLOW_RECEIVER"\] is 1\.0 ms\)\.',
        warning,
    ), warning
    assert tracing_messages(caplog, logging.DEBUG) == []  # LOG is off


def test_a_run_within_the_threshold_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    signal = Signal()
    signal.connect(quick_receiver)
    tracing.configure(TracingSettings(slow_receiver=60.0))

    with caplog.at_level(logging.DEBUG, logger="eventbus.tracing"):
        signal.send(sender=None)

    assert [r for r in caplog.records if r.name == "eventbus.tracing"] == []


# -- broadcast ---------------------------------------------------------------------------


class Collected:
    """Records from a process-wide listener, on whichever thread, and a wait for them."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._changed = threading.Condition()

    def __call__(self, record: Record) -> None:
        with self._changed:
            self.records.append(record)
            self._changed.notify_all()

    def wait_for_send(self, signal: Signal, method: str) -> SendRecord:
        def found() -> list[SendRecord]:
            return [
                r
                for r in self.records
                if isinstance(r, SendRecord) and r.signal is signal and r.method == method
            ]

        with self._changed:
            assert self._changed.wait_for(found, WAIT), self.records
            [send] = found()
            return send


remote_orders = Signal(name="tests.tracing.order_placed", remote=True)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", KINDS)
def test_a_broadcast_receivers_run_is_reported_under_a_broadcast_send(kind: str) -> None:
    """In-process transport: the event goes through the wire and the listener, and is
    re-emitted to the broadcast receiver there (sync ones on eventbus-receivers, async
    ones on the listener's loop)."""
    node.start()
    assert node.wait_subscribed(WAIT)
    log: list[Ran] = []
    receiver = make_receiver(kind, "broadcast", log)
    collected = Collected()
    tracing.add_listener(collected)

    with remote_orders.connected_to(receiver, delivery="broadcast"):
        assert remote_orders.send(sender=None, order=7) == []
        broadcast = collected.wait_for_send(remote_orders, "broadcast")

    local = collected.wait_for_send(remote_orders, "send")
    assert local.runs == ()  # the broadcast receiver never runs in the send
    [run] = broadcast.runs
    assert (run.receiver, run.delivery, run.outcome) == (receiver, "broadcast", "returned")
    assert (run.kwargs, broadcast.kwargs) == ({"order": 7}, {"order": 7})
    assert run.thread == log[0].thread
    assert run.thread.startswith("eventbus-receivers" if kind == "s" else "eventbus-listener")
    assert broadcast.parent is None
    assert run in collected.records


# -- in_async_code: where a listener may return an awaitable --------------------------------


def test_records_made_in_sync_code_say_so() -> None:
    signal = Signal(name="tests.tracing.in_sync")
    log: list[Ran] = []
    connect_layout(signal, "sa", log)

    with tracing.trace() as seen:
        signal.send(sender=None)

    assert [(r.receiver_name.rpartition("_")[2], r.in_async_code) for r in seen.runs] == [
        ("s0", False),
        ("a1", True),  # awaited on the loop send() entered
    ]
    assert [send.in_async_code for send in seen.sends] == [False]


@pytest.mark.asyncio
async def test_records_made_in_async_code_say_so() -> None:
    signal = Signal(name="tests.tracing.in_async")
    log: list[Ran] = []
    connect_layout(signal, "sa", log)

    with tracing.trace() as seen:
        await signal.asend(sender=None)

    assert [r.in_async_code for r in seen.runs] == [False, True]
    assert [send.in_async_code for send in seen.sends] == [True]


@pytest.mark.asyncio
async def test_a_sync_receiver_send_ran_on_a_loop_thread_is_reported_from_sync_code() -> None:
    """``event_loop`` is set (the thread runs a loop) but nothing there can await: a listener
    must look at ``in_async_code``."""
    signal = Signal(name="tests.tracing.on_loop")
    log: list[Ran] = []
    connect_layout(signal, "s", log)

    with tracing.trace() as seen:
        signal.send(sender=None)

    [run] = seen.runs
    assert (run.event_loop, run.in_async_code) == ("asyncio", False)
