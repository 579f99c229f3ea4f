"""The static import graph of the source tree: which module imports which, read from the source with ``ast``
(nothing is imported). Function-level (lazy) imports count like top-level ones: they still tie the modules
together. Used by the architecture tests and to draw docs/architecture.md's graph.
"""

from __future__ import annotations

import ast
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ImportRef:
    """One module imported by one statement: the importing module, the imported module (dotted, absolute;
    ``from pkg import sub`` names ``pkg.sub`` when ``sub`` is a module, else ``pkg``) and the line."""

    module: str
    target: str
    line: int


def module_name(path: Path, root: Path = ROOT) -> str:
    """Dotted module name of a source file under ``root`` (``app/identity/__init__.py`` -> ``app.identity``)."""
    parts = list(path.resolve().relative_to(root.resolve()).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def iter_modules(package: str, root: Path = ROOT) -> Iterator[tuple[str, Path]]:
    """(dotted name, path) of every ``.py`` file of ``package``, sorted by path."""
    for path in sorted((root / package.replace(".", "/")).rglob("*.py")):
        yield module_name(path, root), path


def _is_module(dotted: str, root: Path) -> bool:
    base = root / dotted.replace(".", "/")
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path, root: Path = ROOT) -> list[ImportRef]:
    """Every module the file imports, top-level and inside functions; relative imports made absolute."""
    module = module_name(path, root)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out: list[ImportRef] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [ImportRef(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                sub = f"{prefix}.{alias.name}"
                out.append(ImportRef(module, sub if _is_module(sub, root) else prefix, node.lineno))
    return out


def import_graph(packages: Iterable[str], root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of ``packages`` it imports. Importing ``a.b.c`` also runs ``a`` and ``a.b``, so
    those packages count as imported too."""
    packages = tuple(packages)
    tops = {p.split(".")[0] for p in packages}
    graph: dict[str, set[str]] = {}
    for package in packages:
        for name, path in iter_modules(package, root):
            deps: set[str] = set()
            for ref in imports_of(path, root):
                parts = ref.target.split(".")
                deps.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
            graph[name] = {d for d in deps if d.split(".")[0] in tops and d != name}
    return graph


def import_chain(graph: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """The shortest chain of imports ``[start, ..., goal]`` in ``graph``, or None when ``start`` never
    (even indirectly) imports ``goal``."""
    came_from: dict[str, str | None] = {start: None}
    todo = deque([start])
    while todo:
        here = todo.popleft()
        if here == goal:
            chain = [here]
            while came_from[chain[-1]] is not None:
                chain.append(came_from[chain[-1]])  # type: ignore[arg-type]
            return chain[::-1]
        for nxt in sorted(graph.get(here, ())):
            if nxt not in came_from:
                came_from[nxt] = here
                todo.append(nxt)
    return None


def references_to(package: str, path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, what) for each import of ``package`` (or a module in it) in the file, and each string constant
    (docstrings and f-string parts included) that names it: ``"ui"``, ``"ui.command"``,
    ``"ui.report_pdf:write_pdf"``, ``"see ui.workers"``."""
    named = re.compile(rf"(?<![\w.]){re.escape(package)}\.[A-Za-z_]|^{re.escape(package)}$")
    found = [(ref.line, f"import {ref.target}") for ref in imports_of(path, root)
             if ref.target == package or ref.target.startswith(package + ".")]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found += [(node.lineno, f"string {node.value!r}") for node in ast.walk(tree)
              if isinstance(node, ast.Constant) and isinstance(node.value, str) and named.search(node.value)]
    return sorted(found)


def package_graph(graph: dict[str, set[str]], depth: int = 2) -> dict[str, set[str]]:
    """``graph`` folded to packages of ``depth`` dotted parts (``app.identity.linking`` -> ``app.identity``),
    without self-loops."""
    def fold(name: str) -> str:
        return ".".join(name.split(".")[:depth])

    out: dict[str, set[str]] = {}
    for module, deps in graph.items():
        out.setdefault(fold(module), set()).update(fold(d) for d in deps if fold(d) != fold(module))
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles of ``graph``, each as ``[a, b, ..., a]`` (one per back edge found by a depth-first walk)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


if __name__ == "__main__":  # python -m devkit.imports: app's subpackages, who imports whom, and any cycle
    import sys

    packages = package_graph(import_graph(["app"]))
    for name in sorted(packages):
        sys.stdout.write(f"{name} -> {', '.join(sorted(packages[name] - {'app'})) or '-'}\n")
    for cycle in cycles(packages):
        sys.stdout.write(f"cycle: {' -> '.join(cycle)}\n")
