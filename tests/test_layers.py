"""The package's layers stay one-way: data flows readers -> EventLog -> discovery and time model
-> analyses -> findings -> report, with the CLI on top, and no module imports a later stage
(function-level imports included). Read from the source with the AST, so it takes milliseconds."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "flowlens"

#: stage of each top-level module or package; unlisted top-level modules are the core (stage 0)
STAGES = {
    "io": 1,
    "discovery": 2,
    "timing": 2,
    "analysis": 3,
    "conformance": 3,
    "findings": 4,
    "simulation": 5,
    "report": 6,
    "cli": 7,
    "__main__": 7,
    "synth": 7,
}
#: packages whose internal import circles are known and being untangled (issue 9)
KNOWN_CIRCLES = ("flowlens.findings.",)


def _modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        parts = ["flowlens", *p.relative_to(SRC).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> flowlens modules it imports anywhere in its body, except under TYPE_CHECKING."""

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for stmt in node.body
            for n in ast.walk(stmt)
        }
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                names = [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                target = resolve(name) if name.startswith("flowlens") else None
                if target and target != mod and not mod.startswith(target + "."):
                    edges[mod].add(target)
    return edges


def _stage(mod: str) -> int:
    parts = mod.split(".")
    return STAGES.get(parts[1], 0) if len(parts) > 1 else -1


def test_no_module_imports_a_later_stage() -> None:
    edges = _imports(_modules())
    upward = sorted(f"{a} -> {b}" for a, bs in edges.items() for b in bs if 0 <= _stage(a) < _stage(b))
    assert upward == []


def test_no_import_circles_outside_known_ones() -> None:
    edges = _imports(_modules())
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    unknown = [c for c in circles if not all(m.startswith(KNOWN_CIRCLES) for m in c)]
    assert unknown == []


def test_the_import_reader_sees_imports() -> None:
    # the checks above are only as good as the reader: it must see module-level imports
    assert _stage("flowlens.log") < _stage("flowlens.report.build")
    assert "flowlens.render.dot" in _imports(_modules())["flowlens.report.process_map"]
