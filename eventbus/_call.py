"""One send in progress, and the one place a receiver's failure is reported.

A :class:`Call` carries what the code that calls receivers needs about a send:
the ``signal`` value passed to every receiver, the sender, the keyword
arguments, whether the send is robust, and how to claim a ``once`` receiver.
It is handed down to the walkers and the after-commit code, which therefore
never reach back into the ``Signal`` object. A traced send uses a subclass
(``_trace.TracedCall``) that reports each receiver run to the tracer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync

from ._identity import Receiver, describe, signal_name
from ._records import Record

__all__: list[str] = []

#: Django's own logger for failures in robust sends; eventbus logs to the same one.
logger = logging.getLogger("django.dispatch")
#: eventbus's own logger, for failures of after-commit receivers.
commit_logger = logging.getLogger("eventbus")

Responses = list[tuple[Receiver, Any]]


class Call:
    """One send: ``receiver(signal=signal, sender=sender, **named)`` for each receiver.

    Attributes:
        signal: The signal object passed to receivers as ``signal=``.
        sender: The send's sender.
        named: The send's other keyword arguments.
        robust: Whether failures are returned in place (and logged) instead of raised.
        claim: Claims the one call of a ``once`` record (true for other records);
            the winner has disconnected it.
    """

    __slots__ = ("claim", "named", "robust", "sender", "signal")

    def __init__(
        self,
        signal: object,
        sender: Any,
        named: dict[str, Any],
        robust: bool,
        claim: Callable[[Record], bool],
    ) -> None:
        self.signal = signal
        self.sender = sender
        self.named = named
        self.robust = robust
        self.claim = claim

    def resolve(self, record: Record) -> Receiver | None:
        """The receiver to call for ``record``, or ``None`` to skip it (collected, or claimed).

        A ``once`` receiver is claimed, and so disconnected, before it runs,
        so a send from inside it does not reach it again.
        """
        receiver: Receiver | None = record.deref()
        if receiver is None or not self.claim(record):
            return None
        return receiver

    def invoke(self, receiver: Receiver, record: Record) -> Any:
        """Call a sync receiver; a robust send returns its ``Exception`` instead of raising."""
        if not self.robust:
            return receiver(signal=self.signal, sender=self.sender, **self.named)
        try:
            return receiver(signal=self.signal, sender=self.sender, **self.named)
        except Exception as err:
            report_failure(receiver, err)
            return err

    async def ainvoke(self, receiver: Receiver, record: Record) -> Any:
        """Await an async receiver; a robust send returns its ``Exception`` instead of raising."""
        if not self.robust:
            return await receiver(signal=self.signal, sender=self.sender, **self.named)
        try:
            return await receiver(signal=self.signal, sender=self.sender, **self.named)
        except Exception as err:
            report_failure(receiver, err)
            return err

    def deferred(self, record: Record, receiver: Receiver, response: Any) -> None:
        """An after-commit receiver was registered for the commit (or refused): nothing to do.

        ``response`` is what the send reports for it (``AFTER_COMMIT``, or the
        refusal). A traced call notes it.
        """

    def run_committed(self, record: Record, receiver: Receiver) -> Any:
        """Call an after-commit receiver from sync code; failures are logged and returned.

        An async receiver runs through ``async_to_sync`` (on the outer event loop
        when the commit happens in a ``sync_to_async`` thread).
        """
        try:
            return self.call_committed(record, receiver)
        except Exception as err:
            log_commit_failure(self.signal, receiver, err)
            return err

    async def arun_committed(self, record: Record, receiver: Receiver) -> Any:
        """Await an async after-commit receiver that runs at once; failures are logged and
        returned."""
        try:
            return await self.acall_committed(record, receiver)
        except Exception as err:
            log_commit_failure(self.signal, receiver, err)
            return err

    def call_committed(self, record: Record, receiver: Receiver) -> Any:
        """Call an after-commit receiver from sync code, raising what it raises."""
        if record.is_async:
            return async_to_sync(receiver)(signal=self.signal, sender=self.sender, **self.named)
        return receiver(signal=self.signal, sender=self.sender, **self.named)

    async def acall_committed(self, record: Record, receiver: Receiver) -> Any:
        """Await an async after-commit receiver, raising what it raises."""
        return await receiver(signal=self.signal, sender=self.sender, **self.named)


def report_failure(receiver: Receiver, err: Exception) -> None:
    """Log a receiver's failure in a robust send exactly as Django's ``send_robust()`` does."""
    logger.error(
        "Error calling %s in Signal.send_robust() (%s)",
        getattr(receiver, "__qualname__", repr(receiver)),
        err,
        exc_info=err,
    )


def log_commit_failure(signal: object, receiver: Receiver, err: Exception) -> None:
    """Log an after-commit receiver's failure to the ``eventbus`` logger, with ``exc_info``."""
    commit_logger.error(
        "Error calling %s after commit for %s (%s)",
        describe(receiver),
        signal_name(signal),
        err,
        exc_info=err,
    )
