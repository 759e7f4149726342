"""eventbus: Django signals with one deterministic order for sync and async receivers."""

from ._commit import AFTER_COMMIT
from ._exceptions import AsyncSendError, DuplicateReceiverWarning, EventbusError, EventbusWarning
from ._receivers import ReceiverInfo
from ._signal import Signal, receiver

__all__ = [
    "AFTER_COMMIT",
    "AsyncSendError",
    "DuplicateReceiverWarning",
    "EventbusError",
    "EventbusWarning",
    "ReceiverInfo",
    "Signal",
    "receiver",
]
