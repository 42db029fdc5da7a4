"""Gaze from MediaPipe's iris landmarks: the eight ``eyeLook`` controls, which rig inversion cannot see.

ICT's ``eyeLook{Up,Down,In,Out}_{L,R}`` blendshapes deform the lids only; its eyeballs never move, so the
tracker's landmark embedding puts the iris points on eyeballs that look forward and the solver cannot
explain an iris that moved. MediaPipe's iris landmarks (``473``–``477`` on the face's left eye, ICT ``_L``,
+x in rig space; ``468``–``472`` on its right eye, ``_R``) do follow the eyeball. :class:`GazeModel` reads
the gaze off them directly:

1. **Eye frame.** Per eye, in head-pose-free landmarks (rig space, :meth:`Tracker.align
   <studio.core.tracking.tracker.Tracker.align>`; only x and y are used, the face plane): origin at the midpoint of
   the eye corners, ``x̂`` from the inner (nasal) to the outer corner, ``ŷ`` perpendicular to it, upwards.
   The iris position (mean of the centre and its four ring points) is measured in that frame and divided
   by the eye width (corner distance), so scale and the performer's identity drop out; the same is done
   for the lid gap (*openness*, lids ``159``/``145`` and ``386``/``374``).
2. **Offsets from the performer's neutral.** The neutral's iris offsets are subtracted (each person's iris
   sits differently between the corners), and the openness is divided by the neutral's (ratio ``ρ``).
3. **Blinks.** When the lids close, MediaPipe's iris slides down and towards the nose with them (0.09
   eye widths closed, more than a full ``eyeLookDown`` reads). The drift measured on blinks is
   subtracted as a function of ``ρ`` (and, for a wink, a share of the closing eye's drift from the open
   eye), and the gaze fades out (smoothstep) between ``closed_openness`` and ``open_openness``: a closed
   eye has no observable gaze, and "blinks read as look-down" is the classic complaint.
4. **Horizontal: inversion of the response.** Calibration (``scripts/calibrate_gaze.py``) measured, on
   renders of the ICT rig with its eyeballs turned, each eye's iris offset per unit of each control: its
   *gain* on its own eye and a *cross* response on the other eye (MediaPipe drags the other iris along by
   about a quarter). The response is linear on each side of zero, so both eyes' offsets are inverted
   together by a piecewise-linear least squares (four sign quadrants, the best kept).
5. **Vertical: conjugate.** Eyes turn up and down together, and MediaPipe resolves vertical iris motion
   poorly (0.06 eye widths, 2–3 px, for a full ``eyeLookUp``), so the two eyes' offsets, each divided by
   its gain, are averaged (weighted by openness): one ``Up``/``Down`` value for both eyes.
6. **Noise.** Small readings are gated out (:func:`dead_zone_gate`; the dead zones are twice MediaPipe's
   noise with the head turning), larger ones pass unbiased. Each signed value is then split into its two
   controls (``Out``/``In``, ``Up``/``Down``) and clipped to [0, 1].

Rendering gaze: because ICT's eyeballs do not move, the calibration renders (and any render meant to show
gaze) turn them with :func:`studio.core.rig.eyeballs.pose_eyeballs`, the convention that defines what
``eyeLookOut_L = 1`` means in this studio.

Conventions: rig space is centimetres, +y up, +z out of the face, x towards the face's left. "In" is
towards the nose, "Out" towards the ear. Offsets are in eye widths (unitless). ``B`` frames, ``N = 478``
landmarks.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.io.resources import RESOURCES_DIR
from studio.core.rig.eyeballs import DIRECTIONS, SIDES, gaze_control_name
from studio.core.rig.rig import RigFileError
from studio.core.tracking.mediapipe_topology import MediaPipeLandmarkIndex as Index

__all__ = [
    "AXES",
    "EYES",
    "GAZE_CONTROL_NAMES",
    "GAZE_FORMAT",
    "GAZE_VERSION",
    "HORIZONTAL_CONTROL_NAMES",
    "ICT_GAZE_PATH",
    "EyeLandmarks",
    "EyeMeasurements",
    "GazeModel",
    "GazeModelError",
    "blink_attenuation",
    "dead_zone_gate",
    "measure_eyes",
]

GAZE_FORMAT = "simon-says-studio/gaze-model"
"""The value of a gaze model file's ``format`` field."""

