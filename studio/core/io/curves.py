"""A take's animation curves: control values per frame, as CSV and as a versioned JSON.

CSV layout (one header line, one row per video frame)::

    frame,time_s,face_found[,head_yaw_deg,...,head_z_cm],<control 1>,...,<control K>
    0,0.000000,1,0.012300,...
    1,0.033333,0,,,...          <- no face: the controls are empty, never zero

``frame`` counts from 0, ``time_s`` is seconds from the start of the take, ``face_found`` is 1 or 0, control
values are in [0, 1]. A take tracked with head pose (since issue 20) has the six :data:`HEAD_POSE_COLUMNS`
after ``face_found``: the head's yaw, pitch and roll in degrees (the rig's convention,
:func:`studio.core.geometry.rotations.euler_to_matrix`: yaw about +y, pitch about +x, roll about +z, the
head posed as ``R x + t``) and its translation in centimetres (x towards the performer's left, y up, z
towards the camera) from where it rested during the take's neutral frames. Takes without them (older ones,
imported curves) still read: their head pose is ``None``.

Take curves JSON: a rig-agnostic, versioned JSON of one take's control curves::

    {
      "format": "simon-says-take-curves",
      "version": 1,
      "target": "ict_facekit",          // what the control names refer to (a rig, "arkit"), or null
      "fps": 30.0,                       // the take's frame rate, or null
      "control_names": ["jawOpen", ...], // K names, unique
      "time_s": [0.0, 0.033333, ...],    // T times, seconds, strictly increasing
      "face_found": [true, false, ...],  // T booleans
      "curves": {"jawOpen": [0.12, null, ...], ...}, // per control, T values in [0, 1]; null where no face
      "start_timecode": "17:35:44:09",   // version 2: SMPTE timecode of the first frame, or null
      "head_pose": {"head_yaw_deg": [1.5, null, ...], ...} // version 2: per HEAD_POSE_COLUMNS, or null
    }

Values are float32 written with the shortest decimal that reads back to the same float32.

Files are written atomically (temporary file, then rename). Readers raise :class:`TakeFileError` with one
line naming the file and, where there is one, the line and column: ``<path>: line <n>, column <name>: <what
is wrong>``. :func:`fill_missing_frames` fills the frames without a face for formats that cannot hold a gap
(Live Link, glTF), and :func:`checked_times`/:func:`checked_finite` are the writers' argument checks.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import numpy as np

from studio.core.errors import StudioError
from studio.core.io.atomic_files import write_atomic, write_text_atomic

FIXED_COLUMNS = ("frame", "time_s", "face_found")
#: The head-pose columns of a take: rotation (degrees) and translation (centimetres), see the module docstring.
HEAD_POSE_COLUMNS = ("head_yaw_deg", "head_pitch_deg", "head_roll_deg", "head_x_cm", "head_y_cm", "head_z_cm")
#: The longest pause between two frames of a take, seconds; a longer one is a broken file, not a take (and
#: would stall a real-time stream for as long).
MAX_GAP_S = 60.0


class TakeFileError(StudioError):
    """A curves file is unreadable or malformed; the message names the line and column."""


@dataclass(frozen=True)
class TakeCurves:
    """Control curves of one take.

    Attributes
    ----------
    control_names : tuple of str
        Names of the ``K`` controls (the rig's control names).
    time_s : np.ndarray
        Frame times, shape ``(T,)``, float64, seconds, strictly increasing.
    face_found : np.ndarray
        Whether the frame had a face, shape ``(T,)``, bool.
    values : np.ndarray
        Control values, shape ``(T, K)``, float32 in [0, 1]; NaN rows where no face was found.
    head_pose : np.ndarray or None
        Head yaw, pitch, roll (degrees) and translation x, y, z (cm) per frame, shape ``(T, 6)``, float32, in
        :data:`HEAD_POSE_COLUMNS` order, NaN rows where ``values`` has none; None when the take has no head pose.
    """

    control_names: tuple[str, ...]
    time_s: np.ndarray
    face_found: np.ndarray
    values: np.ndarray
    head_pose: np.ndarray | None = None

    def __post_init__(self) -> None:
        num_frames, num_controls = len(self.time_s), len(self.control_names)
        if self.values.shape != (num_frames, num_controls) or self.face_found.shape != (num_frames,):
            raise ValueError(
                f"take curves: values {self.values.shape} and face_found {self.face_found.shape} must be "
                f"({num_frames}, {num_controls}) and ({num_frames},)"
            )
        if self.head_pose is not None and self.head_pose.shape != (num_frames, len(HEAD_POSE_COLUMNS)):
            raise ValueError(f"take curves: head_pose {self.head_pose.shape} must be ({num_frames}, 6)")

    def with_values(self, control_names: tuple[str, ...], values: np.ndarray) -> TakeCurves:
        """The same take (times, faces, head pose) with other controls: ``values`` ``(T, K')``."""
        return TakeCurves(tuple(control_names), self.time_s, self.face_found, values, self.head_pose)

    def filled_head_pose(self) -> np.ndarray:
        """The head pose with frames without one interpolated between their neighbours (for formats without
        gaps), shape ``(T, 6)``, float64; zeros when the take has no head pose."""
        if self.head_pose is None:
            return np.zeros((self.num_frames, len(HEAD_POSE_COLUMNS)))
        known = np.isfinite(self.head_pose).all(axis=1)
        if not known.any():
            return np.zeros((self.num_frames, len(HEAD_POSE_COLUMNS)))
        return fill_missing_frames(self.time_s, self.head_pose.astype(np.float64), known)

    @property
    def num_frames(self) -> int:
        """``T``, the number of frames."""
        return int(self.time_s.shape[0])

    @property
    def fps(self) -> float:
        """Mean frame rate from the timestamps (frames per second); 0 for fewer than two frames."""
        if self.num_frames < 2:
            return 0.0
        return float((self.num_frames - 1) / (self.time_s[-1] - self.time_s[0]))

    def most_active(self, count: int = 5) -> np.ndarray:
        """Indices of the ``count`` controls reaching the highest values over the take, most active first."""
        return np.argsort(-np.nan_to_num(self.values).max(axis=0))[:count]

    def write_csv(self, path: str | os.PathLike) -> Path:
        """Write the curves as CSV (layout in the module docstring), atomically."""
        return write_atomic(Path(path), self.csv_writer())

    def csv_writer(self) -> Callable[[BinaryIO], None]:
        """Writes the curves as CSV to a binary handle, a row at a time (a long take is never one string)."""

        def write(handle: BinaryIO) -> None:
            text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
            self._write_rows(text)
            text.flush()
            text.detach()

        return write

    def csv_text(self) -> str:
        """The curves as CSV text (layout in the module docstring)."""
        buffer = io.StringIO()
        self._write_rows(buffer)
        return buffer.getvalue()

    def _write_rows(self, stream: TextIO) -> None:
        writer = csv.writer(stream, lineterminator="\n")
        head = () if self.head_pose is None else HEAD_POSE_COLUMNS
        writer.writerow((*FIXED_COLUMNS, *head, *self.control_names))
        for frame in range(self.num_frames):
            found = bool(self.face_found[frame])
            cells = [f"{v:.6f}" for v in self.values[frame]] if found else [""] * len(self.control_names)
            if head:
                pose = self.head_pose[frame]
                cells = ([f"{v:.4f}" for v in pose] if found and np.isfinite(pose).all() else [""] * 6) + cells
            writer.writerow((frame, f"{self.time_s[frame]:.6f}", int(found), *cells))

    @classmethod
    def read_csv(cls, path: str | os.PathLike) -> TakeCurves:
        """Read curves written by :meth:`write_csv` (or by a spreadsheet: a UTF-8 byte-order mark and blank
        lines at the end are accepted); raises :class:`TakeFileError` naming line and column.

        ``frame`` must count up from 0 by whole numbers, ``time_s`` increase with no gap over
        :data:`MAX_GAP_S`, and a frame without a face hold nothing in its control columns.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as error:
            raise TakeFileError(f"{path}: not UTF-8 text (byte {error.start}); save it as CSV UTF-8") from None
        except IsADirectoryError:
            raise TakeFileError(f"{path}: is a folder, not a curves CSV") from None
        except OSError as error:
            raise TakeFileError(f"{path}: cannot read ({error.strerror or type(error).__name__})") from None
        try:
            rows = list(csv.reader(io.StringIO(text)))
        except csv.Error as error:
            raise TakeFileError(f"{path}: not a CSV file ({error})") from None
        while rows and not any(cell.strip() for cell in rows[-1]):  # blank lines at the end
            rows.pop()
        if not rows or tuple(cell.strip() for cell in rows[0][:3]) != FIXED_COLUMNS:
            raise TakeFileError(f"{path}: line 1: header must start with {','.join(FIXED_COLUMNS)}")
        names = tuple(cell.strip() for cell in rows[0][3:])
        has_head = names[: len(HEAD_POSE_COLUMNS)] == HEAD_POSE_COLUMNS
        if has_head:
            names = names[len(HEAD_POSE_COLUMNS):]
        stray_head = next((n for n in names if n in HEAD_POSE_COLUMNS), None)
        if stray_head is not None:
            raise TakeFileError(
                f"{path}: line 1, column {stray_head}: the head-pose columns come together, right after face_found"
            )
        if not names or not all(names) or len(set(names)) != len(names):
            raise TakeFileError(f"{path}: line 1: control columns missing, empty or repeated")
        skip = 3 + (len(HEAD_POSE_COLUMNS) if has_head else 0)
        times, found, values, poses = [], [], [], []
        for line, row in enumerate(rows[1:], start=2):
            if len(row) != len(rows[0]):
                raise TakeFileError(f"{path}: line {line}: {len(row)} columns, header has {len(rows[0])}")
            if row[0].strip() != str(line - 2):
                raise TakeFileError(
                    f"{path}: line {line}, column frame: expected frame {line - 2}, got {row[0]!r}"
                )
            time_s = parse_float_cell(path, line, "time_s", row[1])
            if times and not time_s > times[-1]:
                raise TakeFileError(f"{path}: line {line}, column time_s: time does not increase ({time_s})")
            if times and time_s - times[-1] > MAX_GAP_S:
                raise TakeFileError(
                    f"{path}: line {line}, column time_s: {time_s - times[-1]:.6g} s after the previous frame "
                    f"(a take has no gap over {MAX_GAP_S:g} s)"
                )
            if row[2].strip() not in ("0", "1"):
                raise TakeFileError(f"{path}: line {line}, column face_found: expected 0 or 1, got {row[2]!r}")
            has_face = row[2].strip() == "1"
            if not has_face:
                stray = next((n for n, cell in zip(names, row[skip:], strict=True) if cell.strip()), None)
                if stray is not None:
                    raise TakeFileError(
                        f"{path}: line {line}, column {stray}: a frame without a face (face_found 0) has no values"
                    )
            frame_values = [
                parse_float_cell(path, line, name, cell) if has_face else math.nan
                for name, cell in zip(names, row[skip:], strict=True)
            ]
            if has_head:
                cells = row[3:skip]
                if any(cell.strip() for cell in cells):
                    poses.append([parse_float_cell(path, line, name, cell)
                                  for name, cell in zip(HEAD_POSE_COLUMNS, cells, strict=True)])  # fmt: skip
                else:
                    poses.append([math.nan] * len(HEAD_POSE_COLUMNS))
            times.append(time_s)
            found.append(has_face)
            values.append(frame_values)
        return cls(
            names,
            np.asarray(times, np.float64),
            np.asarray(found, bool),
            np.asarray(values, np.float32).reshape(len(times), len(names)),
            np.asarray(poses, np.float32).reshape(len(times), len(HEAD_POSE_COLUMNS)) if has_head else None,
        )


def parse_float_cell(path: Path, line: int, column: str, cell: str) -> float:
    """A CSV cell as a finite float; :class:`TakeFileError` naming the file, line and column otherwise."""
    try:
        value = float(cell.strip())
    except ValueError:
        raise TakeFileError(f"{path}: line {line}, column {column}: not a number ({cell!r})") from None
    if not math.isfinite(value):
        raise TakeFileError(f"{path}: line {line}, column {column}: {cell!r} is not a finite number")
    return value


# ----------------------------------------------------------------------------------------------------------
# Take curves JSON
# ----------------------------------------------------------------------------------------------------------

CURVES_JSON_FORMAT = "simon-says-take-curves"
"""The value of a curves JSON's ``format`` field."""

CURVES_JSON_VERSIONS: tuple[int, ...] = (1, 2)
"""Versions of the curves JSON this module reads; it writes the last (2 added ``head_pose``)."""

_CURVES_JSON_KEYS = ("format", "version", "target", "fps", "control_names", "time_s", "face_found", "curves")


def write_curves_json(
    path: str | os.PathLike,
    curves: TakeCurves,
    *,
    target: str | None = None,
    fps: float | None = None,
    start_timecode: str | None = None,
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
    start_timecode : str, optional
        SMPTE timecode of the first frame, kept as ``start_timecode`` (``null`` when omitted).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        Times not finite and strictly increasing, or a frame with a face holding NaN or infinite values.
    """
    times = checked_times("time_s", curves.time_s)
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
        "start_timecode": start_timecode,
        "head_pose": None if curves.head_pose is None else {
            name: [float(str(v)) if np.isfinite(v) else None for v in np.asarray(curves.head_pose, np.float32)[:, j]]
            for j, name in enumerate(HEAD_POSE_COLUMNS)
        },
    }  # fmt: skip
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
        if times[frame] - times[frame - 1] > MAX_GAP_S:
            raise TakeFileError(
                f"{path}: time_s[{frame}]: {times[frame] - times[frame - 1]:.6g} s after the previous frame "
                f"(a take has no gap over {MAX_GAP_S:g} s)"
            )
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
        column = _json_column(path, f"curves.{name}", curves[name], num_frames)
        for frame, (value, has_face) in enumerate(zip(column, found_list, strict=True)):
            if has_face and value is None:
                raise TakeFileError(f"{path}: curves.{name}[{frame}]: null in a frame with a face")
            if not has_face and value is not None:
                raise TakeFileError(
                    f"{path}: curves.{name}[{frame}]: a value in a frame without a face (expected null)"
                )
            if value is not None:
                values[frame, k] = value
    head_pose = None
    head = document.get("head_pose")
    if head is not None:
        if not isinstance(head, dict) or set(head) != set(HEAD_POSE_COLUMNS):
            raise TakeFileError(f"{path}: head_pose must be null or map exactly {', '.join(HEAD_POSE_COLUMNS)}")
        head_pose = np.full((num_frames, len(HEAD_POSE_COLUMNS)), np.nan, np.float32)
        for j, name in enumerate(HEAD_POSE_COLUMNS):
            column = _json_column(path, f"head_pose.{name}", head[name], num_frames)
            head_pose[:, j] = [np.nan if v is None else v for v in column]
    return TakeCurves(tuple(names), times, np.asarray(found_list, bool).reshape(num_frames), values, head_pose)


def _json_column(path: Path, field: str, items: object, num_frames: int) -> list[float | None]:
    """A per-frame list of numbers or nulls, ``num_frames`` long."""
    column = _json_numbers(path, field, items, allow_null=True)
    if len(column) != num_frames:
        raise TakeFileError(f"{path}: {field} has {len(column)} values, time_s has {num_frames}")
    return column


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


# ----------------------------------------------------------------------------------------------------------
# Gaps and checks shared by the writers of the exchange formats
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
    times = checked_times("time_s", time_s)
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


def checked_times(name: str, time_s: np.ndarray) -> np.ndarray:
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


def checked_finite(name: str, array: np.ndarray, shape: tuple[int | None, ...]) -> np.ndarray:
    values = np.asarray(array, np.float64)
    if values.ndim != len(shape) or any(
        s is not None and s != v for s, v in zip(shape, values.shape, strict=True)
    ):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values (fill frames without a face first)")
    return values
