"""Tables of a result document: plain text for the terminal, Markdown for the docs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._environment import DISTRIBUTIONS
from ._misses import known_miss
from ._targets import TARGETS, evaluate
from ._text import DASH, TIMES, duration
from ._timing import CaseResult, ratio, stats
from ._tracing import BASELINE, CASES, SPAN_CASES, Cost, costs
from ._verdict import label

__all__ = [
    "TITLES",
    "column",
    "markdown_environment",
    "markdown_hops",
    "markdown_memory",
    "markdown_misses",
    "markdown_results",
    "markdown_targets",
    "markdown_tracing",
    "terminal",
]


Result = dict[str, Any]

#: Scenario keys -> titles, in report order.
TITLES = {
    "send": "`send` to N sync receivers",
    "send_robust": "`send_robust` to N sync receivers",
    "asend": "`asend` to N async receivers",
    "asend_sync": "`asend` to N sync receivers (thread hop)",
    "send_async": "`send` to N async receivers from a sync thread (loop entry)",
    "mixed_send_grouped": "`send` from a sync thread, N mixed receivers, grouped "
    "(all sync, then all async)",
    "mixed_send_alternating": "`send` from a sync thread, N mixed receivers, alternating "
    "(sync, async, ...)",
    "mixed_asend_grouped": "`asend` (asyncio), N mixed receivers, grouped",
    "mixed_asend_alternating": "`asend` (asyncio), N mixed receivers, alternating",
    "connect": "connect N receivers",
    "disconnect": "disconnect N receivers (in connection order)",
    "save": "`Model.save()` with one `post_save` receiver",
    "transport_publish": "publishing: `send()` of a remote signal over Redis, no receivers",
    "transport_latency": "latency: one event at a time to a receiver in another process",
    "transport_throughput": "throughput: events back to back to a receiver in another process",
    "tracing_send": "tracing's cost: `send` to N sync receivers",
    "tracing_asend": "tracing's cost: `asend` to N async receivers",
}


#: The tracing groups' scenarios -> what one send is, in report order.
_TRACING = {
    "tracing_send": "`send()`, {n} sync receivers",
    "tracing_asend": "`asend()`, {n} async receivers",
}


def column(found: Mapping[str, Any]) -> str:
    """What a group's ``n`` is: ``N = 10`` receivers, or the size of a transport message."""
    if found["scenario"].startswith("transport_"):
        return f"one {found['n']:,} B message"
    return f"N = {found['n']:,}"


def _scenarios(result: Result) -> list[str]:
    present = {g["scenario"] for g in result["groups"]}
    return [key for key in TITLES if key in present] + sorted(present - set(TITLES))


def _groups(result: Result, scenario: str) -> list[dict[str, Any]]:
    return [g for g in result["groups"] if g["scenario"] == scenario]


def _case_line(name: str, case: CaseResult, base: CaseResult, width: int) -> str:
    s = stats(case["samples"])
    r = ratio(case, base)
    return (
        f"  {name:<{width}} {duration(s['median']):>12} {duration(s['min']):>12} "
        f"{duration(s['max']):>12} {r['median']:>8.2f}{TIMES} ({r['min']:.2f}{DASH}{r['max']:.2f})"
    )


