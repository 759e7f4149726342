"""``async with atomic():`` one database transaction around async ORM calls and ``asend()``.

Django has no async ``atomic()``: a transaction belongs to a database
connection, and connections belong to threads. In an async view the ORM runs
in ``sync_to_async(thread_sensitive=True)`` calls, and Django's ASGI handler
gives each request its own thread-sensitive executor (asgiref's
``ThreadSensitiveContext``): one thread, so one connection, for every such
call the request makes. ``asave()``, ``aget()``, eventbus's thread hops for sync
receivers in ``asend()``, and the after-commit receivers they register all run
there.

:func:`atomic` enters and exits ``transaction.atomic()`` on that same thread,
so everything in between is one transaction:

* leaving the block normally commits, and the ``transaction.on_commit``
  callbacks registered inside (eventbus's after-commit receivers) run then, on
  that thread;
* leaving it with an exception (including cancellation) rolls back, and those
  callbacks never run.

The rule that makes it correct: **only thread-sensitive sync work may touch the
database inside the block**. A ``sync_to_async(thread_sensitive=False)`` call or
a thread of your own would use another connection, outside the transaction.
Outside a request (a script, a test), wrap the code in ``async with
ThreadSensitiveContext():`` to get the same one-thread guarantee.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asgiref.sync import sync_to_async
from django.db import transaction

__all__ = ["atomic"]


@asynccontextmanager
async def atomic(using: str | None = None) -> AsyncIterator[None]:
    """Run the block in one transaction of ``using`` (default database), from async code.

    Nested blocks become savepoints, as with ``transaction.atomic()``.
    """
    block = transaction.atomic(using=using)
    enter = sync_to_async(block.__enter__, thread_sensitive=True)
    leave = sync_to_async(block.__exit__, thread_sensitive=True)
    await enter()
    try:
        yield
    except BaseException as exc:
        # Roll back; atomic's __exit__ never swallows the exception, so re-raise it.
        await leave(type(exc), exc, exc.__traceback__)
        raise
    await leave(None, None, None)
