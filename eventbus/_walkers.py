"""The walkers: how a plan's steps are executed by ``send()`` and by ``asend()``.

Both walk the same plan (see ``_plan``) and differ only in how a step is called:

* ``send()`` (:func:`send_steps`) calls the sync steps before the first async
  one inline, on the calling thread. If the plan has async receivers, it then
  enters **one** event loop (``async_to_sync``) for the middle of the plan:
  async receivers are awaited there one after the other, and each run of sync
  receivers between them is handed back to the calling thread
  (``sync_to_async(thread_sensitive=True)``, which asgiref runs on the thread
  blocked in ``async_to_sync``). The sync steps after the last async one run
  inline again once the loop is left. In a worker thread of a trio ``asend()``
  the event loop is the caller's own, reached through anyio's portal once per
  async step, and every sync receiver runs inline.
* ``asend()`` (:func:`asend_steps`) awaits async receivers on the calling task
  and leaves the event loop once per run of sync receivers (``_hops.to_thread``).
* A concurrent tier (:func:`run_tier`) runs its async receivers as tasks of one
  task group and its sync receivers in one hop, alongside them.

Walkers are given a :class:`~eventbus._call.Call` and the records; they never
see the ``Signal``.
"""

from __future__ import annotations

import functools
from typing import Any

from . import _commit
from ._call import Call, Responses
from ._exceptions import AsyncSendError
from ._hops import enters_new_loop, in_event_loop_thread, run_async, to_thread
from ._identity import Receiver, signal_name
from ._plan import Plan, Run, Step
from ._records import Record

__all__: list[str] = []

Slot = tuple[Receiver, Any] | None


def call_sync(
    call: Call,
    records: tuple[Record, ...],
    stop: list[bool] | None = None,
    slots: list[Slot] | None = None,
) -> Responses:
    """Call a run of sync receivers on this thread, in order.

    With ``slots`` (as long as ``records``), each result is also put at its
    record's position, so a caller can place results by record rather than
    by receiver. ``stop``: once it holds a value, no further receiver starts.
    """
    responses: Responses = []
    for index, record in enumerate(records):
        if stop:
            break
        if record.on_commit is not False:
            receiver = record.deref()
            if receiver is None:
                continue
            result = (receiver, _commit.defer(call, record, receiver))
        else:
            receiver = call.resolve(record)
            if receiver is None:
                continue
            result = (receiver, call.invoke(receiver, record))
        responses.append(result)
        if slots is not None:
            slots[index] = result
    return responses


async def call_async(call: Call, records: tuple[Record, ...]) -> Responses:
    """Await a run of async receivers on this task, one after the other."""
    responses: Responses = []
    for record in records:
        if record.on_commit is not False:
            receiver = record.deref()
            if receiver is not None:
                responses.append((receiver, await defer_from_async(call, record, receiver)))
            continue
        receiver = call.resolve(record)
        if receiver is not None:
            responses.append((receiver, await call.ainvoke(receiver, record)))
    return responses


async def hop_sync(
    call: Call, records: tuple[Record, ...], slots: list[Slot] | None = None
) -> Responses:
    """Call a run of sync receivers from async code in one thread hop.

    A thread cannot be interrupted: if the awaiting task is cancelled, the
    receiver running in the thread finishes, and no further receiver of the
    run starts.
    """
    stop: list[bool] = []
    try:
        return await to_thread(functools.partial(call_sync, call, records, stop, slots))
    except BaseException:
        stop.append(True)
        raise


async def defer_from_async(call: Call, record: Record, receiver: Receiver) -> Any:
    """An after-commit receiver met in async code; return what the send reports for it.

    Whether a transaction is open is asked in a thread hop, because the
    transaction belongs to the thread sync code runs on (under ASGI, the
    request's thread), not to the event loop's thread. Inside one, the receiver
    is registered there; with none open it runs at once, like any receiver:
    in that hop if sync, awaited here if async.
    """
    if not record.is_async:
        return await to_thread(functools.partial(_commit.defer, call, record, receiver))
    scheduled = await to_thread(functools.partial(_commit.schedule, call, record, receiver))
    if scheduled is not _commit.RUN_NOW:
        call.deferred(record, receiver, scheduled)
        return scheduled
    if not call.claim(record):
        return None
    return await call.arun_committed(record, receiver)


