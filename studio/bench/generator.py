"""``bench generator``: the generative expression model's samples and transitions, judged.

- **agreement**: per emotion and intensity (0.6, 1.0 and exaggerated 1.3), 200 samples of the prior; the
  fraction the emotion classifier recognises as the requested emotion;
- **violations**: the same samples through :func:`studio.core.rig.validity.violations` (out of range, the
  rig's corrective constraints passed through, opposite controls on together);
- **diversity**: the mean distance between two samples of the same request (controls, L2), next to the same
  figure for the synthetic expressions the model was trained on (the data's own variety);
- **transitions**: 30-frame transitions between every pair of emotions (at 1.0): the largest per-frame
  control step, and the violations of every frame;
- **image**: the agreement through the image path: 10 samples of each emotion (intensity 1.0) performed by
  2 unseen synthetic performers (seeds 801, 802), rendered, read back by MediaPipe and the landmark tracker
  (and MediaPipe's own blendshapes, the peer), classified.
"""

from __future__ import annotations

import time

import numpy as np

from studio.core.expression.classifier import EmotionRecognizer, per_emotion_accuracy
from studio.core.expression.emotions import EMOTIONS, EmotionPrototypes, ExpressionSampler
from studio.core.expression.generator import ExpressionGenerator
from studio.core.rig.validity import violations

__all__ = ["run_generator_benchmark"]

INTENSITIES = (0.6, 1.0, 1.3)
IMAGE_PERFORMERS = (801, 802)
IMAGE_SAMPLES = 10
SAMPLES = 200
TRANSITION_FRAMES = 30


def _diversity(samples: np.ndarray, rng: np.random.Generator) -> float:
    a, b = rng.integers(0, len(samples), (2, 500))
    keep = a != b
    return float(np.linalg.norm(samples[a[keep]] - samples[b[keep]], axis=1).mean())


def run_generator_benchmark(seed: int = 0, model: str | None = None, classifier: str | None = None) -> dict:
    """Run the measurements (module docstring)."""
    from studio.core.tracking.rig_bundle import RigBundle

    started = time.perf_counter()
    bundle = RigBundle.load()
    rig, definition = bundle.rig, bundle.definition
    generator, metadata = ExpressionGenerator.load(model, definition.control_names)
    recognizer = EmotionRecognizer.load(classifier, definition.control_names)
    prototypes = EmotionPrototypes.for_rig(definition)
    rng = np.random.default_rng(seed)
    report: dict = {"benchmark": "generator", "model": metadata.get("command", ""), "samples": SAMPLES}
    agreement: dict = {}
    diversity: dict = {}
    all_samples = []
    for intensity in INTENSITIES:
        key = f"{intensity:g}"
        agreement[key], diversity[key] = {}, {}
        for e, emotion in enumerate(EMOTIONS):
            samples = generator.sample(emotion, intensity, SAMPLES, seed=seed + 17 * e + int(100 * intensity))
            all_samples.append(samples)
            agreement[key][emotion] = float((recognizer.labels(samples) == e).mean())
            data = ExpressionSampler(prototypes, persons=200, seed=seed + 99, noise=0.0, distractors=False).sample(
                SAMPLES, emotions=np.full(SAMPLES, e), intensities=np.full(SAMPLES, 0.0 if e == 0 else intensity))[0]
            diversity[key][emotion] = {"generated": _diversity(samples, rng), "data": _diversity(data, rng)}
        agreement[key]["all"] = float(np.mean([agreement[key][e] for e in EMOTIONS]))
    report["agreement"] = agreement
    report["diversity"] = diversity
    report["violations"] = violations(rig, definition, np.concatenate(all_samples))
    steps, frames = [], []
    for a in EMOTIONS:
        for b in EMOTIONS:
            if a == b:
                continue
            curves = generator.transition((a, 1.0), (b, 1.0), TRANSITION_FRAMES, seed=seed)
            steps.append(float(np.abs(np.diff(curves, axis=0)).max()))
            frames.append(curves)
    report["transitions"] = {
        "frames": TRANSITION_FRAMES,
        "pairs": len(steps),
        "largest_step": float(np.max(steps)),
        "mean_largest_step": float(np.mean(steps)),
        "violations": violations(rig, definition, np.concatenate(frames)),
    }
    report["image"] = _image_agreement(bundle, generator, recognizer, seed)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def _image_agreement(bundle, generator: ExpressionGenerator, recognizer: EmotionRecognizer, seed: int) -> dict:
    """The requested emotion recognised through renders → MediaPipe → tracker (module docstring)."""
    from studio.core.jobs import run_job
    from studio.render.emotion_data import HOLD_FRAMES, track_rendered

    truth, ours, peer = [], [], []
    for performer in IMAGE_PERFORMERS:
        samples = np.concatenate([generator.sample(emotion, 1.0, IMAGE_SAMPLES, seed=seed + performer + e)
                                  for e, emotion in enumerate(EMOTIONS)])
        labels = np.repeat(np.arange(len(EMOTIONS)), IMAGE_SAMPLES)
        tracked, mediapipe, found = run_job(track_rendered(bundle, np.repeat(samples, HOLD_FRAMES, axis=0), performer))
        last = np.arange(len(labels)) * HOLD_FRAMES + HOLD_FRAMES - 1
        keep = found[last]
        truth.append(labels[keep])
        ours.append(recognizer.labels(tracked[last][keep]))
        peer.append(recognizer.labels(mediapipe[last][keep]))
    truth = np.concatenate(truth)

    def agreement(predicted: np.ndarray) -> dict:
        return {**per_emotion_accuracy(truth, predicted), "all": float((predicted == truth).mean())}

    return {"performers": list(IMAGE_PERFORMERS), "samples": int(len(truth)),
            "agreement": agreement(np.concatenate(ours)),
            "agreement_mediapipe_blendshapes": agreement(np.concatenate(peer))}
