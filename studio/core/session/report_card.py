"""The report card: how well each rig tracks captures it was not calibrated on, where no ground truth exists.

A real performer has no θ_GT, so the only honest test of a calibration is on captures it did not see. The
session's captures are split into ``folds`` interleaved groups (every expression is held out exactly once;
``folds`` = the number of captures is leave-one-expression-out). For each group the session is calibrated
(θ_S, from the captures as geometry) and fine-tuned (θ̂_S, on the captures as MediaPipe reported them) without
it, exactly as ``calibrate`` and ``finetune`` do, and each held-out capture is tracked with θ_A, that θ_S and
that θ̂_S. The error is the control L2 between what the tracker solved and what the performer was asked for,
``||T(v_k) − c_k||`` over the 53 controls (unitless).

A rig is worse than θ_A for an expression when its error exceeds θ_A's by more than :data:`WORSE_MARGIN`; the
card recommends the rig for the takes with the lowest mean error, and the user may keep θ_A
(:meth:`studio.core.session.folder.Session.set_takes_rig`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.calibration.calibrate import CalibrationPair, calibrate_job
from studio.core.calibration.finetune import finetune_job
from studio.core.jobs import Cancel, JobCancelled, is_cancelled
from studio.core.rig.rig import RigParameters
from studio.core.session.calibrate import _opened, calibration_pairs, geometry_of
from studio.core.session.folder import Session, SessionError
from studio.core.tracking.rig_bundle import RigBundle

__all__ = [
    "CARD_RIGS",
    "DEFAULT_FOLDS",
    "WORSE_MARGIN",
    "ReportCard",
    "held_out_errors",
    "read_report_card",
    "report_card_job",
]

CARD_RIGS: tuple[str, ...] = ("theta_A", "theta_S", "theta_S_hat")
"""The rigs the card compares."""

DEFAULT_FOLDS = 8
"""Folds by default: 8 calibrations and fine-tunings (215 s on the 2-core reference machine for 40 captures)."""

WORSE_MARGIN = 0.05
"""Control L2 by which a rig must exceed θ_A's on an expression to be called worse there."""


@dataclass(frozen=True)
class ReportCard:
    """Per held-out expression and rig, the control L2 error (module docstring).

    Attributes
    ----------
    errors : dict of str to dict of str to float
        ``errors[expression][rig]``, rigs from :data:`CARD_RIGS`.
    folds : int
        How many groups the captures were split into.
    fingerprint : str
        Of the session's θ_S and θ̂_S files when the card was made (a card of other files is stale).
    seconds : float
        Wall time.
    """

    errors: dict[str, dict[str, float]]
    folds: int
    fingerprint: str = ""
    seconds: float = float("nan")
    notes: list[str] = field(default_factory=list)

    def overall(self) -> dict[str, float]:
        """Mean error per rig over the expressions."""
        return {rig: float(np.mean([e[rig] for e in self.errors.values()])) for rig in CARD_RIGS}

    def worse_than_theta_A(self, rig: str) -> list[str]:
        """The expressions where ``rig`` tracks worse than θ_A by more than :data:`WORSE_MARGIN`."""
        return [name for name, e in self.errors.items() if e[rig] > e["theta_A"] + WORSE_MARGIN]

    def recommended(self) -> str:
        """The rig with the lowest mean error (θ_A on ties)."""
        overall = self.overall()
        return min(CARD_RIGS, key=lambda rig: (overall[rig], CARD_RIGS.index(rig)))

    def summary(self) -> str:
        """One plain paragraph: the overall errors, the recommendation, and where calibration loses."""
        overall = self.overall()
        text = (f"held-out captures ({len(self.errors)}, {self.folds} folds), control error: "
                + ", ".join(f"{_LABELS[r]} {overall[r]:.3f}" for r in CARD_RIGS)
                + f"; recommended for takes: {_LABELS[self.recommended()]}")
        for rig in CARD_RIGS[1:]:
            worse = self.worse_than_theta_A(rig)
            if worse:
                text += f". {_LABELS[rig]} is worse than θ_A on {len(worse)}: {', '.join(worse)}"
        return text

    def to_json(self) -> dict[str, Any]:
        """``calibration/report_card.json``'s data."""
        return {
            "errors": self.errors,
            "overall": self.overall(),
            "recommended": self.recommended(),
            "worse_than_theta_A": {rig: self.worse_than_theta_A(rig) for rig in CARD_RIGS[1:]},
            "folds": self.folds,
            "fingerprint": self.fingerprint,
            "seconds": self.seconds,
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportCard:
        """A card from its JSON (``KeyError``/``TypeError``/``ValueError`` when it is not one)."""
        errors = {str(n): {rig: float(e[rig]) for rig in CARD_RIGS} for n, e in data["errors"].items()}
        if not errors:
            raise ValueError("a report card without expressions")
        return cls(errors, int(data["folds"]), str(data.get("fingerprint", "")),
                   float(data.get("seconds") or "nan"), [str(n) for n in data.get("notes", [])])


_LABELS = {"theta_A": "θ_A", "theta_S": "θ_S", "theta_S_hat": "θ̂_S"}


def calibration_fingerprint(session: Session) -> str:
    """The identity of the session's θ_S and θ̂_S files: size and modification time of each (cheap enough for
    the GUI thread; a new calibration or fine-tuning writes a new file)."""
    parts = []
    for stage in ("theta_S", "theta_S_hat"):
        try:
            stat = session.rig_parameters_path(stage).stat()
            parts.append(f"{stat.st_size}-{stat.st_mtime_ns}")
        except FileNotFoundError:
            parts.append("-")
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:16]


