"""PNG charts of the results, one panel per leg (matplotlib, Agg backend).

* ``benchmarks-send.png``, ``benchmarks-asend.png``: ns per send against N, one
  line per library.
* ``benchmarks-mixed.png``: ns per send to mixed sync and async receivers, a bar
  per library (the mechanism floor, eventbus, Django) for each layout and N,
  labelled with its ratio to Django; one row for ``send`` and one for ``asend``.
* ``benchmarks-transport.png``: remote signals over Redis, one row per leg:
  the cost of a send that publishes, the median one-way latency and the
  throughput of each contender, a horizontal bar each, labelled with its ratio
  to the group's baseline (for throughput: how many times its events per
  second).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._text import DASH, TIMES
from ._timing import ratio, stats

__all__ = ["CHARTS", "MIXED_CHART", "TRANSPORT_CHART", "available", "render_charts"]

#: ``(scenario, file name, title)`` of each line chart.
CHARTS = (
    ("send", "benchmarks-send.png", "send() to N sync receivers"),
    ("asend", "benchmarks-asend.png", "asend() to N async receivers"),
)

#: ``(file name, title)`` of the chart of mixed sync and async receivers.
MIXED_CHART = ("benchmarks-mixed.png", "send() and asend() to mixed sync and async receivers")

#: ``(file name, title)`` of the chart of remote signals over Redis.
TRANSPORT_CHART = ("benchmarks-transport.png", "Across processes: remote signals over Redis")

#: ``(scenario, axis label, per second)`` of each panel of the transport chart.
_TRANSPORT_PANELS = (
    ("transport_publish", "\u00b5s per send", False),
    ("transport_latency", "\u00b5s one-way, median", False),
    ("transport_throughput", "events per second", True),
)

_LAYOUTS = ("grouped", "alternating")
_MIXED_CASES = ("mechanism floor", "eventbus", "django")
_METHODS = (("send", "send() from a sync thread"), ("asend", "asend() under asyncio"))

Result = dict[str, Any]


def available() -> bool:
    """Whether matplotlib is installed (charts are skipped without it)."""
    return importlib.util.find_spec("matplotlib") is not None


def _groups(result: Result, scenario: str) -> list[dict[str, Any]]:
    return [g for g in result["groups"] if g["scenario"] == scenario]


def _line_chart(plt: Any, results: Sequence[Result], scenario: str, title: str, path: Path) -> bool:
    legs = [r for r in results if _groups(r, scenario)]
    if not legs:
        return False
    figure, axes = plt.subplots(
        1, len(legs), figsize=(6.4 * len(legs), 4.6), sharey=True, squeeze=False
    )
    for axis, result in zip(axes[0], legs, strict=True):
        groups = _groups(result, scenario)
        sizes = [g["n"] for g in groups]
        names: list[str] = []
        for found in groups:
            names += [name for name in found["cases"] if name not in names]
        positions = range(len(sizes))
        for name in names:
            medians, lows, highs = [], [], []
            for found in groups:
                s = stats(found["cases"][name]["samples"])
                medians.append(s["median"])
                lows.append(s["median"] - s["min"])
                highs.append(s["max"] - s["median"])
            style = "--" if name == "floor" else "-"
            axis.errorbar(
                positions,
                medians,
                yerr=[lows, highs],
                label=name,
                linestyle=style,
                marker="o",
                capsize=3,
            )
        axis.set_xticks(list(positions), [str(n) for n in sizes])
        axis.set_yscale("log")
        axis.set_xlabel("receivers (N)")
        axis.set_title(result["environment"]["leg"])
        axis.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel(f"ns per send (median, min{DASH}max)")
    axes[0][-1].legend(fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(figure)
    return True


def _mixed_chart(plt: Any, results: Sequence[Result], title: str, path: Path) -> bool:
    legs = [r for r in results if any(g["scenario"].startswith("mixed_") for g in r["groups"])]
    if not legs:
        return False
    figure, axes = plt.subplots(
        len(_METHODS),
        len(legs),
        figsize=(6.4 * len(legs), 4.2 * len(_METHODS)),
        sharey="row",
        squeeze=False,
    )
    width = 0.8 / len(_MIXED_CASES)
    for row, (method, heading) in enumerate(_METHODS):
        for column, result in enumerate(legs):
            axis = axes[row][column]
            found = [g for layout in _LAYOUTS for g in _groups(result, f"mixed_{method}_{layout}")]
            ticks = [f"{g['scenario'].rsplit('_', 1)[1]}\nN = {g['n']}" for g in found]
            for index, name in enumerate(_MIXED_CASES):
                present = [(x, g) for x, g in enumerate(found) if name in g["cases"]]
                if not present:
                    continue
                positions = [x + (index - 1) * width for x, _ in present]
                medians, lows, highs, ratios = [], [], [], []
                for _, g in present:
                    s = stats(g["cases"][name]["samples"])
                    medians.append(s["median"])
                    lows.append(s["median"] - s["min"])
                    highs.append(s["max"] - s["median"])
                    ratios.append(ratio(g["cases"][name], g["cases"]["django"])["median"])
                bars = axis.bar(
                    positions, medians, width, yerr=[lows, highs], capsize=2, label=name
                )
                if name != "django":
                    axis.bar_label(
                        bars, [f"{r:.1f}{TIMES}" for r in ratios], fontsize="x-small", padding=2
                    )
            axis.set_xticks(range(len(found)), ticks)
            axis.set_yscale("log")
            axis.set_title(f"{result['environment']['leg']}: {heading}", fontsize="medium")
            axis.grid(True, axis="y", which="both", alpha=0.3)
        axes[row][0].set_ylabel(f"ns per {method} (median, min{DASH}max)")
    axes[0][-1].legend(fontsize="small", title=f"bar label: {TIMES} django", title_fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(figure)
    return True


def _family_color(case: str) -> str:
    """One colour per library: eventbus, redis-py and Channels (the rest grey)."""
    for prefix, color in (("eventbus", "C0"), ("raw", "C2"), ("channels", "C1")):
        if case.startswith(prefix):
            return color
    return "C7"


def _transport_chart(plt: Any, results: Sequence[Result], title: str, path: Path) -> bool:
    legs = [r for r in results if _groups(r, "transport_latency")]
    if not legs:
        return False
    figure, axes = plt.subplots(
        len(legs), len(_TRANSPORT_PANELS), figsize=(17, 3.9 * len(legs)), squeeze=False
    )
    for row, result in enumerate(legs):
        for column, (scenario, label, per_second) in enumerate(_TRANSPORT_PANELS):
            axis = axes[row][column]
            found = _groups(result, scenario)
            if not found:
                axis.set_axis_off()
                continue
            cases, base = found[0]["cases"], found[0]["cases"][found[0]["baseline"]]
            names = list(cases)
            values, ratios = [], []
            for name in names:
                median = stats(cases[name]["samples"])["median"]
                r = ratio(cases[name], base)["median"]
                values.append(1e9 / median if per_second else median / 1000)
                ratios.append(1 / r if per_second else r)
            colors = [_family_color(name) for name in names]
            bars = axis.barh(range(len(names)), values, color=colors)
            axis.bar_label(bars, [f"{r:.2f}{TIMES}" for r in ratios], fontsize="small", padding=2)
            axis.set_yticks(range(len(names)), names, fontsize="small")
            axis.invert_yaxis()
            axis.set_xlabel(label)
            axis.locator_params(axis="x", nbins=5)
            axis.margins(x=0.18)
            axis.grid(True, axis="x", alpha=0.3)
            axis.set_title(
                f"{result['environment']['leg']}\n{scenario.removeprefix('transport_')} "
                f"({TIMES} {found[0]['baseline']})",
                fontsize="medium",
            )
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(figure)
    return True


def render_charts(results: Sequence[Result], directory: Path) -> list[str]:
    """Write the charts for ``results`` into ``directory``; return the file names written."""
    import matplotlib  # noqa: PLC0415 - optional

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for scenario, filename, title in CHARTS:
        if _line_chart(plt, results, scenario, title, directory / filename):
            written.append(filename)
    filename, title = MIXED_CHART
    if _mixed_chart(plt, results, title, directory / filename):
        written.append(filename)
    filename, title = TRANSPORT_CHART
    if _transport_chart(plt, results, title, directory / filename):
        written.append(filename)
    return written
