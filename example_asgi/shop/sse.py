"""The live feed as Server-Sent Events: two remote subscriptions, streamed.

:func:`feed_stream` is the body of ``GET /events/``. The rules:

* It holds two **remote** subscriptions, so a page sees what every process of
  the shop did, whichever served the page: ``receiver_ran`` (every run of a
  shop receiver, as the tracing listener of :mod:`.feed` reports it) and the
  bus's ``post_save`` for ``Product`` (every product saved, with its new
  stock). Events arrive as the process's listener re-emits them from the
  wire: those sent in a transaction once it has committed, in the order they
  were sent.
* It subscribes **before** it yields anything, and first yields a ``retry:``
  line and a comment. The client therefore sees the stream open at once, and
  every event published after that moment is in the stream (once the
  process's listener has subscribed, moments after the app started).
* Each run becomes one ``event: receiver`` message whose ``data:`` is the run
  as JSON; each saved product one ``event: stock`` message with its id, name,
  stock and units sold.
* With nothing to send for ``keepalive`` seconds it sends a comment, so
  proxies and browsers keep the connection. Waiting is cancel-safe, so the
  timeout loses nothing.
* A client that falls ``maxsize`` events behind (per subscription) loses the
  oldest ones; the stream says how many in a comment.
* When a subscription is closed (the server closes the ``receiver_ran`` ones
  at shutdown), the stream ends. When the client disconnects, Django cancels
  the response's task; the cancellation arrives in this generator while it
  waits, and leaving the ``async with`` block unregisters both subscriptions
  at once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import anyio

from eventbus import Event, Subscription
from eventbus.signals import post_save

from .models import Product
from .signals import ReceiverRun, receiver_ran

__all__ = ["feed_stream", "format_event", "wait_for_events"]

#: Seconds between keep-alive comments on an idle stream.
KEEPALIVE = 15.0
#: How many events of each subscription may wait for a slow client before the oldest are dropped.
MAXSIZE = 1000
#: How long (ms) the browser waits before reconnecting a dropped stream.
RETRY_MS = 2000


async def feed_stream(
    keepalive: float = KEEPALIVE, maxsize: int = MAXSIZE
) -> AsyncGenerator[str, None]:
    """Yield the SSE messages of the live feed until the client goes away."""
    async with (
        receiver_ran.subscribe(maxsize=maxsize, remote=True) as runs,
        post_save.subscribe(Product, maxsize=maxsize, remote=True) as saves,
    ):
        yield f"retry: {RETRY_MS}\n: live feed of the shop's receivers\n\n"
        dropped = 0
        while True:
            events: list[Event | None] = []
            with anyio.move_on_after(keepalive):
                await wait_for_events(events, runs, saves)
            if runs.dropped + saves.dropped != dropped:
                lost = runs.dropped + saves.dropped - dropped
                yield f": {lost} event(s) dropped, the client is too slow\n\n"
                dropped += lost
            if not events:
                yield ": keep-alive\n\n"
            for event in events:
                if event is None:  # a subscription was closed: end the stream
                    return
                yield format_event(event)


async def wait_for_events(arrived: list[Event | None], *subscriptions: Subscription) -> None:
    """Wait for the next event of whichever of ``subscriptions`` has one first.

    Appends it to ``arrived``, the moment it arrives, and stops waiting for
    the others; ``None`` for a subscription that ended. Usually one event,
    several when more than one subscription had one at once. Cancelling it
    (a timeout) loses no event: waiting for one is cancel-safe, and one that
    arrived is already in ``arrived``. Its task group is closed when it
    returns, so the caller yields nothing inside it (a cancel scope must never
    stay open across a ``yield`` of an async generator).
    """
    async with anyio.create_task_group() as group:

        async def take(events: Subscription) -> None:
            arrived.append(await anext(events, None))
            group.cancel_scope.cancel()

        for events in subscriptions:
            group.start_soon(take, events)


def format_event(event: Event) -> str:
    """One event as an SSE message: ``receiver`` for a run, ``stock`` for a saved product."""
    if event.signal is receiver_ran:
        run: ReceiverRun = event.kwargs["run"]
        return f"event: receiver\ndata: {json.dumps(run.as_json())}\n\n"
    product: Product = event.kwargs["instance"]
    return f"event: stock\ndata: {json.dumps(stock_json(product))}\n\n"


def stock_json(product: Product) -> dict[str, Any]:
    """What the page shows of a product's stock (also in ``POST /orders/`` replies)."""
    return {"id": product.pk, "name": product.name, "stock": product.stock, "sold": product.sold}
