"""Where the studio's own packaged data files live (rig definitions, ...).

These are data files shipped inside the ``studio`` package (``studio/resources/``, package data in
``pyproject.toml``, so an installed studio has them), not third-party assets (those are resolved by
:mod:`studio.core.assets`).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["LANDMARKS_DIR", "MODELS_DIR", "RESOURCES_DIR", "RIGS_DIR"]

RESOURCES_DIR: Path = Path(__file__).resolve().parents[2] / "resources"
"""The package's ``studio/resources/`` folder (``studio/core/io/resources.py`` → ``studio/``), wherever the
package is installed."""

RIGS_DIR: Path = RESOURCES_DIR / "rigs"
"""Rig definition files (``ict_facekit.json``, ...); format in ``docs/rig-definition.md``."""

LANDMARKS_DIR: Path = RESOURCES_DIR / "landmarks"
"""Landmark embeddings (``mediapipe478_on_ict.npz``, ...); format in ``docs/landmark-embedding.md``."""

MODELS_DIR: Path = Path(os.environ.get("STUDIO_MODELS_DIR", Path(__file__).resolve().parents[3] / "models"))
"""Where the studio's trained models live: ``STUDIO_MODELS_DIR``, else the checkout's ``models/`` folder."""
