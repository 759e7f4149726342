"""The live feed's rows: eventbus's tracing reports each run of a shop receiver on ``receiver_ran``.

:func:`report_run` is a tracing listener (:func:`eventbus.tracing.add_listener`,
registered by the shop's app config), so tracing is on in every process of the
shop. The tracer calls it with each record where the record is made: for a
receiver run, on the thread, and in the context, where the receiver ran, once
it has returned or raised. The rules:

* Only the runs of the shop's receivers (the functions of
  :mod:`example_asgi.shop.receivers`) become rows; other receivers' runs (a
  test's, say), the sends' own records and the deferral of an after-commit
  receiver to the commit do not (its run is a row when it happens, at the
  commit; never, if the order rolls back).
* A row is sent where the receiver ran, in its transaction: in sync code with
  ``receiver_ran.send()``; in async code (an async receiver awaited on an
  event loop: the record's ``in_async_code`` is true) the listener returns
  ``receiver_ran.asend(...)``, which the tracer awaits right there, and whose
  publish asks the request's thread for the transaction (a ``send()`` on the
  event loop's thread would not see it). ``receiver_ran`` is a remote signal,
  so the rows of an order go on the wire when it commits, in the order the
  receivers ran, and those of a rolled-back order never leave the process.
  The tracer traces nothing a listener does, so these sends are not rows.
* A receiver that raised is a row too, whose ``error`` names the exception;
  tracing changes nothing in the send (the exception still stops it and
  rolls the order back).
* ``thread`` is ``"loop"`` when the receiver ran on a thread that was running
  an event loop (async receivers, awaited by ``asend()``) and ``"worker"``
  otherwise (sync receivers, which ``asend()`` runs in a ``sync_to_async``
  thread hop).
* ``kind`` is ``"broadcast"`` for a ``delivery="broadcast"`` receiver, else
  ``"after-commit"``, ``"async"`` or ``"sync"``.
* ``order`` is the primary key of the ``order`` keyword argument
  (``order_placed``) or of the ``instance`` one when it is an ``Order`` (model
  signals), else ``None``.
* ``at`` is when the run started; ``pid`` is the process the receiver ran in;
  ``seq`` numbers the rows of that process in the order the runs ended.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime
from typing import Any

from eventbus.tracing import Record, RunRecord

from . import receivers
from .models import Order
from .signals import Kind, ReceiverRun, receiver_ran

__all__ = ["receiver_run", "report_run"]

_seq = itertools.count(1)


def report_run(record: Record) -> Awaitable[Any] | None:
    """The tracing listener: send the row of a shop receiver's run on ``receiver_ran``."""
    if (
        not isinstance(record, RunRecord)
        or record.outcome == "deferred"
        or getattr(record.receiver, "__module__", None) != receivers.__name__
    ):
        return None
    run = receiver_run(record)
    if record.in_async_code:
        return receiver_ran.asend(sender=run.signal, run=run)
    receiver_ran.send(sender=run.signal, run=run)
    return None


def receiver_run(record: RunRecord) -> ReceiverRun:
    """The feed's row of one receiver run (the next ``seq`` of this process)."""
    error = record.exception
    return ReceiverRun(
        seq=next(_seq),
        order=_order_pk(record.kwargs),
        signal=record.signal_name,
        receiver=getattr(record.receiver, "__name__", record.receiver_name),
        priority=record.priority,
        kind=_kind(record),
        thread="worker" if record.event_loop is None else "loop",
        thread_name=record.thread,
        duration_ms=round(record.duration * 1000, 2),
        at=datetime.fromtimestamp(record.started_at, UTC).isoformat(timespec="milliseconds"),
        error=None if error is None else f"{type(error).__name__}: {error}",
        pid=os.getpid(),
    )


def _kind(record: RunRecord) -> Kind:
    if record.delivery == "broadcast":
        return "broadcast"
    if record.delivery == "after-commit":
        return "after-commit"
    return "async" if record.is_async else "sync"


def _order_pk(kwargs: Mapping[str, Any]) -> int | None:
    subject = kwargs.get("order", kwargs.get("instance"))
    pk = subject.pk if isinstance(subject, Order) else None
    return pk if isinstance(pk, int) else None
