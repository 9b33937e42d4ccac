"""No import circle anywhere in the source: every package, every service and the benchmarks.

A circle makes the order of imports matter and hides what depends on what (it once sat
between the load run and the replicated stack, one side importing inside a function to get
away with it). grimp (import-linter's graph) reads the imports without running them,
those under TYPE_CHECKING and inside functions included; the test files are not part of it.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def source_packages() -> list[str]:
    """The top-level packages of packages/*/src and services/*/src, and bench."""
    src_dirs = sorted(REPO_ROOT.glob("packages/*/src/*/__init__.py")) + sorted(
        REPO_ROOT.glob("services/*/src/*/__init__.py")
    )
    return [init.parent.name for init in src_dirs] + ["bench"]


def import_cycles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """Every circle through a direct import, each once (as the shortest way back, starting
    at its first module in sorted order)."""
    cycles: set[tuple[str, ...]] = set()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            way_back = graph.find_shortest_chain(importer=imported, imported=importer)
            if way_back is None:
                continue
            circle = (importer, *way_back[:-1])
            start = circle.index(min(circle))
            cycles.add(circle[start:] + circle[:start])
    return sorted(cycles)


def test_the_source_has_no_import_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO_ROOT))  # bench is a package at the root
    packages = source_packages()
    assert {"s3tasks_testkit", "s3tasks_devstack", "s3tasks_web", "bench"} <= set(packages)
    graph = grimp.build_graph(*packages, cache_dir=None)
    cycles = import_cycles(graph)
    assert cycles == [], "import cycles:\n" + "\n".join(
        " -> ".join((*cycle, cycle[0])) for cycle in cycles
    )


def test_a_cycle_is_listed_with_the_modules_on_it() -> None:
    """The check itself finds a circle, and names it once, however many imports lie on it."""
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")]:
        graph.add_import(importer=importer, imported=imported)
    assert import_cycles(graph) == [("p.a", "p.b", "p.c")]
