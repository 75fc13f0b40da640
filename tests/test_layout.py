"""The code's layout: no import circle inside an app or between apps, Django-free cores, modules within the size guideline.

Every import statement counts, function-level ones included: a circle hidden in a function is still a circle.
"""
import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "annotation", "crowd", "evaluation", "exports", "modeling", "studies", "system_benchmarks")
SKIP_DIRS = {"migrations", "__pycache__"}

#: Modules allowed past SIZE_LIMIT lines, and why.
SIZE_LIMIT = 500
SIZE_EXCEPTIONS = {
    "modeling/selection/core/active.py": "the selector's maths in one core: expected information gain, candidates, and its batch strategies (eig, mst, random, thompson)",
    "modeling/critic/core/training.py": "the training loop with its vision warm-up and held-out evaluation",
    "evaluation/scaling.py": "Thurstone MAP with its uncertainty and priors, one derivation",
    "evaluation/metrics.py": "the IQA metrics with their logistic fit and bootstrap",
}


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the apps (migrations left out)."""
    out = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if SKIP_DIRS & set(path.relative_to(ROOT).parts):
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The known modules that `path` imports, resolved to the longest known prefix; its own packages left out."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name and not name.startswith(candidate + "."):
                found.add(candidate)
    return found


def _circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected sets of more than one node (Tarjan, iterative)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                members = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.add(member)
                    if member == node:
                        break
                if len(members) > 1:
                    out.append(frozenset(members))
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def test_the_scan_finds_a_circle():
    """The circle finder reports a three-module circle and leaves a chain alone."""
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset({"a", "b", "c"})]
    assert _circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_circle_inside_an_app(graph):
    """No modules of an app import each other in a circle (a service queues its app's task by name, not by import)."""
    assert [sorted(circle) for circle in _circles(graph)] == []


def test_modeling_has_no_import_circle(graph):
    """modeling's packages (critic, selection, assist) and its own modules form no circle at all."""
    assert [sorted(c) for c in _circles(graph) if any(m.split(".")[0] == "modeling" for m in c)] == []


def test_no_import_circle_between_apps(graph):
    """Apps depend on each other in one direction only (modeling reads evaluation, never the other way round)."""
    apps = defaultdict(set)
    for name, targets in graph.items():
        for target in targets:
            if name.split(".")[0] != target.split(".")[0]:
                apps[name.split(".")[0]].add(target.split(".")[0])
    assert [sorted(circle) for circle in _circles(apps)] == []


def _imports_django(path: Path) -> bool:
    """The module itself imports Django, DRF or Celery (at any level)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
        if any(name.split(".")[0] in {"django", "rest_framework", "celery"} for name in names):
            return True
    return False


def test_modeling_cores_reach_no_django(graph):
    """Nothing a `modeling/*/core/` module imports, directly or through other modules, imports Django."""
    modules = _modules()
    with_django = {name for name, path in modules.items() if _imports_django(path)}
    cores = [name for name in modules if name.startswith("modeling.") and ".core" in name]
    assert len(cores) >= 3
    reached = {}
    for core in cores:
        seen, todo = set(), [core]
        while todo:
            for target in graph[todo.pop()] - seen:
                seen.add(target)
                todo.append(target)
        reached[core] = sorted((seen | {core}) & with_django)
    assert {core: found for core, found in reached.items() if found} == {}


def test_modules_stay_within_the_size_guideline():
    """Modules stay under SIZE_LIMIT lines, except those in SIZE_EXCEPTIONS (each with its reason)."""
    sizes = {str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines()) for path in _modules().values()}
    assert {path: n for path, n in sizes.items() if n > SIZE_LIMIT and path not in SIZE_EXCEPTIONS} == {}
    assert set(SIZE_EXCEPTIONS) <= set(sizes), "an exception names a module that is gone"
