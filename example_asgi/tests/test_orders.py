"""Placing orders through ``POST /orders/`` as the page's script does (JSON replies)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from django.core import mail
from django.db import connection

from eventbus import Subscription
from eventbus.signals import post_save
from example_asgi.shop import receivers
from example_asgi.shop.models import Order, Product
from example_asgi.shop.signals import order_placed

from .conftest import Catalogue, Shop

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def stock_of(product: Product) -> tuple[int, int]:
    """(stock, sold) of ``product``, read from the database."""
    fresh = await Product.objects.aget(pk=product.pk)
    return fresh.stock, fresh.sold


@asynccontextmanager
async def sends() -> AsyncIterator[tuple[Subscription, Subscription]]:
    """Subscriptions to ``order_placed`` and the bus's ``post_save``, to count what was sent."""
    async with order_placed.subscribe() as placed, post_save.subscribe() as saved:
        yield placed, saved


async def test_an_order_is_saved_and_takes_its_units_out_of_stock(
    catalogue: Catalogue, shop: Shop, mailoutbox: list[mail.EmailMessage]
) -> None:
    reply = await shop.order(catalogue.beans.pk, 3)

    assert reply.status == 201
    body = reply.json()
    order = await Order.objects.select_related("product").aget()
    assert body["ok"] is True
    assert body["order"] == order.pk
    assert body["message"] == f"Order #{order.pk} placed: 3 x Espresso beans."
    assert (order.product, order.quantity) == (catalogue.beans, 3)
    assert await stock_of(catalogue.beans) == (9, 3)
    assert {"id": catalogue.beans.pk, "name": "Espresso beans", "stock": 9, "sold": 3} in (
        body["products"]
    )
    assert [m.subject for m in mailoutbox] == [f"Order #{order.pk} confirmed"]
    assert mailoutbox[0].to == ["customer@example.com"]


async def test_the_confirmation_is_sent_once_the_order_is_committed(
    catalogue: Catalogue,
    shop: Shop,
    mailoutbox: list[mail.EmailMessage],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[bool, bool]] = []

    def send_mail(**kwargs: Any) -> int:
        # On the request's thread: is a transaction still open, is the order visible?
        seen.append((connection.in_atomic_block, Order.objects.exists()))
        return mail.send_mail(**kwargs)

    monkeypatch.setattr(receivers, "send_mail", send_mail)
    reply = await shop.order(catalogue.grinder.pk, 1)

    assert reply.status == 201
    assert seen == [(False, True)]
    assert len(mailoutbox) == 1


@pytest.mark.parametrize(
    ("product", "quantity", "message"),
    [
        pytest.param("unknown", 1, "That product does not exist.", id="unknown-product"),
        pytest.param(None, 1, "Choose a product.", id="missing-product"),
        pytest.param("beans", 0, "The quantity must be at least 1.", id="zero"),
        pytest.param("beans", -2, "The quantity must be at least 1.", id="negative"),
        pytest.param("beans", "two", "The quantity must be a whole number.", id="not-a-number"),
        pytest.param("beans", "1.5", "The quantity must be a whole number.", id="fraction"),
        pytest.param("beans", "", "Enter a quantity.", id="empty"),
        pytest.param("beans", None, "Enter a quantity.", id="missing"),
        pytest.param("beans", 13, "Not enough Espresso beans in stock", id="too-many"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_saved_or_sent(
    catalogue: Catalogue,
    shop: Shop,
    mailoutbox: list[mail.EmailMessage],
    product: str | None,
    quantity: object,
    message: str,
) -> None:
    product_id = {"beans": catalogue.beans.pk, "unknown": 999_999, None: None}[product]
    async with sends() as (placed, saved):
        reply = await shop.order(product_id, quantity)

        assert (placed.pending, saved.pending) == (0, 0)
    assert reply.status == 400
    assert reply.json()["ok"] is False
    assert reply.json()["message"].startswith(message)
    assert not await Order.objects.aexists()
    assert await stock_of(catalogue.beans) == (12, 0)
    assert mailoutbox == []


async def test_an_order_for_the_whole_stock_empties_it_and_the_next_is_refused(
    catalogue: Catalogue, shop: Shop
) -> None:
    assert (await shop.order(catalogue.grinder.pk, 5)).status == 201
    refused = await shop.order(catalogue.grinder.pk, 1)

    assert refused.status == 400
    assert refused.json()["message"] == (
        "Not enough Hand grinder in stock: you asked for 1, none left."
    )
    assert await stock_of(catalogue.grinder) == (0, 5)


async def test_concurrent_orders_never_oversell(
    catalogue: Catalogue, shop: Shop, mailoutbox: list[mail.EmailMessage]
) -> None:
    """Stock 5, ten simultaneous orders of one: exactly five succeed."""
    await shop.csrf()
    replies = await asyncio.gather(*(shop.order(catalogue.grinder.pk, 1) for _ in range(10)))

    assert sorted(reply.status for reply in replies) == [201] * 5 + [400] * 5
    assert await stock_of(catalogue.grinder) == (0, 5)
    assert await Order.objects.acount() == 5
    assert len(mailoutbox) == 5
    assert {r.json()["message"] for r in replies if r.status == 400} == {
        "Not enough Hand grinder in stock: you asked for 1, none left."
    }


def failing_receiver(error: Exception) -> Callable[..., None]:
    def fail(sender: object, **kwargs: object) -> None:
        raise error

    return fail


async def test_a_receiver_that_fails_after_the_others_rolls_the_whole_order_back(
    catalogue: Catalogue, shop: Shop, mailoutbox: list[mail.EmailMessage]
) -> None:
    """Priority 5 runs after reserve_stock, record_sale and send_confirmation's registration."""
    with order_placed.connected_to(failing_receiver(RuntimeError("payment failed")), priority=5):
        reply = await shop.order(catalogue.beans.pk, 2)

    assert reply.status == 500
    assert not await Order.objects.aexists()
    assert await stock_of(catalogue.beans) == (12, 0)
    assert mailoutbox == []


async def test_reserve_stock_is_the_last_guard_against_a_sale_nobody_saw_coming(
    catalogue: Catalogue, shop: Shop, mailoutbox: list[mail.EmailMessage]
) -> None:
    """If the stock vanishes between the check and reserve_stock, the order is refused."""

    def sell_out(sender: object, order: Order, **kwargs: object) -> None:
        Product.objects.filter(pk=order.product_id).update(stock=0)

    with order_placed.connected_to(sell_out, priority=200):
        reply = await shop.order(catalogue.beans.pk, 2)

    assert reply.status == 400
    assert reply.json()["message"].endswith("the stock ran out while it was being placed.")
    assert not await Order.objects.aexists()
    # sell_out's update was part of the rolled-back transaction too.
    assert await stock_of(catalogue.beans) == (12, 0)
    assert mailoutbox == []
