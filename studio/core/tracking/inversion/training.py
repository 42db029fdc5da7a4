"""Training the inversion network (``python main.py train inversion``) and its held-out figures.

Data: the shards of ``python main.py dataset inversion`` (:mod:`studio.render.inversion_data`). Shard ``i`` is
held out when ``i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1`` (4 %), whatever the dataset's size. The normal
branch's input, MediaPipe's mesh as normals in the crop (:func:`~.crops.mesh_normal_map`), is made from each
sample's stored landmarks once and cached beside the shard (``mesh_normals/shard_XXXXX.npy``).

Losses (paper 002, Sec. 3.3): L1 on the controls plus ``MESH_WEIGHT`` × the mean vertex distance of the
face (mm) between the rig posed by the predicted and by the true controls — ICT's expressions add to any
identity, so the mesh loss is ``‖(ĉ − c) · θ‖`` on the face's vertices, identity-free.

The job is seeded and resumable: each epoch's order comes from ``(seed, epoch)``, and a checkpoint (weights,
optimiser, schedule, step, loss history) is written atomically every ``CHECKPOINT_STEPS`` steps and at each
epoch's end; a second run with the same settings continues from it.
"""

from __future__ import annotations

import io
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from studio.core.errors import StudioError
from studio.core.io.atomic_files import write_atomic
from studio.core.jobs import Cancel, JobCancelled, is_cancelled
from studio.core.tracking.inversion.crops import mesh_normal_map
from studio.core.tracking.inversion.network import InversionConfig, InversionNetwork, save_network

__all__ = [
    "HELD_OUT_EVERY",
    "VARIANTS",
    "FaceMesh",
    "InversionSamples",
    "control_figures",
    "evaluate_network",
    "load_samples",
    "train_inversion_job",
]

HELD_OUT_EVERY = 25
MESH_WEIGHT = 0.02
"""Weight of the mesh loss (per mm) against the controls' L1: 0.5 mm counts as 0.01 of control error."""
SQUARED_WEIGHT = 10.0
"""Weight of the controls' squared error: L1 alone lets the sparse controls sit at 0 (their median) for long;
the squared term pulls hard on the large errors of the active ones."""
CHECKPOINT_STEPS = 200
VARIANTS: dict[str, tuple[str, ...]] = {"two_branch": ("rgb", "normal"), "rgb_only": ("rgb",)}
REPORT_REGIONS = ("eye", "brow", "mouth", "jaw")
"""The face's regions the figures are given for (``eye`` includes gaze and the eyeballs)."""


class DataError(StudioError):
    """A dataset folder that cannot be trained on."""


@dataclass
class InversionSamples:
    """Samples in memory: ``rgb`` and ``normal`` ``(S, s, s, 3)`` uint8, ``controls`` ``(S, K)`` float32,
    ``kind`` ``(S,)`` int8, ``landmarks`` ``(S, 478, 3)`` crop pixels."""

    rgb: np.ndarray
    normal: np.ndarray
    controls: np.ndarray
    kind: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return len(self.controls)


def _mesh_normals(data_dir: Path, shard: Path, landmarks: np.ndarray, size: int) -> np.ndarray:
    cache = data_dir / "mesh_normals" / f"{shard.stem}.npy"
    if cache.exists():
        cached = np.load(cache)
        if cached.shape == (len(landmarks), size, size, 3):
            return cached
    maps = np.stack([mesh_normal_map(points, size) for points in landmarks])
    cache.parent.mkdir(exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, maps)
    write_atomic(cache, lambda handle: handle.write(buffer.getvalue()))
    return maps


