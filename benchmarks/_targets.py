"""The issue's performance targets, evaluated from one result document.

Every timing target is a ratio of medians-of-paired-ratios between cases that
were timed interleaved in the same run (see ``_timing.ratio``), never a
comparison of absolute times across runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

from ._text import TIMES
from ._timing import Stats, ratio

__all__ = ["GROWTH_LIMIT", "TARGETS", "Verdict", "evaluate"]

#: Bytes still allocated after the growth sends that still count as "no growth".
GROWTH_LIMIT = 4096

Result = dict[str, Any]


class Verdict(TypedDict):
    """One target on one leg: ``status`` is PASS, FAIL or n/a (not measured)."""

    status: str
    detail: str


def _group(result: Result, scenario: str, n: int | None = None) -> dict[str, Any] | None:
    for found in result["groups"]:
        if found["scenario"] == scenario and (n is None or found["n"] == n):
            return dict(found)
    return None


def _ratio(result: Result, scenario: str, n: int | None, a: str, b: str) -> Stats | None:
    found = _group(result, scenario, n)
    if found is None or a not in found["cases"] or b not in found["cases"]:
        return None
    return ratio(found["cases"][a], found["cases"][b])


def _x(value: float) -> str:
    return f"{value:.2f}{TIMES}"


NA: Verdict = {"status": "n/a", "detail": "not measured"}


def _verdict(ok: bool, detail: str) -> Verdict:
    return {"status": "PASS" if ok else "FAIL", "detail": detail}


def _send_empty(result: Result) -> Verdict:
    r = _ratio(result, "send", 0, "eventbus", "django")
    if r is None:
        return NA
    return _verdict(r["median"] <= 0.8, f"{_x(r['median'])} django")


def _send_one(result: Result) -> Verdict:
    r = _ratio(result, "send", 1, "eventbus", "floor")
    if r is None:
        return NA
    return _verdict(r["median"] <= 1.5, f"{_x(r['median'])} floor")


def _send_many(result: Result) -> Verdict:
    ok, details = True, []
    for n in (10, 100):
        found = _group(result, "send", n)
        if found is None:
            return NA
        cases = found["cases"]
        floor = ratio(cases["eventbus"], cases["floor"])["median"]
        ok &= floor <= 1.15
        parts = [f"N={n}: {_x(floor)} floor"]
        for name in cases:
            if name in ("eventbus", "floor"):
                continue
            versus = ratio(cases["eventbus"], cases[name])["median"]
            ok &= versus < 1
            note = " (collects no results)" if name == "psygnal" else ""
            parts.append(f"{_x(versus)} {name}{note}")
        details.append(", ".join(parts))
    return _verdict(ok, "; ".join(details))


def _asend_async(result: Result) -> Verdict:
    floor = _ratio(result, "asend", 10, "eventbus", "floor")
    django = _ratio(result, "asend", 10, "django", "eventbus")
    if floor is None or django is None:
        return NA
    ok = floor["median"] <= 1.2 and django["median"] >= 10
    return _verdict(ok, f"{_x(floor['median'])} floor; Django {_x(django['median'])} slower")


def _asend_sync(result: Result) -> Verdict:
    r = _ratio(result, "asend_sync", 10, "eventbus", "one sync_to_async")
    if r is None:
        return NA
    return _verdict(r["median"] <= 1.3, f"{_x(r['median'])} one sync_to_async")


def _send_async(result: Result) -> Verdict:
    r = _ratio(result, "send_async", 10, "eventbus", "one async_to_sync")
    if r is None:
        return NA
    return _verdict(r["median"] <= 1.3, f"{_x(r['median'])} one async_to_sync")


def _connect(result: Result) -> Verdict:
    found = _group(result, "connect")
    if found is None:
        return NA
    r = ratio(found["cases"]["django"], found["cases"]["eventbus (random priorities)"])
    count = found["n"]
    return _verdict(r["median"] >= 10, f"Django {_x(r['median'])} slower ({count:,} receivers)")


def _memory(result: Result) -> Verdict:
    memory = result.get("memory")
    if not memory:
        return NA
    strong, weak = memory["per_receiver_strong"], memory["per_receiver_weak"]
    growth = memory["growth"]["eventbus"]
    ok = (
        strong["eventbus"] <= strong["django"]
        and weak["eventbus"] <= weak["django"]
        and growth <= GROWTH_LIMIT
    )
    return _verdict(
        ok,
        f"strong {strong['eventbus']:.0f} B vs Django {strong['django']:.0f} B; "
        f"weak {weak['eventbus']:.0f} B vs Django {weak['django']:.0f} B; "
        f"{growth} B retained after {memory['growth_sends']:,} sends",
    )


def _save(result: Result) -> Verdict:
    r = _ratio(result, "save", 1, "eventbus bridge", "django post_save")
    if r is None:
        return NA
    return _verdict(r["median"] <= 1.10, f"{_x(r['median'])} Django's post_save")


#: ``(what, target, check)`` in the order of the issue.
TARGETS: tuple[tuple[str, str, Callable[[Result], Verdict]], ...] = (
    ("`send`, 0 receivers", f"≤ 0.8{TIMES} `django.dispatch.Signal.send`", _send_empty),
    ("`send`, 1 sync receiver", f"≤ 1.5{TIMES} the floor", _send_one),
    (
        "`send`, 10 and 100 sync receivers",
        f"≤ 1.15{TIMES} the floor, and faster than every competitor",
        _send_many,
    ),
    (
        "`asend`, 10 async receivers",
        f"≤ 1.2{TIMES} the async floor, and ≥ 10{TIMES} faster than Django's `asend`",
        _asend_async,
    ),
    ("`asend`, 10 sync receivers", f"≤ 1.3{TIMES} one `sync_to_async` call", _asend_sync),
    (
        "`send`, 10 async receivers from a sync thread",
        f"≤ 1.3{TIMES} one `async_to_sync` call",
        _send_async,
    ),
    ("connect 10,000 receivers", f"≥ 10{TIMES} faster than Django", _connect),
    (
        "memory",
        f"per receiver ≤ Django's; no growth (≤ {GROWTH_LIMIT} B) over the sends",
        _memory,
    ),
    ("`Model.save()` through the bridge", f"≤ 1.10{TIMES} Django's own `post_save`", _save),
)


def evaluate(result: Result) -> list[Verdict]:
    """One verdict per entry of ``TARGETS``, for one leg's result document."""
    return [check(result) for _, _, check in TARGETS]
