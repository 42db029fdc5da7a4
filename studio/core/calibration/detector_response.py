"""MediaPipe's systematic response to a rig's controls, learned once from renders of the rig itself.

A capture is the performer's face *as MediaPipe sees it*. MediaPipe's landmarks are a learned regression
on the image: for the same geometric motion they under-report some shapes (``jawForward``, ``cheekPuff``,
the brows), over-report others (``mouthClose``) and move landmarks the shape does not move. Calibrating θ_S
straight from captures writes that response into the performer's geometry (``docs/study.md``: the raw θ_S
shrinks ``jawForward`` to 13 % of θ_A while the performer's is 187 %), and the tracker built on it then
amplifies noise through the shrunk shapes.

The **detector response** ``Δ`` is, per control, the mean landmark offset ``(K, N, 3)`` cm between what
MediaPipe reports for the rig posed with controls ``c`` and what the rig's own geometry says, linear in the
controls:

``v_MediaPipe(c) − v_neutral ≈ (B + Δ)ᵀ c``

with ``B`` the rig θ_A at the landmark embedding. It is fitted by ridge regression (towards ``Δ = 0``) over
renders of θ_A with random identities, head motion and random sparse control mixes, seen by MediaPipe in
video mode and laid onto the rig's neutral exactly as a session's captures are (:func:`response_displacements`);
the renders are made by ``python main.py train detector-response`` (``models/detector_response/``, model card
beside it). A term in each control's square was tried and dropped: on a held-out identity it explained
MediaPipe worse (0.92 against 0.71 mm). Calibration subtracts ``Δᵀ c_k`` from each capture
(:meth:`DetectorResponse.corrected`) so that θ_S is the performer's geometry; fine-tuning then starts from that
θ_S and fits the tracking rig θ̂_S on the *uncorrected* captures, which is what the tracker sees.

Units: centimetres (ICT), rig space.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from studio.core.calibration.calibrate import CalibrationPair
from studio.core.errors import StudioError
from studio.core.io.atomic_files import json_text, npz_writer, write_atomic
from studio.core.io.npz import read_npz
from studio.core.io.resources import MODELS_DIR
from studio.core.tracking.tracker import Tracker

__all__ = [
    "MAX_OFFSET_CM",
    "MODELS_DIR",
    "DetectorResponse",
    "DetectorResponseError",
    "detector_response_for",
    "ExpectedView",
    "expected_view",
    "fit_detector_response",
    "low_gains",
    "model_path",
    "response_displacements",
]


MAX_OFFSET_CM = 5.0
"""A response offset larger than this at any landmark is not MediaPipe's bias but a broken file."""


class DetectorResponseError(StudioError):
    """A detector response file that cannot be used (one line naming the file)."""


