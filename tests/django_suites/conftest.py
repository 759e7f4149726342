"""Summarise the runs of Django's tests at the end of the session."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.django_suites import harness


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    runs = harness.finished_runs()
    if not runs:
        return
    terminalreporter.section("Django's own test suites")
    for run in runs:
        counts = Counter(found["outcome"] for found in run.results.values())
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        terminalreporter.write_line(
            f"Django {run.version}, {run.mode} ({harness.MODE_DESCRIPTIONS[run.mode]}): "
            f"{len(run.results)} tests ({summary}) in {run.seconds:.1f}s; log {run.log}"
        )
        if run.mode == "swapped":
            kept = sorted(
                name for name, found in run.facts["signals"].items() if not found["eventbus"]
            )
            terminalreporter.write_line(
                "    still Django's own signals in mode swapped (created before the swap, "
                f"while importing eventbus): {', '.join(kept) or 'none'}"
            )
