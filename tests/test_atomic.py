"""``async with eventbus.atomic():`` one real transaction around async ORM calls and ``asend()``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.db import connection, connections, transaction
from django.utils.connection import ConnectionDoesNotExist

import eventbus
from eventbus import AFTER_COMMIT, Signal
from tests.testapp.models import Author

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


def where() -> tuple[bool, int]:
    """Whether this thread's connection is in a transaction, and the thread."""
    return connection.in_atomic_block, threading.get_ident()


@asynccontextmanager
async def request_thread() -> AsyncIterator[None]:
    """What Django's ASGI handler gives each request: one thread for its sync work.

    Its database connection is closed at the end, as ``request_finished`` does.
    """
    async with ThreadSensitiveContext():
        try:
            yield
        finally:
            await sync_to_async(close_this_threads_connections)()


def close_this_threads_connections() -> None:
    """Close them for good, in-memory SQLite included: the request's thread is ending."""
    for wrapper in connections.all(initialized_only=True):
        wrapper.close()
        if wrapper.connection is not None:
            wrapper.connection.close()


async def authors() -> list[str]:
    return [a.name async for a in Author.objects.order_by("name")]


@pytest.mark.asyncio
async def test_leaving_normally_commits_and_runs_after_commit_receivers_first() -> None:
    ran: list[tuple[str, bool, int]] = []
    placed = Signal(name="placed")

    def after(sender: object, **kwargs: object) -> None:
        ran.append(("after", *where()))

    placed.connect(after, on_commit=True, weak=False)
    async with request_thread():
        async with eventbus.atomic():
            await Author.objects.acreate(name="Ann")
            _, thread = await sync_to_async(where)()
            assert await placed.asend(sender=None) == [(after, AFTER_COMMIT)]
            assert ran == []
        assert ran == [("after", False, thread)]
        assert await authors() == ["Ann"]


@pytest.mark.asyncio
async def test_leaving_with_an_exception_rolls_back_and_runs_no_after_commit_receiver() -> None:
    ran: list[str] = []
    placed = Signal(name="placed")
    placed.connect(lambda sender, **kwargs: ran.append("after"), on_commit=True, weak=False)

    async def write_send_fail() -> None:
        async with eventbus.atomic():
            await Author.objects.acreate(name="Ann")
            await placed.asend(sender=None)
            raise Boom

    async with request_thread():
        with pytest.raises(Boom):
            await write_send_fail()
        assert await authors() == []
    assert ran == []


@pytest.mark.asyncio
async def test_cancellation_rolls_back() -> None:
    started = asyncio.Event()

    async def write_then_wait() -> None:
        async with eventbus.atomic():
            await Author.objects.acreate(name="Ann")
            started.set()
            await asyncio.sleep(30)

    async with request_thread():
        task = asyncio.create_task(write_then_wait())
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await authors() == []
        assert (await sync_to_async(where)())[0] is False


@pytest.mark.asyncio
async def test_orm_calls_and_sync_receivers_inside_share_the_one_transaction() -> None:
    hops: list[tuple[bool, int]] = []
    placed = Signal(name="placed")

    def sync_receiver(sender: object, **kwargs: object) -> None:
        hops.append(where())

    placed.connect(sync_receiver, weak=False)
    async with request_thread(), eventbus.atomic():
        inside = await sync_to_async(where)()
        await placed.asend(sender=None)

    assert inside[0] is True
    assert hops == [inside]


@pytest.mark.asyncio
async def test_nested_blocks_are_savepoints() -> None:
    async with request_thread():
        async with eventbus.atomic():
            await Author.objects.acreate(name="Ann")
            with pytest.raises(Boom):
                await write_in_a_failing_block("Bob")
        assert await authors() == ["Ann"]


async def write_in_a_failing_block(name: str) -> None:
    async with eventbus.atomic():
        await Author.objects.acreate(name=name)
        raise Boom


@pytest.mark.asyncio
async def test_inside_a_request_the_block_uses_the_requests_thread_and_leaves_it_open() -> None:
    async with request_thread():
        before = await sync_to_async(where)()
        async with eventbus.atomic():
            inside = await sync_to_async(where)()
        after = await sync_to_async(lambda: connection.connection is not None)()
    assert inside == (True, before[1])
    assert after is True


@pytest.mark.asyncio
async def test_outside_a_request_each_block_gets_a_thread_and_connection_of_its_own() -> None:
    """Two blocks on two tasks never share a transaction, and each closes its connection."""
    both_inside = asyncio.Event()
    inside: list[int] = []
    depth: list[int] = []
    used: list[Any] = []

    async def block() -> None:
        async with eventbus.atomic():
            depth.append(await sync_to_async(lambda: len(connection.atomic_blocks))())
            inside.append((await sync_to_async(where)())[1])
            used.append(await sync_to_async(lambda: connections["default"])())
            if len(inside) == 2:
                both_inside.set()
            await asyncio.wait_for(both_inside.wait(), 10)

    await asyncio.gather(block(), block())

    assert depth == [1, 1]
    assert inside[0] != inside[1]
    # SQLite never closes an in-memory database (it would be lost): nothing to check there.
    if connection.vendor != "sqlite":
        assert [wrapper.connection for wrapper in used] == [None, None]


@pytest.mark.asyncio
async def test_an_unknown_database_is_refused_before_anything_runs() -> None:
    with pytest.raises(ConnectionDoesNotExist):
        async with eventbus.atomic(using="typo"):
            pytest.fail("the block must not run")


def test_in_a_sync_callers_transaction_an_async_block_is_a_savepoint() -> None:
    """An async receiver of send() from sync code runs its thread-sensitive work on the
    caller's thread, so its block nests in the caller's open transaction."""
    placed = Signal(name="placed")
    seen: list[int] = []

    async def receiver(sender: object, **kwargs: object) -> None:
        async with eventbus.atomic():
            seen.append(await sync_to_async(lambda: len(connection.atomic_blocks))())

    placed.connect(receiver, weak=False)
    with transaction.atomic():
        placed.send(sender=None)
    assert seen == [2]
