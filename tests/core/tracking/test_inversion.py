"""The learned tracker: crops, the network and its file, the shipped weights on a render and a real frame, one
training step, calibration to a performer, take and live tracking with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.core.tracking.inversion.crops import (
    CROP_SIZE,
    crop_landmarks,
    face_crop,
    mediapipe_triangles,
    mesh_normal_map,
)
from studio.core.tracking.inversion.network import (
    InversionConfig,
    InversionNetwork,
    NetworkFileError,
    load_network,
    save_network,
)

NAMES = tuple(f"c{i}" for i in range(7))


def _face_landmarks(centre=(320.0, 240.0), radius=80.0) -> np.ndarray:
    """A dome of 478 points (pixels, z towards the back at the rim) standing in for MediaPipe's mesh: the
    triangles' geometry is what the normal map draws."""
    rng = np.random.default_rng(0)
    angle, r = rng.uniform(0, 2 * np.pi, 478), radius * np.sqrt(rng.uniform(0, 1, 478))
    x, y = centre[0] + r * np.cos(angle), centre[1] + r * np.sin(angle)
    z = -np.sqrt(np.maximum(radius**2 - r**2, 0.0))
    return np.c_[x, y, z].astype(np.float32)


def test_the_crop_frames_the_face_and_the_normal_map_faces_the_camera():
    image = np.zeros((480, 640, 3), np.uint8)
    image[200:280, 280:360] = 255
    landmarks = _face_landmarks()
    crop = face_crop(image, landmarks, 64)
    assert crop.shape == (64, 64, 3) and crop.dtype == np.uint8
    assert crop[32, 32].tolist() == [255, 255, 255] and crop[2, 2].tolist() == [0, 0, 0]  # face centred, room
    local = crop_landmarks(landmarks, 64)
    assert local[:, :2].min() >= 0 and local[:, :2].max() <= 64
    assert len(mediapipe_triangles()) > 800 and mediapipe_triangles().max() < 468


def test_mesh_normal_map_of_mediapipe_on_a_render(assets_dir):
    from studio.core.rig.rig import Rig
    from studio.core.rig.state import RigState
    from studio.core.tracking.frame_sources import Frame
    from studio.core.tracking.reconstruction import GeometryReconstructor
    from studio.render.offscreen import OffscreenRenderer

    rig = Rig.ict()
    with OffscreenRenderer(rig, (320, 320)) as renderer, GeometryReconstructor("image", crop_size=96) as mp:
        observation = mp.observe(Frame(0, 0.0, renderer.render(RigState.neutral(rig))))
    assert observation.face_found and observation.crop.shape == (96, 96, 3)
    normals = mesh_normal_map(crop_landmarks(observation.landmarks, 96), 96)
    covered = normals.any(axis=2)
    assert 0.25 < covered.mean() < 0.8  # the face, with a margin of backdrop around it
    assert normals[covered][:, 2].min() >= 127  # every drawn normal faces the camera (z ≥ 0)
    left, right = normals[48, 20:40, 0][covered[48, 20:40]], normals[48, 56:76, 0][covered[48, 56:76]]
    assert left.mean() < 128 < right.mean()  # x of the normals turns from left to right across the cheeks


def test_network_shapes_file_round_trip_and_one_line_errors(tmp_path):
    for branches in (("rgb", "normal"), ("rgb",)):
        network = InversionNetwork(InversionConfig(NAMES, branches, size=64)).eval()
        images = torch.rand(2, 3, 64, 64)
        out = network(images, images if network.uses_normals else None)
        assert out.shape == (2, len(NAMES))
        path = save_network(tmp_path / f"{len(branches)}.pt", network, {"note": "x"})
        loaded, metadata = load_network(path, NAMES)
        assert metadata == {"note": "x"} and loaded.config == network.config
        again = loaded(images, images if loaded.uses_normals else None)
        assert torch.allclose(out, again, atol=2e-2)  # float16 weights
    with pytest.raises(ValueError, match="normal map"):
        InversionNetwork(InversionConfig(NAMES, size=64))(torch.rand(1, 3, 64, 64))
    with pytest.raises(NetworkFileError, match="other controls"):
        load_network(tmp_path / "2.pt", ("a", "b"))
    (tmp_path / "junk.pt").write_bytes(b"not a network")
    for bad, message in ((tmp_path / "junk.pt", "not a network file"), (tmp_path / "none.pt", "no such")):
        with pytest.raises(NetworkFileError, match=message) as error:
            load_network(bad)
        assert "\n" not in str(error.value)


@pytest.fixture(scope="module")
def shipped(assets_dir):
    from studio.core.tracking.inversion.tracker import NetworkTracker, network_path
    from studio.core.tracking.rig_bundle import RigBundle

    names = RigBundle.load().rig.expression_names
    return {v: NetworkTracker.load(network_path(v), names) for v in ("two_branch", "rgb_only")}


