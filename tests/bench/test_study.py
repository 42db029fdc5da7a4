"""The whole-chain study: its takes, its figures, and one short run of the real image path."""

from __future__ import annotations

import numpy as np
import pytest

from studio.bench.study import RIGS, TAKES, lag_frames, run_study_benchmark, study_takes, take_figures
from studio.core.rig.control_curves import held_pose_curves, one_sided_poses, speech_like_curves


@pytest.fixture(scope="module")
def names(assets_dir):
    from studio.core.rig.definition import RigDefinition

    return RigDefinition.ict().control_names


def test_held_poses_are_eased_in_held_and_eased_out():
    poses = np.eye(3, 5, dtype=np.float32)
    curves, owner = held_pose_curves(poses, 30.0, ease_s=0.3, hold_s=1.0, gap_s=0.4)
    assert curves.shape == (45 + 3 * (9 + 30 + 9 + 12), 5)
    assert not curves[:45].any() and (owner[:45] == -1).all()
    for pose in range(3):
        frames = curves[owner == pose]
        assert frames[:, pose].max() == pytest.approx(1.0) and np.count_nonzero(frames[:, pose] == 1.0) >= 30
        assert frames[0, pose] < 0.2 and frames[-1, pose] == 0.0  # eased in, back at neutral
        assert not np.delete(frames, pose, axis=1).any()


def test_speech_like_take_speaks_blinks_and_stays_in_range(names):
    curves = speech_like_curves(names, 600, 30.0, seed=3)
    index = {n: i for i, n in enumerate(names)}
    assert curves.shape == (600, len(names)) and 0.0 <= curves.min() and curves.max() <= 1.0
    assert not curves[:45].any()  # the neutral lead
    mouth = curves[:, [index[n] for n in ("jawOpen", "mouthPucker", "mouthFunnel", "mouthPress_L")]]
    assert (mouth.max(axis=0) > 0.15).all(), "every kind of viseme shows up"
    blink = curves[:, index["eyeBlink_L"]]
    assert blink.max() > 0.9 and np.count_nonzero(blink > 0.5) < 0.1 * len(blink)
    assert np.abs(np.diff(mouth, axis=0)).max() < 0.15, "co-articulated: the mouth never jumps (blinks may)"
    np.testing.assert_array_equal(curves, speech_like_curves(names, 600, 30.0, seed=3))


def test_one_sided_poses_move_one_side(names):
    poses, labels = one_sided_poses(names)
    for pose, label in zip(poses, labels, strict=True):
        moved = [names[i] for i in np.flatnonzero(pose)]
        side = "_L" if label.endswith("left") else "_R"
        assert moved and all(name.endswith(side) for name in moved), (label, moved)


def test_figures_of_a_take():
    rng = np.random.default_rng(0)
    truth = np.zeros((120, 4))
    truth[:, 0] = 0.5 + 0.5 * np.sin(np.arange(120) / 6.0)
    late = np.roll(truth, 3, axis=0)
    assert lag_frames(late, truth) == 3 and lag_frames(truth, truth) == 0
    tracked = truth + np.where(truth == 0, 0.1, 0.0) + rng.normal(0, 0.01, truth.shape)
    tracked[5] = np.nan  # no face
    figures = take_figures(tracked, truth, ("a", "b", "c", "d"), tweakers=[3])
    assert figures["frames_with_face"] == 119
    assert figures["spurious"] == pytest.approx(0.1, abs=0.01)
    assert figures["per_control"]["b"]["bias"] == pytest.approx(0.1, abs=0.01)
    assert figures["control_l2"] == pytest.approx(np.sqrt(3 * 0.1**2), abs=0.02)


def test_the_takes_are_unseen_and_long_enough(names):
    takes = study_takes(names, seed=0)
    assert set(takes) == set(TAKES)
    assert len(takes["continuous"]) >= 21 * 30 and len(takes["speech"]) >= 15 * 30
    assert all(np.isfinite(c).all() and c.min() >= 0 and c.max() <= 1 for c in takes.values())


@pytest.mark.gl
def test_a_short_study_runs_the_real_image_path(assets_dir):
    report = run_study_benchmark(seed=3, level="image", session_expressions=["jaw_open", "smile"], max_poses=2,
                                 continuous_s=2.0, speech_s=2.0)  # fmt: skip
    assert report["session"]["captures"] == 3
    for take in TAKES:
        rows = report["takes"][take]
        assert set(rows) == set(RIGS)
        for rig in RIGS:
            row = rows[rig]
            assert row["frames_with_face"] >= 0.9 * row["frames"], (take, rig)
            assert np.isfinite([row["control_l2"], row["spurious"], row["primary_mae"]]).all()
        assert rows["theta_A"]["vs_theta_A"] == 0.0
    assert report["seconds"]["calibrate_s"] > 0 and report["seconds"]["finetune_s"] > 0