def read_report_card(session: Session) -> tuple[ReportCard, bool] | None:
    """The session's report card and whether it is current (made for its present θ_S and θ̂_S), or None
    (none yet, or unreadable)."""
    data = session.read_report("report_card")
    try:
        card = None if data is None else ReportCard.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return None if card is None else (card, card.fingerprint == calibration_fingerprint(session))


def held_out_errors(
    bundle: RigBundle, parameters: RigParameters | None, pairs: list[CalibrationPair]
) -> np.ndarray:
    """Control L2 of tracking each pair's capture with ``parameters`` (θ_A when None), ``(E,)``."""
    tracker = bundle.tracker(parameters)
    laid_on_the_rig = tracker.performer_neutral(tracker.rig_points)
    landmarks = np.stack([p.landmarks for p in pairs])
    tracked = tracker.solve(landmarks, laid_on_the_rig).controls.astype(np.float64)
    return np.linalg.norm(tracked - np.stack([p.controls for p in pairs]), axis=1)


def report_card_job(
    session: Session | str | Path,
    bundle: RigBundle | None = None,
    folds: int | None = None,
    cancel: Cancel = None,
    device: str = "cpu",
) -> Generator[tuple[str, int, int], None, ReportCard]:
    """Make the session's report card (module docstring) and keep it as ``calibration/report_card.json``.

    Parameters
    ----------
    session : Session or path
        A session with captures (θ_S and θ̂_S need not exist: the card makes its own per fold).
    bundle : RigBundle, optional
        The session's rig; by default the one ``session.json`` names.
    folds : int, optional
        Groups of held-out captures, 2 … the number of captures; by default :data:`DEFAULT_FOLDS` (or the
        number of captures when there are fewer).
    cancel : callable, object with ``is_set()``, or None
        Checked between the steps of each fold; nothing is written when cancelled.
    device : str
        Where the fine-tunings' tracker solves run (``cpu``, ``cuda``).

    Yields ``(what, done, total)``: ``done`` counts the calibration and fine-tuning steps of the folds.

    Raises
    ------
    SessionError
        Fewer than 2 captures, or ``folds`` out of range.
    """
    session, bundle = _opened(session, bundle)
    started = time.perf_counter()
    expression_set = session.expression_set_definition()
    pairs, _flags = calibration_pairs(session, bundle.tracker(), bundle.definition, expression_set)
    if len(pairs) < 2:
        raise SessionError(f"{session.folder}: the report card needs at least 2 captured expressions")
    folds = min(DEFAULT_FOLDS, len(pairs)) if folds is None else folds
    if not 2 <= folds <= len(pairs):
        raise SessionError(f"folds must be between 2 and {len(pairs)} (the captures), got {folds}")
    fingerprint = calibration_fingerprint(session)
    errors = {p.name: {"theta_A": float(e)} for p, e in zip(pairs, held_out_errors(bundle, None, pairs), strict=True)}
    total = 2 * folds
    for fold in range(folds):
        held = [k for k in range(len(pairs)) if k % folds == fold]
        kept = [p for k, p in enumerate(pairs) if k % folds != fold]
        out = [pairs[k] for k in held]
        label = f"fold {fold + 1}/{folds} ({', '.join(p.name for p in out)})"
        if is_cancelled(cancel):
            raise JobCancelled("report card cancelled; nothing written")
        yield (f"{label}: calibrating", 2 * fold, total)
        geometry, _ = geometry_of(kept, bundle)
        calibration = yield from _nested(
            calibrate_job(bundle.rig, bundle.embedding, geometry, bundle.definition, cancel=cancel),
            f"{label}: calibrating", 2 * fold, total,
        )
        yield (f"{label}: fine-tuning", 2 * fold + 1, total)
        finetuning = yield from _nested(finetune_job(
            bundle.rig, calibration.parameters, kept, bundle.definition, expression_set,
            embedding=bundle.embedding, gaze=bundle.gaze, stage_name="theta_S_hat",
            tracker_options={"device": device}, cancel=cancel,
        ), f"{label}: fine-tuning", 2 * fold + 1, total)
        for rig, parameters in (("theta_S", calibration.parameters), ("theta_S_hat", finetuning.parameters)):
            for p, e in zip(out, held_out_errors(bundle, parameters, out), strict=True):
                errors[p.name][rig] = float(e)
    yield ("done", total, total)
    card = ReportCard(errors, folds, fingerprint, time.perf_counter() - started)
    session.write_report("report_card", card.to_json())
    return card


def _nested(job: Generator, label: str, done: int, total: int) -> Generator[tuple[str, int, int], None, Any]:
    """Run a nested job, its progress shown as ``label: what`` at the card's own ``done``/``total``."""
    try:
        while True:
            progress = next(job)
            what = progress[0] if isinstance(progress, tuple) and progress and isinstance(progress[0], str) else ""
            yield (f"{label}: {what}" if what else label, done, total)
    except StopIteration as stop:
        return stop.value
