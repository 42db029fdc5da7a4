"""Where the benchmarks find real face footage: ``$STUDIO_FOOTAGE_DIR``, else ``../shared/footage`` beside the
checkout (a developer's machine and CI); an installed studio without either has none."""

from __future__ import annotations

import os
from pathlib import Path

#: The checkout holding this package (``studio/bench/footage.py`` → the repository root).
_CHECKOUT = Path(__file__).resolve().parents[2]


def footage_folder() -> Path | None:
    """The folder of the shared footage clips, or ``None`` when there is none."""
    for candidate in (os.environ.get("STUDIO_FOOTAGE_DIR"), _CHECKOUT.parent / "shared" / "footage"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None
