"""The docs page *Async views and live events* quotes the example's code as it is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "async-views.md"
EXCERPT = re.compile(r"<!-- excerpt: (\S+) -->\n```\w*\n(.*?)```", re.DOTALL)


def excerpts() -> list[tuple[str, str]]:
    return EXCERPT.findall(PAGE.read_text())


def occurs_indented(excerpt: str, source: str) -> bool:
    """Whether ``excerpt``'s lines are consecutive lines of ``source``, all indented alike."""
    wanted = excerpt.rstrip("\n").split("\n")
    lines = source.split("\n")
    for start, line in enumerate(lines):
        indent = line[: len(line) - len(wanted[0])] if line.endswith(wanted[0]) else None
        if indent is None or indent.strip():
            continue
        window = lines[start : start + len(wanted)]
        if [w.removeprefix(indent) if w.strip() else w.strip() for w in window] == wanted:
            return True
    return False


def test_the_page_quotes_each_part_of_the_example() -> None:
    assert {path for path, _ in excerpts()} == {
        "example_asgi/server.py",
        "example_asgi/settings.py",
        "example_asgi/shop/feed.py",
        "example_asgi/shop/orders.py",
        "example_asgi/shop/receivers.py",
        "example_asgi/shop/signals.py",
        "example_asgi/shop/sse.py",
        "example_asgi/shop/templates/shop/index.html",
        "example_asgi/shop/views.py",
    }


@pytest.mark.parametrize(("path", "code"), excerpts(), ids=[path for path, _ in excerpts()])
def test_each_excerpt_is_verbatim_in_its_file(path: str, code: str) -> None:
    assert occurs_indented(code, (REPO / path).read_text()), f"{path} no longer has this code"
