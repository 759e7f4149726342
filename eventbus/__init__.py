"""eventbus: Django signals with one deterministic order for sync and async receivers."""

from ._commit import DEFERRED
from ._exceptions import AsyncSendError, DuplicateReceiverWarning, EventbusError, EventbusWarning
from ._receivers import ReceiverInfo
from ._signal import Signal, receiver

__all__ = [
    "DEFERRED",
    "AsyncSendError",
    "DuplicateReceiverWarning",
    "EventbusError",
    "EventbusWarning",
    "ReceiverInfo",
    "Signal",
    "receiver",
]
