"""Retarget targets as a session sees them: the packaged ones, and a session's own performer.

``session:FOLDER`` names the performer of a studio session: the ICT identity fitted to its neutral capture
(:func:`studio.core.session.simon_says.performer_identity`), with its own calibration θ_S once it has one.
:func:`open_target` resolves every target name the studio accepts (``--target`` on the command line, the
review page's Target box, live streaming).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.retarget.targets import RetargetTarget, TargetError, VolumetricMorph, load_target
from studio.core.rig.rig import Rig
from studio.core.session.folder import Session
from studio.core.session.simon_says import performer_identity
from studio.core.tracking.rig_bundle import RigBundle

__all__ = ["SESSION_PREFIX", "open_target", "session_target"]

SESSION_PREFIX = "session:"
"""A target name ``session:FOLDER`` is the performer of that studio session, with its own calibration."""


def open_target(name: str | os.PathLike, base_rig: Rig | None = None) -> RetargetTarget:
    """A target by packaged name, target file (:func:`studio.core.retarget.targets.load_target`) or
    ``session:FOLDER`` (:func:`session_target`).

    Raises
    ------
    TargetError
        One line: unknown name, unreadable or inconsistent file, a session without a neutral capture.
    """
    text = os.fspath(name)
    if text.startswith(SESSION_PREFIX):
        return session_target(Path(text[len(SESSION_PREFIX) :]))
    return load_target(text, base_rig)


def session_target(folder: Path) -> RetargetTarget:
    """The performer of a studio session: its rig with the identity fitted to its neutral capture, θ_S when
    calibrated.

    Raises
    ------
    TargetError
        The session has no neutral capture.
    SessionError
        There is no session in ``folder``.
    """
    session = Session.open(folder)
    neutral = session.capture("neutral")
    if neutral is None:
        raise TargetError(f"{folder}: the session has no neutral capture to fit the performer's face to")
    bundle = RigBundle.load(session.rig_name)
    identity = performer_identity(bundle.tracker(), neutral.averaged)
    rig = bundle.rig.with_identity(identity)
    metadata: dict[str, Any] = {"session": str(folder), "identity_modes_used": int(np.count_nonzero(identity))}
    theta = session.rig_parameters("theta_S")
    if theta is not None:
        rig = rig.with_parameters(theta)
        metadata["rig_parameters"] = str(session.rig_parameters_path("theta_S"))
    source = bundle.definition
    name = f"{SESSION_PREFIX}{folder}"
    performer = str(session.performer.get("name") or folder.name)
    return RetargetTarget(
        name=name, kind="identity", label=f"{performer} (session performer)",
        description=f"The performer of session {folder.name}: fitted identity"
        + (", own Simon-Says calibration θ_S." if "rig_parameters" in metadata else ", not calibrated yet (θ_A)."),
        rig=replace(rig, name=name), definition=source, source_definition=source,
        gains=np.ones(source.num_controls), shape_weights=None,
        morph=VolumetricMorph.from_features([], rig), metadata=metadata,
    )  # fmt: skip

