"""The generative expression model: the shipped weights' samples and transitions, one training step."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.expression.classifier import EmotionRecognizer
from studio.core.expression.emotions import EMOTIONS
from studio.core.expression.generator import ExpressionGenerator, train_generator_job
from studio.core.expression.model_files import model_path
from studio.core.jobs import run_job
from studio.core.rig.definition import RigDefinition


@pytest.fixture(scope="module")
def generator() -> ExpressionGenerator:
    return ExpressionGenerator.load(None, RigDefinition.ict().control_names)[0]


def test_samples_are_the_requested_emotion_in_range_and_varied(generator):
    recognizer = EmotionRecognizer.load()
    for emotion in EMOTIONS:
        samples = generator.sample(emotion, 1.0, 60, seed=1)
        assert samples.shape == (60, 53) and samples.min() >= 0.0 and samples.max() <= 1.0
        assert (recognizer.labels(samples) == EMOTIONS.index(emotion)).mean() >= 0.8, emotion
    happy = generator.sample("happiness", 1.0, 60, seed=1)
    assert np.linalg.norm(happy[:30] - happy[30:], axis=1).mean() > 0.05  # variations differ
    smile = RigDefinition.ict().control_names.index("mouthSmile_L")
    assert generator.sample("happiness", 1.4, 60, seed=1)[:, smile].mean() > happy[:, smile].mean()  # exaggerated
    assert model_path("generator").stat().st_size < 5 * 2**20
    with pytest.raises(ValueError, match="intensity"):
        generator.sample("anger", 2.0, 1)
    with pytest.raises(ValueError, match="unknown emotion"):
        generator.sample("joy", 1.0, 1)


def test_a_transition_goes_smoothly_from_one_expression_to_the_other(generator):
    curves = generator.transition(("anger", 1.0), ("happiness", 1.0), 30, seed=2)
    recognizer = EmotionRecognizer.load()
    labels = recognizer.labels(curves)
    assert labels[0] == EMOTIONS.index("anger") and labels[-1] == EMOTIONS.index("happiness")
    assert np.abs(np.diff(curves, axis=0)).max() < 0.2


def test_one_training_step_writes_a_generator_that_loads(tmp_path):
    figures = run_job(train_generator_job(RigDefinition.ict(), tmp_path / "g.pt", steps=1, batch=8))
    assert figures["steps"] == 1 and np.isfinite(figures["reconstruction"])
    generator, metadata = ExpressionGenerator.load(tmp_path / "g.pt")
    assert generator.sample("fear", 1.0, 2).shape == (2, 53) and metadata["steps"] == 1
