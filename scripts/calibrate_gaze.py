"""Calibrate the gaze model on renders of the ICT rig and write ``studio/resources/gaze/ict_gaze.json``.

What it does (see :mod:`studio.core.tracking.gaze` for the model):

1. Renders the ICT rig at 640×480 with the tracking camera (:data:`TRACKING_CAMERA`), the eyeballs turned by
   :func:`~studio.core.rig.eyeballs.pose_eyeballs`, under a small random head pose per render (±2°, ±3 mm), runs
   MediaPipe (image mode) and aligns the landmarks into rig space (:meth:`Tracker.align`, onto the rig's
   neutral).
2. The neutral is the per-coordinate median of ``NEUTRAL_RENDERS`` such renders with all controls at 0.
3. **Blink drift.** ``eyeBlink_L = eyeBlink_R`` at several values: the iris offset and the lid openness
   ratio of both eyes, averaged per value, tabulate the drift against the openness ratio.
4. **Response.** Each of the eight ``eyeLook`` controls alone, and the conjugate pairs (both up, both down,
   looking to either side), at 0.25, 0.5, 0.75 and 1: per axis and eye, a least-squares fit through 0 of
   the blink-corrected iris offset on the controls gives each control's gain on its own eye and its cross
   response on the other eye.
5. Reports the linearity of each control (R² of the line through 0, the largest error of the line in
   control units, the offsets per value), the blink behaviour and a validation on renders it was not
   fitted on (random gaze, partial blinks, head yaw), then writes the model.

Usage::

    STUDIO_ASSETS_DIR=/work/shared/assets .venv/bin/python scripts/calibrate_gaze.py [--output PATH]

It takes about half a minute on a CPU (llvmpipe): roughly 400 renders.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.rig.eyeballs import ICT_GAZE_ANGLES_DEG, SIDES, gaze_control_name
from studio.core.rig.rig import Rig
from studio.core.rig.state import RigState
from studio.core.tracking.frame_sources import Frame
from studio.core.tracking.gaze import (
    AXES,
    GAZE_CONTROL_NAMES,
    HORIZONTAL_CONTROL_NAMES,
    ICT_GAZE_PATH,
    GazeModel,
    measure_eyes,
)
from studio.core.tracking.landmark_embedding import LandmarkEmbedding
from studio.core.tracking.reconstruction import GeometryReconstructor
from studio.core.tracking.tracker import Tracker
from studio.render.offscreen import OffscreenRenderer
from studio.render.synthetic_performer import TRACKING_CAMERA

IMAGE_SIZE = (640, 480)
#: Renders averaged into the neutral.
NEUTRAL_RENDERS = 24
#: Neutral renders with the head turned (yaw, pitch, roll up to these, degrees) that measure the noise.
NOISE_RENDERS = 24
NOISE_HEAD_ROTATION_DEG = (12.0, 8.0, 4.0)
#: Renders per calibration setting, each under its own small head pose.
REPEATS = 6
#: Control values of the response and linearity measurements.
VALUES = (0.25, 0.5, 0.75, 1.0)
#: Blink values of the drift table.
BLINK_VALUES = (0.25, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 1.0)
#: Knots (openness ratios) of the blink drift and the weight of its curvature penalty.
DRIFT_KNOTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
DRIFT_SMOOTHING = 0.1
#: Openness ratios between which the gaze fades in: a genuine look-down at 1 keeps ~0.57 of the neutral's
#: lid gap on these renders (ICT's lids follow the gaze), a blink at 0.6 ~0.45 and at 0.75 ~0.3, where the
#: blink drift is steep and MediaPipe's iris unreliable.
CLOSED_OPENNESS = 0.3
OPEN_OPENNESS = 0.6
#: Dead zones are this many times the RMS offset of jittered neutral renders (MediaPipe's noise)...
DEAD_ZONE_SIGMAS = 2.0
#: ... chosen from this sweep, which the report prints.
DEAD_ZONE_SWEEP = (0.0, 1.0, 1.5, 2.0, 3.0)
#: Head-pose jitter per render: rotation (degrees) and translation (cm), uniform in ± this.
JITTER_DEG = 2.0
JITTER_CM = 0.3


class GazeRenders:
    """Renders the ICT rig with gaze and returns MediaPipe's aligned landmarks.

    Parameters
    ----------
    seed : int
        Seed of the head-pose jitter.
    """

    def __init__(self, seed: int) -> None:
        self.rig = Rig.ict()
        self.tracker = Tracker(self.rig, LandmarkEmbedding.ict())
        self.renderer = OffscreenRenderer(self.rig, size=IMAGE_SIZE, camera=TRACKING_CAMERA)
        self.reconstructor = GeometryReconstructor(running_mode="image")
        self.rng = np.random.default_rng(seed)
        self.count = 0

    def control_vector(self, controls: Mapping[str, float]) -> np.ndarray:
        """Controls by name → the rig's control vector ``(K,)``."""
        vector = np.zeros(self.rig.num_controls, np.float32)
        for name, value in controls.items():
            vector[self.rig.control_index(name)] = value
        return vector

    def aligned(
        self, controls: Mapping[str, float], rotation_deg: tuple[float, float, float] | None = None
    ) -> np.ndarray:
        """Aligned landmarks ``(478, 3)`` (rig space, cm; NaN without a face) of one render.

        ``rotation_deg`` is the head's yaw, pitch, roll; jitter is added to it (``None``: jitter only).
        """
        rotation = self.rng.uniform(-JITTER_DEG, JITTER_DEG, 3)
        if rotation_deg is not None:
            rotation = rotation + np.asarray(rotation_deg, np.float64)
        translation = self.rng.uniform(-JITTER_CM, JITTER_CM, 3)
        vector = self.control_vector(controls)
        state = RigState(controls=vector, head_rotation_deg=rotation, head_translation_cm=translation)
        vertices = state.vertices(self.rig)  # the eyeLook controls turn the eyeballs
        image = self.renderer.render(vertices)
        observation = self.reconstructor.observe(Frame(self.count, 0.0, image))
        self.count += 1
        return self.tracker.align(observation.landmarks[None])[0]

    def close(self) -> None:
        """Release the renderer and MediaPipe."""
        self.renderer.close()
        self.reconstructor.close()


