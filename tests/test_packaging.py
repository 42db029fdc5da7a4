"""An installed studio (not this checkout) carries its data and runs its command line and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_an_installed_studio_runs_its_benchmarks_from_anywhere(tmp_path, assets_dir):
    target, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target",
         str(target), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stderr
    resources = target / "studio" / "resources"
    assert (resources / "rigs" / "ict_facekit.json").is_file()
    assert (resources / "landmarks" / "mediapipe478_on_ict.npz").is_file()
    assert len(list((resources / "targets").glob("*.json"))) >= 4
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = (
        "import sys, studio, studio.core.io.resources as r; from studio.cli import main; "
        f"assert studio.__file__.startswith({str(target)!r}), studio.__file__; "
        f"assert str(r.RESOURCES_DIR).startswith({str(target)!r}), r.RESOURCES_DIR; "
        "sys.exit(main(['bench', 'solver', '--batch', '200', '--json', 'solver.json']))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert (elsewhere / "solver.json").is_file() and '"benchmark": "solver"' in result.stdout