@dataclass(frozen=True)
class DetectorResponse:
    """MediaPipe's systematic response ``Δ`` to a rig's controls at its landmark embedding (module docstring).

    Attributes
    ----------
    control_names : tuple of str
        The rig's ``K`` controls, in the order of ``offsets``.
    offsets : np.ndarray
        ``Δ``, shape ``(K, N, 3)``, float64, cm: what MediaPipe reports minus what the rig's geometry moves,
        per unit of each control.
    metadata : dict
        ``rig``, ``identities``, ``frames``, ``ridge``, ``seed``, ``command`` and the fit's figures.
    low_gain : np.ndarray, optional
        ``(K,)``: per control, how much of the mean response the faintest training face showed (the least,
        over the identities, of each identity's own response projected on the mean one; 1 when unknown).
        Captures are not called weak for what MediaPipe shows that faintly of some faces.
    """

    control_names: tuple[str, ...]
    offsets: np.ndarray
    metadata: dict = field(default_factory=dict)
    low_gain: np.ndarray | None = None

    def __post_init__(self) -> None:
        offsets = np.asarray(self.offsets, np.float64)
        if offsets.ndim != 3 or offsets.shape[0] != len(self.control_names) or offsets.shape[2] != 3:
            raise ValueError(f"offsets must have shape ({len(self.control_names)}, N, 3), got {offsets.shape}")
        object.__setattr__(self, "offsets", offsets)
        gain = np.ones(len(self.control_names)) if self.low_gain is None else np.asarray(self.low_gain, np.float64)
        if gain.shape != (len(self.control_names),) or not np.isfinite(gain).all():
            raise ValueError(f"low_gain must be finite with shape ({len(self.control_names)},)")
        object.__setattr__(self, "low_gain", np.clip(gain, 0.0, 1.0))

    @property
    def fingerprint(self) -> str:
        """A short hash of the offsets (recorded in θ_S's metadata)."""
        return hashlib.sha256(np.ascontiguousarray(self.offsets, np.float32).tobytes()).hexdigest()[:12]

    def bias(self, controls: np.ndarray) -> np.ndarray:
        """MediaPipe's expected bias for controls ``(B, K)`` → landmark offsets ``(B, N, 3)``, cm."""
        return np.einsum("bk,knx->bnx", np.asarray(controls, np.float64), self.offsets)

    def corrected(self, pairs: Sequence[CalibrationPair], control_names: Sequence[str]) -> list[CalibrationPair]:
        """The pairs with MediaPipe's expected bias for their controls removed from their landmarks.

        Raises
        ------
        DetectorResponseError
            The pairs' rig has other controls, or other landmarks.
        """
        if tuple(control_names) != self.control_names:
            raise DetectorResponseError(
                f"the detector response is for {len(self.control_names)} controls "
                f"({self.metadata.get('rig', 'another rig')}), not this rig's {len(control_names)}"
            )
        if not pairs:
            return []
        landmarks = np.stack([np.asarray(p.landmarks, np.float64) for p in pairs])
        if landmarks.shape[1] != self.offsets.shape[1]:
            raise DetectorResponseError(
                f"the detector response has {self.offsets.shape[1]} landmarks, the captures {landmarks.shape[1]}"
            )
        bias = self.bias(np.stack([p.controls for p in pairs]))
        return [replace(p, landmarks=v - b) for p, v, b in zip(pairs, landmarks, bias, strict=True)]

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically as ``.npz``: ``control_names``, ``offsets`` (float32, cm), ``low_gain``, ``metadata``
        (JSON)."""
        return write_atomic(path, npz_writer({
            "control_names": np.array(self.control_names),
            "offsets": self.offsets.astype(np.float32),
            "low_gain": np.asarray(self.low_gain, np.float32),
            "metadata": np.array(json_text(self.metadata)),
        }))

    @classmethod
    def load(cls, path: str | os.PathLike) -> DetectorResponse:
        """Read a file written by :meth:`save`.

        Raises
        ------
        DetectorResponseError
            Unreadable, missing arrays, wrong shapes, non-finite or implausibly large offsets.
        """
        import json

        arrays = read_npz(path, DetectorResponseError, ("control_names", "offsets"))
        names = tuple(str(n) for n in np.atleast_1d(arrays["control_names"]))
        offsets = np.asarray(arrays["offsets"])
        if offsets.ndim != 3 or offsets.shape[0] != len(names) or offsets.shape[2] != 3:
            raise DetectorResponseError(
                f"{path}: offsets must have shape ({len(names)}, N, 3), got {offsets.shape}"
            )
        if not np.isfinite(offsets).all():
            raise DetectorResponseError(f"{path}: offsets hold NaN or infinite values")
        largest = float(np.abs(offsets).max(initial=0.0))
        if largest > MAX_OFFSET_CM:
            raise DetectorResponseError(f"{path}: an offset of {largest:.1f} cm is not a detector's bias")
        metadata = {}
        if "metadata" in arrays:
            try:
                metadata = json.loads(str(arrays["metadata"]))
            except ValueError:
                raise DetectorResponseError(f"{path}: metadata is not JSON") from None
        low_gain = arrays.get("low_gain")
        if low_gain is not None and (np.shape(low_gain) != (len(names),) or not np.isfinite(low_gain).all()):
            raise DetectorResponseError(f"{path}: low_gain must be finite with shape ({len(names)},)")
        return cls(names, offsets, metadata if isinstance(metadata, dict) else {}, low_gain)


_LOADED: dict[tuple[str, int, int], DetectorResponse] = {}  # the last file read, by path, size and mtime


def model_path(rig_name: str) -> Path:
    """Where the detector response of rig ``rig_name`` is kept:
    ``MODELS_DIR/detector_response/mediapipe_on_<rig>.npz``."""
    return MODELS_DIR / "detector_response" / f"mediapipe_on_{rig_name}.npz"


def detector_response_for(rig_name: str, control_names: Sequence[str]) -> DetectorResponse | None:
    """The trained detector response of a rig, or None when the studio has none for it.

    Raises
    ------
    DetectorResponseError
        The file exists but is unusable, or was trained for other controls.
    """
    path = model_path(rig_name)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    response = _LOADED.get(key)
    if response is None:
        response = DetectorResponse.load(path)
        _LOADED.clear()
        _LOADED[key] = response
    if response.control_names != tuple(control_names):
        raise DetectorResponseError(f"{path}: trained for other controls than rig {rig_name}'s")
    return response


@dataclass(frozen=True)
class ExpectedView:
    """What MediaPipe is expected to show of expressions made as asked (:func:`expected_view`).

    Attributes
    ----------
    controls : np.ndarray
        ``(E, K)``: what the tracker (θ_A) solves from it.
    motion_mm : np.ndarray
        ``(E,)``: its largest landmark motion from the neutral, mm.
    low_gain : np.ndarray
        ``(K,)``: :attr:`DetectorResponse.low_gain`.
    """

    controls: np.ndarray
    motion_mm: np.ndarray
    low_gain: np.ndarray


def expected_view(tracker: Tracker, rig_name: str, controls: np.ndarray) -> ExpectedView | None:
    """MediaPipe's view of an obeying performer making ``controls`` ``(E, K)``, as ``tracker`` (θ_A) solves it.

    The landmarks MediaPipe is expected to report — θ_A's geometry plus the detector response,
    ``(B + Δ)ᵀ c`` — solved by the tracker: the yardstick captures are judged against
    (:func:`studio.core.capture.quality.assess_burst`), since an obeying performer's capture solves to about
    this, not to ``c``. None when the studio has no response model for the rig.
    """
    response = detector_response_for(rig_name, tracker.control_names)
    if response is None:
        return None
    c = np.atleast_2d(np.asarray(controls, np.float64))
    moved = np.einsum("ek,knx->enx", c, tracker.landmark_basis) + response.bias(c)
    laid_on_the_rig = tracker.performer_neutral(tracker.rig_points)
    solved = tracker.solve(tracker.rig_points + moved, laid_on_the_rig).controls.astype(np.float64)
    return ExpectedView(solved, 10.0 * np.linalg.norm(moved, axis=2).max(axis=1), response.low_gain)


def response_displacements(
    tracker: Tracker, landmarks_px: np.ndarray, neutral_frames: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks of a rendered take laid onto the rig's neutral as a session's captures are.

    The neutral is the average of ``neutral_frames`` (aligned onto the rig's neutral); each frame is aligned
    onto it and its small rigid motion removed with the tracker's solve (as
    :func:`studio.core.session.calibrate.calibration_pairs` does for a burst).

    Parameters
    ----------
    tracker : Tracker
        The tracker with θ_A.
    landmarks_px : np.ndarray
        MediaPipe's landmarks, ``(T, N, 3)``, pixels; NaN where no face was found.
    neutral_frames : tuple of int
        ``(start, stop)`` of frames where the face rests.

    Returns
    -------
    found : np.ndarray
        ``(T,)`` bool, frames with a face.
    displacements : np.ndarray
        ``(T, N, 3)`` cm, from the neutral (NaN where no face).
    """
    landmarks = np.asarray(landmarks_px, np.float64)
    found = np.isfinite(landmarks).all(axis=(1, 2))
    anchored = tracker.align(landmarks)
    start, stop = neutral_frames
    rest = anchored[start:stop][found[start:stop]]
    if not len(rest):
        raise DetectorResponseError(f"no face in the neutral frames {start}:{stop}")
    performer = tracker.performer_neutral(rest.mean(axis=0))
    tracked = tracker.solve(tracker.align(landmarks, performer), performer)
    return found, tracked.pose_corrected - performer.points


