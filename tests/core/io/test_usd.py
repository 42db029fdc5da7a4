"""USD export: a take as UsdSkel blend-shape animation, read back with Pixar's own library."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.io.curves import TakeCurves
from studio.core.io.usd import UsdExportError, read_blendshape_usd_summary, write_blendshape_usd


def _take(names, frames=40, fps=30.0, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.random((frames, len(names))).astype(np.float32)
    found = np.ones(frames, bool)
    found[7] = False
    values[7] = np.nan
    return TakeCurves(tuple(names), np.arange(frames) / fps, found, values)


def test_a_take_exports_to_usd_that_reads_back_with_its_shapes_samples_and_weights(assets_dir, tmp_path):
    from studio.core.retarget.curves import export_take, retarget_curves
    from studio.core.retarget.targets import load_target
    from studio.core.rig.definition import RigDefinition
    from studio.core.rig.rig import Rig

    ict, definition = Rig.ict(), RigDefinition.ict()
    curves = _take(definition.control_names)
    path = export_take(curves, "usd", tmp_path / "take.usd")
    summary = read_blendshape_usd_summary(path, frames=[0, 12, 39])
    assert summary["shape_names"] == definition.control_names == summary["animated_shapes"]
    assert summary["shape_targets"] == 53 and summary["num_points"] == ict.num_vertices
    assert len(summary["time_codes"]) == 40 and summary["fps"] == pytest.approx(30.0)
    np.testing.assert_allclose(summary["weights"], curves.values[[0, 12, 39]], atol=1e-6)
    assert summary["skeleton"] == "/Root/Skel"
    # a game rig's own controls and mesh
    rook = load_target("rook", ict)
    path = export_take(curves, "usd", tmp_path / "rook.usda", target=rook)
    summary = read_blendshape_usd_summary(path, frames=[3])
    assert summary["shape_names"] == rook.control_names and summary["num_points"] == rook.rig.num_vertices
    np.testing.assert_allclose(summary["weights"][0], retarget_curves(curves, rook).values[3], atol=1e-6)
    assert "def SkelRoot" in path.read_text(encoding="utf-8")  # .usda is text


def test_a_variable_frame_rate_keeps_its_true_times(tmp_path):
    neutral = np.zeros((3, 3))
    neutral[1, 0] = neutral[2, 1] = 1.0
    deltas = np.zeros((1, 3, 3))
    deltas[0, 2, 2] = 0.5
    time_s = np.array([0.0, 1 / 30, 2 / 30, 4 / 30])  # a frame came late
    path = write_blendshape_usd(tmp_path / "vfr.usd", neutral, np.array([[0, 1, 2]]), deltas, ["lift"], time_s,
                                np.array([[0.0], [0.5], [1.0], [0.2]]))
    codes = read_blendshape_usd_summary(path)["time_codes"]
    fps = 3 / (4 / 30)
    np.testing.assert_allclose(codes, time_s * fps)


def test_a_usd_that_cannot_be_written_is_one_line_and_leaves_nothing(tmp_path):
    args = (np.zeros((3, 3)), np.array([[0, 1, 2]]), np.zeros((1, 3, 3)), ["a"], np.array([0.0, 0.1]),
            np.zeros((2, 1)))
    with pytest.raises(UsdExportError, match="does not exist"):
        write_blendshape_usd(tmp_path / "missing" / "x.usd", *args)
    (tmp_path / "folder.usd").mkdir()  # a folder where the file should go
    with pytest.raises(UsdExportError, match="cannot write"):
        write_blendshape_usd(tmp_path / "folder.usd", *args)
    assert [p.name for p in tmp_path.iterdir()] == ["folder.usd"]  # no partial file left
    with pytest.raises(ValueError, match="weights"):
        write_blendshape_usd(tmp_path / "x.usd", *args[:5], np.full((2, 1), np.nan))
    assert not (tmp_path / "x.usd").exists()
