"""Crossing between sync and async code: thread hops and event-loop entries.

* :func:`to_thread` leaves an event loop for a worker thread (``asend()``'s
  hop for sync receivers). Under asyncio it is asgiref's
  ``sync_to_async(thread_sensitive=True)``, so ORM code runs on the thread
  Django expects (the request's thread under ASGI, the calling thread inside
  ``async_to_sync``); under any other anyio backend (trio) it is
  ``anyio.to_thread.run_sync``. Context variables set by the caller are visible
  in the thread, and changes made there come back.
* :func:`run_async` runs an async callable to completion from sync code
  (``send()``'s loop entry): in a worker thread that :func:`to_thread` started
  under trio, on the caller's own trio loop through anyio's from-thread portal;
  anywhere else through asgiref's ``async_to_sync`` (on the outer asyncio loop
  from a ``sync_to_async`` thread, else in a new loop).
* :func:`in_event_loop_thread` says whether blocking this thread would block a
  running event loop.

anyio is imported where it is used (only outside asyncio), so that ``import
eventbus`` does not import it: a project that imports eventbus before pytest
starts would otherwise make pytest warn that anyio's plugin came too late to
have its assertions rewritten.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from asgiref.sync import SyncToAsync, async_to_sync

if TYPE_CHECKING:
    from anyio.lowlevel import EventLoopToken

_sniffio_thread: Any
try:  # trio depends on sniffio; without it, trio cannot be running.
    from sniffio import thread_local as _sniffio_thread
except ImportError:  # pragma: no cover - sniffio ships with anyio
    _sniffio_thread = None

__all__: list[str] = []

T = TypeVar("T")

#: In a worker thread started by ``to_thread`` under a non-asyncio backend: the
#: token of the event loop waiting for it, so ``run_async`` can go back there.
_host_loop: contextvars.ContextVar[EventLoopToken | None] = contextvars.ContextVar(
    "eventbus_host_loop", default=None
)


def _call(func: Callable[[], T]) -> T:
    return func()


# One SyncToAsync for every hop: building one per call costs more than the hop's
# bookkeeping. Its thread choice is made per call, from the caller's context.
_thread_sensitive_hop = SyncToAsync(_call, thread_sensitive=True)


def in_event_loop_thread() -> bool:
    """Whether the current thread is running an event loop (asyncio or trio)."""
    if asyncio._get_running_loop() is not None:
        return True
    return _sniffio_thread is not None and _sniffio_thread.name is not None


async def to_thread(func: Callable[[], T]) -> T:
    """Run ``func`` in a worker thread: one hop, with the caller's context (see the module)."""
    if asyncio._get_running_loop() is not None:
        result: T = await _thread_sensitive_hop(func)
        return result
    import anyio.lowlevel  # noqa: PLC0415 - see the module docstring
    import anyio.to_thread  # noqa: PLC0415

    context = contextvars.copy_context()
    context.run(_host_loop.set, anyio.lowlevel.current_token())
    try:
        # abandon_on_cancel: like asgiref, stop waiting when cancelled; the
        # thread finishes the receiver it is running, and the walkers' stop
        # flag keeps it from starting another.
        return await anyio.to_thread.run_sync(context.run, func, abandon_on_cancel=True)
    finally:
        _restore_context(context)


def worker_context() -> contextvars.Context:
    """A copy of the caller's context for a worker thread of the caller's own choosing.

    ``send()`` walked in that thread enters no new event loop: its async steps come
    back to the calling loop through anyio's portal, as from a ``to_thread`` worker.
    Must be called on the loop's thread.
    """
    import anyio.lowlevel  # noqa: PLC0415 - see the module docstring

    context = contextvars.copy_context()
    context.run(_host_loop.set, anyio.lowlevel.current_token())
    return context


def run_async(func: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    """Run ``await func(*args)`` from sync code, on the right event loop (see the module)."""
    token = _host_loop.get()
    if token is not None:
        import anyio.from_thread  # noqa: PLC0415 - see the module docstring

        return anyio.from_thread.run(func, *args, token=token)
    return async_to_sync(func)(*args)


def enters_new_loop() -> bool:
    """Whether :func:`run_async` here goes through asgiref (not back to a trio host loop)."""
    return _host_loop.get() is None


def _restore_context(context: contextvars.Context) -> None:
    """Copy the values a worker thread changed in ``context`` back to the caller."""
    for var, value in context.items():
        if var is not _host_loop and var.get(_MISSING) is not value:
            var.set(value)


_MISSING = object()
