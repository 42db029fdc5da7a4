"""Temporal filters for control curves: the causal One-Euro filter (live) and zero-phase smoothing (offline).

Curves are arrays ``(T, K)``: ``T`` frames of ``K`` controls (unitless, usually in [0, 1]). Frames without a
face are NaN and stay NaN through every filter here; they never leak into the neighbouring frames.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal


def _check_curves(name: str, curves: np.ndarray) -> np.ndarray:
    curves = np.asarray(curves, np.float64)
    if curves.ndim != 2:
        raise ValueError(f"{name} must have shape (T, K), got {curves.shape}")
    return curves


# ----------------------------------------------------------------------------------------------------------
# One-Euro filter (causal, for live tracking)
# ----------------------------------------------------------------------------------------------------------


def _smoothing_factor(dt_s: np.ndarray, cutoff_hz: np.ndarray | float) -> np.ndarray:
    """Exponential smoothing factor ``α = 1 / (1 + τ/Δt)`` with ``τ = 1 / (2π f_c)``."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, np.float64))
    return 1.0 / (1.0 + tau / dt_s)


class OneEuroFilter:
    """The One-Euro filter (Casiez, Roussel and Vogel, CHI 2012), vectorized over ``K`` controls.

    An exponential low-pass whose cut-off rises with the signal's speed: ``f_c = min_cutoff + beta·|ẋ|``,
    where ``ẋ`` is the derivative of the filtered signal, itself low-passed at ``d_cutoff``. Slow motion is
    smoothed hard (little jitter), fast motion passes with little lag.

    Parameters
    ----------
    min_cutoff : float
        Cut-off at rest, Hz. Lower: less jitter, more lag.
    beta : float
        Speed coefficient: cut-off Hz added per unit/s of speed (for unitless controls, ``beta`` is
        unitless). Higher: less lag on fast motion.
    d_cutoff : float
        Cut-off of the derivative's low-pass, Hz.
    max_gap_s : float
        Longest gap (seconds since a control's last finite sample) across which the filter continues; after
        a longer gap it restarts from the new sample.

    Notes
    -----
    Each control keeps its own state (last filtered value, derivative and time). A NaN input (no face, or a
    control that is unknown in that frame) returns NaN for that control and leaves its state untouched. The
    next finite sample then either *continues* from the state, with ``Δt`` the true time since the last
    finite sample (a long ``Δt`` makes ``α`` close to 1, so the output catches up at once), or, when the gap
    exceeds ``max_gap_s``, *restarts*: the output is the sample itself and the derivative is reset to 0.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0, max_gap_s: float = 0.5):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0 or max_gap_s <= 0:
            raise ValueError("min_cutoff, d_cutoff and max_gap_s must be > 0 and beta >= 0")
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.max_gap_s = float(max_gap_s)
        self.reset()

    def reset(self) -> None:
        """Forget all state: the next sample of every control starts the filter afresh."""
        self._value: np.ndarray | None = None  # (K,) last filtered value
        self._derivative: np.ndarray | None = None  # (K,) last filtered derivative, units/s
        self._time_s: np.ndarray | None = None  # (K,) time of the last finite sample, NaN if none yet

    def __call__(self, t_s: float, x: np.ndarray) -> np.ndarray:
        """Filter one frame.

        Parameters
        ----------
        t_s : float
            Time of the frame, seconds; must increase from call to call (for controls with a finite sample).
        x : np.ndarray
            Control values, shape ``(K,)``; NaN where unknown.

        Returns
        -------
        np.ndarray
            Filtered values, shape ``(K,)``, float64; NaN where ``x`` is NaN.
        """
        x = np.asarray(x, np.float64)
        if x.ndim != 1:
            raise ValueError(f"x must have shape (K,), got {x.shape}")
        if self._value is None:
            self._value = np.full(x.shape, np.nan)
            self._derivative = np.zeros(x.shape)
            self._time_s = np.full(x.shape, np.nan)
        elif x.shape != self._value.shape:
            raise ValueError(f"x must have shape {self._value.shape} (as on earlier calls), got {x.shape}")
        finite = np.isfinite(x)
        dt = t_s - self._time_s  # NaN where there is no previous sample
        if np.any(finite & (dt <= 0)):
            raise ValueError(f"timestamps must increase: got {t_s} s after {np.nanmax(self._time_s)} s")
        restart = finite & ~(dt <= self.max_gap_s)  # no previous sample, or the gap is too long
        update = finite & ~restart
        out = np.full(x.shape, np.nan)
        out[restart] = x[restart]
        self._derivative[restart] = 0.0
        if update.any():
            dt_u = dt[update]
            previous = self._value[update]
            derivative = (x[update] - previous) / dt_u
            a_d = _smoothing_factor(dt_u, self.d_cutoff)
            derivative = a_d * derivative + (1.0 - a_d) * self._derivative[update]
            cutoff = self.min_cutoff + self.beta * np.abs(derivative)
            a = _smoothing_factor(dt_u, cutoff)
            out[update] = a * x[update] + (1.0 - a) * previous
            self._derivative[update] = derivative
        self._value[finite] = out[finite]
        self._time_s[finite] = t_s
        return out

    def filter_sequence(self, times_s: np.ndarray, curves: np.ndarray) -> np.ndarray:
        """Filter a whole sequence frame by frame, continuing from the current state.

        Parameters
        ----------
        times_s : np.ndarray
            Frame times, shape ``(T,)``, seconds, increasing.
        curves : np.ndarray
            Shape ``(T, K)``; NaN where unknown.

        Returns
        -------
        np.ndarray
            Filtered curves, shape ``(T, K)``, float64.
        """
        curves = _check_curves("curves", curves)
        times_s = np.asarray(times_s, np.float64)
        if times_s.shape != (curves.shape[0],):
            raise ValueError(f"times_s must have shape ({curves.shape[0]},), got {times_s.shape}")
        out = np.empty_like(curves)
        for i, (t, row) in enumerate(zip(times_s, curves, strict=True)):
            out[i] = self(float(t), row)
        return out


# ----------------------------------------------------------------------------------------------------------
# Zero-phase smoothing (offline)
# ----------------------------------------------------------------------------------------------------------


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ``(start, stop)`` of each run of True in a 1-D boolean mask (runs of frames with a face, or
    without one: ``true_runs(~found)``)."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def zero_phase_smooth(
    curves: np.ndarray,
    fps: float,
    cutoff_hz: float = 6.0,
    order: int = 2,
    clip: tuple[float, float] | None = (0.0, 1.0),
) -> np.ndarray:
    """Low-pass control curves without phase lag: a Butterworth filter run forwards and backwards.

    ``scipy.signal.sosfiltfilt`` with odd-extension padding: the magnitude response is the Butterworth's
    squared (−6 dB at ``cutoff_hz``, effective order ``2·order``) and the phase is zero, so peaks and onsets
    stay on their frames. Offline only (it needs the future).

    Parameters
    ----------
    curves : np.ndarray
        Shape ``(T, K)``, unitless; NaN in frames without a face (or unknown controls).
    fps : float
        Frame rate, Hz (frames are taken as evenly spaced).
    cutoff_hz : float
        Cut-off, Hz; must be below the Nyquist frequency ``fps / 2``.
    order : int
        Butterworth order of the one-way filter.
    clip : tuple of float, optional
        ``(low, high)`` bounds the smoothed values are clipped back into (controls live in [0, 1] and the
        filter overshoots a little at steps); ``None`` keeps them as they come.

    Returns
    -------
    np.ndarray
        Smoothed curves, shape ``(T, K)``, float64. NaN entries stay NaN. Each run of consecutive finite
        frames of a control is smoothed on its own, so gaps never blend into their neighbours; runs no longer
        than ``sosfiltfilt``'s default padding (9 frames for order 2, 12 for order 3) are returned unsmoothed
        (but clipped).
    """
    curves = _check_curves("curves", curves)
    if fps <= 0 or not 0 < cutoff_hz < fps / 2:
        raise ValueError(f"cutoff_hz must be in (0, fps/2) = (0, {fps / 2:g}) Hz, got {cutoff_hz}")
    sos = signal.butter(order, cutoff_hz, btype="low", fs=fps, output="sos")
    padlen = 3 * (2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum())))
    out = curves.copy()
    finite = np.isfinite(curves)
    if curves.size:
        # Controls sharing a finite mask (typically all of them: NaN rows for no face) are filtered together.
        patterns, column_group = np.unique(finite.T, axis=0, return_inverse=True)
        for group, pattern in enumerate(patterns):
            columns = np.flatnonzero(column_group.ravel() == group)
            for start, stop in true_runs(pattern):
                if stop - start > padlen:
                    out[start:stop, columns] = signal.sosfiltfilt(sos, curves[start:stop, columns], axis=0)
    if clip is not None:
        out = np.clip(out, clip[0], clip[1])  # NaN stays NaN
    return out


# ----------------------------------------------------------------------------------------------------------
# Jitter
# ----------------------------------------------------------------------------------------------------------


def _second_differences(curves: np.ndarray) -> np.ndarray:
    curves = _check_curves("curves", curves)
    return np.abs(curves[2:] - 2.0 * curves[1:-1] + curves[:-2])  # NaN where any of the 3 frames is NaN


def per_control_jitter(curves: np.ndarray) -> np.ndarray:
    """Mean absolute second difference of each control over the frames where it is defined.

    Parameters
    ----------
    curves : np.ndarray
        Shape ``(T, K)``; NaN where unknown.

    Returns
    -------
    np.ndarray
        Shape ``(K,)``: ``mean_t |c_{t+1} − 2 c_t + c_{t−1}|`` over the triples of finite frames, in the
        curves' units per frame² (unitless for controls; it depends on the frame rate). NaN for a control with
        no three consecutive finite frames.
    """
    second = _second_differences(curves)
    finite = np.isfinite(second)
    count = finite.sum(axis=0)
    total = np.where(finite, second, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def jitter(curves: np.ndarray) -> float:
    """Jitter of a take: the mean absolute second difference over all finite entries.

    ``mean |c_{t+1} − 2 c_t + c_{t−1}|`` over every control and every triple of consecutive finite frames,
    i.e. per control per frame, in the curves' units (unitless for controls). A constant or linear curve has
    jitter 0; white noise of standard deviation ``σ`` has about ``1.95 σ``. It depends on the frame rate:
    compare takes at the same fps.

    Parameters
    ----------
    curves : np.ndarray
        Shape ``(T, K)``; NaN where unknown.

    Returns
    -------
    float
        The jitter; NaN when no control has three consecutive finite frames.
    """
    second = _second_differences(curves)
    finite = np.isfinite(second)
    return float(second[finite].mean()) if finite.any() else float("nan")
