"""asave()/adelete() and friends: where bus receivers of bridged signals run."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.db import connections
from django.db.models import signals as django_signals

from eventbus import signals
from tests.testapp.models import Author, Book, Tag, TrackedItem


@pytest_asyncio.fixture
async def close_worker_connections() -> AsyncIterator[None]:
    """Close what asgiref's worker thread opened: PostgreSQL cannot drop a database in use."""
    yield
    await sync_to_async(connections.close_all)()


class Where:
    """Records the thread and event loop each receiver ran on."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, threading.Thread, asyncio.AbstractEventLoop | None]] = []

    def sync(self, label: str) -> Callable[..., None]:
        def receive(**kwargs: Any) -> None:
            self.calls.append((label, threading.current_thread(), _running_loop()))

        return receive

    def async_(self, label: str) -> Callable[..., Any]:
        async def receive(**kwargs: Any) -> None:
            self.calls.append((label, threading.current_thread(), asyncio.get_running_loop()))

        return receive


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


@pytest.fixture
def where() -> Where:
    return Where()


@pytest.fixture
def django_thread() -> Any:
    """The thread Django's own post_save receivers run in for Author saves."""
    threads: list[threading.Thread] = []

    def receive(**kwargs: Any) -> None:
        threads.append(threading.current_thread())

    django_signals.post_save.connect(receive, sender=Author, weak=False, dispatch_uid="thread")
    yield threads
    django_signals.post_save.disconnect(sender=Author, dispatch_uid="thread")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
async def test_asave_runs_async_bus_receivers_on_the_callers_event_loop(where: Where) -> None:
    with signals.post_save.connected_to(where.async_("async"), sender=Author):
        await Author(name="Ann").asave()

    [(_, _, loop)] = where.calls
    assert loop is asyncio.get_running_loop()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
async def test_asave_runs_sync_bus_receivers_in_djangos_worker_thread(
    where: Where, django_thread: list[threading.Thread]
) -> None:
    with signals.post_save.connected_to(where.sync("sync"), sender=Author):
        await Author(name="Ann").asave()

    [(_, thread, loop)] = where.calls
    assert thread is django_thread[0]
    assert thread is not threading.current_thread()
    assert loop is None


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
async def test_asave_keeps_the_priority_order_across_sync_and_async_receivers(
    where: Where,
) -> None:
    test_loop = asyncio.get_running_loop()
    with (
        signals.pre_save.connected_to(where.sync("sync 10"), sender=Author, priority=10),
        signals.pre_save.connected_to(where.async_("async 5"), sender=Author, priority=5),
        signals.pre_save.connected_to(where.sync("sync 0"), sender=Author, priority=0),
        signals.pre_save.connected_to(where.async_("async -5"), sender=Author, priority=-5),
    ):
        await Author(name="Ann").asave()

    assert [label for label, _, _ in where.calls] == ["sync 10", "async 5", "sync 0", "async -5"]
    assert [loop is test_loop for _, _, loop in where.calls] == [False, True, False, True]
    sync_threads = {thread for label, thread, _ in where.calls if label.startswith("sync")}
    assert len(sync_threads) == 1
    assert threading.current_thread() not in sync_threads


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
async def test_adelete_sends_bus_delete_signals_on_the_callers_loop(where: Where) -> None:
    author = await Author.objects.acreate(name="Ann")
    await Book.objects.acreate(title="B", author=author)
    test_loop = asyncio.get_running_loop()
    with (
        signals.pre_delete.connected_to(where.async_("pre")),
        signals.post_delete.connected_to(where.sync("post"), sender=Book),
    ):
        await author.adelete()

    assert sorted(label for label, _, _ in where.calls) == ["post", "pre", "pre"]
    assert all(loop is test_loop for label, _, loop in where.calls if label == "pre")
    assert all(
        thread is not threading.current_thread()
        for label, thread, _ in where.calls
        if label == "post"
    )


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
async def test_async_m2m_changes_reach_async_bus_receivers_on_the_callers_loop(
    where: Where,
) -> None:
    author = await Author.objects.acreate(name="Ann")
    book = await Book.objects.acreate(title="B", author=author)
    tag = await Tag.objects.acreate(name="t")
    with signals.m2m_changed.connected_to(where.async_("m2m"), sender=Book.tags.through):
        await book.tags.aadd(tag)

    assert len(where.calls) == 2
    assert all(loop is asyncio.get_running_loop() for _, _, loop in where.calls)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
async def test_asave_of_a_tracked_model_carries_changes_to_async_receivers() -> None:
    item = await TrackedItem.objects.acreate(name="lamp", price=10)
    seen: list[dict[str, Any]] = []

    async def receive(changes: dict[str, Any], **kwargs: Any) -> None:
        seen.append(changes)

    item.price = 12
    with signals.post_save.connected_to(receive, sender=TrackedItem):
        await item.asave()

    assert seen == [{"price": (10, 12)}]


@pytest.mark.django_db
def test_a_sync_save_runs_async_bus_receivers_on_an_event_loop_of_asgirefs_making(
    where: Where,
) -> None:
    with (
        signals.post_save.connected_to(where.sync("sync"), sender=Author),
        signals.post_save.connected_to(where.async_("async"), sender=Author),
    ):
        Author.objects.create(name="Ann")

    (_, sync_thread, no_loop), (_, async_thread, loop) = where.calls
    assert sync_thread is threading.current_thread()
    assert no_loop is None
    assert loop is not None
    assert async_thread is not threading.current_thread()
