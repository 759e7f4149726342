"""The shop's receivers: every eventbus feature in one order flow.

For one order, ``place_order()`` saves it (the bus's ``post_save`` runs
``log_saved_order``), then ``asend()``\\ s ``order_placed``, whose receivers run
in priority order, sync or async; ``record_sale`` saves the product, whose
``post_save`` goes on the wire at the commit (``shop.Product`` is in
``EVENTBUS["REMOTE_MODELS"]``) and runs ``drop_cached_products`` in every
process:

========================  ========  ============  ====================================
receiver                  priority  kind          runs
========================  ========  ============  ====================================
``reserve_stock``         100       sync          worker thread (first hop)
``notify_warehouse``      50        async         the event loop
``record_sale``           20        sync          worker thread (second hop)
``send_confirmation``     10        after-commit  worker thread, at the commit
``log_saved_order``       0         sync          worker thread, in ``asave()``
``drop_cached_products``  0         broadcast     every process, after the commit
========================  ========  ============  ====================================

The worker thread is the request's one thread-sensitive thread, so the sync
receivers' ORM writes are part of the order's transaction. The first five are
local receivers: they run once per order, in the process that served it.

They are plain receivers: eventbus's tracing reports each of their runs to the
listener in :mod:`example_asgi.shop.feed`, which makes it a row of the live feed.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from django.core.mail import send_mail
from django.db.models import F

from eventbus import receiver
from eventbus.signals import post_save

from . import catalogue
from .errors import OutOfStock
from .models import Order, Product
from .signals import order_placed

logger = logging.getLogger(__name__)


@receiver(order_placed, priority=100)
def reserve_stock(sender: type[Order], order: Order, **kwargs: Any) -> None:
    """Take the ordered units out of stock, or refuse the order.

    A conditional update, so two orders can never both take the last unit: it
    only matches while enough stock is left. Raising ``OutOfStock`` stops the
    send and rolls the order back.
    """
    taken = Product.objects.filter(pk=order.product_id, stock__gte=order.quantity).update(
        stock=F("stock") - order.quantity
    )
    if not taken:
        raise OutOfStock(f"Order #{order.pk}: the stock ran out while it was being placed.")


@receiver(order_placed, priority=50)
async def notify_warehouse(sender: type[Order], order: Order, **kwargs: Any) -> None:
    """Tell the warehouse to pack the order (here: a short non-blocking wait and a log line)."""
    await anyio.sleep(0.05)
    logger.info("order #%s: warehouse notified", order.pk)


@receiver(order_placed, priority=20)
def record_sale(sender: type[Order], order: Order, **kwargs: Any) -> None:
    """Count the units sold and save the product, in the order's transaction.

    The product's row is locked for the transaction (``place_order()``), so
    reading and saving it loses no concurrent sale. Its ``post_save`` carries
    the new stock to every process once the order commits.
    """
    product = Product.objects.get(pk=order.product_id)
    product.sold += order.quantity
    product.save(update_fields=["sold"])
    logger.info("order #%s: %s unit(s) recorded as sold", order.pk, order.quantity)


@receiver(order_placed, priority=10, on_commit=True)
def send_confirmation(sender: type[Order], order: Order, **kwargs: Any) -> None:
    """Email the confirmation, only once the order is committed (never for a rolled-back one)."""
    send_mail(
        subject=f"Order #{order.pk} confirmed",
        message=f"Thank you! We are packing {order.quantity} x {order.product}.",
        from_email=None,
        recipient_list=["customer@example.com"],
    )


@receiver(post_save, sender=Order, priority=0)
def log_saved_order(sender: type[Order], instance: Order, created: bool, **kwargs: Any) -> None:
    """Log every saved order: Django's ``post_save``, re-emitted on the bus."""
    logger.info("order #%s %s", instance.pk, "created" if created else "updated")


@receiver(post_save, sender=Product, delivery="broadcast")
def drop_cached_products(sender: type[Product], instance: Product, **kwargs: Any) -> None:
    """Forget this process's cached product list: a product was saved, in some process."""
    catalogue.drop()
