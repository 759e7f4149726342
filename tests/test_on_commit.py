"""After-commit receivers: ``connect(..., on_commit=True)`` on any eventbus signal."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections, transaction
from django.db.transaction import TransactionManagementError
from django.utils.connection import ConnectionDoesNotExist

import eventbus
from eventbus import AFTER_COMMIT, Signal, signals
from tests.helpers import KINDS, SEND_METHODS, Call, make_receiver, names, send_from_sync
from tests.testapp.models import Author

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "other"])


def send_then_roll_back(signal: Signal) -> None:
    with transaction.atomic():
        signal.send(sender=None)
        raise ZeroDivisionError


@pytest.mark.parametrize("kind", KINDS)
def test_receiver_runs_after_the_outermost_commit_not_during_the_send(kind: str) -> None:
    signal, log = Signal(), list[Call]()
    deferred = make_receiver(kind, "deferred", log)
    signal.connect(deferred, on_commit=True)
    with transaction.atomic():
        with transaction.atomic():
            assert signal.send(sender=None) == [(deferred, AFTER_COMMIT)]
        assert log == [], "the inner block only released a savepoint"
    assert names(log) == ["deferred"]


@pytest.mark.parametrize("kind", KINDS)
def test_receiver_never_runs_when_the_transaction_rolls_back(kind: str) -> None:
    signal, log = Signal(), list[Call]()
    deferred = make_receiver(kind, "deferred", log)
    signal.connect(deferred, on_commit=True)
    with pytest.raises(ZeroDivisionError):
        send_then_roll_back(signal)
    assert log == []


@pytest.mark.parametrize("kind", KINDS)
def test_receiver_sent_in_a_rolled_back_savepoint_never_runs(kind: str) -> None:
    signal, log = Signal(), list[Call]()
    deferred = make_receiver(kind, "deferred", log)
    signal.connect(deferred, on_commit=True)
    with transaction.atomic():
        signal.send(sender="before")
        try:
            with transaction.atomic():
                signal.send(sender="rolled back")
                raise ZeroDivisionError
        except ZeroDivisionError:
            pass
        signal.send(sender="after")
    assert names(log) == ["deferred", "deferred"]


@pytest.mark.parametrize("kind", KINDS)
def test_outside_a_transaction_the_receiver_runs_at_once_and_reports_its_response(
    kind: str,
) -> None:
    signal, log = Signal(), list[Call]()
    before, deferred = make_receiver("s", "before", log), make_receiver(kind, "deferred", log)
    after = make_receiver("s", "after", log)
    signal.connect(before, priority=10)
    signal.connect(deferred, on_commit=True)
    signal.connect(after, priority=-10)
    assert signal.send(sender=None) == [
        (before, "before"),
        (deferred, "deferred"),
        (after, "after"),
    ]
    assert names(log) == ["before", "deferred", "after"], "at once means in its place"


def test_after_commit_receivers_run_in_priority_order_after_the_immediate_ones() -> None:
    signal, log = Signal(), list[Call]()
    receivers = {
        "late-deferred": make_receiver("a", "late-deferred", log),
        "immediate": make_receiver("s", "immediate", log),
        "early-deferred": make_receiver("s", "early-deferred", log),
        "middle-deferred": make_receiver("a", "middle-deferred", log),
    }
    signal.connect(receivers["late-deferred"], priority=-5, on_commit=True)
    signal.connect(receivers["immediate"], priority=0)
    signal.connect(receivers["early-deferred"], priority=50, on_commit=True)
    signal.connect(receivers["middle-deferred"], priority=0, on_commit=True)
    with transaction.atomic():
        results = signal.send(sender=None)
        assert names(log) == ["immediate"]
    assert [r.__name__ for r, _ in results] == [
        "early-deferred",
        "immediate",
        "middle-deferred",
        "late-deferred",
    ]
    assert [response for _, response in results] == [
        AFTER_COMMIT,
        "immediate",
        AFTER_COMMIT,
        AFTER_COMMIT,
    ]
    assert names(log) == ["immediate", "early-deferred", "middle-deferred", "late-deferred"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_failing_after_commit_receiver_is_logged_and_does_not_stop_the_others(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    signal, log = Signal(name="checkout"), list[Call]()
    failing = make_receiver(kind, "first", log, raises=RuntimeError("first failed"))
    signal.connect(failing, priority=1, on_commit=True, weak=False)
    signal.connect(make_receiver(kind, "second", log), on_commit=True, weak=False)
    with caplog.at_level(logging.ERROR, logger="eventbus"), transaction.atomic():
        signal.send(sender=None)
    assert names(log) == ["first", "second"]
    [record] = [r for r in caplog.records if r.name == "eventbus"]
    assert "after commit" in record.getMessage()
    assert "checkout" in record.getMessage()
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "first failed"


@pytest.mark.parametrize("method", SEND_METHODS)
@pytest.mark.parametrize("kind", ["s", "a"], ids=["sync", "async"])
def test_a_failure_outside_a_transaction_is_returned_not_raised(
    method: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    signal, log = Signal(), list[Call]()
    failing = make_receiver(kind, "failing", log, raises=RuntimeError("failing failed"))
    signal.connect(failing, on_commit=True)
    with caplog.at_level(logging.ERROR, logger="eventbus"):
        [(receiver, response)] = send_from_sync(signal, method, backend="async_to_sync")
    assert receiver is failing
    assert isinstance(response, RuntimeError)
    assert caplog.records[0].exc_info is not None
    assert caplog.records[0].exc_info[1] is response


def test_send_follows_the_using_argument_of_the_send() -> None:
    signal, log = Signal(), list[Call]()
    signal.connect(make_receiver("s", "deferred", log), on_commit=True, weak=False)
    with transaction.atomic(using="default"):
        signal.send(sender=None, using="other")
        assert names(log) == ["deferred"], "no transaction is open on 'other'"
    with transaction.atomic(using="other"):
        signal.send(sender=None, using="other")
        assert names(log) == ["deferred"]
    assert names(log) == ["deferred", "deferred"]


def test_a_fixed_alias_ignores_the_using_argument() -> None:
    signal, log = Signal(), list[Call]()
    signal.connect(make_receiver("s", "deferred", log), on_commit="other", weak=False)
    with transaction.atomic(using="other"):
        signal.send(sender=None, using="default")
        assert log == []
    assert names(log) == ["deferred"]


def test_an_unknown_alias_is_rejected_at_connect_time_naming_the_configured_ones() -> None:
    signal = Signal()

    def receiver(sender: object, **kwargs: object) -> None:
        return None

    with pytest.raises(ValueError, match=r"'replica'.*configured: default, other"):
        signal.connect(receiver, on_commit="replica")
    with pytest.raises(ValueError, match="replica"):
        eventbus.receiver(signal, on_commit="replica")(receiver)
    assert not signal.has_listeners()


def test_on_commit_must_be_a_bool_or_an_alias() -> None:
    signal = Signal()

    def receiver(sender: object, **kwargs: object) -> None:
        return None

    with pytest.raises(TypeError, match="on_commit must be"):
        signal.connect(receiver, on_commit=1)  # type: ignore[arg-type]


def test_a_once_receiver_is_not_used_up_by_a_rolled_back_send() -> None:
    signal, log = Signal(), list[Call]()
    deferred = make_receiver("s", "deferred", log)
    signal.connect(deferred, once=True, on_commit=True)
    with pytest.raises(ZeroDivisionError):
        send_then_roll_back(signal)
    assert signal.has_listeners()
    with transaction.atomic():
        signal.send(sender=None)
        signal.send(sender=None)
    assert names(log) == ["deferred"]
    assert not signal.has_listeners()


def test_receivers_for_reports_on_commit() -> None:
    signal = Signal()
    plain, deferred, fixed = (make_receiver("s", name, []) for name in ("p", "d", "f"))
    signal.connect(plain)
    signal.connect(deferred, on_commit=True)
    signal.connect(fixed, on_commit="other")
    assert [info.on_commit for info in signal.receivers_for()] == [False, True, "other"]


def test_async_after_commit_receiver_of_a_commit_in_a_worker_thread_runs_on_the_outer_loop() -> (
    None
):
    signal = Signal()
    seen: list[tuple[asyncio.AbstractEventLoop, int]] = []

    async def deferred(sender: object, **kwargs: object) -> None:
        seen.append((asyncio.get_running_loop(), threading.get_ident()))

    signal.connect(deferred, on_commit=True)

    def work() -> None:
        try:
            with transaction.atomic():
                signal.send(sender=None)
                assert seen == []
        finally:
            connection.close()  # this worker thread's own connection; the test DB must drop

    async def main() -> asyncio.AbstractEventLoop:
        await sync_to_async(work)()
        return asyncio.get_running_loop()

    loop = asyncio.run(main())
    assert [s[0] for s in seen] == [loop]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_asend_runs_after_commit_receivers_in_their_place_outside_a_transaction(
    kind: str,
) -> None:
    signal, log = Signal(), list[Call]()
    first = make_receiver("a", "first", log)
    deferred = make_receiver(kind, "deferred", log)
    last = make_receiver("s", "last", log)
    signal.connect(first, priority=1)
    signal.connect(deferred, on_commit=True)
    signal.connect(last, priority=-1)
    for method in (signal.asend, signal.asend_robust):
        log.clear()
        assert await method(sender=None) == [
            (first, "first"),
            (deferred, "deferred"),
            (last, "last"),
        ]
        assert names(log) == ["first", "deferred", "last"]


@pytest.mark.anyio
async def test_a_concurrent_tier_reports_its_after_commit_receiver_in_place() -> None:
    signal, log = Signal(concurrent=True), list[Call]()
    one, deferred, two = (
        make_receiver("a", "one", log),
        make_receiver("s", "d", log),
        make_receiver("a", "two", log),
    )
    signal.connect(one)
    signal.connect(deferred, on_commit=True)
    signal.connect(two)
    results = await signal.asend(sender=None)
    assert results == [(one, "one"), (deferred, "d"), (two, "two")]
    assert sorted(names(log)) == ["d", "one", "two"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("outcome", ["commit", "rollback"])
async def test_a_concurrent_tier_defers_to_a_transaction_open_on_the_sync_thread(
    outcome: str,
) -> None:
    """As in an ASGI view: the atomic block is open on the request's sync thread, not the loop's."""
    signal, log = Signal(concurrent=True), list[Call]()
    deferred, other = make_receiver("a", "deferred", log), make_receiver("a", "other", log)
    signal.connect(deferred, on_commit=True)
    signal.connect(other)
    atomic = transaction.atomic()
    await sync_to_async(atomic.__enter__)()
    try:
        results = await signal.asend(sender=None)
        assert results == [(deferred, AFTER_COMMIT), (other, "other")]
        assert names(log) == ["other"]
    finally:
        error = RuntimeError("roll back") if outcome == "rollback" else None
        await sync_to_async(atomic.__exit__)(type(error) if error else None, error, None)
        # That thread's own connection: the test database must be droppable at the end.
        await sync_to_async(connections.close_all)()
    assert names(log) == (["other", "deferred"] if outcome == "commit" else ["other"])


def test_plain_sends_keep_their_fast_path_with_no_after_commit_receiver() -> None:
    """Only signals with after-commit receivers pay for them."""
    signal = Signal()
    signal.connect(make_receiver("s", "plain", []), weak=False)
    signal.send(sender=None)
    plan = signal.sender_receivers_cache[id(None)]
    assert plan.sync_receivers is not None
    signal.connect(make_receiver("s", "deferred", []), on_commit=True, weak=False)
    signal.send(sender=None)
    assert signal.sender_receivers_cache[id(None)].sync_receivers is None


# -- manual transaction mode, and a `using` that names no database ---------------------


@pytest.fixture
def manual_mode() -> Iterator[None]:
    """``transaction.set_autocommit(False)`` on the default database, rolled back after."""
    transaction.set_autocommit(False)
    try:
        yield
    finally:
        transaction.rollback()
        transaction.set_autocommit(True)


@pytest.mark.usefixtures("manual_mode")
@pytest.mark.parametrize("method", SEND_METHODS)
@pytest.mark.parametrize("kind", KINDS)
def test_in_manual_transaction_mode_an_after_commit_receiver_is_refused_not_raised(
    method: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Django's on_commit() cannot be used there: the receiver does not run, the send
    reports the refusal in its place and logs it, and the receivers after it run."""
    signal, log = Signal(name="checkout"), list[Call]()
    deferred = make_receiver(kind, "deferred", log)
    later = make_receiver("s", "later", log)
    signal.connect(deferred, on_commit=True, weak=False, priority=1)
    signal.connect(later, weak=False)

    with caplog.at_level(logging.ERROR, logger="eventbus"):
        results = send_from_sync(signal, method, "async_to_sync")

    [(first, refusal), (second, response)] = results
    assert (first, second, response) == (deferred, later, "later")
    assert isinstance(refusal, TransactionManagementError)
    assert "manual transaction mode" in str(refusal)
    assert "checkout" in str(refusal)
    assert names(log) == ["later"]
    assert [r.getMessage() for r in caplog.records] == [str(refusal)]


