"""Contact sheets of retarget targets: ICT's face and the target side by side, posed alike (offscreen GL).

Each sheet is a row per pose: on the left ICT's average face posed with ICT controls, on the right the target
driven by the same controls retargeted (:meth:`studio.core.retarget.targets.RetargetTarget.retarget`); for a game rig
the poses are its own controls at full weight with, on the left, the ICT controls of their definition.
Written by ``python main.py targets --screenshots DIR`` (the pictures in ``docs/targets/``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from studio.core.retarget.targets import RetargetTarget, load_target
from studio.core.rig.rig import Rig
from studio.render.face_scene import Camera
from studio.render.offscreen import OffscreenRenderer, save_png

__all__ = ["SHEET_POSES", "target_sheet", "write_target_sheets"]

#: ICT poses shown for targets with ICT's controls: (label, controls).
SHEET_POSES: tuple[tuple[str, dict[str, float]], ...] = (
    ("neutral", {}),
    ("jaw open", {"jawOpen": 0.6}),
    ("lips sealed, jaw open", {"jawOpen": 0.5, "mouthClose": 0.5}),
    ("smile", {"mouthSmile_L": 0.6, "mouthSmile_R": 0.6, "cheekSquint_L": 0.3, "cheekSquint_R": 0.3}),
    ("brows up", {"browInnerUp_L": 0.5, "browInnerUp_R": 0.5, "browOuterUp_L": 0.5, "browOuterUp_R": 0.5}),
    ("blink", {"eyeBlink_L": 1.0, "eyeBlink_R": 1.0}),
    ("pucker", {"mouthPucker": 0.7, "mouthFunnel": 0.3}),
)


def _label(image: np.ndarray, text: str) -> np.ndarray:
    image = np.ascontiguousarray(image)
    cv2.putText(image, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def target_sheet(target: RetargetTarget, ict: Rig, size: int = 256) -> np.ndarray:
    """The sheet of one target: rows of (ICT posed, target posed), labelled.

    Parameters
    ----------
    target : RetargetTarget
        The target.
    ict : Rig
        ICT's rig (the performer side).
    size : int
        Pixels per picture (square).

    Returns
    -------
    np.ndarray
        Shape ``(H, 2·size, 3)``, uint8 RGB; two pictures per row, poses in rows of up to 4 pairs wide.
    """
    names = ict.expression_names
    poses: list[tuple[str, np.ndarray, np.ndarray]] = []
    if target.has_own_controls:
        for g, name in enumerate(("neutral", *target.control_names)):
            controls = np.zeros(len(target.control_names), np.float32)
            if g:
                controls[g - 1] = 1.0
            poses.append((name, target.ict_controls(controls), controls))
    else:
        for label, values in SHEET_POSES:
            source = np.zeros(len(names), np.float32)
            for name, value in values.items():
                source[names.index(name)] = value
            poses.append((label, source, target.retarget(source)))
    camera = Camera(azimuth_deg=20.0, distance_cm=60.0)
    pairs = []
    with OffscreenRenderer(ict, size=(size, size), camera=camera) as left, OffscreenRenderer(
        target.rig, size=(size, size), camera=camera
    ) as right:
        for label, source, controls in poses:
            pairs.append(np.concatenate([
                _label(left.render(ict.evaluate(source)), f"ICT: {label}"),
                _label(right.render(target.rig.evaluate(controls)), f"{target.name}: {label}"),
            ], axis=1))  # fmt: skip
    columns = 4 if len(pairs) > 8 else 2
    while len(pairs) % columns:
        pairs.append(np.broadcast_to(pairs[0][:1, :1], pairs[0].shape).copy())  # the background colour
    rows = [np.concatenate(pairs[i : i + columns], axis=1) for i in range(0, len(pairs), columns)]
    return np.concatenate(rows, axis=0)


def write_target_sheets(folder: str | os.PathLike, names: Sequence[str], size: int = 256) -> list[Path]:
    """Render :func:`target_sheet` of each named target to ``<folder>/<name>.png``; returns the paths."""
    ict = Rig.ict()
    folder = Path(folder)
    return [save_png(folder / f"{name}.png", target_sheet(load_target(name, ict), ict, size)) for name in names]
