"""The house rules hold: import-linter's contracts (pyproject.toml), no import cycle in studio/, a GUI-free core."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _architecture_report():
    spec = importlib.util.spec_from_file_location("architecture_report", ROOT / "scripts" / "architecture_report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def test_import_linter_contracts_are_kept():
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert lint_imports, "import-linter is not installed (pip install -e '.[test]')"
    result = subprocess.run([lint_imports], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    declared = (ROOT / "pyproject.toml").read_text().count("[[tool.importlinter.contracts]]")
    assert re.search(rf"Contracts: {declared} kept, 0 broken", result.stdout), result.stdout


def test_no_module_of_studio_imports_itself_through_others():
    report = _architecture_report()
    graph = report.import_graph(ROOT)
    assert len(graph.modules) > 60 and sum(map(len, graph.edges.values())) > 200  # it really read the tree
    assert report.import_cycles(graph) == []


def test_the_cycle_check_finds_a_loop_through_a_function_level_import(tmp_path):
    package = tmp_path / "studio"
    (package / "core").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "core" / "__init__.py").write_text("")
    (package / "core" / "a.py").write_text("from studio.core.b import thing\n")
    (package / "core" / "b.py").write_text("def thing():\n    from studio.core import a\n    return a\n")
    (package / "core" / "c.py").write_text("import studio.core.a\n")
    report = _architecture_report()
    graph = report.import_graph(tmp_path)
    assert report.import_cycles(graph) == [["studio.core.a", "studio.core.b"]]
    assert graph.hidden["studio.core.b"] == 1


def test_importing_the_core_loads_no_gui_library():
    code = (
        "import sys, pkgutil, importlib, studio.core\n"
        "for m in pkgutil.walk_packages(studio.core.__path__, 'studio.core.'): importlib.import_module(m.name)\n"
        "bad = [m for m in ('PySide6', 'vispy', 'pyqtgraph', 'superqt') if m in sys.modules]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
