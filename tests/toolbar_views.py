"""The views of tests/test_debug_toolbar.py (``tests/toolbar_urls.py`` routes to them).

``order_placed`` has a receiver of every kind: sync at priority 100 (which sends
``invoice_ready``, nested), async at 50, a sync one that raises at 20, and an
after-commit one at 10. The views send it in a transaction that commits, or
with ``?transaction=`` ``rollback`` (rolled back), ``none`` (autocommit: the
after-commit receiver runs at once) or ``manual`` (manual transaction mode:
Django refuses to defer it). Every page is HTML with a ``</body>``, so the
toolbar is inserted.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse

from eventbus import Signal, atomic

order_placed = Signal(name="toolbar_test.order_placed")
invoice_ready = Signal(name="toolbar_test.invoice_ready")
step = Signal(name="toolbar_test.step")

#: The two requests of the concurrency test meet here, between their two sends.
barrier: asyncio.Barrier | None = None


class RolledBack(Exception):
    """Raised inside the view's transaction to roll it back (``?rollback=1``)."""


def reserve_stock(sender: Any, order: int, **kwargs: Any) -> str:
    invoice_ready.send(sender="invoicing", order=order)
    return "reserved"


async def notify_warehouse(sender: Any, **kwargs: Any) -> str:
    await asyncio.sleep(0)
    return "notified"


def charge_card(sender: Any, **kwargs: Any) -> None:
    raise ConnectionError("payment gateway down")


def send_confirmation(sender: Any, **kwargs: Any) -> str:
    return "emailed"


def make_invoice(sender: Any, **kwargs: Any) -> str:
    return "invoice"


order_placed.connect(reserve_stock, priority=100)
order_placed.connect(notify_warehouse, priority=50)
order_placed.connect(charge_card, priority=20)
order_placed.connect(send_confirmation, priority=10, on_commit=True)
invoice_ready.connect(make_invoice)


def page(text: str) -> HttpResponse:
    return HttpResponse(f"<!DOCTYPE html><html><body><p>{text}</p></body></html>")


def show_toolbar(request: HttpRequest) -> bool:
    """The toolbar's ``SHOW_TOOLBAR_CALLBACK``: on for every request."""
    return True


def sync_order(request: HttpRequest) -> HttpResponse:
    """Send ``order_placed`` with ``send_robust()`` (see the module for ``?transaction=``)."""
    mode = request.GET.get("transaction", "commit")
    if mode == "none":
        order_placed.send_robust(sender="sync view", order=1)
        return page("sent in autocommit mode")
    if mode == "manual":
        transaction.set_autocommit(False)
        try:
            order_placed.send_robust(sender="sync view", order=1)
        finally:
            transaction.rollback()
            transaction.set_autocommit(True)
        return page("sent in manual transaction mode")
    try:
        with transaction.atomic():
            order_placed.send_robust(sender="sync view", order=1)
            if mode == "rollback":
                raise RolledBack
    except RolledBack:
        return page("rolled back")
    return page("placed")


async def async_order(request: HttpRequest) -> HttpResponse:
    """Send ``order_placed`` with ``asend_robust()`` in a transaction."""
    try:
        async with atomic():
            await order_placed.asend_robust(sender="async view", order=2)
            if request.GET.get("transaction") == "rollback":
                raise RolledBack
    except RolledBack:
        return page("rolled back")
    return page("placed")


async def two_steps(request: HttpRequest, name: str) -> HttpResponse:
    """Send ``step`` twice, meeting the other request of the test in between."""
    assert barrier is not None, "set tests.toolbar_views.barrier first"
    await step.asend(sender=name, step=1)
    await barrier.wait()
    await step.asend(sender=name, step=2)
    return page(name)


def quiet(request: HttpRequest) -> HttpResponse:
    """Sends nothing."""
    return page("nothing sent")
