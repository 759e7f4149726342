"""The shop's page, and ordering through it without JavaScript (plain form posts)."""

from __future__ import annotations

import os
import re

import pytest
from asgiref.sync import sync_to_async
from django.core import mail

from eventbus.signals import post_save
from example_asgi.shop.models import Order, Product

from .conftest import Catalogue, Shop, asettle

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_the_page_has_the_order_form_and_the_feed(catalogue: Catalogue, shop: Shop) -> None:
    page = await shop.get("/")

    assert page.status == 200
    html = page.text
    assert '<form id="order-form" method="post" action="/orders/">' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<select id="product" name="product">' in html
    assert f'<option value="{catalogue.beans.pk}">Espresso beans (12 in stock)</option>' in html
    assert f'<option value="{catalogue.grinder.pk}">Hand grinder (5 in stock)</option>' in html
    assert '<input id="quantity" name="quantity" type="number" value="1">' in html
    assert '<button id="place-order" type="submit">Place order</button>' in html
    assert re.search(r'<p id="message" role="status">\s*</p>', html)
    assert '<span id="feed-status" data-state="connecting">connecting…</span>' in html
    assert '<ol id="feed"></ol>' in html
    assert 'new EventSource("/events/")' in html
    assert "csrftoken" in page.cookies


async def test_the_page_shows_the_stock_and_the_process_that_served_it(
    catalogue: Catalogue, shop: Shop
) -> None:
    html = (await shop.get("/")).text

    assert (
        f'<tr data-product="{catalogue.beans.pk}"><td>Espresso beans</td>'
        '<td class="number">12.50</td><td class="number stock">12</td>'
        '<td class="number sold">0</td></tr>'
    ) in html
    assert f'<p id="served-by" data-pid="{os.getpid()}">' in html
    # The tests run without Redis: this process is the whole shop.
    assert "the feed shows what this process does (no Redis: it is the whole shop)" in html


def restock(product: Product, stock: int, *, muted: bool = False) -> None:
    """Save ``product`` with ``stock``, as another process or a management command would."""
    product.stock = stock
    if muted:
        with post_save.muted():
            product.save()
    else:
        product.save()


async def test_the_page_lists_the_products_from_a_cache_of_the_process(
    catalogue: Catalogue, shop: Shop
) -> None:
    """A save that sends no post_save (the bus muted) leaves the cached list as it was."""
    assert "Espresso beans (12 in stock)" in (await shop.get("/")).text

    await sync_to_async(restock)(catalogue.beans, 30, muted=True)
    await asettle()

    assert "Espresso beans (12 in stock)" in (await shop.get("/")).text


async def test_a_product_saved_anywhere_is_fresh_on_the_page_once_its_broadcast_arrived(
    catalogue: Catalogue, shop: Shop
) -> None:
    """drop_cached_products, a broadcast receiver, drops the cache in every process."""
    assert "Espresso beans (12 in stock)" in (await shop.get("/")).text

    await sync_to_async(restock)(catalogue.beans, 30)
    await asettle()

    assert "Espresso beans (30 in stock)" in (await shop.get("/")).text


async def test_a_form_post_redirects_to_the_page_with_the_confirmation(
    catalogue: Catalogue, shop: Shop, mailoutbox: list[mail.EmailMessage]
) -> None:
    reply = await shop.order(catalogue.beans.pk, 2, js=False)

    order = await Order.objects.aget()
    assert reply.status == 303
    assert reply.headers["location"] == f"/?placed={order.pk}"
    page = await shop.get(reply.headers["location"])
    assert f'<p id="message" role="status">Order #{order.pk} placed: 2 x Espresso beans.</p>' in (
        page.text
    )
    # At once: the order dropped the cached list of the process that placed it.
    assert "Espresso beans (10 in stock)" in page.text
    assert len(mailoutbox) == 1


async def test_a_form_post_with_bad_input_shows_the_error_with_status_400(
    catalogue: Catalogue, shop: Shop, mailoutbox: list[mail.EmailMessage]
) -> None:
    reply = await shop.order(catalogue.grinder.pk, 9, js=False)

    assert reply.status == 400
    assert reply.headers["content-type"].startswith("text/html")
    assert (
        '<p id="message" role="status" class="error">'
        "Not enough Hand grinder in stock: you asked for 9, only 5 left.</p>"
    ) in reply.text
    # The form keeps what was entered.
    assert f'<option value="{catalogue.grinder.pk}" selected>' in reply.text
    assert 'name="quantity" type="number" value="9"' in reply.text
    assert not await Order.objects.aexists()
    assert mailoutbox == []


async def test_a_form_post_without_the_csrf_token_is_forbidden(
    catalogue: Catalogue, shop: Shop
) -> None:
    reply = await shop.request(
        "POST",
        "/orders/",
        body=f"product={catalogue.beans.pk}&quantity=1".encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert reply.status == 403
    assert not await Order.objects.aexists()


async def test_an_unknown_placed_order_shows_no_message(catalogue: Catalogue, shop: Shop) -> None:
    page = await shop.get("/?placed=12345")

    assert page.status == 200
    assert re.search(r'<p id="message" role="status">\s*</p>', page.text)


@pytest.mark.parametrize(("method", "path"), [("GET", "/orders/"), ("POST", "/events/")])
async def test_each_url_answers_only_its_method(shop: Shop, method: str, path: str) -> None:
    token = await shop.csrf()
    headers = {"cookie": f"csrftoken={token}", "x-csrftoken": token}
    assert (await shop.request(method, path, headers=headers)).status == 405
