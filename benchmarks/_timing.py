"""Interleaved timing: every case of a group is timed once per repetition, round-robin.

Machines running benchmarks are shared and noisy, so a figure on its own means
little; what the suite reports are ratios between cases timed in the same run.
The rules:

* A case is a *timer*: ``timer(batch)`` performs ``batch`` operations and
  returns the elapsed ``time.perf_counter_ns()``; the sample is that divided by
  ``batch * ops`` (``ops`` > 1 when one operation is itself a loop, such as
  connecting 10,000 receivers).
* Each case is first warmed up and calibrated: its batch grows until one
  batch takes about ``target_ns`` (cases may fix their batch instead).
* Then, for each repetition, every case runs one batch, in an order rotated by
  one per repetition, so no case always runs first or right after another.
  The garbage collector is collected before and disabled during each batch.
* A figure is the median (with min and max) of the repetitions; a ratio
  between two cases is the median of the per-repetition ratios, which cancels
  drift that affects both cases of one repetition alike. How far those
  per-repetition ratios disagree (their quartiles) decides whether a target
  verdict can be given at all: see ``_verdict``.
* A case that takes its own figure (a median latency, a throughput: see
  ``_transport``) is a *sampler*: ``sample()`` returns one figure, ns per
  operation. ``interleave`` runs samplers by the same rules: one warm-up call
  each, then one call per repetition in the rotated order, with the garbage
  collector disabled during each call. It is collected once, before the
  warm-ups, not before each call: a sampler's call is long and leaves little
  garbage, and a full collection in a process that has run the other scenarios
  takes tens of milliseconds.
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypedDict

__all__ = [
    "Case",
    "CaseResult",
    "Sampler",
    "Stats",
    "interleave",
    "measure",
    "paired",
    "quartiles",
    "ratio",
    "stats",
]

Timer = Callable[[int], int]


class Stats(TypedDict):
    """A median with the smallest and largest value it was taken from."""

    median: float
    min: float
    max: float


class CaseResult(TypedDict):
    """One case of a group: its batch and one sample (ns per operation) per repetition."""

    batch: int
    samples: list[float]


@dataclass(frozen=True)
class Case:
    """A named timer; ``batch`` fixes the batch size, ``ops`` the operations per call."""

    name: str
    timer: Timer
    batch: int | None = None
    ops: int = 1


@dataclass(frozen=True)
class Sampler:
    """A named case that takes its own figure: ``sample()`` returns ns per operation.

    ``batch`` is how many operations one call makes (recorded with the result).
    """

    name: str
    sample: Callable[[], float]
    batch: int


def stats(values: Sequence[float]) -> Stats:
    """Median, min and max of ``values`` (which must not be empty)."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """The first and third quartiles of ``values`` (both the value itself if there is one)."""
    if len(values) < 2:
        return values[0], values[0]
    first, _, third = statistics.quantiles(values, n=4, method="inclusive")
    return first, third


def paired(numerator: CaseResult, denominator: CaseResult) -> list[float]:
    """The per-repetition ratios ``numerator / denominator``, in repetition order."""
    pairs = zip(numerator["samples"], denominator["samples"], strict=True)
    return [a / b if b else float("inf") for a, b in pairs]


def ratio(numerator: CaseResult, denominator: CaseResult) -> Stats:
    """Median, min and max of the per-repetition ratios ``numerator / denominator``."""
    return stats(paired(numerator, denominator))


def _timed(case: Case, batch: int) -> float:
    gc.collect()
    gc.disable()
    try:
        elapsed = case.timer(batch)
    finally:
        gc.enable()
    return elapsed / (batch * case.ops)


def _calibrate(case: Case, target_ns: int) -> int:
    """Warm the case up and pick a batch that takes about ``target_ns``."""
    if case.batch is not None:
        _timed(case, case.batch)  # warm-up
        return case.batch
    batch = 1
    while True:
        per_op = _timed(case, batch) * case.ops
        elapsed = per_op * batch
        if elapsed >= target_ns or batch >= 10_000_000:
            break
        # Grow towards the target, at most tenfold per step (a first call may be slow).
        batch = min(batch * 10, max(batch * 2, int(target_ns / max(per_op, 1.0))))
    _timed(case, batch)  # one more warm-up at the final size
    return batch


def _rotated(count: int, reps: int) -> list[int]:
    """Case indices in run order: every case once per repetition, starting one further along."""
    return [(rep + step) % count for rep in range(reps) for step in range(count)]


def measure(cases: Sequence[Case], reps: int, target_ns: int) -> dict[str, CaseResult]:
    """Time ``cases`` interleaved for ``reps`` repetitions; samples are ns per operation."""
    batches = [_calibrate(case, target_ns) for case in cases]
    samples: list[list[float]] = [[] for _ in cases]
    for index in _rotated(len(cases), reps):
        samples[index].append(_timed(cases[index], batches[index]))
    return {
        case.name: {"batch": batch, "samples": found}
        for case, batch, found in zip(cases, batches, samples, strict=True)
    }


def _sampled(sampler: Sampler) -> float:
    gc.disable()
    try:
        return sampler.sample()
    finally:
        gc.enable()


def interleave(samplers: Sequence[Sampler], reps: int) -> dict[str, CaseResult]:
    """Run ``samplers`` interleaved for ``reps`` repetitions, after one warm-up call each."""
    gc.collect()
    for sampler in samplers:
        _sampled(sampler)
    samples: list[list[float]] = [[] for _ in samplers]
    for index in _rotated(len(samplers), reps):
        samples[index].append(_sampled(samplers[index]))
    return {
        sampler.name: {"batch": sampler.batch, "samples": found}
        for sampler, found in zip(samplers, samples, strict=True)
    }
