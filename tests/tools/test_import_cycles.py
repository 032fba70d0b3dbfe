"""No two modules of the package import each other, directly or through others (any import
statement counts, also one inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

import affectstream

PKG = Path(affectstream.__file__).resolve().parent


def module_name(path: Path, root: Path = PKG) -> str:
    """``affectstream.stream.daemon`` for ``<root>/stream/daemon.py``."""
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path = PKG) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from a import b`` counts ``a.b`` when
    that is a module, else ``a``)."""
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    pkg = pkg[: len(pkg) - node.level + 1]
                    base = ".".join(pkg + ([base] if base else []))
                names = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names
                ]
            else:
                continue
            for name in names:
                n = name
                while n and n not in files:  # a name inside a module: the module
                    n = n.rpartition(".")[0]
                if n and n != mod:
                    deps.add(n)
        graph[mod] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                return [*stack[stack.index(d) :], d]
            if d not in state and (c := visit(d)) is not None:
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)) is not None:
            return c
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert graph.get("affectstream.stream.daemon")
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle(tmp_path):
    pkg = tmp_path / "affectstream"
    (pkg / "stream").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "stream" / "__init__.py").write_text("")
    (pkg / "stream" / "a.py").write_text("from affectstream.stream.b import B\n")
    (pkg / "stream" / "b.py").write_text("def f():\n    from . import a\n")
    graph = import_graph(pkg)
    assert find_cycle(graph) == [
        "affectstream.stream.a",
        "affectstream.stream.b",
        "affectstream.stream.a",
    ]
