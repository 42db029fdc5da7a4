"""A take's animation curves: control values per frame, with the CSV format the studio writes and reads.

CSV layout (one header line, one row per video frame)::

    frame,time_s,face_found,<control 1>,...,<control K>
    0,0.000000,1,0.012300,...
    1,0.033333,0,,,...          <- no face: the controls are empty, never zero

``frame`` counts from 0, ``time_s`` is seconds from the start of the take, ``face_found`` is 1 or 0, control
values are in [0, 1]. Files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.core.errors import StudioError
from studio.core.io.atomic_files import write_text_atomic

FIXED_COLUMNS = ("frame", "time_s", "face_found")


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
    """

    control_names: tuple[str, ...]
    time_s: np.ndarray
    face_found: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        num_frames, num_controls = len(self.time_s), len(self.control_names)
        if self.values.shape != (num_frames, num_controls) or self.face_found.shape != (num_frames,):
            raise ValueError(
                f"take curves: values {self.values.shape} and face_found {self.face_found.shape} must be "
                f"({num_frames}, {num_controls}) and ({num_frames},)"
            )

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
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow((*FIXED_COLUMNS, *self.control_names))
        for frame in range(self.num_frames):
            found = bool(self.face_found[frame])
            cells = [f"{v:.6f}" for v in self.values[frame]] if found else [""] * len(self.control_names)
            writer.writerow((frame, f"{self.time_s[frame]:.6f}", int(found), *cells))
        return write_text_atomic(Path(path), buffer.getvalue())

    @classmethod
    def read_csv(cls, path: str | os.PathLike) -> TakeCurves:
        """Read curves written by :meth:`write_csv`; raises :class:`TakeFileError` naming line and column."""
        path = Path(path)
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise TakeFileError(f"{path}: cannot read ({error})") from None
        rows = list(csv.reader(io.StringIO(text)))
        if not rows or tuple(rows[0][:3]) != FIXED_COLUMNS:
            raise TakeFileError(f"{path}: line 1: header must start with {','.join(FIXED_COLUMNS)}")
        names = tuple(rows[0][3:])
        if not names or len(set(names)) != len(names):
            raise TakeFileError(f"{path}: line 1: control columns missing or repeated")
        times, found, values = [], [], []
        for line, row in enumerate(rows[1:], start=2):
            if len(row) != len(rows[0]):
                raise TakeFileError(f"{path}: line {line}: {len(row)} columns, header has {len(rows[0])}")
            time_s = parse_float_cell(path, line, "time_s", row[1])
            if times and not time_s > times[-1]:
                raise TakeFileError(f"{path}: line {line}, column time_s: time does not increase ({time_s})")
            if row[2] not in ("0", "1"):
                raise TakeFileError(f"{path}: line {line}, column face_found: expected 0 or 1, got {row[2]!r}")
            has_face = row[2] == "1"
            frame_values = [
                parse_float_cell(path, line, name, cell) if has_face else math.nan
                for name, cell in zip(names, row[3:], strict=True)
            ]
            times.append(time_s)
            found.append(has_face)
            values.append(frame_values)
        return cls(
            names,
            np.asarray(times, np.float64),
            np.asarray(found, bool),
            np.asarray(values, np.float32).reshape(len(times), len(names)),
        )


def parse_float_cell(path: Path, line: int, column: str, cell: str) -> float:
    """A CSV cell as a finite float; :class:`TakeFileError` naming the file, line and column otherwise."""
    try:
        value = float(cell)
    except ValueError:
        raise TakeFileError(f"{path}: line {line}, column {column}: not a number ({cell!r})") from None
    if not math.isfinite(value):
        raise TakeFileError(f"{path}: line {line}, column {column}: {cell!r} is not a finite number")
    return value