GAZE_VERSION = 1
"""The version of the gaze model file format this module writes and reads."""

ICT_GAZE_PATH: Path = RESOURCES_DIR / "gaze" / "ict_gaze.json"
"""The packaged gaze model of the ICT-FaceKit rig (written by ``scripts/calibrate_gaze.py``)."""

AXES: dict[str, tuple[str, str]] = {"horizontal": ("Out", "In"), "vertical": ("Up", "Down")}
"""Per axis, the directions of its positive and negative values (signed values are eye-relative: + is
towards the ear, or up, for either eye)."""

GAZE_CONTROL_NAMES: tuple[str, ...] = tuple(f"eyeLook{d}_{s}" for s in SIDES for d in DIRECTIONS)
"""The eight ``eyeLook`` control names, left eye first."""

class GazeModelError(RigFileError):
    """A gaze model file is unreadable or inconsistent (one-line message)."""


@dataclass(frozen=True)
class EyeLandmarks:
    """MediaPipe landmark ids of one eye.

    Attributes
    ----------
    inner, outer : int
        Inner (nasal) and outer (temporal) corner.
    upper, lower : int
        Middle of the upper and of the lower lid.
    iris : tuple of int
        Iris centre and its four ring points.
    """

    inner: int
    outer: int
    upper: int
    lower: int
    iris: tuple[int, ...]


EYES: dict[str, EyeLandmarks] = {
    "L": EyeLandmarks(
        Index.LEFT_EYE_INNER, Index.LEFT_EYE_OUTER, Index.LEFT_EYE_UPPER_LID, Index.LEFT_EYE_LOWER_LID,
        (Index.LEFT_IRIS_CENTER, 474, 475, 476, 477),
    ),
    "R": EyeLandmarks(
        Index.RIGHT_EYE_INNER, Index.RIGHT_EYE_OUTER, Index.RIGHT_EYE_UPPER_LID, Index.RIGHT_EYE_LOWER_LID,
        (Index.RIGHT_IRIS_CENTER, 469, 470, 471, 472),
    ),
}  # fmt: skip
"""Landmarks of the face's left eye (ICT ``_L``, MediaPipe 473–477) and right eye (``_R``, 468–472)."""


# ----------------------------------------------------------------------------------------------------------
# Measuring the eyes
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EyeMeasurements:
    """Iris position and lid gap of both eyes in each eye's own frame, in eye widths.

    Attributes
    ----------
    horizontal : np.ndarray
        Iris offset from the corners' midpoint along the eye (+ towards the ear), shape ``(B, 2)`` (eyes in
        :data:`SIDES` order), eye widths.
    vertical : np.ndarray
        Iris offset perpendicular to the eye, in the face plane (+ up), shape ``(B, 2)``, eye widths.
    openness : np.ndarray
        Lid gap (upper minus lower lid along ``ŷ``) over the eye width, shape ``(B, 2)``.
    width_cm : np.ndarray
        Eye width (corner distance in the face plane), shape ``(B, 2)``, cm.
    """

    horizontal: np.ndarray
    vertical: np.ndarray
    openness: np.ndarray
    width_cm: np.ndarray


