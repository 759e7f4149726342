"""Verdicts on the targets, and the rule that refuses one when the run cannot tell.

A target is one or more *conditions*: a ratio measured in one run (``Measured``,
the median of the per-repetition ratios of two cases timed interleaved) that
must be at most, or at least, a limit. Each target gets one verdict:

``PASS``
    every condition is clearly met.
``MISS, known: <reason>``
    a condition is missed (or undecided, see below) and a known miss explains
    it: one entry of ``_misses.KNOWN_MISSES``, whose explanation the docs page
    renders. The target names which of its conditions that entry may excuse,
    and only excuses it while the entry's own condition holds.
``FAIL``
    a condition is clearly missed and nothing explains it.
``UNCLEAR: ...``
    the run cannot tell, for one of two reasons:

    * *implausible*: eventbus measured below ``IMPLAUSIBLE`` (0.85x) of a
      floor or baseline that does strictly less work than it (the plain
      loop, the floor of the mechanism, one ``sync_to_async`` or
      ``async_to_sync`` call, a save with no receiver). That cannot be true;
      the floor's repetitions were slowed by something else (a busy machine).
      This outranks everything: such a run proves nothing either way.
    * *repetitions disagree*: a condition no known miss covers is undecided.

When a condition is undecided (the rule). A ratio is the median of ``reps``
per-repetition ratios; ``IQR`` is their interquartile range, in the ratio's
own unit (quartiles 1.05x and 1.19x give 0.14). Its **margin** is
``MARGIN_FACTOR * IQR / sqrt(reps)``, i.e. 2 * IQR / sqrt(reps): for normally
distributed noise the standard error of a median is about
0.93 * IQR / sqrt(reps), so the margin is a little over two standard errors,
and a verdict that stands is one the repetitions support with roughly 95 %
confidence. A condition is undecided when its limit lies within the margin
of its ratio: ``|ratio - limit| < margin``. More repetitions narrow the
margin: with the same noise a full run (11 repetitions) gets one about 20 %
narrower than a quick run (7), and its longer batches are less noisy to
begin with, so full runs are rarely unclear and quick runs on a busy machine
often are.

Only the per-repetition *ratios* count, not each case's own spread: drift that
slows both cases of a repetition (a neighbour's burst, frequency scaling)
widens both but cancels in their ratio, which is why cases are timed
interleaved and their ratios paired; noise that hits one case and not the
other is exactly what makes the per-repetition ratios disagree. One-sided
noise that hits a floor in nearly every repetition is what *implausible*
catches.

Precedence: implausible > FAIL > UNCLEAR (repetitions disagree) > MISS > PASS.
A condition that a known miss covers is never reported as undecided on its
own: met or missed, the verdict is PASS or that known miss, so it is reported
as the known miss.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypedDict

from ._misses import known_miss
from ._text import TIMES
from ._timing import CaseResult, paired, quartiles

__all__ = [
    "IMPLAUSIBLE",
    "MARGIN_FACTOR",
    "NA",
    "Condition",
    "Measured",
    "Verdict",
    "decide",
    "label",
    "times",
]

#: A ratio of eventbus to a floor that does strictly less work, below this, is implausible.
IMPLAUSIBLE = 0.85

#: The margin of a ratio is ``MARGIN_FACTOR * IQR / sqrt(reps)`` (see the module docstring).
MARGIN_FACTOR = 2.0


class Verdict(TypedDict):
    """One target on one leg.

    ``status`` is PASS, MISS, FAIL, UNCLEAR or n/a (not measured); ``note`` says why
    for MISS (the known misses' short reasons) and UNCLEAR; ``known`` lists the keys
    of the known misses behind a MISS; ``detail`` holds the measured figures.
    """

    status: str
    note: str
    known: list[str]
    detail: str


NA: Verdict = {"status": "n/a", "note": "", "known": [], "detail": "not measured"}


def times(value: float) -> str:
    """``value`` as a ratio: ``1.10`` and the multiplication sign."""
    return f"{value:.2f}{TIMES}"


@dataclass(frozen=True)
class Measured:
    """A ratio between two cases of one run: the median of their per-repetition ratios.

    ``q1`` and ``q3`` are the quartiles of those ratios, ``reps`` how many there are.
    """

    median: float
    q1: float
    q3: float
    reps: int

    @classmethod
    def of(cls, numerator: CaseResult, denominator: CaseResult) -> Measured:
        """``numerator / denominator``, paired by repetition."""
        return cls.from_ratios(paired(numerator, denominator))

    @classmethod
    def from_ratios(cls, ratios: Sequence[float]) -> Measured:
        """The ratio whose per-repetition values are ``ratios`` (not empty)."""
        q1, q3 = quartiles(ratios)
        return cls(statistics.median(ratios), q1, q3, len(ratios))

    @property
    def margin(self) -> float:
        """How close to this ratio a limit is too close to call (see the module docstring)."""
        return MARGIN_FACTOR * (self.q3 - self.q1) / math.sqrt(self.reps)


@dataclass(frozen=True)
class Condition:
    """``ratio`` must be at most ``limit`` (at least, with ``at_least``).

    ``name`` says what the ratio is in messages (``"eventbus/floor, N=10"``);
    ``known`` is the key of the known miss that explains missing it, if any.
    """

    name: str
    ratio: Measured
    limit: float
    at_least: bool = False
    known: str | None = None

    @property
    def outcome(self) -> str:
        """``met``, ``missed`` or ``undecided`` (the limit is within the ratio's margin)."""
        value = self.ratio.median
        if abs(value - self.limit) < self.ratio.margin:
            return "undecided"
        ok = value >= self.limit if self.at_least else value <= self.limit
        return "met" if ok else "missed"


AT_LEAST, AT_MOST = "\u2265", "\u2264"


def _disagree(condition: Condition) -> str:
    r = condition.ratio
    bound = AT_LEAST if condition.at_least else AT_MOST
    return (
        f"{condition.name}: {times(r.median)}, quartiles {times(r.q1)} and {times(r.q3)} "
        f"of {r.reps} reps, margin \u00b1{r.margin:.2f} around target {bound} "
        f"{times(condition.limit)}"
    )


def decide(
    detail: str,
    conditions: Iterable[Condition],
    floors: Iterable[tuple[str, Measured]] = (),
) -> Verdict:
    """The verdict on ``conditions`` (see the module docstring for the rule).

    ``floors`` are ``(name, ratio)`` pairs of eventbus to a floor or baseline that
    does strictly less work: any of them below ``IMPLAUSIBLE`` makes the verdict
    UNCLEAR whatever the conditions say. ``detail`` is shown with the verdict.
    """
    for name, r in floors:
        if r.median < IMPLAUSIBLE:
            note = (
                f"implausible ({name}: {times(r.median)}, below {times(IMPLAUSIBLE)} of "
                "a floor that does less work; the run was disturbed)"
            )
            return {"status": "UNCLEAR", "note": note, "known": [], "detail": detail}
    checked = [(c, c.outcome) for c in conditions]
    if any(outcome == "missed" and c.known is None for c, outcome in checked):
        return {"status": "FAIL", "note": "", "known": [], "detail": detail}
    undecided = [c for c, outcome in checked if outcome == "undecided" and c.known is None]
    if undecided:
        note = f"repetitions disagree ({'; '.join(_disagree(c) for c in undecided)})"
        return {"status": "UNCLEAR", "note": note, "known": [], "detail": detail}
    known: list[str] = []
    for c, outcome in checked:
        if outcome != "met" and c.known is not None and c.known not in known:
            known.append(c.known)
    if known:
        note = "known: " + "; ".join(known_miss(key).short for key in known)
        return {"status": "MISS", "note": note, "known": known, "detail": detail}
    return {"status": "PASS", "note": "", "known": [], "detail": detail}


def label(verdict: Verdict) -> str:
    """``PASS``, ``FAIL``, ``MISS, known: <reason>``, ``UNCLEAR: <why>`` or ``n/a``."""
    if not verdict["note"]:
        return verdict["status"]
    separator = ", " if verdict["status"] == "MISS" else ": "
    return f"{verdict['status']}{separator}{verdict['note']}"
