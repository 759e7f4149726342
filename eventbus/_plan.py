"""The send plan: what a send to one sender calls, in what order, and how.

A :class:`Plan` is built once per sender (and cached by the registry) from the
records a send reaches, in call order. It is the one description of the order
that every send method walks; the sync and async walks differ only in how they
call each *step*:

* a :attr:`Run.SYNC` step is a run of consecutive sync receivers (after-commit
  receivers, which only register a callback, join the run next to them);
* a :attr:`Run.ASYNC` step is a run of consecutive async receivers;
* a :attr:`Run.TIER` step (signals created with ``concurrent=True`` only) is a
  group of equal-priority receivers, at least one async, run concurrently.

``send()`` calls sync steps inline and needs an event loop for the others;
``asend()`` awaits async steps inline and needs a thread hop for sync ones. So
that ``send()`` enters an event loop at most once, the plan also splits its
steps into the sync ``head`` before the first step that needs a loop, the
``middle`` from there to the last such step, and the sync ``tail`` after it.

Plans whose receivers are all plain (no ``once``, no after-commit) and all of
one kind also carry the tuples the signal's tight send loops iterate.
"""

from __future__ import annotations

import enum
import itertools
import operator
from collections.abc import Callable, Iterable
from typing import Any

from ._identity import Receiver
from ._records import Record

__all__: list[str] = []


class Run(enum.Enum):
    """How a step of a plan runs."""

    #: Consecutive sync receivers: inline in ``send()``, one thread hop in ``asend()``.
    SYNC = "sync"
    #: Consecutive async receivers: awaited one after the other.
    ASYNC = "async"
    #: Equal-priority receivers, at least one async, run concurrently (``concurrent=True``).
    TIER = "tier"


Step = tuple[Run, tuple[Record, ...]]


class Plan:
    """The receivers one sender reaches, in call order, grouped for dispatch.

    Attributes:
        records: Every live record, in the order receivers are called.
        concurrent: Whether the steps were grouped into concurrent tiers.
        steps: The walk: ``(Run, records)`` pairs covering ``records`` in order.
        head: The leading ``SYNC`` steps ``send()`` calls before it needs a loop.
        middle: The steps from the first that needs an event loop to the last.
        tail: The trailing ``SYNC`` steps ``send()`` calls after it.
        has_async: Whether any receiver is async.
        follows_using: Whether an after-commit receiver follows the send's ``using``.
        sync_receivers: When every receiver is plain, sync and held strongly:
            the receivers themselves, for the tightest ``send`` loop.
        sync_derefs: When every receiver is plain and sync, some held weakly:
            one callable per receiver that returns it (``None`` once collected).
        async_derefs: When every receiver is plain and async (and the signal
            is not concurrent): the same, for the ``asend`` loop.
    """

    __slots__ = (
        "async_derefs",
        "concurrent",
        "follows_using",
        "has_async",
        "head",
        "middle",
        "records",
        "steps",
        "sync_derefs",
        "sync_receivers",
        "tail",
    )

    def __init__(self, records: tuple[Record, ...], concurrent: bool = False) -> None:
        self.records = records
        self.concurrent = concurrent
        self.has_async = any(r.is_async for r in records)
        self.follows_using = any(r.on_commit is True for r in records)
        plain = all(r.plain for r in records)
        sync_only = plain and not self.has_async
        async_only = plain and bool(records) and all(r.is_async for r in records)
        # A plan may hold receivers strongly only when their records do too
        # (weak=False): it must never keep a weakly connected receiver alive.
        all_strong = not any(r.weak for r in records)
        self.sync_receivers: tuple[Receiver, ...] | None = (
            tuple(r.held for r in records) if sync_only and all_strong else None
        )
        self.sync_derefs: tuple[Callable[[], Any], ...] | None = (
            _derefs(records) if sync_only and not all_strong else None
        )
        self.async_derefs: tuple[Callable[[], Any], ...] | None = (
            _derefs(records) if async_only and not concurrent else None
        )
        if concurrent:
            tiers = (
                tuple(g) for _, g in itertools.groupby(records, operator.attrgetter("priority"))
            )
            self.steps: tuple[Step, ...] = _merge(_tier_step(tier) for tier in tiers)
        elif len(kinds := {_kind(r) for r in records}) == 1:
            # One kind throughout (the common case): one step sharing the records
            # tuple, so a plan costs no memory per receiver beyond its loop tuple.
            kind = kinds.pop()
            self.steps = ((Run.SYNC if kind is None else kind, records),)
        else:
            self.steps = _merge((_kind(r), (r,)) for r in records)
        needs_loop = [i for i, (kind, _) in enumerate(self.steps) if kind is not Run.SYNC]
        if needs_loop:
            first, last = needs_loop[0], needs_loop[-1] + 1
        else:
            first = last = len(self.steps)
        self.head = self.steps[:first]
        self.middle = self.steps[first:last]
        self.tail = self.steps[last:]


def _derefs(records: tuple[Record, ...]) -> tuple[Callable[[], Any], ...]:
    """One C-level callable per record that returns its receiver (``None`` once collected)."""
    return tuple(r.held if r.weak else itertools.repeat(r.held).__next__ for r in records)


def _kind(record: Record) -> Run | None:
    """A record's run kind; ``None`` for an after-commit receiver, which joins its neighbours."""
    if record.on_commit is not False:
        return None
    return Run.ASYNC if record.is_async else Run.SYNC


def _tier_step(tier: tuple[Record, ...]) -> tuple[Run | None, tuple[Record, ...]]:
    immediate = [r for r in tier if r.on_commit is False]
    if len(immediate) > 1 and any(r.is_async for r in immediate):
        return (Run.TIER, tier)
    kinds = {_kind(r) for r in tier}
    return (Run.ASYNC if Run.ASYNC in kinds else Run.SYNC if Run.SYNC in kinds else None, tier)


def _merge(steps: Iterable[tuple[Run | None, tuple[Record, ...]]]) -> tuple[Step, ...]:
    """Merge consecutive steps of one kind into one step (one hop or loop entry each).

    After-commit receivers (kind ``None``) only register a callback, so they
    join the neighbouring run instead of splitting it; a run of nothing but
    them is handled like a sync run. Tiers never merge.
    """
    merged: list[tuple[Run | None, list[Record]]] = []
    for kind, records in steps:
        if merged and Run.TIER not in (kind, merged[-1][0]):
            last_kind, last_records = merged[-1]
            if kind is None or last_kind in (None, kind):
                last_records.extend(records)
                if kind is not None:
                    merged[-1] = (kind, last_records)
                continue
        merged.append((kind, list(records)))
    return tuple((Run.SYNC if kind is None else kind, tuple(records)) for kind, records in merged)


#: The plan of a send that reaches no receiver.
EMPTY_PLAN = Plan(())
