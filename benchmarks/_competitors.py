"""The receivers, the libraries under comparison and the floor.

Every receiver takes ``(sender, **kwargs)`` and returns the constant
``RESPONSE``, so every library does the same work and returns comparable
``[(receiver, response), ...]`` lists. Receivers are distinct function objects
(copies of one module-level function), so no library can deduplicate them,
and they are connected with each library's defaults (weakly, except where a
library has no weak option). Every send passes ``SENDER`` and one keyword
argument, ``value=1``.

Adaptations, because the libraries differ:

* blinker calls ``receiver(sender, **kwargs)`` (no ``signal=`` argument) in no
  defined order (it iterates a set of receiver ids); it has no ``send_robust``
  and no ``asend`` for async receivers, so it is only in the ``send`` scenarios.
* psygnal emits positional arguments only: its signal is
  ``SignalInstance((object, int))``, emitted as ``emit(SENDER, 1)``, and its
  receivers are ``receiver(sender, value)``. ``emit()`` returns ``None``: psygnal
  does not collect results, so it does less work than the others.
* The floor (``floor_send`` and friends) is the fastest plain-Python code that
  does the same work with nothing to look up: see ``FLOOR_SOURCE``. A loop with
  ``responses.append`` is used because it measured as fast as or faster than a
  list comprehension (and than a pre-bound ``append``) on Python 3.11 and 3.13.
* The *mechanism floors* (``floor_mixed_send``, ``floor_mixed_asend``) do the
  same for mixed sync and async receivers kept in one order: exactly the
  thread hops and loop entries eventbus's mechanism makes, written by hand over
  a list whose runs of sync and async receivers are cut once, up front.
"""

from __future__ import annotations

import importlib.util
import inspect
import types
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import django.dispatch
from asgiref.sync import async_to_sync, iscoroutinefunction, sync_to_async

import eventbus

__all__ = [
    "FLOOR_SOURCE",
    "RESPONSE",
    "SENDER",
    "AsyncSend",
    "Send",
    "asend_competitors",
    "async_receivers",
    "floor_asend",
    "floor_mixed_asend",
    "floor_mixed_send",
    "floor_send",
    "floor_send_robust",
    "hop_competitors",
    "loop_entry_competitors",
    "missing_optional",
    "mixed_competitors",
    "one_async_to_sync",
    "one_sync_to_async",
    "psygnal_receivers",
    "send_competitors",
    "send_robust_competitors",
    "sync_receivers",
]

RESPONSE = 1
VALUE = 1

Responses = list[tuple[Callable[..., Any], Any]]


class BenchSender:
    """The sender of every send (a class, like a model, so weakly referenceable)."""


SENDER = BenchSender


def _respond(sender: Any, **kwargs: Any) -> int:
    return RESPONSE


async def _respond_async(sender: Any, **kwargs: Any) -> int:
    return RESPONSE


def _respond_psygnal(sender: Any, value: int) -> int:
    return RESPONSE


def _copies(template: types.FunctionType, n: int) -> list[types.FunctionType]:
    made = []
    for index in range(n):
        copy = types.FunctionType(
            template.__code__, template.__globals__, f"{template.__name__}_{index}"
        )
        copy.__qualname__ = copy.__name__
        made.append(copy)
    return made


def sync_receivers(n: int) -> list[Callable[..., Any]]:
    """``n`` distinct sync receivers ``(sender, **kwargs) -> RESPONSE``."""
    return list(_copies(_respond, n))  # type: ignore[arg-type]


def async_receivers(n: int) -> list[Callable[..., Any]]:
    """``n`` distinct async receivers ``async (sender, **kwargs) -> RESPONSE``."""
    return list(_copies(_respond_async, n))  # type: ignore[arg-type]


def psygnal_receivers(n: int) -> list[Callable[..., Any]]:
    """``n`` distinct receivers for psygnal's positional ``emit(sender, value)``."""
    return list(_copies(_respond_psygnal, n))  # type: ignore[arg-type]


def missing_optional() -> list[str]:
    """The optional benchmark dependencies that are not installed."""
    return [name for name in ("blinker", "psygnal") if importlib.util.find_spec(name) is None]


# -- the floor ----------------------------------------------------------------------


def floor_send(receivers: Sequence[Callable[..., Any]], signal: object) -> Callable[..., Responses]:
    """The sync floor over ``receivers`` (see ``FLOOR_SOURCE``)."""
    frozen = tuple(receivers)

    def send(sender: Any, **kwargs: Any) -> Responses:
        responses: Responses = []
        for r in frozen:
            responses.append((r, r(signal=signal, sender=sender, **kwargs)))
        return responses

    return send


def floor_send_robust(
    receivers: Sequence[Callable[..., Any]], signal: object
) -> Callable[..., Responses]:
    """The sync floor that also catches each receiver's ``Exception``."""
    frozen = tuple(receivers)

    def send_robust(sender: Any, **kwargs: Any) -> Responses:
        responses: Responses = []
        for r in frozen:
            try:
                response = r(signal=signal, sender=sender, **kwargs)
            except Exception as err:
                response = err
            responses.append((r, response))
        return responses

    return send_robust


