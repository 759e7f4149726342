"""Number formatting shared by the terminal and Markdown reports."""

from __future__ import annotations

__all__ = ["DASH", "TIMES", "duration"]

#: The multiplication sign and the en dash of "1.39x" and "min-max", as printed.
TIMES, DASH = "\u00d7", "\u2013"


def duration(ns: float) -> str:
    """``ns`` with a unit that keeps three or four significant digits."""
    if ns < 10_000:
        return f"{ns:,.0f} ns"
    if ns < 10_000_000:
        return f"{ns / 1_000:,.1f} \u00b5s"
    return f"{ns / 1_000_000:,.1f} ms"
