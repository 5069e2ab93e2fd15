"""The house rules of DESIGN.md, checked on the source: one namespace, floors, no cycles."""

from __future__ import annotations

import ast
import subprocess
import sys

from helpers import package_modules

#: floor of each module prefix, bottom to top (the longest matching prefix wins)
FLOORS = {"trixanes": 1, "trixanes._shared": 1, "trixanes.io": 2, "trixanes.synth": 3,
          "trixanes.pipeline": 3, "trixanes.validate": 4, "trixanes.studies": 5,
          "trixanes.cli": 6, "trixanes.cli_app": 6, "trixanes.cli_studies": 6, "trixanes.demo": 6, "trixanes.report": 6,
          "trixanes.export": 6, "trixanes.testing": 6, "trixanes.trust_report": 6,
          "trixanes.series_demo": 6}
SIBLINGS_APART = [("trixanes.synth", "trixanes.pipeline")]


MODULES = package_modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imports(name: str) -> set[str]:
    """Every trixanes module that ``name`` imports, at any depth of its code."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    package = name if _is_package(name) else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:
                t = t.rpartition(".")[0]
            if t and t.startswith("trixanes") and t != name:
                found.add(t)
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def _floor(name: str) -> int:
    best = max((p for p in FLOORS if name == p or name.startswith(p + ".")), key=len)
    return FLOORS[best]


def test_every_module_has_a_floor_and_the_walk_finds_the_packages():
    assert {"trixanes.synth.simulate", "trixanes.pipeline.process", "trixanes.io.references",
            "trixanes.validate.scorecard", "trixanes.studies.sweep", "trixanes.cli"} <= set(MODULES)
    assert "trixanes.io.dataexchange" in GRAPH["trixanes.pipeline.volume"]


def test_no_import_goes_up_a_floor():
    upward = sorted(f"{m} (floor {_floor(m)}) imports {t} (floor {_floor(t)})"
                    for m, ts in GRAPH.items() for t in ts if _floor(t) > _floor(m))
    assert not upward, "\n".join(upward)


def test_the_package_root_imports_nothing():
    assert GRAPH["trixanes"] == set()


def test_synth_and_pipeline_never_import_each_other():
    bad = []
    for a, b in SIBLINGS_APART:
        for x, y in ((a, b), (b, a)):
            bad += [f"{m} imports {t}" for m, ts in GRAPH.items() if m.startswith(x + ".") or m == x
                    for t in ts if t == y or t.startswith(y + ".")]
    assert not bad, "\n".join(bad)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_one_namespace_is_installed(tmp_path):
    """Outside the repository the packages import under trixanes.* only."""
    code = ("import trixanes.synth, trixanes.pipeline, trixanes.validate, trixanes.studies, trixanes.io\n"
            "import importlib.util as u\n"
            "print([n for n in ('synth', 'pipeline', 'validate', 'studies') if u.find_spec(n)])")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
