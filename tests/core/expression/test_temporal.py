"""The learned temporal model: the noise model, the shipped weights on noisy curves, live streaming, training."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.expression.model_files import model_path
from studio.core.expression.temporal import (
    CausalDenoiserStream,
    TemporalModels,
    TrackingNoise,
    denoise_curves,
    measure_tracking_noise,
    noisy_curves,
    train_temporal_job,
)
from studio.core.geometry.temporal_filters import OneEuroFilter
from studio.core.jobs import run_job
from studio.core.rig.control_curves import moderate_expression_curves
from studio.core.rig.definition import RigDefinition


@pytest.fixture(scope="module")
def models() -> TemporalModels:
    return TemporalModels.load(None, RigDefinition.ict().control_names)[0]


def test_the_noise_model_recovers_white_noise_and_dropouts():
    rng = np.random.default_rng(0)
    sigma = np.linspace(0.01, 0.04, 6)
    truth = 0.5 + 0.2 * np.sin(np.linspace(0, 6, 900))[:, None] * np.ones(6)
    noisy = truth + rng.normal(0.0, 1.0, truth.shape) * sigma
    noisy[100:105] = np.nan
    noise = measure_tracking_noise([noisy], 30.0)
    np.testing.assert_allclose(noise.sigma, sigma, rtol=0.15)
    assert noise.dropout_fraction == pytest.approx(5 / 900) and noise.gap_frames_mean == 5
    batch = noisy_curves(np.repeat(truth[None].astype(np.float32), 4, 0), noise, rng, gap_probability=1.0)
    assert batch.shape == (4, 900, 6) and (np.isnan(batch).all(axis=2).sum(axis=1) >= 1).all()


def _noisy_take(models, seed=5):
    names = RigDefinition.ict().control_names
    truth = moderate_expression_curves(names, 300, fps=30.0, seed=seed, max_value=0.8)
    noise = TrackingNoise(sigma=tuple([0.02] * len(names)), correlation=0.0, dropout_fraction=0.0,
                          gap_frames_mean=1.0, frames=0)
    raw = noisy_curves(truth[None], noise, np.random.default_rng(seed), scale=(1.0, 1.0), gap_probability=0.0)[0]
    raw[150:160] = np.nan
    return truth, raw.astype(np.float64)


def test_the_shipped_model_removes_jitter_at_rest_and_fills_a_gap(models):
    truth, raw = _noisy_take(models)
    offline = denoise_curves(models, raw)
    causal = denoise_curves(models, raw, causal=True)
    rest = slice(5, 40)  # the performance starts at neutral
    second = lambda c: np.abs(np.diff(c[rest], n=2, axis=0)).mean()  # noqa: E731
    euro = OneEuroFilter(1.5, 2.0)
    one_euro = np.stack([euro(t / 30.0, row) for t, row in enumerate(raw)])
    assert second(causal) < 0.5 * second(one_euro) and second(offline) < 0.5 * second(one_euro)
    assert np.isfinite(offline).all() and np.isfinite(causal).all()  # the gap is filled
    assert np.abs(offline[150:160] - truth[150:160]).mean() < 0.05
    assert np.abs(offline - truth).mean() < np.nanmean(np.abs(raw - truth))
    assert model_path("temporal").stat().st_size < 5 * 2**20


def test_the_live_stream_gives_the_causal_model_frame_by_frame(models):
    _, raw = _noisy_take(models, seed=6)
    batch = denoise_curves(models, raw[:80], causal=True)
    stream = CausalDenoiserStream(models)
    frames = np.stack([stream(t / 30.0, row) for t, row in enumerate(raw[:80])])
    np.testing.assert_allclose(frames, batch, atol=1e-4)
    stream.reset()
    assert np.isnan(stream(0.0, np.full(53, np.nan))).all()  # nothing seen yet


def test_one_training_step_writes_models_that_load(tmp_path):
    noise = TrackingNoise(sigma=tuple([0.02] * 53), correlation=0.0, dropout_fraction=0.01, gap_frames_mean=2.0,
                          frames=10, clips=("x.mp4",))
    figures = run_job(train_temporal_job(RigDefinition.ict(), noise, tmp_path / "t.pt", steps=1, batch=2))
    assert figures["steps"] == 1 and np.isfinite(figures["loss"])
    models, metadata = TemporalModels.load(tmp_path / "t.pt")
    assert list(metadata["noise"]["clips"]) == ["x.mp4"] and models.offline.lookahead == 8
