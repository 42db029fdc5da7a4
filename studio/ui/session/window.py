"""A session's window: its pages as tabs (Capture, Calibration, Takes, Review, Generate), and the new-session dialog.

:class:`SessionWindow` shows one session. Opening one puts it first in the recent list
(:mod:`studio.core.session.library`). Its Session and Tools menus are the studio's
(:func:`studio.ui.windows.add_studio_menus`: new with :class:`NewSessionDialog`, open, open recent, save a
copy); every capture, calibration and take is written to the session folder atomically the moment it
exists, so there is nothing unsaved to lose.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.session.folder import Session
from studio.core.session.library import (
    available_expression_sets,
    available_rigs,
    create_session,
    data_folder,
    remember_session,
)
from studio.core.session.model import SessionModel
from studio.ui.session.calibration_page import CalibrationPage
from studio.ui.session.capture_page import CapturePage
from studio.ui.session.generate_page import GeneratePage
from studio.ui.session.review_page import ReviewPage
from studio.ui.session.shoot_page import ShootPage
from studio.ui.session.takes_page import TakesPage


class SessionWindow(QMainWindow):
    """One session: its Capture (Simon-Says), Calibration, Takes, Review, Generate and Shoot pages as tabs.

    The window opens the session once, as a :class:`~studio.core.session.model.SessionModel` shared by every
    page: a page that changes the session tells the model, and the others follow its events.

    Parameters
    ----------
    folder : Path
        The session folder.
    """

    def __init__(self, folder: str | Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = SessionModel.open(folder)
        remember_session(self.session.folder)
        performer = self.session.performer.get("name", "") if isinstance(self.session.performer, dict) else ""
        self.setWindowTitle(f"Simon Says Studio — {self.session.folder.name} ({performer})")
        self.tabs = QTabWidget()
        self.capture = CapturePage(self.model)
        self.calibration = CalibrationPage(self.model)
        self.takes = TakesPage(self.model)
        self.review: ReviewPage | None = None  # two GL views: built when the tab is first shown
        self._review_tab = QWidget()
        QVBoxLayout(self._review_tab).setContentsMargins(0, 0, 0, 0)
        self.generate: GeneratePage | None = None  # a GL view: built when the tab is first shown
        self._generate_tab = QWidget()
        QVBoxLayout(self._generate_tab).setContentsMargins(0, 0, 0, 0)
        self.tabs.addTab(self.capture, "Capture")
        self.tabs.addTab(self.calibration, "Calibration")
        self.tabs.addTab(self.takes, "Takes")
        self.tabs.addTab(self._review_tab, "Review")
        self.tabs.addTab(self._generate_tab, "Generate")
        self.shoot = ShootPage(self.model)
        self.shoot.sigOpenTake.connect(self.open_take_in_review)
        self.tabs.addTab(self.shoot, "Shoot")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.setCentralWidget(self.tabs)
        self.statusBar().showMessage(f"{self.session.folder} — saved as you go")

    @property
    def session(self) -> Session:
        """The session (the model's)."""
        return self.model.session

    def _tab_changed(self, index: int) -> None:
        """The review's and the generator's GL views are built when their tab is first shown (the pages follow
        the model)."""
        if self.tabs.widget(index) is self._review_tab and self.review is None:
            self.review = ReviewPage(self.model)
            self._review_tab.layout().addWidget(self.review)
            self.review.show()  # a child added to a shown widget stays hidden until shown
        if self.tabs.widget(index) is self._generate_tab and self.generate is None:
            self.generate = GeneratePage(self.model)
            self._generate_tab.layout().addWidget(self.generate)
            self.generate.show()

    def open_take_in_review(self, name: str) -> None:
        """Show take ``name`` on the Review page (built if it was not yet)."""
        self.tabs.setCurrentWidget(self._review_tab)
        self.review.refresh()
        self.review.take_box.setCurrentText(name)

    @property
    def busy(self) -> bool:
        """Whether a page runs a job."""
        return self.capture.busy or self.calibration.busy or self.takes.busy or self.shoot.busy

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        """Closing cancels running jobs; what was saved stays (every session file is written atomically)."""
        self.capture.close_views()
        self.calibration.close_views()
        self.takes.close_views()
        self.shoot.close_views()
        if self.review is not None:
            self.review.close_views()
        if self.generate is not None:
            self.generate.close_views()
        super().closeEvent(event)


class NewSessionDialog(QDialog):
    """Performer, rig, Simon-Says set and folder of a new session."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New Simon-Says session")
        self.performer = QLineEdit()
        self.performer.setPlaceholderText("the performer's name")
        self.notes = QLineEdit()
        self.rig = QComboBox()
        self.rig.addItems(available_rigs())
        self.expression_set = QComboBox()
        self.expression_set.setEditable(True)
        self.expression_set.addItems(available_expression_sets())
        self.expression_set.setToolTip("a packaged set, or the path of a set file (.json)")
        browse_set = QPushButton("File…")
        browse_set.clicked.connect(self._browse_set)
        self.folder = QLineEdit(str(data_folder() / "sessions" / "new-session"))
        browse = QPushButton("Folder…")
        browse.clicked.connect(self._browse_folder)
        self.synthetic = QCheckBox("synthetic performer (no camera), seed")
        self.seed = QSpinBox()
        self.seed.setRange(0, 9999)
        form = QFormLayout()
        form.addRow("Performer", self.performer)
        form.addRow("Notes", self.notes)
        form.addRow("Animation rig", self.rig)
        row = QHBoxLayout()
        row.addWidget(self.expression_set, 1)
        row.addWidget(browse_set)
        form.addRow("Simon-Says set", row)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form.addRow("Folder", row)
        row = QHBoxLayout()
        row.addWidget(self.synthetic)
        row.addWidget(self.seed)
        form.addRow("", row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def _browse_set(self) -> None:
        path = QFileDialog.getOpenFileName(self, "Simon-Says set", "", "Simon-Says set (*.json)")[0]
        if path:
            self.expression_set.setCurrentText(path)

    def _browse_folder(self) -> None:
        folder = QFileDialog.getSaveFileName(self, "Session folder", self.folder.text())[0]
        if folder:
            self.folder.setText(folder)

    def _accept(self) -> None:
        if not self.performer.text().strip():
            QMessageBox.information(self, "New session", "Enter the performer's name.")
            return
        self.accept()

    def create(self) -> Session:
        """Create the session the dialog describes."""
        return create_session(
            self.folder.text().strip(), self.performer.text().strip(), self.expression_set.currentText().strip(),
            self.rig.currentText(), self.notes.text(),
            self.seed.value() if self.synthetic.isChecked() else None,
        )


