"""The known misses: targets eventbus misses for a reason it cannot remove, and that reason.

This is the one list of them. A target's check (``_targets``) names the known
miss that may explain one of its conditions, and only while the condition
stated here holds; the verdict is then ``MISS, known: <short>`` instead of
``FAIL`` in the terminal report (``make bench-quick``) and on the docs page,
whose section "Where a target is missed, and why" renders ``title`` and
``explanation`` of each known miss that occurs, followed by the figures
measured on each leg. A target missed for any other reason stays a plain
``FAIL``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._text import TIMES

__all__ = ["KNOWN_MISSES", "MECHANISM_TOLERANCE", "KnownMiss", "known_miss"]

#: A mixed-receiver target missed because its mechanism floor misses it counts as a
#: known miss only while eventbus stays within this factor of that floor.
MECHANISM_TOLERANCE = 1.3


@dataclass(frozen=True)
class KnownMiss:
    """A reason a target is missed: ``short`` for ``[MISS, known: ...]``, the rest for the docs.

    ``title`` leads the page's paragraph (Markdown); ``explanation`` is Markdown,
    wrapped to be indented under a list item.
    """

    key: str
    short: str
    title: str
    explanation: str


KNOWN_MISSES: tuple[KnownMiss, ...] = (
    KnownMiss(
        key="psygnal",
        short="psygnal's compiled emit() passes positional arguments and collects no results",
        title='`send` to 10 and 100 receivers, "faster than every competitor"',
        explanation=f"""\
Against the floor eventbus is within the 1.15{TIMES} target; the miss is psygnal, whose
compiled (mypyc) `emit()` calls receivers with positional arguments and collects no results.
The *floor itself*, a plain loop calling `receiver(signal=..., sender=..., **kwargs)` and
collecting `[(receiver, response)]`, is slower than psygnal at N = 100 (see the psygnal row
of the `send` table: its ratio to the floor is below 1). So no pure-Python implementation of
Django's calling convention can win there; what would move it is a compiled send loop, or a
calling convention without keyword arguments, which a drop-in for `django.dispatch` cannot
adopt. What separates eventbus from the floor at all is one weak-reference dereference per
receiver (receivers connected with `weak=False` run within a few percent of the floor). Only
the comparison with psygnal is excused: eventbus must still be within 1.15{TIMES} of the floor
and faster than every other competitor.""",
    ),
    KnownMiss(
        key="mixed_send",
        short="each sync<->async boundary costs a thread round trip; Django reorders instead",
        title=f"`send` to alternating sync and async receivers, within 1.5{TIMES} (N = 10) "
        f"and 2{TIMES} (N = 100) of Django",
        explanation=f"""\
eventbus runs sync and async receivers in one priority order, so in `send()` a sync receiver
that comes between two async ones has to run between them, on the calling thread. The
mechanism, whose plain-Python *floor* is timed alongside (its code is
[below](#the-floor-and-the-baselines)): the leading sync receivers are called inline; **one**
`async_to_sync` entry runs the rest, awaiting the async receivers one after the other and
handing every run of sync receivers that comes before a later async receiver back to the
calling thread with one `await sync_to_async(run, thread_sensitive=True)()`; trailing sync
receivers are called inline after it. Each such boundary costs one thread round trip, and
alternating receivers have N/2 - 1 of them (4 at N = 10, 49 at N = 100).
`django.dispatch.Signal.send()` has none: it calls every sync receiver first and then gathers
all async ones in its one entry, which changes their order. When that floor, with nothing
looked up, is itself slower than the target, no implementation of eventbus's ordering can
meet it; the miss counts as known only while eventbus stays within
{MECHANISM_TOLERANCE}{TIMES} of the floor. Receivers whose priorities put the sync ones
together avoid the round trips (the *grouped* rows of the results).""",
    ),
    KnownMiss(
        key="mixed_asend",
        short="each run of sync receivers is one thread hop; Django makes one and reorders",
        title=f"`asend` to alternating sync and async receivers, within 1.5{TIMES} (N = 10) "
        f"and 2{TIMES} (N = 100) of Django",
        explanation=f"""\
eventbus runs sync and async receivers in one priority order, so `asend()` awaits the async
receivers one after the other on the calling task and runs each run of sync receivers, in
its place, in one `await sync_to_async(run, thread_sensitive=True)()`: one thread round trip
per run, N/2 of them for alternating receivers (5 at N = 10, 50 at N = 100). The plain-Python
*floor* of that mechanism is timed alongside (its code is [below](#the-floor-and-the-baselines)).
`django.dispatch.Signal.asend()` makes one hop: it runs all sync receivers in one
`sync_to_async` call, concurrently with all async receivers (`asyncio.gather`), which changes
their order. When that floor, with nothing looked up, is itself slower than the target, no
implementation of eventbus's ordering can meet it; the miss counts as known only while eventbus
stays within {MECHANISM_TOLERANCE}{TIMES} of the floor. Receivers whose priorities put the sync
ones together avoid the hops (the *grouped* rows of the results).""",
    ),
)


def known_miss(key: str) -> KnownMiss:
    """The entry of ``KNOWN_MISSES`` named ``key`` (a ``KeyError`` names the known keys)."""
    for entry in KNOWN_MISSES:
        if entry.key == key:
            return entry
    raise KeyError(f"no known miss {key!r}; known: {[m.key for m in KNOWN_MISSES]}")
