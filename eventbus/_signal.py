"""The ``Signal`` class: a drop-in ``django.dispatch.Signal`` with priorities."""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import django.dispatch
import django.dispatch.dispatcher

from . import _trace, _weak_connections
from ._call import Call, report_failure
from ._compat import DjangoEntry, ReceiverList, adopt
from ._exceptions import DuplicateReceiverWarning
from ._hops import in_event_loop_thread
from ._identity import Receiver, describe, make_id, signal_name
from ._plan import EMPTY_PLAN, Plan
from ._records import ReceiverInfo, Record, build_record, check_weakly_referenceable, info
from ._registry import Registry, Tap
from ._remote import remote_signals
from ._subscription import DEFAULT_MAXSIZE, Overflow, Subscription, make_event
from ._trace import SendScope, TracedCall
from ._validation import check_options, check_receiver, check_signal_arguments, signals_of
from ._walkers import asend_steps, send_steps

__all__ = ["Signal", "receiver"]

F = TypeVar("F", bound=Callable[..., Any])


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
    * **send()** calls sync receivers on the calling thread. If async
      receivers are connected it enters one event loop (``async_to_sync``) at
      the first of them, awaits them one after the other, and hands each run
      of sync receivers between them back to the calling thread. On a thread
      that is running an event loop it raises ``AsyncSendError`` if any async
      receiver would be called.
    * **asend()** awaits async receivers on the calling task and runs each
      contiguous run of sync receivers in one thread hop
      (``sync_to_async(thread_sensitive=True)`` under asyncio, so ORM code is
      safe; anyio's worker threads under trio).
    * **Errors.** ``send``/``asend`` stop at the first receiver that raises and
      propagate its exception unchanged; the receivers after it do not run.
      ``send_robust``/``asend_robust`` call every receiver, return each
      ``Exception`` in place of that receiver's response and log it to the
      ``django.dispatch`` logger with ``exc_info``.
    * **Concurrency** is opt-in: with ``concurrent=True``, receivers of equal
      priority that include an async one run concurrently as one tier (see
      the *Sync and async* guide); tiers still run in priority order and
      results keep the order above.
    * **References.** Receivers are held weakly by default and senders always
      are (when they support weak references): a collected receiver, or one
      connected to a collected sender, is dropped from every cache.
    * **Validation** happens at connect time, always: a bad argument raises
      ``TypeError`` or ``ValueError`` naming it, and nothing is connected.
    * **Tracing.** While tracing is on (:mod:`eventbus.tracing`), every send
      and every receiver run is reported, and nothing else changes; while it
      is off a send pays one attribute test.

    Args:
        use_caching: Accepted for compatibility with Django. eventbus always
            caches the ordered receivers per sender (invalidated on connect,
            disconnect and garbage collection), so this changes nothing.
        concurrent: Run equal-priority receivers concurrently (see above). It
            may be changed later; sends that start afterwards follow the new value.
        name: A name for messages, checks and ``repr()``, e.g. ``"shop.order_placed"``.
        remote: Its sends also go on the wire, under ``name``, to every process
            of the project (see the *Across processes* guide): they reach the
            ``delivery="broadcast"`` receivers and the ``subscribe(remote=True)``
            subscriptions of every process. Needs ``name``, unique in the project.
        to_wire: With ``remote``, a function that turns a send's keyword
            arguments (a dict) into ones the wire carries; ``from_wire`` turns
            them back in the receiving process.

    Raises:
        TypeError: ``concurrent`` or ``remote`` is not a bool, ``name`` is not
            a non-empty string or ``None``, a hook is not callable.
        ValueError: ``remote=True`` without a ``name``, or a hook without ``remote``.
    """

    def __init__(
        self,
        use_caching: bool = False,
        *,
        concurrent: bool = False,
        name: str | None = None,
        remote: bool = False,
        to_wire: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        from_wire: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        # Django's __init__ is not called: it assigns a plain ``receivers`` list,
        # which here is a view onto the registry's ordered records. Every
        # attribute it sets exists here too (``_dead_receivers`` is a property).
        check_signal_arguments(
            concurrent=concurrent, name=name, remote=remote, hooks=(to_wire, from_wire)
        )
        self.use_caching = use_caching
        self.name = name
        self.remote = remote
        self.to_wire = to_wire
        self.from_wire = from_wire
        self._concurrent = concurrent
        self._registry: Registry[Plan] = Registry(
            self._build_plan, EMPTY_PLAN, self._listeners_changed
        )
        # Re-entrant, unlike Django's: code that holds it while assigning
        # ``receivers`` (which takes it too) must not dead-lock.
        self.lock = self._registry.lock  # type: ignore[assignment]
        #: Django's per-sender cache attribute: here, the send plans by ``id(sender)``.
        self.sender_receivers_cache = self._registry.plans
        # The send path reads these two lists directly (the registry changes
        # them in place): no receivers and no taps is one attribute test each.
        self._records = self._registry.records
        self._taps = self._registry.taps
        # Broadcast plans by id(sender), with the registry generation they were built at.
        self._remote_plans: dict[int, tuple[int, Plan]] = {}
        self._sync_broadcast: tuple[int, bool] = (-1, False)
        if remote and name is not None:
            remote_signals.register(name, self)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._custom_live_receivers = cls._live_receivers is not Signal._live_receivers

    _custom_live_receivers = False

    def __repr__(self) -> str:
        cls = type(self)
        path = "eventbus.Signal" if cls is Signal else f"{cls.__module__}.{cls.__qualname__}"
        label = f" {self.name!r}" if self.name else ""
        return f"<{path}{label} at {id(self):#x}>"

    @property
    def concurrent(self) -> bool:
        """Whether equal-priority receivers run concurrently (see the class docstring)."""
        return self._concurrent

    @concurrent.setter
    def concurrent(self, value: bool) -> None:
        check_signal_arguments(concurrent=value, name=self.name)
        self._concurrent = value
        self._registry.invalidate()

    @property
    def _dead_receivers(self) -> bool:
        """Django's flag: some weak reference died since the last clean-up."""
        return self._registry.dead

    @_dead_receivers.setter
    def _dead_receivers(self, value: bool) -> None:
        self._registry.dead = value

    @property
    def remote_name(self) -> str | None:
        """The name other processes know this signal by on the wire (``None``: not remote)."""
        return self.name if self.remote else None

    def _build_plan(self, records: tuple[Record, ...]) -> Plan:
        # Broadcast receivers never run in a local send: only on events from the wire.
        local = tuple(r for r in records if not r.broadcast)
        return Plan(local if len(local) != len(records) else records, self._concurrent)

    def _listeners_changed(self) -> None:
        """Called after a receiver or tap was connected or disconnected, without the lock.

        A hook for subclasses (the model-signal bridge uses it to connect to
        Django only for the models that have receivers); a remote signal tells
        the process's node. Receivers dropped by garbage collection are noticed
        lazily, at the next change or send.
        """
        if self.remote_name is not None:
            remote_signals.changed(self)

    def _check_broadcast(self, sender: object) -> None:
        """Refuse ``delivery="broadcast"`` / ``subscribe(remote=True)`` where nothing is remote."""
        if not self.remote:
            raise ValueError(
                f"{signal_name(self)} is not a remote signal, so nothing reaches it from other "
                "processes: create it with Signal(name=..., remote=True) to use "
                "delivery='broadcast' or subscribe(remote=True)."
            )

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
        delivery: str = "local",
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
            delivery: ``"local"`` (the default): the receiver runs in the sending
                process, in the send. ``"broadcast"`` (remote signals only): it
                runs once in every process that has it connected, the sender's
                included, when the event arrives over the wire, and its result
                is not returned to the sender. See the *Across processes* guide.

        Connecting an already-connected receiver (same receiver or
        ``dispatch_uid``, same sender) changes nothing and keeps its first
        position; if ``priority`` differs, a ``DuplicateReceiverWarning`` says so.

        Raises:
            TypeError: ``receiver`` is not callable, cannot be weakly referenced
                with ``weak=True``; ``dispatch_uid`` is not hashable; ``priority``
                is not an ``int``; ``once`` is not a bool; ``on_commit`` is
                neither a bool nor a string.
            ValueError: ``receiver`` does not accept ``**kwargs`` (or its
                signature cannot be read), ``on_commit`` names a database that
                is not configured, ``delivery`` is neither ``"local"`` nor
                ``"broadcast"``, or it is ``"broadcast"`` on a signal that is not remote.
        """
        self._connect(
            receiver,
            sender,
            weak,
            dispatch_uid,
            priority,
            once,
            on_commit,
            stacklevel=3,
            delivery=delivery,
        )

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
        delivery: str = "local",
    ) -> Record | None:
        """Validate and connect; return the new record, or ``None`` if already connected."""
        check_receiver(receiver, self)
        check_options(
            self,
            receiver,
            dispatch_uid=dispatch_uid,
            priority=priority,
            once=once,
            on_commit=on_commit,
            delivery=delivery,
        )
        if delivery == "broadcast":
            self._check_broadcast(sender)
        record = build_record(
            receiver,
            sender,
            weak=bool(weak),
            dispatch_uid=dispatch_uid,
            priority=priority,
            once=once,
            on_commit=on_commit,
            on_dead=self._registry.on_dead,
            broadcast=delivery == "broadcast",
        )
        if weak:
            _weak_connections.note(self, receiver)
        existing = self._registry.add(record)
        if existing is None:
            return record
        if existing.priority != priority:
            warnings.warn(
                DuplicateReceiverWarning(
                    f"{describe(receiver)} is already connected to {signal_name(self)} with "
                    f"priority {existing.priority}; connecting it again with priority "
                    f"{priority} changes nothing. Disconnect it first to change its priority."
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
        lookup = dispatch_uid if dispatch_uid else make_id(receiver)
        return self._registry.remove(lookup, make_id(sender))

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
        Assigning while holding ``signal.lock`` is fine: the lock is re-entrant.
        """
        registry = self._registry
        read_at = registry.generation
        records = tuple(self._records)  # one C-level copy: a consistent snapshot
        return ReceiverList(
            (DjangoEntry(r, registry) for r in records),
            read_at,
            lambda: registry.generation,
            self._assign_receivers,
        )

    @receivers.setter
    def receivers(self, entries: Iterable[Any]) -> None:
        self._assign_receivers(entries)

    def _assign_receivers(self, entries: Iterable[Any]) -> None:
        registry = self._registry
        registry.replace(adopt(entries, registry, registry.on_dead))

    # -- which receivers ------------------------------------------------------------

    def _plan(self, sender: Any) -> Plan:
        """The plan a send to ``sender`` walks (empty while muted)."""
        if not self._custom_live_receivers:
            return self._registry.plan(sender)
        if self._registry.muted:
            return EMPTY_PLAN
        return Plan(self._records_via_live_receivers(sender), self._concurrent)

    def _which(self, sender: Any) -> tuple[Record, ...]:
        """The records a send to ``sender`` reaches, in call order, muting aside."""
        if self._custom_live_receivers:
            return self._records_via_live_receivers(sender)
        return self._registry.matching(sender)

    def _records_via_live_receivers(self, sender: Any) -> tuple[Record, ...]:
        """Honour a subclass's ``_live_receivers()``: keep our order, its selection."""
        sync_receivers, async_receivers = self._live_receivers(sender)
        chosen = {make_id(r) for r in (*sync_receivers, *async_receivers)}
        records = [r for r in self._registry.matching(sender) if make_id(r.deref()) in chosen]
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
                        on_commit=False,
                        on_dead=self._registry.on_dead,
                    )
                )
        return tuple(records)

    def _live_receivers(self, sender: Any) -> tuple[list[Receiver], list[Receiver]]:
        """Django's view: ``(sync_receivers, async_receivers)``, each in call order.

        Subclasses may override it, as with Django's ``Signal``, to filter the
        receivers of a send; eventbus then calls the receivers it returns in
        eventbus order.
        """
        sync_receivers: list[Receiver] = []
        async_receivers: list[Receiver] = []
        for record in self._registry.matching(sender):
            receiver = record.deref()
            if receiver is not None:
                (async_receivers if record.is_async else sync_receivers).append(receiver)
        return sync_receivers, async_receivers

    def has_listeners(self, sender: Any = None) -> bool:
        """Whether a send to ``sender`` reaches a receiver or a tap (mute aside).

        Taps are open subscriptions and running ``eventbus.testing`` captures:
        they see sends without being receivers.
        """
        if self._taps and self._registry.tapped(sender):
            return True
        if not self._records:
            return False
        if self._registry.muted or self._custom_live_receivers:
            return bool(self._which(sender))
        return bool(self._registry.plan(sender).records)

    def receivers_for(self, sender: Any = None) -> list[ReceiverInfo]:
        """Describe the receivers ``send(sender)`` calls, in the order it calls them.

        Each ``ReceiverInfo`` gives the receiver, its priority, whether it is
        async, weakly held or ``once``, its ``dispatch_uid`` and sender filter,
        and where it is defined. Receivers are listed even while the signal is
        ``muted()``.
        """
        return _describe(self._which(sender))

    def describe_receivers(self) -> list[ReceiverInfo]:
        """Describe every connected receiver, whatever its sender filter, in call order.

        ``receivers_for(sender)`` answers "what does this send call"; this lists
        all connections (for tools such as ``manage.py eventbus``), including
        while the signal is ``muted()``.
        """
        return _describe(self._registry.snapshot())

    # -- sending ------------------------------------------------------------------
    #
    # Each send method starts with the same preamble (deliver to taps; no
    # receivers: done; the cached plan), written out rather than called, because
    # a call would double the cost of a send to no receiver. Plans of plain
    # receivers of one kind get a tight loop here; every other plan is walked by
    # ``_walkers``.

    def send(self, sender: Any, **named: Any) -> list[tuple[Receiver, Any]]:
        """Call every receiver for ``sender`` in order; return ``[(receiver, response)]``.

        Sync receivers run on this thread; async ones in one event-loop entry
        (see the class docstring). The first exception a receiver raises
        propagates unchanged and the receivers after it do not run.

        Raises:
            AsyncSendError: Called on a thread that runs an event loop while an
                async receiver would be called; ``await asend(...)`` instead.
        """
        tracer = _trace.tracer
        if tracer is not None and (scope := tracer.begin(self, sender, named, "send")):
            return self._send_traced(scope, sender, named, robust=False)
        if self._taps:
            self._publish(sender, named, from_sync=True)
        if not self._records:
            return []
        plan = self.sender_receivers_cache.get(id(sender)) or self._plan(sender)
        derefs = plan.sync_derefs
        if derefs is not None:
            # EAFP: calling a collected receiver (None) raises TypeError, which
            # costs nothing until it happens; a None check per receiver would.
            responses = []
            receiver = None
            try:
                for deref in derefs:
                    receiver = deref()
                    responses.append((receiver, receiver(signal=self, sender=sender, **named)))
            except TypeError:
                if receiver is not None:
                    raise  # the receiver's own TypeError, unchanged
                for deref in derefs[len(responses) + 1 :]:
                    receiver = deref()
                    if receiver is not None:
                        responses.append((receiver, receiver(signal=self, sender=sender, **named)))
            return responses
        receivers = plan.sync_receivers
        if receivers is not None:
            responses = []
            for receiver in receivers:
                responses.append((receiver, receiver(signal=self, sender=sender, **named)))
            return responses
        return send_steps(Call(self, sender, named, False, self._registry.claim), plan)

    def send_robust(self, sender: Any, **named: Any) -> list[tuple[Receiver, Any]]:
        """Like ``send()``, but call every receiver even when some raise.

        A receiver's ``Exception`` becomes its response in the result list
        and is logged to the ``django.dispatch`` logger with ``exc_info``, with
        Django's message. ``BaseException`` (``KeyboardInterrupt``, cancellation)
        still propagates. Never raises for a receiver's problem.
        """
        tracer = _trace.tracer
        if tracer is not None and (scope := tracer.begin(self, sender, named, "send_robust")):
            return self._send_traced(scope, sender, named, robust=True)
        if self._taps:
            self._publish(sender, named, from_sync=True)
        if not self._records:
            return []
        plan = self.sender_receivers_cache.get(id(sender)) or self._plan(sender)
        receivers: Iterable[Receiver] | None = plan.sync_receivers
        if receivers is None and plan.sync_derefs is not None:
            # Resolved up front, as Django's _live_receivers() does.
            receivers = [r for deref in plan.sync_derefs if (r := deref()) is not None]
        if receivers is None:
            return send_steps(Call(self, sender, named, True, self._registry.claim), plan)
        responses = []
        for receiver in receivers:
            try:
                response = receiver(signal=self, sender=sender, **named)
            except Exception as err:
                report_failure(receiver, err)
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
        tracer = _trace.tracer
        if tracer is not None and (scope := tracer.begin(self, sender, named, "asend")):
            return await self._asend_traced(scope, sender, named, robust=False)
        if self._taps and (pending := self._publish(sender, named, from_sync=False)):
            for awaitable in pending:
                await awaitable
        if not self._records:
            return []
        plan = self.sender_receivers_cache.get(id(sender)) or self._plan(sender)
        derefs = plan.async_derefs
        if derefs is not None:
            responses = []
            for deref in derefs:
                receiver = deref()
                if receiver is not None:
                    responses.append(
                        (receiver, await receiver(signal=self, sender=sender, **named))
                    )
            return responses
        if not plan.records:
            return []
        return await asend_steps(Call(self, sender, named, False, self._registry.claim), plan)

    async def asend_robust(self, sender: Any, **named: Any) -> list[tuple[Receiver, Any]]:
        """Like ``asend()``, but call every receiver; failures are returned and logged."""
        tracer = _trace.tracer
        if tracer is not None and (scope := tracer.begin(self, sender, named, "asend_robust")):
            return await self._asend_traced(scope, sender, named, robust=True)
        if self._taps and (pending := self._publish(sender, named, from_sync=False)):
            for awaitable in pending:
                await awaitable
        if not self._records:
            return []
        plan = self.sender_receivers_cache.get(id(sender)) or self._plan(sender)
        if not plan.records:
            return []
        return await asend_steps(Call(self, sender, named, True, self._registry.claim), plan)

    def _send_traced(
        self, scope: SendScope, sender: Any, named: dict[str, Any], *, robust: bool
    ) -> list[tuple[Receiver, Any]]:
        """``send()``/``send_robust()`` with a tracer's scope around all of it (see ``_trace``).

        The same steps as the untraced send, taps included (an event published
        to the wire carries the send's trace context), walked with a
        :class:`~eventbus._trace.TracedCall` rather than the tight loops.
        """
        try:
            if self._taps:
                self._publish(sender, named, from_sync=True)
            plan = self._plan(sender) if self._records else EMPTY_PLAN
            call = TracedCall(self, sender, named, robust, self._registry.claim, scope)
            responses = send_steps(call, plan)
        except BaseException as exc:
            scope.end(exc)
            raise
        scope.end(None)
        return responses

    async def _asend_traced(
        self, scope: SendScope, sender: Any, named: dict[str, Any], *, robust: bool
    ) -> list[tuple[Receiver, Any]]:
        """``asend()``/``asend_robust()`` with a tracer's scope around all of it."""
        try:
            if self._taps and (pending := self._publish(sender, named, from_sync=False)):
                for awaitable in pending:
                    await awaitable
            plan = self._plan(sender) if self._records else EMPTY_PLAN
            call = TracedCall(self, sender, named, robust, self._registry.claim, scope)
            responses = await asend_steps(call, plan)
        except BaseException as exc:
            await scope.aend(exc)
            raise
        await scope.aend(None)
        return responses

    def _publish(
        self, sender: Any, named: dict[str, Any], *, from_sync: bool
    ) -> list[Awaitable[None]]:
        """Deliver one send to the matching local taps (called only when some are registered).

        Returns what taps asked an async send to await before its receivers run.
        """
        pending: list[Awaitable[None]] = []
        if self._registry.muted:
            return pending
        if from_sync and self._records and self._plan(sender).has_async and in_event_loop_thread():
            return pending  # send() is about to refuse with AsyncSendError: nothing was sent
        event = None
        key = id(sender)
        for tap in self._registry.live_taps():
            if not tap.remote and (tap.sender_key is None or tap.sender_key == key):
                if event is None:
                    event = make_event(self, sender, named)
                awaitable = tap.deliver(event, from_sync)
                if awaitable is not None:
                    pending.append(awaitable)
        return pending

    async def _emit_remote(
        self, sender: Any, named: dict[str, Any], origin: Mapping[str, str] | None = None
    ) -> list[tuple[Receiver, Any]]:
        """Re-emit an event that arrived over the wire: to remote taps and broadcast receivers.

        For the process's node. Never reaches local receivers or local taps, and
        never publishes again. Broadcast receivers run as in ``asend_robust()``
        (async ones awaited on the calling task, sync ones in a thread hop, in
        priority order); their failures are logged, never raised. Nothing runs
        while the signal is ``muted()``. ``origin`` is the trace context the
        event carried: a tracer makes the re-emission part of the sender's trace.
        """
        tracer = _trace.tracer
        scope = None if tracer is None else tracer.begin(self, sender, named, "broadcast", origin)
        if scope is None:
            plan = self._emit_remote_plan(sender, named)
            if not plan.records:
                return []
            return await asend_steps(Call(self, sender, named, True, self._registry.claim), plan)
        try:
            plan = self._emit_remote_plan(sender, named)
            call = TracedCall(self, sender, named, True, self._registry.claim, scope)
            responses = await asend_steps(call, plan)
        except BaseException as exc:
            await scope.aend(exc)
            raise
        await scope.aend(None)
        return responses

    def _emit_remote_sync(
        self, sender: Any, named: dict[str, Any], origin: Mapping[str, str] | None = None
    ) -> list[tuple[Receiver, Any]]:
        """``_emit_remote()`` from sync code, for broadcast receivers that are all sync.

        Calls them on this thread, in priority order, robustly; never on a thread
        that runs an event loop.
        """
        tracer = _trace.tracer
        scope = None if tracer is None else tracer.begin(self, sender, named, "broadcast", origin)
        if scope is None:
            plan = self._emit_remote_plan(sender, named)
            if not plan.records:
                return []
            return send_steps(Call(self, sender, named, True, self._registry.claim), plan)
        try:
            plan = self._emit_remote_plan(sender, named)
            call = TracedCall(self, sender, named, True, self._registry.claim, scope)
            responses = send_steps(call, plan)
        except BaseException as exc:
            scope.end(exc)
            raise
        scope.end(None)
        return responses

    def _emit_remote_plan(self, sender: Any, named: dict[str, Any]) -> Plan:
        """Deliver a wire event to the remote taps; the broadcast plan it then walks (empty
        while the signal is muted)."""
        if not self._emit_remote_taps(sender, named):
            return EMPTY_PLAN
        return self._broadcast_plan(sender)

    def _has_sync_broadcast(self) -> bool:
        """Whether some sync receiver of this signal has ``delivery="broadcast"`` (any sender)."""
        generation = self._registry.generation
        cached = self._sync_broadcast
        if cached[0] != generation:
            found = any(r.broadcast and not r.is_async for r in self._registry.snapshot())
            cached = self._sync_broadcast = (generation, found)
        return cached[1]

    def _has_remote_taps(self) -> bool:
        """Whether a remote subscription is open on this signal."""
        return any(tap.remote for tap in self._registry.live_taps())

    def _emit_remote_taps(self, sender: Any, named: dict[str, Any]) -> bool:
        """Deliver a wire event to the remote taps; ``False`` while the signal is muted."""
        if self._registry.muted:
            return False
        event = None
        key = id(sender)
        for tap in self._registry.live_taps():
            if tap.remote and (tap.sender_key is None or tap.sender_key == key):
                if event is None:
                    event = make_event(self, sender, named)
                tap.deliver(event, False)
        return True

    def _broadcast_plan(self, sender: Any) -> Plan:
        """The broadcast receivers an event for ``sender`` reaches, cached until a change."""
        key = id(sender)
        generation = self._registry.generation
        cached = self._remote_plans.get(key)
        if cached is not None and cached[0] == generation and not self._custom_live_receivers:
            return cached[1]
        records = tuple(r for r in self._which(sender) if r.broadcast)
        plan = Plan(records, self._concurrent)
        if len(self._remote_plans) >= 64:
            self._remote_plans.clear()
        self._remote_plans[key] = (generation, plan)
        return plan

    # -- taps and subscriptions -------------------------------------------------------

    def subscribe(
        self,
        sender: Any = None,
        *,
        maxsize: int = DEFAULT_MAXSIZE,
        overflow: Overflow | str = Overflow.DROP_OLDEST,
        remote: bool = False,
    ) -> Subscription:
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

        With ``remote=True`` (remote signals only) it gets the sends of every
        process of the project, this one's included, as they arrive over the
        wire after their transactions committed, instead of this process's.

        Raises:
            TypeError, ValueError: ``maxsize`` is not a positive int,
                ``overflow`` is not ``"drop_oldest"`` or ``"close"``, or
                ``remote=True`` on a signal that is not remote.
        """
        if type(remote) is not bool:
            raise TypeError(f"remote must be True or False, not {remote!r}, in subscribe().")
        if remote:
            self._check_broadcast(sender)
        return Subscription(
            self,
            sender,
            maxsize=maxsize,
            overflow=overflow,
            attach=self._registry.add_tap,
            detach=self._registry.remove_tap,
            remote=remote,
        )

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """The open subscriptions (local and remote), oldest first."""
        return tuple(t for t in self._registry.live_taps() if isinstance(t, Subscription))

    def _add_tap(self, tap: Tap) -> None:
        """Let ``tap`` see every send and count as a listener (held weakly; eventbus's tools)."""
        self._registry.add_tap(tap)

    def _remove_tap(self, tap: Tap) -> None:
        self._registry.remove_tap(tap)

    # -- scoped helpers -------------------------------------------------------------

    @contextmanager
    def muted(self) -> Iterator[None]:
        """Silence the signal inside the block: no receiver runs, sends return ``[]``.

        Connections are untouched, so priorities and order are intact afterwards.
        Muting is per signal, not per thread: it applies to every thread and
        task while the block is open. Blocks nest.
        """
        self._registry.mute(+1)
        try:
            yield
        finally:
            self._registry.mute(-1)

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
        delivery: str = "local",
    ) -> Iterator[F]:
        """Connect ``receiver`` for the duration of the block, then disconnect it.

        Takes the arguments of ``connect()``, but holds the receiver strongly
        by default (``weak=False``) so an inline lambda or closure stays
        connected. If the receiver was already connected, the block changes
        nothing and leaves that connection in place.
        """
        record = self._connect(
            receiver,
            sender,
            weak,
            dispatch_uid,
            priority,
            once,
            on_commit,
            stacklevel=4,
            delivery=delivery,
        )
        try:
            yield receiver
        finally:
            if record is not None:
                self._registry.discard(record)


