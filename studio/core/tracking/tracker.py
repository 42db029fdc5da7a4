"""The tracker T(I; θ_T) after geometry reconstruction (paper 001, Sec. 3–4).

Per frame, from MediaPipe's 478 landmarks:

1. **Head-pose removal.** The landmarks (pixels, y down) are made right-handed and aligned by a robust
   similarity transform onto a reference in rig space, using only the *stable* landmarks — those whose
   embedded rig points move less than ``stable_threshold_mm`` under every expression control — so that
   expressions do not tilt the head.
2. **Displacement from the performer's neutral.** The performer's neutral (the aligned landmarks averaged
   over a burst of resting frames) is subtracted, so the performer's identity never turns into expression:
   the displacement is laid onto the rig's neutral, ``v̂ = S·neutral + (v − v_neutral)``.
3. **Rig inversion.** ``c = argmin_{0 ≤ c ≤ 1} ||W (S·R(c; θ_T) − v̂)||² + λ ||c||²``, solved exactly by
   :class:`~studio.core.geometry.bounded_least_squares.BoundedLeastSquares` in one batch. ``W`` weighs MediaPipe's
   depth coordinate by ``depth_weight`` (its monocular depth is the noisiest axis); ``λ`` is a small ridge
   that picks the smallest controls among near-equivalent combinations (the L/R split shapes make the
   rig ill-conditioned). Seven unbounded unknowns of a small similarity transform are solved with the
   controls (:func:`rigid_correction_basis`) so that what the alignment left of the head pose is not
   explained by expressions.

The tracker sees the rig only at the landmark embedding, so its rig is ``(478·3) × K``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from studio.core.errors import StudioError
from studio.core.geometry.alignment import (
    SimilarityTransform,
    mediapipe_to_right_handed,
    robust_similarity_transform,
)
from studio.core.geometry.bounded_least_squares import BoundedLeastSquares
from studio.core.rig.rig import Rig
from studio.core.tracking.gaze import GazeModel
from studio.core.tracking.landmark_embedding import LandmarkEmbedding, stable_landmarks

#: Default ridge λ on the controls, in cm² (a control of 1 costs as much as 0.1 mm of residual over 100 points).
DEFAULT_RIDGE = 1e-4
#: Default weight of MediaPipe's depth coordinate relative to x and y.
DEFAULT_DEPTH_WEIGHT = 0.5
#: Landmarks moving less than this (mm) under every expression control anchor the head-pose alignment
#: (3 mm keeps about 100 of the 478; the closed-loop benchmark tracked best between 3 and 4 mm).
DEFAULT_STABLE_THRESHOLD_MM = 3.0
#: ... and only those whose embedding is well defined (spread across the embedding's views, mm).
MAX_ANCHOR_SPREAD_MM = 3.0
#: Number of rigid-correction unknowns solved with the controls: translation (3), scale (1), rotation (3).
NUM_RIGID = 7


class TrackingError(StudioError):
    """Tracking cannot proceed (no face in the neutral range, no face at all); one-line message."""


@dataclass(frozen=True)
class TrackedFrames:
    """Controls and fit quality for a batch of frames.

    Attributes
    ----------
    controls : np.ndarray
        Shape ``(B, K)``, float32 in [0, 1]; NaN rows for frames without a face.
    residual_mm : np.ndarray
        Mean landmark distance between the solved rig and the target after the solve, shape ``(B,)``, mm.
    aligned : np.ndarray
        Landmarks after head-pose removal, rig space, shape ``(B, N, 3)``, cm.
    pose_corrected : np.ndarray
        ``aligned`` less the small rigid motion solved with the controls, shape ``(B, N, 3)``, cm: the
        performer's landmarks with head pose removed as well as the solve could (what calibration fits).
    """

    controls: np.ndarray
    residual_mm: np.ndarray
    aligned: np.ndarray
    pose_corrected: np.ndarray


@dataclass(frozen=True, eq=False)
class PerformerNeutral:
    """The performer's neutral face, as one tracker solves against it (:meth:`Tracker.performer_neutral`).

    An explicit value handed to :meth:`Tracker.align`, :meth:`Tracker.solve` and :meth:`Tracker.track`, never
    state of the tracker: one tracker serves any number of performers, takes and threads at once.

    Attributes
    ----------
    points : np.ndarray
        The neutral landmarks, rig space ``(N, 3)``, cm (aligned onto the rig's neutral on the stable
        landmarks). Frames are aligned onto them, and their displacements from them are the expression.
    basis : np.ndarray
        The unknowns' landmark offsets, ``(K + 7, N, 3)``, cm per unit: the tracker's controls, then the
        rigid correction about ``points`` (:func:`rigid_correction_basis`).
    solver : BoundedLeastSquares
        The rig inversion for ``basis`` (:func:`rig_inversion_solver`).
    landmark_basis : np.ndarray
        The tracker's own controls' offsets it was built for (the same array, not a copy): a neutral of one
        tracker is refused by another (θ_A's neutral cannot solve with θ_S).
    """

    points: np.ndarray
    basis: np.ndarray
    solver: BoundedLeastSquares
    landmark_basis: np.ndarray


class Tracker:
    """Rig inversion of MediaPipe landmarks with the tracker's rig parameters θ_T.

    Parameters
    ----------
    rig : Rig
        The tracking rig, with θ_T already applied (:meth:`Rig.with_parameters`).
    embedding : LandmarkEmbedding
        Where each of the 478 landmarks sits on the rig's surface.
    ridge : float
        ``λ`` in cm² (see module docstring).
    depth_weight : float
        Weight of the depth coordinate in the fit.
    stable_threshold_mm : float
        Motion bound of the landmarks used for head-pose alignment.
    gaze : GazeModel, optional
        Reads the ``eyeLook`` controls from the iris landmarks (the blendshapes of a rig like ICT's do not
        move the eyeballs, so the solve cannot see gaze); without it they come from the solve.
    device : str or torch.device
        Where the solver runs.
    """

    def __init__(
        self,
        rig: Rig,
        embedding: LandmarkEmbedding,
        ridge: float = DEFAULT_RIDGE,
        depth_weight: float = DEFAULT_DEPTH_WEIGHT,
        stable_threshold_mm: float = DEFAULT_STABLE_THRESHOLD_MM,
        gaze: GazeModel | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.rig = rig
        self.gaze = gaze
        self._gaze_columns = (
            [] if gaze is None else [(rig.control_index(name), name) for name in gaze.gaze_control_names]
        )
        self.embedding = embedding
        neutral_points, delta_points = rig.tensors().surface_basis(embedding.points)
        self.rig_points = neutral_points.numpy().astype(np.float64)  # (N, 3) cm
        self._delta_points = delta_points.numpy().astype(np.float64)  # (K, N, 3) cm
        self.coordinate_weights = np.array([1.0, 1.0, depth_weight])
        self.ridge = float(ridge)
        self.device = torch.device(device)
        stable = stable_landmarks(embedding, rig, stable_threshold_mm)
        self.stable = stable[np.asarray(embedding.spread_mm)[stable] < MAX_ANCHOR_SPREAD_MM]
        self.anchor_weights = np.zeros(len(embedding.spread_mm))
        self.anchor_weights[self.stable] = 1.0
        if len(self.stable) < 6:
            raise TrackingError(
                f"the rig moves almost every landmark: only {len(self.stable)} stay within {stable_threshold_mm} mm "
                "under all its expressions, and finding the head's pose needs 6"
            )

    @property
    def control_names(self) -> tuple[str, ...]:
        """The rig's control names, length ``K``."""
        return self.rig.expression_names

    @property
    def landmark_basis(self) -> np.ndarray:
        """The tracker's rig θ_T at the landmark embedding: offsets per control ``(K, N, 3)``, float64, cm."""
        return self._delta_points

    def with_landmark_basis(self, landmark_basis: np.ndarray) -> Tracker:
        """The same tracker (anchors, gaze, settings) inverting another rig at the landmarks:
        ``landmark_basis`` ``(K, N, 3)``, cm, e.g. a fine-tuned θ_T (:mod:`studio.core.calibration.finetune`).
        Build the performer neutral for it with its own :meth:`performer_neutral`.
        """
        basis = np.asarray(landmark_basis, np.float64)
        if basis.shape != self._delta_points.shape or not np.isfinite(basis).all():
            raise TrackingError(f"landmark basis must be finite with shape {self._delta_points.shape}")
        other = copy.copy(self)
        other._delta_points = basis
        return other

    # -- performer neutral ------------------------------------------------------------------------------

    def performer_neutral(self, aligned_neutral: np.ndarray) -> PerformerNeutral:
        """The performer's neutral face as this tracker solves against it.

        Parameters
        ----------
        aligned_neutral : np.ndarray
            Rig space ``(N, 3)``, cm, aligned with :meth:`align` onto the rig's neutral (no neutral given),
            e.g. a neutral capture's averaged landmarks; the rig's own :attr:`rig_points` for captures that
            are already laid onto the rig's neutral.

        Returns
        -------
        PerformerNeutral
            Pass it to :meth:`align`, :meth:`solve` and :meth:`track`.

        Raises
        ------
        TrackingError
            Not finite, or not ``(N, 3)``.
        """
        points = np.asarray(aligned_neutral, np.float64)
        if points.shape != self.rig_points.shape or not np.isfinite(points).all():
            raise TrackingError("performer neutral must be finite landmarks of shape (478, 3)")
        basis = np.concatenate([self._delta_points, rigid_correction_basis(points)])  # (K+7, N, 3)
        solver = rig_inversion_solver(
            basis, self.coordinate_weights, self.rig.num_controls, self.ridge, device=self.device
        )
        return PerformerNeutral(points, basis, solver, self._delta_points)

    # -- head pose ----------------------------------------------------------------------------------------

    def align(self, landmarks_px: np.ndarray, neutral: PerformerNeutral | None = None) -> np.ndarray:
        """Remove head pose: landmarks ``(B, N, 3)`` in MediaPipe pixels → rig space ``(B, N, 3)``, cm.

        The similarity is fitted on the stable landmarks onto the performer's ``neutral`` when given, else
        onto the rig's neutral landmark points (how a neutral itself is aligned). Frames without a face (NaN)
        stay NaN.
        """
        return self.align_with_transform(landmarks_px, neutral)[0]

    def align_with_transform(
        self, landmarks_px: np.ndarray, neutral: PerformerNeutral | None = None
    ) -> tuple[np.ndarray, SimilarityTransform]:
        """:meth:`align`, with the alignments themselves: right-handed MediaPipe pixels → rig space cm, ``B``
        of them (the head's pose in the camera is their inverse: :mod:`studio.core.tracking.head_pose`)."""
        landmarks = mediapipe_to_right_handed(np.asarray(landmarks_px, np.float64))
        reference = self.rig_points if neutral is None else neutral.points
        transform = robust_similarity_transform(landmarks, reference, weights=self.anchor_weights)
        return np.asarray(transform.apply(landmarks), np.float64), transform

    # -- solve ------------------------------------------------------------------------------------------

    def solve(self, aligned: np.ndarray, neutral: PerformerNeutral, gaze: bool = True) -> TrackedFrames:
        """Controls for head-pose-free landmarks ``(B, N, 3)`` (rig space, cm), as displacements from the
        performer's ``neutral`` (from :meth:`performer_neutral` of this tracker); NaN frames give NaN rows.
        ``gaze=False`` leaves the ``eyeLook`` controls as the solve found them (:meth:`read_gaze` sets them)."""
        if neutral.landmark_basis is not self._delta_points:
            raise TrackingError("this performer neutral belongs to another tracker's rig: build it with its own")
        aligned = np.asarray(aligned, np.float64)
        displacement = aligned - neutral.points  # (B, N, 3) cm
        found = np.isfinite(displacement).all(axis=(1, 2))
        controls = np.full((len(aligned), self.rig.num_controls), np.nan, np.float32)
        residual_mm = np.full(len(aligned), np.nan)
        pose_corrected = aligned.copy()
        if found.any():
            targets = (displacement[found] * self.coordinate_weights).reshape(int(found.sum()), -1)
            solution = neutral.solver.solve(torch.as_tensor(targets, device=self.device))
            x = solution.x.cpu().numpy()
            num_controls = self.rig.num_controls
            controls[found] = x[:, :num_controls].astype(np.float32)
            pose_corrected[found] -= np.einsum("br,rnx->bnx", x[:, num_controls:], neutral.basis[num_controls:])
            fitted = np.einsum("bk,knx->bnx", x, neutral.basis)
            residual_mm[found] = 10.0 * np.linalg.norm(fitted - displacement[found], axis=2).mean(axis=1)
            if gaze:
                self.read_gaze(controls, aligned, neutral, found)
        return TrackedFrames(controls, residual_mm, aligned, pose_corrected)

    def read_gaze(self, controls: np.ndarray, aligned: np.ndarray, neutral: PerformerNeutral,
                  found: np.ndarray | None = None) -> None:
        """Set the ``eyeLook`` columns of ``controls`` ``(B, K)`` in place from the iris landmarks of ``aligned``
        ``(B, N, 3)`` (rows ``found``, default all); a no-op without a gaze model."""
        if self.gaze is None:
            return
        rows = np.arange(len(aligned)) if found is None else found
        gaze = self.gaze.controls(aligned[rows], neutral.points)
        for index, name in self._gaze_columns:
            controls[rows, index] = gaze[name]

    def track(self, landmarks_px: np.ndarray, neutral: PerformerNeutral) -> TrackedFrames:
        """Head-pose removal onto ``neutral`` and solve, for landmarks ``(B, N, 3)`` in MediaPipe pixels."""
        return self.solve(self.align(landmarks_px, neutral), neutral)


def rig_inversion_solver(
    basis: np.ndarray,
    coordinate_weights: np.ndarray,
    num_controls: int,
    ridge: float,
    columns: np.ndarray | None = None,
    device: str | torch.device = "cpu",
) -> BoundedLeastSquares:
    """The bounded solver of the tracker's rig inversion (module docstring, step 3).

    Parameters
    ----------
    basis : np.ndarray
        The unknowns' landmark offsets, shape ``(K + R, N, 3)``, cm per unit: the ``K`` controls (bounded to
        [0, 1], ridge ``λ``) followed by ``R`` unbounded ones (the rigid correction, no ridge).
    coordinate_weights : np.ndarray
        Weights of x, y, z, shape ``(3,)``; the targets must be weighted the same way.
    num_controls : int
        ``K``.
    ridge : float
        ``λ``, cm².
    columns : np.ndarray, optional
        Indices of the unknowns the solve may use, ascending (a restricted tracker ``T_D``, paper 001
        Sec. 9.1); the solution's ``x`` then has one entry per column. By default all ``K + R``.
    device : str or torch.device
        Where the solver runs.

    Returns
    -------
    BoundedLeastSquares
        Design ``(N·3, len(columns))`` float64.
    """
    total = basis.shape[0]
    columns = np.arange(total) if columns is None else np.asarray(columns, int)
    design = (np.asarray(basis, np.float64)[columns] * coordinate_weights).reshape(len(columns), -1).T
    bounded = columns < num_controls
    lower = torch.as_tensor(np.where(bounded, 0.0, -np.inf))
    upper = torch.as_tensor(np.where(bounded, 1.0, np.inf))
    ridges = torch.as_tensor(np.where(bounded, float(ridge), 0.0))
    return BoundedLeastSquares(
        torch.as_tensor(np.ascontiguousarray(design), device=device), lower.to(device), upper.to(device),
        ridge=ridges.to(device),
    )


def rigid_correction_basis(points: np.ndarray) -> np.ndarray:
    """Displacements of a small similarity transform about the points' centroid, per unknown.

    Solved together with the controls (unbounded), these absorb what the anchor-based alignment left of
    the head pose: anchors still move a little (both brows together lift the upper forehead about 2 mm),
    which biases a pose fitted on them alone (a noise-free brow raise of 0.7 came back as 0.49).

    Parameters
    ----------
    points : np.ndarray
        Shape ``(N, 3)``, cm.

    Returns
    -------
    np.ndarray
        Shape ``(7, N, 3)``: translation along x, y, z (cm per unit), scale (per unit of relative scale),
        rotation about x, y, z (per radian), to first order.
    """
    centred = points - points.mean(axis=0)
    basis = np.zeros((NUM_RIGID,) + points.shape)
    basis[0:3] = np.eye(3)[:, None, :]
    basis[3] = centred
    for axis in range(3):
        basis[4 + axis] = np.cross(np.eye(3)[axis], centred)
    return basis