def _settings(values: tuple[float, ...]) -> list[dict[str, float]]:
    """Single controls and conjugate pairs at each value."""
    settings = []
    for value in values:
        for name in GAZE_CONTROL_NAMES:
            settings.append({name: value})
        settings.append({"eyeLookUp_L": value, "eyeLookUp_R": value})
        settings.append({"eyeLookDown_L": value, "eyeLookDown_R": value})
        settings.append({"eyeLookOut_L": value, "eyeLookIn_R": value})  # looking to the face's left
        settings.append({"eyeLookIn_L": value, "eyeLookOut_R": value})  # looking to the face's right
    return settings


def _provisional(drift: dict[str, Any]) -> GazeModel:
    """A model that only measures: unit gains, no cross response, the blink drift."""
    return GazeModel(
        gains=dict.fromkeys(GAZE_CONTROL_NAMES, 1.0),
        cross=dict.fromkeys(HORIZONTAL_CONTROL_NAMES, 0.0),
        drift_openness=drift["openness_ratio"],
        drift_horizontal=drift["drift_horizontal"],
        drift_vertical=drift["drift_vertical"],
        drift_cross_horizontal=drift["drift_cross_horizontal"],
        drift_cross_vertical=drift["drift_cross_vertical"],
        closed_openness=CLOSED_OPENNESS,
        open_openness=OPEN_OPENNESS,
    )


