"""``async with eventbus.atomic():`` one database transaction around async code.

Django has no async ``atomic()``: a transaction belongs to a database
connection, and connections belong to threads. In async code the ORM runs in
``sync_to_async(thread_sensitive=True)`` calls (``asave()``, ``aget()``, ...),
and so do eventbus's thread hops for sync receivers in ``asend()`` and the
after-commit receivers they register. :func:`atomic` enters and exits
``transaction.atomic()`` on that same thread, so everything thread-sensitive
in between is one transaction.

The rules:

* **Commit and rollback.** Leaving the block normally commits, and the
  ``transaction.on_commit`` callbacks registered inside (eventbus's after-commit
  receivers among them) run then, on that thread, before the block is left.
  Leaving it with an exception, cancellation included, rolls back; those
  callbacks never run; the exception propagates. Nested blocks are savepoints.
* **Which thread.** Inside a request, Django's ASGI handler gives each request
  one thread for its thread-sensitive work: the block uses it. Inside
  ``async_to_sync`` (an async receiver of a ``send()`` from sync code), it is the
  sync caller's thread, so the block nests in the caller's transaction, if one
  is open. Anywhere else (a script, a task worker, a test), the block opens an
  ``asgiref.sync.ThreadSensitiveContext`` of its own: it gets a thread and a
  connection to itself (so concurrent blocks on other tasks never share its
  transaction), and the connections opened on that thread are closed when the
  block is left, since the thread ends with it.
* **The limit.** Only thread-sensitive sync work is in the transaction. A
  ``sync_to_async(thread_sensitive=False)`` call, a thread of your own or an
  async database driver uses another connection, outside it.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from asgiref.sync import ThreadSensitiveContext, sync_to_async

if TYPE_CHECKING:
    from django.db.transaction import Atomic

__all__ = ["atomic"]

T = TypeVar("T")


@asynccontextmanager
async def atomic(
    using: str | None = None, savepoint: bool = True, durable: bool = False
) -> AsyncIterator[None]:
    """Run the block in one transaction of ``using`` (the default database), from async code.

    Takes ``transaction.atomic()``'s arguments; see the module docstring for
    the rules (which thread, commit and rollback, nesting, the limit)::

        async with eventbus.atomic():
            order = await Order.objects.acreate(...)
            await order_placed.asend(sender=Order, order=order)
        # committed; after-commit receivers have run

    Raises:
        ConnectionDoesNotExist: ``using`` is not in ``settings.DATABASES``.
    """
    from django.db import connections, transaction  # noqa: PLC0415 - keeps `import eventbus` light

    connections[using or "default"]  # an unknown alias fails here, at once
    block = transaction.atomic(using=using, savepoint=savepoint, durable=durable)
    async with AsyncExitStack() as stack:
        outside = await _thread_sensitive(threading.get_ident)
        context = ThreadSensitiveContext()
        await stack.enter_async_context(context)
        inside = await _thread_sensitive(_enter, block)
        # The block got a thread of its own (not a request's, nor a sync
        # caller's): its connection is the block's to close when it is over.
        owns_thread = context.token is not None and inside != outside
        try:
            yield
        except BaseException as exc:
            await _thread_sensitive(_leave, block, exc, owns_thread)
            raise
        await _thread_sensitive(_leave, block, None, owns_thread)


def _enter(block: Atomic) -> int:
    block.__enter__()
    return threading.get_ident()


def _leave(block: Atomic, exc: BaseException | None, close: bool) -> None:
    """Leave ``block`` (commit, or roll back for ``exc``) on the transaction's thread."""
    try:
        if exc is None:
            block.__exit__(None, None, None)
        else:
            block.__exit__(type(exc), exc, exc.__traceback__)
    finally:
        if close:
            _close_thread_connections()


def _close_thread_connections() -> None:
    """Close every connection this thread opened: the thread ends with the block.

    Django keeps an in-memory SQLite database open on ``close()`` (closing it
    would lose it); on a thread that is about to end, its DB-API connection is
    closed too, as nothing can use it again. A shared in-memory database lives
    on through the other threads' connections.
    """
    from django.db import connections  # noqa: PLC0415

    for wrapper in connections.all(initialized_only=True):
        wrapper.close()
        if wrapper.connection is not None:
            wrapper.connection.close()


async def _thread_sensitive(func: Callable[..., T], *args: Any) -> T:
    result: T = await sync_to_async(func, thread_sensitive=True)(*args)
    return result
