"""The import graph of the whole tree: no cycles (function-local imports included), one direction
(catalog_concepts.cli -> flows -> tasks -> plain packages), prefect only in flows/ and tasks/, and every
module importable on its own in a fresh interpreter."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p.parent.name for p in REPO_ROOT.glob("*/__init__.py") if p.parent.name not in ("tests", "bench"))
PROJECT = "catalog_concepts"  # its subpackages (catalog_concepts.storage, ...) are packages of their own here
LAYERS = {"catalog_concepts.cli": 3, "flows": 2, "tasks": 1}  # every other package is plain domain code: layer 0
PREFECT_PACKAGES = {"flows", "tasks"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for file in sorted((REPO_ROOT / package).rglob("*.py")):
            found[".".join(file.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")] = file
    return found


MODULES = _modules()


def _package(module: str) -> str:
    """The package a module belongs to for layering: its top-level name, or catalog_concepts.<sub>."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == PROJECT and len(parts) > 1 else parts[0]


def _imported_names(file: Path) -> set[str]:
    """Every absolute import in the file, at any depth (function-local imports count)."""
    names = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


GRAPH = {name: {m for m in _imported_names(file) if m in MODULES and m != name} for name, file in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_cycle_hidden_anywhere():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_tree_has_no_import_cycles():
    assert len(MODULES) > 100 and "catalog_concepts.scoring.suite" in MODULES and "catalog_concepts.cli.main" in MODULES
    assert _cycles(GRAPH) == []


def test_imports_run_one_way_cli_flows_tasks_domain():
    wrong = []
    for name, imported in GRAPH.items():
        layer = LAYERS.get(_package(name), 0)
        for other in imported:
            other_package = _package(other)
            other_layer = LAYERS.get(other_package, 0)
            if other_layer > layer or (other_layer == layer > 0 and other_package != _package(name)):
                wrong.append(f"{name} -> {other}")
    assert wrong == []


def test_the_layers_name_real_packages():
    assert PACKAGES == ["catalog", "catalog_concepts", "flows", "policies", "tasks"]
    assert {"catalog_concepts.cli.main", "catalog_concepts.shards.shard", "catalog_concepts.local_services.s3_server"} <= set(MODULES)
    assert _package("catalog_concepts.cli.main") == "catalog_concepts.cli" and _package("flows.nightly") == "flows"


def test_only_flows_and_tasks_import_prefect():
    importers = sorted(
        name for name, file in MODULES.items()
        if _package(name) not in PREFECT_PACKAGES
        and any(n == "prefect" or n.startswith(("prefect.", "prefect_")) for n in _imported_names(file))
    )
    assert importers == []


@pytest.mark.slow  # one fresh interpreter per module
@pytest.mark.timeout(3000)  # ~140 interpreters importing torch, diffusers and prefect on a loaded 2-core box
def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    # One interpreter per module: a cycle that only bites when a module is the first one imported
    # (A imports B at the top, B imports A at the top) raises here even if the tree imports fine as a whole.
    script = (
        "import importlib, subprocess, sys\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    done = subprocess.run([sys.executable, '-c', f'import {name}'], capture_output=True, text=True)\n"
        "    if done.returncode:\n"
        "        failed.append(f'{name}: {done.stderr.strip().splitlines()[-1]}')\n"
        "print('\\n'.join(failed))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, *sorted(MODULES)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=2900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == ""
