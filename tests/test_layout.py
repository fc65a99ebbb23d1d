"""The house's shape, checked: small modules, a few rooms at the top, no import cycle.

A newcomer finds a concept in one room (README, "Where things live"); these rules keep it so as
the code grows. Each failure names the module to split or the cycle to break.
"""
from __future__ import annotations

import ast
from pathlib import Path

SERVICE = Path(__file__).resolve().parent.parent / "service"
MAX_LINES = 400
MAX_TOP_MODULES = 12


def _modules() -> dict[str, Path]:
    """Dotted name → file of every module of the `service` package."""
    found = {}
    for path in SERVICE.rglob("*.py"):
        parts = list(path.relative_to(SERVICE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The service modules `name` imports when it is loaded (imports inside functions run later
    and are left out). A package's own submodules are its contents, not a dependency."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not target.startswith(name + "."):
                out.add(target)
    return out


def test_no_module_is_longer_than_a_newcomer_reads_in_one_go():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these by meaning (over {MAX_LINES} lines): {long}"


def test_service_has_a_few_rooms_not_a_flat_heap_of_modules():
    top = sorted(p.name for p in SERVICE.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top


def test_no_import_cycle_inside_service():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    cycles, state = [], {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
