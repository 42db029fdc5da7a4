"""Retargeting a take's curves: tracked ICT controls → a target's controls, and the curves' checks.

A tracked take's curves (:class:`studio.core.io.curves.TakeCurves`, one column per ICT control) drive a target
(:mod:`studio.core.retarget.targets`) by parallel parameterization: :func:`retarget_curves` maps every frame with a
face through :meth:`RetargetTarget.retarget` and keeps frames without a face empty. Curves files are read
by column name (:func:`read_source_curves`): a missing or unknown control column is an error naming line 1
and the column, never a silent zero.

Shapes: ``T`` frames, ``K`` ICT controls, ``G`` target controls.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from studio.core.geometry.rotations import euler_to_matrix, matrix_to_quaternion
from studio.core.io import gltf, livelink
from studio.core.io.arkit import ARKIT_BLENDSHAPE_NAMES
from studio.core.io.curves import TakeCurves, TakeFileError, fill_missing_frames, write_curves_json
from studio.core.io.exports import EXPORT_FORMATS
from studio.core.io.media import timecode_seconds
from studio.core.retarget.targets import RetargetTarget
from studio.core.rig.definition import RigDefinition
from studio.core.rig.rig import Rig

__all__ = [
    "arkit_curves",
    "export_take",
    "import_livelink",
    "read_source_curves",
    "retarget_curves",
    "select_columns",
]


def select_columns(curves: TakeCurves, control_names: tuple[str, ...], path: str | os.PathLike) -> TakeCurves:
    """The curves with exactly ``control_names``, in that order (read by name, never by position).

    Parameters
    ----------
    curves : TakeCurves
        As read from ``path``.
    control_names : tuple of str
        The controls the curves must carry, length ``K``.
    path : str or os.PathLike
        The file the curves came from, for messages.

    Raises
    ------
    TakeFileError
        ``"<path>: line 1, column <name>: ..."`` for an unknown column, or naming the missing ones.
    """
    unknown = [name for name in curves.control_names if name not in control_names]
    if unknown:
        raise TakeFileError(
            f"{path}: line 1, column {unknown[0]}: not a control of the tracked rig "
            f"({len(unknown)} unknown column(s): {', '.join(unknown[:5])}{' …' if len(unknown) > 5 else ''})"
        )
    missing = [name for name in control_names if name not in curves.control_names]
    if missing:
        raise TakeFileError(
            f"{path}: line 1: missing control column(s) {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}"
        )
    order = [curves.control_names.index(name) for name in control_names]
    return curves.with_values(tuple(control_names), curves.values[:, order])


def read_source_curves(path: str | os.PathLike, definition: RigDefinition | None = None) -> TakeCurves:
    """Read a tracked take's curves (ICT controls) with every check a retarget or export needs.

    Parameters
    ----------
    path : str or os.PathLike
        A curves CSV written by ``python main.py track`` or the studio (layout in :mod:`studio.core.io.curves`).
    definition : RigDefinition, optional
        The tracked rig's definition (ICT's by default): its controls must be exactly the file's columns.

    Returns
    -------
    TakeCurves
        Columns in the definition's control order, values in [0, 1].

    Raises
    ------
    TakeFileError
        One line naming the file, the line and the column: unknown or missing columns, NaN, time that
        does not increase, rows of the wrong length, values outside [0, 1].
    """
    definition = definition if definition is not None else RigDefinition.ict()
    curves = select_columns(TakeCurves.read_csv(path), definition.control_names, path)
    values = curves.values
    bad = np.argwhere(curves.face_found[:, None] & ((values < -1e-6) | (values > 1.0 + 1e-6)))
    if len(bad):
        frame, column = (int(i) for i in bad[0])
        raise TakeFileError(
            f"{path}: line {frame + 2}, column {definition.control_names[column]}: "
            f"{values[frame, column]:g} is outside [0, 1]"
        )
    if curves.num_frames == 0:
        raise TakeFileError(f"{Path(path)}: no frames")
    return curves


def retarget_curves(curves: TakeCurves, target: RetargetTarget) -> TakeCurves:
    """The take's curves on a target: its controls per frame, frames without a face left empty.

    Parameters
    ----------
    curves : TakeCurves
        ICT controls per frame, shape ``(T, K)`` (:func:`read_source_curves`).
    target : RetargetTarget
        Where the take goes.

    Returns
    -------
    TakeCurves
        The target's controls, shape ``(T, G)``, same times and face flags.
    """
    if curves.control_names != target.source_definition.control_names:
        raise ValueError(f"curves must carry {target.source_definition.name}'s controls in its order")
    values = target.retarget(curves.values)
    return curves.with_values(target.control_names, values)


def arkit_curves(curves: TakeCurves, target: RetargetTarget | None = None) -> np.ndarray:
    """ARKit weights per frame of a tracked take, shape ``(T, 52)``, NaN rows where no face."""
    if target is None:
        return RigDefinition.ict().arkit_vector(curves.values)
    return target.arkit(target.retarget(curves.values))


def export_take(
    curves: TakeCurves,
    fmt: str,
    out: str | os.PathLike,
    target: RetargetTarget | None = None,
    rig: Rig | None = None,
    start_timecode: str | None = None,
) -> Path:
    """Write a tracked take (ICT controls) in an exchange format, optionally retargeted first.

    ``csv`` and ``json`` carry the target's own controls (frames without a face stay empty / ``null``) and
    the head pose; ``livelink`` carries ARKit weights (a game rig's controls through their ICT shapes), with
    eye angles from the gaze shapes and the head's yaw, pitch and roll in radians (0 when the take has no
    head pose), ``glb`` the target's mesh with one morph target per control under an animated ``head`` node,
    and ``usd`` the same as a UsdSkel blend-shape animation with the head joint animated
    (:mod:`studio.core.io.usd`). Live Link, glTF and USD have no notion of a missing frame: frames
    without a face are interpolated between their neighbours (:func:`~studio.core.io.fill_missing_frames`).

    Parameters
    ----------
    curves : TakeCurves
        ICT controls per frame, ``(T, K)`` (:func:`read_source_curves`).
    fmt : str
        One of :data:`EXPORT_FORMATS`.
    out : str or os.PathLike
        Output file, written atomically.
    target : RetargetTarget, optional
        Retarget to it first; the performer's side (ICT's rig and controls) when omitted.
    rig : Rig, optional
        The ICT rig for ``glb`` without a target (loaded through the asset manager when omitted).
    start_timecode : str, optional
        SMPTE timecode of the first frame (the take's ``start_timecode``): Live Link's ``Timecode`` column
        counts from it at the take's real rate, and the JSON, glb and USD state it (``start_timecode``,
        the asset's ``extras.startTimecode``, the layer's ``customLayerData.startTimecode``). Frames then
        count from midnight (``00:00:00:00``).

    Returns
    -------
    Path
        The file written.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown format {fmt!r} (expected one of {', '.join(EXPORT_FORMATS)})")
    definition = target.source_definition if target is not None else RigDefinition.ict()
    if not curves.face_found.any():
        raise ValueError("no frame of the take has a face: nothing to export")
    fps = curves.fps or 30.0
    start_s = 0.0 if not start_timecode else timecode_seconds(start_timecode, fps)
    if fmt in ("csv", "json"):
        result = retarget_curves(curves, target) if target is not None else curves
        if fmt == "csv":
            return result.write_csv(out)
        name = target.name if target is not None else definition.name
        return write_curves_json(out, result, target=name, fps=fps, start_timecode=start_timecode)
    head = curves.filled_head_pose() if curves.head_pose is not None else None
    if fmt == "livelink":
        arkit = fill_missing_frames(curves.time_s, arkit_curves(curves, target), curves.face_found)
        return livelink.write_livelink_csv(out, curves.time_s - curves.time_s[0], arkit, fps=fps,
                                          head=None if head is None else np.deg2rad(head[:, :3]),
                                          eyes=livelink.eye_angles_from_arkit(arkit),
                                          start_timecode_s=start_s)  # fmt: skip
    head_motion = {} if head is None else {"head_rotation": head_quaternions(head),
                                           "head_translation_cm": head[:, 3:]}  # fmt: skip
    head_motion["start_timecode"] = start_timecode
    if target is not None:
        mesh, names, values = target.rig, target.control_names, retarget_curves(curves, target).values
    else:
        mesh = rig if rig is not None else Rig.ict()
        names, values = definition.control_names, curves.values
    weights = fill_missing_frames(curves.time_s, values, curves.face_found)
    if fmt == "usd":
        from studio.core.io.usd import write_blendshape_usd

        return write_blendshape_usd(out, mesh.neutral, mesh.triangles, mesh.expression_deltas, names,
                                    curves.time_s - curves.time_s[0], weights, mesh_name=mesh.name, **head_motion)
    return gltf.write_morph_glb(
        out, neutral=mesh.neutral, triangles=mesh.triangles, deltas=mesh.expression_deltas, target_names=names,
        time_s=curves.time_s - curves.time_s[0], weights=weights, mesh_name=mesh.name, **head_motion,
    )  # fmt: skip


