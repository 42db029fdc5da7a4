"""Synthetic data for an image → rig-controls tracker (paper 002): ``python main.py dataset inversion``.

Each sample is the ICT rig with a random identity (the 20 leading modes, σ = 1), controls from one of six
generators (sparse random mixes, a Simon-Says expression, an animator pose, a viseme, a one-sided
expression, a gaze), a random head pose and a random light rig, rendered offscreen at 640×480 with its
camera-space normal map. MediaPipe's face landmarker (image mode) runs on the render and the face crop is
made from *its* landmarks — a square around them, 1.5× their extent — exactly as tracking a webcam will make
it, so training and use agree; a sample MediaPipe finds no face in is skipped and counted. The RGB crop then
is put on a random backdrop (a gradient between two colours with blotches, where the normal map shows no
head) and gets webcam-like degradations (white balance, exposure, blur, sensor noise, JPEG); the normal crop
does not.

Samples are written in shards of ``shard_size`` (``shard_00000.npz`` …, each written atomically), every
shard seeded from ``(seed, shard)`` alone, so an interrupted run resumes where it stopped and gives the same
data as an uninterrupted one. A shard holds:

=============  =========================  ===============================================================
array          shape, dtype               meaning
=============  =========================  ===============================================================
``rgb``        ``(S, s, s, 3)`` uint8     the degraded RGB crop
``normal``     ``(S, s, s, 3)`` uint8     camera-space unit normals encoded ``(n + 1) / 2 · 255`` (0 off
                                          the face)
``controls``   ``(S, K)`` float32         the rig's controls, in [0, 1]
``head_pose``  ``(S, 6)`` float32         yaw, pitch, roll (degrees), translation x, y, z (cm)
``landmarks``  ``(S, 478, 3)`` float32    MediaPipe's landmarks in crop pixels (z scaled alike)
``identity``   ``(S, 20)`` float32        the identity coefficients
``kind``       ``(S,)`` int8              the generator (:data:`KINDS`)
=============  =========================  ===============================================================
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator
from pathlib import Path

import numpy as np

from studio.core.io.atomic_files import npz_writer, write_atomic
from studio.core.jobs import Cancel, JobCancelled, is_cancelled
from studio.core.rig.state import RigState
from studio.core.tracking.frame_sources import Frame
from studio.core.tracking.inversion.crops import crop_box, crop_landmarks, encode_normals, face_crop
from studio.core.tracking.reconstruction import GeometryReconstructor
from studio.core.tracking.rig_bundle import RigBundle
from studio.render.face_scene import Lighting
from studio.render.offscreen import OffscreenRenderer
from studio.render.synthetic_performer import TRACKING_CAMERA

__all__ = [
    "KINDS",
    "crop_box",
    "degrade",
    "encode_normals",
    "inversion_dataset_job",
    "random_background",
    "sample_controls",
    "sample_scene",
]

KINDS: tuple[str, ...] = ("sparse", "simon_says", "animator", "viseme", "one_sided", "gaze")
"""The control generators, in the order ``kind`` numbers them."""

IDENTITY_MODES = 20
RENDER_SIZE = (640, 480)


def sample_controls(names: tuple[str, ...], kind: str, rng: np.random.Generator, pools: dict) -> np.ndarray:
    """Controls ``(K,)`` from one generator; ``pools`` holds the packaged poses per kind (``(P, K)`` each)."""
    k = len(names)
    controls = np.zeros(k)
    gaze = [i for i, n in enumerate(names) if n.startswith("eyeLook")]
    if kind == "sparse":
        movable = np.setdiff1d(np.arange(k), gaze)
        chosen = rng.choice(movable, int(rng.integers(1, 6)), replace=False)
        controls[chosen] = rng.uniform(0.1, 1.0, len(chosen))
    elif kind == "gaze":
        for pair in (("eyeLookOut_L", "eyeLookIn_R", "eyeLookIn_L", "eyeLookOut_R"),
                     ("eyeLookUp_L", "eyeLookUp_R", "eyeLookDown_L", "eyeLookDown_R")):
            side = int(rng.integers(0, 3))  # one way, the other, or straight
            if side < 2:
                value = rng.uniform(0.1, 1.0)
                for name in pair[2 * side: 2 * side + 2]:
                    controls[names.index(name)] = value
    else:
        pool = pools[kind]
        controls = pool[int(rng.integers(0, len(pool)))] * rng.uniform(0.4, 1.0)
    if kind != "gaze" and rng.random() < 0.3:  # blinks and glances happen during everything
        controls[names.index("eyeBlink_L")] = controls[names.index("eyeBlink_R")] = max(
            controls[names.index("eyeBlink_L")], rng.uniform(0.0, 1.0))
    return np.clip(controls, 0.0, 1.0)


def degrade(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Webcam-like degradations of an RGB crop ``(s, s, 3)`` uint8: white balance, exposure, blur, noise,
    JPEG."""
    import cv2

    image = rgb.astype(np.float32) / 255.0
    image = image * rng.uniform(0.85, 1.15, 3)  # white balance
    image = np.clip(image, 0.0, 1.0) ** rng.uniform(0.7, 1.4)  # exposure / gamma
    sigma = rng.uniform(0.0, 1.2)
    if sigma > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    image = image + rng.normal(0.0, rng.uniform(0.0, 0.03), image.shape)
    out = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 96))])
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1].copy() if ok else out


