"""Traced receivers: each run of a receiver is reported on the ``receiver_ran`` signal.

``@traced_receiver(signal, priority=..., on_commit=..., sender=...)`` is
``@eventbus.receiver`` plus a wrapper that times every call of the receiver and
then sends ``receiver_ran(sender=signal, run=ReceiverRun(...))``. The page's
live feed subscribes to ``receiver_ran`` and streams each run to the browser.

The rules:

* A run is reported when the receiver returns *or raises*; ``error`` then names
  the exception, which still propagates unchanged (so a failing receiver still
  stops the send and rolls the order back).
* ``thread`` is ``"loop"`` when the receiver ran on a thread that is running an
  event loop (async receivers, awaited by ``asend()``) and ``"worker"`` otherwise
  (sync receivers, which ``asend()`` runs in a ``sync_to_async`` thread hop).
* ``order`` is the primary key of the ``order`` keyword argument (``order_placed``)
  or of the ``instance`` one (model signals), ``None`` if neither is there.
* ``seq`` numbers the runs of this process in the order they finished.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, cast

from asgiref.sync import iscoroutinefunction

from eventbus import Signal, receiver

from .signals import receiver_ran

__all__ = ["ReceiverRun", "traced_receiver"]

F = TypeVar("F", bound=Callable[..., Any])
Kind = Literal["sync", "async", "after-commit"]
Thread = Literal["loop", "worker"]

_seq = itertools.count(1)


@dataclasses.dataclass(frozen=True, slots=True)
class ReceiverRun:
    """One finished run of a traced receiver: what the live feed shows."""

    seq: int
    order: int | None
    signal: str
    receiver: str
    priority: int
    kind: Kind
    thread: Thread
    thread_name: str
    duration_ms: float
    at: str
    error: str | None

    def as_json(self) -> dict[str, Any]:
        """The run as the feed's JSON object (every field, by name)."""
        return dataclasses.asdict(self)


def traced_receiver(
    signal: Signal,
    *,
    priority: int = 0,
    on_commit: bool = False,
    sender: object | None = None,
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
        kind: Kind = (
            "after-commit" if on_commit else "async" if iscoroutinefunction(func) else "sync"
        )

        def report(
            kwargs: Mapping[str, Any], at: datetime, start: float, error: str | None
        ) -> None:
            run = ReceiverRun(
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
            )
            receiver_ran.send(sender=signal, run=run)

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
                    report(kwargs, at, start, error)

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
                    report(kwargs, at, start, error)

        receiver(signal, sender=sender, priority=priority, on_commit=on_commit)(wrapper)
        return cast(F, wrapper)

    return decorate


def _order_pk(kwargs: Mapping[str, Any]) -> int | None:
    subject = kwargs.get("order", kwargs.get("instance"))
    pk = getattr(subject, "pk", None)
    return pk if isinstance(pk, int) else None


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