def head_quaternions(head_pose: np.ndarray) -> np.ndarray:
    """Unit quaternions ``(x, y, z, w)`` ``(T, 4)`` of a head pose's yaw, pitch and roll (``(T, 6)``, degrees)."""
    return matrix_to_quaternion(np.stack([euler_to_matrix(angles) for angles in np.asarray(head_pose)[:, :3]]))


def import_livelink(path: str | os.PathLike, fps: float | None = None) -> TakeCurves:
    """A Live Link Face CSV as a take on ICT's controls (split shapes such as ``browInnerUp`` drive both sides).

    Parameters
    ----------
    path : str or os.PathLike
        The CSV (:func:`~studio.core.io.livelink.read_livelink_csv` checks it).
    fps : float, optional
        The take's frame rate; inferred from the timecodes' frame numbers when omitted.

    Returns
    -------
    TakeCurves
        ICT controls per frame, ``(T, 53)``, every frame with a face.
    """
    return livelink_take_curves(livelink.read_livelink_csv(path, fps))


def livelink_take_curves(take: livelink.LiveLinkTake) -> TakeCurves:
    """A Live Link Face take on ICT's controls, ``(T, 53)`` (see :func:`import_livelink`)."""
    definition = RigDefinition.ict()
    values = definition.from_arkit(dict(zip(ARKIT_BLENDSHAPE_NAMES, take.arkit.T, strict=True)))
    head_pose = None  # a file with all-zero head columns (or none) has no head pose
    if np.any(take.head):
        head_pose = np.concatenate([np.rad2deg(take.head), np.zeros((take.num_frames, 3))], axis=1)
    return TakeCurves(definition.control_names, take.time_s, np.ones(take.num_frames, bool),
                      np.clip(values, 0.0, 1.0).astype(np.float32),
                      None if head_pose is None else head_pose.astype(np.float32))  # fmt: skip