def measure_eyes(landmarks: np.ndarray) -> EyeMeasurements:
    """Measure both eyes in head-pose-free landmarks.

    Parameters
    ----------
    landmarks : np.ndarray
        Aligned landmarks, rig space, shape ``(B, N, 3)`` with ``N = 478`` (cm). Only x and y are used.

    Returns
    -------
    EyeMeasurements
        Arrays of shape ``(B, 2)``; NaN for an eye whose landmarks are not finite or have zero width.
    """
    points = np.asarray(landmarks, np.float64)
    if points.ndim != 3 or points.shape[2] != 3 or points.shape[1] <= max(EYES["L"].iris + EYES["R"].iris):
        raise ValueError(f"landmarks must have shape (B, 478, 3), got {points.shape}")
    xy = points[..., :2]
    columns: dict[str, list[np.ndarray]] = {"h": [], "v": [], "o": [], "w": []}
    for side in SIDES:
        eye = EYES[side]
        inner, outer = xy[:, eye.inner], xy[:, eye.outer]
        axis = outer - inner
        with np.errstate(invalid="ignore", divide="ignore"):
            width = np.linalg.norm(axis, axis=1)
            width = np.where(width > 0, width, np.nan)
            x_hat = axis / width[:, None]
            # perpendicular in the face plane, pointing up (+y) whichever way the eye's x̂ points
            y_hat = np.stack([-x_hat[:, 1], x_hat[:, 0]], axis=1) * np.sign(x_hat[:, :1])
            iris = xy[:, list(eye.iris)].mean(axis=1) - 0.5 * (inner + outer)
            gap = xy[:, eye.upper] - xy[:, eye.lower]
            columns["h"].append((iris * x_hat).sum(axis=1) / width)
            columns["v"].append((iris * y_hat).sum(axis=1) / width)
            columns["o"].append((gap * y_hat).sum(axis=1) / width)
        columns["w"].append(width)
    h, v, o, w = (np.stack(columns[key], axis=1) for key in "hvow")
    return EyeMeasurements(horizontal=h, vertical=v, openness=o, width_cm=w)


