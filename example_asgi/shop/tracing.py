"""Traced receivers: each run of a receiver is reported on the ``receiver_ran`` signal.

``@traced_receiver(signal, priority=..., on_commit=..., sender=..., delivery=...)``
is ``@eventbus.receiver`` plus a wrapper that times every call of the receiver
and then sends ``receiver_ran(sender=<the signal's name>, run=ReceiverRun(...))``.
The page's live feed subscribes to ``receiver_ran`` and streams each run to the
browser.

The rules:

* A run is reported when the receiver returns *or raises*; ``error`` then names
  the exception, which still propagates unchanged (so a failing receiver still
  stops the send and rolls the order back).
* The report is sent where the receiver ran, in its transaction: a sync
  receiver's with ``send()``, an async receiver's with ``await asend()``, which
  asks the request's thread for its transaction (a ``send()`` on the event
  loop's thread would not see it). ``receiver_ran`` is a remote signal, so the
  reports of an order go on the wire when it commits, in the order the
  receivers ran, and those of a rolled-back order never leave the process.
* ``thread`` is ``"loop"`` when the receiver ran on a thread that is running an
  event loop (async receivers, awaited by ``asend()``) and ``"worker"`` otherwise
  (sync receivers, which ``asend()`` runs in a ``sync_to_async`` thread hop).
* ``kind`` is ``"broadcast"`` for a ``delivery="broadcast"`` receiver, else
  ``"after-commit"``, ``"async"`` or ``"sync"``.
* ``order`` is the primary key of the ``order`` keyword argument (``order_placed``)
  or of the ``instance`` one when it is an ``Order`` (model signals), else ``None``.
* ``pid`` is the process the receiver ran in; ``seq`` numbers the runs of that
  process in the order they finished.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from asgiref.sync import iscoroutinefunction

from eventbus import Signal, receiver

from .models import Order
from .signals import Kind, ReceiverRun, receiver_ran

__all__ = ["ReceiverRun", "traced_receiver"]

F = TypeVar("F", bound=Callable[..., Any])

_seq = itertools.count(1)


def traced_receiver(
    signal: Signal,
    *,
    priority: int = 0,
    on_commit: bool = False,
    sender: object | None = None,
    delivery: str = "local",
) -> Callable[[F], F]:
    """Connect the decorated receiver to ``signal``, reporting each of its runs.

    Takes the ``@eventbus.receiver`` options that the shop uses and returns the
    tracing wrapper, a sync or async function like the receiver itself (so
    eventbus classifies it the same way), with the receiver's name. The module
    that applies the decorator holds the wrapper, so the default weak
    connection keeps it alive.
    """
    signal_name = signal.name or repr(signal)

    def decorate(func: F) -> F:
        kind = _kind(func, on_commit=on_commit, delivery=delivery)

        def run(
            kwargs: Mapping[str, Any], at: datetime, start: float, error: str | None
        ) -> ReceiverRun:
            return ReceiverRun(
                seq=next(_seq),
                order=_order_pk(kwargs),
                signal=signal_name,
                receiver=func.__name__,
                priority=priority,
                kind=kind,
                thread="loop" if _on_event_loop() else "worker",
                thread_name=threading.current_thread().name,
                duration_ms=round((time.perf_counter() - start) * 1000, 2),
                at=at.isoformat(timespec="milliseconds"),
                error=error,
                pid=os.getpid(),
            )

        wrapper: Callable[..., Any]
        if iscoroutinefunction(func):
            afunc = cast(Callable[..., Awaitable[Any]], func)

            @functools.wraps(func)
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                at, start, error = datetime.now(UTC), time.perf_counter(), None
                try:
                    return await afunc(*args, **kwargs)
                except BaseException as exc:
                    error = _describe(exc)
                    raise
                finally:
                    report = run(kwargs, at, start, error)
                    await receiver_ran.asend(sender=signal_name, run=report)

        else:

            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                at, start, error = datetime.now(UTC), time.perf_counter(), None
                try:
                    return func(*args, **kwargs)
                except BaseException as exc:
                    error = _describe(exc)
                    raise
                finally:
                    receiver_ran.send(sender=signal_name, run=run(kwargs, at, start, error))

        receiver(signal, sender=sender, priority=priority, on_commit=on_commit, delivery=delivery)(
            wrapper
        )
        return cast(F, wrapper)

    return decorate


def _kind(func: Callable[..., Any], *, on_commit: bool, delivery: str) -> Kind:
    if delivery == "broadcast":
        return "broadcast"
    if on_commit:
        return "after-commit"
    return "async" if iscoroutinefunction(func) else "sync"


def _order_pk(kwargs: Mapping[str, Any]) -> int | None:
    subject = kwargs.get("order", kwargs.get("instance"))
    pk = subject.pk if isinstance(subject, Order) else None
    return pk if isinstance(pk, int) else None


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
