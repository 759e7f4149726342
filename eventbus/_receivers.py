"""Receiver records: identity, weak references, validation and ordering.

Everything about a receiver that does not change between sends is decided here,
once, at connect time: its lookup key, whether it is async, how to dereference
it, its priority and its position among the other receivers.
"""

from __future__ import annotations

import collections
import functools
import inspect
import itertools
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


#: Weak connections of likely-transient receivers, with a weak reference to each
#: receiver; bounded so that connecting closures in a loop cannot grow it forever.
_weak_connections: collections.deque[tuple[weakref.ref[Any], WeakSuspect]] = collections.deque(
    maxlen=1000
)


def weak_suspects() -> list[WeakSuspect]:
    """The weakly connected lambdas, closures and partials that have since been collected.

    Only collected ones are reported: a closure the caller keeps alive stays
    connected and is fine.
    """
    return [suspect for ref, suspect in tuple(_weak_connections) if ref() is None]


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
        ref = weakref.ref(receiver)
    except TypeError:
        return  # build_record will refuse it with a clear error
    module, qualname, lineno = location(receiver)
    _weak_connections.append(
        (
            ref,
            WeakSuspect(
                signal=repr(signal),
                receiver=f"{module}.{qualname}",
                kind=kind,
                module=module,
                lineno=lineno,
            ),
        )
    )


_sequence = itertools.count()


def next_seq() -> int:
    """A connection sequence number, increasing across all signals."""
    return next(_sequence)


class Record:
    """One connection of one receiver, immutable once built.

    ``deref`` returns the live receiver or ``None``; for a strong connection it
    is a C-level callable that always returns the receiver, so the send loop can
    treat strong and weak connections alike without a branch.
    """

    __slots__ = (
        "deref",
        "dispatch_uid",
        "is_async",
        "key",
        "lineno",
        "module",
        "on_commit",
        "once",
        "priority",
        "qualname",
        "raw",
        "sender_key",
        "sender_ref",
        "seq",
        "sort_key",
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
        once: bool,
        dispatch_uid: Hashable | None,
        location: tuple[str, str, int | None],
        seq: int | None = None,
        on_commit: bool | str = False,
    ) -> None:
        self.key = key
        self.sender_key: ObjectId = key[1]
        #: What Django itself would store: the weak reference, or the receiver.
        self.raw = raw
        self.weak = isinstance(raw, weakref.ReferenceType)
        self.deref: Callable[[], Any] = raw if self.weak else itertools.repeat(raw).__next__
        self.is_async = is_async
        self.sender_ref = sender_ref
        self.priority = priority
        self.seq = next_seq() if seq is None else seq
        self.sort_key = (-priority, self.seq)
        #: A lock claimed by the one call a ``once=True`` receiver gets; never released.
        self.once: threading.Lock | None = threading.Lock() if once else None
        self.dispatch_uid = dispatch_uid
        #: False, True (follow the send's ``using``) or a database alias.
        self.on_commit = on_commit
        self.module, self.qualname, self.lineno = location

    def alive(self) -> bool:
        if self.deref() is None:
            return False
        return self.sender_ref is None or self.sender_ref() is not None

    def reordered(self, seq: int) -> Record:
        """A copy of this record at another position (same priority, same flags)."""
        twin = Record(
            key=self.key,
            raw=self.raw,
            is_async=self.is_async,
            sender_ref=self.sender_ref,
            priority=self.priority,
            once=False,
            dispatch_uid=self.dispatch_uid,
            location=(self.module, self.qualname, self.lineno),
            seq=seq,
            on_commit=self.on_commit,
        )
        twin.once = self.once
        return twin


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
    if dispatch_uid:
        key: LookupKey = (dispatch_uid, make_id(sender))
    else:
        key = (make_id(receiver), make_id(sender))
    raw: Any = receiver
    if weak:
        try:
            if hasattr(receiver, "__self__") and hasattr(receiver, "__func__"):
                raw = weakref.WeakMethod(receiver, on_dead)
            else:
                raw = weakref.ref(receiver, on_dead)
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
        location=location(receiver),
        on_commit=on_commit,
    )


def record_from_django_entry(
    entry: tuple[Any, ...], seq: int, *, on_dead: Callable[[Any], None]
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
    live = raw
    if isinstance(raw, weakref.ReferenceType):
        live = raw()
        if live is None:
            return None
        is_method = hasattr(live, "__self__") and hasattr(live, "__func__")
        raw = weakref.WeakMethod(live, on_dead) if is_method else weakref.ref(live, on_dead)
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
        location=location(live),
        seq=seq,
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
        module=record.module,
        qualname=record.qualname,
        lineno=record.lineno,
    )
