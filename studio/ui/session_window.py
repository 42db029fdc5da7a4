"""A session's window: its pages as tabs (Calibration, Takes, Review), and the demo session generator.

:class:`SessionWindow` shows one session. Opening one puts it first in the recent list
(:mod:`studio.core.session_library`). :class:`DemoSessionGenerator` records the demo session (a synthetic
performer performing the Simon-Says set through the renderer and MediaPipe) in a superqt worker, with
progress and cancel; an interrupted generation resumes where it stopped.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMainWindow, QTabWidget, QVBoxLayout, QWidget
from superqt.utils import create_worker

from studio.core.jobs import JobCancelled
from studio.core.session import Session
from studio.core.session_library import demo_session_folder, demo_session_job, remember_session
from studio.ui.calibration_page import CalibrationPage
from studio.ui.review_page import ReviewPage
from studio.ui.takes_page import TakesPage


class SessionWindow(QMainWindow):
    """One session: its Calibration, Takes and Review pages as tabs.

    Parameters
    ----------
    folder : Path
        The session folder.
    """

    def __init__(self, folder: str | Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = Session.open(folder)
        remember_session(self.session.folder)
        performer = self.session.performer.get("name", "") if isinstance(self.session.performer, dict) else ""
        self.setWindowTitle(f"Simon Says Studio — {self.session.folder.name} ({performer})")
        self.tabs = QTabWidget()
        self.calibration = CalibrationPage(self.session.folder)
        self.takes = TakesPage(self.session.folder)
        self.review: ReviewPage | None = None  # two GL views: built when the tab is first shown
        self._review_tab = QWidget()
        QVBoxLayout(self._review_tab).setContentsMargins(0, 0, 0, 0)
        self.tabs.addTab(self.calibration, "Calibration")
        self.tabs.addTab(self.takes, "Takes")
        self.tabs.addTab(self._review_tab, "Review")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.setCentralWidget(self.tabs)
        self.statusBar().showMessage(str(self.session.folder))

    def _tab_changed(self, index: int) -> None:
        """Pages catch up with what the others wrote (θ_S, θ̂_S, takes) when they are shown."""
        page = self.tabs.widget(index)
        if page is self._review_tab:
            if self.review is None:
                self.review = ReviewPage(self.session.folder)
                self._review_tab.layout().addWidget(self.review)
                self.review.show()  # a child added to a shown widget stays hidden until shown
                return
            page = self.review
        page.refresh()

    @property
    def busy(self) -> bool:
        """Whether a page runs a job."""
        return self.calibration.busy or self.takes.busy

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        """Closing cancels running jobs; what was saved stays (every session file is written atomically)."""
        self.calibration.cancel()
        self.takes.cancel()
        if self.review is not None:
            self.review.close_views()
        super().closeEvent(event)


def _synthetic_source(rig, curves, seed):
    from studio.render.synthetic_performer import SyntheticPerformerSource

    return SyntheticPerformerSource(rig, curves, fps=30.0, seed=seed)


class DemoSessionGenerator(QObject):
    """Records the demo session in a worker.

    Signals
    -------
    sigProgress(str)
        A line of progress.
    sigDone(object)
        The demo session folder (Path) once it is complete, or None if it failed or was cancelled.
    """

    sigProgress = Signal(str)
    sigDone = Signal(object)

    def __init__(self, folder: Path | None = None, expression_names: list[str] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.folder = Path(folder) if folder is not None else demo_session_folder()
        self.expression_names = expression_names
        self._cancel = threading.Event()
        self._worker: Any = None
        self._done = False

    def start(self) -> None:
        """Start generating (no-op while running)."""
        if self._worker is not None:
            return
        worker = create_worker(demo_session_job, _synthetic_source, self.folder, self.expression_names,
                               cancel=self._cancel, _start_thread=False, _ignore_errors=True)
        worker.yielded.connect(lambda progress: self.sigProgress.emit(f"demo session: {progress[0]}"))
        worker.returned.connect(self._returned)
        worker.errored.connect(self._errored)
        worker.finished.connect(self._finished)
        self._worker = worker
        self._done = False
        worker.start()

    @property
    def running(self) -> bool:
        """Whether the generator runs."""
        return self._worker is not None

    def cancel(self) -> None:
        """Stop generating; the captures saved so far stay and the next start resumes."""
        if self._worker is not None:
            self._cancel.set()
            self._worker.quit()

    def _returned(self, session: Session) -> None:
        self._done = True
        self.sigProgress.emit(f"demo session ready: {session.folder}")

    def _errored(self, error: BaseException) -> None:
        what = "cancelled" if isinstance(error, JobCancelled) else f"failed: {error}"
        self.sigProgress.emit(f"demo session {what}")

    def _finished(self) -> None:
        self._worker = None
        self.sigDone.emit(self.folder if self._done else None)
