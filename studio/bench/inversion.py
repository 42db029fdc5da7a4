"""The learned tracker against the landmark tracker: held-out renders, real footage, speed.

Run ``python main.py bench inversion --json OUT.json``.

**Held-out renders** (``--samples``, seed ``10_000 + seed``: identities, expressions, poses and lights the
training data never drew): each sample is made as ``dataset inversion`` makes them (render → MediaPipe → crop
→ backdrop and webcam degradations), and the same identity is rendered at rest with the same head pose and
light, so the landmark tracker gets its performer's neutral, as a session would give it. Trackers: the
two-branch network, the RGB-only network, the landmark tracker (θ_A, the solve of ``track``) and MediaPipe's
own blendshapes mapped onto the rig. Figures (:func:`studio.core.tracking.inversion.training.control_figures`):
control MAE (all, per region, gaze), face vertex error and per region (eyes, brows, mouth, jaw), mm. The
landmark tracker sees the uncropped render (its MediaPipe result), the networks the degraded crop.

**Footage** (``../shared/footage``): Pearson correlation of each tracker's unfiltered curves with MediaPipe's
blendshapes (jawOpen, eyeBlink, mouthSmile, browInnerUp highlighted), as ``bench tracking`` measures the
landmark tracker — the check that the network did not learn the renderer only.

**Speed**: ms per frame of each network at batch 1 with ``--threads`` CPU threads (2 by default, the
reference machine), network alone and with the crop and the mesh's normal map; on CUDA too when there is a
GPU.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

HIGHLIGHTED = ("jawOpen", "eyeBlinkLeft", "eyeBlinkRight", "mouthSmileLeft", "mouthSmileRight", "browInnerUp")


def held_out_renders(bundle, samples: int, seed: int, size: int = 128) -> dict:
    """Render held-out samples (module docstring): crops, normal maps, controls, the landmark tracker's and
    MediaPipe's controls, and the first render with its landmarks (``frame``, ``frame_landmarks``)."""
    from studio.core.rig.state import RigState
    from studio.core.tracking.frame_sources import Frame
    from studio.core.tracking.inversion.crops import crop_landmarks, face_crop, mesh_normal_map
    from studio.core.tracking.reconstruction import BLENDSHAPE_NAMES, GeometryReconstructor
    from studio.render.inversion_data import RENDER_SIZE, _pools, degrade, random_background, sample_scene
    from studio.render.offscreen import OffscreenRenderer
    from studio.render.synthetic_performer import TRACKING_CAMERA

    rig, definition = bundle.rig, bundle.definition
    names = rig.expression_names
    tracker = bundle.tracker()
    rng = np.random.default_rng([10_000 + seed])
    pools = _pools(names)
    out: dict[str, list] = {k: [] for k in ("rgb", "normal", "controls", "landmarks_tracker", "mediapipe", "kind")}
    missed = 0
    with OffscreenRenderer(rig, RENDER_SIZE, TRACKING_CAMERA) as renderer, \
            GeometryReconstructor(running_mode="image") as reconstructor:
        while len(out["controls"]) < samples:
            kind, state, lighting = sample_scene(rig, rng, pools)
            controls = state.controls
            renderer.set_lighting(lighting)
            maps = renderer.render_maps(state)
            rest = renderer.render_maps(RigState(np.zeros_like(controls), state.identity, state.head_rotation_deg,
                                                 state.head_translation_cm))
            seen = reconstructor.observe(Frame(0, 0.0, maps.rgb))
            at_rest = reconstructor.observe(Frame(1, 0.04, rest.rgb))
            if not (seen.face_found and at_rest.face_found):
                missed += 1
                continue
            crop = face_crop(maps.rgb, seen.landmarks, size)
            head = (face_crop(maps.normal, seen.landmarks, size) != 0).any(axis=2, keepdims=True)
            crop = degrade(np.where(head, crop, random_background(size, rng)), rng)
            neutral = tracker.performer_neutral(tracker.align(at_rest.landmarks[None].astype(np.float64))[0])
            solved = tracker.solve(tracker.align(seen.landmarks[None].astype(np.float64), neutral), neutral)
            out["rgb"].append(crop)
            out["normal"].append(mesh_normal_map(crop_landmarks(seen.landmarks, size), size))
            out["controls"].append(controls)
            out["landmarks_tracker"].append(solved.controls[0])
            out["mediapipe"].append(definition.from_arkit(dict(zip(BLENDSHAPE_NAMES, seen.blendshapes, strict=True))))
            out["kind"].append(kind)
            if "frame" not in out:  # one real frame and its landmarks, for the speed figures
                out["frame"], out["frame_landmarks"] = [maps.rgb], [seen.landmarks]
    arrays = {k: np.stack(v) for k, v in out.items()}
    arrays["no_face_skipped"] = missed
    return arrays


