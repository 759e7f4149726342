"""The shop's async views: the page, placing an order, and the live feed.

``POST /orders/`` answers in the form the client asked for: JSON (201 or 400)
when the request's ``Accept`` header names ``application/json`` (the page's
script), else the page itself (a 303 redirect to ``/?placed=<id>`` on success,
the page with the error and status 400 on failure), so the form works without
JavaScript too.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from . import catalogue
from .errors import OrderError
from .forms import OrderForm
from .models import Order, Product
from .orders import place_order as place
from .sse import feed_stream, stock_json


class SeeOther(HttpResponseRedirect):
    """A 303 redirect: after a POST, the browser GETs the target."""

    status_code = 303


@require_GET
async def index(request: HttpRequest) -> HttpResponse:
    """The shop's page; ``?placed=<id>`` shows that order's confirmation."""
    message = ""
    placed = request.GET.get("placed", "")
    if placed.isdigit():
        order = await Order.objects.select_related("product").filter(pk=int(placed)).afirst()
        if order is not None:
            message = placed_message(order)
    return await page(request, message=message)


@require_POST
async def place_order(request: HttpRequest) -> HttpResponse:
    """Place an order from the form's ``product`` and ``quantity`` fields."""
    wants_json = "application/json" in request.headers.get("Accept", "")
    form = OrderForm(request.POST)
    try:
        if not form.is_valid():
            raise OrderError(form.first_error())
        order = await place(form.cleaned_data["product"], form.cleaned_data["quantity"])
    except OrderError as error:
        if wants_json:
            return JsonResponse(
                {"ok": False, "message": str(error), "products": await stock_list()},
                status=400,
            )
        return await page(request, message=str(error), error=True, form=form, status=400)
    if wants_json:
        return JsonResponse(
            {
                "ok": True,
                "order": order.pk,
                "message": placed_message(order),
                "products": await stock_list(),
            },
            status=201,
        )
    return SeeOther(f"/?placed={order.pk}")


@require_GET
async def events(request: HttpRequest) -> StreamingHttpResponse:
    """The live feed: every traced receiver run and stock change, as Server-Sent Events."""
    response = StreamingHttpResponse(feed_stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    # Tell nginx-style proxies not to buffer the stream.
    response["X-Accel-Buffering"] = "no"
    return response


def placed_message(order: Order) -> str:
    """The confirmation shown for ``order`` (its product must be loaded)."""
    return f"Order #{order.pk} placed: {order.quantity} x {order.product.name}."


async def stock_list() -> list[dict[str, Any]]:
    """Every product's stock, read now (not cached), for the page's script to update the page."""
    return [stock_json(p) async for p in Product.objects.order_by("name")]


async def page(
    request: HttpRequest,
    *,
    message: str = "",
    error: bool = False,
    form: OrderForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """Render the shop's page, with this process's cached product list."""
    products = await catalogue.products()
    data = form.data if form is not None else {}
    return render(
        request,
        "shop/index.html",
        {
            "products": products,
            "message": message,
            "error": error,
            "selected": str(data.get("product", "")),
            "quantity": data.get("quantity", "1"),
            "pid": os.getpid(),
            "redis": "TRANSPORT" in settings.EVENTBUS,
        },
        status=status,
    )
