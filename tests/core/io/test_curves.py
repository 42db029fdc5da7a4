"""Take curves CSV: round trip, NaN rows for frames without a face, and one-line errors naming line and column."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.io.curves import TakeCurves, TakeFileError
from studio.core.rig.metrics import control_errors, sparsity, take_mean, tweaker_usage


def _curves() -> TakeCurves:
    values = np.array([[0.0, 0.5], [np.nan, np.nan], [0.25, 1.0]], np.float32)
    return TakeCurves(("jawOpen", "mouthClose"), np.array([0.0, 1 / 30, 2 / 30]), np.array([True, False, True]), values)


def test_round_trip_keeps_values_and_empty_cells_for_missing_faces(tmp_path):
    path = _curves().write_csv(tmp_path / "take.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "frame,time_s,face_found,jawOpen,mouthClose"
    assert lines[2] == "1,0.033333,0,,"
    loaded = TakeCurves.read_csv(path)
    assert loaded.control_names == ("jawOpen", "mouthClose")
    np.testing.assert_array_equal(loaded.face_found, [True, False, True])
    np.testing.assert_allclose(loaded.values, _curves().values, atol=1e-6)
    assert loaded.fps == pytest.approx(30.0, rel=1e-4)  # times are written with microsecond precision


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("frame,time,face_found,a\n", "line 1"),
        ("frame,time_s,face_found,a\n0,0.0,1,0.5\n1,0.0,1,0.5\n", "line 3, column time_s"),
        ("frame,time_s,face_found,a\n0,0.0,1,abc\n", "line 2, column a"),
        ("frame,time_s,face_found,a\n0,0.0,1,nan\n", "line 2, column a"),
        ("frame,time_s,face_found,a\n0,0.0,1\n", "line 2: 3 columns"),
        ("frame,time_s,face_found,a\n0,0.0,yes,0.1\n", "column face_found"),
    ],
)
def test_malformed_files_name_line_and_column(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(TakeFileError, match=match) as error:
        TakeCurves.read_csv(path)
    assert "\n" not in str(error.value)


def test_metrics_skip_frames_without_a_face():
    values = np.array([[0.0, 0.5, 0.2], [np.nan] * 3, [0.05, 0.0, 0.9]])
    np.testing.assert_allclose(sparsity(values)[[0, 2]], [2 / 3, 1 / 3])
    assert np.isnan(sparsity(values)[1])
    assert take_mean(sparsity(values)) == pytest.approx(0.5)
    np.testing.assert_allclose(tweaker_usage(values, [1, 2])[[0, 2]], [0.7, 0.9])
    errors = control_errors(values[[0, 2]], np.zeros((2, 3)))
    np.testing.assert_allclose(errors["linf"], [0.5, 0.9])
    np.testing.assert_allclose(errors["l2"][0], np.sqrt(0.25 + 0.04))
