"""Subscriptions: async code consuming a signal's sends as they happen.

``signal.subscribe()`` returns a :class:`Subscription`, an async context
manager and async iterator::

    async with order_placed.subscribe(maxsize=100) as events:
        async for event in events:
            print(event.sender, event.kwargs["order"])

The rules:

* **What is delivered.** Every send of the signal (``send``, ``send_robust``,
  ``asend``, ``asend_robust``, from any thread or event loop, with or without
  receivers connected) becomes one :class:`Event`, delivered to every open
  subscription whose ``sender`` matches (``None``: every sender), at the moment
  the send starts, before its receivers run. A subscription sees events in the
  order the sends started. Sends while the signal is ``muted()`` are not
  delivered, and neither is a ``send()`` refused with ``AsyncSendError``.
* **Remote subscriptions** (``subscribe(remote=True)``, on a signal created
  with ``remote=True``) get every process's sends instead, this one's
  included, as the events arrive over the wire (after the sending
  transaction committed), each once.
* **Senders never wait.** Delivery appends to the subscription's bounded
  buffer and wakes its consumer: directly on the consumer's own thread, through
  the event loop's thread-safe hand-off (``call_soon_threadsafe`` under
  asyncio, the trio token under trio) from any other thread.
* **Overflow** (a consumer ``maxsize`` events behind) is chosen per
  subscription: ``"drop_oldest"`` (the default) drops the oldest waiting event,
  counts it in ``dropped`` and logs one warning to the ``eventbus`` logger;
  ``"close"`` closes the subscription at once: the consumer still gets every
  event that was waiting, then ``SubscriptionOverflowError``.
* **Closing.** Leaving the ``async with`` block (normally, by an exception or
  by cancellation) unregisters the subscription at once and drops what was
  waiting. ``close()`` unregisters too but lets the consumer read what was
  already waiting; iteration then ends.
* **Abandoned subscriptions.** The signal holds a subscription weakly. One that
  was entered but is never exited nor closed keeps receiving (and counting as
  a listener) for as long as something references it, buffering at most
  ``maxsize`` events. Once nothing does (its consumer is gone), it is garbage
  collected: it stops counting as a listener, and a ``ResourceWarning`` names
  it, as for an unclosed file.
* **Waiting is cancel-safe**: an ``await anext(events)`` cancelled by a
  timeout loses no event, so ``anyio.move_on_after()`` around it is a
  keep-alive timer.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import warnings
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Final

import django.dispatch

from ._exceptions import SubscriptionOverflowError
from ._identity import signal_name

if TYPE_CHECKING:
    import anyio

__all__ = ["DEFAULT_MAXSIZE", "Event", "Overflow", "Subscription"]

logger = logging.getLogger("eventbus")

#: The default bound of a subscription's buffer.
DEFAULT_MAXSIZE: Final = 1000


class Overflow(enum.StrEnum):
    """What a subscription does when a send finds its buffer full."""

    #: Drop the oldest waiting event, count it in ``Subscription.dropped``.
    DROP_OLDEST = "drop_oldest"
    #: Close the subscription; the consumer gets ``SubscriptionOverflowError``
    #: after the events that were waiting.
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class Event:
    """One send of a signal, as a subscription delivers it.

    Attributes:
        signal: The signal that was sent.
        sender: The ``sender`` the send named.
        kwargs: The send's keyword arguments (read-only).
    """

    signal: django.dispatch.Signal
    sender: Any
    kwargs: Mapping[str, Any]


_NEW, _OPEN, _CLOSED = "new", "open", "closed"


class Subscription:
    """A bounded stream of a signal's sends, for async code (``signal.subscribe()``).

    Enter it with ``async with`` (once) inside a running asyncio or trio event
    loop, then iterate it with ``async for``. See the module docstring for the
    delivery, overflow and closing rules. Several tasks may iterate one
    subscription; each event goes to one of them.

    Attributes:
        signal: The signal subscribed to.
        sender: Only sends naming this sender are delivered (``None``: all).
        remote: Whether it receives every process's sends, as they arrive over
            the wire (``subscribe(remote=True)``), instead of this process's.
        maxsize: How many events may wait before the overflow policy applies.
        overflow: The :class:`Overflow` policy.
        dropped: How many events ``"drop_oldest"`` has dropped so far.
    """

    def __init__(
        self,
        signal: django.dispatch.Signal,
        sender: Any = None,
        *,
        maxsize: int = DEFAULT_MAXSIZE,
        overflow: Overflow | str = Overflow.DROP_OLDEST,
        attach: Callable[[Subscription], None],
        detach: Callable[[Subscription], None],
        remote: bool = False,
    ) -> None:
        where = f"in {signal_name(signal)}.subscribe()"
        if isinstance(maxsize, bool) or not isinstance(maxsize, int):
            raise TypeError(f"maxsize must be a positive int, not {maxsize!r}, {where}.")
        if maxsize < 1:
            raise ValueError(
                f"maxsize must be at least 1, not {maxsize}, {where}; "
                "a subscription needs room for one event."
            )
        try:
            policy = Overflow(overflow)
        except ValueError:
            choices = ", ".join(repr(p.value) for p in Overflow)
            raise ValueError(
                f"overflow must be one of {choices} (eventbus.Overflow), not {overflow!r}, {where}."
            ) from None
        self.signal = signal
        self.sender = sender
        self.maxsize = maxsize
        self.overflow = policy
        self.dropped = 0
        #: ``id(sender)``, or ``None`` for every sender.
        self.sender_key = None if sender is None else id(sender)
        #: Whether it receives the events of every process, from the wire, instead of
        #: this process's sends.
        self.remote = remote
        self._attach = attach
        self._detach = detach
        self._lock = threading.Lock()
        self._buffer: deque[Event] = deque()
        self._state = _NEW
        self._overflowed = False
        self._waiter: anyio.Event | None = None
        self._thread = 0
        self._call_soon: Callable[[Callable[[], object]], object] | None = None

    def __repr__(self) -> str:
        sender = "" if self.sender is None else f" sender={self.sender!r}"
        return (
            f"<eventbus.Subscription to {signal_name(self.signal)}{sender} {self._state}, "
            f"{len(self._buffer)} waiting, {self.dropped} dropped>"
        )

    @property
    def closed(self) -> bool:
        """Whether the subscription no longer receives events."""
        return self._state == _CLOSED

    @property
    def pending(self) -> int:
        """How many events are waiting to be read."""
        return len(self._buffer)

    # -- lifecycle ----------------------------------------------------------------

    async def __aenter__(self) -> Subscription:
        if self._state != _NEW:
            raise RuntimeError(
                f"{self!r} was entered already; a subscription is entered once. "
                "Call signal.subscribe() again for a new one."
            )
        self._call_soon = _thread_safe_scheduler()
        self._thread = threading.get_ident()
        self._state = _OPEN
        self._attach(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
        with self._lock:
            self._buffer.clear()

    def close(self) -> None:
        """Stop receiving events. Events already waiting can still be read; then iteration ends."""
        with self._lock:
            if self._state == _CLOSED:
                return
            was_open = self._state == _OPEN
            self._state = _CLOSED
            waiter, self._waiter = self._waiter, None
        if was_open:
            self._detach(self)
        if waiter is not None:
            self._wake(waiter)

    def __del__(self) -> None:
        if getattr(self, "_state", None) == _OPEN:
            warnings.warn(
                f"{self!r} was garbage collected while open: it was entered but never "
                "exited or closed. Use `async with signal.subscribe() as events:` so it is "
                "closed when the consumer is done.",
                ResourceWarning,
                source=self,
                stacklevel=1,
            )

    # -- consuming ------------------------------------------------------------------

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        """The next event, waiting for one if none is waiting.

        Raises:
            StopAsyncIteration: The subscription was closed and nothing is waiting.
            SubscriptionOverflowError: It was closed by ``overflow="close"``
                and every event that was waiting has been read.
        """
        while True:
            with self._lock:
                if self._buffer:
                    return self._buffer.popleft()
                if self._state == _NEW:
                    raise RuntimeError(
                        f"{self!r} is not open: use `async with signal.subscribe() as events:` "
                        "and iterate `events` inside the block."
                    )
                if self._state == _CLOSED:
                    if self._overflowed:
                        raise SubscriptionOverflowError(
                            f"The subscription to {signal_name(self.signal)} fell behind: "
                            f"{self.maxsize} events were waiting when another was sent, so it "
                            "was closed (overflow='close'). Read events faster, raise maxsize=, "
                            "or pass "
                            "overflow='drop_oldest' to drop the oldest events instead."
                        )
                    raise StopAsyncIteration
                if self._waiter is None:
                    import anyio  # noqa: PLC0415 - ``import eventbus`` stays free of anyio

                    self._waiter = anyio.Event()
                waiter = self._waiter
            await waiter.wait()

    # -- delivering (called by the signal, on the sender's thread) --------------------

    def deliver(self, event: Event, from_sync: bool = True) -> None:
        """Buffer ``event`` and wake the consumer (the signal calls it at the start of a send)."""
        first_drop = overflowed = False
        with self._lock:
            if self._state != _OPEN:
                return
            if len(self._buffer) < self.maxsize:
                self._buffer.append(event)
            elif self.overflow is Overflow.DROP_OLDEST:
                self._buffer.popleft()
                self._buffer.append(event)
                self.dropped += 1
                first_drop = self.dropped == 1
            else:
                self._state = _CLOSED
                self._overflowed = overflowed = True
            waiter, self._waiter = self._waiter, None
        if overflowed:
            self._detach(self)
        elif first_drop:
            logger.warning(
                "%r fell behind (maxsize=%d) and dropped its oldest event; "
                "further drops are only counted in .dropped.",
                self,
                self.maxsize,
            )
        if waiter is not None:
            self._wake(waiter)

    def _wake(self, waiter: anyio.Event) -> None:
        """Set ``waiter`` on the consumer's loop, from whichever thread this runs on."""
        try:
            if threading.get_ident() == self._thread:
                waiter.set()
            elif self._call_soon is not None:
                self._call_soon(waiter.set)
        except RuntimeError:
            # The consumer's loop is closed (or the trio run finished): nobody
            # can be waiting any more.
            pass


def _thread_safe_scheduler() -> Callable[[Callable[[], object]], object]:
    """A non-blocking "run this on the current event loop soon" that any thread may call."""
    # typeshed says _get_running_loop() never returns None; it does outside a loop.
    loop: asyncio.AbstractEventLoop | None = asyncio._get_running_loop()
    if loop is not None:
        return loop.call_soon_threadsafe
    try:
        import trio  # noqa: PLC0415 - only under trio

        return trio.lowlevel.current_trio_token().run_sync_soon
    except (ImportError, RuntimeError):
        raise RuntimeError(
            "signal.subscribe() must be entered inside a running asyncio or trio event loop "
            "(`async with signal.subscribe() as events:` in async code)."
        ) from None


def make_event(signal: django.dispatch.Signal, sender: Any, named: dict[str, Any]) -> Event:
    """The event one send delivers to every matching subscription."""
    return Event(signal, sender, MappingProxyType(dict(named)))
