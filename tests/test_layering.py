"""Dependencies between eventbus's modules point one way.

No import cycles, and the core imports nothing of the integrations built on it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "eventbus"

#: The modules the core is made of: one concept each, importing only one another.
CORE = {
    "eventbus._call",
    "eventbus._commit",
    "eventbus._compat",
    "eventbus._exceptions",
    "eventbus._hops",
    "eventbus._identity",
    "eventbus._plan",
    "eventbus._records",
    "eventbus._registry",
    "eventbus._remote",
    "eventbus._signal",
    "eventbus._subscription",
    "eventbus._trace",
    "eventbus._transaction",
    "eventbus._validation",
    "eventbus._walkers",
    "eventbus._weak_connections",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every eventbus module ``path`` imports, anywhere in it (``TYPE_CHECKING`` blocks and
    imports inside functions included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("eventbus"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if not target.startswith("eventbus"):
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in MODULES else target)
    return found - {name}


MODULES = {module_name(p) for p in PACKAGE.rglob("*.py")}
GRAPH = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among ``graph``'s modules, or ``None``."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_the_graph_is_read_from_the_sources() -> None:
    """Guards the reader itself: known edges are found, including lazy ones."""
    assert "eventbus._registry" in GRAPH["eventbus._signal"]
    assert "eventbus.signals" in GRAPH["eventbus.apps"]  # imported inside install()
    assert set(GRAPH) >= CORE


def test_no_module_imports_one_that_imports_it_back() -> None:
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH) or [])


def test_a_cycle_would_be_reported() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("module", sorted(CORE))
def test_the_core_imports_only_the_core(module: str) -> None:
    """Integrations (the bridge, checks, the test kit, the app) plug into the core, not back."""
    assert GRAPH[module] <= CORE, sorted(GRAPH[module] - CORE)
