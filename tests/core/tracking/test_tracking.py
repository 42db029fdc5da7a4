"""The tracker end to end: head-pose removal, performer neutral, exact solve, and the `track` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.core.geometry.rotations import euler_to_matrix
from studio.core.io.curves import TakeCurves
from studio.core.tracking.take import parse_neutral
from studio.core.tracking.tracker import TrackingError

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def tracker(ict_rig):
    from studio.core.tracking.landmark_embedding import LandmarkEmbedding
    from studio.core.tracking.tracker import Tracker

    return Tracker(ict_rig, LandmarkEmbedding.ict())


def _as_mediapipe_pixels(points_cm: np.ndarray, yaw_pitch_roll: np.ndarray, scale: float, shift) -> np.ndarray:
    """Rig-space points (cm, +y up, +z to camera) → MediaPipe-like pixels (x right, y down, z away)."""
    posed = points_cm @ euler_to_matrix(yaw_pitch_roll).T * scale + np.asarray(shift)
    return posed * np.array([1.0, -1.0, -1.0])


def test_tracker_recovers_controls_through_head_pose_and_identity(tracker, ict_rig):
    """Noise-free landmarks of a different person, posed and scaled like pixels, give back the controls."""
    rng = np.random.default_rng(0)
    identity_rig = ict_rig.with_identity(rng.normal(size=ict_rig.num_identity_modes) * 0.8)
    points = tracker.embedding.points
    truth = np.zeros((6, ict_rig.num_controls), np.float32)
    poses_by_frame = [{"jawOpen": 0.6}, {"mouthSmile_L": 0.5}, {"browInnerUp_L": 0.7, "browInnerUp_R": 0.7},
                      {"eyeBlink_L": 0.9}, {"mouthPucker": 0.5}]
    for frame, controls in enumerate(poses_by_frame, start=1):
        for name, value in controls.items():
            truth[frame, ict_rig.control_index(name)] = value
    positions = identity_rig.tensors().evaluate_at(
        __import__("torch").from_numpy(truth), points
    ).numpy()
    poses = rng.uniform(-12, 12, size=(6, 3))
    pixels = np.stack([
        _as_mediapipe_pixels(p, pose, 11.0, [320, 240, 0]) for p, pose in zip(positions, poses, strict=True)
    ])
    anchored = tracker.align(pixels)
    neutral = tracker.performer_neutral(anchored[0])
    tracked = tracker.solve(tracker.align(pixels, neutral), neutral)
    moved = truth > 0
    np.testing.assert_allclose(tracked.controls[moved], truth[moved], atol=0.05)
    others = np.abs(tracked.controls[~moved])
    assert others.mean() < 0.01 and others.max() < 0.15
    assert np.nanmax(tracked.residual_mm) < 0.3


def test_frames_without_a_face_stay_empty(tracker, ict_rig):
    pixels = np.full((2, 478, 3), np.nan)
    pixels[0] = _as_mediapipe_pixels(tracker.rig_points, np.zeros(3), 10.0, [300, 200, 0])
    neutral = tracker.performer_neutral(tracker.align(pixels[:1])[0])
    tracked = tracker.track(pixels, neutral)
    assert np.isfinite(tracked.controls[0]).all() and np.isnan(tracked.controls[1]).all()
    assert np.abs(tracked.controls[0]).max() < 1e-3


def test_the_performer_neutral_is_a_value_one_tracker_shares_and_another_refuses(tracker, ict_rig):
    pixels = np.stack([_as_mediapipe_pixels(tracker.rig_points, np.zeros(3), 10.0, [300, 200, 0])] * 2)
    pixels[1] += np.random.default_rng(3).normal(0.0, 0.5, pixels[1].shape)  # another performer, nearly the same
    first, second = (tracker.performer_neutral(tracker.align(p[None])[0]) for p in pixels)
    before = tracker.track(pixels[:1], first).controls.copy()
    tracker.track(pixels[1:], second)  # another performer in between changes nothing of the first
    np.testing.assert_array_equal(tracker.track(pixels[:1], first).controls, before)
    other = tracker.with_landmark_basis(tracker.landmark_basis * 1.1)
    with pytest.raises(TrackingError, match="another tracker"):
        other.solve(tracker.align(pixels[:1], first), first)


@pytest.mark.parametrize("spec", ["3", "5:2", "-1:4", "a:b"])
def test_bad_neutral_specs_are_refused(spec):
    with pytest.raises(ValueError, match="--neutral"):
        parse_neutral(spec)


def _track(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", "track", "--quiet", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=os.environ)


def test_track_command_on_real_footage(assets_dir, tmp_path, footage):
    out, stats_path = tmp_path / "d10.csv", tmp_path / "d10.json"
    result = _track(str(footage("d10.mp4")), "--out", str(out), "--json", str(stats_path), "--neutral", "0:20")
    assert result.returncode == 0, result.stderr
    curves = TakeCurves.read_csv(out)
    stats = json.loads(stats_path.read_text())
    assert curves.num_frames == stats["frames"] > 400
    assert stats["frames_with_face"] >= 0.95 * stats["frames"]
    found = curves.values[curves.face_found]
    assert np.isfinite(found).all() and found.min() >= 0.0 and found.max() <= 1.0
    assert found.max() > 0.3, "a talking face should move some control"
    for key in ("seconds", "fps", "fit_residual_mm", "jitter", "sparsity", "tweaker"):
        assert np.isfinite(stats[key]), key
    assert stats["fit_residual_mm"] < 5.0
    assert stats["neutral_frames"] == [0, 20]


def test_track_command_refuses_bad_input_in_one_line(assets_dir, tmp_path):
    import cv2

    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).bytes(20000))
    blank = tmp_path / "blank.avi"
    writer = cv2.VideoWriter(str(blank), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    for _ in range(10):
        writer.write(np.full((120, 160, 3), 127, np.uint8))
    writer.release()
    for video, reason in ((corrupt, "corrupt"), (blank, "no face")):
        out = tmp_path / f"{video.stem}.csv"
        result = _track(str(video), "--out", str(out))
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and reason in lines[0] and "Traceback" not in result.stderr, result.stderr
        assert not out.exists()


def test_a_streamed_take_is_tracked_exactly_as_a_kept_one(assets_dir, tmp_path, short_clip, monkeypatch):
    from studio.core.jobs import run_job
    from studio.core.tracking import take
    from studio.core.tracking.frame_sources import VideoFileSource
    from studio.core.tracking.rig_bundle import RigBundle

    clip = short_clip(tmp_path / "clip.avi", frames=75)
    bundle = RigBundle.load()
    tracker = bundle.tracker()
    monkeypatch.setattr(take, "STREAM_CHUNK_FRAMES", 16)  # several chunks, one of them short
    results = {}
    for keep in (True, False):
        with VideoFileSource(clip) as source:
            results[keep] = run_job(take.track_take(source, tracker, "auto", "smooth",
                                                    bundle.definition.tweaker_indices(), keep_observations=keep))
    kept, streamed = results[True], results[False]
    assert len(kept.observations) == 75 and streamed.observations == []
    assert streamed.neutral == kept.neutral
    assert streamed.curves.csv_text() == kept.curves.csv_text()
    np.testing.assert_array_equal(streamed.raw_controls, kept.raw_controls)
    assert streamed.stats.fit_residual_mm == kept.stats.fit_residual_mm


def test_a_video_decodes_the_same_in_segments_as_in_one_pass(tmp_path, short_clip, footage):
    from studio.core.tracking.frame_sources import VideoFileSource

    for path in (short_clip(tmp_path / "clip.avi", frames=90), footage("d14.mp4")):
        with VideoFileSource(path) as video:
            whole = list(video)
            parts = [*video.frames(0, 37), *video.frames(37, 80, decoder_threads=1), *video.frames(80)]
        assert len(parts) == len(whole) == video.num_frames
        for one, other in zip(whole, parts, strict=True):
            assert (one.index, one.time_s) == (other.index, other.time_s)
            np.testing.assert_array_equal(one.image, other.image)


def test_a_video_observed_by_two_mediapipes_at_once_tracks_as_one_pass(assets_dir, tmp_path, short_clip):
    """Two MediaPipe instances on consecutive segments (``track``'s default on two cores): the same frames,
    faces and neutral; controls within MediaPipe's own dependence on where it began following the face."""
    from studio.core.jobs import JobCancelled, run_job
    from studio.core.tracking import take
    from studio.core.tracking.frame_sources import VideoFileSource
    from studio.core.tracking.rig_bundle import RigBundle

    clip = short_clip(tmp_path / "clip.avi", frames=300)
    bundle = RigBundle.load()
    tracker = bundle.tracker()
    results = {}
    for workers in (1, 2):
        with VideoFileSource(clip) as source:
            assert take.reconstruction_workers(source, workers) == workers
            results[workers] = run_job(take.track_take(source, tracker, (0, 20), "smooth", keep_observations=False,
                                                       workers=workers))
    one, two = results[1], results[2]
    assert two.curves.num_frames == one.curves.num_frames == 300
    np.testing.assert_array_equal(two.curves.face_found, one.curves.face_found)
    np.testing.assert_array_equal(two.curves.time_s, one.curves.time_s)
    difference = np.abs(two.raw_controls - one.raw_controls)
    assert np.nanmean(difference) < 0.005 and np.nanmax(difference) < 0.15
    np.testing.assert_array_equal(two.raw_controls[:150 - take.SEGMENT_LEAD_IN_FRAMES],
                                  one.raw_controls[:150 - take.SEGMENT_LEAD_IN_FRAMES])  # the first segment: exact

    # cancelled while both observe: JobCancelled, no MediaPipe thread left behind
    with VideoFileSource(clip) as source:
        job = take.track_take(source, tracker, keep_observations=False, workers=2, cancel=lambda: True)
        with pytest.raises(JobCancelled):
            run_job(job)
    import threading

    assert not [t for t in threading.enumerate() if t.name.startswith("track-mediapipe")]


def test_a_video_cut_short_is_tracked_over_the_frames_it_holds_and_says_so(assets_dir, tmp_path, short_clip):
    from studio.core.jobs import run_job
    from studio.core.tracking import take
    from studio.core.tracking.frame_sources import VideoFileSource
    from studio.core.tracking.rig_bundle import RigBundle

    real = short_clip(tmp_path / "real.avi", frames=300)
    cut = tmp_path / "cut.avi"
    data = real.read_bytes()
    cut.write_bytes(data[: len(data) // 3])  # the header still says 300 frames; the packets hold about 100
    tracker = RigBundle.load().tracker()
    with VideoFileSource(cut) as source:
        assert 50 < source.num_frames < 150  # counted from the packets, not taken from the header
        result = run_job(take.track_take(source, tracker, keep_observations=False, workers=2))
        assert "of the 300 frames its header announces" in source.truncated
    assert 50 < result.curves.num_frames < 150
    np.testing.assert_allclose(result.curves.time_s, np.arange(result.curves.num_frames) / 30.0, atol=1e-9)
