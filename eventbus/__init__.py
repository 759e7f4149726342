"""eventbus: Django signals with one deterministic order for sync and async receivers."""

from ._commit import AFTER_COMMIT
from ._exceptions import (
    AsyncSendError,
    DuplicateReceiverWarning,
    EventbusError,
    EventbusWarning,
    SubscriptionOverflowError,
)
from ._records import ReceiverInfo
from ._signal import Signal, receiver
from ._subscription import Event, Overflow, Subscription
from ._transaction import atomic

__all__ = [
    "AFTER_COMMIT",
    "AsyncSendError",
    "DuplicateReceiverWarning",
    "Event",
    "EventbusError",
    "EventbusWarning",
    "Overflow",
    "ReceiverInfo",
    "Signal",
    "Subscription",
    "SubscriptionOverflowError",
    "atomic",
    "receiver",
]
