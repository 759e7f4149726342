"""Why an order is refused. Every ``OrderError`` becomes a 400 with its message."""

from __future__ import annotations


class OrderError(Exception):
    """An order that cannot be placed; ``str(error)`` is the message shown to the customer."""


class InvalidOrder(OrderError):
    """The input is wrong: no such product, or a quantity that is not a whole number >= 1."""


class OutOfStock(OrderError):
    """Fewer units are in stock than the order asks for.

    Raised before the order is saved when the stock is already too low, and by
    the ``reserve_stock`` receiver when its conditional update finds the stock
    gone, which rolls the whole order back.
    """
