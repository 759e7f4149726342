"""Every documentation example marked ``<!-- runnable -->`` runs and its assertions hold.

Examples run with the test settings and a transactional test database, so they may
use transactions and the test app's tables.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNABLE = re.compile(r"<!-- runnable -->\n```python\n(.*?)```", re.DOTALL)


def examples() -> list[tuple[str, str]]:
    found = []
    for page in sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")]):
        for number, code in enumerate(RUNNABLE.findall(page.read_text()), 1):
            found.append((f"{page.relative_to(ROOT)}#{number}", code))
    return found


EXAMPLES = examples()


def test_the_docs_have_runnable_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("where", "code"), EXAMPLES, ids=[where for where, _ in EXAMPLES])
def test_documented_example_runs(where: str, code: str) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_example_{len(where)}"}
    exec(compile(code, where, "exec"), namespace)


def test_the_opentelemetry_console_example_prints_one_trace() -> None:
    """docs/examples/tracing_console.py, run as the Tracing page says: the send's span is a
    child of the script's own span, the receiver's a child of the send's."""
    script = ROOT / "docs" / "examples" / "tracing_console.py"
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    spans = {}
    decoder = json.JSONDecoder()
    text = done.stdout.strip()
    while text:
        span, end = decoder.raw_decode(text)
        spans[span["name"]] = span
        text = text[end:].strip()
    request = spans["POST /orders/"]
    send = spans["shop.order_placed send"]
    run = spans["__main__.reserve_stock"]
    assert {s["context"]["trace_id"] for s in spans.values()} == {request["context"]["trace_id"]}
    assert send["parent_id"] == request["context"]["span_id"]
    assert run["parent_id"] == send["context"]["span_id"]
    assert run["attributes"]["eventbus.priority"] == 100
    assert done.stderr == ""
