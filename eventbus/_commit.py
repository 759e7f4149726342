"""After-commit receivers: ``connect(..., on_commit=True)``.

An after-commit receiver does not run during the send. The send registers it
with :func:`django.db.transaction.on_commit` for the database the send names in
its ``using`` keyword argument (a string), or ``"default"``; a receiver
connected with ``on_commit="alias"`` always uses that database. Django then runs
it after the outermost ``atomic()`` block of that database commits, never if
that block (or the savepoint the send happened in) rolls back, and at once when
no transaction is open.
"""

from __future__ import annotations

import enum
import functools
import logging
from typing import TYPE_CHECKING, Any, Final

from asgiref.sync import async_to_sync
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from ._receivers import Receiver, Record, describe

if TYPE_CHECKING:
    from ._signal import Signal

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


def validate_on_commit(on_commit: object, receiver: object) -> None:
    """Check ``on_commit=`` at connect time: a bool, or a configured database alias."""
    if isinstance(on_commit, bool):
        return
    if not isinstance(on_commit, str):
        raise TypeError(
            f"on_commit must be True, False or a database alias, not {on_commit!r}, "
            f"for receiver {describe(receiver)}."
        )
    if on_commit not in connections.settings:
        known = ", ".join(sorted(connections.settings))
        raise ValueError(
            f"on_commit={on_commit!r} for receiver {describe(receiver)} names a database "
            f"that is not in settings.DATABASES (configured: {known}). Use one of those "
            "aliases, or on_commit=True to follow the send's `using` argument."
        )


def alias_for(record: Record, named: dict[str, Any]) -> str:
    if isinstance(record.on_commit, str):
        return record.on_commit
    using = named.get("using")
    return using if isinstance(using, str) else DEFAULT_DB_ALIAS


def in_transaction(alias: str) -> bool:
    """Whether ``on_commit`` would defer on ``alias`` (an atomic block or manual mode).

    Reads the connection's state without touching the database, so it is safe
    from async code and never opens a connection: a connection that is not
    open cannot be in a transaction.
    """
    connection = connections[alias]
    if connection.in_atomic_block:
        return True
    return connection.connection is not None and not connection.autocommit


def defer(
    signal: Signal, record: Record, receiver: Receiver, sender: Any, named: dict[str, Any]
) -> Any:
    """Run ``receiver`` after commit, or now if no transaction is open; return its report.

    Must be called from sync code. Returns the receiver's response (or its
    exception) when it ran at once, else ``AFTER_COMMIT``.
    """
    if register(signal, record, receiver, sender, named):
        return AFTER_COMMIT
    return run_deferred(signal, record, receiver, sender, named)


def register(
    signal: Signal, record: Record, receiver: Receiver, sender: Any, named: dict[str, Any]
) -> bool:
    """Register ``receiver`` with ``on_commit`` if this thread's connection is in a transaction.

    Must be called from sync code, on the thread that owns the transaction.
    Returns whether it was registered (``False``: no transaction is open).
    """
    alias = alias_for(record, named)
    if not in_transaction(alias):
        return False
    transaction.on_commit(
        functools.partial(run_deferred, signal, record, receiver, sender, named), using=alias
    )
    return True


def claim(signal: Signal, record: Record) -> bool:
    """Claim a ``once`` after-commit receiver when it runs, so a rollback does not use it up."""
    if record.once is None:
        return True
    if not record.once.acquire(blocking=False):
        return False
    signal._forget(record)
    return True


def log_failure(signal: Signal, receiver: Receiver, err: Exception) -> None:
    logger.error(
        "Error calling %s after commit for %r (%s)",
        describe(receiver),
        signal,
        err,
        exc_info=err,
    )


def run_deferred(
    signal: Signal, record: Record, receiver: Receiver, sender: Any, named: dict[str, Any]
) -> Any:
    """Call an after-commit receiver from sync code; failures are logged and returned.

    An async receiver runs through ``async_to_sync`` (on the outer event loop
    when the commit happens in a ``sync_to_async`` thread).
    """
    if not claim(signal, record):
        return None
    try:
        if record.is_async:
            return async_to_sync(receiver)(signal=signal, sender=sender, **named)
        return receiver(signal=signal, sender=sender, **named)
    except Exception as err:
        log_failure(signal, receiver, err)
        return err
