"""Training the detector response model: θ_A rendered through MediaPipe (``python main.py train detector-response``).

The rig itself, with random identities (the 20 leading ICT identity modes, σ = 1), gentle head motion and
random sparse mixes of its controls, is rendered and seen by MediaPipe in video mode, as a session's captures
are; each frame is laid onto the rig's neutral (:func:`~studio.core.calibration.detector_response.response_displacements`)
and :func:`~studio.core.calibration.detector_response.fit_detector_response` regresses what MediaPipe reports
beyond the rig's geometry on the controls. The last identity is held out to measure the fit.

The control mixes are the studio's own, unrelated to any study take: after a 1 s neutral, ``segments``
targets, each eased in over 4 frames and held 6; a target is the neutral (12 %) or 1–4 expression controls at
uniform intensities in [0.15, 1], and in 30 % of targets the eyes also turn one or two ways (both eyes
together, [0.2, 1]) so that MediaPipe's response to gaze (lids and brows following the eyes) is learned too.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from studio.core.calibration.detector_response import (
    DetectorResponse,
    fit_detector_response,
    low_gains,
    response_displacements,
)
from studio.core.jobs import Cancel, JobCancelled, is_cancelled
from studio.core.tracking.reconstruction import GeometryReconstructor
from studio.core.tracking.rig_bundle import RigBundle
from studio.render.synthetic_performer import SyntheticPerformerSource

__all__ = ["NEUTRAL_LEAD_FRAMES", "detector_response_job", "random_control_mixes"]

FPS = 30.0
NEUTRAL_LEAD_FRAMES = 30
"""Frames of neutral at the start of each identity's take; its frames 3–27 are its neutral."""


def random_control_mixes(
    control_names: tuple[str, ...], segments: int, rng: np.random.Generator
) -> np.ndarray:
    """Control curves ``(T, K)`` of random sparse mixes with gaze (module docstring)."""
    num_controls = len(control_names)
    gaze = {name: control_names.index(name) for name in control_names if name.startswith("eyeLook")}
    movable = np.setdiff1d(np.arange(num_controls), list(gaze.values()))
    frames = [np.zeros((NEUTRAL_LEAD_FRAMES, num_controls))]
    current = np.zeros(num_controls)
    ease = 0.5 - 0.5 * np.cos(np.pi * np.arange(1, 5) / 4)  # (4,)
    for _ in range(segments):
        target = np.zeros(num_controls)
        if rng.random() > 0.12:
            count = int(rng.integers(1, 5))
            chosen = rng.choice(movable, count, replace=False)
            target[chosen] = rng.uniform(0.15, 1.0, count)
        if gaze and rng.random() < GAZE_PROBABILITY:  # both eyes one way: the performer's left is L's out, R's in
            for pair in rng.permutation(_GAZE_PAIRS)[: int(rng.integers(1, 3))]:
                (left, right) = pair[int(rng.integers(0, 2))]
                value = rng.uniform(0.2, 1.0)
                for name in (left, right):
                    if name in gaze:
                        target[gaze[name]] = value
        frames.append((1 - ease)[:, None] * current + ease[:, None] * target)
        frames.append(np.repeat(target[None], 6, axis=0))
        current = target
    return np.concatenate(frames).astype(np.float32)


GAZE_PROBABILITY = 0.3
"""How often a target also turns the eyes (one or two directions, both eyes together)."""

_GAZE_PAIRS = (
    (("eyeLookOut_L", "eyeLookIn_R"), ("eyeLookIn_L", "eyeLookOut_R")),  # horizontal: left, right
    (("eyeLookUp_L", "eyeLookUp_R"), ("eyeLookDown_L", "eyeLookDown_R")),  # vertical: up, down
)


def detector_response_job(
    bundle: RigBundle,
    identities: int = 12,
    segments: int = 45,
    seed: int = 0,
    ridge: float = 1.0,
    cancel: Cancel = None,
) -> Generator[tuple[str, int, int], None, DetectorResponse]:
    """Render, observe and fit the detector response of ``bundle``'s rig θ_A, as a generator job.

    Parameters
    ----------
    bundle : RigBundle
        The rig (θ_A), its landmark embedding and gaze model.
    identities : int
        Random identities rendered (≥ 2: the last is held out for the figures, then fitted too).
    segments : int
        Control targets per identity (10 frames each, after 30 frames of neutral).
    seed : int
        Seeds identities, mixes and head motion.
    ridge : float
        :func:`fit_detector_response`'s ridge.
    cancel : callable, object with ``is_set()``, or None
        Checked before each frame.

    Yields ``(what, done, total)`` per frame; returns the :class:`DetectorResponse` with its figures in
    ``metadata``: ``held_out_rms_mm`` (the held-out identity's landmark error of θ_A's geometry and of
    θ_A + Δ against what MediaPipe reported, mm per landmark) and ``frames``; its ``low_gain`` from each
    identity's own fit (:func:`~studio.core.calibration.detector_response.low_gains`).
    """
    if identities < 2:
        raise ValueError("identities must be at least 2 (one is held out)")
    rig = bundle.rig
    tracker = bundle.tracker()
    rng = np.random.default_rng(seed)
    takes = []
    for _ in range(identities):
        identity = np.zeros(rig.num_identity_modes, np.float32)
        modes = min(20, rig.num_identity_modes)
        identity[:modes] = rng.normal(0.0, 1.0, modes)
        takes.append((identity, random_control_mixes(rig.expression_names, segments, rng)))
    total = sum(len(curves) for _, curves in takes)
    done = 0
    controls, displacements = [], []
    for number, (identity, curves) in enumerate(takes):
        source = SyntheticPerformerSource(rig, curves, FPS, identity=identity, head_motion=True,
                                          seed=seed * 1000 + number)
        landmarks = []
        with GeometryReconstructor(running_mode="video") as reconstructor:
            for frame in source:
                if is_cancelled(cancel):
                    raise JobCancelled("detector response training cancelled")
                landmarks.append(reconstructor.observe(frame).landmarks)
                done += 1
                yield (f"identity {number + 1}/{identities}", done, total)
        found, moved = response_displacements(tracker, np.stack(landmarks), (3, NEUTRAL_LEAD_FRAMES - 3))
        controls.append(curves[found].astype(np.float64))
        displacements.append(moved[found])
    basis = tracker.landmark_basis
    held_c, held_d = controls[-1], displacements[-1]
    held_out = DetectorResponse(rig.expression_names, fit_detector_response(
        np.concatenate(controls[:-1]), np.concatenate(displacements[:-1]), basis, ridge))

    def rms_mm(predicted: np.ndarray) -> float:
        return float(10.0 * np.linalg.norm(held_d - predicted, axis=2).mean())

    figures = {
        "held_out_rms_mm": {
            "theta_A": rms_mm(np.einsum("fk,knx->fnx", held_c, basis)),
            "theta_A_plus_response": rms_mm(np.einsum("fk,knx->fnx", held_c, basis) + held_out.bias(held_c)),
        },
    }
    offsets = fit_detector_response(np.concatenate(controls), np.concatenate(displacements), basis, ridge)
    own = [fit_detector_response(c, d, basis, ridge) for c, d in zip(controls, displacements, strict=True)]
    gain = low_gains(own, offsets, basis)
    metadata = {
        "rig": bundle.name,
        "identities": identities,
        "segments": segments,
        "seed": seed,
        "ridge": ridge,
        "frames": int(sum(len(c) for c in controls)),
        **figures,
    }
    yield ("done", total, total)
    return DetectorResponse(rig.expression_names, offsets, metadata, gain)
