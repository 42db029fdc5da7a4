"""The studio application: a start-up screen that loads off the GUI thread, then the demo session (or a
session, or the rig inspector)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from studio.core.rig.definition import RigDefinition
from studio.core.rig.inspection import RigInspection
from studio.core.rig.rig import Rig
from studio.core.session.folder import Session
from studio.core.session.library import open_demo_session
from studio.ui.windows import open_inspector, open_session_window
from studio.ui.workers import job_worker


def load_ict_inspection() -> RigInspection:
    """Load the ICT rig (through the asset manager) and its rig definition; takes about 2 s."""
    return RigInspection(Rig.ict(), RigDefinition.ict())


class StartupWindow(QWidget):
    """Shown while the rig loads in a worker thread; shows a one-line error if loading fails."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Simon Says Studio")
        self.message = QLabel("Loading the ICT-FaceKit rig…")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy
        self.quit_button = QPushButton("Quit")
        self.quit_button.clicked.connect(self.close)
        self.quit_button.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.progress)
        layout.addWidget(self.quit_button, alignment=Qt.AlignmentFlag.AlignRight)
        self.resize(520, 120)

    def show_error(self, error: BaseException) -> None:
        """Replace the progress bar with the error's one-line message and a Quit button."""
        self.progress.hide()
        self.message.setText(f"The studio could not start: {error}")
        self.quit_button.show()


def load_session(folder: Path | None) -> Path:
    """Open (or, for the demo session, create on first use) a session and warm the rig cache; returns its
    folder."""
    Rig.ict()
    return (open_demo_session() if folder is None else Session.open(folder)).folder


class StudioApplication:
    """Owns the start-up flow: load in a worker, then open a window (optionally screenshot and quit).

    By default the window is the demo session's (created on first launch in the user data folder); with
    ``session`` that session's; with ``inspector`` (or ``controls``) the rig inspector.

    Parameters
    ----------
    controls : Mapping[str, float]
        Expression controls to set once the rig is loaded (name → value); opens the inspector.
    screenshot : Path, optional
        Save a PNG of the window once it has drawn, then quit.
    session : Path, optional
        The session to open instead of the demo session.
    inspector : bool
        Open the rig inspector instead of a session.
    """

    def __init__(self, controls: Mapping[str, float] | None = None, screenshot: Path | None = None,
                 session: Path | None = None, inspector: bool = False) -> None:
        self.controls = dict(controls or {})
        self.screenshot = screenshot
        self.exit_code = 0
        self.window = None
        self.startup = StartupWindow()
        self.startup.show()
        if inspector or self.controls:
            self.worker = job_worker(load_ict_inspection)
            self.worker.returned.connect(self._open_inspector)
        else:
            self.startup.message.setText("Opening the session…")
            self.worker = job_worker(load_session, session)
            self.worker.returned.connect(self._open_session)
        self.worker.errored.connect(self._failed)
        self.worker.start()

    def _open_session(self, folder: Path) -> None:
        self.window = open_session_window(folder)
        self.startup.close()
        if self.window is None:
            self.exit_code = 1
            QApplication.instance().quit()
        elif self.screenshot is not None:
            QTimer.singleShot(1500, self._take_screenshot)

    def _open_inspector(self, inspection: RigInspection) -> None:
        for name, value in self.controls.items():
            inspection.set_control(inspection.rig.control_index(name), value)
        self.window = open_inspector(inspection)
        self.startup.close()
        if self.screenshot is not None:
            self.window.rig_view.sigFrameDrawn.connect(self._schedule_screenshot)

    def _schedule_screenshot(self, fps: float) -> None:
        self.window.rig_view.sigFrameDrawn.disconnect(self._schedule_screenshot)
        QTimer.singleShot(500, self._take_screenshot)

    def _take_screenshot(self) -> None:
        self.screenshot.parent.mkdir(parents=True, exist_ok=True)
        if not self.window.grab().save(str(self.screenshot)):
            print(f"error: could not write {self.screenshot}", file=sys.stderr)
            self.exit_code = 1
        else:
            print(f"wrote {self.screenshot}")
        self.window.close()
        QApplication.instance().quit()

    def _failed(self, error: BaseException) -> None:
        print(f"error: {error}", file=sys.stderr)
        self.exit_code = 1
        self.startup.show_error(error)
        if self.screenshot is not None:
            QApplication.instance().quit()


def run_studio(controls: Mapping[str, float] | None = None, screenshot: str | Path | None = None,
               session: str | Path | None = None, inspector: bool = False) -> int:
    """Start the Qt application and run its event loop; returns the process exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Simon Says Studio")
    app.setOrganizationName("Simon Says Studio")
    studio = StudioApplication(controls, Path(screenshot) if screenshot else None,
                               Path(session) if session else None, inspector)
    code = app.exec()
    return studio.exit_code or int(code)
