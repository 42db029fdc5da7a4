"""Tolerant fingerprints of float arrays, and the check of a converted npz against the reference.

A locally converted ``ict_facekit.npz`` must hold the same rig as the reference file, but its float arrays
need not be bit-identical: computing a delta as ``float32(x) - float32(n)`` instead of
``float32(x - n)`` in float64, or rounding to float16 through float32, moves values by an ulp or so. So
integer and string arrays are pinned by an exact digest (:func:`studio.core.assets.hashing.array_sha256`),
while a float array is pinned by a :class:`FloatFingerprint`:

- its dtype and shape, exactly;
- per *group* (each leading slice of an array with 3 or more axes -- one expression, one identity mode --
  or the whole array otherwise) a few float64 statistics: the sum along each coordinate (last axis), the
  sum of ``|x|`` and the sum of ``x**2``;
- its values at a few fixed, pseudo-randomly chosen flat indices.

:func:`compare_fingerprint` accepts an array when every statistic and value lies within a tolerance
derived from the dtype (:data:`TOLERANCES`): values within ``value_atol + value_rtol * |ref|``, sums
within ``sum_rtol`` of the group's sum of ``|x|`` (``2 * sum_rtol`` of the sum of squares). Rounding
differences are unbiased and largely cancel in a sum, so these limits accept any sensible conversion of
the same OBJs while a different rig -- a scaled or shifted mesh, two expressions or modes swapped, a
different identity basis -- moves some statistic by orders of magnitude more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from studio.core.assets.hashing import array_sha256

__all__ = [
    "TOLERANCES",
    "FloatFingerprint",
    "Tolerance",
    "array_references",
    "compare_fingerprint",
    "float_fingerprint",
    "verify_arrays",
]

#: Significant digits kept of a recorded statistic (far finer than any tolerance below).
STAT_DIGITS = 10


@dataclass(frozen=True)
class Tolerance:
    """How far a float array may drift from the reference and still be "the same".

    Attributes
    ----------
    value_atol, value_rtol : float
        A sampled value ``v`` matches the reference ``r`` when ``|v - r| <= value_atol + value_rtol * |r|``.
    sum_rtol : float
        A per-coordinate sum or the sum of ``|x|`` of a group may differ by
        ``sum_rtol * (sum of |x| of the group) + value_atol``; the sum of squares by
        ``2 * sum_rtol * (sum of squares) + value_atol**2``.
    """

    value_atol: float
    value_rtol: float
    sum_rtol: float


#: Tolerances by float itemsize. float32 (``neutral`` up to ~20 cm, ``expression_deltas``): an ulp at
#: 16..32 cm is 1.9e-6 cm, so a float32-subtraction delta is off by at most a few 1e-6 cm; 1e-5 cm /
#: 1e-5 relative leaves a wide margin. float16 (``identity_deltas``): the spacing is 2**-10 relative
#: (9.8e-4 cm at 1..2 cm, 3.9e-3 cm at 4 cm), so a different rounding path may move a value by one step;
#: ``1e-3 + 2**-10 * |r|`` accepts that at any magnitude. Sums: 1e-3 of the sum of |x| even for a
#: rounding that is biased by half a step on every value.
TOLERANCES: Mapping[int, Tolerance] = {
    2: Tolerance(value_atol=1e-3, value_rtol=2.0**-10, sum_rtol=1e-3),
    4: Tolerance(value_atol=1e-5, value_rtol=1e-5, sum_rtol=1e-5),
    8: Tolerance(value_atol=1e-9, value_rtol=1e-9, sum_rtol=1e-9),
}


@dataclass(frozen=True)
class FloatFingerprint:
    """Compact, rounding-tolerant description of a float array (see the module docstring).

    Attributes
    ----------
    dtype : str
        Little-endian dtype string, e.g. ``"<f4"``.
    shape : tuple of int
        The array's shape.
    group_stats : tuple of tuple of float
        One row per group: the sum of each coordinate (``shape[-1]`` values; one for a 1-D array), then the
        sum of ``|x|``, then the sum of ``x**2``; float64, rounded to :data:`STAT_DIGITS` digits.
    sample_indices : tuple of int
        Flat (C-order) indices of the sampled values.
    sample_values : tuple of float
        The values there (exact: every float16/float32 value is a float64).
    """

    dtype: str
    shape: tuple[int, ...]
    group_stats: tuple[tuple[float, ...], ...]
    sample_indices: tuple[int, ...]
    sample_values: tuple[float, ...]


def _little_dtype(array: np.ndarray) -> str:
    return array.dtype.newbyteorder("<").str


def _group_view(array: np.ndarray) -> np.ndarray:
    """``(groups, rows, coordinates)`` float64 view of ``array`` (see :class:`FloatFingerprint`)."""
    values = np.asarray(array, dtype=np.float64)
    groups = values.shape[0] if values.ndim >= 3 else 1
    columns = values.shape[-1] if values.ndim >= 2 else 1
    return values.reshape(groups, -1, columns)


def _group_stats(array: np.ndarray) -> np.ndarray:
    """``(groups, columns + 2)``: per-coordinate sums, sum of |x|, sum of x**2 of each group."""
    grouped = _group_view(array)
    return np.concatenate(
        [
            grouped.sum(axis=1),
            np.abs(grouped).sum(axis=(1, 2))[:, None],
            np.square(grouped).sum(axis=(1, 2))[:, None],
        ],
        axis=1,
    )


def _stat_names(array_shape: tuple[int, ...]) -> list[str]:
    columns = array_shape[-1] if len(array_shape) >= 2 else 1
    if columns == 1:
        sums = ["sum"]
    elif columns <= 3:
        sums = [f"sum_{axis}" for axis in "xyz"[:columns]]
    else:
        sums = [f"sum_{column}" for column in range(columns)]
    return [*sums, "abs_sum", "sq_sum"]


def float_fingerprint(array: np.ndarray, *, n_samples: int = 32, seed: int = 0) -> FloatFingerprint:
    """Fingerprint a float array.

    Parameters
    ----------
    array : numpy.ndarray
        A float16, float32 or float64 array.
    n_samples : int
        How many values to sample. They are drawn (without replacement, ``numpy.random.default_rng(seed)``)
        among the non-zero entries when there are any, so that sparse arrays such as blendshape deltas
        are not sampled where every rig is zero. The chosen indices are stored, so checking never
        depends on the random generator.
    seed : int
        Seed of the sampling.

    Returns
    -------
    FloatFingerprint
        The fingerprint.
    """
    array = np.asarray(array)
    if array.dtype.kind != "f":
        raise TypeError(f"float_fingerprint needs a float array, got {array.dtype}")
    stats = _group_stats(array)
    flat = array.reshape(-1)
    candidates = np.flatnonzero(flat)
    if candidates.size == 0:
        candidates = np.arange(flat.size)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(candidates, size=min(n_samples, candidates.size), replace=False))
    return FloatFingerprint(
        dtype=_little_dtype(array),
        shape=tuple(int(size) for size in array.shape),
        group_stats=tuple(tuple(float(f"{value:.{STAT_DIGITS}g}") for value in row) for row in stats),
        sample_indices=tuple(int(index) for index in chosen),
        sample_values=tuple(float(flat[index]) for index in chosen),
    )


def _label(name: str, group: int, n_groups: int, stat: str) -> str:
    return f"{name}[{group}] {stat}" if n_groups > 1 else f"{name} {stat}"


def compare_fingerprint(name: str, expected: FloatFingerprint, array: np.ndarray) -> str | None:
    """Check a float array against a fingerprint.

    Parameters
    ----------
    name : str
        The array's name, used in the message.
    expected : FloatFingerprint
        The reference fingerprint.
    array : numpy.ndarray
        The array to check.

    Returns
    -------
    str or None
        None when the array matches; otherwise one line (no newline) saying what differs: the dtype or
        shape, or the worst statistic (or sampled value) and how many are out of tolerance, e.g.
        ``"expression_deltas[3] sum_x off by 1.89, tolerance 0.0032 (10/265 statistics, 2/32 samples out
        of tolerance)"``.
    """
    array = np.asarray(array)
    if array.dtype.kind != "f" or _little_dtype(array) != expected.dtype:
        return f"{name} dtype {array.dtype.str} != {expected.dtype}"
    if tuple(array.shape) != tuple(expected.shape):
        return f"{name} shape {tuple(array.shape)} != {tuple(expected.shape)}"
    tolerance = TOLERANCES.get(array.dtype.itemsize)
    if tolerance is None:
        return f"{name} dtype {array.dtype.str} has no tolerance"

    reference = np.asarray(expected.group_stats, dtype=np.float64)
    actual = _group_stats(array)
    n_groups, n_stats = reference.shape
    abs_sum = reference[:, -2:-1]
    limit = np.broadcast_to(tolerance.sum_rtol * abs_sum + tolerance.value_atol, reference.shape).copy()
    limit[:, -1] = 2 * tolerance.sum_rtol * reference[:, -1] + tolerance.value_atol**2
    stat_error = np.abs(actual - reference)

    indices = np.asarray(expected.sample_indices, dtype=np.int64)
    ref_values = np.asarray(expected.sample_values, dtype=np.float64)
    values = array.reshape(-1)[indices].astype(np.float64)
    value_limit = tolerance.value_atol + tolerance.value_rtol * np.abs(ref_values)
    value_error = np.abs(values - ref_values)

    stat_bad = ~(stat_error <= limit)  # NaN counts as out of tolerance
    value_bad = ~(value_error <= value_limit)
    if not stat_bad.any() and not value_bad.any():
        return None
    names = _stat_names(expected.shape)
    if stat_bad.any():
        ratio = np.where(stat_bad, np.nan_to_num(stat_error / limit, nan=np.inf), -1.0)
        group, stat = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        worst = (
            f"{_label(name, int(group), n_groups, names[stat])} off by {stat_error[group, stat]:.3g}, "
            f"tolerance {limit[group, stat]:.2g}"
        )
    else:
        ratio = np.where(value_bad, np.nan_to_num(value_error / value_limit, nan=np.inf), -1.0)
        which = int(np.argmax(ratio))
        worst = (
            f"{name} value at flat index {indices[which]} off by {value_error[which]:.3g}, "
            f"tolerance {value_limit[which]:.2g}"
        )
    return (
        f"{worst} ({int(stat_bad.sum())}/{n_groups * n_stats} statistics, "
        f"{int(value_bad.sum())}/{indices.size} samples out of tolerance)"
    )


def array_references(
    arrays: Mapping[str, np.ndarray],
) -> tuple[dict[str, str], dict[str, FloatFingerprint]]:
    """Record what :func:`verify_arrays` checks: exact digests of non-float arrays, fingerprints of floats.

    Parameters
    ----------
    arrays : Mapping[str, numpy.ndarray]
        The reference arrays, e.g. the members of the reference npz.

    Returns
    -------
    exact : dict[str, str]
        :func:`studio.core.assets.hashing.array_sha256` of every integer, boolean and string array, by name.
    fingerprints : dict[str, FloatFingerprint]
        :func:`float_fingerprint` (defaults: 32 samples, seed 0) of every float array, by name.
    """
    exact: dict[str, str] = {}
    fingerprints: dict[str, FloatFingerprint] = {}
    for name in sorted(arrays):
        array = np.asarray(arrays[name])
        if array.dtype.kind == "f":
            fingerprints[name] = float_fingerprint(array)
        else:
            exact[name] = array_sha256(array)
    return exact, fingerprints


def verify_arrays(
    arrays: Mapping[str, np.ndarray],
    exact: Mapping[str, str],
    fingerprints: Mapping[str, FloatFingerprint],
) -> list[str]:
    """Check a set of named arrays against exact digests and float fingerprints.

    Parameters
    ----------
    arrays : Mapping[str, numpy.ndarray]
        The arrays, e.g. the members of an npz.
    exact : Mapping[str, str]
        :func:`studio.core.assets.hashing.array_sha256` of the arrays that must match exactly (integers,
        strings).
    fingerprints : Mapping[str, FloatFingerprint]
        Fingerprints of the float arrays, checked within tolerance.

    Returns
    -------
    list[str]
        One short description per differing array, in name order (``"triangles sha256 differs"``,
        ``"neutral sum_y off by ..."``, ``"foo missing"``, ``"bar unexpected"``); empty when everything
        matches.
    """
    problems = []
    for name in sorted(set(arrays) | set(exact) | set(fingerprints)):
        if name not in arrays:
            problems.append(f"{name} missing")
        elif name in fingerprints:
            problem = compare_fingerprint(name, fingerprints[name], arrays[name])
            if problem is not None:
                problems.append(problem)
        elif name in exact:
            try:
                same = array_sha256(arrays[name]) == exact[name]
            except TypeError:
                same = False
            if not same:
                problems.append(f"{name} sha256 differs")
        else:
            problems.append(f"{name} unexpected")
    return problems
