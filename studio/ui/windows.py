"""The studio's main windows and the menus they share.

Every main window of the studio — a session's window, the rig inspector, live tracking — gets the same
**Session** menu (new, open, open recent, open demo, save a copy, close) and **Tools** menu (rig inspector,
live tracking) from :func:`add_studio_menus`. This module opens the windows and keeps them alive, so the
windows themselves never import each other (the session window, the inspector and the live view sit side
by side below it).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QFileDialog, QMainWindow, QMenu, QMessageBox, QWidget

from studio.core.errors import StudioError
from studio.core.rig.definition import RigDefinition
from studio.core.rig.inspection import RigInspection
from studio.core.rig.rig import Rig
from studio.core.session.folder import Session
from studio.core.session.library import copy_session, open_demo_session, recent_sessions
from studio.ui.session.window import NewSessionDialog, SessionWindow
from studio.ui.tools.inspector import RigInspectorWindow
from studio.ui.tools.live_view import LiveTrackingWindow

#: Top-level windows kept alive (a window opened from another one has no other owner).
_OPEN_WINDOWS: list[QMainWindow] = []


def _keep(window: QMainWindow) -> QMainWindow:
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    window.destroyed.connect(lambda _=None, w=window: _OPEN_WINDOWS.remove(w) if w in _OPEN_WINDOWS else None)
    _OPEN_WINDOWS.append(window)
    return window


def open_windows() -> list[QMainWindow]:
    """The studio's open main windows, oldest first."""
    return list(_OPEN_WINDOWS)


def open_session_window(folder: str | Path, parent: QWidget | None = None) -> SessionWindow | None:
    """Open a session in a window of its own, with the studio's menus (a message, not a crash, when the folder
    holds none); a session already open is raised instead."""
    for window in _OPEN_WINDOWS:
        if isinstance(window, SessionWindow) and window.session.folder.resolve() == Path(folder).resolve():
            window.show()
            window.raise_()
            return window
    try:
        window = SessionWindow(folder)
    except (StudioError, OSError) as error:
        QMessageBox.warning(parent, "Open session", str(error))
        return None
    add_studio_menus(window)
    _keep(window)
    window.resize(1280, 860)
    window.show()
    return window


def open_inspector(inspection: RigInspection | None = None) -> RigInspectorWindow:
    """Open the rig inspector (on ``inspection``, by default the ICT rig), or raise the open one."""
    for window in _OPEN_WINDOWS:
        if isinstance(window, RigInspectorWindow) and inspection is None:
            window.show()
            window.raise_()
            return window
    window = RigInspectorWindow(inspection or RigInspection(Rig.ict(), RigDefinition.ict()))
    add_studio_menus(window)
    _keep(window)
    window.show()
    return window


def open_live_view(rig: Rig | None = None, session: Session | None = None) -> LiveTrackingWindow:
    """Open live tracking (of ``rig``, by default the ICT rig; editing ``session``'s shape response when given),
    or raise the open window of the same session."""
    for window in _OPEN_WINDOWS:
        if isinstance(window, LiveTrackingWindow) and rig is None and _same_session(window.session, session):
            window.show()
            window.raise_()
            return window
    window = LiveTrackingWindow(rig if rig is not None else Rig.ict(), session=session)
    add_studio_menus(window)
    _keep(window)
    window.show()
    return window


def _same_session(a: Session | None, b: Session | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and a.folder == b.folder)


class _ClosesToolsWithIt(QObject):
    """Closes the tool windows opened from a window when it closes (as a window's own dialogs go with it)."""

    def __init__(self, owner: QMainWindow) -> None:
        super().__init__(owner)
        self.tools: list[QMainWindow] = []
        owner.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.Close:
            for tool in self.tools:
                if tool in _OPEN_WINDOWS:
                    tool.close()
            self.tools.clear()
        return False


def add_studio_menus(window: QMainWindow) -> None:
    """Give a main window the studio's Session and Tools menus (a session window's Save a copy saves its own
    session; other windows leave it out)."""
    tools_closer = _ClosesToolsWithIt(window)
    session = window.session if isinstance(window, SessionWindow) else None
    menu = window.menuBar().addMenu("&Session")
    actions = [
        ("New session…", "Ctrl+N", lambda: ask_new_session(window)),
        ("Open session…", "Ctrl+O", lambda: ask_open_session(window)),
        ("Open demo session", "Ctrl+D", lambda: open_session_window(open_demo_session().folder, window)),
    ]
    if session is not None:
        actions.append(("Save a copy as…", "Ctrl+Shift+S", lambda: ask_save_copy(window)))
    for text, keys, slot in actions:
        action = QAction(text, window, shortcut=QKeySequence(keys))
        action.triggered.connect(slot)
        menu.addAction(action)
        if text.startswith("Open session"):
            recent = QMenu("Open recent", window)
            recent.aboutToShow.connect(lambda menu=recent: _fill_recent_menu(menu, window))
            menu.addMenu(recent)
    menu.addSeparator()
    close = QAction("Close", window, shortcut=QKeySequence("Ctrl+W"))
    close.triggered.connect(window.close)
    menu.addAction(close)

    def open_tool(opener) -> QMainWindow:
        tool = opener()
        if tool not in tools_closer.tools:
            tools_closer.tools.append(tool)
        return tool

    tools = window.menuBar().addMenu("&Tools")
    live = open_live_view if session is None else (lambda: open_live_view(session=session))
    for text, keys, opener in (("Rig inspector", "Ctrl+I", open_inspector), ("Live tracking…", "Ctrl+L", live)):
        if isinstance(window, RigInspectorWindow if opener is open_inspector else LiveTrackingWindow):
            continue  # a window does not offer itself
        action = QAction(text, window, shortcut=QKeySequence(keys))
        action.triggered.connect(lambda _=False, opener=opener: open_tool(opener))
        tools.addAction(action)


def _fill_recent_menu(menu: QMenu, window: QMainWindow) -> None:
    menu.clear()
    recent = recent_sessions()
    for folder in recent:
        action = menu.addAction(str(folder))
        action.triggered.connect(lambda _=False, f=folder: open_session_window(f, window))
    if not recent:
        menu.addAction("(none yet)").setEnabled(False)


def ask_new_session(parent: QWidget) -> SessionWindow | None:
    """Ask for a performer, rig, Simon-Says set and folder; create the session and open it."""
    dialog = NewSessionDialog(parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    try:
        session = dialog.create()
    except (StudioError, OSError) as error:
        QMessageBox.warning(parent, "New session", str(error))
        return None
    return open_session_window(session.folder, parent)


def ask_open_session(parent: QWidget) -> SessionWindow | None:
    """Choose a session folder and open it."""
    folder = QFileDialog.getExistingDirectory(parent, "Open a Simon-Says session folder")
    return open_session_window(Path(folder), parent) if folder else None


def ask_save_copy(window: SessionWindow) -> SessionWindow | None:
    """Copy a session window's whole session into a new folder and open the copy."""
    source = window.session.folder
    folder = QFileDialog.getSaveFileName(window, "Save a copy of the session as",
                                         str(source.with_name(source.name + "-copy")))[0]
    if not folder:
        return None
    try:
        copy = copy_session(window.session, folder)
    except (StudioError, OSError) as error:
        QMessageBox.warning(window, "Save a copy", str(error))
        return None
    return open_session_window(copy.folder, window)
