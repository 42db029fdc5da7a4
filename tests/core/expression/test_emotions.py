"""The emotions written in the rig's controls through its FACS units, and the synthetic expressions."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.expression.emotions import (
    EMOTIONS,
    EmotionError,
    EmotionPrototypes,
    ExpressionSampler,
    emotion_take_curves,
)
from studio.core.rig.definition import RigDefinition


@pytest.fixture(scope="module")
def prototypes() -> EmotionPrototypes:
    return EmotionPrototypes.for_rig(RigDefinition.ict())


def _value(prototypes: EmotionPrototypes, emotion: str, control: str) -> float:
    return float(prototypes.required[EMOTIONS.index(emotion), prototypes.control_names.index(control)])


def test_prototypes_move_the_controls_that_carry_their_action_units(prototypes):
    assert _value(prototypes, "happiness", "mouthSmile_L") > 0.5 and _value(prototypes, "happiness", "cheekSquint_R") > 0.3
    assert _value(prototypes, "anger", "browDown_L") > 0.5 and _value(prototypes, "anger", "mouthPress_R") > 0.3  # AU23 → AU24
    assert _value(prototypes, "surprise", "jawOpen") == pytest.approx(0.45)  # AU26 = half of jawOpen
    assert _value(prototypes, "disgust", "noseSneer_L") > 0.5
    assert not prototypes.required[EMOTIONS.index("neutral")].any()
    for emotion in EMOTIONS[1:]:  # every emotion is written in the rig and they all differ
        assert prototypes.required[EMOTIONS.index(emotion)].sum() > 1.0
    assert len({tuple(np.round(row, 3)) for row in prototypes.required}) == len(EMOTIONS)
    assert "FACS2002" in prototypes.sources["fear"]


def test_a_rig_without_an_action_unit_is_refused_in_one_line():
    import json

    from studio.core.io.resources import RIGS_DIR

    data = json.loads((RIGS_DIR / "ict_facekit.json").read_text(encoding="utf-8"))
    for control in data["controls"]:
        control["facs"] = [unit for unit in control["facs"] if unit != "AU12"]
    with pytest.raises(EmotionError, match="happiness needs AU12"):
        EmotionPrototypes.for_rig(RigDefinition.from_dict(data))


def test_samples_are_balanced_in_range_and_vary_by_person(prototypes):
    sampler = ExpressionSampler(prototypes, persons=10, seed=3)
    controls, labels, level = sampler.sample(700)
    assert controls.shape == (700, len(prototypes.control_names)) and controls.dtype == np.float32
    assert controls.min() >= 0.0 and controls.max() <= 1.0
    assert np.bincount(labels).tolist() == [100] * 7
    assert (level[labels == 0] == 0).all() and level[labels > 0].min() >= 0.3
    smile = prototypes.control_names.index("mouthSmile_L")
    happy = controls[labels == EMOTIONS.index("happiness"), smile]
    assert happy.mean() > 0.3 and happy.std() > 0.05  # intensities, shares and persons vary
    clean = ExpressionSampler(prototypes, seed=3, noise=0.0, distractors=False).sample(70)[0]
    blink = prototypes.control_names.index("eyeBlink_L")
    assert clean[:, blink].max() < 0.2  # no blinks without distractors (rest tone only)
    assert ExpressionSampler(prototypes, persons=10, seed=3).sample(7)[0].tolist() == \
        ExpressionSampler(prototypes, persons=10, seed=3).sample(7)[0].tolist()


def test_an_emotion_take_holds_emotions_with_eased_transitions(prototypes):
    curves, labels = emotion_take_curves(prototypes, 600, 30.0, seed=2, speech=False)
    assert curves.shape == (600, len(prototypes.control_names)) and labels.shape == (600,)
    assert len(np.unique(labels)) >= 4
    steady = [k for k, name in enumerate(prototypes.control_names) if not name.startswith("eyeBlink")]
    assert np.abs(np.diff(curves[:, steady], axis=0)).max() < 0.2  # eased, no jumps (blinks are quick)
