"""Django's ``Signal.receivers`` list format, for code that reads or replaces it.

Django 5.2 stores each connection as ``(lookup_key, receiver_or_weakref,
is_async)`` and Django 6.x as ``(lookup_key, receiver_or_weakref,
sender_weakref, is_async)``. ``eventbus.Signal.receivers`` shows its records in
the installed Django's format, in call order, and accepts such a list back
(factory_boy's ``mute_signals`` saves and restores it; others
``insert(0, entry)``). The rules for adopting a list are in :func:`adopt`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any, SupportsIndex

import django

from ._identity import LookupKey
from ._records import Record, hold

__all__: list[str] = []

#: Whether the installed Django keeps the sender's weak reference in each entry.
DJANGO_6 = django.VERSION >= (6, 0)


class DjangoEntry(tuple[Any, ...]):
    """A tuple in Django's ``receivers`` format that remembers its eventbus record.

    ``origin`` identifies the registry the record belongs to, so an entry put
    back into the same signal keeps its record (priority and options).
    """

    record: Record
    origin: object

    def __new__(cls, record: Record, origin: object) -> DjangoEntry:
        if DJANGO_6:
            values: tuple[Any, ...] = (record.key, record.held, record.sender_ref, record.is_async)
        else:
            values = (record.key, record.held, record.is_async)
        entry = super().__new__(cls, values)
        entry.record = record
        entry.origin = origin
        return entry


class ReceiverList(list[Any]):
    """The list ``Signal.receivers`` returns: in-place changes are written back.

    A change is written back (``assign(list(self))``) only while the signal is
    unchanged since the list was read (``generation()`` still equals
    ``read_at``, taken before the entries were); a stale list is just a list.
    """

    def __init__(
        self,
        entries: Iterable[Any],
        read_at: int,
        generation: Callable[[], int],
        assign: Callable[[list[Any]], None],
    ) -> None:
        super().__init__(entries)
        self._generation = generation
        self._read_at = read_at
        self._assign = assign

    def _write_back(self) -> None:
        if self._generation() == self._read_at:
            self._assign(list(self))
            self._read_at = self._generation()

    def append(self, value: Any) -> None:
        super().append(value)
        self._write_back()

    def extend(self, values: Iterable[Any]) -> None:
        super().extend(values)
        self._write_back()

    def insert(self, index: SupportsIndex, value: Any) -> None:
        super().insert(index, value)
        self._write_back()

    def remove(self, value: Any) -> None:
        super().remove(value)
        self._write_back()

    def pop(self, index: SupportsIndex = -1) -> Any:
        value = super().pop(index)
        self._write_back()
        return value

    def clear(self) -> None:
        super().clear()
        self._write_back()

    def __iadd__(self, values: Iterable[Any]) -> ReceiverList:  # type: ignore[misc]
        super().__iadd__(values)
        self._write_back()
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        self._write_back()

    def __delitem__(self, index: Any) -> None:
        super().__delitem__(index)
        self._write_back()


def adopt(entries: Iterable[Any], origin: object, on_dead: Callable[[Any], None]) -> list[Record]:
    """The records a ``receivers = entries`` assignment connects, in call order.

    * An entry taken from this signal's own ``receivers`` keeps its record,
      so its priority and options.
    * An entry taken from another eventbus signal is copied, its weak
      references re-made with this signal's ``on_dead``.
    * Any other entry must be in Django's format (either version's); it gets
      priority 0. Dead entries are dropped.
    * The list order is the connection order; records are then ordered by
      priority (stably), and only the first entry of a lookup key counts.

    Raises:
        ValueError: an entry is in neither of Django's formats.
    """
    records: list[Record] = []
    seen: set[LookupKey] = set()
    for entry in entries:
        own = getattr(entry, "record", None)
        record: Record | None
        if not isinstance(own, Record):
            record = _from_django(tuple(entry), on_dead)
        elif getattr(entry, "origin", None) is origin:
            record = own
        else:
            record = _rebound(own, on_dead)
        if record is not None and record.key not in seen:
            seen.add(record.key)
            records.append(record)
    records.sort(key=lambda r: -r.priority)
    return records


def django_entry(
    key: LookupKey, receiver: Any, sender: Any, on_dead: Callable[[Any], None] | None
) -> Any:
    """A strong connection of ``receiver`` to ``sender`` in the installed Django's raw format."""
    is_async = False
    if not DJANGO_6:
        return (key, receiver, is_async)
    sender_ref = None
    if sender is not None:
        try:
            sender_ref = weakref.ref(sender, on_dead)
        except TypeError:
            sender_ref = None
    return (key, receiver, sender_ref, is_async)


def entry_sender_key(entry: Any) -> Any:
    """The sender part of a Django-format entry's lookup key."""
    return entry[0][1]


def _from_django(entry: tuple[Any, ...], on_dead: Callable[[Any], None]) -> Record | None:
    """Adopt a tuple in Django's own format, or ``None`` if it is dead.

    Its weak references are re-made with this signal's ``on_dead`` (the
    originals notify the signal they came from).
    """
    if len(entry) == 3:
        key, held, is_async = entry
        sender_ref = None
    elif len(entry) == 4:
        key, held, sender_ref, is_async = entry
    else:
        raise ValueError(
            f"Cannot adopt {entry!r} as a receiver entry: expected Django's "
            "(lookup_key, receiver, is_async) or (lookup_key, receiver, sender_ref, is_async)."
        )
    if isinstance(held, weakref.ReferenceType):
        live = held()
        if live is None:
            return None
        held = hold(live, on_dead)
    if sender_ref is not None:
        sender = sender_ref()
        if sender is None:
            return None
        sender_ref = weakref.ref(sender, on_dead)
    return Record(key=key, held=held, is_async=bool(is_async), sender_ref=sender_ref, priority=0)


def _rebound(record: Record, on_dead: Callable[[Any], None]) -> Record | None:
    """A copy of another signal's record, its weak references calling this signal's ``on_dead``."""
    receiver = record.deref()
    sender = record.sender_ref() if record.sender_ref is not None else None
    if receiver is None or (record.sender_ref is not None and sender is None):
        return None
    return Record(
        key=record.key,
        held=hold(receiver, on_dead) if record.weak else receiver,
        is_async=record.is_async,
        sender_ref=None if sender is None else weakref.ref(sender, on_dead),
        priority=record.priority,
        once=record.once is not None,
        on_commit=record.on_commit,
        dispatch_uid=record.dispatch_uid,
        broadcast=record.broadcast,
    )