def terminal(result: Result) -> str:
    """The result as plain-text tables, with the targets at the end."""
    env = result["environment"]
    lines = [
        f"eventbus benchmarks: {env['leg']} (Python {env['python']}, {env['platform']})",
        "medians (min, max) of interleaved repetitions; ratios are to the named baseline",
    ]
    for scenario in _scenarios(result):
        for found in _groups(result, scenario):
            cases: dict[str, CaseResult] = found["cases"]
            base = cases[found["baseline"]]
            width = max(len(name) for name in cases)
            title = TITLES.get(scenario, scenario).replace("`", "")
            lines += [
                "",
                f"{title}: {column(found)} ({found['unit']}, {len(base['samples'])} reps; "
                f"{TIMES} {found['baseline']})",
                f"  {'':<{width}} {'median':>12} {'min':>12} {'max':>12}",
            ]
            lines += [_case_line(name, case, base, width) for name, case in cases.items()]
    if result["hops"]:
        lines += ["", "thread hops / loop entries per send (mixed receivers):"]
        width = max(len(h["library"]) for h in result["hops"])
        lines += [
            f"  {h['layout']:<12} N={h['n']:<4} {h['method']:<6} {h['library']:<{width}} "
            f"loop entries {h['loop_entries']:>3}  thread hops {h['thread_hops']:>3}"
            for h in result["hops"]
        ]
    memory = result["memory"]
    if memory:
        lines += ["", f"memory (bytes per receiver, {memory['receivers']:,} receivers):"]
        for name, strong in memory["per_receiver_strong"].items():
            weak = memory["per_receiver_weak"].get(name)
            weak_text = "n/a" if weak is None else f"{weak:.0f}"
            growth = memory["growth"].get(name)
            lines.append(
                f"  {name:<22} strong {strong:>6.0f}  weak {weak_text:>6}  "
                f"retained after {memory['growth_sends']:,} sends: {growth} B"
            )
    tracing = [g for g in result["groups"] if g["scenario"] in _TRACING]
    if tracing:
        lines += ["", "tracing's cost (a report, not a target), against tracing off:"]
        for found in tracing:
            what = _TRACING[found["scenario"]].format(n=found["n"]).replace("`", "")
            lines.append(f"  {what}:")
            lines += [f"    {cost.case}: {_cost_text(cost, found['n'])}" for cost in costs(found)]
    lines += [
        "",
        "targets (MISS, known: explained in benchmarks/_misses.py and docs/benchmarks.md; "
        "UNCLEAR: see benchmarks/_verdict.py):",
    ]
    for (what, target, _), verdict in zip(TARGETS, evaluate(result), strict=True):
        plain = f"{what}: {target}".replace("`", "")
        lines.append(f"  [{label(verdict)}] {plain}\n         {verdict['detail']}")
    for note in result["skipped"]:
        lines.append(f"skipped: {note}")
    return "\n".join(lines)


def _cost_text(cost: Cost, n: int) -> str:
    """``18.88x (+46.10 µs per send, 4.61 µs per receiver)``, and the spans it is worth."""
    text = (
        f"{cost.ratio:.2f}{TIMES} (+{_us(cost.extra_ns)} per send, "
        f"{_us(cost.per_receiver_ns)} per receiver)"
    )
    if cost.spans is not None:
        text += f" = {cost.spans:.1f} OpenTelemetry spans"
        if cost.attributed_spans is not None:
            text += f", {cost.attributed_spans:.1f} with a run's attributes"
        text += f" (the send makes {n + 1})"
    return text


def _us(ns: float) -> str:
    return f"{ns / 1000:,.2f} \u00b5s"


# -- Markdown -----------------------------------------------------------------------


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    return [_row(header), _row("---" for _ in header), *(_row(r) for r in rows)]


def markdown_targets(results: Sequence[Result]) -> list[str]:
    """The targets table: one verdict column per leg, with the measured figures."""
    verdicts = [evaluate(r) for r in results]
    header = ["What", "Target", *(r["environment"]["leg"] for r in results)]
    rows = []
    for index, (what, target, _) in enumerate(TARGETS):
        cells = [what, target]
        for leg in verdicts:
            verdict = leg[index]
            note = f" *{verdict['note']}*:" if verdict["note"] else ""
            cells.append(f"**{verdict['status']}**{note} {verdict['detail']}")
        rows.append(cells)
    return _table(header, rows)


def _indented(text: str) -> str:
    return "\n".join(f"  {line}" if line else "" for line in text.splitlines())


