"""PNG charts of ns per send against N, one panel per leg (matplotlib, Agg backend)."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._timing import stats

__all__ = ["CHARTS", "available", "render_charts"]

#: ``(scenario, file name, title)`` of each chart.
CHARTS = (
    ("send", "benchmarks-send.png", "send() to N sync receivers"),
    ("asend", "benchmarks-asend.png", "asend() to N async receivers"),
)


def available() -> bool:
    """Whether matplotlib is installed (charts are skipped without it)."""
    return importlib.util.find_spec("matplotlib") is not None


def render_charts(results: Sequence[dict[str, Any]], directory: Path) -> list[str]:
    """Write the charts for ``results`` into ``directory``; return the file names written."""
    import matplotlib  # noqa: PLC0415 - optional

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    written = []
    for scenario, filename, title in CHARTS:
        legs = [r for r in results if any(g["scenario"] == scenario for g in r["groups"])]
        if not legs:
            continue
        figure, axes = plt.subplots(
            1, len(legs), figsize=(6.4 * len(legs), 4.6), sharey=True, squeeze=False
        )
        for axis, result in zip(axes[0], legs, strict=True):
            groups = [g for g in result["groups"] if g["scenario"] == scenario]
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
        axes[0][0].set_ylabel("ns per send (median, min\u2013max)")
        axes[0][-1].legend(fontsize="small")
        figure.suptitle(title)
        figure.tight_layout()
        directory.mkdir(parents=True, exist_ok=True)
        figure.savefig(directory / filename, dpi=100, metadata={"Software": None})
        plt.close(figure)
        written.append(filename)
    return written
