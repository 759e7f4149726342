"""Receiver records: identity, weak references, validation and ordering.

Everything about a receiver that does not change between sends is decided here,
once, at connect time: its lookup key, whether it is async, how to dereference
it, its priority and its position among the other receivers.
"""

from __future__ import annotations

import collections
import functools
import inspect
import threading
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import iscoroutinefunction

__all__ = ["ReceiverInfo"]

Receiver = Callable[..., Any]
#: What identifies a receiver or a sender: ``id(obj)``, or for a bound method
#: ``(id(obj.__self__), id(obj.__func__))`` so that two bound-method objects of
#: the same method on the same instance are the same receiver, as in Django.
ObjectId = int | tuple[int, int]
LookupKey = tuple[Hashable, ObjectId]


def make_id(target: object) -> ObjectId:
    """Return the identity Django uses for receivers and senders."""
    func = getattr(target, "__func__", None)
    if func is not None:
        return (id(target.__self__), id(func))  # type: ignore[attr-defined]
    return id(target)


NONE_ID: ObjectId = make_id(None)


def describe(receiver: object) -> str:
    """Name a receiver in messages: ``module.qualname``, else its ``repr``."""
    module = getattr(receiver, "__module__", None)
    qualname = getattr(receiver, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}.{qualname}"
    return repr(receiver)


def validate(receiver: object, priority: object) -> None:
    """Check a receiver and its priority at connect time, always (not only under DEBUG).

    Deliberately uses ``inspect.signature()`` directly: Django's cached
    ``func_accepts_kwargs`` keeps every checked callable alive in an LRU cache,
    which defeats weak connections.
    """
    if not callable(receiver):
        raise TypeError(
            f"Signal receivers must be callable; got {receiver!r}. "
            "Connect a function, a method or an object with __call__."
        )
    if type(priority) is not int:
        raise TypeError(
            f"priority must be an int, not {type(priority).__name__} "
            f"({priority!r}), for receiver {describe(receiver)}."
        )
    function = getattr(receiver, "__func__", receiver)
    if inspect.isfunction(function) and function.__code__.co_flags & inspect.CO_VARKEYWORDS:
        # Plain functions and methods: the code flags answer it, without
        # building a signature (which also gives the function an annotations dict).
        return
    try:
        signature = inspect.signature(receiver)
    except (TypeError, ValueError):
        # Some builtins and C callables have no introspectable signature; there
        # is nothing to check, so trust the caller as Django does.
        return
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        raise ValueError(
            f"Signal receivers must accept keyword arguments (**kwargs); "
            f"{describe(receiver)}{signature} does not. Add **kwargs to its parameters."
        )


def is_async_callable(receiver: object) -> bool:
    """Whether calling ``receiver`` returns an awaitable that must be awaited."""
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


@dataclass(frozen=True, slots=True)
class WeakSuspect:
    """A weakly connected lambda, closure or ``functools.partial`` that has been collected.

    Such receivers usually have no other reference, so the garbage collector
    takes them right after ``connect()``, which silently disconnects them.
    ``manage.py check`` reports each one as ``eventbus.W001``.
    """

    signal: str
    receiver: str
    kind: str
    module: str
    lineno: int | None


#: Weak connections of likely-transient receivers: (receiver ref, signal ref,
#: code object or the receiver's location, kind). Strings are made only when a
#: check asks, and the code object is shared by every closure of one ``def``.
#: Bounded: connecting closures in a loop cannot grow it without limit.
_weak_connections: collections.deque[tuple[weakref.ref[Any], weakref.ref[Any], Any, str]] = (
    collections.deque(maxlen=256)
)


def weak_suspects() -> list[WeakSuspect]:
    """The weakly connected lambdas, closures and partials that have since been collected.

    Only collected ones are reported: a closure the caller keeps alive stays
    connected and is fine.
    """
    found = []
    for receiver_ref, signal_ref, where, kind in tuple(_weak_connections):
        if receiver_ref() is not None:
            continue
        if isinstance(where, tuple):
            module, qualname, lineno = where
        else:
            module, qualname, lineno = _code_location(where)
        found.append(
            WeakSuspect(
                signal=repr(signal_ref()),
                receiver=f"{module}.{qualname}",
                kind=kind,
                module=module,
                lineno=lineno,
            )
        )
    return found


def _code_location(code: Any) -> tuple[str, str, int | None]:
    module = getattr(inspect.getmodule(code), "__name__", "?")
    return (module, code.co_qualname, code.co_firstlineno)


def clear_weak_suspects() -> None:
    """Forget the recorded weak connections (for tests)."""
    _weak_connections.clear()


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