def markdown_misses(results: Sequence[Result]) -> list[str]:
    """The section "Where a target is missed, and why": known misses that occur, then FAILs.

    A known miss renders its title and explanation (``_misses``), then the figures
    measured on each leg where it occurs; a FAIL, which nothing explains, renders
    its figures and says so.
    """
    legs = [(r["environment"]["leg"], evaluate(r)) for r in results]
    keys: list[str] = []
    for _, verdicts in legs:
        for verdict in verdicts:
            keys += [key for key in verdict["known"] if key not in keys]
    lines: list[str] = []
    for key in keys:
        entry = known_miss(key)
        lines += [f"* **{entry.title}.** A known miss.", "", _indented(entry.explanation), ""]
        for leg, verdicts in legs:
            for verdict in verdicts:
                if key in verdict["known"]:
                    lines += [f"  Measured on {leg}: {verdict['detail']}.", ""]
    for index, (what, target, _) in enumerate(TARGETS):
        failed = [(leg, verdicts[index]) for leg, verdicts in legs]
        failed = [(leg, v) for leg, v in failed if v["status"] == "FAIL"]
        if not failed:
            continue
        lines += [
            f"* **{what}: {target}.** **Not a known miss**: nothing in "
            "`benchmarks/_misses.py` explains it.",
            "",
        ]
        for leg, v in failed:
            lines += [f"  FAIL on {leg}: {v['detail']}.", ""]
    if not lines:
        lines = ["Every target is met (or could not be told apart from its limit, see above).", ""]
    return lines


def _cell(case: CaseResult, base: CaseResult, is_base: bool) -> str:
    s = stats(case["samples"])
    figure = f"{duration(s['median'])} ({duration(s['min'])}{DASH}{duration(s['max'])})"
    if is_base:
        return figure
    return f"**{ratio(case, base)['median']:.2f}{TIMES}** {figure}"


def markdown_results(result: Result) -> list[str]:
    """One table per scenario: a row per case, a column per N."""
    lines: list[str] = []
    for scenario in _scenarios(result):
        groups = _groups(result, scenario)
        names: list[str] = []
        for found in groups:
            names += [name for name in found["cases"] if name not in names]
        unit, baseline = groups[0]["unit"], groups[0]["baseline"]
        header = ["", *(column(g) for g in groups)]
        rows = []
        for name in names:
            cells = [name]
            for found in groups:
                case = found["cases"].get(name)
                base = found["cases"][found["baseline"]]
                cells.append(DASH if case is None else _cell(case, base, name == baseline))
            rows.append(cells)
        lines += [
            f"#### {TITLES.get(scenario, scenario)}",
            "",
            f"Median {unit} (min{DASH}max) of {len(groups[0]['cases'][baseline]['samples'])} "
            f"repetitions; **ratio** to *{baseline}* in the same run.",
            "",
            *_table(header, rows),
            "",
        ]
    return lines


def markdown_hops(results: Sequence[Result]) -> list[str]:
    """Thread hops and loop entries per send, one column pair per leg."""
    first = next((r for r in results if r["hops"]), None)
    if first is None:
        return []
    header = ["Receivers", "Method", "Library"]
    for r in results:
        leg = r["environment"]["leg"]
        header += [f"loop entries ({leg})", f"thread hops ({leg})"]
    rows = []
    for index, hop in enumerate(first["hops"]):
        cells = [f"{hop['n']} {hop['layout']}", f"`{hop['method']}`", hop["library"]]
        for r in results:
            other = r["hops"][index] if index < len(r["hops"]) else None
            cells += (
                [DASH, DASH]
                if other is None
                else [
                    str(other["loop_entries"]),
                    str(other["thread_hops"]),
                ]
            )
        rows.append(cells)
    return _table(header, rows)


