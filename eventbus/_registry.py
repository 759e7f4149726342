"""The receivers of one signal: ordered records, lookup indexes, the lock, per-sender plans.

A :class:`Registry` is the one owner of the question "which receivers": it
keeps the records in call order, finds a connection by its lookup key, drops
records whose receiver or sender was garbage collected, claims ``once``
receivers, and caches one plan per sender. It also keeps the *taps*: objects
that see every send without being receivers (open subscriptions, running
captures), which count as listeners.

The rules:

* **Order.** Records are kept in descending priority; a new record goes after
  every record of the same priority, so ties keep connection order.
* **Locking.** Every change happens under ``lock``, a re-entrant lock (the
  signal's Django-compatible ``lock``), so code that holds ``signal.lock``
  while it assigns ``signal.receivers`` does not dead-lock. Readers on the send
  path never take it: they read the cached plan, or a C-level copy of the list.
* **Garbage collection.** Weak references call :meth:`Registry.on_dead`,
  which may run while this thread holds the lock: it only flags the registry
  and drops the cached plans; the dead records are pruned under the lock at
  the next change or plan build.
* **Plans** are built by the ``build`` callable the owner passes in, once per
  sender with receivers of its own; senders without receivers of their own
  share the every-sender plan (cached under their identity too, up to
  ``SENDER_CACHE_LIMIT`` entries, then the cache starts over). Every change
  drops every cached plan.
* **Changes** (connect, disconnect, a claimed ``once`` receiver, a tap added or
  removed) call ``on_change`` after the lock is released.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, Protocol, TypeVar

from ._identity import NONE_ID, LookupKey, ObjectId, make_id
from ._records import Record

__all__: list[str] = []

P = TypeVar("P")

#: How many senders' plans a registry caches at most; beyond it the cache starts over.
SENDER_CACHE_LIMIT = 1024


class Tap(Protocol):
    """Something that sees sends of a signal without being a receiver.

    ``sender_key`` is ``id(sender)`` for a tap on one sender, ``None`` for
    every sender. A *local* tap (``remote`` false) sees this process's sends:
    ``deliver(event, from_sync)`` is called at the start of each matching send,
    on the sender's thread, and must not block; from an async send
    (``from_sync`` false) it may return an awaitable, which the send awaits
    before its receivers run. A *remote* tap sees the events that arrive from
    other processes (and this one) over the wire instead. Only local taps count
    as listeners.
    """

    @property
    def sender_key(self) -> int | None: ...

    @property
    def sender(self) -> Any: ...

    @property
    def remote(self) -> bool: ...

    def deliver(self, event: Any, from_sync: bool) -> Awaitable[None] | None: ...


def _rank(record: Record) -> int:
    """Sort key of the records list: higher priority first (ties keep list order)."""
    return -record.priority


class Registry(Generic[P]):
    """The receivers and taps of one signal (see the module docstring for the rules).

    Attributes:
        lock: The re-entrant lock every change takes.
        records: The connected records in call order. Changed in place, so
            the owner may keep a reference to the list.
        plans: Cached plans by ``id(sender)``. Changed in place (it is the
            signal's Django-compatible ``sender_receivers_cache``).
        taps: Weak references to the open taps, oldest first. Changed in place.
        generation: Incremented by every change, for readers that must notice one.
        muted: How many ``muted()`` blocks are open; plans are empty while > 0.
    """

    def __init__(
        self,
        build: Callable[[tuple[Record, ...]], P],
        empty: P,
        on_change: Callable[[], None],
    ) -> None:
        self.lock = threading.RLock()
        self.records: list[Record] = []
        self.plans: dict[Any, P] = {}
        self.taps: list[weakref.ref[Tap]] = []
        self.generation = 0
        self.muted = 0
        self.dead = False
        self._build = build
        self._empty = empty
        self._on_change = on_change
        # Catch-all receivers are indexed by their lookup alone, sender-specific
        # ones by the whole key; per-sender counts say which senders have their own.
        self._catch_all: dict[Hashable, Record] = {}
        self._specific: dict[LookupKey, Record] = {}
        self._sender_counts: dict[ObjectId, int] = {}
        # One bound method for every weak reference's callback, not one each.
        self.on_dead: Callable[[Any], None] = self._flag_dead

    # -- changes --------------------------------------------------------------------

    def add(self, record: Record) -> Record | None:
        """Connect ``record`` unless its key is connected; return the existing record, if any."""
        with self.lock:
            self._prune()
            existing = self._find(record.lookup, record.sender_key)
            if existing is None:
                index = bisect.bisect_right(self.records, -record.priority, key=_rank)
                self.records.insert(index, record)
                self._index(record)
                self._changed()
        if existing is None:
            self._on_change()
        return existing

    def remove(self, lookup: Hashable, sender_key: ObjectId) -> bool:
        """Disconnect the record with this key; return whether one was connected."""
        with self.lock:
            self._prune()
            record = self._find(lookup, sender_key)
            if record is None:
                return False
            self._unindex(record)
            self._changed()
        self._on_change()
        return True

    def discard(self, record: Record) -> bool:
        """Disconnect ``record`` itself if it is still connected (not a newer record of its key)."""
        with self.lock:
            if self._find(record.lookup, record.sender_key) is not record:
                return False
            self._unindex(record)
            self._changed()
        self._on_change()
        return True

    def claim(self, record: Record) -> bool:
        """Claim the one call of a ``once`` record; the winner disconnects it.

        A non-blocking acquire of the record's lock, so exactly one caller wins
        even when sends race on several threads. Other records are always
        claimable.
        """
        once = record.once
        if once is None:
            return True
        if not once.acquire(blocking=False):
            return False
        self.discard(record)
        return True

    def replace(self, records: list[Record]) -> None:
        """Replace every connection by ``records`` (already in call order, keys unique)."""
        with self.lock:
            self.dead = False
            self.records[:] = records
            self._reindex()
            self._changed()
        self._on_change()

    def invalidate(self) -> None:
        """Drop every cached plan (their inputs changed, not the records)."""
        with self.lock:
            self._changed()

    def mute(self, by: int) -> None:
        """Open (``+1``) or close (``-1``) a ``muted()`` block."""
        with self.lock:
            self.muted += by
            self._changed()

    # -- taps -----------------------------------------------------------------------

    def add_tap(self, tap: Tap) -> None:
        """Start delivering sends to ``tap``; it is held weakly."""
        with self.lock:
            self._prune_taps()
            self.taps.append(weakref.ref(tap, self._flag_dead))
        self._on_change()

    def remove_tap(self, tap: Tap) -> None:
        """Stop delivering sends to ``tap`` (nothing happens if it is not registered)."""
        with self.lock:
            before = len(self.taps)
            self.taps[:] = [ref for ref in self.taps if ref() not in (None, tap)]
            changed = len(self.taps) != before
        if changed:
            self._on_change()

    def live_taps(self) -> list[Tap]:
        """The taps still alive, oldest first."""
        return [tap for ref in tuple(self.taps) if (tap := ref()) is not None]

    def tapped(self, sender: Any) -> bool:
        """Whether a live local tap sees sends to ``sender``."""
        key = id(sender)
        return any(tap.sender_key in (None, key) and not tap.remote for tap in self.live_taps())

    # -- reading --------------------------------------------------------------------

    def snapshot(self) -> tuple[Record, ...]:
        """Every live record, in call order."""
        with self.lock:
            self._prune()
            return tuple(r for r in self.records if r.alive())

    def matching(self, sender: Any) -> tuple[Record, ...]:
        """The live records a send to ``sender`` reaches, in call order (muting aside)."""
        with self.lock:
            self._prune()
            return self._matching(make_id(sender))

    def plan(self, sender: Any) -> P:
        """The cached plan for ``sender``, built on first use."""
        plan = self.plans.get(id(sender))
        return plan if plan is not None else self.build_plan(sender)

    def build_plan(self, sender: Any) -> P:
        """Build (and cache) the plan for ``sender``: the slow half of :meth:`plan`."""
        key = make_id(sender)
        with self.lock:
            self._prune()
            plans = self.plans
            # A sender without receivers of its own shares the every-sender plan,
            # cached under id(None); it is also cached under its own id so its
            # next sends hit at once, within a bound, because senders may be
            # short-lived instances (any change clears the cache, so an id
            # reused by a new object never sees a stale plan).
            plan_key = key if key in self._sender_counts else NONE_ID
            plan = plans.get(plan_key)
            if plan is None:
                plan = self._empty if self.muted else self._build(self._matching(plan_key))
                if isinstance(plan_key, int):
                    plans[plan_key] = plan
            if isinstance(key, int) and key != plan_key:
                if len(plans) >= SENDER_CACHE_LIMIT:
                    plans.clear()
                    plans[NONE_ID] = plan
                plans[key] = plan
            # A receiver collected while the plan was built flags the registry
            # without the lock; never leave such a plan behind.
            if self.dead:
                plans.clear()
        return plan

    def senders(self) -> tuple[bool, list[Any]]:
        """``(every_sender, senders)``: who the live receivers and taps listen to.

        ``every_sender`` is true when a receiver or tap listens to every
        sender; ``senders`` are the distinct, still-alive sender objects of the
        others (senders that cannot be weakly referenced are left out).
        """
        records = self.snapshot()
        every = False
        found: dict[int, Any] = {}
        for tap in self.live_taps():
            if tap.remote:
                continue
            if tap.sender_key is None:
                every = True
            else:
                found[id(tap.sender)] = tap.sender
        for record in records:
            if record.sender_key == NONE_ID:
                every = True
            elif record.sender_ref is not None and (sender := record.sender_ref()) is not None:
                found[id(sender)] = sender
        return every, list(found.values())

    # -- helpers; the lock is held -----------------------------------------------------

    def _find(self, lookup: Hashable, sender_key: ObjectId) -> Record | None:
        if sender_key == NONE_ID:
            return self._catch_all.get(lookup)
        return self._specific.get((lookup, sender_key))

    def _matching(self, key: ObjectId) -> tuple[Record, ...]:
        return tuple(r for r in self.records if r.sender_key in (NONE_ID, key) and r.alive())

    def _index(self, record: Record) -> None:
        if record.sender_key == NONE_ID:
            self._catch_all[record.lookup] = record
        else:
            self._specific[record.key] = record
            counts = self._sender_counts
            counts[record.sender_key] = counts.get(record.sender_key, 0) + 1

    def _unindex(self, record: Record) -> None:
        start = bisect.bisect_left(self.records, -record.priority, key=_rank)
        del self.records[self.records.index(record, start)]
        if record.sender_key == NONE_ID:
            del self._catch_all[record.lookup]
            return
        del self._specific[record.key]
        left = self._sender_counts[record.sender_key] - 1
        if left:
            self._sender_counts[record.sender_key] = left
        else:
            del self._sender_counts[record.sender_key]

    def _reindex(self) -> None:
        self._catch_all, self._specific, self._sender_counts = {}, {}, {}
        for record in self.records:
            self._index(record)

    def _changed(self) -> None:
        self.generation += 1
        self.plans.clear()

    def _prune(self) -> None:
        if self.dead:
            self.dead = False
            self.records[:] = [r for r in self.records if r.alive()]
            self._reindex()
            self._prune_taps()
            self._changed()

    def _prune_taps(self) -> None:
        self.taps[:] = [ref for ref in self.taps if ref() is not None]

    def _flag_dead(self, reference: object = None) -> None:
        # Called by the garbage collector, possibly while this thread holds the
        # lock: flag for pruning under the lock later, and drop the plans that
        # may hold the dead record now.
        self.dead = True
        self.plans.clear()