def load_samples(
    data_dir: str | Path,
    split: str = "train",
    limit: int | None = None,
    cancel: Cancel = None,
    normals: bool = True,
) -> Generator[tuple[str, int, int], None, InversionSamples]:
    """Read the ``train`` or ``held_out`` shards of a dataset (a generator job; returns the samples).

    ``limit`` keeps the first shards up to that many samples; ``normals=False`` (an RGB-only network) leaves
    the normal maps out (``normal`` is then empty). Raises :class:`DataError` for a folder without shards or
    with shards that are not the dataset's.
    """
    data_dir = Path(data_dir)
    if not any(data_dir.glob("shard_*.npz")):
        raise DataError(f"{data_dir}: no shards (make them with python main.py dataset inversion --out {data_dir})")
    held = HELD_OUT_EVERY - 1
    shards = [p for p in sorted(data_dir.glob("shard_*.npz"))
              if (int(p.stem.split("_")[1]) % HELD_OUT_EVERY == held) == (split == "held_out")]
    if split not in ("train", "held_out"):
        raise ValueError(f"split must be train or held_out, got {split!r}")
    if not shards:
        raise DataError(f"{data_dir}: no {split} shards (held out: every {HELD_OUT_EVERY}th shard)")
    parts: dict[str, list] = {key: [] for key in ("rgb", "normal", "controls", "kind", "landmarks")}
    count = 0
    for number, shard in enumerate(shards):
        if is_cancelled(cancel):
            raise JobCancelled("loading cancelled")
        try:
            with np.load(shard) as data:
                arrays = {key: data[key] for key in ("rgb", "controls", "kind", "landmarks")}
        except (OSError, KeyError, ValueError) as error:
            raise DataError(f"{shard}: not a dataset shard ({error})") from None
        size = arrays["rgb"].shape[1]
        arrays["normal"] = _mesh_normals(data_dir, shard, arrays["landmarks"], size) if normals else \
            np.zeros((0, size, size, 3), np.uint8)
        for key, value in arrays.items():
            parts[key].append(value)
        count += len(arrays["controls"])
        yield (f"reading {split} shards", number + 1, len(shards))
        if limit is not None and count >= limit:
            break
    samples = {key: np.concatenate(value) for key, value in parts.items()}
    if limit is not None:
        samples = {key: value[:limit] for key, value in samples.items()}
    return InversionSamples(**samples)


