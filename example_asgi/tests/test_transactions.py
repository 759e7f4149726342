"""``shop.transactions.atomic``: one real transaction around async ORM calls and ``asend()``."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.db import connection, connections, transaction

from eventbus import Signal
from example_asgi.shop.models import Product
from example_asgi.shop.transactions import atomic

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


class Boom(Exception):
    pass


def in_transaction() -> tuple[bool, str]:
    return connection.in_atomic_block, threading.current_thread().name


@asynccontextmanager
async def request_thread() -> AsyncIterator[None]:
    """What Django's ASGI handler gives each request: one thread for its sync work.

    Its database connection is closed at the end, as ``request_finished`` does.
    """
    async with ThreadSensitiveContext():
        try:
            yield
        finally:
            await sync_to_async(connections.close_all)()


async def test_leaving_with_an_exception_rolls_back_what_asave_wrote() -> None:
    async def save_then_fail() -> None:
        async with atomic():
            await Product(name="Kettle", price="30.00", stock=2).asave()
            assert await Product.objects.filter(name="Kettle").aexists()
            raise Boom

    async with request_thread():
        with pytest.raises(Boom):
            await save_then_fail()

        assert not await Product.objects.filter(name="Kettle").aexists()


async def test_leaving_normally_commits() -> None:
    async with request_thread():
        async with atomic():
            await Product(name="Kettle", price="30.00", stock=2).asave()

        assert (await sync_to_async(in_transaction)())[0] is False
    assert await Product.objects.filter(name="Kettle").aexists()


async def test_orm_calls_and_thread_hops_inside_share_the_one_transaction() -> None:
    hops: list[tuple[bool, str]] = []
    placed = Signal(name="placed")

    def sync_receiver(sender: object, **kwargs: object) -> None:
        hops.append(in_transaction())

    placed.connect(sync_receiver)
    async with request_thread(), atomic():
        inside = await sync_to_async(in_transaction)()
        await placed.asend(sender=None)

    assert inside[0] is True
    assert hops == [inside]


async def test_after_commit_callbacks_run_at_the_commit_and_never_on_rollback() -> None:
    ran: list[str] = []

    async def register_then_fail() -> None:
        async with atomic():
            await sync_to_async(transaction.on_commit)(lambda: ran.append("rolled back"))
            raise Boom

    async with request_thread():
        async with atomic():
            await sync_to_async(transaction.on_commit)(lambda: ran.append("committed"))
            assert ran == []
        assert ran == ["committed"]

        with pytest.raises(Boom):
            await register_then_fail()
    assert ran == ["committed"]


async def test_nested_blocks_are_savepoints() -> None:
    async def save_then_fail() -> None:
        async with atomic():
            await Product(name="Teapot", price="20.00", stock=1).asave()
            raise Boom

    async with request_thread(), atomic():
        await Product(name="Kettle", price="30.00", stock=2).asave()
        with pytest.raises(Boom):
            await save_then_fail()

    names = [p.name async for p in Product.objects.filter(name__in=["Kettle", "Teapot"])]
    assert names == ["Kettle"]
