"""One connection of one receiver, decided once at connect time: the ``Record``.

A record knows its lookup key, whether its receiver is async, how it holds the
receiver (strongly, or through a weak reference), its sender filter, its
priority and its rarely used options (``once``, ``on_commit``,
``dispatch_uid``). Connection order is not stored: it is the record's position
in its registry's list.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from ._identity import (
    NONE_ID,
    LookupKey,
    ObjectId,
    Receiver,
    describe,
    is_async_callable,
    location,
    make_id,
)

__all__ = ["ReceiverInfo"]


class Options:
    """The options few receivers use, kept off ``Record`` to keep records small."""

    __slots__ = ("broadcast", "dispatch_uid", "on_commit", "once")

    def __init__(
        self,
        once: threading.Lock | None,
        on_commit: bool | str,
        dispatch_uid: Hashable | None,
        broadcast: bool = False,
    ) -> None:
        #: Claimed (never released) by the one call a ``once=True`` receiver gets.
        self.once = once
        self.on_commit = on_commit
        self.dispatch_uid = dispatch_uid
        #: ``delivery="broadcast"``: runs on events from the wire, never on local sends.
        self.broadcast = broadcast


class Record:
    """One connection of one receiver.

    Kept small (it is paid per connected receiver): where the receiver is
    defined is looked up from the live receiver when asked.

    Attributes:
        lookup: The receiver part of Django's lookup key: ``dispatch_uid`` if
            one was given, else the receiver's identity.
        sender_key: The sender part: the sender's identity, ``NONE_ID`` for
            every sender.
        held: What Django itself would store: the weak reference to the
            receiver, or the receiver when it is held strongly.
        weak: Whether ``held`` is a weak reference.
        is_async: Whether the receiver must be awaited.
        sender_ref: A weak reference to the sender, or ``None`` (every sender,
            or a sender that cannot be weakly referenced).
        priority: Higher runs first.
        options: The rare options, or ``None`` when none is set.
    """

    __slots__ = (
        "held",
        "is_async",
        "lookup",
        "options",
        "priority",
        "sender_key",
        "sender_ref",
        "weak",
    )

    def __init__(
        self,
        *,
        key: LookupKey,
        held: Any,
        is_async: bool,
        sender_ref: weakref.ref[Any] | None,
        priority: int,
        once: bool = False,
        on_commit: bool | str = False,
        dispatch_uid: Hashable | None = None,
        broadcast: bool = False,
    ) -> None:
        # Kept as two slots: a catch-all receiver is indexed by ``lookup``
        # alone, with no tuple to pay for.
        self.lookup, self.sender_key = key
        self.held = held
        self.weak = isinstance(held, weakref.ReferenceType)
        self.is_async = is_async
        self.sender_ref = sender_ref
        self.priority = priority
        self.options = (
            Options(threading.Lock() if once else None, on_commit, dispatch_uid, broadcast)
            if once or on_commit is not False or dispatch_uid is not None or broadcast
            else None
        )

    def __repr__(self) -> str:
        return f"<Record {describe(self.deref())} priority={self.priority}>"

    @property
    def key(self) -> LookupKey:
        """Django's lookup key: ``(receiver id or dispatch_uid, sender id)``."""
        return (self.lookup, self.sender_key)

    @property
    def once(self) -> threading.Lock | None:
        """The lock a ``once=True`` receiver's one call claims; ``None`` for other receivers."""
        return None if self.options is None else self.options.once

    @property
    def on_commit(self) -> bool | str:
        """False, True (follow the send's ``using``) or a database alias."""
        return False if self.options is None else self.options.on_commit

    @property
    def dispatch_uid(self) -> Hashable | None:
        return None if self.options is None else self.options.dispatch_uid

    @property
    def broadcast(self) -> bool:
        """Whether it is a ``delivery="broadcast"`` receiver."""
        return self.options is not None and self.options.broadcast

    @property
    def plain(self) -> bool:
        """Neither ``once`` nor after-commit: the send loops can call it directly."""
        options = self.options
        return options is None or (options.once is None and options.on_commit is False)

    def deref(self) -> Any:
        """The live receiver, or ``None`` once a weakly held one is collected."""
        return self.held() if self.weak else self.held

    def alive(self) -> bool:
        """Whether its receiver, and its sender if it has one, are still alive."""
        if self.deref() is None:
            return False
        return self.sender_ref is None or self.sender_ref() is not None


def hold(receiver: Any, on_dead: Callable[[Any], None]) -> weakref.ref[Any]:
    """A weak reference to ``receiver`` (``WeakMethod`` for bound methods) calling ``on_dead``."""
    if hasattr(receiver, "__self__") and hasattr(receiver, "__func__"):
        return weakref.WeakMethod(receiver, on_dead)
    return weakref.ref(receiver, on_dead)


def hold_weakly(receiver: Any, on_dead: Callable[[Any], None]) -> weakref.ref[Any]:
    """:func:`hold` for a receiver being connected with ``weak=True``.

    Raises:
        TypeError: the receiver cannot be weakly referenced; says to pass ``weak=False``.
    """
    try:
        return hold(receiver, on_dead)
    except TypeError as exc:
        raise TypeError(
            f"Cannot hold receiver {describe(receiver)} weakly: "
            f"{type(receiver).__name__} objects do not support weak references. "
            "Connect it with weak=False."
        ) from exc


def check_weakly_referenceable(receiver: Any) -> None:
    """Raise :func:`hold_weakly`'s ``TypeError`` now, for a connection that happens later."""
    hold_weakly(receiver, _ignore)


def _ignore(reference: object) -> None:
    """A weak-reference callback that does nothing."""


def build_record(
    receiver: Receiver,
    sender: object,
    *,
    weak: bool,
    dispatch_uid: Hashable | None,
    priority: int,
    once: bool,
    on_commit: bool | str,
    on_dead: Callable[[Any], None],
    broadcast: bool = False,
) -> Record:
    """Make the record for a validated ``connect()`` call.

    Raises:
        TypeError: ``weak`` is true and the receiver cannot be weakly referenced.
    """
    sender_id = NONE_ID if sender is None else make_id(sender)  # share the common one
    key: LookupKey = (dispatch_uid, sender_id) if dispatch_uid else (make_id(receiver), sender_id)
    held: Any = hold_weakly(receiver, on_dead) if weak else receiver
    sender_ref: weakref.ref[Any] | None = None
    if sender is not None:
        try:
            sender_ref = weakref.ref(sender, on_dead)
        except TypeError:
            sender_ref = None  # unweakrefable senders are matched by id, as in Django
    return Record(
        key=key,
        held=held,
        is_async=is_async_callable(receiver),
        sender_ref=sender_ref,
        priority=priority,
        once=once,
        on_commit=on_commit,
        dispatch_uid=dispatch_uid or None,
        broadcast=broadcast,
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
        delivery: ``"local"`` (runs in the sending process, in the send) or
            ``"broadcast"`` (runs in every listening process, on events from
            the wire).
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
    delivery: str = "local"

    @property
    def name(self) -> str:
        """``module.qualname``, the dotted path to the receiver."""
        return f"{self.module}.{self.qualname}"


def info(record: Record, receiver: Receiver) -> ReceiverInfo:
    """Describe ``record``, whose live receiver is ``receiver``."""
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
        delivery="broadcast" if record.broadcast else "local",
    )
