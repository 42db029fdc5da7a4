"""The studio application: a start-up screen that loads the rig off the GUI thread, then the inspector."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget
from superqt.utils import create_worker

from studio.core.rig import Rig
from studio.core.rig_definition import RigDefinition
from studio.core.rig_inspection import RigInspection


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


class StudioApplication:
    """Owns the start-up flow: load in a worker, then open the inspector (optionally screenshot and quit).

    Parameters
    ----------
    controls : Mapping[str, float]
        Expression controls to set once the rig is loaded (name → value).
    screenshot : Path, optional
        Save a PNG of the inspector window once it has drawn, then quit.
    """

    def __init__(self, controls: Mapping[str, float] | None = None, screenshot: Path | None = None) -> None:
        self.controls = dict(controls or {})
        self.screenshot = screenshot
        self.exit_code = 0
        self.window = None
        self.startup = StartupWindow()
        self.startup.show()
        self.worker = create_worker(load_ict_inspection, _start_thread=False)
        self.worker.returned.connect(self._open_inspector)
        self.worker.errored.connect(self._failed)
        self.worker.start()

    def _open_inspector(self, inspection: RigInspection) -> None:
        from studio.ui.inspector import RigInspectorWindow

        self.window = RigInspectorWindow(inspection)
        for name, value in self.controls.items():
            inspection.set_control(inspection.rig.control_index(name), value)
        self.window.show()
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


def run_studio(controls: Mapping[str, float] | None = None, screenshot: str | Path | None = None) -> int:
    """Start the Qt application and run its event loop; returns the process exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Simon Says Studio")
    app.setOrganizationName("Simon Says Studio")
    studio = StudioApplication(controls, Path(screenshot) if screenshot else None)
    code = app.exec()
    return studio.exit_code or int(code)
