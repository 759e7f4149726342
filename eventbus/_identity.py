"""Who a receiver or sender is: the identity Django keys connections by, and readable names.

Nothing here depends on Django or on any other eventbus module.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Hashable
from typing import Any

from asgiref.sync import iscoroutinefunction

Receiver = Callable[..., Any]
#: What identifies a receiver or a sender: ``id(obj)``, or for a bound method
#: ``(id(obj.__self__), id(obj.__func__))`` so that two bound-method objects of
#: the same method on the same instance are the same receiver, as in Django.
ObjectId = int | tuple[int, int]
#: Django's lookup key of a connection: ``(receiver id or dispatch_uid, sender id)``.
LookupKey = tuple[Hashable, ObjectId]


def make_id(target: object) -> ObjectId:
    """Return the identity Django uses for receivers and senders."""
    func = getattr(target, "__func__", None)
    if func is not None:
        return (id(target.__self__), id(func))  # type: ignore[attr-defined]
    return id(target)


#: The sender identity of a connection that receives from every sender.
NONE_ID: ObjectId = make_id(None)


def describe(receiver: object) -> str:
    """Name a receiver in messages: ``module.qualname``, else its ``repr``."""
    module = getattr(receiver, "__module__", None)
    qualname = getattr(receiver, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}.{qualname}"
    return repr(receiver)


def describe_sender(sender: object) -> str:
    """A short, safe description of a sender: a class's or function's dotted name, else
    its ``repr()`` cut to 200 characters (``<unprintable ...>`` when ``repr`` raises)."""
    if sender is None or isinstance(sender, (str, int, float, bool)):
        return repr(sender)
    if inspect.isclass(sender) or inspect.isroutine(sender):
        return describe(sender)
    try:
        text = repr(sender)
    except Exception:
        return f"<unprintable {type(sender).__qualname__}>"
    return text if len(text) <= 200 else text[:199] + "…"


def signal_name(signal: object) -> str:
    """Name a signal in messages: its ``name`` if it has one, else its ``repr``."""
    name = getattr(signal, "name", None)
    return name if isinstance(name, str) and name else repr(signal)


def is_async_callable(receiver: object) -> bool:
    """Whether calling ``receiver`` returns an awaitable that must be awaited.

    True for coroutine functions (and methods, and functions marked with
    ``asgiref.sync.markcoroutinefunction``) and for objects whose class
    defines ``async def __call__``.
    """
    if iscoroutinefunction(receiver):
        return True
    if inspect.isfunction(receiver) or inspect.ismethod(receiver):
        return False
    call = getattr(type(receiver), "__call__", None)  # noqa: B004
    return call is not None and iscoroutinefunction(call)


def location(receiver: object) -> tuple[str, str, int | None]:
    """``(module, qualname, first line)`` of where a receiver is defined.

    Bound methods report their function; ``functools.partial`` objects report
    the function they wrap; other callables without a ``__qualname__`` report
    their class.
    """
    while isinstance(receiver, functools.partial):
        receiver = receiver.func
    target = getattr(receiver, "__func__", receiver)
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if not isinstance(qualname, str):
        qualname = type(target).__qualname__
        module = type(target).__module__
    code = getattr(inspect.unwrap(target), "__code__", None) if callable(target) else None
    lineno = code.co_firstlineno if code is not None else None
    return (module if isinstance(module, str) else "?", qualname, lineno)
