"""This process on the wire, seen from code: its transport counters and the project's listeners.

::

    from eventbus import remote

    remote.counters()  # {"published": 12, "publish_failed": 0, "received": 30, ...}
    remote.status()  # the transport, remote signals, every listening process's counters

See the *Across processes* guide for what the counters count.
"""

from __future__ import annotations

from typing import Any

from ._node import node
from ._transport import TransportError

__all__ = ["TransportError", "counters", "status", "wait_subscribed"]


def counters() -> dict[str, Any]:
    """This process's counters: ``published``, ``publish_failed``, ``received``,
    ``delivered``, ``dropped`` (by reason) and ``reconnects``, since the app started."""
    return node.counters.as_dict()


def wait_subscribed(timeout: float) -> bool:
    """Start this process's listener if it is not running, and wait until it is subscribed.

    The listener starts by itself when a broadcast receiver or a remote
    subscription appears, without waiting; until it is subscribed, events
    published elsewhere do not reach this process. Call this where that
    matters (a worker that should serve only once it receives): returns
    whether it is subscribed within ``timeout`` seconds.
    """
    node.start()
    return node.wait_subscribed(timeout)


def status() -> dict[str, Any]:
    """What ``manage.py eventbus status --json`` prints.

    ``transport`` (a description, no secrets), ``listening`` (this process),
    ``counters`` (this process's), ``signals`` (each remote signal's broadcast
    receivers, by wire name) and ``processes`` (the latest report of every
    listening process of the project, with its host, pid and counters).
    """
    return node.status()