def blink_attenuation(openness_ratio: np.ndarray, closed: float, opened: float) -> np.ndarray:
    """Weight of the measured gaze by the eye's openness: 0 when closed, 1 when open, smoothstep between.

    Parameters
    ----------
    openness_ratio : np.ndarray
        Openness over the neutral's, any shape.
    closed, opened : float
        Ratios at and below which the weight is 0, and at and above which it is 1 (``closed < opened``).

    Returns
    -------
    np.ndarray
        Weights in [0, 1], the shape of ``openness_ratio`` (NaN stays NaN).
    """
    t = np.clip((np.asarray(openness_ratio, np.float64) - closed) / (opened - closed), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


# ----------------------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------------------

#: The horizontal controls, the only ones with a cross response (vertical gaze is read as conjugate).
HORIZONTAL_CONTROL_NAMES: tuple[str, ...] = tuple(
    gaze_control_name(d, s) for s in SIDES for d in AXES["horizontal"]
)


def dead_zone_gate(values: np.ndarray, dead_zone: np.ndarray | float) -> np.ndarray:
    """Suppress small readings, keep large ones unbiased: ``g · smoothstep(δ, 2δ, |g|)``.

    Parameters
    ----------
    values : np.ndarray
        Signed gaze values, control units, any shape.
    dead_zone : np.ndarray or float
        ``δ`` in control units (broadcast against ``values``): readings below it become 0, readings above
        ``2δ`` pass unchanged, and the map is continuous and monotone between.

    Returns
    -------
    np.ndarray
        Gated values, the shape of ``values``.
    """
    values = np.asarray(values, np.float64)
    dead_zone = np.asarray(dead_zone, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(dead_zone > 0, np.clip((np.abs(values) - dead_zone) / dead_zone, 0.0, 1.0), 1.0)
    return values * t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class GazeModel:
    """Maps aligned landmarks and the performer's neutral to the eight ``eyeLook`` controls.

    Attributes
    ----------
    gains : dict of str to float
        Per gaze control, the offset of its own eye's iris along the control's direction per unit of the
        control (eye widths per unit, positive). Vertical gains are measured with both eyes moving
        together (vertical gaze is read as conjugate, see :meth:`vertical_gaze`).
    cross : dict of str to float
        Per horizontal control (:data:`HORIZONTAL_CONTROL_NAMES`), the signed offset of the *other* eye's
        iris per unit of the control (eye widths per unit; + is the other eye's ``Out``).
    drift_openness : tuple of float
        Openness ratios (ascending) at which the blink drift is tabulated.
    drift_horizontal, drift_vertical : tuple of float
        Iris offset (eye widths, eye-relative signs) that closing an eye's lids to each ratio causes on
        that eye with the gaze forward; interpolated linearly, held at the ends. Subtracted before
        inversion.
    drift_cross_horizontal, drift_cross_vertical : float
        ``κ``: when one eye closes more than the other (a wink), MediaPipe drags the more open eye's iris
        along by ``κ`` times the closing eye's extra drift, so eye ``e``'s drift is
        ``d(ρ_e) + κ · (d(min(ρ_e, ρ_o)) − d(ρ_e))`` with ``d`` the drift table (both eyes blinking
        alike: ``d(ρ)``).
    closed_openness, open_openness : float
        Openness ratios between which the measured gaze fades in (:func:`blink_attenuation`).
    dead_zone_horizontal, dead_zone_vertical : float
        Offsets (eye widths) read as no gaze: a multiple of MediaPipe's noise, so that a steady gaze forward
        (and what is left of a blink) stays at 0. Divided by a control's gain they give the ``δ`` of
        :func:`dead_zone_gate`: readings above twice that pass unchanged.
    metadata : dict
        Free-form provenance (how and on what it was calibrated, the calibration report).
    """

    gains: dict[str, float]
    cross: dict[str, float]
    drift_openness: tuple[float, ...] = (1.0,)
    drift_horizontal: tuple[float, ...] = (0.0,)
    drift_vertical: tuple[float, ...] = (0.0,)
    drift_cross_horizontal: float = 0.0
    drift_cross_vertical: float = 0.0
    closed_openness: float = 0.25
    open_openness: float = 0.5
    dead_zone_horizontal: float = 0.0
    dead_zone_vertical: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for table, names in (("gains", GAZE_CONTROL_NAMES), ("cross", HORIZONTAL_CONTROL_NAMES)):
            values = getattr(self, table)
            if set(values) != set(names):
                missing, extra = sorted(set(names) - set(values)), sorted(set(values) - set(names))
                raise GazeModelError(
                    f"{table} must name {', '.join(names)} (missing {missing}, extra {extra})"
                )
            if not all(isinstance(v, float | int) and math.isfinite(v) for v in values.values()):
                raise GazeModelError(f"{table} must be finite numbers")
        knots = np.asarray(self.drift_openness, np.float64)
        if knots.ndim != 1 or not len(knots) or np.any(np.diff(knots) <= 0) or not np.isfinite(knots).all():
            raise GazeModelError("drift_openness must be finite, ascending and non-empty")
        for table in ("drift_horizontal", "drift_vertical"):
            values = np.asarray(getattr(self, table), np.float64)
            if values.shape != knots.shape or not np.isfinite(values).all():
                raise GazeModelError(f"{table} must be finite with one value per drift_openness knot")
        if not (math.isfinite(self.drift_cross_horizontal) and math.isfinite(self.drift_cross_vertical)):
            raise GazeModelError("drift_cross_horizontal and drift_cross_vertical must be finite")
        if not 0.0 <= self.closed_openness < self.open_openness:
            raise GazeModelError("need 0 <= closed_openness < open_openness")
        for axis, directions in AXES.items():
            dead_zone = getattr(self, f"dead_zone_{axis}")
            if (
                not 0.0
                <= dead_zone
                < min(self.gains[gaze_control_name(d, s)] for d in directions for s in SIDES)
            ):
                raise GazeModelError(
                    f"dead_zone_{axis} must be at least 0 and smaller than every {axis} gain"
                )
        # each eye's own horizontal gains dominate the other eye's response: the inversion is well posed
        for direction in AXES["horizontal"]:
            for side, other in (("L", "R"), ("R", "L")):
                own, theirs = gaze_control_name(direction, side), gaze_control_name(direction, other)
                if abs(self.cross[theirs]) >= self.gains[own]:
                    raise GazeModelError(f"cross response of {theirs} must be smaller than the gain of {own}")

    # -- names ------------------------------------------------------------------------------------------

    @property
    def gaze_control_names(self) -> tuple[str, ...]:
        """The eight ``eyeLook`` control names the model gives, in :data:`GAZE_CONTROL_NAMES` order."""
        return GAZE_CONTROL_NAMES

    # -- reading gaze ------------------------------------------------------------------------------------

    def eye_offsets(self, aligned: np.ndarray, neutral: np.ndarray) -> dict[str, np.ndarray]:
        """Blink-corrected iris offsets from the neutral (the quantity the gains describe), and the weights.

        Parameters
        ----------
        aligned : np.ndarray
            Head-pose-free landmarks, rig space, shape ``(B, 478, 3)``, cm.
        neutral : np.ndarray
            The performer's neutral in the same space, shape ``(478, 3)``, cm.

        Returns
        -------
        dict of str to np.ndarray
            ``horizontal`` and ``vertical`` (eye widths, eye-relative signs, blink drift subtracted, not
            attenuated), ``openness_ratio`` and ``weight`` (:func:`blink_attenuation`), each of shape
            ``(B, 2)`` (eyes in :data:`SIDES` order), NaN for frames whose eye landmarks are not finite.
        """
        frames = measure_eyes(aligned)
        neutral = np.asarray(neutral, np.float64)
        if neutral.ndim != 2:
            raise ValueError(f"neutral must have shape (478, 3), got {neutral.shape}")
        rest = measure_eyes(neutral[None])
        if not (np.isfinite(rest.horizontal).all() and np.isfinite(rest.vertical).all()):
            raise ValueError("the neutral's eye landmarks must be finite")
        if not np.all(rest.openness > 0):
            raise ValueError("the neutral's eyes must be open")
        ratio = frames.openness / rest.openness
        knots = np.asarray(self.drift_openness)
        held = np.nan_to_num(ratio, nan=1.0)
        drift = {}
        for axis in AXES:
            table = getattr(self, f"drift_{axis}")
            own = np.interp(held, knots, table)  # (B, 2)
            closer = np.interp(np.minimum(held, held[:, ::-1]), knots, table)  # the more closed eye's drift
            drift[axis] = own + getattr(self, f"drift_cross_{axis}") * (closer - own)
        return {
            "horizontal": frames.horizontal - rest.horizontal - drift["horizontal"],
            "vertical": frames.vertical - rest.vertical - drift["vertical"],
            "openness_ratio": ratio,
            "weight": blink_attenuation(ratio, self.closed_openness, self.open_openness),
        }

    def horizontal_gaze(self, offsets: np.ndarray) -> np.ndarray:
        """Invert the horizontal response of both eyes: offsets → signed gaze (+ ``Out``, − ``In``).

        MediaPipe drags each iris along with the other one, so the offset of eye ``e`` is modelled as
        ``m_e = ± gain · u_e + cross · u_o`` with ``u ≥ 0`` the value of the control each sign selects,
        linear in each of the four sign quadrants. The offsets are solved in least squares per quadrant and
        on its faces (one eye at 0); the solution with the smallest residual wins. Each eye's value then
        goes through :func:`dead_zone_gate` with ``δ = dead_zone_horizontal / gain``.

        Parameters
        ----------
        offsets : np.ndarray
            Horizontal offsets of both eyes, shape ``(B, 2)``, eye widths (+ towards the ear).

        Returns
        -------
        np.ndarray
            Signed gaze, shape ``(B, 2)``, control units, not clipped; NaN where ``offsets`` is NaN.
        """
        positive, negative = AXES["horizontal"]
        m = np.asarray(offsets, np.float64)
        best = np.full(m.shape, np.nan)
        best_residual = np.full(len(m), np.inf)
        for signs in ((1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)):
            left, right = (
                gaze_control_name(positive if sign > 0 else negative, side)
                for sign, side in zip(signs, SIDES, strict=True)
            )
            # offsets of both eyes (rows) per unit of each eye's control (columns: u_L, u_R)
            response = np.array([
                [signs[0] * self.gains[left], self.cross[right]],
                [self.cross[left], signs[1] * self.gains[right]],
            ])  # fmt: skip
            candidates = [np.linalg.solve(response, m.T).T, np.zeros_like(m)]  # both eyes moving; both still
            for column in range(2):  # one eye still
                a = response[:, column]
                u = np.zeros_like(m)
                u[:, column] = m @ a / (a @ a)
                candidates.append(u)
            for u in candidates:
                u = np.where(u >= 0.0, u, np.nan)  # NaN outside this quadrant
                residual = ((m - u @ response.T) ** 2).sum(axis=1)
                better = np.isfinite(residual) & (residual < best_residual - 1e-15)
                best[better] = u[better] * np.array(signs)
                best_residual[better] = residual[better]
        gains = np.stack([
            np.where(best[:, index] >= 0, self.gains[gaze_control_name(positive, side)],
                     self.gains[gaze_control_name(negative, side)])
            for index, side in enumerate(SIDES)
        ], axis=1)  # fmt: skip
        return dead_zone_gate(best, self.dead_zone_horizontal / gains)

    def vertical_gaze(self, offsets: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Conjugate vertical gaze from both eyes' vertical offsets (+ ``Up``, − ``Down``).

        Both eyes always turn up and down together (Hering's law), while MediaPipe resolves the vertical
        iris position poorly (a full ``eyeLookUp`` moves its iris about 0.06 eye widths, 2–3 px at
        640×480, and it drags each iris along with the other). So each eye's offset is divided by that
        eye's ``Up`` or ``Down`` gain, the two are averaged weighted by the eyes' openness weights (a
        winking eye does not count), the mean goes through :func:`dead_zone_gate` with
        ``δ = dead_zone_vertical / gain`` (gain: the weighted mean of the two) and is attenuated by the
        larger weight (both eyes closed: no gaze).

        Parameters
        ----------
        offsets : np.ndarray
            Vertical offsets of both eyes, shape ``(B, 2)``, eye widths (+ up).
        weight : np.ndarray
            Openness weights of both eyes, shape ``(B, 2)``, in [0, 1].

        Returns
        -------
        np.ndarray
            The shared vertical gaze of each frame, shape ``(B,)``, control units, not clipped; NaN where an
            offset or weight is NaN.
        """
        up, down = AXES["vertical"]
        offsets = np.asarray(offsets, np.float64)
        weight = np.asarray(weight, np.float64)
        gains = np.stack([
            np.where(offsets[:, index] >= 0, self.gains[gaze_control_name(up, side)],
                     self.gains[gaze_control_name(down, side)])
            for index, side in enumerate(SIDES)
        ], axis=1)  # fmt: skip
        total = weight.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(total > 0, (offsets / gains * weight).sum(axis=1) / total, 0.0)
            gain = np.where(total > 0, (gains * weight).sum(axis=1) / total, gains.mean(axis=1))
        gated = dead_zone_gate(mean, self.dead_zone_vertical / gain) * weight.max(axis=1)
        return np.where(np.isfinite(offsets).all(axis=1) & np.isfinite(weight).all(axis=1), gated, np.nan)

    def controls(self, aligned: np.ndarray, neutral: np.ndarray) -> dict[str, np.ndarray]:
        """The eight ``eyeLook`` controls of each frame.

        Parameters
        ----------
        aligned : np.ndarray
            Head-pose-free landmarks, rig space, shape ``(B, 478, 3)``, cm (:meth:`Tracker.align
            <studio.core.tracking.tracker.Tracker.align>`); NaN in frames without a face.
        neutral : np.ndarray
            The performer's neutral in the same space, shape ``(478, 3)``, cm.

        Returns
        -------
        dict of str to np.ndarray
            :data:`GAZE_CONTROL_NAMES` → values of shape ``(B,)``, float32 in [0, 1]; NaN in frames whose
            eye or iris landmarks are not finite. ``Up``/``Down`` are equal for both eyes (conjugate);
            ``In``/``Out`` are per eye, each attenuated by its own openness weight.
        """
        offsets = self.eye_offsets(aligned, neutral)
        weight = offsets["weight"]
        horizontal = np.clip(self.horizontal_gaze(offsets["horizontal"]) * weight, -1.0, 1.0)
        vertical = np.clip(self.vertical_gaze(offsets["vertical"], weight), -1.0, 1.0)
        found = np.isfinite(horizontal).all(axis=1) & np.isfinite(vertical)
        out: dict[str, np.ndarray] = {}
        for index, side in enumerate(SIDES):
            signed = {"horizontal": horizontal[:, index], "vertical": vertical}
            for axis, (positive, negative) in AXES.items():
                value = signed[axis]
                out[gaze_control_name(positive, side)] = np.where(found, np.maximum(value, 0.0), np.nan)
                out[gaze_control_name(negative, side)] = np.where(found, np.maximum(-value, 0.0), np.nan)
        return {name: out[name].astype(np.float32) for name in GAZE_CONTROL_NAMES}

    # -- files ------------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The model as a JSON-ready dict (the format :meth:`load` reads)."""
        return {
            "format": GAZE_FORMAT,
            "version": GAZE_VERSION,
            "units": "eye widths per unit of control",
            "gains": {name: float(self.gains[name]) for name in GAZE_CONTROL_NAMES},
            "cross": {name: float(self.cross[name]) for name in HORIZONTAL_CONTROL_NAMES},
            "dead_zone": {
                "horizontal": float(self.dead_zone_horizontal),
                "vertical": float(self.dead_zone_vertical),
            },
            "blink": {
                "openness_ratio": [float(v) for v in self.drift_openness],
                "drift_horizontal": [float(v) for v in self.drift_horizontal],
                "drift_vertical": [float(v) for v in self.drift_vertical],
                "drift_cross_horizontal": float(self.drift_cross_horizontal),
                "drift_cross_vertical": float(self.drift_cross_vertical),
                "closed_openness": float(self.closed_openness),
                "open_openness": float(self.open_openness),
            },
            "metadata": self.metadata,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model as JSON (indented, trailing newline); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_json(cls, obj: Any, source: str = "gaze model") -> GazeModel:
        """Build a model from the dict :meth:`to_json` gives; :class:`GazeModelError` names what is wrong."""
        try:
            if not isinstance(obj, dict) or obj.get("format") != GAZE_FORMAT:
                raise GazeModelError(f'not a gaze model (format must be "{GAZE_FORMAT}")')
            if obj.get("version") != GAZE_VERSION:
                raise GazeModelError(
                    f"unsupported gaze model version {obj.get('version')!r} (reads {GAZE_VERSION})"
                )
            blink = obj["blink"]
            return cls(
                gains={str(k): float(v) for k, v in obj["gains"].items()},
                cross={str(k): float(v) for k, v in obj["cross"].items()},
                drift_openness=tuple(float(v) for v in blink["openness_ratio"]),
                drift_horizontal=tuple(float(v) for v in blink["drift_horizontal"]),
                drift_vertical=tuple(float(v) for v in blink["drift_vertical"]),
                drift_cross_horizontal=float(blink["drift_cross_horizontal"]),
                drift_cross_vertical=float(blink["drift_cross_vertical"]),
                closed_openness=float(blink["closed_openness"]),
                open_openness=float(blink["open_openness"]),
                dead_zone_horizontal=float(obj["dead_zone"]["horizontal"]),
                dead_zone_vertical=float(obj["dead_zone"]["vertical"]),
                metadata=dict(obj.get("metadata", {})),
            )
        except GazeModelError as error:
            raise GazeModelError(f"{source}: {error}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise GazeModelError(
                f"{source}: malformed gaze model ({type(error).__name__}: {error})"
            ) from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> GazeModel:
        """Read a model written by :meth:`save`.

        Raises
        ------
        GazeModelError
            One line naming the file and the problem (missing, not JSON, wrong format or version, bad values).
        """
        path = Path(path)
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise GazeModelError(f"{path}: no such gaze model file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise GazeModelError(f"{path}: not a readable JSON file ({error})") from None
        return cls.from_json(obj, source=str(path))

    @classmethod
    def ict(cls) -> GazeModel:
        """The packaged model calibrated on the ICT-FaceKit rig (``studio/resources/gaze/ict_gaze.json``)."""
        return cls.load(ICT_GAZE_PATH)
