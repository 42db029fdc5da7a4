"""One open session as the pages of the studio see it: :class:`SessionModel`, with events.

napari's habit: a pure model that emits named events when it changes, views that subscribe in their
``__init__`` and disconnect when they close. A session window builds one model and hands it to every page:
the pages read the session through it (never re-opening the folder themselves) and never import each other;
when one of them finishes work (a capture saved, θ_S written, a take tracked), it tells the model, and every
page that shows that part of the session hears of it.

The model also resolves the session's rig from ``session.json`` once (:class:`~studio.core.tracking.
rig_bundle.RigBundle`: rig, definition, landmark embedding, gaze model) and hands it to every job.

Threads: jobs run in workers with their own :class:`~studio.core.session.folder.Session` of the same folder
and write its files; the model's methods, and so its events, belong to the thread that owns the views (the
GUI thread): call :meth:`captures_changed_on_disk` and the like from there, when a job reports.
"""

from __future__ import annotations

from pathlib import Path

from studio.core.calibration.reports import CalibrationReport, FinetuneReport
from studio.core.capture.expression_sets import SimonSaysSet
from studio.core.events import Event
from studio.core.rig.rig import Rig, RigParameters
from studio.core.session.folder import Session, SessionStatus
from studio.core.session.report_card import ReportCard, read_report_card
from studio.core.session.synthetic import synthetic_performer_rig
from studio.core.session.takes import Take, load_take
from studio.core.tracking.rig_bundle import RigBundle

__all__ = ["SessionModel"]


class SessionModel:
    """A session, its rig and what was derived from it, with events when any of it changes.

    Parameters
    ----------
    session : Session
        The open session.
    bundle : RigBundle, optional
        Its rig; by default the one ``session.json`` names (:meth:`RigBundle.load`).

    Events
    ------
    captures_changed()
        Captures were saved, retaken or removed (:attr:`session` is re-read first).
    calibration_changed()
        θ_S or θ̂_S and their reports were written (or the session's rigs otherwise changed).
    takes_changed(name: str or None)
        A take was added (its name), or the takes changed otherwise (``None``).
    """

    def __init__(self, session: Session, bundle: RigBundle | None = None) -> None:
        self.session = session
        self.bundle = bundle if bundle is not None else RigBundle.load(session.rig_name)
        self.expression_set: SimonSaysSet = session.expression_set_definition()
        self.captures_changed = Event("captures_changed")
        self.calibration_changed = Event("calibration_changed")
        self.takes_changed = Event("takes_changed")
        self._parameters: dict[str, RigParameters | None] = {}

    @classmethod
    def open(cls, folder: str | Path, bundle: RigBundle | None = None) -> SessionModel:
        """The model of the session in ``folder`` (:meth:`Session.open`'s errors)."""
        return cls(Session.open(folder), bundle)

    @property
    def folder(self) -> Path:
        """The session folder."""
        return self.session.folder

    # -- captures -------------------------------------------------------------------------------------------

    def status(self) -> SessionStatus:
        """Captured, missing and flagged expressions."""
        return self.session.status()

    def captures_changed_on_disk(self) -> None:
        """A job saved or removed captures: re-read the session and tell the views."""
        self.session = Session.open(self.session.folder)
        self.captures_changed.emit()

    # -- rigs ------------------------------------------------------------------------------------------------

    def rig_parameters(self, stage: str) -> RigParameters | None:
        """The session's rig parameters of ``stage`` (``theta_S``, ``theta_S_hat``, ``theta_GT``), read once."""
        if stage not in self._parameters:
            self._parameters[stage] = self.session.rig_parameters(stage)
        return self._parameters[stage]

    def has_rig_parameters(self, stage: str) -> bool:
        """Whether the session has the rig parameters of ``stage`` (their file, unless already read: asking
        never reads a rig, which takes a tenth of a second the GUI thread must not wait)."""
        if stage in self._parameters:
            return self._parameters[stage] is not None
        return self.session.has_rig_parameters(stage)

    @property
    def performer_rig(self) -> Rig:
        """The performer's animation rig: θ_S when the session has it, else the rig's own θ_A."""
        return self.bundle.posed_with(self.rig_parameters("theta_S"))

    @property
    def truth_rig(self) -> Rig | None:
        """A synthetic performer's true rig (θ_GT), or ``None`` for a person."""
        theta = self.rig_parameters("theta_GT")
        return None if theta is None else self.bundle.posed_with(theta)

    @property
    def has_synthetic_performer(self) -> bool:
        """Whether the performer is synthetic (the session keeps its θ_GT): the demo and synthetic sessions."""
        return self.has_rig_parameters("theta_GT")

    def synthetic_performer_rig(self) -> Rig:
        """The rig the synthetic performer plays (θ_GT, else the seed-0 performer model)."""
        return synthetic_performer_rig(self.session)

    def calibration_report(self) -> CalibrationReport | None:
        """The report of the session's calibration, or ``None`` (none yet, or unreadable)."""
        data = self.session.read_report("calibration")
        try:
            return None if data is None else CalibrationReport.from_json(data)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def finetune_report(self) -> FinetuneReport | None:
        """The report of the tracker's fine-tuning, or ``None`` (none yet, or unreadable)."""
        data = self.session.read_report("finetune")
        try:
            return None if data is None else FinetuneReport.from_json(data)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def report_card(self) -> tuple[ReportCard, bool] | None:
        """The session's report card and whether it is current, or ``None``
        (:func:`studio.core.session.report_card.read_report_card`)."""
        return read_report_card(self.session)

    def calibration_changed_on_disk(self) -> None:
        """A job wrote θ_S or θ̂_S: forget what was read and tell the views."""
        self._parameters.clear()
        self.calibration_changed.emit()

    # -- takes -----------------------------------------------------------------------------------------------

    def take_names(self) -> list[str]:
        """The session's complete takes, sorted."""
        return self.session.take_names()

    def take(self, name: str) -> Take:
        """A take's report and curves (:func:`studio.core.session.takes.load_take`)."""
        return load_take(self.session, name)

    def take_added(self, name: str | None = None) -> None:
        """A job tracked a take into the session: tell the views."""
        self.takes_changed.emit(name)
