"""Digests of asset files and of the arrays inside an npz.

Two kinds of fingerprint are used:

- :func:`sha256_file` -- the plain sha256 of a file's bytes (the MediaPipe model bundle, which is downloaded
  as-is and must be byte-identical to the official file).
- :func:`array_sha256` / :func:`npz_content_sha256` -- a digest of the *content* of numpy arrays (dtype,
  shape and values), independent of how the ``.npz`` container was zipped. ``ict_facekit.npz`` is built on
  the user's machine by our converter, and the bytes of a zip archive depend on the zlib build and the
  numpy version that wrote it, so the file's sha256 is not a portable check; the arrays' content is.
  Exact digests pin its integer and string arrays; its float arrays, whose last bits depend on the float
  path of the conversion, are pinned by tolerant fingerprints instead (:mod:`studio.core.assets.fingerprint`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["array_sha256", "arrays_content_sha256", "npz_content_sha256", "sha256_file"]

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file's bytes, read in 1 MiB chunks.

    Parameters
    ----------
    path : Path
        The file to hash.

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def array_sha256(array: np.ndarray) -> str:
    """Return a canonical sha256 of one array's dtype, shape and values.

    Numeric and boolean arrays are hashed as their little-endian, C-ordered bytes preceded by the dtype
    (``"<f4"``, ``"<i4"``...) and the shape. String arrays are hashed as the JSON list of their values, so
    ``<U19`` and ``<U20`` arrays holding the same names give the same digest.

    Parameters
    ----------
    array : numpy.ndarray
        The array to fingerprint.

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    array = np.asarray(array)
    digest = hashlib.sha256()
    if array.dtype.kind in "US":
        digest.update(f"str{array.shape}".encode())
        digest.update(json.dumps(array.tolist(), ensure_ascii=False).encode("utf-8"))
        return digest.hexdigest()
    if array.dtype.kind not in "biuf":
        raise TypeError(f"cannot fingerprint an array of dtype {array.dtype}")
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    digest.update(f"{little.dtype.str}{array.shape}".encode())
    digest.update(np.ascontiguousarray(little).tobytes())
    return digest.hexdigest()


def arrays_content_sha256(arrays: Mapping[str, np.ndarray]) -> tuple[str, dict[str, str]]:
    """Fingerprint a set of named arrays.

    Parameters
    ----------
    arrays : Mapping[str, numpy.ndarray]
        Named arrays, e.g. the members of an npz.

    Returns
    -------
    combined : str
        sha256 over the sorted ``name=digest`` lines: one value for the whole set.
    per_array : dict[str, str]
        :func:`array_sha256` of each array, by name.
    """
    per_array = {name: array_sha256(arrays[name]) for name in sorted(arrays)}
    lines = "".join(f"{name}={value}\n" for name, value in per_array.items())
    return hashlib.sha256(lines.encode()).hexdigest(), per_array


def npz_content_sha256(path: Path) -> tuple[str, dict[str, str]]:
    """Fingerprint every array stored in an ``.npz`` file (see :func:`arrays_content_sha256`).

    Parameters
    ----------
    path : Path
        The ``.npz`` file; it is opened without pickle support.

    Returns
    -------
    combined : str
        One sha256 for all arrays together.
    per_array : dict[str, str]
        The digest of each array, by key.
    """
    with np.load(path, allow_pickle=False) as archive:
        return arrays_content_sha256({name: archive[name] for name in archive.files})
