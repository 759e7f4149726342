"""After-commit receivers: ``connect(..., on_commit=True)``.

An after-commit receiver does not run during the send. The send registers it
with :func:`django.db.transaction.on_commit` for the database the send names in
its ``using`` keyword argument (a string), or ``"default"``; a receiver
connected with ``on_commit="alias"`` always uses that database. The rules:

* **Inside an atomic block** of that database, Django runs it after the
  outermost block commits, never if that block (or the savepoint the send
  happened in) rolls back; the send reports ``AFTER_COMMIT`` as its response.
* **Outside a transaction** (autocommit) it runs at once, like any receiver,
  and the send reports its real response.
* **In manual transaction mode** (``transaction.set_autocommit(False)``
  outside any atomic block) Django's ``on_commit()`` refuses to register
  callbacks, because nothing tells it when the transaction ends. The receiver
  does not run: the send reports a ``TransactionManagementError`` as its
  response and logs it to the ``eventbus`` logger; the other receivers run as
  usual. No send method raises for it, so ``Model.save()`` never fails after
  its query because of an after-commit receiver.
* **Failures** of an after-commit receiver are logged to the ``eventbus``
  logger with ``exc_info``, never raised, whichever send method registered it.
* **``using``.** A send whose plan has receivers with ``on_commit=True``
  checks its ``using`` argument before any receiver runs: an alias missing
  from ``settings.DATABASES`` raises ``ConnectionDoesNotExist`` from every send
  method, robust or not (the mistake is the send's, not a receiver's).

``django.db`` is imported on first use, so ``import eventbus`` stays light.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable
from typing import Any, Final

from ._call import Call
from ._identity import Receiver, describe, signal_name
from ._records import Record

__all__ = ["AFTER_COMMIT"]

logger = logging.getLogger("eventbus")


class AfterCommit(enum.Enum):
    """The type of ``AFTER_COMMIT``."""

    AFTER_COMMIT = "AFTER_COMMIT"

    def __repr__(self) -> str:
        return "eventbus.AFTER_COMMIT"


#: The response ``send()`` reports for an after-commit receiver that has not run
#: yet (the send happened inside a transaction). When no transaction is open the
#: receiver runs at once and its real response (or exception) is reported.
AFTER_COMMIT: Final = AfterCommit.AFTER_COMMIT

#: What :func:`schedule` returns when no transaction is open: run the receiver now.
RUN_NOW: Final = object()


def alias_for(record: Record, named: dict[str, Any]) -> str:
    """The database whose commit ``record``'s receiver waits for in this send."""
    if isinstance(record.on_commit, str):
        return record.on_commit
    using = named.get("using")
    return using if isinstance(using, str) else "default"


def check_using(call: Call) -> None:
    """Refuse a send whose ``using`` names no configured database (before any receiver runs).

    Raises:
        ConnectionDoesNotExist: ``using`` is a string that is not in
            ``settings.DATABASES``.
    """
    using = call.named.get("using")
    if not isinstance(using, str):
        return
    from django.db import connections  # noqa: PLC0415 - see the module docstring
    from django.utils.connection import ConnectionDoesNotExist  # noqa: PLC0415

    if using not in connections.settings:
        known = ", ".join(sorted(connections.settings))
        raise ConnectionDoesNotExist(
            f"{signal_name(call.signal)} was sent with using={using!r}, which is not in "
            f"settings.DATABASES (configured: {known}). Its after-commit receivers wait for "
            "the commit of the database `using` names, so no receiver was called. Pass a "
            "configured alias."
        )


def schedule(call: Call, record: Record, receiver: Receiver) -> Any:
    """Register ``receiver`` with ``on_commit`` if this thread's connection is in a transaction.

    Must be called from sync code, on the thread that owns the transaction.
    Returns ``AFTER_COMMIT`` when registered, ``RUN_NOW`` when no transaction
    is open, or the ``TransactionManagementError`` it reports (and has logged)
    in manual transaction mode.
    """
    from django.db import connections, transaction  # noqa: PLC0415 - see the module docstring
    from django.db.transaction import TransactionManagementError  # noqa: PLC0415

    alias = alias_for(record, call.named)
    # Reads the connection's state without touching the database, so it never
    # opens a connection: one that is not open cannot be in a transaction.
    connection = connections[alias]
    if connection.in_atomic_block:
        transaction.on_commit(functools.partial(run_deferred, call, record, receiver), using=alias)
        return AFTER_COMMIT
    if connection.connection is None or connection.autocommit:
        return RUN_NOW
    refusal = TransactionManagementError(
        f"The after-commit receiver {describe(receiver)} of {signal_name(call.signal)} did not "
        f"run: database {alias!r} is in manual transaction mode (autocommit off, no atomic "
        "block), where Django cannot tell when the transaction commits. Send inside "
        "transaction.atomic(), or turn autocommit back on."
    )
    logger.error("%s", refusal)
    return refusal


def when_committed(alias: str, run: Callable[[], None], what: Callable[[], str]) -> Any:
    """Run ``run`` after the commit of ``alias``'s transaction, or now: the after-commit rules.

    For work that is not a receiver (publishing an event). Must be called from
    sync code, on the thread that owns the transaction. Returns
    ``AFTER_COMMIT`` when registered with ``on_commit``, ``RUN_NOW`` when no
    transaction is open (``run`` was *not* called: the caller runs it, where
    it wants), or the ``TransactionManagementError`` it logged in manual
    transaction mode (``what()`` names the work in that message).
    """
    db = _db()
    connection = db.connections[alias]
    if connection.in_atomic_block:
        db.transaction.on_commit(run, using=alias)
        return AFTER_COMMIT
    if connection.connection is None or connection.autocommit:
        return RUN_NOW
    refusal = db.transaction.TransactionManagementError(
        f"{what()} did not happen: database {alias!r} is in manual transaction mode (autocommit "
        "off, no atomic block), where Django cannot tell when the transaction commits. Send "
        "inside transaction.atomic(), or turn autocommit back on."
    )
    logger.error("%s", refusal)
    return refusal


def _db() -> Any:
    """``django.db``, imported on first use (see the module docstring) and then kept."""
    global _django_db  # noqa: PLW0603 - a cache of one module
    if _django_db is None:
        import django.db  # noqa: PLC0415

        _django_db = django.db
    return _django_db


_django_db: Any = None


def defer(call: Call, record: Record, receiver: Receiver) -> Any:
    """An after-commit receiver met in sync code; return what the send reports for it."""
    scheduled = schedule(call, record, receiver)
    if scheduled is RUN_NOW:
        return run_deferred(call, record, receiver)
    call.deferred(record, receiver, scheduled)
    return scheduled


def run_deferred(call: Call, record: Record, receiver: Receiver) -> Any:
    """Call an after-commit receiver from sync code; failures are logged and returned.

    A ``once`` receiver is claimed only now, so a rolled-back transaction does
    not use it up. An async receiver runs through ``async_to_sync`` (on the
    outer event loop when the commit happens in a ``sync_to_async`` thread).
    """
    if not call.claim(record):
        return None
    return call.run_committed(record, receiver)
