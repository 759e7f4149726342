"""Tracing: every send and every receiver run, as records, log lines and OpenTelemetry spans.

Tracing is **off by default and free while off**: a send then tests one
attribute and runs exactly as untraced. It is on, for the whole process, while

* ``EVENTBUS["TRACING"]`` turns on a consumer (``LOG``, ``OPENTELEMETRY``,
  ``SLOW_RECEIVER``; see the *Tracing* guide), or
* a listener is registered with :func:`add_listener`;

and, for the sends made inside it only (its context: the thread or task, and
the thread hops and event-loop entries they make), while a :func:`trace`
block is open.

What is reported:

* A :class:`RunRecord` when a receiver run ends, on the thread and in the
  context where the receiver ran, whether it returned or raised. An
  after-commit receiver registered for the commit appears in its send's
  ``runs`` with ``outcome="deferred"``; when it runs at the commit, a
  :class:`RunRecord` with ``delivery="after-commit"`` follows (never, if the
  transaction rolls back).
* A :class:`SendRecord` when a send ends, with its runs in the order they
  started. A send made inside a receiver names that run as its ``parent``.

Listeners are called with each record where it is made, in that order (a run's
record before its send's). In async code (an async receiver's run, the end of
``asend()``: the record's ``in_async_code`` is true) a listener may return an
awaitable, which is awaited there, before the send goes on; in sync code it
must return ``None`` (a sync receiver that ``send()`` ran on an event loop's
thread is reported from sync code, though ``event_loop`` is set). Nothing a listener does
is traced (its own sends included), and a listener that raises is logged to the
``eventbus.tracing`` logger, never propagated into the send.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from . import _trace
from ._hops import _sniffio_thread
from ._identity import Receiver, describe, describe_sender, signal_name

if TYPE_CHECKING:
    from ._otel import Spans
    from ._records import Record as Connection
    from .conf import TracingSettings

__all__ = [
    "Delivery",
    "Listener",
    "Outcome",
    "Record",
    "RunRecord",
    "SendRecord",
    "Trace",
    "add_listener",
    "describe_sender",
    "remove_listener",
    "trace",
]

logger = logging.getLogger("eventbus.tracing")

#: How a receiver run was delivered: in the send (``"local"``), at the commit of
#: the send's transaction (``"after-commit"``), or from the wire (``"broadcast"``).
#: ``"queue"`` and ``"task"`` are reserved for durable deliveries, not built yet.
Delivery = Literal["local", "after-commit", "broadcast", "queue", "task"]
#: How a run ended: the receiver ``"returned"`` or ``"raised"``, or it was
#: ``"deferred"`` to the commit (not run yet; its run is reported when it happens).
Outcome = Literal["returned", "raised", "deferred"]


@dataclasses.dataclass(frozen=True, slots=True)
class RunRecord:
    """One receiver run (or an after-commit receiver deferred to the commit).

    Attributes:
        id: Unique in the process (an increasing number).
        send_id: The :class:`SendRecord` it belongs to.
        signal: The signal object.
        sender: The send's sender (the object itself).
        kwargs: The send's keyword arguments (the dict itself: copy what you keep).
        receiver: The receiver (the callable itself).
        priority: Its priority.
        is_async: Whether it is a coroutine function (awaited).
        delivery: See :data:`Delivery`.
        thread: The name of the thread it ran on.
        event_loop: ``"asyncio"`` or ``"trio"`` when that thread was running an
            event loop (an async receiver, or ``send()`` called from async
            code), else ``None``.
        started_at: When it started (``time.time()``).
        duration: How long it ran, in seconds (``0.0`` when deferred).
        outcome: See :data:`Outcome`.
        exception: What it raised (``outcome="raised"``), or the refusal a
            deferral met (manual transaction mode); else ``None``.
        in_async_code: Whether the record is reported from async code (an async
            receiver's run), where a listener may return an awaitable.
    """

    id: int
    send_id: int
    signal: Any
    sender: Any
    kwargs: Mapping[str, Any]
    receiver: Receiver
    priority: int
    is_async: bool
    delivery: Delivery
    thread: str
    event_loop: str | None
    started_at: float
    duration: float
    outcome: Outcome
    exception: BaseException | None
    in_async_code: bool = False

    @property
    def signal_name(self) -> str:
        """The signal's ``name``, or its ``repr()`` when it has none."""
        return signal_name(self.signal)

    @property
    def receiver_name(self) -> str:
        """The receiver's dotted name (``module.qualname``)."""
        return describe(self.receiver)


@dataclasses.dataclass(frozen=True, slots=True)
class SendRecord:
    """One send, from its start to its end.

    Attributes:
        id: Unique in the process (an increasing number, shared with runs).
        parent: The :class:`RunRecord` id of the receiver run this send was
            made in, else ``None``.
        signal: The signal object.
        sender: The sender (the object itself).
        kwargs: The keyword arguments (the dict itself: copy what you keep).
        method: ``"send"``, ``"send_robust"``, ``"asend"``, ``"asend_robust"``,
            or ``"broadcast"``: an event from the wire re-emitted to this
            process's broadcast receivers and remote subscriptions.
        thread: The name of the thread it was made on.
        event_loop: ``"asyncio"`` or ``"trio"`` when made on an event loop's thread.
        started_at: When it started (``time.time()``).
        duration: How long it took, in seconds.
        runs: Its receivers' runs in the order they started (deferred ones in
            place), as they stood when the send ended.
        exception: What the send raised, else ``None``. Robust sends never
            raise for their receivers: see each run's ``exception``.
        in_async_code: Whether the record is reported from async code (the end of
            ``asend()``), where a listener may return an awaitable.
    """

    id: int
    parent: int | None
    signal: Any
    sender: Any
    kwargs: Mapping[str, Any]
    method: str
    thread: str
    event_loop: str | None
    started_at: float
    duration: float
    runs: tuple[RunRecord, ...]
    exception: BaseException | None
    in_async_code: bool = False

    @property
    def signal_name(self) -> str:
        """The signal's ``name``, or its ``repr()`` when it has none."""
        return signal_name(self.signal)


#: What a listener is given: a send's record or a run's.
Record = SendRecord | RunRecord
#: A callable given each record where it is made (see the module docstring).
Listener = Callable[[Record], Awaitable[Any] | None]


# -- the state: who consumes records ---------------------------------------------------

_ids = itertools.count(1)
#: The run a send is made in (for ``parent``), in the current context.
_current_run: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "eventbus_tracing_run", default=None
)
#: Inside a listener: nothing is traced.
_quiet: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "eventbus_tracing_quiet", default=False
)
#: The listeners of the open ``trace()`` blocks of the current context, innermost last.
_blocks: contextvars.ContextVar[tuple[Listener, ...]] = contextvars.ContextVar(
    "eventbus_tracing_blocks", default=()
)


