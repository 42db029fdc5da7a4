"""Per-shape response: how each tracked control is turned into the value that drives a character.

"This shape never reaches 1", "the mouth is too weak": the answer of Unity Live Capture's mapping evaluators
and iClone's per-morph weight and limit is a small evaluator per shape. :class:`ShapeResponse` is ours, applied
in this order to a control's value ``v`` in [0, 1]::

    u = clip(multiplier · v + offset, 0, 1)     # gain and zero point
    w = curve(u)                                # a monotone piecewise-linear curve through its points
    y = clip(w, clamp_low, clamp_high)          # limits
    y ← smoothed over ``smoothing_s`` seconds   # optional, causal (an exponential moving average in time)

A :class:`ResponseSet` holds one per control name (controls without one pass through unchanged); it is kept in
a session (``response.json``, :data:`RESPONSE_FORMAT`), previewed live, applied to takes and exports, and
recorded in a take's ``take.json`` so a take can always be exported raw as well. :meth:`ResponseSet.rezeroed`
is the live view's *Re-zero neutral*: the face shown now becomes every shape's zero.

Bad settings — a curve that is not monotone or leaves [0, 1], a clamp upside down, a gain that is not a
number — raise :class:`ResponseError` with one line naming the control.

Shapes: ``T`` frames, ``K`` controls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from studio.core.errors import StudioError

__all__ = ["RESPONSE_FORMAT", "ResponseError", "ResponseSet", "ShapeResponse"]

RESPONSE_FORMAT = "simon-says-shape-response"
"""The ``format`` field of a response file."""
RESPONSE_VERSION = 1
#: Bounds of the settings a user can give (a gain of 10 already saturates any control from 0.1).
MAX_MULTIPLIER = 10.0
MAX_SMOOTHING_S = 2.0
#: Most points of one curve.
MAX_CURVE_POINTS = 16
IDENTITY_CURVE = ((0.0, 0.0), (1.0, 1.0))


class ResponseError(StudioError):
    """A response setting or file is not usable (one line naming the control and what is wrong)."""


@dataclass(frozen=True)
class ShapeResponse:
    """The response of one control (module docstring).

    Attributes
    ----------
    multiplier : float
        Gain, in [0, :data:`MAX_MULTIPLIER`].
    offset : float
        Added after the gain, in [-1, 1].
    clamp : tuple of float
        ``(low, high)`` limits of the result, ``0 ≤ low < high ≤ 1``.
    curve : tuple of (float, float)
        Points ``(x, y)`` of a piecewise-linear curve from ``x = 0`` to ``x = 1``: x strictly increasing,
        y in [0, 1] and never decreasing (a response never turns a stronger expression into a weaker one).
    smoothing_s : float
        Time constant of the causal smoothing, seconds, in [0, :data:`MAX_SMOOTHING_S`]; 0 for none.
    """

    multiplier: float = 1.0
    offset: float = 0.0
    clamp: tuple[float, float] = (0.0, 1.0)
    curve: tuple[tuple[float, float], ...] = IDENTITY_CURVE
    smoothing_s: float = 0.0

    def checked(self, name: str) -> ShapeResponse:
        """This response if every setting is valid; :class:`ResponseError` naming ``name`` otherwise."""
        numbers = (self.multiplier, self.offset, *self.clamp, self.smoothing_s, *(v for p in self.curve for v in p))
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in numbers):
            raise ResponseError(f"response of {name}: every setting must be a finite number")
        if not 0.0 <= self.multiplier <= MAX_MULTIPLIER:
            raise ResponseError(f"response of {name}: multiplier {self.multiplier:g} is outside [0, {MAX_MULTIPLIER:g}]")
        if not -1.0 <= self.offset <= 1.0:
            raise ResponseError(f"response of {name}: offset {self.offset:g} is outside [-1, 1]")
        low, high = self.clamp
        if not 0.0 <= low < high <= 1.0:
            raise ResponseError(f"response of {name}: clamp ({low:g}, {high:g}) must have 0 <= low < high <= 1")
        if not 0.0 <= self.smoothing_s <= MAX_SMOOTHING_S:
            raise ResponseError(f"response of {name}: smoothing {self.smoothing_s:g} s is outside [0, {MAX_SMOOTHING_S:g}]")
        points = np.asarray(self.curve, np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or not 2 <= len(points) <= MAX_CURVE_POINTS:
            raise ResponseError(f"response of {name}: the curve needs 2 to {MAX_CURVE_POINTS} points (x, y)")
        if points[0, 0] != 0.0 or points[-1, 0] != 1.0 or not (np.diff(points[:, 0]) > 0).all():
            raise ResponseError(f"response of {name}: the curve's x must run from 0 to 1, strictly increasing")
        if points[:, 1].min() < 0.0 or points[:, 1].max() > 1.0:
            raise ResponseError(f"response of {name}: the curve leaves [0, 1] (y from {points[:, 1].min():g} "
                                f"to {points[:, 1].max():g})")  # fmt: skip
        if (np.diff(points[:, 1]) < 0).any():
            at = int(np.flatnonzero(np.diff(points[:, 1]) < 0)[0]) + 1
            raise ResponseError(f"response of {name}: the curve is not monotone (it falls at point {at + 1}, "
                                f"x = {points[at, 0]:g})")  # fmt: skip
        return self

    @property
    def is_identity(self) -> bool:
        """Whether the response leaves values as they are."""
        return self == ShapeResponse()

    def shape(self, values: np.ndarray) -> np.ndarray:
        """Gain, offset, curve and clamp of values of any shape (no smoothing: that needs times)."""
        points = np.asarray(self.curve, np.float64)
        u = np.clip(self.multiplier * np.asarray(values, np.float64) + self.offset, 0.0, 1.0)
        return np.clip(np.interp(u, points[:, 0], points[:, 1]), *self.clamp)

    def to_json(self) -> dict[str, Any]:
        """The response as a response file holds it."""
        return {"multiplier": self.multiplier, "offset": self.offset, "clamp": list(self.clamp),
                "curve": [list(p) for p in self.curve], "smoothing_s": self.smoothing_s}  # fmt: skip

    @classmethod
    def from_json(cls, name: str, data: object) -> ShapeResponse:
        """A checked response from JSON data; :class:`ResponseError` naming ``name`` when it is not one."""
        if not isinstance(data, dict) or set(data) - {"multiplier", "offset", "clamp", "curve", "smoothing_s"}:
            raise ResponseError(f"response of {name}: expected an object with multiplier, offset, clamp, curve, "
                                "smoothing_s")  # fmt: skip
        try:
            response = cls(
                multiplier=float(data.get("multiplier", 1.0)), offset=float(data.get("offset", 0.0)),
                clamp=tuple(float(v) for v in data.get("clamp", (0.0, 1.0))),
                curve=tuple((float(x), float(y)) for x, y in data.get("curve", IDENTITY_CURVE)),
                smoothing_s=float(data.get("smoothing_s", 0.0)),
            )  # fmt: skip
        except (TypeError, ValueError):
            raise ResponseError(f"response of {name}: settings must be numbers, the curve a list of [x, y]") from None
        if len(response.clamp) != 2:
            raise ResponseError(f"response of {name}: clamp must be [low, high]")
        return response.checked(name)


@dataclass(frozen=True)
class ResponseSet:
    """A response per control name; controls without one pass through (module docstring).

    Attributes
    ----------
    shapes : dict of str to ShapeResponse
        Only the controls whose response is not the identity.
    """

    shapes: Mapping[str, ShapeResponse] = field(default_factory=dict)

    def __post_init__(self) -> None:
        cleaned = {name: response.checked(name) for name, response in self.shapes.items() if not response.is_identity}
        object.__setattr__(self, "shapes", cleaned)

    @property
    def is_identity(self) -> bool:
        """Whether no control is changed."""
        return not self.shapes

    def get(self, name: str) -> ShapeResponse:
        """The response of control ``name`` (the identity when it has none)."""
        return self.shapes.get(name, ShapeResponse())

    def with_shape(self, name: str, response: ShapeResponse) -> ResponseSet:
        """This set with control ``name``'s response replaced (checked)."""
        return ResponseSet({**self.shapes, name: response.checked(name)})

    def apply(self, values: np.ndarray, control_names: Sequence[str], time_s: np.ndarray | None = None) -> np.ndarray:
        """The responses applied to a take's controls.

        Parameters
        ----------
        values : np.ndarray
            Shape ``(T, K)`` (or ``(K,)`` for one frame), in [0, 1]; NaN rows (no face) stay NaN.
        control_names : sequence of str
            The ``K`` names.
        time_s : np.ndarray, optional
            Frame times ``(T,)``, seconds, for the smoothing; without them (one frame, a preview) no smoothing.

        Returns
        -------
        np.ndarray
            Same shape, float32.
        """
        table = np.asarray(values, np.float64)
        single = table.ndim == 1
        table = np.atleast_2d(table).copy()
        if table.shape[1] != len(control_names):
            raise ValueError(f"values have {table.shape[1]} controls, names {len(control_names)}")
        for k, name in enumerate(control_names):
            response = self.shapes.get(name)
            if response is None:
                continue
            column = table[:, k]
            known = np.isfinite(column)
            column[known] = response.shape(column[known])
            if response.smoothing_s > 0 and time_s is not None and len(column) > 1:
                column[:] = _smoothed(column, np.asarray(time_s, np.float64), response.smoothing_s)
        out = table.astype(np.float32)
        return out[0] if single else out

    def rezeroed(self, raw: np.ndarray, control_names: Sequence[str], threshold: float = 0.02) -> ResponseSet:
        """*Re-zero neutral*: each control's offset set so that the raw value ``raw`` ``(K,)`` (the face shown
        now, meant as neutral) becomes 0 — for controls at least ``threshold`` above 0; the others keep theirs."""
        shapes = dict(self.shapes)
        for name, value in zip(control_names, np.asarray(raw, np.float64), strict=True):
            if not math.isfinite(value):
                continue
            response = shapes.get(name, ShapeResponse())
            offset = -response.multiplier * value if value >= threshold else 0.0
            shapes[name] = replace(response, offset=float(np.clip(offset, -1.0, 1.0)))
        return ResponseSet(shapes)

    def to_json(self) -> dict[str, Any]:
        """The set as a response file holds it (``format``, ``version``, ``shapes``)."""
        return {"format": RESPONSE_FORMAT, "version": RESPONSE_VERSION,
                "shapes": {name: r.to_json() for name, r in sorted(self.shapes.items())}}  # fmt: skip

    @classmethod
    def from_json(cls, data: object, control_names: Sequence[str] | None = None, where: str = "response") -> ResponseSet:
        """A set from a response file's data; :class:`ResponseError` (one line, starting with ``where``) when
        it is not one, or names a control not in ``control_names``."""
        if not isinstance(data, dict) or data.get("format") != RESPONSE_FORMAT:
            raise ResponseError(f"{where}: not a shape-response file (format must be {RESPONSE_FORMAT!r})")
        if data.get("version") != RESPONSE_VERSION:
            raise ResponseError(f"{where}: unsupported version {data.get('version')!r} (this studio reads {RESPONSE_VERSION})")
        shapes = data.get("shapes")
        if not isinstance(shapes, dict):
            raise ResponseError(f"{where}: shapes must map control names to responses")
        unknown = [name for name in shapes if control_names is not None and name not in control_names]
        if unknown:
            raise ResponseError(f"{where}: {unknown[0]!r} is not a control of the rig")
        try:
            return cls({name: ShapeResponse.from_json(name, value) for name, value in shapes.items()})
        except ResponseError as error:
            raise ResponseError(f"{where}: {error}") from None


def _smoothed(column: np.ndarray, time_s: np.ndarray, tau_s: float) -> np.ndarray:
    """A causal exponential moving average with time constant ``tau_s`` over uneven times; NaN frames stay
    NaN and restart it."""
    out = column.copy()
    previous_value = previous_time = None
    for i, (value, t) in enumerate(zip(column, time_s, strict=True)):
        if not math.isfinite(value):
            previous_value = previous_time = None
            continue
        if previous_value is not None:
            alpha = 1.0 - math.exp(-(t - previous_time) / tau_s)
            value = previous_value + alpha * (value - previous_value)
        out[i] = previous_value = value
        previous_time = t
    return out
