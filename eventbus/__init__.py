"""eventbus: Django signals with one deterministic order for sync and async receivers.

PYTEST_DONT_REWRITE: the package has no test assertions for pytest to rewrite,
and projects import it before pytest starts (settings, a swapped ``Signal``);
the marker keeps pytest from warning that it came too late to rewrite it.
"""

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
