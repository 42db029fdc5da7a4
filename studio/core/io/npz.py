"""Reading ``.npz`` archives the user hands the studio (rig parameters, captures, truths) with one-line errors.

numpy's own messages mislead here: a text file or random bytes is reported as "pickled data … load it
unsafely with allow_pickle=True" — advice never to follow with a file from elsewhere. :func:`read_npz` looks
at the file first, never loads Python objects, and raises the caller's error class with one line naming the
file (and the array, where one is at fault).
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from studio.core.errors import StudioError

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def read_npz(
    path: str | os.PathLike, error: type[StudioError], required: Iterable[str] = ()
) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, loaded; ``error`` with one line naming ``path`` otherwise.

    Parameters
    ----------
    path : str or os.PathLike
        The archive.
    error : type of StudioError
        The error class to raise (the caller's area: ``RigFileError``, ``SessionError``, ...).
    required : iterable of str
        Arrays that must be present.

    Returns
    -------
    dict of str to np.ndarray
        The arrays by name.

    Raises
    ------
    StudioError
        (of class ``error``) The file is missing, a folder, not a zip archive, damaged, holds Python objects,
        or lacks a required array.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not an .npz file") from None
    except OSError as failure:
        raise error(f"{path}: cannot read ({failure.strerror or type(failure).__name__})") from None
    if head not in _ZIP_MAGIC:
        raise error(f"{path}: not an .npz file (it is not a zip archive)")
    arrays: dict[str, np.ndarray] = {}
    name = ""
    try:
        with np.load(path, allow_pickle=False) as archive:
            for name in archive.files:
                arrays[name] = archive[name]
    except ValueError as failure:
        if "pickle" in str(failure).lower():
            raise error(
                f"{path}: array {name!r} holds Python objects, which the studio never loads from a file"
            ) from None
        raise error(f"{path}: damaged .npz file (array {name!r}: {failure})") from None
    except zipfile.BadZipFile:
        raise error(f"{path}: damaged .npz file (its zip archive is cut short or corrupt)") from None
    except (zlib.error, EOFError, OSError, KeyError) as failure:
        raise error(f"{path}: damaged .npz file ({type(failure).__name__}: {failure})") from None
    missing = [key for key in required if key not in arrays]
    if missing:
        raise error(f"{path}: missing array{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    return arrays
