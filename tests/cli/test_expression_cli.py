"""``emotion``, ``track --filter learned`` and ``train …`` from the command line, in real subprocesses."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _main(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=os.environ)


def test_emotion_labels_every_frame_of_a_take_with_the_seven_probabilities(assets_dir, tmp_path):
    from studio.core.expression.emotions import EMOTIONS, EmotionPrototypes, emotion_take_curves
    from studio.core.io.curves import TakeCurves
    from studio.core.rig.definition import RigDefinition

    definition = RigDefinition.ict()
    values, truth = emotion_take_curves(EmotionPrototypes.for_rig(definition), 300, 30.0, seed=11)
    found = np.ones(300, bool)
    found[100:104] = False
    values[~found] = np.nan
    TakeCurves(definition.control_names, np.arange(300) / 30.0, found, values).write_csv(tmp_path / "take.csv")
    result = _main("emotion", str(tmp_path / "take.csv"), "--out", str(tmp_path / "emotions.csv"))
    assert result.returncode == 0, result.stderr
    assert "300 frames (296 with a face)" in result.stdout
    lines = (tmp_path / "emotions.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# simon-says-emotions v1"
    rows = list(csv.DictReader(lines[1:]))
    assert list(rows[0]) == ["frame", "time_s", "emotion", *(f"p_{e}" for e in EMOTIONS)] and len(rows) == 300
    assert rows[101]["emotion"] == "" and rows[101]["p_anger"] == ""
    labels = np.array([EMOTIONS.index(r["emotion"]) if r["emotion"] else -1 for r in rows])
    probabilities = np.array([[float(r[f"p_{e}"]) for e in EMOTIONS] for r in rows if r["emotion"]])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=2e-3)
    assert (labels[found] == truth[found]).mean() > 0.85  # transitions are ambiguous by nature


def test_a_take_tracked_with_the_learned_filter_is_smoother_than_unfiltered(assets_dir, tmp_path, short_clip):
    from studio.core.geometry.temporal_filters import jitter
    from studio.core.io.curves import TakeCurves

    clip = short_clip(tmp_path / "clip.avi")
    for name in ("none", "learned"):
        result = _main("track", str(clip), "--out", str(tmp_path / f"{name}.csv"), "--filter", name, "--quiet")
        assert result.returncode == 0, result.stderr
    raw, learned = (TakeCurves.read_csv(tmp_path / f"{n}.csv") for n in ("none", "learned"))
    assert learned.num_frames == raw.num_frames
    assert jitter(learned.values) < 0.7 * jitter(raw.values)