def markdown_memory(result: Result) -> list[str]:
    """Bytes per receiver (strong and weak) and retained bytes after the growth sends."""
    memory = result["memory"]
    if not memory:
        return []
    sends = f"retained after {memory['growth_sends']:,} sends"
    header = ["Library", "bytes/receiver (strong)", "bytes/receiver (weak)", sends]
    rows = []
    for name, strong in memory["per_receiver_strong"].items():
        weak = memory["per_receiver_weak"].get(name)
        growth = memory["growth"].get(name)
        rows.append(
            [
                name,
                f"{strong:.0f}",
                "n/a" if weak is None else f"{weak:.0f}",
                DASH if growth is None else f"{growth:,} B",
            ]
        )
    return _table(header, rows)


def _environment_rows(env: dict[str, Any]) -> list[tuple[str, str]]:
    versions = env["versions"]
    rows = [("Python", f"{env['python']} ({env['implementation']})")]
    rows += [(dist, versions.get(dist) or "not installed") for dist in DISTRIBUTIONS]
    rows += [
        ("psygnal compiled", str(env["psygnal_compiled"])),
        ("platform", env["platform"]),
        ("CPUs", str(env["cpu_count"])),
        ("run started (UTC)", env["started"]),
        ("run took", f"{env.get('duration_s', '?')} s"),
    ]
    return rows


def markdown_environment(results: Sequence[Result]) -> list[str]:
    """Versions and platform of each leg."""
    columns = [_environment_rows(r["environment"]) for r in results]
    for column_rows, result in zip(columns, results, strict=True):
        server = (result.get("transport") or {}).get("redis_server")
        column_rows.insert(-4, ("redis-server", server or DASH))
    header = ["", *(r["environment"]["leg"] for r in results)]
    rows = (
        [
            [key, *(column[index][1] for column in columns)]
            for index, (key, _) in enumerate(columns[0])
        ]
        if columns
        else []
    )
    rows.append(["mode", *("quick" if r["config"]["quick"] else "full" for r in results)])
    rows.append(["repetitions", *(str(r["config"]["reps"]) for r in results)])
    return _table(header, rows)


def markdown_tracing(results: Sequence[Result]) -> list[str]:
    """Tracing's cost: a table per method, a row per case and leg."""
    lines: list[str] = []
    for scenario, what in _TRACING.items():
        legs = [
            (r["environment"]["leg"], g)
            for r in results
            for g in r["groups"]
            if g["scenario"] == scenario
        ]
        if not legs:
            continue
        n = legs[0][1]["n"]
        header = [
            what.format(n=n),
            "leg",
            f"{TIMES} tracing off",
            "time",
            "extra per send",
            "extra per receiver",
            f"in OpenTelemetry spans: bare / with a run's attributes (a send makes {n + 1})",
        ]
        rows = [
            [name, leg, *_tracing_cells(found, name)]
            for name in CASES
            for leg, found in legs
            if name in found["cases"]
        ]
        lines += [*_table(header, rows), ""]
    return lines


def _tracing_cells(found: Mapping[str, Any], name: str) -> list[str]:
    """The figures of case ``name`` of a tracing group (see ``markdown_tracing``)."""
    median = duration(stats(found["cases"][name]["samples"])["median"])
    if name == BASELINE:
        return [f"1.00{TIMES}", f"{median} per send", DASH, DASH, DASH]
    if name in SPAN_CASES:
        return [DASH, f"{median} per span", DASH, DASH, DASH]
    (cost,) = [c for c in costs(found) if c.case == name]
    return [
        f"**{cost.ratio:.2f}{TIMES}**",
        f"{median} per send",
        f"+{_us(cost.extra_ns)}",
        f"+{_us(cost.per_receiver_ns)}",
        _in_spans(cost),
    ]


def _in_spans(cost: Cost) -> str:
    """``**24.5** / **18.0**``: the extra per send in bare spans / in spans with attributes."""
    values = (cost.spans, cost.attributed_spans)
    if values == (None, None):
        return DASH
    return " / ".join(DASH if value is None else f"**{value:.1f}**" for value in values)
