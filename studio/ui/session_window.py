"""A session's window: its pages as tabs (Capture, Calibration, Takes, Review) and the Session menu.

:class:`SessionWindow` shows one session. Opening one puts it first in the recent list
(:mod:`studio.core.session_library`). The Session menu creates (:class:`NewSessionDialog`: performer, rig,
Simon-Says set), opens, re-opens recent sessions and saves a copy; every capture, calibration and take is
written to the session folder atomically the moment it exists, so there is nothing unsaved to lose.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
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
    QMenu,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.session import Session, SessionError
from studio.core.session_library import (
    available_expression_sets,
    available_rigs,
    copy_session,
    create_session,
    data_folder,
    open_demo_session,
    recent_sessions,
    remember_session,
)
from studio.ui.calibration_page import CalibrationPage
from studio.ui.review_page import ReviewPage
from studio.ui.simon_says_page import SimonSaysPage
from studio.ui.takes_page import TakesPage

#: Session windows kept alive (a window opened from another one has no other owner).
_OPEN_WINDOWS: list[QMainWindow] = []


class SessionWindow(QMainWindow):
    """One session: its Capture (Simon-Says), Calibration, Takes and Review pages as tabs.

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
        self.capture = SimonSaysPage(self.session.folder)
        self.calibration = CalibrationPage(self.session.folder)
        self.takes = TakesPage(self.session.folder)
        self.review: ReviewPage | None = None  # two GL views: built when the tab is first shown
        self._review_tab = QWidget()
        QVBoxLayout(self._review_tab).setContentsMargins(0, 0, 0, 0)
        self.tabs.addTab(self.capture, "Capture")
        self.tabs.addTab(self.calibration, "Calibration")
        self.tabs.addTab(self.takes, "Takes")
        self.tabs.addTab(self._review_tab, "Review")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.setCentralWidget(self.tabs)
        self.statusBar().showMessage(f"{self.session.folder} — saved as you go")
        self._build_menus()
        self._inspector = None
        self._live_window = None

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&Session")
        actions = (
            ("New session…", "Ctrl+N", self.ask_new_session),
            ("Open session…", "Ctrl+O", self.ask_open_session),
            ("Open demo session", "Ctrl+D", lambda: open_session_window(open_demo_session().folder)),
            ("Save a copy as…", "Ctrl+Shift+S", self.ask_save_copy),
        )
        for text, keys, slot in actions:
            action = QAction(text, self, shortcut=QKeySequence(keys))
            action.triggered.connect(slot)
            menu.addAction(action)
            if text.startswith("Open session"):
                self.recent_menu = QMenu("Open recent", self)
                self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
                menu.addMenu(self.recent_menu)
        menu.addSeparator()
        close = QAction("Close", self, shortcut=QKeySequence("Ctrl+W"))
        close.triggered.connect(self.close)
        menu.addAction(close)
        tools = self.menuBar().addMenu("&Tools")
        inspector = QAction("Rig inspector", self, shortcut=QKeySequence("Ctrl+I"))
        inspector.triggered.connect(self.open_inspector)
        live = QAction("Live tracking…", self, shortcut=QKeySequence("Ctrl+L"))
        live.triggered.connect(self.open_live_view)
        tools.addAction(inspector)
        tools.addAction(live)

    # -- session menu -----------------------------------------------------------------------------------

    def ask_new_session(self) -> SessionWindow | None:
        """Ask for a performer, rig, Simon-Says set and folder; create the session and open it."""
        dialog = NewSessionDialog(self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        try:
            session = dialog.create()
        except (SessionError, OSError, ValueError) as error:
            QMessageBox.warning(self, "New session", str(error))
            return None
        return open_session_window(session.folder)

    def ask_open_session(self) -> None:
        """Choose a session folder and open it."""
        folder = QFileDialog.getExistingDirectory(self, "Open a Simon-Says session folder")
        if folder:
            open_session_window(Path(folder), self)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = recent_sessions()
        for folder in recent:
            action = self.recent_menu.addAction(str(folder))
            action.triggered.connect(lambda _=False, f=folder: open_session_window(f, self))
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def ask_save_copy(self) -> None:
        """Copy the whole session into a new folder and open the copy."""
        folder = QFileDialog.getSaveFileName(self, "Save a copy of the session as", str(
            self.session.folder.with_name(self.session.folder.name + "-copy")))[0]
        if folder:
            try:
                copy = copy_session(self.session, folder)
            except (SessionError, OSError) as error:
                QMessageBox.warning(self, "Save a copy", str(error))
                return
            open_session_window(copy.folder, self)

    # -- tools ------------------------------------------------------------------------------------------

    def open_inspector(self) -> QMainWindow:
        """Open the rig inspector on the ICT rig."""
        from studio.core.rig import Rig
        from studio.core.rig_definition import RigDefinition
        from studio.core.rig_inspection import RigInspection
        from studio.ui.inspector import RigInspectorWindow

        if self._inspector is None:
            self._inspector = RigInspectorWindow(RigInspection(Rig.ict(), RigDefinition.ict()))
        self._inspector.show()
        self._inspector.raise_()
        return self._inspector

    def open_live_view(self) -> QMainWindow:
        """Open the live tracking window."""
        from studio.core.rig import Rig
        from studio.ui.live_view import LiveTrackingWindow

        if self._live_window is None:
            self._live_window = LiveTrackingWindow(Rig.ict())
        self._live_window.show()
        self._live_window.raise_()
        return self._live_window

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
        return self.capture.busy or self.calibration.busy or self.takes.busy

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        """Closing cancels running jobs; what was saved stays (every session file is written atomically)."""
        self.capture.close_views()
        self.calibration.close_views()
        self.takes.cancel()
        if self.review is not None:
            self.review.close_views()
        for window in (self._inspector, self._live_window):
            if window is not None:
                window.close()
        if self in _OPEN_WINDOWS:
            _OPEN_WINDOWS.remove(self)
        super().closeEvent(event)


def open_session_window(folder: str | Path, parent: QWidget | None = None) -> SessionWindow | None:
    """Open a session in a window of its own (a message, not a crash, when the folder holds none)."""
    for window in _OPEN_WINDOWS:
        if window.session.folder.resolve() == Path(folder).resolve():
            window.show()
            window.raise_()
            return window
    try:
        window = SessionWindow(folder)
    except (SessionError, OSError, ValueError) as error:
        QMessageBox.warning(parent, "Open session", str(error))
        return None
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    _OPEN_WINDOWS.append(window)
    window.resize(1280, 860)
    window.show()
    return window


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


