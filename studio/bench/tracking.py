"""Closed-loop tracking benchmark: synthetic performer → render → MediaPipe → head-pose removal → solve.

A performer with a random identity and gentle head motion plays moderate held expressions
(:func:`studio.core.rig.control_curves.moderate_expression_curves`); its frames are rendered first (timed on
their own), then tracked exactly as ``python main.py track`` tracks a video, and the controls are compared
with the ground truth. The performer's neutral is the take's first second (the curves start with 1.5 s of
neutral). On real footage, where no ground truth exists, the benchmark reports how our controls correlate
with MediaPipe's own blendshape scores for the ARKit names both have.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from studio.bench.footage import footage_folder
from studio.core.tracking.frame_sources import Frame, FrameSource

#: MediaPipe blendshapes highlighted in the correlation summary (ARKit names).
HIGHLIGHTED = (
    "jawOpen", "eyeBlinkLeft", "eyeBlinkRight", "mouthSmileLeft", "mouthSmileRight", "browInnerUp",
    "browDownLeft", "browDownRight", "mouthPucker", "mouthFunnel",
)


class RecordedFrames(FrameSource):
    """Frames already in memory, replayed as a source (separates rendering time from tracking time)."""

    def __init__(self, frames: list[Frame], fps: float, name: str) -> None:
        self.frames = frames
        self.fps = fps
        self.num_frames = len(frames)
        self.size = frames[0].size if frames else (0, 0)
        self.name = name

    def __iter__(self) -> Iterator[Frame]:
        return iter(self.frames)


def _region_errors(errors: np.ndarray, definition) -> dict[str, float]:
    return {
        region: float(errors[:, indices].mean())
        for region, indices in definition.by_region().items()
        if len(indices)
    }


def footage_correlations(clips: list[Path], tracker, definition) -> dict:
    """Pearson correlation of our controls (as ARKit values) with MediaPipe's blendshapes, per clip.

    Our side is the unfiltered solve (MediaPipe's scores are unfiltered too); frames without a face and
    names whose scores do not vary in a clip are skipped.
    """
    from studio.core.jobs import run_job
    from studio.core.tracking.frame_sources import VideoFileSource
    from studio.core.tracking.reconstruction import BLENDSHAPE_NAMES
    from studio.core.tracking.take import track_take

    per_clip: dict[str, dict[str, float]] = {}
    for clip in clips:
        with VideoFileSource(clip) as source:
            result = run_job(track_take(source, tracker, "auto", "none", definition.tweaker_indices()))
        found = result.curves.face_found
        ours = definition.to_arkit(result.raw_controls[found])
        theirs = np.stack([o.blendshapes for o in result.observations])[found]
        correlations = {}
        for name, values in ours.items():
            if name not in BLENDSHAPE_NAMES:
                continue
            reference = theirs[:, BLENDSHAPE_NAMES.index(name)]
            if np.std(values) > 1e-6 and np.std(reference) > 1e-6:
                correlations[name] = float(np.corrcoef(values, reference)[0, 1])
        per_clip[clip.name] = correlations
    names = sorted({name for c in per_clip.values() for name in c})
    mean = {name: float(np.mean([c[name] for c in per_clip.values() if name in c])) for name in names}
    return {
        "per_clip": per_clip,
        "mean": mean,
        "highlighted_mean": {name: mean[name] for name in HIGHLIGHTED if name in mean},
    }


def offline_speed(clips: list[Path], tracker, definition) -> dict:
    """How fast ``track`` goes on each clip, next to what bounds it (``bench tracking``'s ``offline_speed``).

    Per clip: ``decode_fps`` (the video decoded alone), ``mediapipe_fps`` (one MediaPipe instance on frames
    already decoded, without its start-up: MediaPipe's own rate), ``track_fps_one_pass`` (``track`` with
    ``--workers 1``) and ``track_fps`` (``track`` as it runs by default: :func:`reconstruction_workers`
    MediaPipe instances at once), both as ``track`` reports them (its wall time, start-up included), with
    ``workers`` and the per-stage milliseconds; ``max_control_difference`` and ``mean_control_difference``
    between the two runs' unfiltered controls.
    """
    import mediapipe as mp

    from studio.core.jobs import run_job
    from studio.core.tracking.face_landmarker import FaceLandmarker
    from studio.core.tracking.frame_sources import VideoFileSource
    from studio.core.tracking.take import reconstruction_workers, track_take

    report = {}
    for clip in clips:
        with VideoFileSource(clip) as source:
            started = time.perf_counter()
            images = [frame.image for frame in source]
            decode_s = time.perf_counter() - started
            with FaceLandmarker(running_mode="video") as landmarker:
                detect = landmarker._landmarker  # MediaPipe's own call, without our conversion of its result
                started = time.perf_counter()
                for index, image in enumerate(images):
                    detect.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=image), 1 + 33 * index)
                mediapipe_s = time.perf_counter() - started
            del images
            runs = {}
            for workers in (1, None):
                runs[workers] = run_job(track_take(source, tracker, "auto", "smooth", definition.tweaker_indices(),
                                                   keep_observations=False, workers=workers))  # fmt: skip
            difference = np.abs(runs[None].raw_controls - runs[1].raw_controls)
            frames = source.num_frames or runs[1].curves.num_frames
            report[clip.name] = {
                "frames": int(frames),
                "decode_fps": float(frames / decode_s),
                "mediapipe_fps": float(frames / mediapipe_s),
                "track_fps_one_pass": runs[1].stats.fps,
                "track_fps": runs[None].stats.fps,
                "workers": reconstruction_workers(source),
                "ms_per_frame_one_pass": runs[1].stats.ms_per_frame,
                "ms_per_frame": runs[None].stats.ms_per_frame,
                "max_control_difference": float(np.nanmax(difference)),
                "mean_control_difference": float(np.nanmean(difference)),
            }
    return report


def run_tracking_benchmark(seed: int = 0, seconds: float = 12.0, footage: str | None = None, fps: float = 30.0) -> dict:
    """Run the closed loop (and the footage correlations when clips are available).

    Returns
    -------
    dict
        ``control_mae`` (mean absolute control error over all frames with a face and all controls),
        ``control_mae_primary``, ``control_mae_tweaker``, ``control_mae_by_region``, the same for the
        unfiltered solve (``*_unfiltered``), ``face_fraction``, ``fit_residual_mm``, ``jitter``,
        ``ms_per_frame`` (render, landmarks, alignment, solve, filter), ``mediapipe_correlation`` and
        ``offline_speed`` (:func:`offline_speed`) on the footage, and ``mediapipe_gpu_delegate``: whether
        MediaPipe's GPU delegate runs here (and MediaPipe's reason when it does not).
    """
    from studio.core.jobs import run_job
    from studio.core.rig.control_curves import moderate_expression_curves
    from studio.core.tracking.rig_bundle import RigBundle
    from studio.core.tracking.take import track_take
    from studio.render.synthetic_performer import SyntheticPerformerSource

    bundle = RigBundle.load()
    rig, definition = bundle.rig, bundle.definition
    rng = np.random.default_rng(seed)
    identity = np.zeros(rig.num_identity_modes, np.float32)
    identity[:20] = rng.normal(0.0, 1.0, 20)  # a different person: leading identity modes at 1 sd
    num_frames = int(round(seconds * fps))
    truth = moderate_expression_curves(rig.expression_names, num_frames, fps=fps, seed=seed)
    performer = SyntheticPerformerSource(rig, truth, fps=fps, identity=identity, seed=seed)
    started = time.perf_counter()
    frames = list(performer)
    render_ms = 1e3 * (time.perf_counter() - started) / num_frames
    performer.close()

    tracker = bundle.tracker()
    source = RecordedFrames(frames, fps, performer.name)
    result = run_job(track_take(source, tracker, (0, int(fps)), "smooth", definition.tweaker_indices()))
    found = result.curves.face_found
    primary, tweaker = definition.primary_indices(), definition.tweaker_indices()

    def summary(values: np.ndarray, suffix: str = "") -> dict:
        errors = np.abs(values[found] - truth[found])
        return {
            f"control_mae{suffix}": float(errors.mean()),
            f"control_mae_primary{suffix}": float(errors[:, primary].mean()),
            f"control_mae_tweaker{suffix}": float(errors[:, tweaker].mean()),
            f"control_mae_by_region{suffix}": _region_errors(errors, definition),
            f"control_mae_active_primary{suffix}": float(
                errors[:, primary][truth[found][:, primary] > 0.1].mean()
            ),
        }

    report = {
        "benchmark": "tracking",
        "seed": seed,
        "frames": num_frames,
        "fps": fps,
        "image_size": list(performer.size),
        "face_fraction": float(found.mean()),
        **summary(result.curves.values),
        **summary(result.raw_controls, "_unfiltered"),
        "fit_residual_mm": result.stats.fit_residual_mm,
        "jitter": result.stats.jitter,
        "jitter_unfiltered": result.stats.jitter_unfiltered,
        "ms_per_frame": {"render": render_ms, **result.timings_ms},
        "neutral_frames": [result.neutral.start, result.neutral.stop],
    }
    footage_dir = Path(footage) if footage else footage_folder()
    if footage_dir is not None:
        clips = sorted(footage_dir.glob("*.mp4"))
        report["mediapipe_correlation"] = footage_correlations(clips, tracker, definition)
        report["offline_speed"] = offline_speed(clips, tracker, definition)
    from studio.core.tracking.face_landmarker import gpu_delegate_status

    works, reason = gpu_delegate_status()
    report["mediapipe_gpu_delegate"] = {"works": works, "reason": reason}
    return report


if __name__ == "__main__":
    print(json.dumps(run_tracking_benchmark(), indent=2))
