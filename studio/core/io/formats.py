"""Exchange formats for takes: Live Link Face CSV, a versioned curves JSON and glTF 2.0 morph animation.

Every writer computes its whole output first and then writes it atomically through
:mod:`studio.core.io.atomic_files` (a temporary file renamed over the target), so a failure -- bad input
included -- never leaves a half-written file and leaves an existing file untouched. Readers raise
:class:`~studio.core.io.curves.TakeFileError` (a ``ValueError``) with one line naming the file and, where there is
one, the line and column: ``<path>: line <n>, column <name>: <what is wrong>``. Writers raise ``ValueError``
for bad arguments (wrong shapes, NaN, non-increasing times).

Shapes: ``T`` frames, ``K`` controls or morph targets, ``V`` vertices, ``F`` triangles. The rig is in
centimetres; glTF is in metres.

Live Link Face CSV
------------------
What Epic's Live Link Face app records and Unreal's importer reads. One header line, then one row per frame,
comma separated, no quoting, 63 columns::

    Timecode,BlendshapeCount,EyeBlinkLeft,EyeLookDownLeft,...,TongueOut,HeadYaw,HeadPitch,HeadRoll,
        LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll
    00:00:00:00.000,61,0.084396,0,...

* ``Timecode`` is ``hh:mm:ss:ff.fff``: wall-clock hours, minutes and seconds, then ``ff.fff``, the frame
  number within the second with a fractional part (``17:35:44:09.640`` is 9.64 frames after 17:35:44).
  The file does not state the frame rate: like Unreal, :func:`read_livelink_csv` infers 60 fps when any
  frame number exceeds 30 and 30 fps otherwise (or takes the rate it is given). A ``;`` before the frame
  number (drop-frame notation) is read as ``:``.
* ``BlendshapeCount`` is 61 on every row (52 shapes + 9 angles). Real captures spell the header
  ``BlendshapeCount``; some tools write ``BlendShapeCount``: header names are read case-insensitively.
* The 52 ARKit shapes, PascalCase (the ARKit name with its first letter upper-cased: ``EyeBlinkLeft``), in
  :data:`~studio.core.io.arkit.ARKIT_BLENDSHAPE_NAMES` order **except** that ``JawRight`` comes before
  ``JawLeft`` and ``MouthRight`` before ``MouthLeft`` (:data:`LIVELINK_SHAPE_COLUMNS`). Values in [0, 1].
* ``HeadYaw, HeadPitch, HeadRoll`` and ``LeftEyeYaw, LeftEyePitch, LeftEyeRoll, RightEyeYaw, RightEyePitch,
  RightEyeRoll``: angles normalised to [-1, 1].

Columns are always read and written by header name, never by position. :func:`write_livelink_csv` writes
exactly :data:`LIVELINK_HEADER`; values are printed with at most 6 decimals, trailing zeros dropped (``0.5``,
``0``, ``0.084396``). :func:`read_livelink_csv` requires ``Timecode``, ``BlendshapeCount`` and the 52 shapes
(in any order; ``eyeBlinkLeft`` spelling accepted too), takes the 9 angle columns when present (zeros when
absent) and rejects unknown columns. Shape values are clipped to [0, 1] on reading; angles are kept as read.
Times are seconds from the first row and must strictly increase (a take crossing midnight is rejected).

Eye angles: the studio derives them from the ARKit gaze shapes (:func:`eye_angles_from_arkit`); yaw is
positive toward the performer's left for both eyes, pitch positive upward, roll always 0.

Take curves JSON
----------------
A rig-agnostic, versioned JSON of one take's control curves (:class:`~studio.core.io.curves.TakeCurves`)::

    {
      "format": "simon-says-take-curves",
      "version": 1,
      "target": "ict_facekit",          // what the control names refer to (a rig, "arkit"), or null
      "fps": 30.0,                       // the take's frame rate, or null
      "control_names": ["jawOpen", ...], // K names, unique
      "time_s": [0.0, 0.033333, ...],    // T times, seconds, strictly increasing
      "face_found": [true, false, ...],  // T booleans
      "curves": {"jawOpen": [0.12, null, ...], ...}  // per control, T values in [0, 1]; null where no face
    }

Values are float32 written with the shortest decimal that reads back to the same float32.

glTF 2.0 morph animation (``.glb``)
-----------------------------------
:func:`write_morph_glb` writes a binary glTF with one buffer, one mesh named ``mesh_name`` with one
triangle primitive (``POSITION``: float32 VEC3 with min/max; indices: uint32 SCALAR) whose ``targets`` are
the ``K`` blendshapes as ``POSITION`` displacement accessors (float32 VEC3 with min/max), ``mesh.weights``
all zero and ``mesh.extras.targetNames`` the ``K`` names (the convention Blender, three.js and trimesh
read). One node (mesh 0, named ``mesh_name``) in one scene. One animation ``"take"`` with one LINEAR
sampler -- input: the ``T`` frame times in seconds (float32 SCALAR with min/max), output: the ``T × K``
weights, all ``K`` of frame 0, then all ``K`` of frame 1, ... -- and one channel targeting node 0, path
``"weights"``. Positions and displacements are converted from the rig's centimetres to glTF's metres
(× 0.01). No normals are written (viewers compute them).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pygltflib

from studio.core.io.arkit import ARKIT_BLENDSHAPE_NAMES
from studio.core.io.atomic_files import write_atomic, write_text_atomic
from studio.core.io.curves import TakeCurves, TakeFileError, parse_float_cell

__all__ = [
    "CURVES_JSON_FORMAT",
    "CURVES_JSON_VERSIONS",
    "LIVELINK_BLENDSHAPE_COUNT",
    "LIVELINK_EYE_COLUMNS",
    "LIVELINK_HEAD_COLUMNS",
    "LIVELINK_HEADER",
    "LIVELINK_SHAPE_COLUMNS",
    "LiveLinkTake",
    "eye_angles_from_arkit",
    "fill_missing_frames",
    "read_curves_json",
    "read_livelink_csv",
    "read_morph_glb_summary",
    "write_curves_json",
    "write_livelink_csv",
    "write_morph_glb",
]

# ----------------------------------------------------------------------------------------------------------
# Live Link Face CSV
# ----------------------------------------------------------------------------------------------------------

_LIVELINK_SWAPS = {
    "jawLeft": "jawRight",
    "jawRight": "jawLeft",
    "mouthLeft": "mouthRight",
    "mouthRight": "mouthLeft",
}
_LIVELINK_ORDER: tuple[int, ...] = tuple(
    ARKIT_BLENDSHAPE_NAMES.index(_LIVELINK_SWAPS.get(name, name)) for name in ARKIT_BLENDSHAPE_NAMES
)
"""For each shape column of the file, its index in ARKIT_BLENDSHAPE_NAMES."""

LIVELINK_SHAPE_COLUMNS: tuple[str, ...] = tuple(
    ARKIT_BLENDSHAPE_NAMES[i][0].upper() + ARKIT_BLENDSHAPE_NAMES[i][1:] for i in _LIVELINK_ORDER
)
"""The 52 shape columns of a Live Link Face CSV in file order (``JawRight`` before ``JawLeft``, ``MouthRight``
before ``MouthLeft``)."""

LIVELINK_HEAD_COLUMNS: tuple[str, ...] = ("HeadYaw", "HeadPitch", "HeadRoll")
"""Head rotation columns, values in [-1, 1]."""

LIVELINK_EYE_COLUMNS: tuple[str, ...] = (
    "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)  # fmt: skip
"""Eye rotation columns, values in [-1, 1]."""

LIVELINK_BLENDSHAPE_COUNT = 61
"""The ``BlendshapeCount`` written on every row: 52 shapes + 3 head + 6 eye angles."""

LIVELINK_HEADER: tuple[str, ...] = (
    "Timecode",
    "BlendshapeCount",
    *LIVELINK_SHAPE_COLUMNS,
    *LIVELINK_HEAD_COLUMNS,
    *LIVELINK_EYE_COLUMNS,
)
"""The 63 columns :func:`write_livelink_csv` writes, in order."""

_SHAPE_INDEX_BY_LOWER = {name.lower(): i for i, name in enumerate(ARKIT_BLENDSHAPE_NAMES)}
_HEAD_INDEX_BY_LOWER = {name.lower(): i for i, name in enumerate(LIVELINK_HEAD_COLUMNS)}
_EYE_INDEX_BY_LOWER = {name.lower(): i for i, name in enumerate(LIVELINK_EYE_COLUMNS)}
_TIMECODE = re.compile(r"(\d{1,2}):(\d{2}):(\d{2})[:;](\d{1,3}(?:\.\d*)?)")
_SECONDS_PER_DAY = 24 * 3600
_MAX_LIVELINK_FPS = 100.0  # two digits of frame number


@dataclass(frozen=True, eq=False)
class LiveLinkTake:
    """A take read from a Live Link Face CSV.

    Attributes
    ----------
    time_s : np.ndarray
        Frame times, shape ``(T,)``, float64, seconds from the first row, strictly increasing.
    arkit : np.ndarray
        Shape values, shape ``(T, 52)``, float32 in [0, 1], in ``ARKIT_BLENDSHAPE_NAMES`` order.
    head : np.ndarray
        ``HeadYaw, HeadPitch, HeadRoll``, shape ``(T, 3)``, float32, normalised to [-1, 1] (zeros when the
        file has no head columns).
    eyes : np.ndarray
        ``LeftEyeYaw, LeftEyePitch, LeftEyeRoll, RightEyeYaw, RightEyePitch, RightEyeRoll``, shape
        ``(T, 6)``, float32, normalised to [-1, 1] (zeros for absent columns).
    fps : float
        Frame rate used to turn frame numbers into seconds (frames per second).
    timecodes : tuple of str
        The ``T`` timecodes as written in the file.
    """

    time_s: np.ndarray
    arkit: np.ndarray
    head: np.ndarray
    eyes: np.ndarray
    fps: float
    timecodes: tuple[str, ...]

    @property
    def num_frames(self) -> int:
        """``T``, the number of frames."""
        return int(self.time_s.shape[0])

    @property
    def start_timecode_s(self) -> float:
        """Time of day of the first frame, seconds since midnight (its timecode at :attr:`fps`)."""
        match = _TIMECODE.fullmatch(self.timecodes[0])
        assert match is not None  # checked on reading
        return _timecode_seconds(match, self.fps)


def write_livelink_csv(
    path: str | os.PathLike,
    time_s: np.ndarray,
    arkit: np.ndarray,
    *,
    fps: float,
    head: np.ndarray | None = None,
    eyes: np.ndarray | None = None,
    start_timecode_s: float = 0.0,
) -> Path:
    """Write a take as a Live Link Face CSV (format in the module docstring), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.csv`` to write.
    time_s : np.ndarray
        Frame times, shape ``(T,)``, seconds, finite, non-negative, strictly increasing.
    arkit : np.ndarray
        ARKit shape values, shape ``(T, 52)``, in ``ARKIT_BLENDSHAPE_NAMES`` order; clipped to [0, 1]. No NaN:
        fill frames without a face first (:func:`fill_missing_frames`).
    fps : float
        Frame rate of the timecodes' frame numbers, frames per second, in (0, 100].
    head : np.ndarray, optional
        ``HeadYaw, HeadPitch, HeadRoll``, shape ``(T, 3)``, clipped to [-1, 1]; zeros when omitted.
    eyes : np.ndarray, optional
        ``LeftEyeYaw, LeftEyePitch, LeftEyeRoll, RightEyeYaw, RightEyePitch, RightEyeRoll``, shape
        ``(T, 6)``, clipped to [-1, 1]; zeros when omitted (see :func:`eye_angles_from_arkit`).
    start_timecode_s : float
        Time of day of ``time_s = 0``, seconds since midnight; the timecode of a frame is that of
        ``start_timecode_s + time_s`` and must stay before 24:00:00.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        Wrong shapes, NaN or infinite values, times not strictly increasing, ``fps`` outside (0, 100].
    """
    if not (math.isfinite(fps) and 0 < fps <= _MAX_LIVELINK_FPS):
        raise ValueError(f"live link csv: fps must be in (0, {_MAX_LIVELINK_FPS:g}], got {fps}")
    times = _check_times("time_s", time_s)
    num_frames = times.shape[0]
    if num_frames == 0:
        raise ValueError("live link csv: a take needs at least one frame")
    shapes = _check_finite("arkit", arkit, (num_frames, len(ARKIT_BLENDSHAPE_NAMES)))
    angles_head = np.zeros((num_frames, 3)) if head is None else _check_finite("head", head, (num_frames, 3))
    angles_eyes = np.zeros((num_frames, 6)) if eyes is None else _check_finite("eyes", eyes, (num_frames, 6))
    if not (math.isfinite(start_timecode_s) and start_timecode_s >= 0):
        raise ValueError(f"live link csv: start_timecode_s must be finite and >= 0, got {start_timecode_s}")
    if times[0] < 0:
        raise ValueError(f"live link csv: time_s must be >= 0, got {times[0]}")
    timecodes = [_format_timecode(start_timecode_s + t, fps) for t in times]
    for frame in range(1, num_frames):
        if not timecodes[frame] > timecodes[frame - 1]:  # fixed-width: text order is time order
            raise ValueError(
                f"live link csv: frames {frame - 1} and {frame} get the same timecode {timecodes[frame]} "
                f"at {fps:g} fps (times closer than the timecode's 1/1000 frame)"
            )
    table = np.concatenate(
        [
            np.clip(shapes, 0.0, 1.0)[:, _LIVELINK_ORDER],
            np.clip(angles_head, -1.0, 1.0),
            np.clip(angles_eyes, -1.0, 1.0),
        ],
        axis=1,
    )
    lines = [",".join(LIVELINK_HEADER)]
    count = str(LIVELINK_BLENDSHAPE_COUNT)
    for timecode, row in zip(timecodes, table.tolist(), strict=True):
        lines.append(",".join((timecode, count, *(_format_value(v) for v in row))))
    return write_text_atomic(Path(path), "\n".join(lines) + "\n")


def eye_angles_from_arkit(arkit: np.ndarray) -> np.ndarray:
    """Live Link eye angles from the ARKit gaze shapes.

    Yaw is positive toward the performer's left for both eyes: ``LeftEyeYaw = eyeLookOutLeft −
    eyeLookInLeft`` (the left eye looks outward to the performer's left) and ``RightEyeYaw = eyeLookInRight −
    eyeLookOutRight`` (the right eye looks inward to the performer's left). Pitch is positive upward:
    ``eyeLookUp − eyeLookDown`` per eye. Roll is always 0 (ARKit has no eye-roll shape).

    Parameters
    ----------
    arkit : np.ndarray
        ARKit shape values, shape ``(T, 52)``, in ``ARKIT_BLENDSHAPE_NAMES`` order, in [0, 1].

    Returns
    -------
    np.ndarray
        ``LeftEyeYaw, LeftEyePitch, LeftEyeRoll, RightEyeYaw, RightEyePitch, RightEyeRoll``, shape ``(T, 6)``,
        float32, in [-1, 1] (NaN rows stay NaN).
    """
    values = np.asarray(arkit, dtype=np.float32)
    if values.ndim != 2 or values.shape[1] != len(ARKIT_BLENDSHAPE_NAMES):
        raise ValueError(f"arkit must have shape (T, {len(ARKIT_BLENDSHAPE_NAMES)}), got {values.shape}")

    def shape(name: str) -> np.ndarray:
        return values[:, ARKIT_BLENDSHAPE_NAMES.index(name)]

    angles = np.zeros((values.shape[0], 6), np.float32)
    angles[:, 0] = shape("eyeLookOutLeft") - shape("eyeLookInLeft")
    angles[:, 1] = shape("eyeLookUpLeft") - shape("eyeLookDownLeft")
    angles[:, 3] = shape("eyeLookInRight") - shape("eyeLookOutRight")
    angles[:, 4] = shape("eyeLookUpRight") - shape("eyeLookDownRight")
    angles[np.isnan(values).any(axis=1)] = np.nan
    return angles


def read_livelink_csv(path: str | os.PathLike, fps: float | None = None) -> LiveLinkTake:
    """Read a Live Link Face CSV (format in the module docstring) by header name.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.csv`` to read.
    fps : float, optional
        Frame rate of the timecodes' frame numbers, frames per second. When omitted it is inferred like
        Unreal: 60 when any frame number exceeds 30, else 30.

    Returns
    -------
    LiveLinkTake
        The take; shape values clipped to [0, 1], times relative to the first row.

    Raises
    ------
    TakeFileError
        One line naming the file, the line and the column: missing, repeated or unknown columns, a row with
        the wrong number of cells, a cell that is not a finite number, a ``BlendshapeCount`` that is not an
        integer, a malformed timecode, times that do not increase, no frames.
    """
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"live link csv: fps must be > 0, got {fps}")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise TakeFileError(f"{path}: cannot read ({error})") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or not any(cell.strip() for cell in header):
        raise TakeFileError(f"{path}: line 1: empty file, expected a Live Link Face CSV header")
    names = [cell.strip() for cell in header]
    timecode_col, count_col, shape_cols, head_cols, eye_cols = _livelink_columns(path, names)

    timecodes: list[str] = []
    matches: list[tuple[int, re.Match[str]]] = []
    table: list[list[float]] = []
    value_cols = [
        *shape_cols,
        *(c for c in head_cols if c is not None),
        *(c for c in eye_cols if c is not None),
    ]
    for row in reader:
        line = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if len(row) != len(names):
            missing = f", column {names[len(row)]} missing" if len(row) < len(names) else ""
            raise TakeFileError(f"{path}: line {line}: {len(row)} columns, header has {len(names)}{missing}")
        timecode = row[timecode_col].strip()
        match = _TIMECODE.fullmatch(timecode)
        if match is None or int(match[2]) >= 60 or int(match[3]) >= 60:
            raise TakeFileError(
                f"{path}: line {line}, column {names[timecode_col]}: expected a timecode hh:mm:ss:ff.fff, "
                f"got {timecode!r}"
            )
        count = row[count_col].strip()
        if not re.fullmatch(r"[+]?\d+", count):
            raise TakeFileError(
                f"{path}: line {line}, column {names[count_col]}: expected an integer "
                f"({LIVELINK_BLENDSHAPE_COUNT}), got {count!r}"
            )
        table.append([parse_float_cell(path, line, names[col], row[col]) for col in value_cols])
        timecodes.append(timecode)
        matches.append((line, match))
    if not matches:
        raise TakeFileError(f"{path}: no frames (the file has a header but no rows)")

    if fps is None:
        fps = 60.0 if any(float(match[4]) > 30 for _, match in matches) else 30.0
    times = np.array([_timecode_seconds(match, fps) for _, match in matches], np.float64)
    for frame in range(1, len(times)):
        if not times[frame] > times[frame - 1]:
            line = matches[frame][0]
            raise TakeFileError(
                f"{path}: line {line}, column {names[timecode_col]}: time does not increase "
                f"({timecodes[frame]} after {timecodes[frame - 1]} at {fps:g} fps)"
            )

    values = np.asarray(table, np.float64).reshape(len(times), len(value_cols))
    num_shapes = len(shape_cols)
    arkit = np.clip(values[:, :num_shapes], 0.0, 1.0).astype(np.float32)
    head = np.zeros((len(times), 3), np.float32)
    eyes = np.zeros((len(times), 6), np.float32)
    position = num_shapes
    for target, cols in ((head, head_cols), (eyes, eye_cols)):
        for index, col in enumerate(cols):
            if col is not None:
                target[:, index] = values[:, position]
                position += 1
    return LiveLinkTake(
        time_s=times - times[0],
        arkit=arkit,
        head=head,
        eyes=eyes,
        fps=float(fps),
        timecodes=tuple(timecodes),
    )


def _livelink_columns(
    path: Path, names: list[str]
) -> tuple[int, int, list[int], list[int | None], list[int | None]]:
    """Header positions of Timecode, BlendshapeCount, the 52 shapes (ARKit order), head and eye angles."""
    seen: dict[str, int] = {}
    for col, name in enumerate(names):
        if name.lower() in seen:
            raise TakeFileError(f"{path}: line 1: column {name} appears twice")
        seen[name.lower()] = col
    known = {
        "timecode",
        "blendshapecount",
        *_SHAPE_INDEX_BY_LOWER,
        *_HEAD_INDEX_BY_LOWER,
        *_EYE_INDEX_BY_LOWER,
    }
    required = {"timecode": "Timecode", "blendshapecount": "BlendshapeCount"}
    required.update((name.lower(), name) for name in LIVELINK_SHAPE_COLUMNS)
    missing = [spelled for lower, spelled in required.items() if lower not in seen]
    if missing:
        raise TakeFileError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    unknown = [name for name in names if name.lower() not in known]
    if unknown:
        raise TakeFileError(f"{path}: line 1: unknown column(s) {', '.join(repr(n) for n in unknown)}")
    shape_cols = [seen[name.lower()] for name in ARKIT_BLENDSHAPE_NAMES]
    head_cols = [seen.get(name.lower()) for name in LIVELINK_HEAD_COLUMNS]
    eye_cols = [seen.get(name.lower()) for name in LIVELINK_EYE_COLUMNS]
    return seen["timecode"], seen["blendshapecount"], shape_cols, head_cols, eye_cols


def _format_timecode(total_s: float, fps: float) -> str:
    """``hh:mm:ss:ff.fff`` of a time of day in seconds (ff.fff: the frame number within the second)."""
    whole = math.floor(total_s)
    frame = round((total_s - whole) * fps, 3)
    if frame >= fps:  # rounding reached the next second
        whole, frame = whole + 1, 0.0
    if whole >= _SECONDS_PER_DAY:
        raise ValueError(
            f"live link csv: timecode of {total_s:.3f} s is past 23:59:59 (start_timecode_s + time_s)"
        )
    hours, rest = divmod(whole, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}:{frame:06.3f}"


def _timecode_seconds(match: re.Match[str], fps: float) -> float:
    return int(match[1]) * 3600 + int(match[2]) * 60 + int(match[3]) + float(match[4]) / fps


def _format_value(value: float) -> str:
    """At most 6 decimals, trailing zeros dropped: ``0.5``, ``0``, ``-0.25``."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# ----------------------------------------------------------------------------------------------------------
# Take curves JSON
# ----------------------------------------------------------------------------------------------------------

CURVES_JSON_FORMAT = "simon-says-take-curves"
"""The value of a curves JSON's ``format`` field."""

CURVES_JSON_VERSIONS: tuple[int, ...] = (1,)
"""Versions of the curves JSON this module reads; it writes the last."""

_CURVES_JSON_KEYS = ("format", "version", "target", "fps", "control_names", "time_s", "face_found", "curves")


def write_curves_json(
    path: str | os.PathLike,
    curves: TakeCurves,
    *,
    target: str | None = None,
    fps: float | None = None,
) -> Path:
    """Write a take's control curves as the versioned JSON of the module docstring, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.json`` to write.
    curves : TakeCurves
        ``T`` frames of ``K`` controls; rows of frames without a face are written as ``null``.
    target : str, optional
        What the control names refer to (a rig name such as ``ict_facekit``, or ``arkit``).
    fps : float, optional
        The take's frame rate, frames per second; when omitted, the mean rate of the timestamps
        (``null`` for fewer than two frames).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        Times not finite and strictly increasing, or a frame with a face holding NaN or infinite values.
    """
    times = _check_times("time_s", curves.time_s)
    found = np.asarray(curves.face_found, bool)
    values = np.asarray(curves.values, np.float32)
    bad = found & ~np.isfinite(values).all(axis=1)
    if bad.any():
        frame = int(np.flatnonzero(bad)[0])
        raise ValueError(f"take curves: frame {frame} has a face but NaN or infinite values")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"take curves: fps must be > 0, got {fps}")
    if fps is None and curves.num_frames >= 2:
        fps = curves.fps
    columns = {  # str() of a float32 is the shortest decimal that reads back to the same float32
        name: [float(str(v)) if ok else None for v, ok in zip(values[:, k], found, strict=True)]
        for k, name in enumerate(curves.control_names)
    }
    document: dict[str, Any] = {
        "format": CURVES_JSON_FORMAT,
        "version": CURVES_JSON_VERSIONS[-1],
        "target": target,
        "fps": None if fps is None else float(fps),
        "control_names": list(curves.control_names),
        "time_s": times.tolist(),
        "face_found": found.tolist(),
        "curves": columns,
    }
    return write_text_atomic(Path(path), json.dumps(document, indent=1, allow_nan=False) + "\n")


def read_curves_json(path: str | os.PathLike) -> TakeCurves:
    """Read a curves JSON written by :func:`write_curves_json`.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.json`` to read.

    Returns
    -------
    TakeCurves
        The curves; NaN rows for frames without a face.

    Raises
    ------
    TakeFileError
        One line naming the file and the field: not JSON, another format or version, missing fields, wrong
        types or lengths, times not increasing, ``null`` in a frame with a face.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise TakeFileError(f"{path}: cannot read ({error})") from None
    except json.JSONDecodeError as error:
        raise TakeFileError(
            f"{path}: line {error.lineno}, column {error.colno}: not valid JSON ({error.msg})"
        ) from None
    if not isinstance(document, dict) or document.get("format") != CURVES_JSON_FORMAT:
        raise TakeFileError(f"{path}: not a take-curves file (format must be {CURVES_JSON_FORMAT!r})")
    if document.get("version") not in CURVES_JSON_VERSIONS:
        raise TakeFileError(
            f"{path}: unsupported version {document.get('version')!r} (this studio reads "
            f"{', '.join(map(str, CURVES_JSON_VERSIONS))})"
        )
    missing = [key for key in _CURVES_JSON_KEYS if key not in document]
    if missing:
        raise TakeFileError(f"{path}: missing field(s) {', '.join(missing)}")
    names = document["control_names"]
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise TakeFileError(f"{path}: control_names must be a list of non-empty strings")
    if len(set(names)) != len(names):
        raise TakeFileError(f"{path}: control_names repeats a name")
    time_list = _json_numbers(path, "time_s", document["time_s"], allow_null=False)
    num_frames = len(time_list)
    times = np.asarray(time_list, np.float64)
    for frame in range(1, num_frames):
        if not times[frame] > times[frame - 1]:
            raise TakeFileError(f"{path}: time_s[{frame}]: time does not increase ({times[frame]})")
    found_list = document["face_found"]
    if not isinstance(found_list, list) or not all(isinstance(f, bool) for f in found_list):
        raise TakeFileError(f"{path}: face_found must be a list of true/false")
    if len(found_list) != num_frames:
        raise TakeFileError(f"{path}: face_found has {len(found_list)} values, time_s has {num_frames}")
    curves = document["curves"]
    if not isinstance(curves, dict) or set(curves) != set(names):
        got = sorted(curves) if isinstance(curves, dict) else type(curves).__name__
        raise TakeFileError(f"{path}: curves must map exactly the control_names to value lists, got {got}")
    values = np.full((num_frames, len(names)), np.nan, np.float32)
    for k, name in enumerate(names):
        column = _json_numbers(path, f"curves.{name}", curves[name], allow_null=True)
        if len(column) != num_frames:
            raise TakeFileError(f"{path}: curves.{name} has {len(column)} values, time_s has {num_frames}")
        for frame, (value, has_face) in enumerate(zip(column, found_list, strict=True)):
            if has_face and value is None:
                raise TakeFileError(f"{path}: curves.{name}[{frame}]: null in a frame with a face")
            if not has_face and value is not None:
                raise TakeFileError(
                    f"{path}: curves.{name}[{frame}]: a value in a frame without a face (expected null)"
                )
            if value is not None:
                values[frame, k] = value
    return TakeCurves(tuple(names), times, np.asarray(found_list, bool).reshape(num_frames), values)


def _json_numbers(path: Path, field: str, items: object, *, allow_null: bool) -> list[float | None]:
    if not isinstance(items, list):
        raise TakeFileError(f"{path}: {field} must be a list of numbers")
    for index, item in enumerate(items):
        if item is None and allow_null:
            continue
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise TakeFileError(f"{path}: {field}[{index}]: expected a finite number, got {item!r}")
    return items


# ----------------------------------------------------------------------------------------------------------
# glTF 2.0 morph animation
# ----------------------------------------------------------------------------------------------------------

_CM_TO_M = 0.01
_GLTF_COMPONENTS = {
    pygltflib.FLOAT: np.float32,
    pygltflib.UNSIGNED_INT: np.uint32,
    pygltflib.UNSIGNED_SHORT: np.uint16,
    pygltflib.UNSIGNED_BYTE: np.uint8,
}
_GLTF_WIDTHS = {pygltflib.SCALAR: 1, pygltflib.VEC2: 2, pygltflib.VEC3: 3, pygltflib.VEC4: 4}


def write_morph_glb(
    path: str | os.PathLike,
    *,
    neutral: np.ndarray,
    triangles: np.ndarray,
    deltas: np.ndarray,
    target_names: Sequence[str],
    time_s: np.ndarray,
    weights: np.ndarray,
    mesh_name: str = "face",
) -> Path:
    """Write a mesh with morph targets and their animation as a binary glTF 2.0 (``.glb``), atomically.

    Layout in the module docstring; positions are converted from centimetres to metres.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.glb`` to write.
    neutral : np.ndarray
        Neutral vertex positions, shape ``(V, 3)``, centimetres.
    triangles : np.ndarray
        Vertex ids, shape ``(F, 3)``, integers in ``[0, V)``, ``F >= 1``.
    deltas : np.ndarray
        Morph-target displacements, shape ``(K, V, 3)``, centimetres, ``K >= 1``.
    target_names : sequence of str
        The ``K`` target names (``mesh.extras.targetNames``).
    time_s : np.ndarray
        Keyframe times, shape ``(T,)``, seconds, finite, ``time_s[0] >= 0``, strictly increasing, ``T >= 1``.
    weights : np.ndarray
        Target weights per keyframe, shape ``(T, K)``, finite.
    mesh_name : str
        Name of the mesh and of its node.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        Wrong shapes, NaN or infinite values, vertex ids out of range, times negative or not increasing.
    """
    positions = _check_finite("neutral", neutral, (None, 3)).astype(np.float32)
    num_vertices = positions.shape[0]
    if num_vertices == 0:
        raise ValueError("morph glb: neutral has no vertices")
    faces = np.asarray(triangles)
    if (
        faces.ndim != 2
        or faces.shape[1] != 3
        or faces.shape[0] == 0
        or not np.issubdtype(faces.dtype, np.integer)
    ):
        raise ValueError(
            f"morph glb: triangles must be (F, 3) integers with F >= 1, got {faces.shape} {faces.dtype}"
        )
    if faces.min() < 0 or faces.max() >= num_vertices:
        raise ValueError(f"morph glb: triangles must hold vertex ids in [0, {num_vertices})")
    names = [str(name) for name in target_names]
    num_targets = len(names)
    if num_targets == 0:
        raise ValueError("morph glb: at least one morph target is needed")
    displacements = _check_finite("deltas", deltas, (num_targets, num_vertices, 3)).astype(np.float32)
    times = _check_times("time_s", time_s)
    if times.shape[0] == 0:
        raise ValueError("morph glb: time_s needs at least one keyframe")
    if times[0] < 0:
        raise ValueError(f"morph glb: time_s must be >= 0 (glTF), got {times[0]}")
    times32 = times.astype(np.float32)
    if not (np.diff(times32) > 0).all():
        raise ValueError("morph glb: time_s is not strictly increasing once rounded to float32")
    frame_weights = _check_finite("weights", weights, (times.shape[0], num_targets)).astype(np.float32)

    blob = bytearray()
    buffer_views: list[pygltflib.BufferView] = []
    accessors: list[pygltflib.Accessor] = []

    def add(data: np.ndarray, kind: str, component: int, target: int | None, with_bounds: bool = True) -> int:
        data = np.ascontiguousarray(data)
        buffer_views.append(
            pygltflib.BufferView(buffer=0, byteOffset=len(blob), byteLength=data.nbytes, target=target)
        )
        blob.extend(data.tobytes())
        blob.extend(b"\0" * (-len(blob) % 4))
        rows = data.reshape(data.shape[0], -1)
        accessors.append(
            pygltflib.Accessor(
                bufferView=len(buffer_views) - 1,
                componentType=component,
                count=int(data.shape[0]),
                type=kind,
                min=rows.min(axis=0).tolist() if with_bounds else None,
                max=rows.max(axis=0).tolist() if with_bounds else None,
            )
        )
        return len(accessors) - 1

    position_accessor = add(
        positions * np.float32(_CM_TO_M), pygltflib.VEC3, pygltflib.FLOAT, pygltflib.ARRAY_BUFFER
    )
    index_accessor = add(
        faces.astype(np.uint32).reshape(-1),
        pygltflib.SCALAR,
        pygltflib.UNSIGNED_INT,
        pygltflib.ELEMENT_ARRAY_BUFFER,
        with_bounds=False,
    )
    target_accessors = [
        add(delta * np.float32(_CM_TO_M), pygltflib.VEC3, pygltflib.FLOAT, pygltflib.ARRAY_BUFFER)
        for delta in displacements
    ]
    time_accessor = add(times32, pygltflib.SCALAR, pygltflib.FLOAT, None)
    weight_accessor = add(
        frame_weights.reshape(-1), pygltflib.SCALAR, pygltflib.FLOAT, None, with_bounds=False
    )

    primitive = pygltflib.Primitive(
        attributes=pygltflib.Attributes(POSITION=position_accessor),
        indices=index_accessor,
        mode=pygltflib.TRIANGLES,
        targets=[{"POSITION": accessor} for accessor in target_accessors],
    )
    gltf = pygltflib.GLTF2(
        asset=pygltflib.Asset(version="2.0", generator="Simon Says Studio"),
        scene=0,
        scenes=[pygltflib.Scene(nodes=[0])],
        nodes=[pygltflib.Node(mesh=0, name=mesh_name)],
        meshes=[
            pygltflib.Mesh(
                name=mesh_name,
                primitives=[primitive],
                weights=[0.0] * num_targets,
                extras={"targetNames": names},
            )
        ],
        animations=[
            pygltflib.Animation(
                name="take",
                samplers=[
                    pygltflib.AnimationSampler(
                        input=time_accessor, output=weight_accessor, interpolation="LINEAR"
                    )
                ],
                channels=[
                    pygltflib.AnimationChannel(
                        sampler=0, target=pygltflib.AnimationChannelTarget(node=0, path="weights")
                    )
                ],
            )
        ],
        accessors=accessors,
        bufferViews=buffer_views,
        buffers=[pygltflib.Buffer(byteLength=len(blob))],
    )
    gltf.set_binary_blob(bytes(blob))
    data = b"".join(gltf.save_to_bytes())
    return write_atomic(Path(path), lambda handle: handle.write(data))


def read_morph_glb_summary(path: str | os.PathLike) -> dict[str, Any]:
    """Summarise a morph-animation ``.glb`` (first mesh, first primitive, first animation).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.glb`` to read.

    Returns
    -------
    dict
        ``mesh_name`` (str), ``num_vertices`` (``V``), ``num_triangles`` (``F``), ``num_targets`` (``K``),
        ``target_names`` (tuple of ``K`` str, from ``mesh.extras.targetNames``; empty when absent),
        ``times`` (keyframe times, shape ``(T,)``, float64, seconds), ``weights`` (shape ``(T, K)``,
        float32) and ``duration_s`` (last keyframe time, 0 without animation). A file without a
        ``weights`` animation gives ``T = 0``.

    Raises
    ------
    TakeFileError
        One line naming the file: not a glb, no mesh, an accessor that does not fit its buffer.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise TakeFileError(f"{path}: cannot read ({error})") from None
    if data[:4] != b"glTF":
        raise TakeFileError(f"{path}: not a binary glTF (.glb) file")
    try:
        gltf = pygltflib.GLTF2.load_from_bytes(data)
    except (ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError) as error:
        raise TakeFileError(f"{path}: cannot parse the glb ({error})") from None
    if gltf is None or not gltf.meshes or not gltf.meshes[0].primitives:
        raise TakeFileError(f"{path}: the glb holds no mesh")
    try:
        return _summarise_glb(path, gltf)
    except (IndexError, KeyError, TypeError, AttributeError) as error:
        raise TakeFileError(f"{path}: inconsistent glb ({type(error).__name__}: {error})") from None


def _summarise_glb(path: Path, gltf: pygltflib.GLTF2) -> dict[str, Any]:
    mesh = gltf.meshes[0]
    primitive = mesh.primitives[0]
    blob = gltf.binary_blob() or b""
    num_vertices = (
        gltf.accessors[primitive.attributes.POSITION].count
        if primitive.attributes.POSITION is not None
        else 0
    )
    num_triangles = (
        gltf.accessors[primitive.indices].count // 3 if primitive.indices is not None else num_vertices // 3
    )
    num_targets = len(primitive.targets or [])
    extras = mesh.extras if isinstance(mesh.extras, dict) else {}
    target_names = tuple(str(name) for name in extras.get("targetNames", ()))
    times = np.zeros(0, np.float64)
    weights = np.zeros((0, num_targets), np.float32)
    for animation in gltf.animations or []:
        for channel in animation.channels:
            if channel.target.path != "weights":
                continue
            sampler = animation.samplers[channel.sampler]
            times = _read_accessor(path, gltf, blob, sampler.input).reshape(-1).astype(np.float64)
            flat = _read_accessor(path, gltf, blob, sampler.output).reshape(-1).astype(np.float32)
            if num_targets == 0 or flat.size != times.size * num_targets:
                raise TakeFileError(
                    f"{path}: animation output has {flat.size} values, expected {times.size} times × {num_targets}"
                )
            weights = flat.reshape(times.size, num_targets)
            break
        if times.size:
            break
    return {
        "mesh_name": mesh.name or "",
        "num_vertices": int(num_vertices),
        "num_triangles": int(num_triangles),
        "num_targets": num_targets,
        "target_names": target_names,
        "times": times,
        "weights": weights,
        "duration_s": float(times[-1]) if times.size else 0.0,
    }


def _read_accessor(path: Path, gltf: pygltflib.GLTF2, blob: bytes, index: int) -> np.ndarray:
    """An accessor's data from the glb's binary chunk, shape ``(count, width)``."""
    accessor = gltf.accessors[index]
    dtype = _GLTF_COMPONENTS.get(accessor.componentType)
    width = _GLTF_WIDTHS.get(accessor.type)
    if dtype is None or width is None or accessor.bufferView is None:
        raise TakeFileError(
            f"{path}: accessor {index}: unsupported layout ({accessor.componentType}, {accessor.type})"
        )
    view = gltf.bufferViews[accessor.bufferView]
    item = np.dtype(dtype).itemsize * width
    stride = view.byteStride or item
    start = (view.byteOffset or 0) + (accessor.byteOffset or 0)
    end = start + stride * (accessor.count - 1) + item if accessor.count else start
    if end > len(blob) or end > (view.byteOffset or 0) + view.byteLength:
        raise TakeFileError(f"{path}: accessor {index} runs past its buffer")
    rows = np.lib.stride_tricks.as_strided(
        np.frombuffer(blob, np.uint8, count=end - start, offset=start)
        if accessor.count
        else np.zeros(0, np.uint8),
        shape=(accessor.count, item),
        strides=(stride, 1),
    )
    return np.ascontiguousarray(rows).view(dtype).reshape(accessor.count, width)


# ----------------------------------------------------------------------------------------------------------
# Gaps
# ----------------------------------------------------------------------------------------------------------


def fill_missing_frames(time_s: np.ndarray, values: np.ndarray, face_found: np.ndarray) -> np.ndarray:
    """Fill frames without a face by linear interpolation in time between the nearest frames with one.

    Frames before the first (after the last) frame with a face hold its values.

    Parameters
    ----------
    time_s : np.ndarray
        Frame times, shape ``(T,)``, seconds, strictly increasing.
    values : np.ndarray
        Control values, shape ``(T, K)``; rows of frames without a face are ignored (usually NaN).
    face_found : np.ndarray
        Whether each frame had a face, shape ``(T,)``, bool.

    Returns
    -------
    np.ndarray
        Values with every row filled, shape ``(T, K)``, float (float32 for float32 input).

    Raises
    ------
    ValueError
        Wrong shapes, times not increasing, NaN in a frame with a face, or no frame with a face.
    """
    times = _check_times("time_s", time_s)
    table = np.asarray(values)
    found = np.asarray(face_found, bool)
    if table.ndim != 2 or table.shape[0] != times.shape[0] or found.shape != times.shape:
        raise ValueError(
            f"fill_missing_frames: values {table.shape} and face_found {found.shape} must be "
            f"({times.shape[0]}, K) and ({times.shape[0]},)"
        )
    if not found.any():
        raise ValueError("no frame of the take has a face")
    dtype = np.result_type(table.dtype, np.float32)
    known = table[found].astype(np.float64)
    if not np.isfinite(known).all():
        raise ValueError("fill_missing_frames: a frame with a face holds NaN or infinite values")
    filled = table.astype(dtype, copy=True)
    missing = ~found
    if missing.any():
        for k in range(table.shape[1]):
            filled[missing, k] = np.interp(times[missing], times[found], known[:, k])
    return filled


# ----------------------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------------------


def _check_times(name: str, time_s: np.ndarray) -> np.ndarray:
    times = np.asarray(time_s, np.float64)
    if times.ndim != 1:
        raise ValueError(f"{name} must have shape (T,), got {times.shape}")
    if not np.isfinite(times).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if times.shape[0] > 1 and not (np.diff(times) > 0).all():
        frame = int(np.flatnonzero(np.diff(times) <= 0)[0]) + 1
        raise ValueError(
            f"{name} must strictly increase; frame {frame} ({times[frame]}) is not after the previous"
        )
    return times


def _check_finite(name: str, array: np.ndarray, shape: tuple[int | None, ...]) -> np.ndarray:
    values = np.asarray(array, np.float64)
    if values.ndim != len(shape) or any(
        s is not None and s != v for s, v in zip(shape, values.shape, strict=True)
    ):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values (fill frames without a face first)")
    return values
