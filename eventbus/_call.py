"""One send in progress, and the one place a receiver's failure is reported.

A :class:`Call` carries what the code that calls receivers needs about a send:
the ``signal`` value passed to every receiver, the sender, the keyword
arguments, whether the send is robust, and how to claim a ``once`` receiver.
It is handed down to the walkers and the after-commit code, which therefore
never reach back into the ``Signal`` object.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ._identity import Receiver
from ._records import Record

__all__: list[str] = []

#: Django's own logger for failures in robust sends; eventbus logs to the same one.
logger = logging.getLogger("django.dispatch")

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

    def invoke(self, receiver: Receiver) -> Any:
        """Call a sync receiver; a robust send returns its ``Exception`` instead of raising."""
        if not self.robust:
            return receiver(signal=self.signal, sender=self.sender, **self.named)
        try:
            return receiver(signal=self.signal, sender=self.sender, **self.named)
        except Exception as err:
            report_failure(receiver, err)
            return err

    async def ainvoke(self, receiver: Receiver) -> Any:
        """Await an async receiver; a robust send returns its ``Exception`` instead of raising."""
        if not self.robust:
            return await receiver(signal=self.signal, sender=self.sender, **self.named)
        try:
            return await receiver(signal=self.signal, sender=self.sender, **self.named)
        except Exception as err:
            report_failure(receiver, err)
            return err


def report_failure(receiver: Receiver, err: Exception) -> None:
    """Log a receiver's failure in a robust send exactly as Django's ``send_robust()`` does."""
    logger.error(
        "Error calling %s in Signal.send_robust() (%s)",
        getattr(receiver, "__qualname__", repr(receiver)),
        err,
        exc_info=err,
    )