def note_weak_connection(signal: object, receiver: object) -> None:
    """Remember a weak connection of a lambda, closure or partial, to check on it later."""
    kind = _suspicion(receiver)
    if kind is None:
        return
    try:
        receiver_ref = weakref.ref(receiver)
        signal_ref = weakref.ref(signal)
    except TypeError:
        return  # build_record refuses an unweakrefable receiver with a clear error
    target = getattr(receiver, "__func__", receiver)
    code = getattr(target, "__code__", None)
    where: Any = code if kind != "functools.partial" and code is not None else location(receiver)
    _weak_connections.append((receiver_ref, signal_ref, where, kind))


class Record:
    """One connection of one receiver.

    Kept small (it is paid per connected receiver): where the receiver is
    defined is looked up from the live receiver when asked, and connection
    order is the position in the signal's list, not a stored number.
    """

    __slots__ = (
        "extra",
        "first",
        "is_async",
        "priority",
        "raw",
        "sender_key",
        "sender_ref",
        "weak",
    )

    def __init__(
        self,
        *,
        key: LookupKey,
        raw: Any,
        is_async: bool,
        sender_ref: weakref.ref[Any] | None,
        priority: int,
        once: bool | threading.Lock | None,
        dispatch_uid: Hashable | None,
        on_commit: bool | str = False,
    ) -> None:
        # The lookup key is kept as its two parts: a catch-all receiver is then
        # indexed by ``first`` alone, with no tuple to pay for.
        self.first, self.sender_key = key
        #: What Django itself would store: the weak reference, or the receiver.
        self.raw = raw
        self.weak = isinstance(raw, weakref.ReferenceType)
        self.is_async = is_async
        self.sender_ref = sender_ref
        self.priority = priority
        lock = threading.Lock() if once is True else once if isinstance(once, LockType) else None
        #: The rarely used options, or ``None`` (shared by most records: no cost).
        self.extra = (
            _Extra(lock, on_commit, dispatch_uid)
            if lock is not None or on_commit is not False or dispatch_uid is not None
            else None
        )

    @property
    def key(self) -> LookupKey:
        """Django's lookup key: ``(receiver id or dispatch_uid, sender id)``."""
        return (self.first, self.sender_key)

    @property
    def once(self) -> threading.Lock | None:
        """A lock claimed by the one call a ``once=True`` receiver gets; never released."""
        return None if self.extra is None else self.extra.once

    @property
    def on_commit(self) -> bool | str:
        """False, True (follow the send's ``using``) or a database alias."""
        return False if self.extra is None else self.extra.on_commit

    @property
    def dispatch_uid(self) -> Hashable | None:
        return None if self.extra is None else self.extra.dispatch_uid

    def deref(self) -> Any:
        """The live receiver, or ``None`` once a weakly held one is collected."""
        return self.raw() if self.weak else self.raw

    def alive(self) -> bool:
        if self.deref() is None:
            return False
        return self.sender_ref is None or self.sender_ref() is not None

    def rebound(self, on_dead: Callable[[Any], None]) -> Record | None:
        """A copy for another signal, its weak references calling that signal's ``on_dead``."""
        receiver = self.deref()
        sender = self.sender_ref() if self.sender_ref is not None else None
        if receiver is None or (self.sender_ref is not None and sender is None):
            return None
        return Record(
            key=self.key,
            raw=_weakly(receiver, on_dead) if self.weak else receiver,
            is_async=self.is_async,
            sender_ref=None if sender is None else weakref.ref(sender, on_dead),
            priority=self.priority,
            once=self.once is not None,
            dispatch_uid=self.dispatch_uid,
            on_commit=self.on_commit,
        )


LockType = type(threading.Lock())


class _Extra:
    """The options few receivers use, kept off ``Record`` to keep records small."""

    __slots__ = ("dispatch_uid", "on_commit", "once")

    def __init__(
        self, once: threading.Lock | None, on_commit: bool | str, dispatch_uid: Hashable | None
    ) -> None:
        self.once = once
        self.on_commit = on_commit
        self.dispatch_uid = dispatch_uid


def _weakly(receiver: Any, on_dead: Callable[[Any], None]) -> weakref.ref[Any]:
    if hasattr(receiver, "__self__") and hasattr(receiver, "__func__"):
        return weakref.WeakMethod(receiver, on_dead)
    return weakref.ref(receiver, on_dead)


