"""Temporal filters: One-Euro (causal), zero-phase Butterworth (offline), jitter metric, NaN gaps."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.geometry.temporal_filters import OneEuroFilter, jitter, per_control_jitter, zero_phase_smooth

FPS = 60.0


def _noisy_step(rng: np.random.Generator, frames: int = 240, at: int = 120, controls: int = 3):
    clean = np.where(np.arange(frames)[:, None] >= at, 0.9, 0.1) * np.ones((1, controls))
    return clean, clean + rng.normal(scale=0.02, size=clean.shape)


def _frames_to_reach(curve: np.ndarray, start: int, level: float) -> int:
    return int(np.argmax(curve[start:] >= level))


# ----------------------------------------------------------------------------------------------------------
# jitter
# ----------------------------------------------------------------------------------------------------------


def test_jitter_of_lines_noise_and_gaps():
    t = np.arange(50, dtype=float)
    lines = np.stack([np.full(50, 0.3), 0.01 * t], axis=1)
    assert jitter(lines) == pytest.approx(0.0, abs=1e-12)
    noise = np.random.default_rng(0).normal(scale=0.05, size=(20000, 2))
    assert jitter(noise) == pytest.approx(np.sqrt(6 * 2 / np.pi) * 0.05, rel=0.03)  # E|N(0, 6σ²)|
    curves = np.zeros((6, 2))
    curves[2, 0] = 1.0  # second differences of control 0: 1, 2, 1, 0
    curves[:, 1] = [0.0, 0.0, np.nan, 0.0, 0.0, 0.0]  # only the last triple is finite
    np.testing.assert_allclose(per_control_jitter(curves), [1.0, 0.0])
    assert jitter(curves) == pytest.approx(4.0 / 5.0)
    assert np.isnan(jitter(np.full((5, 2), np.nan)))
    assert np.isnan(per_control_jitter(np.zeros((2, 3)))).all()
    with pytest.raises(ValueError, match=r"\(T, K\)"):
        jitter(np.zeros(10))


# ----------------------------------------------------------------------------------------------------------
# One-Euro
# ----------------------------------------------------------------------------------------------------------


def test_one_euro_reduces_jitter_and_follows_a_fast_step_with_beta():
    rng = np.random.default_rng(1)
    _, noisy = _noisy_step(rng)
    times = np.arange(len(noisy)) / FPS
    adaptive = OneEuroFilter(min_cutoff=1.0, beta=1.0).filter_sequence(times, noisy)
    fixed = OneEuroFilter(min_cutoff=1.0, beta=0.0).filter_sequence(times, noisy)
    assert jitter(noisy[:115]) > 5 * jitter(adaptive[:115])  # steady part: noise smoothed away
    assert _frames_to_reach(adaptive[:, 0], 120, 0.82) <= 4  # 90 % of the step within 4 frames
    assert _frames_to_reach(fixed[:, 0], 120, 0.82) > 15  # without beta the same smoothing lags badly
    ramp_clean = np.linspace(0.0, 1.0, 240)[:, None] * np.ones((1, 2))
    ramp = ramp_clean + rng.normal(scale=0.02, size=ramp_clean.shape)
    filtered = OneEuroFilter(min_cutoff=1.0, beta=1.0).filter_sequence(times, ramp)
    assert jitter(ramp) > 4 * jitter(filtered)
    assert np.abs(filtered[60:] - ramp_clean[60:]).mean() < 0.03


def test_one_euro_nan_frames_continue_or_restart_without_corrupting_state():
    one_euro = OneEuroFilter(min_cutoff=1.0, beta=0.0, max_gap_s=0.5)
    for i in range(30):
        one_euro(i / FPS, np.array([0.2, 0.2]))
    out = one_euro(30 / FPS, np.array([np.nan, 0.2]))  # control 0 unknown in this frame
    assert np.isnan(out[0]) and out[1] == pytest.approx(0.2)
    out = one_euro(31 / FPS, np.array([np.nan, np.nan]))  # no face
    assert np.isnan(out).all()
    # Short gap: continues from the state (smoothed towards the new value, not jumping to it).
    out = one_euro(32 / FPS, np.array([0.8, 0.8]))
    assert np.isfinite(out).all() and 0.2 < out[0] < 0.5 and 0.2 < out[1] < 0.5
    # Long gap: restarts at the new sample.
    out = one_euro(32 / FPS + 1.0, np.array([0.6, np.nan]))
    assert out[0] == pytest.approx(0.6) and np.isnan(out[1])
    with pytest.raises(ValueError, match="timestamps must increase"):
        one_euro(0.0, np.array([0.1, 0.1]))
    with pytest.raises(ValueError, match="shape"):
        one_euro(5.0, np.array([0.1, 0.1, 0.1]))
    one_euro.reset()
    assert one_euro(0.0, np.array([0.7, 0.1, 0.3])) == pytest.approx([0.7, 0.1, 0.3])  # fresh after reset


# ----------------------------------------------------------------------------------------------------------
# Zero-phase smoothing
# ----------------------------------------------------------------------------------------------------------


def test_zero_phase_smoothing_keeps_peaks_in_place_and_removes_noise():
    rng = np.random.default_rng(2)
    frames = np.arange(300)
    bump = 0.1 + 0.7 * np.exp(-0.5 * ((frames - 150) / 8.0) ** 2)
    clean = np.stack([bump, np.roll(bump, -60)], axis=1)  # peaks at 150 and 90
    smoothed_clean = zero_phase_smooth(clean, FPS, cutoff_hz=6.0)
    np.testing.assert_array_equal(smoothed_clean.argmax(axis=0), [150, 90])  # no phase lag
    noisy = clean + rng.normal(scale=0.03, size=clean.shape)
    smoothed = zero_phase_smooth(noisy, FPS, cutoff_hz=6.0)
    assert jitter(noisy) > 15 * jitter(smoothed)
    assert np.abs(smoothed.argmax(axis=0) - [150, 90]).max() <= 1
    assert np.abs(smoothed - clean).mean() < 0.5 * np.abs(noisy - clean).mean()


def test_zero_phase_smoothing_nan_runs_short_runs_and_clipping():
    rng = np.random.default_rng(3)
    curves = np.clip(0.5 + rng.normal(scale=0.1, size=(120, 3)), 0.0, 1.0)
    curves[40:45] = np.nan  # no face: every control
    curves[80:, 2] = np.nan  # one control unknown at the end
    curves[100:106, 0] = 0.0  # control 0 back for a short run after its own gap
    curves[95:100, 0] = np.nan
    curves[106:, 0] = np.nan
    out = zero_phase_smooth(curves, FPS, cutoff_hz=4.0)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(curves))
    np.testing.assert_array_equal(out[100:106, 0], curves[100:106, 0])  # too short to filter: as is
    # A run is smoothed on its own: changing the other side of a gap leaves it untouched.
    changed = curves.copy()
    changed[45:, :2] = 1.0
    np.testing.assert_allclose(zero_phase_smooth(changed, FPS, cutoff_hz=4.0)[:40], out[:40])
    assert jitter(out[:40]) < 0.2 * jitter(curves[:40])
    assert out[np.isfinite(out)].min() >= 0.0 and out[np.isfinite(out)].max() <= 1.0
    step = np.repeat([[0.0], [1.0]], 30, axis=0)
    assert zero_phase_smooth(step, FPS).min() == 0.0  # clipped
    assert zero_phase_smooth(step, FPS, clip=None).min() < 0.0  # Butterworth overshoot when not clipped
    with pytest.raises(ValueError, match="cutoff_hz"):
        zero_phase_smooth(curves, 10.0, cutoff_hz=6.0)
    assert zero_phase_smooth(np.zeros((0, 4)), FPS).shape == (0, 4)
