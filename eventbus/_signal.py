"""The ``Signal`` class: a drop-in ``django.dispatch.Signal`` with priorities."""

from __future__ import annotations

import bisect
import logging
import threading
import warnings
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, SupportsIndex, TypeVar

import django
import django.dispatch

from . import _dispatch, _subscription
from ._commit import validate_on_commit
from ._exceptions import DuplicateReceiverWarning
from ._receivers import (
    NONE_ID,
    LookupKey,
    ObjectId,
    Receiver,
    ReceiverInfo,
    Record,
    build_record,
    describe,
    info,
    make_id,
    note_weak_connection,
    record_from_django_entry,
    validate,
)

__all__ = ["Signal", "receiver"]

F = TypeVar("F", bound=Callable[..., Any])

#: Django's own logger for failures in robust sends; eventbus logs to the same one.
logger = logging.getLogger("django.dispatch")

_DJANGO_6 = django.VERSION >= (6, 0)

#: How many senders' plans a signal caches at most; beyond it the cache starts over.
SENDER_CACHE_LIMIT = 1024


def _rank(record: Record) -> int:
    """Sort key of the records list: higher priority first (ties keep list order)."""
    return -record.priority


class Signal(django.dispatch.Signal):
    """A signal whose receivers run in one deterministic order, sync or async.

    ``Signal`` is a subclass of ``django.dispatch.Signal`` and keeps its
    contract: ``connect``, ``disconnect``, ``has_listeners``, ``send``,
    ``send_robust``, ``asend`` and ``asend_robust`` take the same arguments and
    return the same ``[(receiver, response), ...]`` lists.

    The rules:

    * **Order.** Receivers run in descending ``priority`` (default 0); equal
      priorities run in the order they were connected. Every send method uses
      that one order, whether a receiver is sync or async, and the result list
      follows it. (Django instead runs all sync receivers first, then the async
      ones concurrently.)
    * **send()** calls sync receivers on the calling thread and runs each
      contiguous run of async receivers in one ``async_to_sync`` call. On a
      thread that is running an event loop it raises
      ``AsyncSendError`` if any async receiver would be called.
    * **asend()** awaits async receivers on the calling task and runs each
      contiguous run of sync receivers in one thread hop
      (``sync_to_async(thread_sensitive=True)`` under asyncio, anyio's worker
      threads under trio).
    * **Errors.** ``send``/``asend`` stop at the first receiver that raises and
      propagate its exception unchanged; the receivers after it do not run.
      ``send_robust``/``asend_robust`` call every receiver, return each
      ``Exception`` in place of that receiver's response and log it to the
      ``django.dispatch`` logger with ``exc_info``.
    * **Concurrency** is opt-in: with ``concurrent=True``, receivers of equal
      priority that include an async one run concurrently as one tier (see
      the *Sync and async* guide); tiers still run in priority
      order and results keep the order above.
    * **References.** Receivers are held weakly by default and senders always
      are (when they support weak references): a collected receiver, or one
      connected to a collected sender, is dropped from every cache.

    Args:
        use_caching: Accepted for compatibility with Django. eventbus always
            caches the ordered receivers per sender (invalidated on connect,
            disconnect and garbage collection), so this changes nothing.
        concurrent: Run equal-priority receivers concurrently (see above).
        name: A name for ``repr()`` and error messages, e.g. ``"order_placed"``.
    """

    def __init__(
        self, use_caching: bool = False, *, concurrent: bool = False, name: str | None = None
    ) -> None:
        # Django's __init__ is not called: it assigns a plain ``receivers`` list,
        # which here is a view onto the ordered records kept below.
        self.lock = threading.Lock()
        self.use_caching = use_caching
        self.concurrent = concurrent
        self.name = name
        #: Per-sender send plans, keyed by ``id(sender)``; only senders that have
        #: receivers of their own get an entry, so the cache cannot grow with the
        #: number of distinct senders.
        self.sender_receivers_cache: dict[Any, _dispatch.Plan] = {}
        self._dead_receivers = False
        # One bound method for every weak reference's callback, not one each.
        self._on_dead = self._flag_dead_receivers
        self._records: list[Record] = []
        # Catch-all receivers are indexed by the first part of their lookup key
        # alone, sender-specific ones by the whole key.
        self._by_first: dict[Hashable, Record] = {}
        self._by_key: dict[LookupKey, Record] = {}
        self._sender_keys: dict[ObjectId, int] = {}
        self._muted = 0
        self._generation = 0
        self._subscriptions: tuple[_subscription.Subscription, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._custom_live_receivers = cls._live_receivers is not Signal._live_receivers

    _custom_live_receivers = False
    _subscriptions: tuple[_subscription.Subscription, ...] = ()

    def __repr__(self) -> str:
        cls = type(self)
        path = "eventbus.Signal" if cls is Signal else f"{cls.__module__}.{cls.__qualname__}"
        label = f" {self.name!r}" if self.name else ""
        return f"<{path}{label} at {id(self):#x}>"

    # -- connecting ---------------------------------------------------------------

    def connect(
        self,
        receiver: Callable[..., Any],
        sender: object | None = None,
        weak: bool = True,
        dispatch_uid: Hashable | None = None,
        *,
        priority: int = 0,
        once: bool = False,
        on_commit: bool | str = False,
    ) -> None:
        """Connect ``receiver`` to this signal.

        Args:
            receiver: A function, method or callable object (sync or async) that
                accepts ``**kwargs``. It is called as
                ``receiver(signal=signal, sender=sender, **kwargs)``.
            sender: Only receive sends from this sender (compared by identity);
                ``None`` receives from every sender. Held weakly when possible.
            weak: Hold the receiver through a weak reference (bound methods via
                ``weakref.WeakMethod``), so connecting does not keep it
                alive. Pass ``False`` for lambdas and closures.
            dispatch_uid: A hashable that identifies the connection instead of
                the receiver itself.
            priority: Higher runs first; equal priorities keep connection order.
            once: Disconnect the receiver when it is first called; it is called
                at most once even when sends race on several threads.
            on_commit: Run the receiver only after the current transaction
                commits: ``True`` for the database named by the send's ``using``
                argument (or ``"default"``), or a database alias. Never runs if
                the transaction or the savepoint of the send rolls back; runs at
                once outside a transaction. Its failures are logged, never
                raised. The send reports ``eventbus.AFTER_COMMIT`` as its response
                until it has run. See the *After-commit receivers* guide.

        Connecting an already-connected receiver (same receiver or
        ``dispatch_uid``, same sender) changes nothing and keeps its first
        position; if ``priority`` differs, a
        ``DuplicateReceiverWarning`` says so.

        Raises:
            TypeError: ``receiver`` is not callable, cannot be weakly referenced
                with ``weak=True``, ``priority`` is not an ``int`` or
                ``on_commit`` is neither a bool nor a string.
            ValueError: ``receiver`` does not accept ``**kwargs``, or
                ``on_commit`` names a database that is not configured.
        """
        self._connect(receiver, sender, weak, dispatch_uid, priority, once, on_commit, stacklevel=3)

    def _connect(
        self,
        receiver: Receiver,
        sender: object | None,
        weak: bool,
        dispatch_uid: Hashable | None,
        priority: int,
        once: bool,
        on_commit: bool | str = False,
        *,
        stacklevel: int,
    ) -> Record | None:
        validate(receiver, priority)
        if on_commit is not False:
            validate_on_commit(on_commit, receiver)
        if weak:
            note_weak_connection(self, receiver)
        record = build_record(
            receiver,
            sender,
            weak=weak,
            dispatch_uid=dispatch_uid,
            priority=priority,
            once=once,
            on_dead=self._on_dead,
            on_commit=on_commit,
        )
        with self.lock:
            self._prune()
            existing = self._lookup(record.first, record.sender_key)
            if existing is None:
                # After every receiver of the same priority: connection order.
                index = bisect.bisect_right(self._records, -priority, key=_rank)
                self._records.insert(index, record)
                self._index(record)
                self._changed()
        if existing is None:
            self._receivers_changed()
            return record
        if existing.priority != priority:
            warnings.warn(
                DuplicateReceiverWarning(
                    f"{describe(receiver)} is already connected to {self!r} with priority "
                    f"{existing.priority}; connecting it again with priority {priority} "
                    "changes nothing. Disconnect it first to change its priority."
                ),
                stacklevel=stacklevel,
            )
        return None

    def disconnect(
        self,
        receiver: Callable[..., Any] | None = None,
        sender: object | None = None,
        dispatch_uid: Hashable | None = None,
    ) -> bool:
        """Disconnect a receiver; return whether one was connected.

        Identify the connection as it was made: by ``receiver`` and ``sender``,
        or by ``dispatch_uid`` and ``sender``. Weakly connected receivers need
        not be disconnected: they disappear when they are garbage collected.
        """
        first = dispatch_uid if dispatch_uid else make_id(receiver)
        with self.lock:
            self._prune()
            record = self._lookup(first, make_id(sender))
            if record is None:
                return False
            self._remove(record)
            self._changed()
        self._receivers_changed()
        return True

    def _forget(self, record: Record) -> None:
        """Disconnect a ``once`` receiver that has just been claimed."""
        with self.lock:
            current = self._lookup(record.first, record.sender_key)
            if current is None or current.once is not record.once:
                return
            self._remove(current)
            self._changed()
        self._receivers_changed()

    def _receivers_changed(self) -> None:
        """Called after a receiver was connected or disconnected, without the lock.

        A hook for subclasses (the model-signal bridge uses it to connect to
        Django only for the models that have receivers). Receivers dropped by
        garbage collection are noticed lazily, at the next change or send.
        """

    def _connected_senders(self) -> tuple[bool, list[Any]]:
        """``(has_catch_all, live_senders)``: who the live receivers listen to.

        ``has_catch_all`` is true when some receiver listens to every sender;
        ``live_senders`` are the distinct, still-alive sender objects of the
        other receivers (senders that cannot be weakly referenced are left out).
        Open subscriptions count as receivers.
        """
        with self.lock:
            self._prune()
            records = tuple(self._records)
        catch_all = False
        senders: dict[int, Any] = {}
        for subscription in self._subscriptions:
            if subscription.sender is None:
                catch_all = True
            else:
                senders[id(subscription.sender)] = subscription.sender
        for record in records:
            if record.sender_key == NONE_ID:
                catch_all = True
            elif record.sender_ref is not None:
                sender = record.sender_ref()
                if sender is not None:
                    senders[id(sender)] = sender
        return catch_all, list(senders.values())

    # Helpers below expect ``self.lock`` to be held.

    def _lookup(self, first: Hashable, sender_key: ObjectId) -> Record | None:
        if sender_key == NONE_ID:
            return self._by_first.get(first)
        return self._by_key.get((first, sender_key))

    def _index(self, record: Record) -> None:
        if record.sender_key == NONE_ID:
            self._by_first[record.first] = record
        else:
            self._by_key[record.key] = record
            self._sender_keys[record.sender_key] = self._sender_keys.get(record.sender_key, 0) + 1

    def _remove(self, record: Record) -> None:
        start = bisect.bisect_left(self._records, -record.priority, key=_rank)
        del self._records[self._records.index(record, start)]
        if record.sender_key == NONE_ID:
            del self._by_first[record.first]
            return
        del self._by_key[record.key]
        left = self._sender_keys[record.sender_key] - 1
        if left:
            self._sender_keys[record.sender_key] = left
        else:
            del self._sender_keys[record.sender_key]

    def _replace_all(self, records: list[Record]) -> None:
        by_first: dict[Hashable, Record] = {}
        by_key: dict[LookupKey, Record] = {}
        sender_keys: dict[ObjectId, int] = {}
        for record in records:
            if record.sender_key == NONE_ID:
                by_first[record.first] = record
            else:
                by_key[record.key] = record
                sender_keys[record.sender_key] = sender_keys.get(record.sender_key, 0) + 1
        # _plan_slow reads _sender_keys without the lock: swap in complete dicts,
        # never fill the live ones in place.
        self._records, self._by_first, self._by_key, self._sender_keys = (
            records,
            by_first,
            by_key,
            sender_keys,
        )
        self._changed()

    def _changed(self) -> None:
        self._generation += 1
        self.sender_receivers_cache.clear()

    def _prune(self) -> None:
        if self._dead_receivers:
            self._dead_receivers = False
            self._replace_all([r for r in self._records if r.alive()])

    def _flag_dead_receivers(self, reference: object = None) -> None:
        # Called by the garbage collector, possibly while this thread holds
        # self.lock, so it must not take the lock: flag the records for pruning
        # under the lock later, and drop the plans that may hold them now.
        self._dead_receivers = True
        self.sender_receivers_cache.clear()

    # -- the Django-compatible receivers list -----------------------------------

    @property
    def receivers(self) -> list[Any]:
        """The connected receivers in Django's own tuple format, in call order.

        Django 5.2 stores ``(lookup_key, receiver_or_weakref, is_async)`` and
        Django 6 ``(lookup_key, receiver_or_weakref, sender_weakref, is_async)``;
        this property returns the format of the installed Django, so code that
        reads, saves and restores the list (factory_boy's ``mute_signals``)
        keeps working. Assigning a list replaces every connection: entries
        taken from this property keep their priority and flags, other entries
        get priority 0, and the list order becomes the connection order.
        Mutating the returned list (``append``, ``insert``, ...) writes it back
        the same way, as long as the signal has not changed since it was read.
        """
        generation = self._generation
        records = tuple(self._records)  # one C-level copy: a consistent snapshot without the lock
        return _ReceiverList(self, generation, (self._entry(r) for r in records))

    @receivers.setter
    def receivers(self, entries: Iterable[Any]) -> None:
        records: list[Record] = []
        seen: set[LookupKey] = set()
        for entry in entries:
            record: Record | None
            own = getattr(entry, "record", None)
            if not isinstance(own, Record):
                record = record_from_django_entry(tuple(entry), on_dead=self._on_dead)
            elif entry.signal is self:
                record = own
            else:  # taken from another eventbus signal
                record = own.rebound(self._on_dead)
            if record is not None and record.key not in seen:
                seen.add(record.key)
                records.append(record)
        records.sort(key=_rank)  # stable: the list order is the connection order
        with self.lock:
            self._dead_receivers = False
            self._replace_all(records)
        self._receivers_changed()

    def _entry(self, record: Record) -> tuple[Any, ...]:
        values: tuple[Any, ...]
        if _DJANGO_6:
            values = (record.key, record.raw, record.sender_ref, record.is_async)
        else:
            values = (record.key, record.raw, record.is_async)
        return _DjangoEntry(values, record, self)

    # -- looking receivers up -----------------------------------------------------

    def _plan(self, sender: Any) -> _dispatch.Plan:
        plan = self.sender_receivers_cache.get(id(sender))
        return plan if plan is not None else self._plan_slow(sender)

    def _plan_slow(self, sender: Any) -> _dispatch.Plan:
        if self._custom_live_receivers:
            if self._muted:
                return _dispatch.EMPTY_PLAN
            return _dispatch.Plan(self._records_via_live_receivers(sender), self.concurrent)
        key = make_id(sender)
        with self.lock:
            self._prune()
            cache = self.sender_receivers_cache
            # A sender without receivers of its own shares the "every sender"
            # plan, cached under id(None); it is also cached under its own id so
            # its next sends hit at once, within a bound, because senders may be
            # short-lived instances (any change clears the cache, so an id
            # reused by a new object never sees a stale plan).
            plan_key = key if key in self._sender_keys else NONE_ID
            plan = cache.get(plan_key)
            if plan is None:
                plan = (
                    _dispatch.EMPTY_PLAN
                    if self._muted
                    else _dispatch.Plan(self._matching(plan_key), self.concurrent)
                )
                if isinstance(plan_key, int):
                    cache[plan_key] = plan
            if isinstance(key, int) and key != plan_key:
                if len(cache) >= SENDER_CACHE_LIMIT:
                    cache.clear()
                    cache[NONE_ID] = plan
                cache[key] = plan
            # A receiver collected while the plan was built flags the signal
            # without the lock; never leave such a plan behind.
            if self._dead_receivers:
                cache.clear()
        return plan

    def _matching(self, key: ObjectId) -> tuple[Record, ...]:
        return tuple(r for r in self._records if r.sender_key in (NONE_ID, key) and r.alive())

    def _collect(self, sender: Any) -> tuple[Record, ...]:
        if self._custom_live_receivers:
            return self._records_via_live_receivers(sender)
        with self.lock:
            self._prune()
            return self._matching(make_id(sender))

    def _records_via_live_receivers(self, sender: Any) -> tuple[Record, ...]:
        """Honour a subclass's ``_live_receivers()``: keep our order, its selection."""
        sync_receivers, async_receivers = self._live_receivers(sender)
        chosen = {make_id(r): r for r in (*sync_receivers, *async_receivers)}
        with self.lock:
            self._prune()
            records = [r for r in self._matching(make_id(sender)) if make_id(r.deref()) in chosen]
        known = {make_id(r.deref()) for r in records}
        for receiver in (*sync_receivers, *async_receivers):
            if make_id(receiver) not in known:
                records.append(
                    build_record(
                        receiver,
                        None,
                        weak=False,
                        dispatch_uid=None,
                        priority=0,
                        once=False,
                        on_dead=self._on_dead,
                    )
                )
        return tuple(records)

    def _live_receivers(self, sender: Any) -> tuple[list[Receiver], list[Receiver]]:
        """Django's view: ``(sync_receivers, async_receivers)``, each in call order.

        Subclasses may override it, as with Django's ``Signal``, to filter the
        receivers of a send; eventbus then calls the receivers it returns in
        eventbus order.
        """
        with self.lock:
            self._prune()
            records = self._matching(make_id(sender))
        sync_receivers: list[Receiver] = []
        async_receivers: list[Receiver] = []
        for record in records:
            receiver = record.deref()
            if receiver is not None:
                (async_receivers if record.is_async else sync_receivers).append(receiver)
        return sync_receivers, async_receivers

    def has_listeners(self, sender: Any = None) -> bool:
        """Whether a send to ``sender`` reaches a receiver or a subscription (mute aside)."""
        if self._subscriptions and any(
            s._match is None or s._match == id(sender) for s in self._subscriptions
        ):
            return True
        if not self._records:
            return False
        if self._muted or self._custom_live_receivers:
            return bool(self._collect(sender))
        return bool(self._plan(sender).records)

    def receivers_for(self, sender: Any = None) -> list[ReceiverInfo]:
        """Describe the receivers ``send(sender)`` calls, in the order it calls them.

        Each ``ReceiverInfo`` gives the receiver, its priority,
        whether it is async, weakly held or ``once``, its ``dispatch_uid`` and
        sender filter, and where it is defined. Receivers are listed even while
        the signal is ``muted()``.
        """
        described = []
        for record in self._collect(sender):
            receiver = record.deref()
            if receiver is not None:
                described.append(info(record, receiver))
        return described

    def describe_receivers(self) -> list[ReceiverInfo]:
        """Describe every connected receiver, whatever its sender filter, in call order.

        ``receivers_for(sender)`` answers "what does this send call"; this lists
        all connections (for tools such as ``manage.py eventbus``), including
        while the signal is ``muted()``.
        """
        with self.lock:
            self._prune()
            records = tuple(self._records)
        described = []
        for record in records:
            receiver = record.deref()
            if receiver is not None and record.alive():
                described.append(info(record, receiver))
        return described

    # -- sending ------------------------------------------------------------------

    def send(self, sender: Any, **named: Any) -> list[tuple[Receiver, Any]]:
        """Call every receiver for ``sender`` in order; return ``[(receiver, response)]``.

        Sync receivers run on this thread. Each contiguous run of async receivers
        runs in one ``async_to_sync`` call (an event-loop entry; from a
        ``sync_to_async`` thread it goes back to the outer loop). The first
        exception a receiver raises propagates unchanged and the receivers after
        it do not run.

        Raises:
            AsyncSendError: Called on a thread that runs an event loop while an
                async receiver would be called; ``await asend(...)`` instead.
        """
        if self._subscriptions:
            self._publish(sender, named, from_sync=True)
        if not self._records:
            return []
        try:
            plan = self.sender_receivers_cache[id(sender)]
        except KeyError:
            plan = self._plan_slow(sender)
        responses: list[tuple[Receiver, Any]] = []
        fast = plan.fast
        if fast is not None:
            # EAFP: calling a collected receiver (None) raises TypeError, which
            # costs nothing until it happens; a None check per receiver would.
            receiver = None
            try:
                for deref in fast:
                    receiver = deref()
                    responses.append((receiver, receiver(signal=self, sender=sender, **named)))
            except TypeError:
                if receiver is not None:
                    raise  # the receiver's own TypeError, unchanged
                return self._send_past_dead(fast, deref, responses, sender, named)
            return responses
        strong = plan.strong
        if strong is None:
            return _dispatch.send_plan(self, plan, sender, named, False)
        for receiver in strong:
            responses.append((receiver, receiver(signal=self, sender=sender, **named)))
        return responses

    def _send_past_dead(
        self,
        fast: tuple[Callable[[], Any], ...],
        dead: Callable[[], Any],
        responses: list[tuple[Receiver, Any]],
        sender: Any,
        named: dict[str, Any],
    ) -> list[tuple[Receiver, Any]]:
        """Finish a fast send after ``dead``, a receiver collected since the plan was cached."""
        for deref in fast[fast.index(dead) + 1 :]:
            receiver = deref()
            if receiver is not None:
                responses.append((receiver, receiver(signal=self, sender=sender, **named)))
        return responses

    def send_robust(self, sender: Any, **named: Any) -> list[tuple[Receiver, Any]]:
        """Like ``send()``, but call every receiver even when some raise.

        A receiver's ``Exception`` becomes its response in the result list
        and is logged to the ``django.dispatch`` logger with ``exc_info``, with
        Django's message. ``BaseException`` (``KeyboardInterrupt``, cancellation)
        still propagates.
        """
        if self._subscriptions:
            self._publish(sender, named, from_sync=True)
        if not self._records:
            return []
        try:
            plan = self.sender_receivers_cache[id(sender)]
        except KeyError:
            plan = self._plan_slow(sender)
        receivers: Iterable[Receiver] | None = plan.strong
        if receivers is None and plan.fast is not None:
            # Resolved up front, as Django's _live_receivers() does.
            receivers = [r for deref in plan.fast if (r := deref()) is not None]
        if receivers is None:
            return _dispatch.send_plan(self, plan, sender, named, True)
        responses = []
        for receiver in receivers:
            try:
                response = receiver(signal=self, sender=sender, **named)
            except Exception as err:
                self._log_robust_failure(receiver, err)
                response = err
            responses.append((receiver, response))
        return responses

    async def asend(self, sender: Any, **named: Any) -> list[tuple[Receiver, Any]]:
        """Call every receiver for ``sender`` from async code, in order.

        Async receivers are awaited on the calling task, one after the other
        (unless the signal is ``concurrent``). Each contiguous run of sync
        receivers runs in one thread hop: ``sync_to_async(thread_sensitive=True)``
        under asyncio, so ORM access is safe; ``anyio.to_thread.run_sync``
        under trio. Context variables set by the caller are visible to every
        receiver, and changes a sync receiver makes come back after its hop
        (except inside a concurrent tier, whose tasks each work on a copy).
        The first exception propagates unchanged; cancelling the call cancels
        the running receiver (a sync receiver already in its thread finishes,
        no later one starts).
        """
        if self._subscriptions:
            self._publish(sender, named)
        if not self._records:
            return []
        try:
            plan = self.sender_receivers_cache[id(sender)]
        except KeyError:
            plan = self._plan_slow(sender)
        fast = plan.async_fast
        if fast is not None and not self.concurrent:
            responses = []
            for deref in fast:
                receiver = deref()
                if receiver is not None:
                    response = await receiver(signal=self, sender=sender, **named)
                    responses.append((receiver, response))
            return responses
        if not plan.records:
            return []
        return await _dispatch.asend_plan(self, plan, sender, named, False)

    async def asend_robust(self, sender: Any, **named: Any) -> list[tuple[Receiver, Any]]:
        """Like ``asend()``, but call every receiver; failures are returned and logged."""
        if self._subscriptions:
            self._publish(sender, named)
        if not self._records:
            return []
        plan = self.sender_receivers_cache.get(id(sender)) or self._plan_slow(sender)
        if not plan.records:
            return []
        return await _dispatch.asend_plan(self, plan, sender, named, True)

    def _log_robust_failure(self, receiver: Receiver, err: Exception) -> None:
        logger.error(
            "Error calling %s in Signal.send_robust() (%s)",
            getattr(receiver, "__qualname__", repr(receiver)),
            err,
            exc_info=err,
        )

    # -- subscriptions --------------------------------------------------------------

    def subscribe(
        self,
        sender: Any = None,
        *,
        maxsize: int = _subscription.DEFAULT_MAXSIZE,
        overflow: _subscription.Overflow | str = _subscription.Overflow.DROP_OLDEST,
    ) -> _subscription.Subscription:
        """A bounded stream of this signal's sends, for async code.

        Use it as ``async with signal.subscribe() as events: async for event
        in events: ...``. Every send to ``sender`` (every sender when
        ``None``), from any thread or event loop, becomes an
        :class:`eventbus.Event` delivered at the moment the send starts, in
        send order. Senders never wait: when ``maxsize`` events are waiting,
        ``overflow="drop_oldest"`` drops the oldest (counted in ``dropped``)
        and ``overflow="close"`` closes the subscription, whose iterator then
        raises ``SubscriptionOverflowError`` after the waiting events. Leaving
        the block unregisters it at once. Subscriptions are not receivers:
        they never appear in ``send()`` results or ``receivers``.

        Raises:
            TypeError, ValueError: ``maxsize`` is not a positive int, or
                ``overflow`` is not ``"drop_oldest"`` or ``"close"``.
        """
        return _subscription.Subscription(self, sender, maxsize=maxsize, overflow=overflow)

    @property
    def subscriptions(self) -> tuple[_subscription.Subscription, ...]:
        """The open subscriptions, oldest first."""
        return self._subscriptions

    def _add_subscription(self, subscription: _subscription.Subscription) -> None:
        with self.lock:
            self._subscriptions = (*self._subscriptions, subscription)
        self._receivers_changed()

    def _remove_subscription(self, subscription: _subscription.Subscription) -> None:
        with self.lock:
            remaining = tuple(s for s in self._subscriptions if s is not subscription)
            changed = len(remaining) != len(self._subscriptions)
            self._subscriptions = remaining
        if changed:
            self._receivers_changed()

    def _publish(self, sender: Any, named: dict[str, Any], from_sync: bool = False) -> None:
        """Deliver one send to the matching subscriptions (called only when some are open)."""
        if self._muted:
            return
        if (
            from_sync
            and self._records
            and self._plan(sender).has_async
            and _dispatch.in_event_loop_thread()
        ):
            return  # send() is about to refuse with AsyncSendError: nothing was sent
        event = None
        key = id(sender)
        for subscription in self._subscriptions:
            if subscription._match is None or subscription._match == key:
                if event is None:
                    event = _subscription.make_event(self, sender, named)
                subscription._deliver(event)

    # -- scoped helpers -------------------------------------------------------------

    @contextmanager
    def muted(self) -> Iterator[None]:
        """Silence the signal inside the block: no receiver runs, sends return ``[]``.

        Connections are untouched, so priorities and order are intact afterwards.
        Muting is per signal, not per thread: it applies to every thread and
        task while the block is open. Blocks nest.
        """
        with self.lock:
            self._muted += 1
            self.sender_receivers_cache.clear()
        try:
            yield
        finally:
            with self.lock:
                self._muted -= 1
                self.sender_receivers_cache.clear()

    @contextmanager
    def connected_to(
        self,
        receiver: F,
        sender: object | None = None,
        priority: int = 0,
        *,
        weak: bool = False,
        dispatch_uid: Hashable | None = None,
        once: bool = False,
        on_commit: bool | str = False,
    ) -> Iterator[F]:
        """Connect ``receiver`` for the duration of the block, then disconnect it.

        Takes the arguments of ``connect()``, but holds the receiver strongly
        by default (``weak=False``) so an inline lambda or closure stays
        connected. If the receiver was already connected, the block changes
        nothing and leaves that connection in place.
        """
        record = self._connect(
            receiver, sender, weak, dispatch_uid, priority, once, on_commit, stacklevel=4
        )
        try:
            yield receiver
        finally:
            if record is not None:
                with self.lock:
                    removed = self._lookup(record.first, record.sender_key) is record
                    if removed:
                        self._remove(record)
                        self._changed()
                if removed:
                    self._receivers_changed()


class _DjangoEntry(tuple[Any, ...]):
    """A tuple in Django's ``receivers`` format that remembers its eventbus record."""

    record: Record
    signal: Signal

    def __new__(cls, values: tuple[Any, ...], record: Record, signal: Signal) -> _DjangoEntry:
        entry = super().__new__(cls, values)
        entry.record = record
        entry.signal = signal
        return entry


class _ReceiverList(list[Any]):
    """The list ``Signal.receivers`` returns: in-place changes are written back."""

    def __init__(self, signal: Signal, generation: int, entries: Iterable[Any]) -> None:
        super().__init__(entries)
        self._signal = signal
        self._generation = generation

    def _write_back(self) -> None:
        signal = self._signal
        if signal._generation == self._generation:
            signal.receivers = list(self)
            self._generation = signal._generation

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

    def __iadd__(self, values: Iterable[Any]) -> _ReceiverList:  # type: ignore[misc]
        super().__iadd__(values)
        self._write_back()
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        self._write_back()

    def __delitem__(self, index: Any) -> None:
        super().__delitem__(index)
        self._write_back()


def receiver(
    signal: django.dispatch.Signal | list[Any] | tuple[Any, ...],
    *,
    sender: object | None = None,
    weak: bool = True,
    dispatch_uid: Hashable | None = None,
    priority: int = 0,
    once: bool = False,
    on_commit: bool | str = False,
) -> Callable[[F], F]:
    """Decorator that connects the decorated function to one or more signals.

    Takes everything ``Signal.connect()`` takes (``sender``, ``weak``,
    ``dispatch_uid``, ``priority``, ``once``, ``on_commit``) and returns the function
    unchanged, so decorators can be stacked::

        @receiver(order_placed, priority=100)
        def reserve_stock(sender, order, **kwargs): ...


        @receiver([post_save, post_delete], sender=Order)
        async def invalidate(sender, instance, **kwargs): ...

    Plain ``django.dispatch.Signal`` objects in the list are connected too;
    ``priority``, ``once`` and ``on_commit`` need an ``eventbus.Signal`` and
    raise ``TypeError`` for them.
    """
    signals = list(signal) if isinstance(signal, (list, tuple)) else [signal]
    # Check everything before connecting anything, so a failing call connects nothing.
    for each in signals:
        if not isinstance(each, Signal) and (priority != 0 or once or on_commit is not False):
            raise TypeError(
                f"{each!r} is a django.dispatch.Signal, which has no priority, once or "
                "on_commit option; make it an eventbus.Signal, or drop those arguments."
            )

    def decorator(func: F) -> F:
        validate(func, priority)
        if on_commit is not False:
            validate_on_commit(on_commit, func)
        for each in signals:
            if isinstance(each, Signal):
                each._connect(
                    func, sender, weak, dispatch_uid, priority, once, on_commit, stacklevel=3
                )
            else:
                each.connect(func, sender=sender, weak=weak, dispatch_uid=dispatch_uid)
        return func

    return decorator
