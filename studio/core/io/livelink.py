"""Live Link Face CSV: what Epic's Live Link Face app records and Unreal's importer reads.

Every writer computes its whole output first and then writes it atomically through
:mod:`studio.core.io.atomic_files`, so a failure -- bad input included -- never leaves a half-written file
and leaves an existing file untouched. Readers raise :class:`~studio.core.io.curves.TakeFileError` with one
line naming the file and, where there is one, the line and column. Writers raise ``ValueError`` for bad
arguments (wrong shapes, NaN, non-increasing times).

One header line, then one row per frame, comma separated, no quoting, 63 columns::

    Timecode,BlendshapeCount,EyeBlinkLeft,EyeLookDownLeft,...,TongueOut,HeadYaw,HeadPitch,HeadRoll,
        LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll
    00:00:00:00.000,61,0.084396,0,...

* ``Timecode`` is ``hh:mm:ss:ff.fff``: wall-clock hours, minutes and seconds, then ``ff.fff``, the frame
  number within the second with a fractional part (``17:35:44:09.640`` is 9.64 frames after 17:35:44).
  The file does not state the frame rate: :func:`read_livelink_csv` infers it from the frame numbers (the
  lowest of 24, 25, 30, 48, 50, 60 above every one of them: :func:`infer_frame_rate`) and says so, or takes
  the rate it is given. Unreal's importer assumes 30 unless a frame number exceeds 30 (then 60), which
  mistimes a 25 fps take. A ``;`` before the frame number (drop-frame notation) is read as ``:``; a take
  running past midnight (the timecode starting again at 00:00:00) is read as one take.
* ``BlendshapeCount`` is 61 on every row (52 shapes + 9 angles). Real captures spell the header
  ``BlendshapeCount``; some tools write ``BlendShapeCount``: header names are read case-insensitively.
* The 52 ARKit shapes, PascalCase (the ARKit name with its first letter upper-cased: ``EyeBlinkLeft``), in
  :data:`~studio.core.io.arkit.ARKIT_BLENDSHAPE_NAMES` order **except** that ``JawRight`` comes before
  ``JawLeft`` and ``MouthRight`` before ``MouthLeft`` (:data:`LIVELINK_SHAPE_COLUMNS`). Values in [0, 1].
* ``HeadYaw, HeadPitch, HeadRoll`` and ``LeftEyeYaw, LeftEyePitch, LeftEyeRoll, RightEyeYaw, RightEyePitch,
  RightEyeRoll``: angles normalised to [-1, 1]. The studio writes the head's angles in radians (what ARKit
  measures; a head turned beyond 57° is clipped), in the rig's convention: yaw about the vertical axis
  (positive towards the performer's left), pitch about the ears' axis, roll about the nose's
  (:data:`studio.core.io.curves.HEAD_POSE_COLUMNS`), and reads them back the same way.

Columns are always read and written by header name, never by position. :func:`write_livelink_csv` writes
exactly :data:`LIVELINK_HEADER`; values are printed with at most 6 decimals, trailing zeros dropped (``0.5``,
``0``, ``0.084396``). :func:`read_livelink_csv` requires ``Timecode``, ``BlendshapeCount`` and the 52 shapes
(in any order; ``eyeBlinkLeft`` spelling accepted too), takes the 9 angle columns when present (zeros when
absent) and rejects unknown columns. Shape values are clipped to [0, 1] on reading; angles are kept as read.
Times are seconds from the first row and must strictly increase (a take crossing midnight is rejected).

Eye angles: the studio derives them from the ARKit gaze shapes (:func:`eye_angles_from_arkit`); yaw is
positive toward the performer's left for both eyes, pitch positive upward, roll always 0.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.core.io.arkit import ARKIT_BLENDSHAPE_NAMES
from studio.core.io.atomic_files import write_text_atomic
from studio.core.io.curves import MAX_GAP_S, TakeFileError, checked_finite, checked_times, parse_float_cell

__all__ = [
    "LIVELINK_BLENDSHAPE_COUNT",
    "LIVELINK_EYE_COLUMNS",
    "LIVELINK_HEADER",
    "LIVELINK_HEAD_COLUMNS",
    "LIVELINK_SHAPE_COLUMNS",
    "LiveLinkTake",
    "eye_angles_from_arkit",
    "read_livelink_csv",
    "write_livelink_csv",
]


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
    fps_note : str or None
        How :attr:`fps` was inferred, in words, when it was not given (``None`` when it was).
    """

    time_s: np.ndarray
    arkit: np.ndarray
    head: np.ndarray
    eyes: np.ndarray
    fps: float
    timecodes: tuple[str, ...]
    fps_note: str | None = None

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
    times = checked_times("time_s", time_s)
    num_frames = times.shape[0]
    if num_frames == 0:
        raise ValueError("live link csv: a take needs at least one frame")
    shapes = checked_finite("arkit", arkit, (num_frames, len(ARKIT_BLENDSHAPE_NAMES)))
    angles_head = np.zeros((num_frames, 3)) if head is None else checked_finite("head", head, (num_frames, 3))
    angles_eyes = np.zeros((num_frames, 6)) if eyes is None else checked_finite("eyes", eyes, (num_frames, 6))
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
        Frame rate of the timecodes' frame numbers, frames per second. When omitted it is inferred from the
        frame numbers (:func:`infer_frame_rate`; the take's ``fps_note`` says how).

    Returns
    -------
    LiveLinkTake
        The take; shape values clipped to [0, 1], times relative to the first row.

    Raises
    ------
    TakeFileError
        One line naming the file, the line and the column: missing, repeated or unknown columns, a row with
        the wrong number of cells, a cell that is not a finite number, a ``BlendshapeCount`` that is not an
        integer, a malformed timecode, times that do not increase, no frames. A take that runs past
        midnight (its timecode starts again at 00:00:00) is read as one take.
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

    fps_note = None
    if fps is None:
        fps, fps_note = infer_frame_rate([float(match[4]) for _, match in matches])
    times = np.array([_timecode_seconds(match, fps) for _, match in matches], np.float64)
    day = 0.0
    for frame in range(1, len(times)):
        times[frame] += day
        if times[frame] < times[frame - 1] - _SECONDS_PER_DAY / 2:  # past midnight: the timecode starts again
            day += _SECONDS_PER_DAY
            times[frame] += _SECONDS_PER_DAY
        if not times[frame] > times[frame - 1]:
            line = matches[frame][0]
            raise TakeFileError(
                f"{path}: line {line}, column {names[timecode_col]}: time does not increase "
                f"({timecodes[frame]} after {timecodes[frame - 1]} at {fps:g} fps)"
            )
        if times[frame] - times[frame - 1] > MAX_GAP_S:
            raise TakeFileError(
                f"{path}: line {matches[frame][0]}, column {names[timecode_col]}: {timecodes[frame]} is "
                f"{times[frame] - times[frame - 1]:.6g} s after {timecodes[frame - 1]} (a take has no gap over "
                f"{MAX_GAP_S:g} s)"
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
        fps_note=fps_note,
    )


#: The frame rates a Live Link Face take may have been recorded at, frames per second.
LIVELINK_FRAME_RATES: tuple[float, ...] = (24.0, 25.0, 30.0, 48.0, 50.0, 60.0)


def infer_frame_rate(frame_numbers: Sequence[float]) -> tuple[float, str]:
    """A take's frame rate from its timecodes' frame numbers, and how it was found, in words.

    The rate is the lowest of :data:`LIVELINK_FRAME_RATES` above every frame number (frame numbers count 0 to
    rate − 1 in each second): a 25 fps take's run to 24, a 30 fps take's to 29. A take whose frame numbers
    never start again (shorter than a second) cannot show that: it is read at 30 fps, the app's default,
    unless a frame number rules 30 out, and the note says the rate was guessed.

    Parameters
    ----------
    frame_numbers : sequence of float
        The ``ff`` part of each timecode (may carry a fraction, ``58.500``).

    Returns
    -------
    tuple
        ``(fps, note)``.
    """
    highest = max(frame_numbers)
    whole_second = any(b < a for a, b in zip(frame_numbers, frame_numbers[1:], strict=False))  # numbers wrapped
    floor = 0.0 if whole_second else 29.0  # without a whole second, 30 (the app's default) unless ruled out
    rate = next((r for r in LIVELINK_FRAME_RATES if max(highest, floor) < r), None)
    if rate is None:
        rate = float(min(math.floor(highest) + 1, _MAX_LIVELINK_FPS))
    how = "inferred" if whole_second else "guessed (the take shows no whole second of frame numbers)"
    return rate, f"{rate:g} fps, {how} from the timecodes' frame numbers (highest {highest:g}); --fps sets it"


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
