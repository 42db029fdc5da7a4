"""The emotion classifier: the shipped weights on held-out persons, one training step, its file, labelling."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.expression.classifier import (
    EmotionRecognizer,
    emotion_agreement,
    per_emotion_accuracy,
    smooth_probabilities,
    train_emotion_job,
)
from studio.core.expression.emotions import EMOTIONS, EmotionPrototypes, ExpressionSampler
from studio.core.expression.model_files import ModelFileError, model_path
from studio.core.jobs import JobCancelled, run_job
from studio.core.rig.definition import RigDefinition


@pytest.fixture(scope="module")
def recognizer() -> EmotionRecognizer:
    return EmotionRecognizer.load(None, RigDefinition.ict().control_names)


def test_the_shipped_classifier_recognises_every_emotion_of_persons_it_never_saw(recognizer):
    prototypes = EmotionPrototypes.for_rig(RigDefinition.ict())
    controls, labels, _ = ExpressionSampler(prototypes, persons=50, seed=4242).sample(7 * 150)
    accuracy = per_emotion_accuracy(labels, recognizer.labels(controls))
    assert min(accuracy.values()) >= 0.95, accuracy
    assert model_path("emotion").stat().st_size < 5 * 2**20
    assert recognizer.metadata["command"].startswith("python main.py train emotion")


def test_labels_and_probabilities_keep_frames_without_a_face_empty(recognizer):
    prototypes = EmotionPrototypes.for_rig(RigDefinition.ict())
    controls = np.stack([prototypes.prototype("happiness"), np.full(53, np.nan), prototypes.prototype("surprise")])
    probabilities = recognizer.probabilities(controls)
    assert probabilities.shape == (3, 7) and np.isnan(probabilities[1]).all()
    np.testing.assert_allclose(probabilities[[0, 2]].sum(axis=1), 1.0, atol=1e-5)
    assert recognizer.labels(controls).tolist() == [EMOTIONS.index("happiness"), -1, EMOTIONS.index("surprise")]
    with pytest.raises(ValueError, match="shape"):
        recognizer.probabilities(np.zeros((2, 5)))


def test_smoothing_removes_single_frame_flips_and_agreement_skips_empty_frames():
    probabilities = np.tile([[0.9, 0.1]], (9, 1))
    probabilities[4] = [0.2, 0.8]  # one frame flips
    probabilities[7] = np.nan
    smoothed = smooth_probabilities(probabilities, 5)
    assert smoothed[4].argmax() == 0 and np.isnan(smoothed[7]).all()
    np.testing.assert_array_equal(smooth_probabilities(probabilities, 1), probabilities)
    assert emotion_agreement(np.array([1, 2, -1, 3]), np.array([1, 0, 2, 3])) == pytest.approx(2 / 3)
    assert np.isnan(emotion_agreement(np.array([-1]), np.array([2])))


def test_one_training_step_writes_a_file_that_loads_and_cancel_writes_nothing(tmp_path):
    definition = RigDefinition.ict()
    seen = (np.random.default_rng(0).random((20, 53)).astype(np.float32), np.arange(20) % 7)
    figures = run_job(train_emotion_job(definition, tmp_path / "one.pt", steps=1, batch=16, seen=seen))
    assert figures["steps"] == 1 and figures["seen_samples"] == 20 and len(figures["held_out"]["confusion"]) == 7
    assert EmotionRecognizer.load(tmp_path / "one.pt").labels(np.zeros((1, 53))).shape == (1,)
    with pytest.raises(JobCancelled):
        run_job(train_emotion_job(definition, tmp_path / "never.pt", steps=5, cancel=lambda: True))
    assert not (tmp_path / "never.pt").exists()


def test_a_wrong_model_file_says_what_is_wrong_in_one_line(tmp_path):
    with pytest.raises(ModelFileError, match="no such emotion model"):
        EmotionRecognizer.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="not a model file"):
        EmotionRecognizer.load(tmp_path / "junk.pt")
    with pytest.raises(ModelFileError, match="holds the temporal model, not the emotion model"):
        EmotionRecognizer.load(model_path("temporal"))
    with pytest.raises(ModelFileError, match="other controls"):
        EmotionRecognizer.load(None, ("a", "b"))
