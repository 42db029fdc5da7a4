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


#: Real footage beside the checkout (``../shared/footage``); tests that need it skip without it.
FOOTAGE = Path(__file__).resolve().parents[2] / "shared" / "footage"


def _record_synthetic_session(folder: Path, seed: int, expression_names: list[str]):
    """Record a Simon-Says session of a few expressions from the synthetic performer (render → MediaPipe)."""
    from studio.core.jobs import run_job
    from studio.core.session_calibration import synthetic_session_job
    from studio.render.synthetic_performer import SyntheticPerformerSource

    def source_for(rig, curves, source_seed):
        return SyntheticPerformerSource(rig, curves, fps=30.0, seed=source_seed)

    return run_job(synthetic_session_job(folder, seed, source_for, expression_names))


def _short_clip(path: Path, frames: int = 40) -> Path:
    """The first ``frames`` frames of the footage clip d10.mp4, written as a small MJPG file at ``path``."""
    import cv2

    source = cv2.VideoCapture(str(FOOTAGE / "d10.mp4"))
    writer = None
    for _ in range(frames):
        ok, image = source.read()
        if not ok:
            break
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, image.shape[1::-1])
        writer.write(image)
    source.release()
    writer.release()
    return path


@pytest.fixture(scope="session")
def record_synthetic_session(assets_dir):
    """``record(folder, seed, expression_names) -> Session``: a few synthetic-performer captures."""
    return _record_synthetic_session


@pytest.fixture(scope="session")
def short_clip():
    """``clip(path, frames=40) -> path``: the start of the footage clip d10.mp4 (check :data:`FOOTAGE`)."""
    return _short_clip
