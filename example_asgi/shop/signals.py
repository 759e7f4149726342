"""The shop's signals.

* ``order_placed(sender=Order, order=order)``: sent by ``place_order()`` inside
  the order's transaction, right after the order was saved. A local signal:
  its receivers run in the process that placed the order, once per order.
* ``receiver_ran(sender=<the receiver's signal's name>, run=ReceiverRun)``: sent
  for every run of a shop receiver, where it ran, by the shop's tracing
  listener (see :mod:`example_asgi.shop.feed`). A remote signal: its sends also
  go on the wire, once their transaction has committed, so the live feed of
  every process (a ``subscribe(remote=True)`` subscription) gets the runs of
  every process. A ``ReceiverRun`` is not a type the wire carries: the signal's
  ``to_wire`` and ``from_wire`` hooks turn it into a JSON object and back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from eventbus import Signal

__all__ = ["Kind", "ReceiverRun", "Thread", "order_placed", "receiver_ran"]

Kind = Literal["sync", "async", "after-commit", "broadcast"]
Thread = Literal["loop", "worker"]


@dataclasses.dataclass(frozen=True, slots=True)
class ReceiverRun:
    """One finished run of a shop receiver: what the live feed shows (a row)."""

    seq: int
    order: int | None
    signal: str
    receiver: str
    priority: int
    kind: Kind
    thread: Thread
    thread_name: str
    duration_ms: float
    at: str
    error: str | None
    pid: int

    def as_json(self) -> dict[str, Any]:
        """The run as the feed's JSON object (every field, by name)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReceiverRun:
        """The run ``as_json()`` made; a field missing from ``data`` is ``None``."""
        values: dict[str, Any] = {f.name: data.get(f.name) for f in dataclasses.fields(cls)}
        return cls(**values)


def run_to_wire(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``receiver_ran``'s keyword arguments as the wire carries them: the run as a dict."""
    return {**kwargs, "run": kwargs["run"].as_json()}


def run_from_wire(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``receiver_ran``'s keyword arguments as they arrive: the run as a ``ReceiverRun`` again."""
    return {**kwargs, "run": ReceiverRun.from_json(kwargs["run"])}


order_placed = Signal(name="order_placed")
receiver_ran = Signal(
    name="shop.receiver_ran", remote=True, to_wire=run_to_wire, from_wire=run_from_wire
)
