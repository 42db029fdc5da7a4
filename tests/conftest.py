"""Shared fixtures: the real ICT rig from STUDIO_ASSETS_DIR (CI points it at ../shared/assets)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _assets_dir() -> Path | None:
    folder = os.environ.get("STUDIO_ASSETS_DIR")
    return Path(folder) if folder and Path(folder, "ict_facekit.npz").exists() else None


@pytest.fixture(scope="session")
def assets_dir() -> Path:
    """The folder holding the third-party assets; tests needing them skip when it is not set."""
    folder = _assets_dir()
    if folder is None:
        pytest.skip("STUDIO_ASSETS_DIR does not point at a folder with ict_facekit.npz")
    return folder


@pytest.fixture(scope="session")
def ict_rig(assets_dir):
    """The ICT-FaceKit rig (26,719 vertices, 53 controls, 100 identity modes)."""
    from studio.core.rig import Rig

    return Rig.from_npz(assets_dir / "ict_facekit.npz", name="ict_facekit")


def pytest_collection_modifyitems(config, items):
    """Pure tests first, then offscreen GL tests, then Qt windows (napari's habit: fast failures first)."""

    def rank(item) -> int:
        return 2 if item.get_closest_marker("qt") else 1 if item.get_closest_marker("gl") else 0

    items.sort(key=rank)  # stable: file order is kept within each rank
