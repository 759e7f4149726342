"""Every documentation example marked ``<!-- runnable -->`` runs and its assertions hold.

Examples run with the test settings and a transactional test database, so they may
use transactions and the test app's tables.
"""

from __future__ import annotations

import re
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