# Django's lazy-reference check (``manage.py check``: ``signals.E001``, "... was
# connected to the 'post_init' signal with a lazy reference to the sender ...")
# recognises a pending connection by the module and name of its function. A
# ``ModelSignal`` built on this class (Django's own, when its base is swapped for
# eventbus's) schedules ``Signal.connect``: let the check recognise it as Django's.
Signal.connect.__module__ = django.dispatch.dispatcher.__name__


def _describe(records: Iterable[Record]) -> list[ReceiverInfo]:
    return [info(r, receiver) for r in records if (receiver := r.deref()) is not None]


def receiver(
    signal: django.dispatch.Signal | list[Any] | tuple[Any, ...],
    *,
    sender: object | None = None,
    weak: bool = True,
    dispatch_uid: Hashable | None = None,
    priority: int = 0,
    once: bool = False,
    on_commit: bool | str = False,
    delivery: str = "local",
) -> Callable[[F], F]:
    """Decorator that connects the decorated function to one or more signals.

    Takes everything ``Signal.connect()`` takes (``sender``, ``weak``,
    ``dispatch_uid``, ``priority``, ``once``, ``on_commit``, ``delivery``) and
    returns the function unchanged, so decorators can be stacked::

        @receiver(order_placed, priority=100)
        def reserve_stock(sender, order, **kwargs): ...


        @receiver([post_save, post_delete], sender=Order)
        async def invalidate(sender, instance, **kwargs): ...

    Plain ``django.dispatch.Signal`` objects in the list are connected too;
    ``priority``, ``once``, ``on_commit`` and ``delivery`` need an ``eventbus.Signal``.

    Raises:
        TypeError: ``signal`` is not a signal or a non-empty list or tuple of
            signals; an option needs an ``eventbus.Signal``; or the decorated
            function is refused as by ``connect()``. Every check runs before
            anything is connected, so a failing call connects nothing.
    """
    signals = signals_of(signal, django.dispatch.Signal)
    for each in signals:
        if not isinstance(each, Signal) and (
            priority != 0 or once or on_commit is not False or delivery != "local"
        ):
            raise TypeError(
                f"{each!r} is a django.dispatch.Signal, which has no priority, once, "
                "on_commit or delivery option; make it an eventbus.Signal, or drop those "
                "arguments."
            )

    def decorator(func: F) -> F:
        for each in signals:
            check_receiver(func, each)
            check_options(
                each,
                func,
                dispatch_uid=dispatch_uid,
                priority=priority,
                once=once,
                on_commit=on_commit,
                delivery=delivery,
            )
            if delivery == "broadcast" and isinstance(each, Signal):
                each._check_broadcast(sender)
        if weak:
            check_weakly_referenceable(func)
        for each in signals:
            if isinstance(each, Signal):
                each._connect(
                    func,
                    sender,
                    weak,
                    dispatch_uid,
                    priority,
                    once,
                    on_commit,
                    stacklevel=3,
                    delivery=delivery,
                )
            else:
                each.connect(func, sender=sender, weak=weak, dispatch_uid=dispatch_uid)
        return func

    return decorator
