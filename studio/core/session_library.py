"""Where sessions live for a user: the data folder, the demo session, the list of recent sessions.

The user data folder is ``$STUDIO_DATA_DIR`` when set, else ``platformdirs.user_data_dir("simon-says-studio")``.
It holds ``sessions/demo/`` — the demo session, a synthetic performer with a known motion signature
(:func:`studio.core.session_calibration.synthetic_session_job`) generated on first use so that the whole
workflow can be tried without a camera — and ``recent.json``, the most recently opened session folders
(newest first, at most :data:`MAX_RECENT`, written atomically, folders that no longer hold a session
dropped when read).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator, Sequence
from pathlib import Path

from studio.core.atomic_files import write_text_atomic
from studio.core.jobs import Cancel, is_cancelled
from studio.core.session import Session

DATA_DIR_ENV = "STUDIO_DATA_DIR"
MAX_RECENT = 10
DEMO_SEED = 7


def data_folder() -> Path:
    """The user data folder (it may not exist yet)."""
    root = os.environ.get(DATA_DIR_ENV)
    if not root:
        import platformdirs

        root = platformdirs.user_data_dir("simon-says-studio", appauthor=False)
    return Path(root).expanduser()


def demo_session_folder() -> Path:
    """``<data folder>/sessions/demo``."""
    return data_folder() / "sessions" / "demo"


def is_session(folder: str | os.PathLike) -> bool:
    """Whether the folder holds a session index."""
    return (Path(folder) / "session.json").is_file()


def recent_sessions() -> list[Path]:
    """Recently opened session folders, newest first (those that still hold a session)."""
    try:
        entries = json.loads((data_folder() / "recent.json").read_text()).get("sessions", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [Path(e) for e in entries if isinstance(e, str) and is_session(e)]


def remember_session(folder: str | os.PathLike) -> list[Path]:
    """Put ``folder`` first in the recent list (atomically) and return the list."""
    folder = Path(folder).resolve()
    entries = [folder, *[p for p in recent_sessions() if p.resolve() != folder]][:MAX_RECENT]
    write_text_atomic(
        data_folder() / "recent.json",
        json.dumps({"format": "simon-says-recent-sessions", "version": 1, "sessions": [str(p) for p in entries]},
                   indent=2) + "\n",
    )
    return entries


def demo_session_job(
    source_for: Callable,
    folder: str | os.PathLike | None = None,
    expression_names: Sequence[str] | None = None,
    cancel: Cancel = None,
) -> Generator[tuple, None, Session]:
    """Generate (or complete) the demo session; returns it. A finished demo session is only opened.

    ``source_for(rig, curves, seed)`` makes the synthetic performer's frames (the render layer's
    ``SyntheticPerformerSource``; the core does not import it). A generation that is interrupted resumes
    where it stopped: captures already saved are kept.
    """
    from studio.core.session_calibration import synthetic_session_job

    folder = Path(folder) if folder is not None else demo_session_folder()
    if is_session(folder):
        session = Session.open(folder)
        if not session.status().missing:
            return session
    return (yield from synthetic_session_job(
        folder, DEMO_SEED, source_for, expression_names, cancel=lambda: is_cancelled(cancel)
    ))
