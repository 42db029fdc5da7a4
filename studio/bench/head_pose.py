"""``bench head-pose``: the take's head pose through the real path, next to MediaPipe's own head transform.

Synthetic performers the tracker was never tuned on (seeds 611–614: θ_GT, a random identity) talk and emote
(moderate held expressions) while turning and moving their heads (±15° yaw, ±10° pitch, ±6° roll, ±2 cm
sideways, ±1.5 cm up and down, ±2 cm in depth: :func:`~studio.render.synthetic_performer.head_motion_curves`).
Each take is rendered, seen by MediaPipe and tracked (:func:`~studio.core.tracking.take.track_take`, the take's
``smooth`` filter). Both head poses are taken relative to the take's neutral frames, as a take stores them
(:func:`~studio.core.tracking.head_pose.relative_head_pose`), and compared with the rendered truth:

- ``ours``: the take's head pose (from the tracker's head-pose removal on the stable landmarks);
- ``mediapipe``: MediaPipe's facial transformation matrix (its canonical face → camera, cm), the pose a user
  of MediaPipe alone would take, as yaw/pitch/roll and translation.

Figures per axis: mean absolute error (degrees, cm) and correlation with the truth. Depth (z) depends on the
camera's field of view, which a take does not know (45° assumed; the renders' is 30°): its scale is reported.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["run_head_pose_benchmark"]

PERFORMER_SEEDS = (611, 612, 613, 614)
AXES = ("yaw_deg", "pitch_deg", "roll_deg", "x_cm", "y_cm", "z_cm")


def _mediapipe_pose(observations) -> np.ndarray:
    """MediaPipe's facial transforms as head poses ``(T, 6)`` in the rig's convention (NaN rows where no face)."""
    from studio.core.geometry.rotations import matrix_to_euler

    pose = np.full((len(observations), 6), np.nan)
    for i, observation in enumerate(observations):
        if not observation.face_found:
            continue
        matrix = np.asarray(observation.transform, np.float64)
        rotation = matrix[:3, :3] / np.cbrt(np.linalg.det(matrix[:3, :3]))
        pose[i, :3] = matrix_to_euler(rotation[None])[0]
        pose[i, 3:] = matrix[:3, 3]
    return pose


def _figures(pose: np.ndarray, truth: np.ndarray) -> dict:
    known = np.isfinite(pose).all(axis=1)
    error = np.abs(pose[known] - truth[known]).mean(axis=0)
    figures = {}
    for j, axis in enumerate(AXES):
        correlation = np.corrcoef(pose[known, j], truth[known, j])[0, 1]
        slope = np.polyfit(truth[known, j], pose[known, j], 1)[0]
        figures[axis] = {"error": round(float(error[j]), 3), "correlation": round(float(correlation), 3),
                         "scale": round(float(slope), 3)}  # fmt: skip
    return figures


def run_head_pose_benchmark(seconds: float = 8.0, seed: int = 0) -> dict:
    """Track ``len(PERFORMER_SEEDS)`` rendered performers' head poses; figures in the module docstring."""
    from studio.core.jobs import run_job
    from studio.core.rig.control_curves import moderate_expression_curves
    from studio.core.tracking.head_pose import relative_head_pose
    from studio.core.tracking.rig_bundle import RigBundle
    from studio.core.tracking.take import track_take
    from studio.render.emotion_data import _performer
    from studio.render.synthetic_performer import SyntheticPerformerSource, head_motion_curves

    started = time.perf_counter()
    bundle = RigBundle.load()
    tracker = bundle.tracker()
    frames = int(round(seconds * 30))
    ours, peer, truths = [], [], []
    for performer_seed in PERFORMER_SEEDS:
        rig, identity = _performer(bundle, performer_seed)
        curves = moderate_expression_curves(rig.expression_names, frames, 30.0, performer_seed + seed)
        source = SyntheticPerformerSource(rig, curves, identity=identity, seed=performer_seed)
        source.head_rotation_deg, source.head_translation_cm = head_motion_curves(
            frames, 30.0, performer_seed + seed, (15.0, 10.0, 6.0), (2.0, 1.5, 2.0))
        result = run_job(track_take(source, tracker, "auto", "smooth"))
        start, stop = result.neutral.start, result.neutral.stop
        truth = relative_head_pose(np.c_[source.head_rotation_deg, source.head_translation_cm], start, stop)
        truths.append(truth)
        ours.append(result.curves.head_pose.astype(np.float64))
        peer.append(relative_head_pose(_mediapipe_pose(result.observations), start, stop))
    truth = np.concatenate(truths)
    return {
        "performers": list(PERFORMER_SEEDS),
        "frames": int(len(truth)),
        "truth_range": {axis: round(float(np.ptp(truth[:, j])), 2) for j, axis in enumerate(AXES)},
        "ours": _figures(np.concatenate(ours), truth),
        "mediapipe": _figures(np.concatenate(peer), truth),
        "seconds": round(time.perf_counter() - started, 1),
    }
