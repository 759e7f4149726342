"""The live feed as Server-Sent Events: a subscription to ``receiver_ran``, streamed.

:func:`feed_stream` is the body of ``GET /events/``. The rules:

* It subscribes **before** it yields anything, and first yields a ``retry:``
  line and a comment. The client therefore sees the stream open at once, and
  every receiver run after that moment is in the stream.
* Each ``receiver_ran`` send becomes one ``event: receiver`` message whose
  ``data:`` is the run as JSON, in send order.
* With nothing to send for ``keepalive`` seconds it sends a comment, so
  proxies and browsers keep the connection. Waiting for the next event is
  cancel-safe, so the timeout loses nothing.
* A client that falls ``maxsize`` events behind loses the oldest ones; the
  stream says how many in a comment.
* When the client disconnects, Django cancels the response's task; the
  cancellation arrives in this generator while it waits, and leaving the
  ``async with`` block unregisters the subscription at once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

import anyio

from eventbus import Event

from .signals import receiver_ran
from .tracing import ReceiverRun

__all__ = ["feed_stream", "format_event"]

#: Seconds between keep-alive comments on an idle stream.
KEEPALIVE = 15.0
#: How many runs may wait for a slow client before the oldest are dropped.
MAXSIZE = 1000
#: How long (ms) the browser waits before reconnecting a dropped stream.
RETRY_MS = 2000


async def feed_stream(
    keepalive: float = KEEPALIVE, maxsize: int = MAXSIZE
) -> AsyncGenerator[str, None]:
    """Yield the SSE messages of the live feed until the client goes away."""
    async with receiver_ran.subscribe(maxsize=maxsize) as events:
        yield f"retry: {RETRY_MS}\n: live feed of the shop's receivers\n\n"
        dropped = 0
        while True:
            event: Event | None = None
            with anyio.move_on_after(keepalive) as waiting:
                event = await anext(events, None)
            if events.dropped != dropped:
                yield f": {events.dropped - dropped} event(s) dropped, the client is too slow\n\n"
                dropped = events.dropped
            if waiting.cancelled_caught:
                yield ": keep-alive\n\n"
            elif event is None:  # the subscription was closed: end the stream
                return
            else:
                yield format_event(event)


def format_event(event: Event) -> str:
    """One ``receiver_ran`` event as an SSE message named ``receiver``."""
    run: ReceiverRun = event.kwargs["run"]
    return f"event: receiver\ndata: {json.dumps(run.as_json())}\n\n"
