"""Bookkeeping for the system check ``eventbus.W001``: weakly connected lambdas and closures.

Such receivers usually have no other reference, so the garbage collector takes
them right after ``connect()``, which silently disconnects them. Every weak
connection of a lambda, a closure or a ``functools.partial`` is noted here at
connect time (cheaply: strings are made only when the check asks), and
``eventbus.checks`` reports those whose receiver has been collected since.
"""

from __future__ import annotations

import collections
import functools
import inspect
import weakref
from dataclasses import dataclass
from typing import Any

from ._identity import location

__all__: list[str] = []


@dataclass(frozen=True, slots=True)
class WeakSuspect:
    """A weakly connected lambda, closure or partial that has been garbage collected.

    Attributes:
        signal: The signal it was connected to (``None`` if that is gone too).
        receiver: ``module.qualname`` of the receiver.
        kind: ``"lambda"``, ``"closure"`` or ``"functools.partial"``.
        module: The module that defines it.
        lineno: The first line of its code, when known.
    """

    signal: object
    receiver: str
    kind: str
    module: str
    lineno: int | None


#: (receiver ref, signal ref, code object or the receiver's location, kind). The
#: code object is shared by every closure of one ``def``. Bounded: connecting
#: closures in a loop cannot grow it without limit.
_noted: collections.deque[tuple[weakref.ref[Any], weakref.ref[Any], Any, str]] = collections.deque(
    maxlen=256
)


def note(signal: object, receiver: object) -> None:
    """Remember a weak connection of a lambda, closure or partial, to check on it later."""
    kind = _suspicion(receiver)
    if kind is None:
        return
    try:
        receiver_ref = weakref.ref(receiver)
        signal_ref = weakref.ref(signal)
    except TypeError:
        return  # the connection itself refuses an unweakrefable receiver, clearly
    target = getattr(receiver, "__func__", receiver)
    code = getattr(target, "__code__", None)
    where: Any = code if kind != "functools.partial" and code is not None else location(receiver)
    _noted.append((receiver_ref, signal_ref, where, kind))


def suspects() -> list[WeakSuspect]:
    """The noted receivers that have since been collected, oldest first.

    Only collected ones are reported: a closure the caller keeps alive stays
    connected and is fine.
    """
    found = []
    for receiver_ref, signal_ref, where, kind in tuple(_noted):
        if receiver_ref() is not None:
            continue
        if isinstance(where, tuple):
            module, qualname, lineno = where
        else:
            module = getattr(inspect.getmodule(where), "__name__", "?")
            qualname, lineno = where.co_qualname, where.co_firstlineno
        found.append(WeakSuspect(signal_ref(), f"{module}.{qualname}", kind, module, lineno))
    return found


def clear() -> None:
    """Forget every noted connection (tests reset the bookkeeping with it)."""
    _noted.clear()


def _suspicion(receiver: object) -> str | None:
    if isinstance(receiver, functools.partial):
        return "functools.partial"
    target = getattr(receiver, "__func__", receiver)
    if not inspect.isfunction(target):
        return None
    if target.__name__ == "<lambda>":
        return "lambda"
    if "<locals>" in target.__qualname__ and not inspect.ismethod(receiver):
        return "closure"
    return None
