"""Helpers shared by the test modules: receivers that record, layouts, sends by method name, the
bridge's relays. Fixtures live in ``conftest.py``."""

from __future__ import annotations

import asyncio
import functools
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
import django.dispatch
import pytest
from asgiref.sync import async_to_sync

from eventbus import Signal
from eventbus._bridge import BridgedSignal

Receiver = Callable[..., Any]
#: What a send returns: ``(receiver, response)`` pairs in call order.
Results = list[tuple[Receiver, Any]]

SYNC_METHODS = ["send", "send_robust"]
ASYNC_METHODS = ["asend", "asend_robust"]
SEND_METHODS = SYNC_METHODS + ASYNC_METHODS

#: Every send method as ``(method, backend)`` for ``send_from_sync``: the async ones
#: run under each anyio backend.
SENDS = [
    pytest.param(("send", None), id="send"),
    pytest.param(("send_robust", None), id="send_robust"),
    pytest.param(("asend", "asyncio"), id="asend-asyncio"),
    pytest.param(("asend", "trio"), id="asend-trio"),
    pytest.param(("asend_robust", "asyncio"), id="asend_robust-asyncio"),
    pytest.param(("asend_robust", "trio"), id="asend_robust-trio"),
]

#: The receiver kinds ``make_receiver`` takes: "s" a plain function, "a" a coroutine function.
KINDS = [pytest.param("s", id="sync"), pytest.param("a", id="async")]


class Sender:
    """A sender compared by identity, hashable and weakly referenceable."""

    def __init__(self, name: str = "") -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<Sender {self.name}>" if self.name else super().__repr__()


# -- receivers that record -----------------------------------------------------------------


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The asyncio event loop running on this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _current_task() -> int | None:
    """The id of the anyio task running on this thread (asyncio or trio), if any."""
    try:
        return anyio.get_current_task().id
    except RuntimeError:  # no async library here (sniffio's error is a RuntimeError too)
        return None


def _hold(sender: object) -> Callable[[], Any]:
    try:
        return weakref.ref(sender)
    except TypeError:  # None, str, int...: held as is
        return lambda: sender


@dataclass(frozen=True, eq=False)
class Call:
    """One entry of a receiver log: a receiver named ``name`` ran (or reached a step so named).

    It records where it ran: ``thread`` (the ``threading.Thread``), ``task`` (the anyio
    task id, ``None`` outside async code) and ``loop`` (the running asyncio loop, ``None``
    in a plain thread and under trio); and what the send passed: ``signal`` and the other
    named arguments, ``kwargs``. The sender is held weakly when it can be, so that a log
    never keeps a sender alive (the garbage-collection tests in test_references.py rely on
    it). Records compare by identity.
    """

    name: str
    signal: object
    kwargs: dict[str, Any]
    thread: threading.Thread
    task: int | None
    loop: asyncio.AbstractEventLoop | None
    _sender: Callable[[], Any] = field(repr=False)

    @property
    def sender(self) -> Any:
        """The sender, or ``None`` once a weakly referenceable sender was collected."""
        return self._sender()

    @classmethod
    def now(cls, name: str, sender: object = None, /, **kwargs: Any) -> Call:
        """Record a call of ``name`` made here and now, with what the send passed."""
        signal = kwargs.pop("signal", None)
        thread = threading.current_thread()
        return cls(name, signal, kwargs, thread, _current_task(), _running_loop(), _hold(sender))


def make_receiver(
    kind: str, name: str, log: list[Call], *, raises: BaseException | None = None
) -> Receiver:
    """A sync ("s") or async ("a") receiver that appends a ``Call`` to ``log`` and returns
    ``name``; with ``raises``, it appends the ``Call`` and then raises that very object.

    Its ``__name__`` is ``name`` and its ``__qualname__`` ``receiver_<name>``, which is how
    error logs and warnings name it.
    """
    if kind == "s":

        def sync_receiver(sender: object, **kwargs: Any) -> str:
            log.append(Call.now(name, sender, **kwargs))
            if raises is not None:
                raise raises
            return name

        receiver: Receiver = sync_receiver
    elif kind == "a":

        async def async_receiver(sender: object, **kwargs: Any) -> str:
            log.append(Call.now(name, sender, **kwargs))
            if raises is not None:
                raise raises
            return name

        receiver = async_receiver
    else:
        raise ValueError(f"kind must be 's' or 'a', not {kind!r}")
    receiver.__name__ = name
    receiver.__qualname__ = f"receiver_{name}"
    return receiver


def names(log: Iterable[Call]) -> list[str]:
    """The names in a receiver log, in the order they were recorded."""
    return [call.name for call in log]


def layout_names(layout: str) -> list[str]:
    """The names ``connect_layout`` gives: kind and position, ``"s0", "a1", ...``."""
    return [f"{kind}{i}" for i, kind in enumerate(layout)]


def connect_layout(signal: Signal, layout: str, log: list[Call]) -> list[Receiver]:
    """Connect one receiver per letter of ``layout`` ("s" sync, "a" async), strongly, with
    descending priorities, so they run in ``layout`` order; return them in that order."""
    receivers = [
        make_receiver(kind, name, log)
        for kind, name in zip(layout, layout_names(layout), strict=True)
    ]
    for position, receiver in enumerate(receivers):
        signal.connect(receiver, weak=False, priority=len(receivers) - position)
    return receivers


# -- sends by method name ------------------------------------------------------------------


def send_from_sync(
    signal: django.dispatch.Signal,
    method: str,
    backend: str | None = None,
    sender: object = None,
    **named: Any,
) -> Results:
    """Send with ``method`` from synchronous code, and return the results.

    ``send`` and ``send_robust`` are called on this thread. ``asend`` and ``asend_robust``
    run in a new event loop on ``backend``: ``"asyncio"`` or ``"trio"`` through
    ``anyio.run``, or ``"async_to_sync"`` through asgiref, whose thread hops come back
    to this thread (and its database connection).
    """
    send = getattr(signal, method)
    if method in SYNC_METHODS:
        results: Results = send(sender, **named)
        return results
    if backend == "async_to_sync":
        results = async_to_sync(send)(sender, **named)
        return results
    if backend not in ("asyncio", "trio"):
        raise ValueError(f"{method} from sync code needs a backend, not {backend!r}")

    async def main() -> Results:
        results: Results = await send(sender, **named)
        return results

    return anyio.run(main, backend=backend)


async def send_from_async(
    signal: django.dispatch.Signal, method: str, sender: object = None, **named: Any
) -> Results:
    """Send with ``method`` from async code: ``asend`` and ``asend_robust`` are awaited in
    this task, ``send`` and ``send_robust`` run in a worker thread, as sync code would."""
    send = getattr(signal, method)
    if method in ASYNC_METHODS:
        results: Results = await send(sender, **named)
    else:
        results = await anyio.to_thread.run_sync(functools.partial(send, sender, **named))
    return results


# -- the bridge ----------------------------------------------------------------------------


def relayed_senders(bus: BridgedSignal) -> list[Any]:
    """The senders the bridge has connected a Django-side relay for (``None``: every sender).

    Checks that Django's own receivers list holds exactly those relays (by the
    bridge's ``dispatch_uid``), then names them in the bridge's order.
    """
    on_django = sorted(
        (entry[0][1] for entry in bus.django_signal.receivers if entry[0][0] == bus._uid),
        key=repr,
    )
    assert on_django == sorted(bus._relays, key=repr), (on_django, list(bus._relays))
    return [None if ref is None else ref() for ref in bus._relays.values()]
