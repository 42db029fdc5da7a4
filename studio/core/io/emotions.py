"""Emotion labels of a take as CSV: per frame the recognised emotion and the seven probabilities.

Columns: ``frame``, ``time_s``, ``emotion`` (empty where no face was found) and one column per emotion
(``p_neutral``, ``p_anger``, …) with probabilities in [0, 1] (empty without a face). A header comment
line ``# simon-says-emotions v1`` comes first.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from studio.core.io.atomic_files import write_text_atomic

__all__ = ["EMOTIONS_CSV_HEADER", "write_emotions_csv"]

EMOTIONS_CSV_HEADER = "# simon-says-emotions v1"


def write_emotions_csv(path: str | os.PathLike, time_s: np.ndarray, probabilities: np.ndarray,
                       emotions: Sequence[str]) -> Path:
    """Write the labels atomically.

    Parameters
    ----------
    path : path
        The CSV.
    time_s : np.ndarray
        Frame times, ``(T,)``, seconds.
    probabilities : np.ndarray
        ``(T, E)``; NaN rows for frames without a face.
    emotions : sequence of str
        The ``E`` emotion names, in the probabilities' order.
    """
    out = io.StringIO()
    out.write(EMOTIONS_CSV_HEADER + "\n")
    out.write(",".join(["frame", "time_s", "emotion", *(f"p_{name}" for name in emotions)]) + "\n")
    for frame, (t, row) in enumerate(zip(time_s, probabilities, strict=True)):
        if np.isfinite(row).all():
            cells = [emotions[int(np.argmax(row))], *(f"{p:.4f}" for p in row)]
        else:
            cells = ["", *([""] * len(emotions))]
        out.write(",".join([str(frame), f"{float(t):.4f}", *cells]) + "\n")
    return write_text_atomic(path, out.getvalue())
