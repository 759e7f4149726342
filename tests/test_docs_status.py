"""What the README's Status and the docs' home page say exists is what the code has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
HOME = (ROOT / "docs" / "index.md").read_text()

#: What the README's Status calls built -> where the code for it lives.
BUILT = {
    "the core `Signal`": "eventbus/_signal.py",
    "the model-signal bridge": "eventbus/_bridge.py",
    "after-commit receivers": "eventbus/_commit.py",
    "`eventbus.atomic()`": "eventbus/_transaction.py",
    "change tracking": "eventbus/_tracking.py",
    "bulk-operation signals": "eventbus/bulk.py",
    "`manage.py eventbus`": "eventbus/management/commands/eventbus.py",
    "system checks": "eventbus/checks.py",
    "live subscriptions": "eventbus/_subscription.py",
    "the test kit (`eventbus.testing`)": "eventbus/testing.py",
    "pytest plugin": "eventbus/pytest_plugin.py",
    "the ASGI example shop": "example_asgi/__main__.py",
    "the benchmark suite": "benchmarks/__main__.py",
    "Django's own signal test suites": "tests/django_suites/harness.py",
    "cross-process delivery over Redis": "eventbus/_redis.py",
    "broadcast": "eventbus/_node.py",
    "`manage.py eventbus listen` and `status`": "eventbus/remote.py",
    "tracing of every send and receiver run": "eventbus/tracing.py",
    "OpenTelemetry spans": "eventbus/_otel.py",
    "`eventbus.contrib.debug_toolbar.SignalsPanel`": "eventbus/contrib/debug_toolbar/__init__.py",
}
#: What both say is not built yet -> paths that would hold it, none of which may exist.
NOT_BUILT = {
    "durable once-per-cluster delivery": [
        "eventbus/_queue.py",
        "eventbus/outbox.py",
        "eventbus/worker.py",
    ],
}


def status() -> str:
    match = re.search(r"^## Status\n(.*?)(?=^## |\Z)", README, re.MULTILINE | re.DOTALL)
    assert match, "the README has a Status section"
    return " ".join(match.group(1).split())


def not_built_note() -> str:
    match = re.search(r'^!!! note "What is not built yet"\n((?:    .*\n?)+)', HOME, re.MULTILINE)
    assert match, "the docs' home page says what is not built yet"
    return " ".join(match.group(1).split())


@pytest.mark.parametrize(("claim", "path"), sorted(BUILT.items()))
def test_what_the_status_calls_built_exists(claim: str, path: str) -> None:
    assert claim in status()
    assert (ROOT / path).exists()


@pytest.mark.parametrize(("claim", "paths"), sorted(NOT_BUILT.items()))
def test_what_both_call_not_built_does_not_exist_yet(claim: str, paths: list[str]) -> None:
    built, _, later = status().partition("Not built yet:")
    assert claim.lower() in later.lower()
    assert claim.lower() not in built.lower()
    assert claim.lower() in not_built_note().lower()
    assert [p for p in paths if (ROOT / p).exists()] == []


def test_the_readme_does_not_count_missed_benchmark_targets() -> None:
    """A count drifts from the generated page; the README links the page's explanation."""
    counted = re.search(r"\b(one|two|three|four|\d+) targets? (?:is|are) (?:still )?missed", README)
    assert counted is None, counted.group(0)
    assert "Where a target is missed, and why" in README


def test_every_docs_page_the_readme_links_exists() -> None:
    for link in re.findall(r"\]\((docs/[^)#]+)", README):
        assert (ROOT / link).exists(), link
