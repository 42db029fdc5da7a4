"""``bench emotion``: emotion recognition on controls and through the image path, and the emotion
consistency of retargeting.

- **controls**: held-out synthetic expressions (persons the classifier never saw), per-emotion accuracy.
- **image**: synthetic performers (their own identity and motion signature θ_GT, gentle head motion, seeds
  the classifier was not tuned on) rendered holding expressions, seen by MediaPipe, solved by the landmark
  tracker, classified; beside it MediaPipe's own 52 blendshapes mapped to the rig's controls and classified
  by the same network — the peer a user would pick.
- **retarget**: synthetic emotional takes (held emotions, transitions, speech, blinks) rendered, tracked,
  retargeted to the stylized and the game target; per frame the emotion on the performer against the
  emotion on the target (a game rig through its own controls' ICT shapes); agreement per take, frame by
  frame and with the probabilities averaged over 0.2 s (as the review's strip and ``emotion`` show them).
  The same on the takes' curves without the image path, as a diagnostic.

Confusion matrices are written as PNGs next to ``--json`` (or in ``--png-dir``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from studio.core.expression.classifier import EmotionRecognizer, confusion_matrix, per_emotion_accuracy
from studio.core.expression.emotions import (
    EMOTIONS,
    EmotionPrototypes,
    ExpressionSampler,
    emotion_take_curves,
)

__all__ = ["draw_confusion", "run_emotion_benchmark"]

#: Seeds of the image path's performers and takes: none is a training or held-out seed of the classifier.
IMAGE_SEEDS = (501, 502, 503, 504, 505, 506)
SMOOTH_S = 0.2  # the review strip's and the ``emotion`` command's averaging window
TAKE_SEEDS = (601, 602, 603)


def draw_confusion(matrix: np.ndarray, title: str, path: Path) -> Path:
    """A confusion matrix (rows true, columns recognised) as a PNG: fractions per row, shaded."""
    import cv2

    cell, left, top = 72, 110, 70
    size = len(EMOTIONS)
    image = np.full((top + cell * size + 44, left + cell * size + 20, 3), 255, np.uint8)
    rows = matrix.sum(axis=1, keepdims=True).clip(min=1)
    fractions = matrix / rows
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(image, title, (10, 24), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    for i, name in enumerate(EMOTIONS):
        cv2.putText(image, name[:9], (6, top + i * cell + cell // 2 + 5), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(image, name[:5], (left + i * cell + 10, top - 10), font, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        for j in range(size):
            value = fractions[i, j]
            shade = int(255 - 200 * value)
            colour = (255, shade, shade) if i == j else (shade, shade, 255)
            x0, y0 = left + j * cell, top + i * cell
            cv2.rectangle(image, (x0, y0), (x0 + cell - 2, y0 + cell - 2), colour, -1)
            text = f"{100 * value:.0f}" if matrix[i, j] else "."
            cv2.putText(image, text, (x0 + 22, y0 + cell // 2 + 5), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, "rows: performed, columns: recognised, % of each row", (left, top + cell * size + 28), font,
                0.45, (0, 0, 0), 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)
    return path


def run_emotion_benchmark(per_emotion_image: int = 10, controls_per_emotion: int = 1000,
                          take_seconds: float = 20.0, png_dir: str | Path | None = None,
                          model: str | None = None) -> dict:
    """Run the three measurements (module docstring).

    Returns
    -------
    dict
        ``controls`` and ``image``: ``accuracy.<emotion>``, ``accuracy_overall``, ``confusion`` (and the
        PNG path); ``image.mediapipe_blendshapes``: the same for MediaPipe's own blendshapes;
        ``retarget.<target>``: agreement per take on the image path and on the curves; ``seconds``.
    """
    from studio.core.jobs import run_job
    from studio.core.retarget.emotion import emotion_tracks, shown_controls
    from studio.core.retarget.targets import load_target
    from studio.core.tracking.rig_bundle import RigBundle
    from studio.render.emotion_data import track_rendered, tracked_expressions_job

    started = time.perf_counter()
    bundle = RigBundle.load()
    definition = bundle.definition
    recognizer = EmotionRecognizer.load(model, definition.control_names)
    prototypes = EmotionPrototypes.for_rig(definition)
    png = Path(png_dir) if png_dir is not None else None
    report: dict = {"benchmark": "emotion", "model": recognizer.metadata.get("command", ""),
                    "emotions": list(EMOTIONS)}

    def figures(truth: np.ndarray, predicted: np.ndarray, title: str, name: str) -> dict:
        matrix = confusion_matrix(truth, predicted)
        out = {"accuracy": per_emotion_accuracy(truth, predicted),
               "accuracy_overall": float((truth == predicted).mean()), "samples": int(len(truth)),
               "confusion": matrix.tolist()}
        if png is not None:
            out["confusion_png"] = str(draw_confusion(matrix, title, png / f"emotion_confusion_{name}.png"))
        return out

    # -- controls: persons never seen ------------------------------------------------------------------
    held = ExpressionSampler(prototypes, persons=100, seed=20_000)
    controls, labels, _ = held.sample(controls_per_emotion * len(EMOTIONS))
    report["controls"] = figures(labels, recognizer.labels(controls), "controls: held-out persons", "controls")

    # -- image path: rendered performers through MediaPipe and the tracker --------------------------------
    seen = run_job(tracked_expressions_job(bundle, IMAGE_SEEDS, per_emotion_image))
    found = np.isfinite(seen.tracked).all(axis=1)
    truth = seen.labels[found]
    report["image"] = figures(truth, recognizer.labels(seen.tracked[found]), "image: render > MediaPipe > tracker",
                              "image")
    report["image"]["performers"] = list(IMAGE_SEEDS)
    report["image"]["face_fraction"] = float(found.mean())
    report["image"]["mediapipe_blendshapes"] = figures(
        truth, recognizer.labels(seen.mediapipe[found]), "image: MediaPipe's blendshapes", "image_mediapipe")

    # -- retargeting: emotion on the performer and on each target ----------------------------------------
    fps = 30.0
    targets = {name: load_target(name, bundle.rig) for name in ("toon", "rook")}
    retarget: dict = {name: {"kind": t.kind, "takes": []} for name, t in targets.items()}
    for seed in TAKE_SEEDS:
        curves, take_labels = emotion_take_curves(prototypes, int(take_seconds * fps), fps, seed)
        tracked, _, found = run_job(track_rendered(bundle, curves, seed))
        for name, target in targets.items():
            entry = {"seed": seed, "frames": int(len(curves))}
            for path, performer_curves in (("image", tracked), ("curves", curves)):
                shown = shown_controls(performer_curves, target)  # retargeted once, read twice
                tracks = emotion_tracks(performer_curves, shown, recognizer)
                entry[f"agreement_{path}"] = tracks.agreement
                entry[f"agreement_{path}_smoothed"] = emotion_tracks(
                    performer_curves, shown, recognizer, int(round(SMOOTH_S * fps))).agreement
                if path == "image":
                    entry["performer_accuracy_image"] = float((tracks.performer[found] == take_labels[found]).mean())
            retarget[name]["takes"].append(entry)
    for entry in retarget.values():
        for path in ("image", "curves", "image_smoothed", "curves_smoothed"):
            entry[f"agreement_{path}"] = float(np.mean([take[f"agreement_{path}"] for take in entry["takes"]]))
    report["retarget"] = retarget
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report