def _render_observation(controls: dict[str, float], identity_seed: int = 7):
    from studio.core.rig.rig import Rig
    from studio.core.rig.state import RigState
    from studio.core.tracking.frame_sources import Frame
    from studio.core.tracking.reconstruction import GeometryReconstructor
    from studio.render.offscreen import OffscreenRenderer
    from studio.render.synthetic_performer import TRACKING_CAMERA

    rig = Rig.ict()
    state = RigState.neutral(rig)
    state.identity = np.zeros(rig.num_identity_modes, np.float32)
    state.identity[:20] = np.random.default_rng(identity_seed).normal(0.0, 1.0, 20)
    for name, value in controls.items():
        state.controls[rig.control_index(name)] = value
    with OffscreenRenderer(rig, (640, 480), TRACKING_CAMERA) as renderer, \
            GeometryReconstructor("image", crop_size=CROP_SIZE) as mediapipe:
        image = renderer.render(state)
        return image, mediapipe.observe(Frame(0, 0.0, image))


@pytest.mark.gl
def test_shipped_networks_read_a_render(shipped):
    names = shipped["two_branch"].control_names
    jaw = names.index("jawOpen")
    _, rest = _render_observation({})
    _, open_mouth = _render_observation({"jawOpen": 0.8})
    for variant, tracker in shipped.items():
        at_rest, opened = tracker.track_observations([rest, open_mouth])
        assert np.isfinite(opened).all() and 0.0 <= opened.min() and opened.max() <= 1.0, variant
        assert opened[jaw] > at_rest[jaw] + 0.3, (variant, at_rest[jaw], opened[jaw])
        assert at_rest.max() < 0.5, variant  # no strong expression on a face at rest


def test_shipped_networks_read_a_real_frame(shipped, footage):
    from studio.core.tracking.frame_sources import VideoFileSource
    from studio.core.tracking.reconstruction import GeometryReconstructor

    with VideoFileSource(footage("d10.mp4")) as source, GeometryReconstructor("image") as mediapipe:
        frame = next(iter(source))
        observation = mediapipe.observe(frame)
    assert observation.face_found
    for variant, tracker in shipped.items():
        controls = tracker.track_frame(frame.image, observation.landmarks)
        assert controls.shape == (len(tracker.control_names),) and np.isfinite(controls).all(), variant
        assert 0.0 <= controls.min() and controls.max() <= 1.0
    missing = shipped["two_branch"].track_frame(frame.image, np.full((478, 3), np.nan, np.float32))
    assert np.isnan(missing).all()


def test_one_training_step_of_the_shipped_network(shipped, assets_dir):
    from studio.core.tracking.inversion.training import MESH_WEIGHT, FaceMesh
    from studio.core.tracking.rig_bundle import RigBundle

    bundle = RigBundle.load()
    tracker = shipped["rgb_only"]
    network = InversionNetwork(tracker.network.config)
    network.load_state_dict(tracker.network.state_dict())
    network.train()
    mesh = FaceMesh(bundle.rig, bundle.definition)
    rng = np.random.default_rng(0)
    rgb = torch.as_tensor(rng.uniform(0, 1, (4, 3, CROP_SIZE, CROP_SIZE)), dtype=torch.float32)
    truth = torch.as_tensor(rng.uniform(0, 0.3, (4, len(tracker.control_names))), dtype=torch.float32)
    optimiser = torch.optim.AdamW(network.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in network.parameters()]
    predicted = network(rgb)
    loss = (predicted - truth).abs().mean() + MESH_WEIGHT * mesh.vertex_error_mm(predicted - truth).mean()
    loss.backward()
    optimiser.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, network.parameters(), strict=True))


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory, assets_dir):
    """50 renders in shards of 2 (shard 24 is the held-out one)."""
    from studio.core.jobs import run_job
    from studio.render.inversion_data import inversion_dataset_job

    folder = tmp_path_factory.mktemp("inversion-data")
    run_job(inversion_dataset_job(folder, 50, seed=3, size=64, shard_size=2))
    return folder


