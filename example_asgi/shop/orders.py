"""Placing an order, from async code, in one transaction.

:func:`place_order` is what the ``POST /orders/`` view calls. The rules:

* The input is checked **before** anything is written: an unknown product or
  a quantity above the stock raises an ``OrderError`` and nothing is saved or
  sent.
* Then, inside one transaction (:func:`eventbus.atomic`):
  the product row is read again (``select_for_update()``, a no-op on SQLite,
  whose ``BEGIN IMMEDIATE`` already serializes writers), the stock re-checked,
  the order saved with ``asave()`` (the bus's ``post_save`` fires here) and
  ``order_placed`` sent with ``asend()``.
* Any exception inside, e.g. ``reserve_stock`` finding too little stock, rolls
  everything back: no order, no stock change, and the after-commit receivers
  (the confirmation email) never run, nor does anything go on the wire.
* After the commit, this process's cached product list is dropped at once:
  the broadcast that drops it in every process arrives a moment later.
"""

from __future__ import annotations

from eventbus import atomic

from . import catalogue
from .errors import InvalidOrder, OutOfStock
from .models import Order, Product
from .signals import order_placed

__all__ = ["place_order"]


async def place_order(product_id: int, quantity: int) -> Order:
    """Save an order of ``quantity`` units of product ``product_id`` and send ``order_placed``.

    Returns the saved order once its transaction has committed.

    Raises:
        InvalidOrder: ``quantity`` is below 1, or no product has that id.
        OutOfStock: fewer than ``quantity`` units are in stock.
        Exception: whatever an ``order_placed`` receiver raises (after the rollback).
    """
    if quantity < 1:
        raise InvalidOrder("The quantity must be at least 1.")
    product = await Product.objects.filter(pk=product_id).afirst()
    if product is None:
        raise InvalidOrder("That product does not exist. Reload the page and choose another.")
    check_stock(product, quantity)
    async with atomic():
        product = await Product.objects.select_for_update().aget(pk=product_id)
        check_stock(product, quantity)
        order = Order(product=product, quantity=quantity)
        await order.asave()
        await order_placed.asend(sender=Order, order=order)
    catalogue.drop()  # before the broadcast does, for the page this request leads to
    return order


def check_stock(product: Product, quantity: int) -> None:
    """Raise ``OutOfStock`` unless ``product`` has at least ``quantity`` units in stock."""
    if quantity > product.stock:
        left = f"only {product.stock}" if product.stock else "none"
        raise OutOfStock(
            f"Not enough {product.name} in stock: you asked for {quantity}, {left} left."
        )