def _speed(network, size: int, threads: int, device: str, image: np.ndarray, landmarks: np.ndarray,
           frames: int = 200) -> dict:
    import torch

    from studio.core.jobs import torch_threads
    from studio.core.tracking.inversion.crops import crop_landmarks, face_crop, mesh_normal_map

    network = network.to(device).eval()
    rgb = torch.rand(1, 3, size, size, device=device)
    normal = torch.rand(1, 3, size, size, device=device) if network.uses_normals else None
    with torch_threads(threads), torch.inference_mode():
        for _ in range(10):
            network(rgb, normal)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(frames):
            network(rgb, normal)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        alone = (time.perf_counter() - started) / frames
        started = time.perf_counter()
        for _ in range(frames // 4):
            crop = face_crop(image, landmarks, size)
            if network.uses_normals:
                mesh_normal_map(crop_landmarks(landmarks, size), size)
            torch.as_tensor(crop)
        inputs = (time.perf_counter() - started) / (frames // 4)
    return {"ms_per_frame": 1e3 * alone, "frames_per_s": 1.0 / alone, "inputs_ms": 1e3 * inputs,
            "with_inputs_frames_per_s": 1.0 / (alone + inputs)}


def run_inversion_benchmark(
    samples: int = 300,
    seed: int = 0,
    networks: dict[str, str] | None = None,
    footage: str | None = None,
    threads: int = 2,
) -> dict:
    """Held-out renders, footage and speed (module docstring); returns the figures as JSON data."""
    import torch

    from studio.bench.footage import footage_folder
    from studio.bench.tracking import footage_correlations
    from studio.core.tracking.inversion.tracker import NetworkTracker, network_path
    from studio.core.tracking.inversion.training import FaceMesh, control_figures
    from studio.core.tracking.rig_bundle import RigBundle

    bundle = RigBundle.load()
    rig, definition = bundle.rig, bundle.definition
    networks = networks or {v: str(network_path(v)) for v in ("two_branch", "rgb_only")}
    trackers = {name: NetworkTracker.load(path, rig.expression_names) for name, path in networks.items()}
    started = time.perf_counter()
    data = held_out_renders(bundle, samples, seed)
    render_s = time.perf_counter() - started
    mesh = FaceMesh(rig, definition)
    held: dict[str, dict] = {}
    for name, tracker in trackers.items():
        predicted = tracker.controls(data["rgb"], data["normal"] if tracker.network.uses_normals else None)
        held[name] = control_figures(predicted, data["controls"], rig.expression_names, definition, mesh)
    held["landmarks"] = control_figures(data["landmarks_tracker"], data["controls"], rig.expression_names,
                                        definition, mesh)
    held["mediapipe"] = control_figures(data["mediapipe"], data["controls"], rig.expression_names, definition, mesh)
    held["zero"] = control_figures(np.zeros_like(data["controls"]), data["controls"], rig.expression_names,
                                   definition, mesh)  # the floor: always the neutral
    report: dict = {
        "benchmark": "inversion", "seed": seed, "held_out_samples": int(samples),
        "no_face_skipped": int(data["no_face_skipped"]), "render_s": round(render_s, 1),
        "networks": {name: {"path": path, "trained": {k: trackers[name].metadata.get(k) for k in
                                                      ("train_samples", "steps", "seconds", "device")}}
                     for name, path in networks.items()},
        "held_out": held,
    }
    speed: dict = {}
    for name, tracker in trackers.items():
        frame = (data["frame"][0], data["frame_landmarks"][0])
        speed[name] = {"cpu": _speed(tracker.network, tracker.size, threads, "cpu", *frame)}
        if torch.cuda.is_available():
            speed[name]["cuda"] = _speed(tracker.network, tracker.size, threads, "cuda", *frame)
        tracker.network.to(tracker.device)
    report["speed"] = {"threads": threads, **speed}
    folder = Path(footage) if footage else footage_folder()
    if folder is not None:
        clips = sorted(folder.glob("*.mp4"))
        correlations = {"landmarks": footage_correlations(clips, bundle.tracker(), definition)}
        for name, tracker in trackers.items():
            correlations[name] = footage_correlations(clips, tracker, definition)
        report["footage_correlation"] = {
            name: {"highlighted_mean": {k: c["mean"].get(k) for k in HIGHLIGHTED}, "mean": c["mean"],
                   "per_clip": c["per_clip"]}
            for name, c in correlations.items()
        }
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report
