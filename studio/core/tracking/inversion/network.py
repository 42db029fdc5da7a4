"""The inversion network (paper 002, Sec. 3): two convolutional branches, one on the RGB face crop and one on
the normal map, their features concatenated and regressed to the rig's controls by an MLP.

The paper's branches are Hiera transformers. On this studio's CPUs the figures favour a compact CNN (see
``docs/inversion.md``): a Hiera-tiny branch costs ~10× the multiply-adds of :class:`Branch` at 128², would
not reach 60 frames/s on two cores, and cannot be pretrained here (nothing can be downloaded), which is what
makes transformers pay at this data size. Each branch is a stem and four stages of (strided 3×3 convolution,
3×3 convolution), batch norm and SiLU, ending in a 4×4 map that is flattened — where on the face a feature
sits matters, so it is not pooled away.

Shapes: images are ``(B, 3, s, s)`` float in [0, 1] (``s`` = 128 by default, a multiple of 32); controls are
``(B, K)``. The RGB-only variant is the same network with ``branches=("rgb",)``.

Weights files (``.pt``, written atomically) hold ``{"format", "version", "config", "state", "metadata"}``;
:func:`load_network` checks them and says in one line what is wrong.
"""

from __future__ import annotations

import io
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from studio.core.errors import StudioError
from studio.core.io.atomic_files import write_atomic

__all__ = [
    "BRANCHES",
    "Branch",
    "InversionConfig",
    "InversionNetwork",
    "NetworkFileError",
    "load_network",
    "save_network",
    "to_input",
]

FORMAT = "simon-says-studio.inversion-network"
VERSION = 1
BRANCHES = ("rgb", "normal")
"""The inputs a network may take: the RGB face crop and the normal map of MediaPipe's mesh in it."""


class NetworkFileError(StudioError):
    """A weights file that is not an inversion network, or does not fit the rig."""


@dataclass(frozen=True)
class InversionConfig:
    """The network's shape.

    Attributes
    ----------
    control_names : tuple of str
        The rig's controls, in order (``K``).
    branches : tuple of str
        Inputs, from :data:`BRANCHES`: ``("rgb", "normal")`` (two-branch) or ``("rgb",)`` (RGB-only).
    size : int
        The crop's side, pixels (multiple of 32).
    widths : tuple of int
        Channels of the stem and the four stages of each branch.
    features : int
        Each branch's feature length.
    hidden : int
        Width of the MLP head's hidden layer.
    calibrated : bool
        Whether the network carries a performer's calibration: a gain and a bias per control on the head's
        output (``c = (1 + g) ⊙ head(f) + b``; :mod:`studio.core.calibration.network`).
    """

    control_names: tuple[str, ...]
    branches: tuple[str, ...] = BRANCHES
    size: int = 128
    widths: tuple[int, ...] = (24, 32, 64, 96, 128)
    features: int = 256
    hidden: int = 512
    calibrated: bool = False

    def __post_init__(self) -> None:
        if not self.branches or set(self.branches) - set(BRANCHES) or self.branches[0] != "rgb":
            raise ValueError(f"branches must be ('rgb',) or ('rgb', 'normal'), got {self.branches}")
        if self.size % 32 or len(self.widths) != 5:
            raise ValueError("size must be a multiple of 32 and widths five channel counts")


def _block(inputs: int, outputs: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False), nn.BatchNorm2d(outputs), nn.SiLU(inplace=True)]


class Branch(nn.Module):
    """One backbone: ``(B, 3, s, s)`` → features ``(B, F)``."""

    def __init__(self, widths: tuple[int, ...], size: int, features: int) -> None:
        super().__init__()
        layers = _block(3, widths[0], 2)  # s/2
        for inputs, outputs in zip(widths[:-1], widths[1:], strict=True):
            layers += _block(inputs, outputs, 2) + _block(outputs, outputs, 1)  # s/4 … s/32
        self.convolutions = nn.Sequential(*layers)
        side = size // 32
        self.project = nn.Sequential(nn.Flatten(), nn.Linear(widths[-1] * side * side, features),
                                     nn.SiLU(inplace=True))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.project(self.convolutions((image - 0.5) * 4.0))