class _State:
    """The process-wide consumers; the tracer is installed while any consumer exists."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.listeners: tuple[Listener, ...] = ()
        self.open_blocks = 0
        self.log = False
        self.slow: float | None = None
        self.spans: Spans | None = None

    @property
    def global_consumers(self) -> bool:
        return bool(self.listeners) or self.log or self.slow is not None or self.spans is not None

    def refresh(self) -> None:
        """Install the tracer if anything consumes records, else uninstall it (under the lock)."""
        wanted = self.global_consumers or self.open_blocks > 0
        _trace.install(_tracer if wanted else None)


_state = _State()


def add_listener(listener: Listener) -> None:
    """Call ``listener`` with every record of every send of the process, from now on.

    Turns tracing on for the whole process while it is registered. Adding the
    same listener twice registers it once.

    Raises:
        TypeError: ``listener`` is not callable.
    """
    _check_listener(listener)
    with _state.lock:
        if listener not in _state.listeners:
            _state.listeners = (*_state.listeners, listener)
        _state.refresh()


def _check_listener(listener: object) -> None:
    if not callable(listener):
        raise TypeError(
            f"A tracing listener must be callable, not {listener!r}: pass a function that "
            "takes one record."
        )


def remove_listener(listener: Listener) -> bool:
    """Stop calling ``listener``; return whether it was registered."""
    with _state.lock:
        found = listener in _state.listeners
        _state.listeners = tuple(each for each in _state.listeners if each != listener)
        _state.refresh()
    return found


class Trace:
    """What a :func:`trace` block saw: every record, in the order they were made.

    Records made after the block ended (an after-commit receiver that runs at a
    later commit) are still added.
    """

    def __init__(self) -> None:
        self.records: list[Record] = []

    def __call__(self, record: Record) -> None:
        self.records.append(record)

    @property
    def sends(self) -> list[SendRecord]:
        """The sends, in the order they ended."""
        return [r for r in self.records if isinstance(r, SendRecord)]

    @property
    def runs(self) -> list[RunRecord]:
        """The receiver runs (and deferrals), in the order they were reported."""
        return [r for r in self.records if isinstance(r, RunRecord)]

    def __repr__(self) -> str:
        return f"<Trace: {len(self.sends)} send(s), {len(self.runs)} run(s)>"


@contextlib.contextmanager
def trace(listener: Listener | None = None) -> Iterator[Trace]:
    """Trace the sends made inside the block, and only those: ``with trace() as seen: ...``.

    The block's context is the current thread or task and whatever it hands its
    context to (``sync_to_async``/``async_to_sync`` hops, ``asend()``'s
    receivers); sends made elsewhere meanwhile (another request) are not
    traced for it. Blocks nest: an inner block's records reach the outer
    block's listeners too. ``listener``, when given, is called with each record
    as well (see the module docstring).

    Raises:
        TypeError: ``listener`` is given and not callable.
    """
    if listener is not None:
        _check_listener(listener)
    seen = Trace()
    listeners: tuple[Listener, ...] = (seen,) if listener is None else (seen, listener)
    token = _blocks.set((*_blocks.get(), *listeners))
    with _state.lock:
        _state.open_blocks += 1
        _state.refresh()
    try:
        yield seen
    finally:
        _blocks.reset(token)
        with _state.lock:
            _state.open_blocks -= 1
            _state.refresh()


def configure(settings: TracingSettings) -> None:
    """Apply ``EVENTBUS["TRACING"]``: the log, the slow-receiver threshold, OpenTelemetry.

    Called by the app at start-up; calling it again replaces the previous
    configuration (listeners and ``trace()`` blocks are not touched).

    Raises:
        ImproperlyConfigured: ``OPENTELEMETRY`` is on but ``opentelemetry-api``
            is not installed.
    """
    spans = None
    if settings.opentelemetry:
        from ._otel import Spans  # noqa: PLC0415 - only with the optional extra

        spans = Spans()
    with _state.lock:
        _state.log = settings.log
        _state.slow = settings.slow_receiver
        _state.spans = spans
        _state.refresh()


# -- the tracer ------------------------------------------------------------------------


def _event_loop() -> str | None:
    """``"asyncio"``/``"trio"`` when this thread runs that event loop, else ``None``."""
    if asyncio._get_running_loop() is not None:
        return "asyncio"
    name: str | None = None if _sniffio_thread is None else _sniffio_thread.name
    return name


def _delivery(record: Connection, broadcast: bool) -> Delivery:
    if broadcast or record.broadcast:
        return "broadcast"
    return "after-commit" if record.on_commit is not False else "local"


class _Tracer:
    """The tracer ``eventbus.tracing`` installs into the core (see ``eventbus._trace``)."""

    def begin(
        self,
        signal: Any,
        sender: Any,
        named: dict[str, Any],
        method: str,
        origin: Mapping[str, str] | None = None,
    ) -> _Send | None:
        if _quiet.get():
            return None
        blocks = _blocks.get()
        if not blocks and not _state.global_consumers:
            return None
        return _Send(signal, sender, named, method, origin, (*_state.listeners, *blocks))

    def carrier(self) -> dict[str, str] | None:
        spans = _state.spans
        return None if spans is None else spans.carrier()


_tracer = _Tracer()


class _Send:
    """The scope of one traced send (see ``eventbus._trace.SendScope``)."""

    __slots__ = (
        "_spans",
        "_start",
        "event_loop",
        "id",
        "listeners",
        "method",
        "named",
        "otel",
        "parent",
        "runs",
        "sender",
        "signal",
        "started_at",
        "thread",
    )

    def __init__(
        self,
        signal: Any,
        sender: Any,
        named: dict[str, Any],
        method: str,
        origin: Mapping[str, str] | None,
        listeners: tuple[Listener, ...],
    ) -> None:
        self.id = next(_ids)
        self.parent = _current_run.get()
        self.signal = signal
        self.sender = sender
        self.named = named
        self.method = method
        self.listeners = listeners
        self.thread = threading.current_thread().name
        self.event_loop = _event_loop()
        self.runs: list[tuple[float, RunRecord]] = []
        self._spans = _state.spans
        self.otel = None if self._spans is None else self._spans.start_send(self, origin)
        self.started_at = time.time()
        self._start = time.perf_counter()

    # -- runs

    def run(self, record: Connection, receiver: Receiver) -> _Run:
        return _Run(self, record, receiver)

    def deferred(self, record: Connection, receiver: Receiver, response: Any) -> None:
        run = RunRecord(
            id=next(_ids),
            send_id=self.id,
            signal=self.signal,
            sender=self.sender,
            kwargs=self.named,
            receiver=receiver,
            priority=record.priority,
            is_async=record.is_async,
            delivery="after-commit",
            thread=threading.current_thread().name,
            event_loop=_event_loop(),
            started_at=time.time(),
            duration=0.0,
            outcome="deferred",
            exception=response if isinstance(response, BaseException) else None,
        )
        self.runs.append((time.perf_counter(), run))

    # -- the end

    def _record(self, error: BaseException | None, in_async_code: bool) -> SendRecord:
        duration = time.perf_counter() - self._start
        if self.otel is not None and self._spans is not None:
            self._spans.end(self.otel, error, runs=len(self.runs))
        runs = tuple(run for _, run in sorted(self.runs, key=lambda item: item[0]))
        return SendRecord(
            id=self.id,
            parent=self.parent,
            signal=self.signal,
            sender=self.sender,
            kwargs=self.named,
            method=self.method,
            thread=self.thread,
            event_loop=self.event_loop,
            started_at=self.started_at,
            duration=duration,
            runs=runs,
            exception=error,
            in_async_code=in_async_code,
        )

    def end(self, error: BaseException | None) -> None:
        record = self._record(error, in_async_code=False)
        if _state.log:
            _log_send(record)
        _notify(self.listeners, record)

    async def aend(self, error: BaseException | None) -> None:
        record = self._record(error, in_async_code=True)
        if _state.log:
            _log_send(record)
        await _anotify(self.listeners, record)


class _Run:
    """The scope of one traced receiver run (see ``eventbus._trace.RunScope``)."""

    __slots__ = ("_start", "_token", "id", "otel", "receiver", "record", "send", "started_at")

    def __init__(self, send: _Send, record: Connection, receiver: Receiver) -> None:
        self.id = next(_ids)
        self.send = send
        self.record = record
        self.receiver = receiver
        spans = send._spans
        self.otel = None if spans is None else spans.start_run(send, self)
        self._token = _current_run.set(self.id)
        self.started_at = time.time()
        self._start = time.perf_counter()

    @property
    def delivery(self) -> Delivery:
        return _delivery(self.record, self.send.method == "broadcast")

    def _record(self, error: BaseException | None, in_async_code: bool) -> RunRecord:
        duration = time.perf_counter() - self._start
        with contextlib.suppress(ValueError):  # ended in another context: nothing to restore
            _current_run.reset(self._token)
        send = self.send
        if self.otel is not None and send._spans is not None:
            send._spans.end(self.otel, error)
        run = RunRecord(
            id=self.id,
            send_id=send.id,
            signal=send.signal,
            sender=send.sender,
            kwargs=send.named,
            receiver=self.receiver,
            priority=self.record.priority,
            is_async=self.record.is_async,
            delivery=self.delivery,
            thread=threading.current_thread().name,
            event_loop=_event_loop(),
            started_at=self.started_at,
            duration=duration,
            outcome="returned" if error is None else "raised",
            exception=error,
            in_async_code=in_async_code,
        )
        send.runs.append((self._start, run))
        slow = _state.slow
        if slow is not None and duration > slow:
            _warn_slow(run, slow)
        if _state.log:
            _log_run(run)
        return run

    def end(self, error: BaseException | None) -> None:
        _notify(self.send.listeners, self._record(error, in_async_code=False))

    async def aend(self, error: BaseException | None) -> None:
        await _anotify(self.send.listeners, self._record(error, in_async_code=True))


def _notify(listeners: tuple[Listener, ...], record: Record) -> None:
    """Call each listener from sync code, untraced; an awaitable returned is refused."""
    if not listeners:
        return
    token = _quiet.set(True)
    try:
        for listener in listeners:
            try:
                result = listener(record)
            except Exception:
                _listener_failed(listener)
                continue
            if result is not None:
                close = getattr(result, "close", None)
                if callable(close):
                    close()
                logger.error(
                    "The tracing listener %s returned %r from sync code, where nothing can "
                    "await it; it was dropped. Return an awaitable only for a record whose "
                    "in_async_code is true.",
                    describe(listener),
                    result,
                )
    finally:
        _quiet.reset(token)


async def _anotify(listeners: tuple[Listener, ...], record: Record) -> None:
    """Call each listener from async code, untraced, awaiting what it returns."""
    if not listeners:
        return
    token = _quiet.set(True)
    try:
        for listener in listeners:
            try:
                result = listener(record)
                if result is not None:
                    await result
            except Exception:
                _listener_failed(listener)
    finally:
        _quiet.reset(token)


def _listener_failed(listener: Listener) -> None:
    """Log the exception a listener raised (called in its ``except`` block)."""
    logger.exception("The tracing listener %s raised; the send goes on.", describe(listener))


def _log_run(run: RunRecord) -> None:
    where = run.thread if run.event_loop is None else f"{run.event_loop} loop, {run.thread}"
    logger.debug(
        "%s -> %s (priority %d, %s, %s) on %s: %s in %.3f ms",
        run.signal_name,
        run.receiver_name,
        run.priority,
        "async" if run.is_async else "sync",
        run.delivery,
        where,
        run.outcome if run.exception is None else f"{run.outcome} {run.exception!r}",
        run.duration * 1000,
    )


def _log_send(send: SendRecord) -> None:
    where = send.thread if send.event_loop is None else f"{send.event_loop} loop, {send.thread}"
    logger.debug(
        "%s.%s(sender=%s): %d receiver(s) on %s in %.3f ms%s",
        send.signal_name,
        send.method,
        describe_sender(send.sender),
        len(send.runs),
        where,
        send.duration * 1000,
        "" if send.exception is None else f", raised {send.exception!r}",
    )


def _warn_slow(run: RunRecord, threshold: float) -> None:
    logger.warning(
        'Slow receiver: %s of %s took %.1f ms (EVENTBUS["TRACING"]["SLOW_RECEIVER"] is %.1f ms).',
        run.receiver_name,
        run.signal_name,
        run.duration * 1000,
        threshold * 1000,
    )