def floor_asend(
    receivers: Sequence[Callable[..., Any]], signal: object
) -> Callable[..., Awaitable[Responses]]:
    """The async floor: the same, awaiting each receiver in turn."""
    frozen = tuple(receivers)

    async def asend(sender: Any, **kwargs: Any) -> Responses:
        responses: Responses = []
        for r in frozen:
            responses.append((r, await r(signal=signal, sender=sender, **kwargs)))
        return responses

    return asend


def one_sync_to_async(
    receivers: Sequence[Callable[..., Any]], signal: object
) -> Callable[..., Awaitable[Responses]]:
    """Baseline: one ``sync_to_async`` call that runs the sync floor over ``receivers``."""
    run = floor_send(receivers, signal)

    async def asend(sender: Any, **kwargs: Any) -> Responses:
        return await sync_to_async(run)(sender, **kwargs)

    return asend


def one_async_to_sync(
    receivers: Sequence[Callable[..., Any]], signal: object
) -> Callable[..., Responses]:
    """Baseline: one ``async_to_sync`` call that awaits the async floor over ``receivers``."""
    run = floor_asend(receivers, signal)

    def send(sender: Any, **kwargs: Any) -> Responses:
        return async_to_sync(run)(sender, **kwargs)

    return send


Run = tuple[Callable[..., Any], ...]


def _runs(receivers: Sequence[Callable[..., Any]]) -> list[tuple[bool, Run]]:
    """``receivers`` cut into maximal runs: ``[(is_async, (receiver, ...)), ...]``."""
    runs: list[tuple[bool, Run]] = []
    for r in receivers:
        is_async = iscoroutinefunction(r)
        if runs and runs[-1][0] == is_async:
            runs[-1] = (is_async, (*runs[-1][1], r))
        else:
            runs.append((is_async, (r,)))
    return runs


def _call_run(
    run: Run, signal: object, sender: Any, kwargs: dict[str, Any], responses: Responses
) -> None:
    """Call the sync receivers of ``run`` in turn, on whichever thread runs this."""
    for r in run:
        responses.append((r, r(signal=signal, sender=sender, **kwargs)))


async def _await_runs(
    runs: Sequence[tuple[bool, Run]],
    signal: object,
    sender: Any,
    kwargs: dict[str, Any],
    responses: Responses,
) -> None:
    """Await async receivers in turn; run each sync run in one thread-sensitive hop."""
    for is_async, run in runs:
        if is_async:
            for r in run:
                responses.append((r, await r(signal=signal, sender=sender, **kwargs)))
        else:
            hop = sync_to_async(_call_run, thread_sensitive=True)
            await hop(run, signal, sender, kwargs, responses)


def floor_mixed_send(
    receivers: Sequence[Callable[..., Any]], signal: object
) -> Callable[..., Responses]:
    """The mechanism floor of ``send()`` to mixed sync and async receivers, in their order.

    The leading sync run is called inline; then ONE ``async_to_sync`` entry awaits
    the async receivers in turn and hands every sync run before a later async
    receiver back to the calling thread (a thread-sensitive ``sync_to_async``
    inside ``async_to_sync`` runs there); the trailing sync run is called inline
    after the entry returns.
    """
    runs = _runs(receivers)
    head = runs.pop(0)[1] if runs and not runs[0][0] else ()
    tail = runs.pop()[1] if runs and not runs[-1][0] else ()
    middle = tuple(runs)

    def send(sender: Any, **kwargs: Any) -> Responses:
        responses: Responses = []
        _call_run(head, signal, sender, kwargs, responses)
        if middle:
            async_to_sync(_await_runs)(middle, signal, sender, kwargs, responses)
        _call_run(tail, signal, sender, kwargs, responses)
        return responses

    return send


def floor_mixed_asend(
    receivers: Sequence[Callable[..., Any]], signal: object
) -> Callable[..., Awaitable[Responses]]:
    """The mechanism floor of ``asend()`` to mixed receivers: one hop per sync run."""
    runs = tuple(_runs(receivers))

    async def asend(sender: Any, **kwargs: Any) -> Responses:
        responses: Responses = []
        await _await_runs(runs, signal, sender, kwargs, responses)
        return responses

    return asend


# -- the libraries ----------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """A competitor's send, called as ``send(SENDER, value=1)`` (or ``send(SENDER, 1)``)."""

    name: str
    send: Callable[..., Any]
    positional: bool = False
    signal: object = None  # keeps the signal (and so its receivers' entries) alive


@dataclass(frozen=True)
class AsyncSend:
    """A competitor's coroutine send, awaited as ``await send(SENDER, value=1)``."""

    name: str
    send: Callable[..., Awaitable[Any]]
    signal: object = None


def connected(signal: Any, receivers: Sequence[Callable[..., Any]]) -> Any:
    """``signal`` with every receiver connected with the library's defaults."""
    for r in receivers:
        signal.connect(r)
    return signal


