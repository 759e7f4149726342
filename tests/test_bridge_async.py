"""asave()/adelete() and friends: where bus receivers of bridged signals run."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db.models import signals as django_signals

from eventbus import signals
from tests.helpers import Call, make_receiver, names
from tests.testapp.models import Author, Book, Tag, TrackedItem


@pytest.fixture
def django_thread() -> Iterator[list[Call]]:
    """The calls of a receiver of Django's own post_save for Author: the thread it runs in."""
    calls: list[Call] = []
    receiver = make_receiver("s", "django", calls)
    django_signals.post_save.connect(receiver, sender=Author, weak=False, dispatch_uid="thread")
    yield calls
    django_signals.post_save.disconnect(sender=Author, dispatch_uid="thread")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
async def test_asave_runs_async_bus_receivers_on_the_callers_event_loop() -> None:
    calls: list[Call] = []
    with signals.post_save.connected_to(make_receiver("a", "async", calls), sender=Author):
        await Author(name="Ann").asave()

    [call] = calls
    assert call.loop is asyncio.get_running_loop()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
async def test_asave_runs_sync_bus_receivers_in_djangos_worker_thread(
    django_thread: list[Call],
) -> None:
    calls: list[Call] = []
    with signals.post_save.connected_to(make_receiver("s", "sync", calls), sender=Author):
        await Author(name="Ann").asave()

    [call] = calls
    assert call.thread is django_thread[0].thread
    assert call.thread is not threading.current_thread()
    assert call.loop is None


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
async def test_asave_keeps_the_priority_order_across_sync_and_async_receivers() -> None:
    test_loop = asyncio.get_running_loop()
    calls: list[Call] = []
    with (
        signals.pre_save.connected_to(
            make_receiver("s", "sync 10", calls), sender=Author, priority=10
        ),
        signals.pre_save.connected_to(
            make_receiver("a", "async 5", calls), sender=Author, priority=5
        ),
        signals.pre_save.connected_to(
            make_receiver("s", "sync 0", calls), sender=Author, priority=0
        ),
        signals.pre_save.connected_to(
            make_receiver("a", "async -5", calls), sender=Author, priority=-5
        ),
    ):
        await Author(name="Ann").asave()

    assert names(calls) == ["sync 10", "async 5", "sync 0", "async -5"]
    assert [call.loop is test_loop for call in calls] == [False, True, False, True]
    sync_threads = {call.thread for call in calls if call.name.startswith("sync")}
    assert len(sync_threads) == 1
    assert threading.current_thread() not in sync_threads


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
async def test_adelete_sends_bus_delete_signals_on_the_callers_loop() -> None:
    author = await Author.objects.acreate(name="Ann")
    await Book.objects.acreate(title="B", author=author)
    test_loop = asyncio.get_running_loop()
    calls: list[Call] = []
    with (
        signals.pre_delete.connected_to(make_receiver("a", "pre", calls)),
        signals.post_delete.connected_to(make_receiver("s", "post", calls), sender=Book),
    ):
        await author.adelete()

    assert sorted(names(calls)) == ["post", "pre", "pre"]
    assert all(call.loop is test_loop for call in calls if call.name == "pre")
    assert all(
        call.thread is not threading.current_thread() for call in calls if call.name == "post"
    )


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
async def test_async_m2m_changes_reach_async_bus_receivers_on_the_callers_loop() -> None:
    author = await Author.objects.acreate(name="Ann")
    book = await Book.objects.acreate(title="B", author=author)
    tag = await Tag.objects.acreate(name="t")
    calls: list[Call] = []
    with signals.m2m_changed.connected_to(
        make_receiver("a", "m2m", calls), sender=Book.tags.through
    ):
        await book.tags.aadd(tag)

    assert len(calls) == 2
    assert all(call.loop is asyncio.get_running_loop() for call in calls)


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
def test_a_sync_save_runs_async_bus_receivers_on_an_event_loop_of_asgirefs_making() -> None:
    calls: list[Call] = []
    with (
        signals.post_save.connected_to(make_receiver("s", "sync", calls), sender=Author),
        signals.post_save.connected_to(make_receiver("a", "async", calls), sender=Author),
    ):
        Author.objects.create(name="Ann")

    sync_call, async_call = calls
    assert sync_call.thread is threading.current_thread()
    assert sync_call.loop is None
    assert async_call.loop is not None
    assert async_call.thread is not threading.current_thread()