def build_record(
    receiver: Receiver,
    sender: object,
    *,
    weak: bool,
    dispatch_uid: Hashable | None,
    priority: int,
    once: bool,
    on_dead: Callable[[Any], None],
    on_commit: bool | str = False,
) -> Record:
    """Make the record for a ``Signal.connect()`` call (after validation)."""
    sender_id = NONE_ID if sender is None else make_id(sender)  # share the common one
    if dispatch_uid:
        key: LookupKey = (dispatch_uid, sender_id)
    else:
        key = (make_id(receiver), sender_id)
    raw: Any = receiver
    if weak:
        try:
            raw = _weakly(receiver, on_dead)
        except TypeError as exc:
            raise TypeError(
                f"Cannot hold receiver {describe(receiver)} weakly: "
                f"{type(receiver).__name__} objects do not support weak references. "
                "Connect it with weak=False."
            ) from exc
    sender_ref: weakref.ref[Any] | None = None
    if sender is not None:
        try:
            sender_ref = weakref.ref(sender, on_dead)
        except TypeError:
            sender_ref = None  # unweakrefable senders are matched by id, as in Django
    return Record(
        key=key,
        raw=raw,
        is_async=is_async_callable(receiver),
        sender_ref=sender_ref,
        priority=priority,
        once=once,
        dispatch_uid=dispatch_uid or None,
        on_commit=on_commit,
    )


def record_from_django_entry(
    entry: tuple[Any, ...], *, on_dead: Callable[[Any], None]
) -> Record | None:
    """Adopt a tuple in Django's own ``Signal.receivers`` format, or ``None`` if it is dead.

    Django 5.2 stores ``(lookup_key, receiver_or_ref, is_async)`` and Django 6.x
    ``(lookup_key, receiver_or_ref, sender_ref, is_async)``; both are accepted.
    Such entries have no priority, so they get 0. Their weak references are
    re-made with this signal's ``on_dead`` callback (the originals notify the
    signal they came from), so their collection invalidates this signal's cache.
    """
    if len(entry) == 3:
        key, raw, is_async = entry
        sender_ref = None
    elif len(entry) == 4:
        key, raw, sender_ref, is_async = entry
    else:
        raise ValueError(
            f"Cannot adopt {entry!r} as a receiver entry: expected Django's "
            "(lookup_key, receiver, is_async) or (lookup_key, receiver, sender_ref, is_async)."
        )
    if isinstance(raw, weakref.ReferenceType):
        live = raw()
        if live is None:
            return None
        raw = _weakly(live, on_dead)
    if sender_ref is not None:
        sender = sender_ref()
        if sender is None:
            return None
        sender_ref = weakref.ref(sender, on_dead)
    return Record(
        key=key,
        raw=raw,
        is_async=bool(is_async),
        sender_ref=sender_ref,
        priority=0,
        once=False,
        dispatch_uid=None,
    )


@dataclass(frozen=True, slots=True)
class ReceiverInfo:
    """What ``eventbus.Signal.receivers_for()`` reports about one receiver.

    Attributes:
        receiver: The receiver itself (resolved from its weak reference).
        priority: Higher runs first; ties run in connection order.
        is_async: ``True`` for a coroutine function (awaited), ``False`` for a
            plain callable.
        weak: Whether the signal holds the receiver through a weak reference.
        once: Whether it is disconnected after its first call.
        on_commit: ``False``; ``True`` when it runs after the commit of the
            database the send names in ``using``; or the alias of the database
            whose commit it always waits for.
        dispatch_uid: The ``dispatch_uid`` it was connected with, if any.
        sender: The sender it is restricted to, ``None`` for every sender (or
            when the sender cannot be weakly referenced; see ``sender_id``).
        sender_id: The identity of the sender filter, ``None`` for every sender.
        module: Module where the receiver is defined.
        qualname: Qualified name of the receiver in that module.
        lineno: First line of its code, when it has Python code.
    """

    receiver: Receiver
    priority: int
    is_async: bool
    weak: bool
    once: bool
    on_commit: bool | str
    dispatch_uid: Hashable | None
    sender: Any
    sender_id: ObjectId | None
    module: str
    qualname: str
    lineno: int | None

    @property
    def name(self) -> str:
        """``module.qualname``, the dotted path to the receiver."""
        return f"{self.module}.{self.qualname}"


def info(record: Record, receiver: Receiver) -> ReceiverInfo:
    module, qualname, lineno = location(receiver)
    specific = record.sender_key != NONE_ID
    return ReceiverInfo(
        receiver=receiver,
        priority=record.priority,
        is_async=record.is_async,
        weak=record.weak,
        once=record.once is not None,
        on_commit=record.on_commit,
        dispatch_uid=record.dispatch_uid,
        sender=record.sender_ref() if record.sender_ref is not None else None,
        sender_id=record.sender_key if specific else None,
        module=module,
        qualname=qualname,
        lineno=lineno,
    )