def send_competitors(n: int, receivers: Sequence[Callable[..., Any]]) -> list[Send]:
    """Every library's ``send`` to ``receivers`` (sync), the floor first."""
    bus = connected(eventbus.Signal(), receivers)
    plain = connected(django.dispatch.Signal(), receivers)
    cached = connected(django.dispatch.Signal(use_caching=True), receivers)
    found = [
        Send("floor", floor_send(receivers, bus)),
        Send("eventbus", bus.send, signal=bus),
        Send("django", plain.send, signal=plain),
        Send("django (use_caching)", cached.send, signal=cached),
    ]
    if importlib.util.find_spec("blinker") is not None:
        import blinker  # noqa: PLC0415 - optional

        flag = connected(blinker.Signal(), receivers)
        found.append(Send("blinker", flag.send, signal=flag))
    if importlib.util.find_spec("psygnal") is not None:
        import psygnal  # noqa: PLC0415 - optional

        emitter = psygnal.SignalInstance((object, int))
        # Same count, psygnal's positional signature; kept alive by the closure below.
        slots = psygnal_receivers(n)
        connected(emitter, slots)
        found.append(Send("psygnal", emitter.emit, positional=True, signal=(emitter, slots)))
    return found


def send_robust_competitors(receivers: Sequence[Callable[..., Any]]) -> list[Send]:
    """``send_robust`` of eventbus and Django, and the robust floor."""
    bus = connected(eventbus.Signal(), receivers)
    plain = connected(django.dispatch.Signal(), receivers)
    cached = connected(django.dispatch.Signal(use_caching=True), receivers)
    return [
        Send("floor", floor_send_robust(receivers, bus)),
        Send("eventbus", bus.send_robust, signal=bus),
        Send("django", plain.send_robust, signal=plain),
        Send("django (use_caching)", cached.send_robust, signal=cached),
    ]


def asend_competitors(receivers: Sequence[Callable[..., Any]]) -> list[AsyncSend]:
    """``asend`` of eventbus and Django to ``receivers`` (async), and the async floor."""
    bus = connected(eventbus.Signal(), receivers)
    plain = connected(django.dispatch.Signal(), receivers)
    return [
        AsyncSend("floor", floor_asend(receivers, bus)),
        AsyncSend("eventbus", bus.asend, signal=bus),
        AsyncSend("django", plain.asend, signal=plain),
    ]


def hop_competitors(receivers: Sequence[Callable[..., Any]]) -> list[AsyncSend]:
    """``asend`` to sync receivers (one thread hop), and one ``sync_to_async`` call."""
    bus = connected(eventbus.Signal(), receivers)
    plain = connected(django.dispatch.Signal(), receivers)
    return [
        AsyncSend("one sync_to_async", one_sync_to_async(receivers, bus)),
        AsyncSend("eventbus", bus.asend, signal=bus),
        AsyncSend("django", plain.asend, signal=plain),
    ]


def loop_entry_competitors(receivers: Sequence[Callable[..., Any]]) -> list[Send]:
    """``send`` to async receivers from a sync thread, and one ``async_to_sync`` call."""
    bus = connected(eventbus.Signal(), receivers)
    plain = connected(django.dispatch.Signal(), receivers)
    return [
        Send("one async_to_sync", one_async_to_sync(receivers, bus)),
        Send("eventbus", bus.send, signal=bus),
        Send("django", plain.send, signal=plain),
    ]


def mixed_competitors(
    receivers: Sequence[Callable[..., Any]],
) -> tuple[list[Send], list[AsyncSend]]:
    """``send`` and ``asend`` of eventbus, Django and the mechanism floors to mixed receivers.

    The same receivers, all at priority 0, connected in the order given.
    """
    bus = connected(eventbus.Signal(), receivers)
    plain = connected(django.dispatch.Signal(), receivers)
    sends = [
        Send("mechanism floor", floor_mixed_send(receivers, bus)),
        Send("eventbus", bus.send, signal=bus),
        Send("django", plain.send, signal=plain),
    ]
    asends = [
        AsyncSend("mechanism floor", floor_mixed_asend(receivers, bus)),
        AsyncSend("eventbus", bus.asend, signal=bus),
        AsyncSend("django", plain.asend, signal=plain),
    ]
    return sends, asends


def call(send: Send) -> Any:
    """One send, as the timers make it."""
    if send.positional:
        return send.send(SENDER, VALUE)
    return send.send(SENDER, value=VALUE)


def acall(send: AsyncSend) -> Awaitable[Any]:
    """One async send, as the timers make it."""
    return send.send(SENDER, value=VALUE)


#: The floors' and baselines' code, as shown in the docs.
FLOOR_SOURCE = "\n\n\n".join(
    inspect.getsource(fn).rstrip()
    for fn in (
        floor_send,
        floor_send_robust,
        floor_asend,
        one_sync_to_async,
        one_async_to_sync,
        _runs,
        _call_run,
        _await_runs,
        floor_mixed_send,
        floor_mixed_asend,
    )
)