async def run_tier(call: Call, records: tuple[Record, ...]) -> Responses:
    """Run receivers of one priority concurrently; results in connection order.

    Each async receiver is a task of one anyio task group; the tier's sync
    receivers run one after the other in a single thread hop, concurrently with
    those tasks. Robust: every receiver runs and failures are returned in place.
    Non-robust: the first failure cancels the rest of the tier (a sync receiver
    already running in its thread finishes, none after it starts) and is raised
    unchanged once the tier has settled. A ``BaseException`` that is not a
    cancellation (``KeyboardInterrupt``, ``SystemExit``) does the same in both modes.
    """
    slots: list[Slot] = [None] * len(records)
    failures: list[BaseException] = []
    for index, record in enumerate(records):
        if record.on_commit is not False and (receiver := record.deref()) is not None:
            slots[index] = (receiver, await defer_from_async(call, record, receiver))
    immediate = [(i, r) for i, r in enumerate(records) if r.on_commit is False]
    sync_part = [(i, r) for i, r in immediate if not r.is_async]
    import anyio  # noqa: PLC0415 - ``import eventbus`` stays free of anyio (see _hops)

    cancelled = anyio.get_cancelled_exc_class()

    async with anyio.create_task_group() as group:

        def fail(exc: BaseException) -> None:
            # Keep the exception out of the task group, which would wrap it in
            # an ExceptionGroup; it is re-raised as is once the tier settles.
            failures.append(exc)
            group.cancel_scope.cancel()

        async def one_async(index: int, record: Record) -> None:
            receiver = call.resolve(record)
            if receiver is None:
                return
            try:
                slots[index] = (receiver, await call.ainvoke(receiver, record))
            except cancelled:
                raise
            except BaseException as exc:
                fail(exc)

        async def sync_batch() -> None:
            placed: list[Slot] = [None] * len(sync_part)
            try:
                await hop_sync(call, tuple(r for _, r in sync_part), placed)
            except cancelled:
                raise
            except BaseException as exc:
                fail(exc)
                return
            # Placed by record, not by receiver: the same function may be
            # connected twice, and a claimed or collected one leaves a gap.
            for (index, _), result in zip(sync_part, placed, strict=True):
                if result is not None:
                    slots[index] = result

        if sync_part:
            group.start_soon(sync_batch)
        for index, record in immediate:
            if record.is_async:
                group.start_soon(one_async, index, record)

    if failures:
        raise failures[0]
    return [slot for slot in slots if slot is not None]


async def _astep(call: Call, step: Step) -> Responses:
    """One step, from async code."""
    kind, records = step
    if kind is Run.SYNC:
        return await hop_sync(call, records)
    if kind is Run.ASYNC:
        return await call_async(call, records)
    return await run_tier(call, records)


async def _walk(call: Call, steps: tuple[Step, ...]) -> Responses:
    responses: Responses = []
    for step in steps:
        responses += await _astep(call, step)
    return responses


def send_steps(call: Call, plan: Plan) -> Responses:
    """The sync-side walk of a plan (``send`` / ``send_robust``); see the module docstring.

    Raises:
        AsyncSendError: The plan has async receivers and this thread runs an
            event loop; nothing has been called.
    """
    if plan.has_async and in_event_loop_thread():
        raise AsyncSendError(
            f"{signal_name(call.signal)}.send() was called from a thread that is running an "
            "event loop, and async receivers are connected: blocking here would dead-lock the "
            "loop. Use `await signal.asend(...)` (or `asend_robust`) from async code instead."
        )
    if plan.follows_using:
        _commit.check_using(call)
    responses: Responses = []
    for _, records in plan.head:
        responses += call_sync(call, records)
    if plan.middle:
        if enters_new_loop():
            responses += run_async(_walk, call, plan.middle)
        else:
            for step in plan.middle:
                if step[0] is Run.SYNC:
                    responses += call_sync(call, step[1])
                else:
                    responses += run_async(_astep, call, step)
    for _, records in plan.tail:
        responses += call_sync(call, records)
    return responses


async def asend_steps(call: Call, plan: Plan) -> Responses:
    """The async-side walk of a plan (``asend`` / ``asend_robust``)."""
    if plan.follows_using:
        _commit.check_using(call)
    return await _walk(call, plan.steps)
