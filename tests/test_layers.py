"""The package's layers, read from its import statements.

Every ``import`` and ``from … import`` in ``core/taskloom`` counts, wherever it
sits: at module level, inside a function, or under ``if TYPE_CHECKING:``.
A function-local import still ties two files together; it only delays the
moment the tie is felt.

How an import becomes an edge between files:
- ``import taskloom.queue.job`` and ``from taskloom.queue import job`` are
  edges to ``queue/job.py``;
- ``from taskloom.queue import JobQueue`` is an edge to ``queue/__init__.py``
  (the file that must run to provide the name);
- the parent packages Python also initialises on the way (``taskloom/__init__.py``,
  ``queue/__init__.py`` for ``queue/job.py``) are not edges: every file would
  otherwise depend on ``taskloom/__init__.py`` and the graph would say nothing.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

import taskloom

PACKAGE = Path(taskloom.__file__).parent


@dataclass(frozen=True)
class Import:
    source: str  # importing module, e.g. "taskloom.queue.storage"
    target: str  # imported module, e.g. "taskloom.browser.indexeddb"
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_files() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, modules: set[str]) -> list[Import]:
    """Every import in ``path`` that names a module of the package."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = resolve(name, is_package, node.module, node.level)
            # `from pkg import sub` imports the module pkg.sub when there is one.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            if target == "taskloom" or target.startswith("taskloom."):
                found.append(Import(name, nearest_module(target, modules), node.lineno))
    return found


def resolve(importer: str, is_package: bool, module: str | None, level: int) -> str:
    if level == 0:
        assert module is not None
        return module
    parts = importer.split(".")
    # In a package's __init__, `.` is the package itself; in a module, its parent.
    base = parts if is_package else parts[:-1]
    if level > 1:
        base = base[: -(level - 1)]
    return ".".join([*base, module] if module else base)


def nearest_module(target: str, modules: set[str]) -> str:
    # A target that is no file of ours (misspelt, or removed) counts as its nearest
    # package: the file Python would run before failing.
    while target not in modules and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    files = package_files()
    return [imp for name, path in files.items() for imp in imports_of(name, path, set(files))]


def in_layer(module: str, layer: str) -> bool:
    return module == layer or module.startswith(layer + ".")


def describe(found: list[Import]) -> str:
    return "\n".join(f"  {i.source} (line {i.line}) imports {i.target}" for i in found)


SAMPLE = """
from typing import TYPE_CHECKING

from . import job
from ..errors import QueueError
from .storage import create_queue_storage

if TYPE_CHECKING:
    from taskloom.runner import RunResult


def later():
    import json

    import taskloom.ai.tasks
"""


def test_the_scan_sees_every_kind_of_import(tmp_path):
    # The layer tests are only as good as this reading of the source.
    sample = tmp_path / "sample.py"
    sample.write_text(SAMPLE)
    modules = {"taskloom", "taskloom.errors", "taskloom.queue", "taskloom.queue.job",
               "taskloom.queue.storage", "taskloom.runner", "taskloom.ai", "taskloom.ai.tasks"}
    found = {(i.target, i.line) for i in imports_of("taskloom.queue.sample", sample, modules)}
    assert found == {
        ("taskloom.queue.job", 4),          # `from . import module` names the module
        ("taskloom.errors", 5),             # relative, two levels
        ("taskloom.queue.storage", 6),      # a name from a package: the package's __init__
        ("taskloom.runner", 9),             # under TYPE_CHECKING
        ("taskloom.ai.tasks", 15),          # inside a function (json, stdlib, is not ours)
    }


def test_the_scan_reads_the_package(imports):
    pairs = {(i.source, i.target) for i in imports}
    assert ("taskloom", "taskloom.errors") in pairs
    assert ("taskloom.browser.saved_graphs", "taskloom.browser.page_store") in pairs


def test_only_the_browser_imports_from_the_browser(imports):
    browser = "taskloom.browser"
    wrong = [i for i in imports if in_layer(i.target, browser) and not in_layer(i.source, browser)]
    assert not wrong, (
        "browser/ runs only in Pyodide; code outside it must not import it "
        "(let taskloom.browser register what it provides instead):\n" + describe(wrong))


@pytest.mark.parametrize("layer", ["taskloom.storage", "taskloom.queue"])
def test_storage_and_queue_import_no_higher_layer(imports, layer):
    higher = ("taskloom.ai", "taskloom.browser", "taskloom.runner")
    wrong = [i for i in imports
             if in_layer(i.source, layer) and any(in_layer(i.target, h) for h in higher)]
    assert not wrong, (
        f"{layer} sits below ai/, browser/ and the runner and must not import them:\n"
        + describe(wrong))


def test_no_import_cycles_between_files(imports):
    graph = nx.DiGraph()
    graph.add_nodes_from(package_files())
    for imp in imports:
        if imp.source != imp.target:
            graph.add_edge(imp.source, imp.target, line=imp.line)
    loops = []
    for cycle in nx.simple_cycles(graph):
        # simple_cycles yields an arbitrary rotation; print from the smallest name.
        start = cycle.index(min(cycle))
        loops.append(cycle[start:] + cycle[:start])
    loops.sort(key=lambda cycle: (len(cycle), cycle))
    lines = []
    for cycle in loops[:20]:
        lines.append("  " + " -> ".join(
            f"{a} (line {graph.edges[a, b]['line']})"
            for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True)) + f" -> {cycle[0]}")
    assert not loops, (
        f"{len(loops)} import loop(s) between files (imports inside functions and under "
        "`if TYPE_CHECKING:` count too; move what both sides need into a module of its "
        "own, or let the lower layer offer a hook the higher one fills):\n" + "\n".join(lines))