class InversionNetwork(nn.Module):
    """Face crop (and normal map) → the rig's controls (module docstring).

    ``forward(rgb, normal=None)`` takes ``(B, 3, s, s)`` images in [0, 1] and gives the controls ``(B, K)``,
    unclamped (training regresses them; :meth:`predict` clamps to [0, 1]).
    """

    def __init__(self, config: InversionConfig) -> None:
        super().__init__()
        self.config = config
        self.branches = nn.ModuleDict({name: Branch(config.widths, config.size, config.features)
                                       for name in config.branches})
        self.head = nn.Sequential(
            nn.Linear(config.features * len(config.branches), config.hidden), nn.SiLU(inplace=True),
            nn.Dropout(0.1), nn.Linear(config.hidden, len(config.control_names)),
        )
        if config.calibrated:
            self.gain = nn.Parameter(torch.zeros(len(config.control_names)))
            self.bias = nn.Parameter(torch.zeros(len(config.control_names)))

    @property
    def uses_normals(self) -> bool:
        """Whether the network takes the normal map."""
        return "normal" in self.config.branches

    def features(self, rgb: torch.Tensor, normal: torch.Tensor | None = None) -> torch.Tensor:
        """The fused features ``(B, F · branches)``."""
        parts = [self.branches["rgb"](rgb)]
        if self.uses_normals:
            if normal is None:
                raise ValueError("this network takes the normal map as well as the RGB crop")
            parts.append(self.branches["normal"](normal))
        return torch.cat(parts, dim=1)

    def forward(self, rgb: torch.Tensor, normal: torch.Tensor | None = None) -> torch.Tensor:
        return self.calibrate(self.head(self.features(rgb, normal)))

    def calibrate(self, raw: torch.Tensor) -> torch.Tensor:
        """The performer's calibration of the head's output ``(B, K)`` (unchanged when not calibrated)."""
        return raw * (1.0 + self.gain) + self.bias if self.config.calibrated else raw

    @torch.no_grad()
    def predict(self, rgb: np.ndarray, normal: np.ndarray | None = None) -> np.ndarray:
        """Controls ``(B, K)`` in [0, 1] for uint8 crops ``(B, s, s, 3)`` (eval mode, on the network's device)."""
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            out = self(to_input(rgb, device), None if normal is None else to_input(normal, device))
        finally:
            self.train(was_training)
        return out.clamp(0.0, 1.0).cpu().numpy()


def to_input(images: np.ndarray | torch.Tensor, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 images ``(B, s, s, 3)`` → float ``(B, 3, s, s)`` in [0, 1] on ``device``."""
    tensor = torch.as_tensor(images).to(device)
    return tensor.permute(0, 3, 1, 2).float().div_(255.0).contiguous()


def save_network(path: str | os.PathLike, network: InversionNetwork, metadata: dict | None = None) -> Path:
    """Write the weights (float16 to keep the file small; module docstring) atomically."""
    state = {key: (value.detach().cpu().half() if value.is_floating_point() else value.detach().cpu())
             for key, value in network.state_dict().items()}
    config = asdict(network.config)
    payload = {"format": FORMAT, "version": VERSION, "config": config, "state": state, "metadata": metadata or {}}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda handle: handle.write(buffer.getvalue()))
    return path


def load_network(path: str | os.PathLike, control_names: tuple[str, ...] | None = None,
                 device: str | torch.device = "cpu") -> tuple[InversionNetwork, dict]:
    """Read a weights file: ``(network in eval mode on device, metadata)``.

    Raises
    ------
    NetworkFileError
        Missing, unreadable, not an inversion network, a newer version, or made for other controls.
    """
    path = Path(path)
    if not path.is_file():
        raise NetworkFileError(f"{path}: no such network file (train one with python main.py train inversion)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: torch raises many kinds
        raise NetworkFileError(f"{path}: not a network file ({type(error).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise NetworkFileError(f"{path}: not an inversion network file")
    if int(payload.get("version", 0)) > VERSION:
        raise NetworkFileError(f"{path}: version {payload['version']} is newer than this studio reads ({VERSION})")
    raw = payload["config"]
    config = InversionConfig(**{**raw, **{k: tuple(raw[k]) for k in ("control_names", "branches", "widths")}})
    if control_names is not None and tuple(control_names) != config.control_names:
        raise NetworkFileError(f"{path}: the network was trained for other controls than the rig's")
    network = InversionNetwork(config)
    try:
        network.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state"].items()})
    except (RuntimeError, KeyError) as error:
        raise NetworkFileError(f"{path}: weights do not fit the network they describe ({str(error)[:80]})") from None
    for value in network.state_dict().values():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise NetworkFileError(f"{path}: the weights hold NaN or infinite values")
    return network.to(device).eval(), dict(payload.get("metadata", {}))