@pytest.mark.usefixtures("manual_mode")
def test_in_manual_transaction_mode_a_save_with_a_bus_after_commit_receiver_succeeds() -> None:
    saved: list[object] = []

    def deferred(sender: object, instance: object, **kwargs: object) -> None:
        saved.append(instance)

    with signals.post_save.connected_to(deferred, sender=Author, on_commit=True):
        author = Author.objects.create(name="Ann")
    transaction.commit()

    assert Author.objects.filter(pk=author.pk).exists()
    assert saved == []


@pytest.mark.parametrize("method", SEND_METHODS)
def test_a_using_that_names_no_database_raises_before_any_receiver_runs(method: str) -> None:
    """The send's mistake, not a receiver's: even the robust sends raise, and nothing ran."""
    signal, log = Signal(name="checkout"), list[Call]()
    signal.connect(make_receiver("s", "first", log), weak=False, priority=1)
    signal.connect(make_receiver("s", "deferred", log), on_commit=True, weak=False)

    with pytest.raises(ConnectionDoesNotExist, match=r"using='typo'.*default, other"):
        send_from_sync(signal, method, "async_to_sync", using="typo")
    assert log == []


def test_a_using_that_names_no_database_is_fine_without_after_commit_receivers() -> None:
    signal, log = Signal(), list[Call]()
    signal.connect(make_receiver("s", "plain", log), weak=False)
    signal.connect(make_receiver("s", "fixed", log), on_commit="default", weak=False)
    assert [response for _, response in signal.send(None, using="typo")] == ["plain", "fixed"]
