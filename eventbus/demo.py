"""A small runnable demo of ordered sync + async dispatch: ``python -m eventbus.demo``.

It connects three receivers to one signal (a sync one at priority 100, an async
one at priority 10, a sync one at the default priority 0), then sends the signal
from sync code with ``send()`` and from async code with ``asend()``, and prints
which receiver ran, in which order, on which thread. The order is the same both
times; only the thread hops differ.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Sequence
from typing import Any, TextIO

from django.conf import settings

from ._signal import Signal, receiver

__all__ = ["main"]


class Order:
    """The sender of the demo signal."""

    def __init__(self, number: int) -> None:
        self.number = number


def build(log: list[str]) -> tuple[Signal, list[Any]]:
    """Create the demo signal and its receivers; each receiver appends to ``log``."""
    order_placed = Signal(name="order_placed")

    def where() -> str:
        return threading.current_thread().name

    @receiver(order_placed, priority=100, weak=False)
    def reserve_stock(sender: type[Order], order: Order, **kwargs: Any) -> str:
        log.append(f"reserve_stock     (sync,  priority 100) on {where()}")
        return f"stock reserved for #{order.number}"

    @receiver(order_placed, priority=10, weak=False)
    async def notify_warehouse(sender: type[Order], order: Order, **kwargs: Any) -> str:
        await asyncio.sleep(0)
        log.append(f"notify_warehouse  (async, priority  10) on {where()}")
        return f"warehouse notified of #{order.number}"

    @receiver(order_placed, weak=False)
    def audit(sender: type[Order], order: Order, **kwargs: Any) -> str:
        log.append(f"audit             (sync,  priority   0) on {where()}")
        return f"#{order.number} audited"

    return order_placed, [reserve_stock, notify_warehouse, audit]


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the demo and write its report to ``out`` (standard output by default)."""
    stream = out if out is not None else sys.stdout
    if not settings.configured:
        settings.configure()
    log: list[str] = []
    order_placed, _receivers = build(log)

    def report(title: str, results: list[tuple[Any, Any]]) -> None:
        stream.write(f"\n{title}\n")
        for line in log:
            stream.write(f"  ran  {line}\n")
        for number, (func, response) in enumerate(results, 1):
            stream.write(f"  {number}. {func.__name__:<17} -> {response!r}\n")
        log.clear()

    stream.write("Receivers of order_placed, in the order every send calls them:\n")
    for info in order_placed.receivers_for(Order):
        kind = "async" if info.is_async else "sync"
        stream.write(f"  priority {info.priority:>3}  {kind:<5}  {info.qualname}\n")

    report(
        f"order_placed.send() from sync code (thread {threading.current_thread().name}):",
        order_placed.send(sender=Order, order=Order(1)),
    )

    async def from_async() -> list[tuple[Any, Any]]:
        return await order_placed.asend(sender=Order, order=Order(2))

    report("await order_placed.asend() from async code (asyncio):", asyncio.run(from_async()))
    stream.write(
        "\nSame order both times. send() ran the async receiver in one event-loop entry;\n"
        "asend() ran each sync receiver in one thread hop and awaited the async one.\n"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
