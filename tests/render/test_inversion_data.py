"""The image → controls training data: renders cropped from MediaPipe's landmarks, sharded and resumable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from studio.render.inversion_data import KINDS, crop_box, degrade, encode_normals, random_background

ROOT = Path(__file__).resolve().parents[2]


def test_normals_crops_and_degradations() -> None:
    normals = np.array([[[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]], np.float32)
    encoded = encode_normals(normals)
    assert encoded.dtype == np.uint8 and encoded[0, 0].tolist() == [128, 128, 255]
    assert encoded[0, 1].tolist() == [0, 0, 0] and encoded[0, 2].tolist() == [0, 128, 128]
    landmarks = np.array([[100.0, 50.0, 0.0], [200.0, 250.0, 0.0]])
    x0, y0, side = crop_box(landmarks, (640, 480))
    assert side == pytest.approx(300.0) and (x0 + side / 2, y0 + side / 2) == pytest.approx((150.0, 150.0))
    rng = np.random.default_rng(0)
    image = np.full((64, 64, 3), 128, np.uint8)
    out = degrade(image, rng)
    assert out.shape == image.shape and out.dtype == np.uint8 and not np.array_equal(out, image)
    backdrop = random_background(64, rng)
    assert backdrop.shape == (64, 64, 3) and backdrop.std() > 5


def test_every_generator_gives_controls_in_range(assets_dir) -> None:
    from studio.core.tracking.rig_bundle import RigBundle
    from studio.render.inversion_data import _pools, sample_controls

    names = RigBundle.load().rig.expression_names
    pools = _pools(names)
    rng = np.random.default_rng(1)
    gaze = [i for i, n in enumerate(names) if n.startswith("eyeLook")]
    for kind in KINDS:
        values = np.stack([sample_controls(names, kind, rng, pools) for _ in range(40)])
        assert values.shape == (40, len(names)) and values.min() >= 0.0 and values.max() <= 1.0, kind
        assert (values.sum(axis=1) > 0).mean() > 0.5, kind
        if kind == "gaze":
            assert values[:, gaze].max() > 0.1
        if kind == "sparse":
            assert values[:, gaze].max() == 0.0


@pytest.mark.gl
def test_the_dataset_is_sharded_resumable_and_refuses_other_settings(tmp_path, assets_dir) -> None:
    from studio.core.jobs import JobCancelled, run_job
    from studio.render.inversion_data import inversion_dataset_job

    out = tmp_path / "data"
    progress = []
    summary = run_job(inversion_dataset_job(out, 5, size=64, shard_size=3, seed=4), on_progress=progress.append)
    assert progress[-1] == ("done", 5, 5) and summary["made_now"] == 5 and summary["shards"] == 2
    first, second = np.load(out / "shard_00000.npz"), np.load(out / "shard_00001.npz")
    assert first["rgb"].shape == (3, 64, 64, 3) and second["rgb"].shape == (2, 64, 64, 3)
    assert first["rgb"].dtype == first["normal"].dtype == np.uint8
    assert first["controls"].shape == (3, 53) and 0.0 <= first["controls"].min() and first["controls"].max() <= 1.0
    assert first["landmarks"].shape == (3, 478, 3) and first["head_pose"].shape == (3, 6)
    assert first["identity"].shape == (3, 20) and set(first["kind"].tolist()) <= set(range(len(KINDS)))
    # the crop is made from MediaPipe's landmarks: they sit inside it, the face fills its middle
    xy = first["landmarks"][..., :2]
    assert xy.min() > 0 and xy.max() < 64
    normals = first["normal"].astype(np.float32) / 127.5 - 1.0
    on_head = first["normal"].any(axis=3)
    assert 0.3 < on_head.mean() < 0.95
    assert np.abs(np.linalg.norm(normals[on_head], axis=1) - 1.0).max() < 0.02
    assert json.loads((out / "dataset.json").read_text())["samples"] == 5
    # resuming: only the missing shard is made again, and it is the same data
    kept = (out / "shard_00000.npz").stat().st_mtime_ns
    controls = second["controls"].copy()
    (out / "shard_00001.npz").unlink()
    again = run_job(inversion_dataset_job(out, 5, size=64, shard_size=3, seed=4))
    assert again["made_now"] == 2 and (out / "shard_00000.npz").stat().st_mtime_ns == kept
    np.testing.assert_array_equal(np.load(out / "shard_00001.npz")["controls"], controls)
    with pytest.raises(ValueError, match="other settings"):
        run_job(inversion_dataset_job(out, 5, size=96, shard_size=3, seed=4))
    # cancelled: finished shards stay, no partial shard appears
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(JobCancelled):
        run_job(inversion_dataset_job(tmp_path / "cancelled", 4, size=64, shard_size=2, cancel=cancel))
    assert not list((tmp_path / "cancelled").glob("shard_*"))


@pytest.mark.gl
def test_dataset_command_says_what_it_made(tmp_path, assets_dir) -> None:
    result = subprocess.run(
        [sys.executable, "main.py", "dataset", "inversion", "--out", str(tmp_path / "d"), "--samples", "2",
         "--size", "48", "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=300, env=os.environ)
    assert result.returncode == 0, result.stderr
    assert "2 samples in 1 shards (2 made now" in result.stdout and "samples/s" in result.stdout
    bad = subprocess.run([sys.executable, "main.py", "dataset", "inversion", "--out", str(tmp_path / "e"),
                          "--samples", "0"], cwd=ROOT, capture_output=True, text=True, timeout=120, env=os.environ)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
