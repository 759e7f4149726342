"""Exceptions and warnings raised by eventbus.

The whole tree::

    Exception
    └── EventbusError                 base class of every eventbus error
        ├── AsyncSendError            (also a RuntimeError) ``send()`` was called on a
        │                             thread that is running an event loop while
        │                             async receivers are connected; ``await
        │                             signal.asend(...)`` instead
        └── SubscriptionOverflowError a subscription with ``overflow="close"`` fell
                                      ``maxsize`` events behind and was closed

    UserWarning
    └── EventbusWarning               base class of every eventbus warning
        └── DuplicateReceiverWarning  a receiver was connected again with a different
                                      priority; the first connection is kept

Receiver validation at connect time raises the builtin exceptions Django users
already catch: ``TypeError`` for a receiver that is not callable (or a bad
``priority``), ``ValueError`` for one that does not accept ``**kwargs``.
Exceptions raised by receivers themselves propagate unchanged from the
non-robust sends.
"""

from __future__ import annotations

__all__ = [
    "AsyncSendError",
    "DuplicateReceiverWarning",
    "EventbusError",
    "EventbusWarning",
    "SubscriptionOverflowError",
]


class EventbusError(Exception):
    """Base class of every error eventbus raises itself."""


class AsyncSendError(EventbusError, RuntimeError):
    """``send()`` cannot run async receivers on a thread that runs an event loop.

    Blocking that thread to wait for the async receivers would dead-lock the
    loop, which is why ``asgiref.sync.async_to_sync`` refuses it too. Await
    ``eventbus.Signal.asend()`` (or ``asend_robust``) from async code instead.
    It subclasses ``RuntimeError``, which is what Django's ``send()``
    raises in the same situation, so existing ``except RuntimeError`` blocks
    keep working.
    """


class SubscriptionOverflowError(EventbusError):
    """A subscription with ``overflow="close"`` fell behind and was closed.

    Raised by the subscription's iterator once the consumer has read every
    event that was waiting when the overflow happened, so nothing delivered is
    lost. Read faster, raise ``maxsize=``, or subscribe with
    ``overflow="drop_oldest"`` to drop the oldest events instead.
    """


class EventbusWarning(UserWarning):
    """Base class of every warning eventbus emits."""


class DuplicateReceiverWarning(EventbusWarning):
    """A receiver was connected again with a different priority.

    As in Django, connecting an already-connected receiver (same receiver and
    sender, or same ``dispatch_uid`` and sender) is a no-op: the receiver keeps
    its first position and its first priority. Disconnect it first to change
    its priority.
    """