def measure_raw(aligned: np.ndarray, neutral: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Iris offsets from the neutral without blink correction, ``(B, 2)`` each: horizontal, vertical, ratio."""
    frames, rest = measure_eyes(aligned), measure_eyes(neutral[None])
    return (
        frames.horizontal - rest.horizontal,
        frames.vertical - rest.vertical,
        frames.openness / rest.openness,
    )


def fit_drift(renders: GazeRenders, neutral: np.ndarray) -> dict[str, Any]:
    """Blink drift of the iris per axis: the table ``d(ρ)`` from blinks, the wink share ``κ`` from winks.

    ``d`` is piecewise linear on :data:`DRIFT_KNOTS` (0 at an openness ratio of 1), fitted by least squares
    with a small curvature penalty on both eyes of the blinks (both eyes alike), then made non-decreasing
    in the ratio and at most 0 (closing lids drag the iris down and towards the nose, never the other way:
    a lid that barely moves must not shift the reading). ``κ`` is the least-squares share of the closing
    eye's extra drift that the other eye shows in the winks (see :class:`GazeModel`).
    """
    settings = [
        controls
        for value in BLINK_VALUES
        for controls in (
            {"eyeBlink_L": value, "eyeBlink_R": value},
            {"eyeBlink_L": value},
            {"eyeBlink_R": value},
        )
    ]
    settings = [s for s in settings for _ in range(REPEATS)]
    aligned = np.stack([renders.aligned(s) for s in settings])
    h, v, ratio = measure_raw(aligned, neutral)
    both = np.array([len(s) == 2 for s in settings])
    keep = np.isfinite(ratio).all(axis=1) & np.isfinite(h).all(axis=1) & np.isfinite(v).all(axis=1)
    knots = np.asarray(DRIFT_KNOTS)
    free = len(knots) - 1  # the last knot (ratio 1) is 0
    basis = np.stack([np.interp(ratio, knots, np.eye(len(knots))[k]) for k in range(free)], axis=-1)
    curvature = np.diff(np.eye(len(knots)), n=2, axis=0)[:, :free] * DRIFT_SMOOTHING
    table: dict[str, Any] = {"openness_ratio": tuple(float(k) for k in knots)}
    print(
        "\nBlink drift (eyeBlink on both eyes and on one; offsets from the neutral in eye widths, + = out/up)"
    )
    for axis, target in (("horizontal", h), ("vertical", v)):
        rows = keep & both
        design = np.concatenate([basis[rows].reshape(-1, free), curvature])
        rhs = np.concatenate([target[rows].reshape(-1), np.zeros(len(curvature))])
        values, *_ = np.linalg.lstsq(design, rhs, rcond=None)
        drift = np.minimum.accumulate(np.r_[values, 0.0][::-1])[::-1]  # non-decreasing, ≤ 0, 0 at ratio 1
        own = np.interp(ratio, knots, drift)
        extra = np.interp(np.minimum(ratio, ratio[:, ::-1]), knots, drift) - own
        winks = keep & ~both
        kappa = float((extra[winks] * (target[winks] - own[winks])).sum() / (extra[winks] ** 2).sum())
        fitted = own + kappa * extra
        rms_blinks = float(np.sqrt(((fitted - target)[keep & both] ** 2).mean()))
        rms_winks = float(np.sqrt(((fitted - target)[winks] ** 2).mean()))
        table[f"drift_{axis}"] = tuple(round(float(x), 4) for x in drift)
        table[f"drift_cross_{axis}"] = round(kappa, 3)
        print(
            f"  {axis:10s} wink share κ {kappa:+.2f}; residual RMS blinks {rms_blinks:.4f}, winks {rms_winks:.4f}"
            "; d(ρ) at ρ = " + ", ".join(f"{k:.1f}: {d:+.3f}" for k, d in zip(knots, drift, strict=True))
        )
    print("  setting                              openness L/R   horizontal L/R   vertical L/R (measured)")
    for controls in dict.fromkeys(repr(s) for s in settings):
        rows = [i for i, s in enumerate(np.array(settings, dtype=object)[keep]) if repr(s) == controls]
        if controls.count("eyeBlink") and rows:
            r, mh, mv = ratio[rows].mean(axis=0), h[rows].mean(axis=0), v[rows].mean(axis=0)
            print(
                f"  {controls:36s} {r[0]:.2f}/{r[1]:.2f}      {mh[0]:+.3f}/{mh[1]:+.3f}    {mv[0]:+.3f}/{mv[1]:+.3f}"
            )
    return table


def fit_response(
    settings: list[dict[str, float]], offsets: dict[str, np.ndarray]
) -> tuple[dict[str, float], dict[str, float], dict[str, dict[str, float]]]:
    """Gains and cross responses by least squares through 0 of the blink-corrected offsets.

    Horizontal: each eye's offset on the four horizontal controls (own ``Out``, own ``In`` negated, the
    other eye's ``Out`` and ``In``), over all renders. Vertical: each eye's offset on ``Up`` and ``Down``
    (negated) over the conjugate renders only (vertical gaze is read as conjugate).

    Returns the gains, the cross responses and, per axis and eye, the fit's R² and RMS residual.
    """
    gains: dict[str, float] = {}
    cross: dict[str, float] = {}
    quality: dict[str, dict[str, float]] = {}
    conjugate = np.array([_is_conjugate_vertical(s) for s in settings])
    for axis, (positive, negative) in AXES.items():
        for index, side in enumerate(SIDES):
            other = SIDES[1 - index]
            columns = [gaze_control_name(positive, side), gaze_control_name(negative, side)]
            rows = np.ones(len(settings), bool) if axis == "horizontal" else conjugate
            if axis == "horizontal":
                columns += [gaze_control_name(positive, other), gaze_control_name(negative, other)]
            design = np.array([[s.get(name, 0.0) for name in columns] for s in settings])[rows]
            design[:, 1] *= -1.0  # the own eye's negative direction moves its iris the negative way
            target = offsets[axis][rows, index]
            keep = np.isfinite(target)
            beta, *_ = np.linalg.lstsq(design[keep], target[keep], rcond=None)
            gains[columns[0]], gains[columns[1]] = float(beta[0]), float(beta[1])
            if axis == "horizontal":
                cross[columns[2]], cross[columns[3]] = float(beta[2]), float(beta[3])
            residual = target[keep] - design[keep] @ beta
            quality[f"{axis}_{side}"] = {
                "r2": float(1.0 - (residual**2).sum() / ((target[keep] - target[keep].mean()) ** 2).sum()),
                "rms": float(np.sqrt((residual**2).mean())),
            }
    return gains, cross, quality


def _is_conjugate_vertical(setting: Mapping[str, float]) -> bool:
    """Whether a calibration setting turns both eyes up, or both down, by the same amount."""
    return any(
        set(setting) == {gaze_control_name(d, "L"), gaze_control_name(d, "R")} for d in AXES["vertical"]
    )


def linearity(
    settings: list[dict[str, float]], offsets: dict[str, np.ndarray], gains: dict[str, float]
) -> dict[str, dict[str, float]]:
    """Per control, mean own-eye offset per value, the line's R² and its largest error in control units.

    Horizontal controls are measured alone on their eye, vertical ones with both eyes moving together.
    """
    report: dict[str, dict[str, float]] = {}
    print(
        "\nLinearity (own eye; offsets in eye widths along the control's direction; vertical: both eyes moving)"
    )
    header = "  ".join(f"@{v:.2f} " for v in VALUES)
    print(f"  control          gain     {header}   R²    max err (control units)")
    for name in GAZE_CONTROL_NAMES:
        direction, side = name[len("eyeLook") :].split("_")
        axis = "horizontal" if direction in AXES["horizontal"] else "vertical"
        sign = 1.0 if direction in ("Out", "Up") else -1.0
        index = SIDES.index(side)
        means = []
        for value in VALUES:
            if axis == "horizontal":
                wanted = {name: value}
            else:
                wanted = {gaze_control_name(direction, "L"): value, gaze_control_name(direction, "R"): value}
            rows = [i for i, s in enumerate(settings) if s == wanted]
            means.append(float(np.nanmean(sign * offsets[axis][rows, index])))
        means_arr = np.array(means)
        line = gains[name] * np.array(VALUES)
        r2 = 1.0 - ((means_arr - line) ** 2).sum() / ((means_arr - means_arr.mean()) ** 2).sum()
        max_error = float(np.abs(means_arr / gains[name] - np.array(VALUES)).max())
        report[name] = {"r2": round(float(r2), 3), "max_error": round(max_error, 3)}
        print(
            f"  {name:15s} {gains[name]:.4f}   "
            + "  ".join(f"{m:+.3f}" for m in means)
            + f"   {r2:6.3f}  {max_error:.2f}"
        )
    return report


Case = tuple[str, dict[str, float], tuple[float, float, float] | None]


def validation_cases(seed: int) -> list[Case]:
    """Renders the model is checked on, not fitted on: ``(kind, controls, head rotation or None)``."""
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    for _ in range(24):  # conjugate gaze in a random direction and extent
        h, v = rng.uniform(-0.9, 0.9, 2)
        controls = {
            "eyeLookOut_L": max(h, 0.0), "eyeLookIn_L": max(-h, 0.0),
            "eyeLookIn_R": max(h, 0.0), "eyeLookOut_R": max(-h, 0.0),
            "eyeLookUp_L": max(v, 0.0), "eyeLookDown_L": max(-v, 0.0),
            "eyeLookUp_R": max(v, 0.0), "eyeLookDown_R": max(-v, 0.0),
        }  # fmt: skip
        cases.append(("conjugate", controls, None))
    for _ in range(12):  # one horizontal control, one eye
        name = HORIZONTAL_CONTROL_NAMES[int(rng.integers(len(HORIZONTAL_CONTROL_NAMES)))]
        cases.append(("one eye, In/Out", {name: float(rng.uniform(0.2, 0.9))}, None))
    for _ in range(6):  # synthetic performer style: a mirror pair together
        direction = ("Up", "Down", "In", "Out")[int(rng.integers(4))]
        value = float(rng.uniform(0.2, 0.6))
        cases.append(("mirror pair", {f"eyeLook{direction}_L": value, f"eyeLook{direction}_R": value}, None))
    for value in (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        cases.append(("blink", {"eyeBlink_L": value, "eyeBlink_R": value}, None))
    cases.append(("wink", {"eyeBlink_L": 1.0}, None))
    for value in (0.5, 1.0):
        cases.append(("squint", {"eyeSquint_L": value, "eyeSquint_R": value}, None))
        cases.append(("wide", {"eyeWide_L": value, "eyeWide_R": value}, None))
    for yaw in (-15.0, -10.0, 10.0, 15.0):
        cases.append(("head yaw", {}, (yaw, 0.0, 0.0)))
    for pitch in (-10.0, 10.0):
        cases.append(("head pitch", {}, (0.0, pitch, 0.0)))
    for _ in range(4):  # one vertical control, one eye: physiologically impossible, read as conjugate
        name = gaze_control_name(("Up", "Down")[int(rng.integers(2))], SIDES[int(rng.integers(2))])
        cases.append(("one eye, Up/Down", {name: float(rng.uniform(0.3, 0.9))}, None))
    return cases


def score(
    model: GazeModel, cases: list[Case], aligned: np.ndarray, neutral: np.ndarray, verbose: bool
) -> dict[str, float]:
    """Errors of the model on the validation renders; prints a table when ``verbose``, returns a summary."""
    predicted = model.controls(aligned, neutral)
    estimate = np.stack([predicted[name] for name in GAZE_CONTROL_NAMES], axis=1)  # (B, 8)
    truth = np.array([[controls.get(name, 0.0) for name in GAZE_CONTROL_NAMES] for _, controls, _ in cases])
    error = np.abs(estimate - truth)
    kinds = list(dict.fromkeys(kind for kind, _, _ in cases))
    rows = {kind: [i for i, (k, _, _) in enumerate(cases) if k == kind] for kind in kinds}
    summary: dict[str, float] = {}
    if verbose:
        print("\nValidation on renders not fitted on (absolute error of the 8 eyeLook controls)")
        print("  case               n   mean   max   mean |truth|")
    for kind in kinds:
        mean, worst = float(np.nanmean(error[rows[kind]])), float(np.nanmax(error[rows[kind]]))
        summary[f"{kind} mean"], summary[f"{kind} max"] = round(mean, 3), round(worst, 3)
        if verbose:
            print(
                f"  {kind:17s} {len(rows[kind]):2d}  {mean:.3f}  {worst:.2f}  {np.abs(truth[rows[kind]]).mean():.3f}"
            )
    down = np.maximum(predicted["eyeLookDown_L"], predicted["eyeLookDown_R"])
    if verbose:
        print("  blinks: eyeBlink → largest eyeLookDown, largest of any eyeLook")
        for i in rows["blink"] + rows["wink"]:
            print(f"    {cases[i][1]} → {down[i]:.3f}, {np.nanmax(estimate[i]):.3f}")
    summary["blink max down"] = round(float(down[rows["blink"] + rows["wink"]].max()), 3)
    gaze_rows = rows["conjugate"] + rows["one eye, In/Out"] + rows["mirror pair"]
    summary["gaze mean"] = round(float(np.nanmean(error[gaze_rows])), 3)
    for axis, directions in AXES.items():
        columns = [GAZE_CONTROL_NAMES.index(gaze_control_name(d, s)) for d in directions for s in SIDES]
        summary[f"gaze mean {axis}"] = round(float(np.nanmean(error[np.ix_(gaze_rows, columns)])), 3)
    still = rows["head yaw"] + rows["head pitch"] + rows["squint"] + rows["wide"]
    summary["gaze forward max"] = round(float(np.nanmax(estimate[still])), 3)
    if verbose:
        print(
            f"  gaze renders: mean error {summary['gaze mean']:.3f} (horizontal "
            f"{summary['gaze mean horizontal']:.3f}, vertical {summary['gaze mean vertical']:.3f}); "
            f"largest reading with the gaze forward (head turned, squint, wide) {summary['gaze forward max']:.3f}"
        )
    return summary


def calibrate(seed: int = 0) -> GazeModel:
    """Render, measure and fit; prints the report and returns the model."""
    renders = GazeRenders(seed)
    try:
        print(f"GL renderer: {renders.renderer.gl_renderer}; image {IMAGE_SIZE[0]}×{IMAGE_SIZE[1]}")
        print(f"Eyeball rotation at 1 (degrees): {ICT_GAZE_ANGLES_DEG}")
        neutral_renders = np.stack([renders.aligned({}) for _ in range(NEUTRAL_RENDERS)])
        neutral = np.median(neutral_renders, axis=0)
        if not np.isfinite(neutral).all():
            raise SystemExit("MediaPipe lost the face on a neutral render")
        drift = fit_drift(renders, neutral)
        provisional = _provisional(drift)
        moving = np.stack([
            renders.aligned({}, tuple(renders.rng.uniform(-1.0, 1.0, 3) * NOISE_HEAD_ROTATION_DEG))
            for _ in range(NOISE_RENDERS)
        ])  # fmt: skip
        rest = provisional.eye_offsets(moving, neutral)
        noise = {axis: float(np.sqrt(np.nanmean(rest[axis] ** 2))) for axis in AXES}
        print(
            f"\nNoise with the gaze forward (RMS offset of {NOISE_RENDERS} neutral renders, head turned up to "
            f"{NOISE_HEAD_ROTATION_DEG} degrees; eye widths): "
            + ", ".join(f"{axis} {value:.4f}" for axis, value in noise.items())
        )

        settings = [s for s in _settings(VALUES) for _ in range(REPEATS)]
        aligned = np.stack([renders.aligned(s) for s in settings])
        offsets = provisional.eye_offsets(aligned, neutral)
        gains, cross, quality = fit_response(settings, offsets)
        print("\nResponse fit (eye widths per unit control; cross = the other eye's signed offset)")
        for name in GAZE_CONTROL_NAMES:
            extra = f"   cross {cross[name]:+.4f}" if name in cross else ""
            print(f"  {name:15s} gain {gains[name]:.4f}{extra}")
        for key, values in quality.items():
            print(f"  fit {key:14s} R² {values['r2']:.3f}  rms {values['rms']:.4f}")
        lines = linearity(settings, offsets, gains)

        def model_for(sigmas: float) -> GazeModel:
            return GazeModel(
                gains={k: round(v, 5) for k, v in gains.items()},
                cross={k: round(v, 5) for k, v in cross.items()},
                drift_openness=drift["openness_ratio"],
                drift_horizontal=drift["drift_horizontal"],
                drift_vertical=drift["drift_vertical"],
                drift_cross_horizontal=drift["drift_cross_horizontal"],
                drift_cross_vertical=drift["drift_cross_vertical"],
                closed_openness=CLOSED_OPENNESS,
                open_openness=OPEN_OPENNESS,
                dead_zone_horizontal=round(sigmas * noise["horizontal"], 4),
                dead_zone_vertical=round(sigmas * noise["vertical"], 4),
            )

        cases = validation_cases(seed + 1)
        checks = np.stack([renders.aligned(controls, rotation) for _, controls, rotation in cases])
        print("\nDead zone sweep (× the noise RMS): validation mean error, worst readings without gaze")
        print("  sigmas  gaze h  gaze v  blink→down  gaze-forward max")
        for sigmas in DEAD_ZONE_SWEEP:
            result = score(model_for(sigmas), cases, checks, neutral, verbose=False)
            print(
                f"  {sigmas:6.1f}  {result['gaze mean horizontal']:.3f}   {result['gaze mean vertical']:.3f}"
                f"   {result['blink max down']:.3f}       {result['gaze forward max']:.3f}"
            )
        model = model_for(DEAD_ZONE_SIGMAS)
        print(
            f"chosen: {DEAD_ZONE_SIGMAS} × noise → dead zones {model.dead_zone_horizontal} (horizontal), "
            f"{model.dead_zone_vertical} (vertical) eye widths"
        )
        summary = score(model, cases, checks, neutral, verbose=True)
        metadata = {
            "rig": "ict_facekit",
            "made_by": "scripts/calibrate_gaze.py",
            "eyeball_rotation_deg_at_1": dict(ICT_GAZE_ANGLES_DEG),
            "renders": renders.count,
            "image_size": list(IMAGE_SIZE),
            "camera": "studio.render.synthetic_performer.TRACKING_CAMERA",
            "landmarker": "MediaPipe Face Landmarker (face_landmarker.task), image mode",
            "head_jitter": {"rotation_deg": JITTER_DEG, "translation_cm": JITTER_CM},
            "noise_rms": {k: round(v, 4) for k, v in noise.items()},
            "dead_zone_sigmas": DEAD_ZONE_SIGMAS,
            "fit_quality": {k: {m: round(x, 4) for m, x in v.items()} for k, v in quality.items()},
            "linearity": lines,
            "validation": summary,
        }
        return dataclasses.replace(model, metadata=metadata)
    finally:
        renders.close()


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", type=Path, default=ICT_GAZE_PATH, help=f"where to write (default {ICT_GAZE_PATH})"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the head-pose jitter")
    args = parser.parse_args(argv)
    model = calibrate(args.seed)
    path = model.save(args.output)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
