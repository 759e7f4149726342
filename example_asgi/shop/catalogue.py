"""The product list the page shows, cached in each process.

The rules:

* :func:`products` reads the list from the database the first time, then
  returns the cached one until it is dropped.
* :func:`drop` forgets it. Two callers: the ``drop_cached_products``
  receiver, a ``delivery="broadcast"`` receiver of the bus's ``post_save`` for
  ``Product``, which runs in every process of the shop once a product was saved
  anywhere; and ``place_order()``, right after its commit, because the
  broadcast reaches the serving process too, but a moment later than the page
  that request redirects to.
* A list read while a drop happens is returned but not kept, so a drop is
  never undone by a slow read.
* The shop never deletes products (orders protect them), so saves are the
  only changes to watch.
"""

from __future__ import annotations

import threading

from .models import Product

__all__ = ["drop", "products"]

_lock = threading.Lock()
_products: list[Product] | None = None
_generation = 0


async def products() -> list[Product]:
    """Every product, by name: the cached list, or a fresh one."""
    global _products  # noqa: PLW0603 - the process's one cache
    with _lock:
        cached, generation = _products, _generation
    if cached is not None:
        return cached
    fresh = [p async for p in Product.objects.order_by("name")]
    with _lock:
        if generation == _generation:
            _products = fresh
    return fresh


def drop() -> None:
    """Forget the cached list (from any thread); the next :func:`products` reads it again."""
    global _products, _generation  # noqa: PLW0603 - the process's one cache
    with _lock:
        _products = None
        _generation += 1