class FaceMesh:
    """The rig's expression offsets on the face, for the mesh loss and the per-region vertex errors.

    ``vertex_error_mm(delta)`` takes control differences ``(B, K)`` and gives the mean vertex distance
    ``(B,)`` in mm over the face (every ``stride``-th face vertex); :meth:`region_error_mm` the same over a
    region's vertices (those its controls move most, at least 1 mm).
    """

    def __init__(self, rig, definition, stride: int = 4, device: str | torch.device = "cpu") -> None:
        deltas = np.asarray(rig.expression_deltas, np.float32) * 10.0  # cm → mm
        face = np.flatnonzero(rig.vertex_group == rig.group_names.index("face")) if "face" in rig.group_names \
            else np.arange(rig.num_vertices)
        self.deltas = torch.as_tensor(deltas[:, face[::stride]], device=device)  # (K, V', 3)
        reach = np.linalg.norm(deltas, axis=2)  # (K, V) mm
        by_region = definition.by_region()
        strongest = np.stack([reach[by_region[r]].max(axis=0) if by_region[r] else np.zeros(rig.num_vertices)
                              for r in REPORT_REGIONS])  # (R, V)
        winner = strongest.argmax(axis=0)
        self.region_vertices = {r: np.flatnonzero((winner == i) & (strongest[i] >= 1.0))
                                for i, r in enumerate(REPORT_REGIONS)}
        self._region_deltas = {r: torch.as_tensor(deltas[:, ids], device=device)
                               for r, ids in self.region_vertices.items()}

    def vertex_error_mm(self, delta: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bk,kvc->bvc", delta, self.deltas).norm(dim=2).mean(dim=1)

    def region_error_mm(self, delta: torch.Tensor, region: str) -> torch.Tensor:
        offsets = self._region_deltas[region]
        return torch.einsum("bk,kvc->bvc", delta, offsets).norm(dim=2).mean(dim=1)


def control_figures(predicted: np.ndarray, truth: np.ndarray, names: Sequence[str], definition,
                    mesh: FaceMesh) -> dict:
    """Held-out figures of one tracker: control MAE (all, per region, gaze), vertex error per region (mm).

    ``predicted`` and ``truth`` are ``(S, K)``; rows of ``predicted`` that are NaN (no face) are left out and
    counted.
    """
    predicted, truth = np.asarray(predicted, np.float64), np.asarray(truth, np.float64)
    found = np.isfinite(predicted).all(axis=1)
    error = predicted[found] - truth[found]
    by_region = definition.by_region()
    gaze = [k for k, n in enumerate(names) if n.startswith("eyeLook")]
    delta = torch.as_tensor(error, dtype=torch.float32)
    figures = {
        "samples": int(len(predicted)), "without_face": int((~found).sum()),
        "control_mae": float(np.abs(error).mean()),
        "control_mae_by_region": {r: float(np.abs(error[:, by_region[r]]).mean()) for r in REPORT_REGIONS},
        "gaze_mae": float(np.abs(error[:, gaze]).mean()) if gaze else None,
        "vertex_error_mm": float(mesh.vertex_error_mm(delta).mean()),
        "vertex_error_mm_by_region": {r: float(mesh.region_error_mm(delta, r).mean()) for r in REPORT_REGIONS},
    }
    return figures


def predict_samples(network: InversionNetwork, samples: InversionSamples, batch: int = 256) -> np.ndarray:
    """The network's controls ``(S, K)`` for every sample."""
    out = []
    for start in range(0, len(samples), batch):
        part = slice(start, start + batch)
        out.append(network.predict(samples.rgb[part], samples.normal[part] if network.uses_normals else None))
    return np.concatenate(out)


def evaluate_network(network: InversionNetwork, samples: InversionSamples, rig, definition) -> dict:
    """:func:`control_figures` of the network on samples (held-out renders)."""
    mesh = FaceMesh(rig, definition)
    return control_figures(predict_samples(network, samples), samples.controls, rig.expression_names, definition,
                           mesh)


def _plot_history(path: Path, history: list[dict], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=100)
    steps = [h["step"] for h in history if "loss" in h]
    axes[0].plot(steps, [h["loss"] for h in history if "loss" in h], lw=0.8, label="training loss")
    axes[0].plot(steps, [h["control_l1"] for h in history if "loss" in h], lw=0.8, label="control L1")
    evaluations = [h for h in history if "held_out_mae" in h]
    if evaluations:
        axes[0].plot([h["step"] for h in evaluations], [h["held_out_mae"] for h in evaluations], "o-",
                     label="held-out control MAE")
        axes[1].plot([h["step"] for h in evaluations], [h["held_out_vertex_mm"] for h in evaluations], "o-",
                     color="C3", label="held-out face vertex error")
    axes[0].set(xlabel="step", yscale="log", title=title)
    axes[1].set(xlabel="step", ylabel="mm", title="held-out mesh error")
    for axis in axes:
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    write_atomic(path, lambda handle: handle.write(buffer.getvalue()))


def train_inversion_job(
    data_dir: str | Path,
    out: str | Path,
    rig,
    definition,
    variant: str = "two_branch",
    epochs: int = 18,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    seed: int = 0,
    device: str = "cpu",
    checkpoint: str | Path | None = None,
    limit: int | None = None,
    max_steps: int | None = None,
    cancel: Cancel = None,
) -> Generator[tuple[str, int, int], None, dict]:
    """Train a network on a dataset and write its weights to ``out`` (a generator job; module docstring).

    Yields ``(what, done, total)``; returns the summary (also in the weights' metadata): held-out figures,
    samples, steps, seconds. ``out`` gets ``<stem>_loss.png`` beside it. ``limit`` (samples) and
    ``max_steps`` shorten a run for tests.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: choose {' or '.join(VARIANTS)}")
    if epochs < 1 or batch_size < 2:
        raise ValueError("epochs must be at least 1 and the batch at least 2")
    out = Path(out)
    checkpoint = Path(checkpoint) if checkpoint else Path(data_dir) / "checkpoints" / f"{variant}.pt"
    normals = "normal" in VARIANTS[variant]
    train = yield from load_samples(data_dir, "train", limit, cancel, normals)
    held_out = yield from load_samples(data_dir, "held_out", None if limit is None else max(limit // 10, 64),
                                       cancel, normals)
    torch.manual_seed(seed)
    config = InversionConfig(tuple(rig.expression_names), VARIANTS[variant], size=int(train.rgb.shape[1]))
    network = InversionNetwork(config).to(device)
    optimiser = torch.optim.AdamW(network.parameters(), lr=learning_rate, weight_decay=1e-4)
    steps_per_epoch = len(train) // batch_size
    if steps_per_epoch < 1:
        raise DataError(f"{data_dir}: {len(train)} training samples, fewer than one batch of {batch_size}")
    total_steps = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, learning_rate, total_steps=total_steps,
                                                   pct_start=0.15)
    mesh = FaceMesh(rig, definition, device=device)
    settings = {"variant": variant, "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
                "seed": seed, "train_samples": len(train), "total_steps": total_steps}
    step, history, seconds = 0, [], 0.0
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        if state.get("settings") == settings:
            network.load_state_dict(state["network"])
            optimiser.load_state_dict(state["optimiser"])
            schedule.load_state_dict(state["schedule"])
            step, history, seconds = state["step"], state["history"], state["seconds"]

    def save_checkpoint() -> None:
        buffer = io.BytesIO()
        torch.save({"settings": settings, "network": network.state_dict(), "optimiser": optimiser.state_dict(),
                    "schedule": schedule.state_dict(), "step": step, "history": history,
                    "seconds": seconds + time.perf_counter() - started}, buffer)
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(checkpoint, lambda handle: handle.write(buffer.getvalue()))

    def held_out_figures() -> dict:
        return control_figures(predict_samples(network, held_out), held_out.controls, rig.expression_names,
                               definition, mesh)

    started = time.perf_counter()
    running: dict[str, float] = {}
    while step < total_steps:
        epoch, within = divmod(step, steps_per_epoch)
        order = np.random.default_rng([seed, epoch]).permutation(len(train))
        index = np.sort(order[within * batch_size:(within + 1) * batch_size])
        if is_cancelled(cancel):
            save_checkpoint()
            raise JobCancelled(f"training cancelled at step {step}; run it again to continue")
        network.train()
        rgb = torch.as_tensor(train.rgb[index]).to(device).permute(0, 3, 1, 2).float().div_(255.0)
        normal = (torch.as_tensor(train.normal[index]).to(device).permute(0, 3, 1, 2).float().div_(255.0)
                  if network.uses_normals else None)
        truth = torch.as_tensor(train.controls[index]).to(device)
        predicted = network(rgb, normal)
        control_l1 = (predicted - truth).abs().mean()
        vertex_mm = mesh.vertex_error_mm(predicted - truth).mean()
        loss = control_l1 + SQUARED_WEIGHT * (predicted - truth).square().mean() + MESH_WEIGHT * vertex_mm
        if not torch.isfinite(loss):
            raise StudioError(f"training diverged at step {step} (loss {loss.item()}); lower --lr")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        step += 1
        for key, value in (("loss", loss.item()), ("control_l1", control_l1.item()), ("vertex_mm", vertex_mm.item())):
            running[key] = running.get(key, 0.0) + value
        running["n"] = running.get("n", 0) + 1
        if step % 50 == 0 or step == total_steps:
            n = running.pop("n")
            history.append({"step": step, **{k: v / n for k, v in running.items()}})
            running = {}
        end_of_epoch = step % steps_per_epoch == 0 or step == total_steps
        if end_of_epoch:
            figures = held_out_figures()
            history.append({"step": step, "held_out_mae": figures["control_mae"],
                            "held_out_vertex_mm": figures["vertex_error_mm"]})
        if end_of_epoch or step % CHECKPOINT_STEPS == 0:
            save_checkpoint()
        yield (f"epoch {epoch + 1}/{epochs}", step, total_steps)
    seconds += time.perf_counter() - started
    figures = held_out_figures()
    summary = {**settings, "steps": step, "seconds": round(seconds, 1), "held_out_samples": len(held_out),
               "held_out": figures, "history": history, "device": str(device)}
    save_network(out, network.cpu(), summary)
    _plot_history(out.with_name(f"{out.stem}_loss.png"), history,
                  f"{variant}: {len(train)} samples, {step} steps")
    return summary
