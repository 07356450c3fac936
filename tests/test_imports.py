"""The project's modules import each other without cycles, lazy imports included."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("kernels", "network", "optimizers", "experiments", "nbnet")


def _modules():
    """``{dotted name: (path, is_package)}`` of every module of the project's packages."""
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _absolute(module, level, here, is_package):
    if level == 0:
        return module
    base = here.split(".")[: None if is_package else -1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def import_graph():
    """``{module: modules it imports}``, anywhere in its code, with the packages whose
    ``__init__`` such an import runs. ``from . import sibling`` imports the sibling, not the
    package it is named through (that package is already being imported)."""
    modules = _modules()
    graph = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node.module or "", node.level, name, is_package)
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
                targets = subs if len(subs) == len(node.names) else [base, *subs]
            else:
                continue
            for target in targets:
                while target and target not in modules:  # a name inside a module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
                # Importing a module of another package runs that package's __init__ first.
                package = target.rpartition(".")[0]
                while package and not name.startswith(package + ".") and package != name:
                    graph[name].add(package)
                    package = package.rpartition(".")[0]
    return graph


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_itself_round_a_cycle():
    graph = import_graph()
    assert "network.cuda_trainer" in graph and "experiments.config.schema" in graph
    assert cycles(graph) == []


def test_the_settings_schema_imports_nothing_above_it():
    above = ("experiments.training", "experiments.app", "experiments.sweeps", "experiments.report")
    imported = import_graph()["experiments.config.schema"]
    assert not [m for m in imported if m.startswith(above)]
