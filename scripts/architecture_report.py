"""The studio's structure in figures: modules per package, import cycles, hidden imports, longest functions.

``python scripts/architecture_report.py [--json OUT.json] [--longest N]`` reads ``studio/`` as text (nothing is
imported or run) and prints:

- **modules per package** (``__init__.py`` files not counted);
- **import cycles** between modules, counting every ``import`` wherever it stands (inside functions and
  under ``if TYPE_CHECKING:`` too): each cycle is a set of modules that import each other in a loop;
- **hidden imports**: ``import`` statements of studio modules inside functions, outside the command line
  (``studio/cli``) and the benchmarks (``studio/bench``), whose lazy imports keep start-up fast;
- the **longest functions** (lines from ``def`` to the last line, docstring included).

``tests/test_architecture.py`` uses :func:`import_graph` and :func:`import_cycles` to keep ``studio/`` free of
cycles.
"""

from __future__ import annotations

import argparse
import ast
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class ImportGraph:
    """Modules of a package tree and the imports between them.

    Attributes
    ----------
    modules : dict of str to Path
        Dotted module name → file.
    edges : dict of str to set of str
        Importer → imported modules of the tree (every ``import`` statement, ``TYPE_CHECKING`` ones too: a
        type named in a signature is a dependency all the same).
    hidden : Counter
        Importer → number of ``import`` statements of tree modules inside its functions.
    """

    modules: dict[str, Path]
    edges: dict[str, set[str]] = field(default_factory=dict)
    hidden: Counter = field(default_factory=Counter)


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def import_graph(root: Path = ROOT, package: str = "studio") -> ImportGraph:
    """Read every module of ``root/package`` and the imports between them (see :class:`ImportGraph`)."""
    modules = {_module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}
    graph = ImportGraph(modules, {name: set() for name in modules})

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = _parents(tree)
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    keep = len(name.split(".")) - node.level + (1 if is_package else 0)
                    base = ".".join(name.split(".")[:keep] + ([base] if base else []))
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            in_function = type_checking = False
            ancestor = node
            while ancestor in parents:
                ancestor = parents[ancestor]
                in_function |= isinstance(ancestor, ast.FunctionDef | ast.AsyncFunctionDef)
                type_checking |= isinstance(ancestor, ast.If) and "TYPE_CHECKING" in ast.unparse(ancestor.test)
            found = {resolve(t) for t in targets if t == package or t.startswith(package + ".")} - {None, name}
            if is_package:
                found = {m for m in found if not m.startswith(name + ".")}  # a package's face
            if not found:
                continue
            graph.edges[name] |= found
            if in_function and not type_checking:
                graph.hidden[name] += 1
    return graph


def import_cycles(graph: ImportGraph) -> list[list[str]]:
    """The modules that import each other in a loop: strongly connected components of two or more (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.edges.get(v, ())):
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
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def longest_functions(root: Path = ROOT, package: str = "studio", count: int = 10) -> list[tuple[int, str]]:
    """``(lines, "path:line name")`` of the ``count`` longest functions and methods, longest first."""
    rows = []
    for path in sorted((root / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                rows.append((node.end_lineno - node.lineno + 1, f"{path.relative_to(root)}:{node.lineno} {node.name}"))
    return sorted(rows, key=lambda row: -row[0])[:count]


def report(root: Path = ROOT, longest: int = 10) -> dict:
    """Every figure of the module docstring, as JSON data."""
    graph = import_graph(root)
    per_package = Counter(
        str(path.parent.relative_to(root)) for path in graph.modules.values() if path.name != "__init__.py"
    )
    outside = {k: v for k, v in graph.hidden.items() if not k.startswith(("studio.cli", "studio.bench"))}
    return {
        "modules": sum(per_package.values()),
        "modules_per_package": dict(sorted(per_package.items())),
        "import_cycles": import_cycles(graph),
        "hidden_imports_outside_cli_and_bench": sum(outside.values()),
        "hidden_imports_by_module": dict(sorted(outside.items())),
        "longest_functions": [{"lines": n, "where": where} for n, where in longest_functions(root, count=longest)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--longest", type=int, default=10, help="how many of the longest functions to list")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to read (default: this one)")
    args = parser.parse_args()
    figures = report(args.root, args.longest)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
