"""The learned tracker: MediaPipe's observation of a frame → face crop (+ its mesh as normals) → controls.

:class:`NetworkTracker` wraps a trained :class:`~.network.InversionNetwork`. MediaPipe still finds the face
(its landmarks make the crop, as they did for the training renders, and its mesh is the normal branch's
input); the controls come from the network, not from solving the rig against the landmarks, so MediaPipe's
systematic response to expressions does not reach them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from studio.core.io.resources import MODELS_DIR
from studio.core.tracking.inversion.crops import crop_landmarks, face_crop, mesh_normal_map
from studio.core.tracking.inversion.network import InversionNetwork, load_network

__all__ = ["DEFAULT_VARIANT", "NetworkTracker", "network_path"]

DEFAULT_VARIANT = "two_branch"
"""The shipped network tracking uses by default: on held-out renders the two networks are even, on real faces
the two-branch one follows MediaPipe's own blendshapes far more closely — the RGB-only one learned the
renderer (docs/inversion.md)."""


def network_path(variant: str = DEFAULT_VARIANT) -> Path:
    """Where a shipped network lives: ``MODELS_DIR/inversion/<variant>.pt``."""
    return MODELS_DIR / "inversion" / f"{variant}.pt"


class NetworkTracker:
    """Frames → controls by a trained network (module docstring).

    Parameters
    ----------
    network : InversionNetwork
        The trained network (moved to ``device``, eval mode).
    metadata : dict
        What its file says about it (training figures, command).
    device : str
        Where inference runs.
    """

    def __init__(self, network: InversionNetwork, metadata: dict | None = None, device: str = "cpu") -> None:
        self.network = network.to(device).eval()
        self.metadata = metadata or {}
        self.device = device

    @classmethod
    def load(cls, path: str | Path | None = None, control_names: Sequence[str] | None = None,
             device: str = "cpu") -> NetworkTracker:
        """The network in ``path`` (default: the shipped :data:`DEFAULT_VARIANT` one); one-line ``NetworkFileError``."""
        network, metadata = load_network(path or network_path(), None if control_names is None else tuple(control_names),
                                         device)
        return cls(network, metadata, device)

    @property
    def control_names(self) -> tuple[str, ...]:
        return self.network.config.control_names

    @property
    def size(self) -> int:
        """The crop's side, pixels."""
        return self.network.config.size

    def normal_maps(self, landmarks_px: Sequence[np.ndarray]) -> np.ndarray | None:
        """The normal branch's input for frames with MediaPipe's landmarks ``(478, 3)`` each (frame pixels):
        ``(n, s, s, 3)`` uint8 maps of the mesh in each frame's crop; None for an RGB-only network."""
        if not self.network.uses_normals:
            return None
        maps = [mesh_normal_map(crop_landmarks(points, self.size), self.size) for points in landmarks_px]
        return np.stack(maps) if maps else np.zeros((0, self.size, self.size, 3), np.uint8)

    def inputs(self, image: np.ndarray, landmarks_px: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The network's inputs for one frame ``(H, W, 3)`` and MediaPipe's landmarks on it ``(478, 3)``: the
        RGB crop and (two-branch) the mesh's normal map, each ``(s, s, 3)`` uint8."""
        normals = self.normal_maps([landmarks_px])
        return face_crop(image, landmarks_px, self.size), None if normals is None else normals[0]

    def controls(self, crops: np.ndarray, normals: np.ndarray | None = None) -> np.ndarray:
        """Controls ``(B, K)`` in [0, 1] for crops ``(B, s, s, 3)`` (and normal maps, two-branch)."""
        if len(crops) == 0:
            return np.zeros((0, len(self.control_names)), np.float32)
        return self.network.predict(crops, normals if self.network.uses_normals else None)

    def track_frame(self, image: np.ndarray, landmarks_px: np.ndarray) -> np.ndarray:
        """Controls ``(K,)`` of one frame; NaN when MediaPipe found no face (NaN landmarks)."""
        if not np.isfinite(landmarks_px).all():
            return np.full(len(self.control_names), np.nan, np.float32)
        crop, normal = self.inputs(image, landmarks_px)
        return self.controls(crop[None], None if normal is None else normal[None])[0]

    def observation_inputs(self, observations: Sequence) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The inputs of observations that carry crops (``GeometryReconstructor(crop_size=tracker.size)``):
        crops ``(n, s, s, 3)``, normal maps (or None) and the frames they came from ``(n,)``."""
        used = [i for i, o in enumerate(observations) if o.face_found and o.crop is not None]
        if any(o.face_found and o.crop is None for o in observations):
            raise ValueError("the observations carry no face crops: reconstruct with crop_size=tracker.size")
        crops = np.stack([observations[i].crop for i in used]) if used else np.zeros((0, self.size, self.size, 3),
                                                                                       np.uint8)
        return crops, self.normal_maps([observations[i].landmarks for i in used]), np.asarray(used, np.int64)

    def track_observations(self, observations: Sequence, batch: int = 64) -> np.ndarray:
        """Controls ``(T, K)`` float32 of observations with crops; NaN rows where no face was found."""
        out = np.full((len(observations), len(self.control_names)), np.nan, np.float32)
        for start in range(0, len(observations), batch):
            crops, normals, used = self.observation_inputs(observations[start:start + batch])
            out[start + used] = self.controls(crops, normals)
        return out
