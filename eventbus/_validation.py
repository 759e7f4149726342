"""Connect-time validation: every bad argument is refused at once, before anything is connected.

Checks run always, not only under ``DEBUG`` as in Django. Each error names the
argument, the receiver and the signal, and says what to pass instead. Where
Django has a message for the same mistake, its exact sentence comes first, so
code (and Django's own tests) matching Django's wording keeps working:

* ``TypeError("Signal receivers must be callable. ...")``
* ``ValueError("Signal receivers must accept keyword arguments (**kwargs). ...")``

A callable whose signature cannot be read (``max``, ``operator.itemgetter(1)``)
is refused with the second message, as Django refuses it under ``DEBUG``:
nothing could check that it accepts the keyword arguments every send passes.
"""

from __future__ import annotations

import inspect
from typing import Any

from ._identity import describe, signal_name

__all__: list[str] = []

CALLABLE_SENTENCE = "Signal receivers must be callable."
KWARGS_SENTENCE = "Signal receivers must accept keyword arguments (**kwargs)."


def check_receiver(receiver: object, signal: object) -> None:
    """Refuse a receiver that is not callable or does not accept ``**kwargs``.

    Deliberately uses ``inspect`` directly: Django's cached
    ``func_accepts_kwargs`` keeps every checked callable alive in an LRU
    cache, which defeats weak connections.
    """
    if not callable(receiver):
        raise TypeError(
            f"{CALLABLE_SENTENCE} Got {receiver!r} for {signal_name(signal)}; connect a "
            "function, a method or an object with __call__."
        )
    function = getattr(receiver, "__func__", receiver)
    if inspect.isfunction(function) and function.__code__.co_flags & inspect.CO_VARKEYWORDS:
        # Plain functions and methods: the code flags answer it, without
        # building a signature (which also gives the function an annotations dict).
        return
    try:
        signature = inspect.signature(receiver)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{KWARGS_SENTENCE} The signature of {describe(receiver)} cannot be read "
            f"({exc}), so nothing can check that it accepts the keyword arguments "
            f"{signal_name(signal)} sends. Connect a function that takes **kwargs and "
            "calls it instead."
        ) from exc
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        raise ValueError(
            f"{KWARGS_SENTENCE} {describe(receiver)}{signature} does not, so it cannot be "
            f"connected to {signal_name(signal)}. Add **kwargs to its parameters."
        )


DELIVERIES = ("local", "broadcast")


def check_options(
    signal: object,
    receiver: object,
    *,
    dispatch_uid: object,
    priority: object,
    once: object,
    on_commit: object,
    delivery: object = "local",
) -> None:
    """Refuse a bad ``dispatch_uid``, ``priority``, ``once``, ``on_commit`` or ``delivery``.

    ``sender`` and ``weak`` take whatever Django takes: any object, and a
    truth value.
    """
    where = f"for receiver {describe(receiver)} on {signal_name(signal)}"
    try:
        hash(dispatch_uid)
    except TypeError as exc:
        raise TypeError(
            f"dispatch_uid must be hashable, and {dispatch_uid!r} is not ({exc}), {where}. "
            "Use a string such as 'myapp.receivers.name'."
        ) from exc
    if type(priority) is not int:
        raise TypeError(
            f"priority must be an int, not {type(priority).__name__} ({priority!r}), "
            f"{where}. Higher runs first; the default is 0."
        )
    if type(once) is not bool:
        raise TypeError(
            f"once must be True or False, not {type(once).__name__} ({once!r}), {where}."
        )
    check_on_commit(on_commit, where)
    if delivery not in DELIVERIES:
        raise ValueError(
            f"delivery must be 'local' (run in the sending process, the default) or "
            f"'broadcast' (run in every process), not {delivery!r}, {where}."
        )


def check_on_commit(on_commit: object, where: str) -> None:
    """``on_commit`` is a bool or the alias of a database in ``settings.DATABASES``."""
    if type(on_commit) is bool:
        return
    if not isinstance(on_commit, str):
        raise TypeError(
            f"on_commit must be True, False or a database alias, not "
            f"{type(on_commit).__name__} ({on_commit!r}), {where}."
        )
    from django.db import connections  # noqa: PLC0415 - keeps `import eventbus` off django.db

    if on_commit not in connections.settings:
        known = ", ".join(sorted(connections.settings))
        raise ValueError(
            f"on_commit={on_commit!r} names a database that is not in settings.DATABASES "
            f"(configured: {known}), {where}. Use one of those aliases, or on_commit=True "
            "to follow the send's `using` argument."
        )


def check_signal_arguments(
    *, concurrent: object, name: object, remote: object = False, hooks: object = ()
) -> None:
    """Refuse a ``Signal(concurrent=..., name=..., remote=..., to_wire=..., from_wire=...)``."""
    if type(concurrent) is not bool:
        raise TypeError(
            f"Signal(concurrent=...) must be True or False, not {type(concurrent).__name__} "
            f"({concurrent!r})."
        )
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(
            f"Signal(name=...) must be a non-empty string or None, not {name!r}; "
            "use a dotted name such as 'shop.order_placed'."
        )
    if type(remote) is not bool:
        raise TypeError(f"Signal(remote=...) must be True or False, not {remote!r}.")
    if remote and name is None:
        raise ValueError(
            "Signal(remote=True) needs a name=, unique in the project, that every process knows "
            "the signal by, e.g. Signal(name='shop.order_placed', remote=True)."
        )
    for hook in hooks if isinstance(hooks, tuple) else ():
        if hook is not None and not callable(hook):
            raise TypeError(f"Signal(to_wire=..., from_wire=...) must be callables, not {hook!r}.")
        if hook is not None and not remote:
            raise ValueError("Signal(to_wire=..., from_wire=...) only applies with remote=True.")


def signals_of(target: Any, signal_type: type) -> list[Any]:
    """The signals ``receiver(target)`` connects to: one signal, or a non-empty list or tuple.

    Raises:
        TypeError: ``target`` is neither, or an item is not a signal; nothing
            has been connected yet.
    """
    items = list(target) if isinstance(target, (list, tuple)) else [target]
    if not items:
        raise TypeError("receiver() needs a signal, or a non-empty list or tuple of signals.")
    for item in items:
        if not isinstance(item, signal_type):
            raise TypeError(
                f"receiver() takes a signal or a list or tuple of signals, but got {item!r} "
                f"({type(item).__name__}). Pass the signal object itself "
                "(for example `from shop.signals import order_placed`), not its name."
            )
    return items
