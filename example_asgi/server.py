"""uvicorn's server, with one change: at shutdown it ends the live feeds first.

A live feed (``GET /events/``) is a response that never finishes by itself, so
uvicorn would wait its whole grace period at Ctrl-C and then cancel the
stream with a traceback. Closing every ``receiver_ran`` subscription instead
lets each stream end normally (its generator sees the subscription end), so
the connections close and the server stops at once.
"""

from __future__ import annotations

import socket

import uvicorn

from example_asgi.shop.signals import receiver_ran

__all__ = ["Server"]


class Server(uvicorn.Server):
    """A ``uvicorn.Server`` that closes the live feeds' subscriptions when it shuts down."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for subscription in receiver_ran.subscriptions:
            subscription.close()
        await super().shutdown(sockets)
