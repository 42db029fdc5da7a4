"""The files of the expression models: one format for the classifier, the generator and the temporal model.

A file (``.pt``, written atomically) holds ``{"format", "kind", "version", "config", "state", "metadata"}``:
the kind of model, its constructor's arguments, float16 weights (the files stay well under 5 MB) and the
training's provenance (seed, command, figures). :func:`load_model_file` checks all of it and says in one line
what is wrong.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from studio.core.errors import StudioError
from studio.core.io.atomic_files import write_atomic
from studio.core.io.resources import MODELS_DIR

__all__ = ["FORMAT", "VERSION", "ModelFileError", "load_model_file", "model_path", "save_model_file"]

FORMAT = "simon-says-expression-model"
VERSION = 1

#: Where each kind of model is shipped, under ``MODELS_DIR``, and the command that trains it.
_SHIPPED = {
    "emotion": ("emotion/classifier.pt", "python main.py train emotion"),
    "generator": ("generator/cvae.pt", "python main.py train generator"),
    "temporal": ("temporal/denoiser.pt", "python main.py train temporal"),
}


class ModelFileError(StudioError):
    """An expression model file is missing, unreadable, of another kind, newer, or made for other controls."""


def model_path(kind: str) -> Path:
    """Where the shipped model of ``kind`` (``emotion``, ``generator``, ``temporal``) lives."""
    return MODELS_DIR / _SHIPPED[kind][0]


def save_model_file(path: str | os.PathLike, kind: str, network: nn.Module, config: dict[str, Any],
                    metadata: dict[str, Any] | None = None) -> Path:
    """Write ``network``'s weights (float16), its ``config`` and ``metadata`` atomically to ``path``."""
    state = {key: (value.detach().cpu().half() if value.is_floating_point() else value.detach().cpu())
             for key, value in network.state_dict().items()}
    payload = {"format": FORMAT, "kind": kind, "version": VERSION, "config": config, "state": state,
               "metadata": metadata or {}}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda handle: handle.write(buffer.getvalue()))
    return path


def load_model_file(path: str | os.PathLike, kind: str, build, control_names: tuple[str, ...] | None = None):
    """Read a model file: ``(network in eval mode, config, metadata)``.

    Parameters
    ----------
    path : path
        The file.
    kind : str
        The kind it must be.
    build : callable
        ``build(**config) -> nn.Module``.
    control_names : tuple of str, optional
        The rig's controls the model must have been trained for (``config["control_names"]``).

    Raises
    ------
    ModelFileError
        One line: missing, not such a file, a newer version, other controls, weights that do not fit or
        are not finite.
    """
    path = Path(path)
    train = _SHIPPED.get(kind, ("", "python main.py train"))[1]
    if not path.is_file():
        raise ModelFileError(f"{path}: no such {kind} model (train one with {train})")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: torch raises many kinds
        raise ModelFileError(f"{path}: not a model file ({type(error).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an expression model file")
    if payload.get("kind") != kind:
        raise ModelFileError(f"{path}: holds the {payload.get('kind')} model, not the {kind} model")
    if int(payload.get("version", 0)) > VERSION:
        raise ModelFileError(f"{path}: version {payload['version']} is newer than this studio reads ({VERSION})")
    config = dict(payload["config"])
    if "control_names" in config:
        config["control_names"] = tuple(config["control_names"])
        if control_names is not None and tuple(control_names) != config["control_names"]:
            raise ModelFileError(f"{path}: the {kind} model was trained for other controls than the rig's")
    try:
        network = build(**config)
        network.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state"].items()})
    except (RuntimeError, KeyError, TypeError) as error:
        raise ModelFileError(f"{path}: weights do not fit the model they describe ({str(error)[:80]})") from None
    for value in network.state_dict().values():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ModelFileError(f"{path}: the weights hold NaN or infinite values")
    return network.eval(), config, dict(payload.get("metadata", {}))
