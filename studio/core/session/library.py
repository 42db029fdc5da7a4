"""Where sessions live for a user: the data folder, the demo session, the list of recent sessions.

The user data folder is ``$STUDIO_DATA_DIR`` when set, else ``platformdirs.user_data_dir("simon-says-studio")``.
It holds ``sessions/demo/`` — the demo session, created on first use for a synthetic performer with a
known motion signature (θ_GT saved with it) who follows the capture page's prompts, so that the whole
workflow can be tried without a camera — and ``recent.json``, the most recently opened session folders
(newest first, at most :data:`MAX_RECENT`, written atomically, folders that no longer hold a session
dropped when read).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import platformdirs

from studio.core.capture.expression_sets import ExpressionSetError, SimonSaysSet
from studio.core.io.atomic_files import write_text_atomic
from studio.core.rig.performer_model import performer_rig_parameters
from studio.core.session.folder import EXPRESSION_SET_FILE, SESSION_FILE, Session, SessionError
from studio.core.tracking.rig_bundle import RIG_NAMES, RigBundle

DATA_DIR_ENV = "STUDIO_DATA_DIR"
MAX_RECENT = 10
DEMO_SEED = 7


def data_folder() -> Path:
    """The user data folder (it may not exist yet)."""
    root = os.environ.get(DATA_DIR_ENV)
    if not root:
        root = platformdirs.user_data_dir("simon-says-studio", appauthor=False)
    return Path(root).expanduser()


def demo_session_folder() -> Path:
    """``<data folder>/sessions/demo``."""
    return data_folder() / "sessions" / "demo"


def is_session(folder: str | os.PathLike) -> bool:
    """Whether the folder holds a session index."""
    return (Path(folder) / SESSION_FILE).is_file()


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


def available_expression_sets() -> list[str]:
    """The packaged Simon-Says sets a new session can use (``ict_full`` first)."""
    return [name for name in ("ict_full", "ict_default") if SimonSaysSet.is_packaged(name)]


def available_rigs() -> list[str]:
    """Animation rigs a session can calibrate."""
    return list(RIG_NAMES)


def create_session(
    folder: str | os.PathLike,
    performer: str,
    expression_set: str = "ict_full",
    rig: str = "ict_facekit",
    notes: str = "",
    synthetic_seed: int | None = None,
    expression_names: list[str] | None = None,
) -> Session:
    """A new, empty session for a performer, rig and Simon-Says set.

    Parameters
    ----------
    folder : path
        A new or empty folder.
    performer : str
        The performer's name.
    expression_set : str
        A packaged set's name (:func:`available_expression_sets`) or the path of a set file (``.json``),
        copied into the session so the session stays complete when the file moves.
    rig : str
        One of :func:`available_rigs`.
    notes : str
        Free text about the performer or the shoot.
    synthetic_seed : int, optional
        Make the performer a synthetic one: the performer model of this seed (θ_GT,
        :func:`studio.core.rig.performer_model.performer_rig_parameters`) is saved as
        ``calibration/theta_GT.npz``, and the capture page's synthetic performer plays it.
    expression_names : list of str, optional
        Capture only these of the set's expressions (the neutral is always first); by default all.

    Raises
    ------
    SessionError
        The folder is not empty, the rig is unknown, or the set cannot be read.
    """
    if rig not in available_rigs():
        raise SessionError(f"rig {rig!r} is not available (choose one of {', '.join(available_rigs())})")
    try:
        if expression_set.endswith(".json"):
            simon_says = SimonSaysSet.load(expression_set)
        else:
            simon_says = SimonSaysSet.packaged(expression_set)
    except (ExpressionSetError, OSError) as error:
        raise SessionError(f"{expression_set}: {error}") from None
    names = list(simon_says.names if expression_names is None else expression_names)
    try:
        for name in names:
            simon_says.expression(name)
    except (ExpressionSetError, KeyError) as error:
        raise SessionError(f"{simon_says.name}: {error}") from None
    session = Session.create(folder, {"name": performer, "notes": notes}, rig, simon_says.name, names)
    if expression_set.endswith(".json"):
        simon_says.save(session.folder / EXPRESSION_SET_FILE)
        session.set_expression_set(simon_says.name, EXPRESSION_SET_FILE)
    if synthetic_seed is not None:
        bundle = RigBundle.load(rig)
        session.save_rig_parameters(
            "theta_GT", performer_rig_parameters(bundle.rig, bundle.definition, int(synthetic_seed))
        )
    return session


def open_demo_session(folder: str | os.PathLike | None = None) -> Session:
    """The demo session, created on first use (empty: its synthetic performer is the camera of the capture
    page), else opened as it is."""
    folder = Path(folder) if folder is not None else demo_session_folder()
    if is_session(folder):
        return Session.open(folder)
    return create_session(folder, "Demo performer (synthetic)", "ict_full",
                          notes=f"synthetic performer, seed {DEMO_SEED}", synthetic_seed=DEMO_SEED)


def copy_session(session: Session, folder: str | os.PathLike) -> Session:
    """Save a copy of a session into a new folder (temporary files left out) and open it.

    Raises
    ------
    SessionError
        The target exists and is not empty.
    """
    target = Path(folder)
    if target.exists() and any(target.iterdir()):
        raise SessionError(f"{target}: not an empty folder")
    staging = target.with_name(f".{target.name}.copying.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(session.folder, staging, ignore=shutil.ignore_patterns(".*.tmp"))
    if target.exists():
        target.rmdir()
    staging.rename(target)
    return Session.open(target)
