"""How receivers are called: the send plan, thread hops and event-loop entries.

A ``Plan`` is the precomputed answer to "what does a send to this sender
call, in what order, and where does it change between sync and async code".
The sync and async entry points of ``eventbus.Signal`` both walk the same
plan; they differ only in how they call each run of receivers:

* ``send()`` calls sync receivers inline and enters an event loop once per
  contiguous run of async receivers (``async_to_sync``).
* ``asend()`` awaits async receivers inline and leaves the event loop once per
  contiguous run of sync receivers (``sync_to_async(thread_sensitive=True)``
  under asyncio, ``anyio.to_thread.run_sync`` under trio).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
import operator
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread
from asgiref.sync import async_to_sync, sync_to_async

from . import _commit
from ._exceptions import AsyncSendError
from ._receivers import Receiver, Record

_sniffio_thread: Any
try:  # trio depends on sniffio; without it, trio cannot be running.
    from sniffio import thread_local as _sniffio_thread
except ImportError:  # pragma: no cover - sniffio ships with trio and the test extras
    _sniffio_thread = None

if TYPE_CHECKING:
    from ._signal import Signal

T = TypeVar("T")
Responses = list[tuple[Receiver, Any]]


SYNC, ASYNC, TIER, DEFER = 0, 1, 2, 3
Step = tuple[int, tuple[Record, ...]]


class Plan:
    """The receivers one sender reaches, in call order, grouped for dispatch.

    Attributes:
        records: every live record, in the order receivers are called.
        fast: when every receiver is a plain sync one (no ``once``, no
            ``on_commit``) and some are weakly held, their dereferencing
            callables; the send loop then needs nothing else.
        strong: the same case when every receiver is strongly held: the
            receivers themselves, so the send loop does not even dereference.
        async_fast: when every receiver is a plain async one, their
            dereferencing callables, for the ``asend`` loop.
        steps: ``(SYNC | ASYNC, records)`` runs of consecutive receivers of one
            kind: one thread hop (``asend``) or loop entry (``send``) each.
        tier_steps: the same walk for concurrent signals (empty for others): a ``TIER`` step is a
            group of equal-priority receivers, with at least one async, that
            run concurrently; other receivers form ``SYNC``/``ASYNC`` runs.
        has_async: whether any receiver is async.
    """

    __slots__ = ("async_fast", "fast", "has_async", "records", "steps", "strong", "tier_steps")

    def __init__(self, records: tuple[Record, ...], concurrent: bool = False) -> None:
        self.records = records
        self.has_async = any(r.is_async for r in records)
        # "Plain": no once, no on_commit; such plans get a tight send loop.
        plain = all(r.extra is None or (r.once is None and r.on_commit is False) for r in records)
        sync_only = plain and not self.has_async
        async_only = plain and bool(records) and all(r.is_async for r in records)
        # Holding receivers strongly here is only allowed when their records do
        # too (weak=False): a plan must never keep a weak receiver alive.
        all_strong = all(not r.weak for r in records)
        self.strong: tuple[Receiver, ...] | None = (
            tuple(r.raw for r in records) if sync_only and all_strong else None
        )
        derefs = _derefs(records) if async_only or (sync_only and not all_strong) else None
        self.fast: tuple[Callable[[], Any], ...] | None = derefs if sync_only else None
        #: The asend counterpart: every receiver a plain async one.
        self.async_fast: tuple[Callable[[], Any], ...] | None = derefs if async_only else None
        kinds = {_kind(r) for r in records}
        if len(kinds) == 1:
            # One kind throughout (the common case): one run, sharing the tuple.
            self.steps: tuple[Step, ...] = ((SYNC if DEFER in kinds else kinds.pop(), records),)
        else:
            self.steps = _runs((_kind(r), (r,)) for r in records)
        self.tier_steps: tuple[Step, ...] = ()
        if concurrent:
            tiers = (
                tuple(g) for _, g in itertools.groupby(records, operator.attrgetter("priority"))
            )
            self.tier_steps = _runs(_tier_step(tier) for tier in tiers)


def _derefs(records: tuple[Record, ...]) -> tuple[Callable[[], Any], ...]:
    """One C-level callable per record that returns its receiver (``None`` once collected)."""
    return tuple(r.raw if r.weak else itertools.repeat(r.raw).__next__ for r in records)


def _kind(record: Record) -> int:
    if record.on_commit is not False:
        return DEFER
    return ASYNC if record.is_async else SYNC


def _tier_step(tier: tuple[Record, ...]) -> Step:
    immediate = [r for r in tier if r.on_commit is False]
    if len(immediate) > 1 and any(r.is_async for r in immediate):
        return (TIER, tier)
    kinds = {_kind(r) for r in tier}
    return (ASYNC if ASYNC in kinds else SYNC if SYNC in kinds else DEFER, tier)


def _runs(steps: Iterable[Step]) -> tuple[Step, ...]:
    """Merge consecutive steps of one kind into one step (one hop or loop entry each).

    After-commit receivers (DEFER) only register a callback, so they join the
    neighbouring run instead of splitting it; a run of nothing but them is
    handled like a sync run.
    """
    merged: list[tuple[int, list[Record]]] = []
    for kind, records in steps:
        if merged and TIER not in (kind, merged[-1][0]):
            last_kind, last_records = merged[-1]
            if kind == DEFER or last_kind in (DEFER, kind):
                last_records.extend(records)
                if kind != DEFER:
                    merged[-1] = (kind, last_records)
                continue
        merged.append((kind, list(records)))
    return tuple((SYNC if kind == DEFER else kind, tuple(records)) for kind, records in merged)


EMPTY_PLAN = Plan(())


def in_event_loop_thread() -> bool:
    """Whether the current thread is running an event loop (asyncio or trio)."""
    if asyncio._get_running_loop() is not None:
        return True
    return _sniffio_thread is not None and _sniffio_thread.name is not None


def resolve(signal: Signal, record: Record) -> Receiver | None:
    """The receiver to call for ``record``, or ``None`` to skip it.

    A ``once`` receiver is claimed with a non-blocking lock acquire, so exactly
    one caller wins even when sends race on several threads, and it is
    disconnected before it runs (so a send from inside it does not reach it).
    """
    receiver: Receiver | None = record.deref()
    if receiver is None:
        return None
    if record.once is not None:
        if not record.once.acquire(blocking=False):
            return None
        signal._forget(record)
    return receiver


def call_sync(
    signal: Signal,
    records: tuple[Record, ...],
    sender: Any,
    named: dict[str, Any],
    robust: bool,
    stop: list[bool] | None = None,
) -> Responses:
    """Call a run of sync receivers on this thread, in order."""
    responses: Responses = []
    for record in records:
        if stop:
            break
        if record.on_commit is not False:
            if (receiver := record.deref()) is not None:
                responses.append((receiver, _commit.defer(signal, record, receiver, sender, named)))
            continue
        receiver = resolve(signal, record)
        if receiver is None:
            continue
        if robust:
            try:
                response = receiver(signal=signal, sender=sender, **named)
            except Exception as err:
                signal._log_robust_failure(receiver, err)
                response = err
        else:
            response = receiver(signal=signal, sender=sender, **named)
        responses.append((receiver, response))
    return responses


async def call_async(
    signal: Signal,
    records: tuple[Record, ...],
    sender: Any,
    named: dict[str, Any],
    robust: bool,
) -> Responses:
    """Await a run of async receivers on this task, one after the other."""
    responses: Responses = []
    for record in records:
        if record.on_commit is not False:
            if (receiver := record.deref()) is not None:
                responses.append(
                    (receiver, await defer_from_async(signal, record, receiver, sender, named))
                )
            continue
        receiver = resolve(signal, record)
        if receiver is None:
            continue
        if robust:
            try:
                response = await receiver(signal=signal, sender=sender, **named)
            except Exception as err:
                signal._log_robust_failure(receiver, err)
                response = err
        else:
            response = await receiver(signal=signal, sender=sender, **named)
        responses.append((receiver, response))
    return responses


def _restore_context(context: contextvars.Context) -> None:
    """Copy the values a worker thread changed in ``context`` back to the caller."""
    for var, value in context.items():
        if var.get(_MISSING) is not value:
            var.set(value)


_MISSING = object()


async def to_thread(func: Callable[[], T]) -> T:
    """Run ``func`` in a worker thread: one hop, with the caller's context.

    Under asyncio this is ``sync_to_async(thread_sensitive=True)``, so ORM code
    runs where Django expects it; under any other anyio backend (trio) it is
    ``anyio.to_thread.run_sync``. In both cases context variables set by the
    caller are visible, and changes made in the thread are copied back.
    """
    if asyncio._get_running_loop() is not None:
        return await sync_to_async(func, thread_sensitive=True)()
    context = contextvars.copy_context()
    try:
        # abandon_on_cancel: like asgiref, stop waiting when cancelled; the
        # thread finishes the receiver it is running and hop_sync's stop flag
        # keeps it from starting another.
        return await anyio.to_thread.run_sync(context.run, func, abandon_on_cancel=True)
    finally:
        _restore_context(context)


async def defer_from_async(
    signal: Signal, record: Record, receiver: Receiver, sender: Any, named: dict[str, Any]
) -> Any:
    """An after-commit receiver met in async code.

    Whether a transaction is open is asked in a thread hop, because the
    transaction belongs to the thread sync code runs on (under ASGI, the
    request's thread), not to the event loop's thread. Inside one, the receiver
    is registered there; with none open it runs at once, like any receiver:
    in that hop if sync, awaited here if async.
    """
    if not record.is_async:
        return await to_thread(
            functools.partial(_commit.defer, signal, record, receiver, sender, named)
        )
    if await to_thread(
        functools.partial(_commit.register, signal, record, receiver, sender, named)
    ):
        return _commit.AFTER_COMMIT
    if not _commit.claim(signal, record):
        return None
    try:
        return await receiver(signal=signal, sender=sender, **named)
    except Exception as err:
        _commit.log_failure(signal, receiver, err)
        return err


async def hop_sync(
    signal: Signal,
    records: tuple[Record, ...],
    sender: Any,
    named: dict[str, Any],
    robust: bool,
) -> Responses:
    """Call a run of sync receivers from async code in one thread hop.

    A thread cannot be interrupted: if the awaiting task is cancelled, the
    receiver running in the thread finishes, and no further receiver of the
    run starts.
    """
    stop: list[bool] = []
    try:
        return await to_thread(
            functools.partial(call_sync, signal, records, sender, named, robust, stop)
        )
    except BaseException:
        stop.append(True)
        raise


async def run_tier(
    signal: Signal,
    records: tuple[Record, ...],
    sender: Any,
    named: dict[str, Any],
    robust: bool,
) -> Responses:
    """Run receivers of one priority concurrently; results in connection order.

    Each async receiver is a task of one anyio task group; the tier's sync
    receivers run one after the other in a single thread hop, concurrently with
    those tasks. Robust: every receiver runs and failures are returned in place.
    Non-robust: the first failure cancels the rest of the tier (a sync receiver
    already running in its thread finishes, none after it starts) and is raised
    unchanged once the tier has settled. A ``BaseException`` that is not a
    cancellation (``KeyboardInterrupt``, ``SystemExit``) does the same in both modes.
    """
    slots: list[tuple[Receiver, Any] | None] = [None] * len(records)
    failures: list[BaseException] = []
    for index, record in enumerate(records):
        if record.on_commit is not False and (receiver := record.deref()) is not None:
            slots[index] = (
                receiver,
                await defer_from_async(signal, record, receiver, sender, named),
            )
    immediate = tuple((i, r) for i, r in enumerate(records) if r.on_commit is False)
    sync_part = tuple(r for _, r in immediate if not r.is_async)
    cancelled = anyio.get_cancelled_exc_class()

    async with anyio.create_task_group() as group:

        def fail(exc: BaseException) -> None:
            # Keep the exception out of the task group, which would wrap it in
            # an ExceptionGroup; it is re-raised as is once the tier settles.
            failures.append(exc)
            group.cancel_scope.cancel()

        async def one_async(index: int, record: Record) -> None:
            receiver = resolve(signal, record)
            if receiver is None:
                return
            try:
                slots[index] = (receiver, await receiver(signal=signal, sender=sender, **named))
            except cancelled:
                raise
            except Exception as err:
                if not robust:
                    fail(err)
                    return
                signal._log_robust_failure(receiver, err)
                slots[index] = (receiver, err)
            except BaseException as exc:
                fail(exc)

        async def sync_batch() -> None:
            try:
                done = await hop_sync(signal, sync_part, sender, named, robust)
            except cancelled:
                raise
            except BaseException as exc:
                fail(exc)
                return
            # Receivers that died or were claimed elsewhere are missing from
            # ``done``: match results to records by receiver, in order.
            results = iter(done)
            current = next(results, None)
            for index, record in immediate:
                if current is None:
                    break
                if not record.is_async and record.deref() == current[0]:
                    slots[index] = current
                    current = next(results, None)

        if sync_part:
            group.start_soon(sync_batch)
        for index, record in immediate:
            if record.is_async:
                group.start_soon(one_async, index, record)

    if failures:
        raise failures[0]
    return [slot for slot in slots if slot is not None]


def send_plan(
    signal: Signal, plan: Plan, sender: Any, named: dict[str, Any], robust: bool
) -> Responses:
    """The sync-side walk of a plan (``send`` / ``send_robust``)."""
    if plan.has_async and in_event_loop_thread():
        raise AsyncSendError(
            f"{signal!r}.send() was called from a thread that is running an event loop, "
            "and async receivers are connected: blocking here would dead-lock the loop. "
            "Use `await signal.asend(...)` (or `asend_robust`) from async code instead."
        )
    responses: Responses = []
    for kind, records in plan.tier_steps if signal.concurrent else plan.steps:
        if kind == SYNC:
            responses += call_sync(signal, records, sender, named, robust)
        else:
            runner = call_async if kind == ASYNC else run_tier
            responses += async_to_sync(runner)(signal, records, sender, named, robust)
    return responses


async def asend_plan(
    signal: Signal, plan: Plan, sender: Any, named: dict[str, Any], robust: bool
) -> Responses:
    """The async-side walk of a plan (``asend`` / ``asend_robust``)."""
    responses: Responses = []
    for kind, records in plan.tier_steps if signal.concurrent else plan.steps:
        if kind == SYNC:
            responses += await hop_sync(signal, records, sender, named, robust)
        elif kind == ASYNC:
            responses += await call_async(signal, records, sender, named, robust)
        else:
            responses += await run_tier(signal, records, sender, named, robust)
    return responses