def random_background(size: int, rng: np.random.Generator) -> np.ndarray:
    """A backdrop ``(s, s, 3)`` uint8: a gradient between two random colours at a random angle, with blotches."""
    import cv2

    a, b = rng.uniform(0.0, 1.0, (2, 3))
    angle = rng.uniform(0.0, 2.0 * np.pi)
    u = np.linspace(-1.0, 1.0, size)
    ramp = (np.cos(angle) * u[None, :] + np.sin(angle) * u[:, None]) * 0.5 + 0.5  # (s, s) in [0, 1]
    image = (1.0 - ramp)[..., None] * a + ramp[..., None] * b
    blotches = cv2.resize(rng.normal(0.0, 0.12, (4, 4, 3)).astype(np.float32), (size, size),
                          interpolation=cv2.INTER_CUBIC)
    return np.clip(np.round((image + blotches) * 255.0), 0, 255).astype(np.uint8)


def _random_lighting(rng: np.random.Generator) -> Lighting:
    key = (rng.uniform(-1.0, 1.0), rng.uniform(-0.2, 1.0), rng.uniform(0.5, 1.2))
    warm = rng.uniform(0.85, 1.0)
    return Lighting(
        key_direction=key, key_color=(1.0, warm, warm * rng.uniform(0.85, 1.0)),
        key_intensity=rng.uniform(0.6, 1.2), fill_direction=(-key[0], rng.uniform(-0.3, 0.3), 0.7),
        fill_intensity=rng.uniform(0.1, 0.5), ambient_intensity=rng.uniform(0.1, 0.35),
        softness=rng.uniform(0.2, 0.7), specular=rng.uniform(0.1, 0.5),
    )


def _pools(names: tuple[str, ...]) -> dict[str, np.ndarray]:
    from studio.core.capture.expression_sets import SimonSaysSet, animator_set
    from studio.core.rig.control_curves import VISEMES, one_sided_poses

    simon = SimonSaysSet.packaged("ict_full")
    simon_says = np.stack([e.control_vector(names) for e in simon.expressions if not e.is_neutral])
    animator, _ = animator_set(names, None)
    one_sided, _ = one_sided_poses(names)
    visemes = np.stack([np.array([pose.get(n, 0.0) for n in names]) for pose in VISEMES.values()])
    return {"simon_says": simon_says, "animator": np.asarray(animator, np.float64),
            "viseme": visemes, "one_sided": np.asarray(one_sided, np.float64)}


def sample_scene(rig, rng: np.random.Generator, pools: dict) -> tuple[int, RigState, Lighting]:
    """One random sample's scene: ``(kind, rig state, lighting)`` — the generator (index into :data:`KINDS`),
    an identity (the leading :data:`IDENTITY_MODES` modes, σ = 1), its controls, a head pose (yaw ±25°, pitch
    ±15°, roll ±10°, translation in cm) and a light rig, drawn from ``rng`` in that order."""
    kind = int(rng.integers(0, len(KINDS)))
    identity = np.zeros(rig.num_identity_modes, np.float32)
    identity[:IDENTITY_MODES] = rng.normal(0.0, 1.0, IDENTITY_MODES)
    controls = sample_controls(rig.expression_names, KINDS[kind], rng, pools).astype(np.float32)
    rotation = rng.uniform([-25.0, -15.0, -10.0], [25.0, 15.0, 10.0])
    translation = rng.uniform([-3.0, -2.0, -8.0], [3.0, 2.0, 6.0])
    return kind, RigState(controls, identity, rotation, translation), _random_lighting(rng)