@pytest.mark.gl
def test_training_job_writes_weights_curves_and_resumes(tiny_dataset, tmp_path):
    from studio.core.jobs import JobCancelled, run_job
    from studio.core.tracking.inversion.training import load_samples, train_inversion_job
    from studio.core.tracking.rig_bundle import RigBundle

    bundle = RigBundle.load()
    held = run_job(load_samples(tiny_dataset, "held_out"))
    assert len(held) == 2 and held.normal.shape == (2, 64, 64, 3) and held.normal.any()
    assert (tiny_dataset / "mesh_normals" / "shard_00024.npy").is_file()  # made once, then read back
    out = tmp_path / "net.pt"
    steps = {"n": 0}

    def stop_after_two() -> bool:
        return steps["n"] >= 2

    job = train_inversion_job(tiny_dataset, out, bundle.rig, bundle.definition, "two_branch", epochs=2,
                              batch_size=8, seed=1, cancel=stop_after_two)

    def count(progress) -> None:
        if progress[0].startswith("epoch"):
            steps["n"] = progress[1]

    with pytest.raises(JobCancelled, match="run it again"):
        run_job(job, on_progress=count)
    assert not out.exists() and (tiny_dataset / "checkpoints" / "two_branch.pt").is_file()
    summary = run_job(train_inversion_job(tiny_dataset, out, bundle.rig, bundle.definition, "two_branch",
                                          epochs=2, batch_size=8, seed=1))
    assert summary["steps"] == 2 * (48 // 8) and np.isfinite(summary["held_out"]["control_mae"])
    assert out.is_file() and (tmp_path / "net_loss.png").stat().st_size > 1000
    steps_logged = [h["step"] for h in summary["history"] if "held_out_mae" in h]
    assert steps_logged == [6, 12]  # resumed at step 2, not restarted: one evaluation per epoch
    network, metadata = load_network(out, bundle.rig.expression_names)
    assert network.uses_normals and metadata["variant"] == "two_branch"


def test_calibration_finds_a_performers_systematic_gain_and_bias_and_keeps_the_generic_network():
    from studio.core.calibration.network import (
        NetworkPairs,
        calibrate_network,
        held_out_network_errors,
        network_outputs,
    )
    from studio.core.jobs import run_job
    from studio.core.tracking.inversion.tracker import NetworkTracker

    torch.manual_seed(0)
    generic = NetworkTracker(InversionNetwork(InversionConfig(NAMES, size=64)).eval())
    state = {k: v.clone() for k, v in generic.network.state_dict().items()}
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (12, 64, 64, 3), np.uint8)
    probe = NetworkPairs(tuple(f"e{i}" for i in range(12)), crops, crops.copy(), np.arange(12),
                         np.zeros((12, len(NAMES)), np.float32))
    raw = network_outputs(generic, probe).numpy()
    spread = (raw - raw.mean(axis=0)) / (raw.std(axis=0) + 1e-6)
    generic_reading = 0.4 + 0.15 * spread  # what the network reads of each expression, well inside [0, 1]
    # a performer the network reads 20 % low and 0.05 high on every control: c = (v - 0.05) / 0.8
    targets = np.clip((generic_reading - 0.05) / 0.8, 0.0, 1.0).astype(np.float32)
    targets[0] = 0.0  # the neutral
    gain0, bias0 = 0.15 / (raw.std(axis=0) + 1e-6), 0.4 - 0.15 * raw.mean(axis=0) / (raw.std(axis=0) + 1e-6)
    generic.network.head[-1].weight.data *= torch.as_tensor(gain0, dtype=torch.float32)[:, None]
    generic.network.head[-1].bias.data = generic.network.head[-1].bias.data * torch.as_tensor(gain0) + torch.as_tensor(
        bias0, dtype=torch.float32)  # now the network's output is generic_reading itself
    pairs = NetworkPairs(("neutral", *(f"e{i}" for i in range(1, 12))), crops, crops.copy(), np.arange(12), targets)
    calibrated = run_job(calibrate_network(generic, pairs))
    report = calibrated.metadata["calibration"]
    assert report["control_l1_after"] < 0.7 * report["control_l1_before"] and report["lambda"] <= 0.01, report
    state_now = generic.network.state_dict()
    assert not generic.network.config.calibrated and set(state_now) == set(state)  # the generic one is untouched
    errors = run_job(held_out_network_errors(generic, pairs, folds=4))
    assert set(errors) == {f"e{i}" for i in range(1, 12)}  # the neutral is never held out
    generic_error = np.mean([e["network"] for e in errors.values()])
    calibrated_error = np.mean([e["network_calibrated"] for e in errors.values()])
    assert calibrated_error < 0.6 * generic_error  # what it learned holds on expressions it did not see


def test_live_and_take_tracking_with_the_network(shipped, footage, short_clip, tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    from studio.core.tracking.frame_sources import VideoFileSource
    from studio.core.tracking.live import LiveTracker
    from studio.core.tracking.reconstruction import GeometryReconstructor
    from studio.core.tracking.rig_bundle import RigBundle

    bundle = RigBundle.load()
    live = LiveTracker(bundle.tracker(), network=shipped["two_branch"])
    assert live.has_neutral  # the network needs no neutral
    with VideoFileSource(footage("d10.mp4")) as source, GeometryReconstructor("video", crop_size=CROP_SIZE) as mp:
        for frame, _ in zip(source, range(3), strict=False):
            observation = mp.observe(frame)
            result = live.process(frame.index, frame.time_s, observation.landmarks, observation.crop)
    assert result.controls is not None and result.controls.shape == (len(bundle.rig.expression_names),)
    assert "solve" in result.stage_ms
    with pytest.raises(ValueError, match="face crop"):
        live.process(9, 9.0, observation.landmarks, None)

    clip = short_clip(tmp_path / "clip.avi", 15)
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, str(root / "main.py"), "track", str(clip), "--tracker", "network",
                           "--out", str(tmp_path / "c.csv"), "--json", str(tmp_path / "s.json"), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["tracker"] == "network" and stats["frames_with_face"] == 15
    refused = subprocess.run([sys.executable, str(root / "main.py"), "track", str(clip), "--tracker", "network",
                              "--rig-params", "x.npz", "--out", str(tmp_path / "d.csv")],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "--network" in refused.stderr and "Traceback" not in refused.stderr
