"""``bench head-pose`` runs end to end on short takes and reports both head poses against the truth."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gl


def test_the_head_pose_benchmark_compares_ours_with_mediapipes_transform(assets_dir):
    from studio.bench.head_pose import AXES, PERFORMER_SEEDS, run_head_pose_benchmark

    figures = run_head_pose_benchmark(seconds=1.5)
    assert figures["frames"] == 45 * len(PERFORMER_SEEDS)
    for method in ("ours", "mediapipe"):
        assert set(figures[method]) == set(AXES)
        assert figures[method]["yaw_deg"]["correlation"] > 0.8  # both follow the head turning
    assert figures["ours"]["yaw_deg"]["error"] < 2.5 and figures["ours"]["x_cm"]["error"] < 0.5
