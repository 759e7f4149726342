"""The shop's signals.

* ``order_placed(sender=Order, order=order)``: sent by ``place_order()`` inside
  the order's transaction, right after the order was saved.
* ``receiver_ran(sender=<traced signal>, run=ReceiverRun)``: sent by every traced
  receiver when it has run (see :mod:`example_asgi.shop.tracing`); the page's
  live feed subscribes to it.
"""

from __future__ import annotations

from eventbus import Signal

order_placed = Signal(name="order_placed")
receiver_ran = Signal(name="receiver_ran")