def low_gains(per_identity: Sequence[np.ndarray], offsets: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Per control, the least share of the mean response ``B + Δ`` any one identity's own response showed.

    ``per_identity``: each identity's own response offset ``Δ_i`` ``(K, N, 3)``, ``offsets`` the mean one;
    returns ``(K,)`` in [0, 1] (``<B + Δ_i, B + Δ> / ||B + Δ||²`` per
    control, least over the identities).
    """
    mean = (np.asarray(basis, np.float64) + offsets).reshape(len(offsets), -1)
    norm = np.maximum((mean**2).sum(axis=1), 1e-12)
    gains = [((np.asarray(basis, np.float64) + d).reshape(len(d), -1) * mean).sum(axis=1) / norm
             for d in per_identity]
    return np.clip(np.min(gains, axis=0), 0.0, 1.0)


def fit_detector_response(
    controls: np.ndarray, displacements: np.ndarray, basis: np.ndarray, ridge: float = 1.0
) -> np.ndarray:
    """Ridge regression of what MediaPipe reports beyond the rig's geometry on the controls.

    ``Δ = argmin Σ_f ||d_f − (B + Δ)ᵀ c_f||² + ridge ||Δ||²``, in closed form.

    Parameters
    ----------
    controls : np.ndarray
        ``(F, K)`` controls of the rendered frames.
    displacements : np.ndarray
        ``(F, N, 3)`` cm, from :func:`response_displacements`.
    basis : np.ndarray
        ``B``, the rig at the landmarks, ``(K, N, 3)`` cm.
    ridge : float
        Pulls controls the frames barely exercise to ``Δ = 0``.

    Returns
    -------
    np.ndarray
        ``Δ``, ``(K, N, 3)`` cm.
    """
    c = np.asarray(controls, np.float64)
    d = np.asarray(displacements, np.float64).reshape(len(c), -1)
    b = np.asarray(basis, np.float64)
    if not (np.isfinite(c).all() and np.isfinite(d).all()):
        raise ValueError("controls and displacements must be finite (drop the frames without a face)")
    residual = d - c @ b.reshape(len(b), -1)
    normal = c.T @ c + ridge * np.eye(c.shape[1])
    return np.linalg.solve(normal, c.T @ residual).reshape(b.shape)