def _shard(bundle: RigBundle, index: int, count: int, seed: int, size: int, pools: dict,
           renderer: OffscreenRenderer, reconstructor: GeometryReconstructor, cancel: Cancel):
    """Samples of one shard (generator of progress); returns its arrays and the faces MediaPipe missed."""
    import cv2

    rig = bundle.rig
    rng = np.random.default_rng([seed, index])
    arrays: dict[str, list] = {key: [] for key in ("rgb", "normal", "controls", "head_pose", "landmarks",
                                                   "identity", "kind")}
    missed = 0
    while len(arrays["rgb"]) < count:
        if is_cancelled(cancel):
            raise JobCancelled("dataset cancelled; finished shards are kept")
        kind, state, lighting = sample_scene(rig, rng, pools)
        identity, controls, rotation, translation = (state.identity, state.controls, state.head_rotation_deg,
                                                     state.head_translation_cm)
        renderer.set_lighting(lighting)
        maps = renderer.render_maps(state)
        observation = reconstructor.observe(Frame(0, 0.0, maps.rgb))
        if not observation.face_found:
            missed += 1
            continue
        x0, y0, side = crop_box(observation.landmarks)
        scale = size / side
        warp = np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]])
        rgb = face_crop(maps.rgb, observation.landmarks, size)  # as tracking crops a webcam frame
        normal = cv2.warpAffine(maps.normal, warp, (size, size), flags=cv2.INTER_NEAREST)
        landmarks = crop_landmarks(observation.landmarks, size)
        head = (normal != 0).any(axis=2, keepdims=True)  # the rendered head; the rest is backdrop
        rgb = np.where(head, rgb, random_background(size, rng))
        arrays["rgb"].append(degrade(rgb, rng))
        arrays["normal"].append(encode_normals(normal))
        arrays["controls"].append(controls)
        arrays["head_pose"].append(np.r_[rotation, translation].astype(np.float32))
        arrays["landmarks"].append(landmarks)
        arrays["identity"].append(identity[:IDENTITY_MODES])
        arrays["kind"].append(np.int8(kind))
        yield len(arrays["rgb"])
    return {key: np.stack(values) for key, values in arrays.items()}, missed


def inversion_dataset_job(
    out: str | Path,
    samples: int,
    bundle: RigBundle | None = None,
    seed: int = 0,
    size: int = 128,
    shard_size: int = 500,
    cancel: Cancel = None,
) -> Generator[tuple[str, int, int], None, dict]:
    """Write (or complete) the dataset in ``out`` (module docstring), as a generator job.

    Shards already on disk are kept and skipped, so a second run after an interruption only makes what is
    missing. Yields ``(what, done, total)`` per sample; returns the summary also written to
    ``out/dataset.json``: samples, shards, size, seed, made now, faces MediaPipe missed, seconds, samples/s.

    Raises
    ------
    ValueError
        Fewer than 1 sample, a crop size outside 32–512, or ``out`` holding a dataset of other settings.
    """
    if samples < 1 or not 32 <= size <= 512 or shard_size < 1:
        raise ValueError("samples and shard_size must be at least 1 and size within 32–512")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bundle = bundle or RigBundle.load()
    settings = {"format": "simon-says-studio.inversion-dataset", "version": 1, "rig": bundle.name,
                "seed": seed, "size": size, "shard_size": shard_size, "kinds": list(KINDS),
                "control_names": list(bundle.rig.expression_names)}
    index_file = out / "dataset.json"
    if index_file.exists():
        previous = json.loads(index_file.read_text(encoding="utf-8"))
        if {k: previous.get(k) for k in settings} != settings:
            raise ValueError(f"{out} holds a dataset made with other settings; choose another folder")
    shards = [(i, min(shard_size, samples - i * shard_size)) for i in range(-(-samples // shard_size))]
    todo = [(i, n) for i, n in shards if not (out / f"shard_{i:05d}.npz").exists()]
    done = sum(n for i, n in shards) - sum(n for _, n in todo)
    started, made, missed = time.perf_counter(), 0, 0
    if todo:
        pools = _pools(bundle.rig.expression_names)
        with OffscreenRenderer(bundle.rig, RENDER_SIZE, TRACKING_CAMERA) as renderer, \
                GeometryReconstructor(running_mode="image") as reconstructor:
            for index, count in todo:
                job = _shard(bundle, index, count, seed, size, pools, renderer, reconstructor, cancel)
                try:
                    while True:
                        made_here = next(job)
                        yield (f"shard {index + 1}/{len(shards)}", done + made_here, samples)
                except StopIteration as stop:
                    arrays, shard_missed = stop.value
                write_atomic(out / f"shard_{index:05d}.npz", npz_writer(arrays))
                done, made, missed = done + count, made + count, missed + shard_missed
    seconds = time.perf_counter() - started
    summary = {**settings, "samples": samples, "shards": len(shards), "made_now": made,
               "no_face_skipped": missed, "seconds": round(seconds, 1),
               "samples_per_s": round(made / seconds, 2) if made else None}
    write_atomic(index_file, lambda handle: handle.write(json.dumps(summary, indent=2).encode() + b"\n"))
    yield ("done", samples, samples)
    return summary
