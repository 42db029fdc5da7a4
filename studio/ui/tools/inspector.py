"""The rig inspector: the rig in 3D, a slider per control grouped by region, identity sliders, reference renders."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QTabWidget, QToolBar, QWidget

from studio.core.rig.inspection import RigInspection
from studio.render.offscreen import OffscreenRenderer, save_png
from studio.ui.widgets.control_panel import ControlPanel, IdentityPanel
from studio.ui.widgets.rig_view import RigView


class RigInspectorWindow(QMainWindow):
    """Main window of the rig inspector.

    Parameters
    ----------
    inspection : RigInspection
        The rig and its current state; the window only reads and writes it through its methods.

    Signals
    -------
    sigMeshUpdated()
        After new vertices were handed to the 3D view (once per coalesced batch of model changes).
    sigReferenceSaved(str)
        After a reference image was written, with its path.
    """

    sigMeshUpdated = Signal()
    sigReferenceSaved = Signal(str)

    def __init__(self, inspection: RigInspection, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inspection = inspection
        rig = inspection.rig
        self.setWindowTitle(f"Simon Says Studio — Rig Inspector ({rig.name})")
        self.rig_view = RigView(rig, self)
        self.setCentralWidget(self.rig_view)

        self.control_panel = ControlPanel(inspection)
        self.identity_panel = IdentityPanel(inspection)
        tabs = QTabWidget()
        tabs.addTab(self.control_panel, f"Expression ({rig.num_controls})")
        tabs.addTab(self.identity_panel, f"Identity ({rig.num_identity_modes})")
        dock = QDockWidget("Controls", self)
        dock.setObjectName("controls-dock")
        dock.setWidget(tabs)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        dock.setMinimumWidth(360)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)

        self._build_actions()
        self._mesh_pending = False
        self._reference_renderer = None
        inspection.controls_changed.connect(self._schedule_mesh_update)
        inspection.identity_changed.connect(self._schedule_mesh_update)
        self.rig_view.sigFrameDrawn.connect(self._show_frame_rate)
        self.statusBar().showMessage(
            f"{rig.name}: {rig.num_controls} controls, {rig.num_vertices:,} vertices, "
            f"{rig.num_identity_modes} identity modes"
        )
        self.resize(1280, 800)

    # -- actions ----------------------------------------------------------------------------------------

    def _build_actions(self) -> None:
        toolbar = QToolBar("Inspector", self)
        toolbar.setObjectName("inspector-toolbar")
        self.addToolBar(toolbar)
        menu = self.menuBar().addMenu("&Rig")
        edit_menu = self.menuBar().addMenu("&Edit")
        view_menu = self.menuBar().addMenu("&View")
        self.action_undo = QAction("Undo", self, shortcut=QKeySequence.StandardKey.Undo)
        self.action_undo.triggered.connect(self.inspection.undo)
        self.action_redo = QAction("Redo", self, shortcut=QKeySequence.StandardKey.Redo)
        self.action_redo.triggered.connect(self.inspection.redo)
        edit_menu.addAction(self.action_undo)
        edit_menu.addAction(self.action_redo)
        self.action_reset_expression = QAction("Reset expression", self, shortcut=QKeySequence("Ctrl+0"))
        self.action_reset_expression.triggered.connect(self.inspection.reset_controls)
        self.action_reset_identity = QAction("Reset identity", self, shortcut=QKeySequence("Ctrl+Shift+0"))
        self.action_reset_identity.triggered.connect(self.inspection.reset_identity)
        self.action_reset_view = QAction("Reset view", self, shortcut=QKeySequence("Home"))
        self.action_reset_view.triggered.connect(self.rig_view.reset_view)
        self.action_render = QAction("Render reference image…", self, shortcut=QKeySequence("Ctrl+R"))
        self.action_render.triggered.connect(self._ask_and_render_reference)
        for action in (self.action_reset_expression, self.action_reset_identity, self.action_render):
            menu.addAction(action)
            toolbar.addAction(action)
        view_menu.addAction(self.action_reset_view)
        toolbar.addAction(self.action_reset_view)
    def _ask_and_render_reference(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save reference image", "reference.png", "PNG image (*.png)")
        if path:
            self.render_reference_image(Path(path))

    def render_reference_image(self, path: Path) -> Path:
        """Render the current rig state with the reference camera and materials to a PNG (512×512).

        The offscreen renderer (EGL) is created on first use and kept; one render takes about 25 ms.
        """
        if self._reference_renderer is None:
            self._reference_renderer = OffscreenRenderer(self.inspection.rig, size=(512, 512))
        save_png(path, self._reference_renderer.render(self.inspection.vertices()))
        self.statusBar().showMessage(f"Saved reference image {path}", 5000)
        self.sigReferenceSaved.emit(str(path))
        return path

    # -- model → view -----------------------------------------------------------------------------------

    def _schedule_mesh_update(self, index: int | None = None) -> None:
        # coalesce a burst of slider events into one evaluation + upload per event-loop pass
        if not self._mesh_pending:
            self._mesh_pending = True
            QTimer.singleShot(0, self._update_mesh)

    def _update_mesh(self) -> None:
        self._mesh_pending = False
        self._reference_renderer = None
        self.rig_view.show_vertices(self.inspection.vertices())
        self.sigMeshUpdated.emit()

    def _show_frame_rate(self, fps: float) -> None:
        if fps > 0:
            self.rig_view.setToolTip(f"{fps:.0f} frames/s")

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """Disconnect views from the model before the window goes."""
        self.inspection.controls_changed.disconnect(self._schedule_mesh_update)
        self.inspection.identity_changed.disconnect(self._schedule_mesh_update)
        self.control_panel.close()
        self.identity_panel.close()
        self.rig_view.close()
        if self._reference_renderer is not None:
            self._reference_renderer.close()
            self._reference_renderer = None
        super().closeEvent(event)
