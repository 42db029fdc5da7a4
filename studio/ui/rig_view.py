"""A vispy 3D view of a rig embedded in Qt: orbit with the left button, zoom with the wheel."""

from __future__ import annotations

import time
from collections import deque

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget
from vispy import scene

from studio.core.rig import Rig
from studio.render.face_scene import FaceScene


class RigView(QWidget):
    """The rig's mesh in a vispy ``SceneCanvas`` with a turntable camera.

    Signals
    -------
    sigFrameDrawn(float)
        After each draw, with the frame rate over the last second of draws (frames per second).
    """

    sigFrameDrawn = Signal(float)

    def __init__(self, rig: Rig, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = scene.SceneCanvas(keys=None, app="pyside6", bgcolor=(0.16, 0.17, 0.19, 1.0), parent=self, autoswap=False)
        self.view = self.canvas.central_widget.add_view()
        self.face = FaceScene(rig, parent=self.view.scene)
        self._center = rig.neutral[rig.group_vertices("face")].mean(axis=0) if "face" in rig.group_names else rig.neutral.mean(axis=0)
        self.view.camera = scene.TurntableCamera(fov=30.0, up="+y")
        self.reset_view()
        self.draw_count = 0
        self._draw_times: deque[float] = deque(maxlen=120)
        self.canvas.events.draw.connect(self._on_draw)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas.native)

    def show_vertices(self, vertices: np.ndarray) -> None:
        """Display new positions, shape ``(V, 3)``, centimetres; the canvas redraws on the next paint."""
        self.face.set_vertices(vertices)
        self.canvas.update()

    def reset_view(self) -> None:
        """Front view of the face, framed as in the Simon-Says reference renders."""
        camera = self.view.camera
        camera.center = tuple(float(x) for x in self._center)
        camera.azimuth = 90.0  # with up=+y, vispy's turntable looks down −z (at the face) at azimuth 90
        camera.elevation = 0.0
        camera.distance = 75.0  # cm, with a 30 degree field of view the head fills the view
        camera.scale_factor = 40.0
        self.canvas.update()

    def frames_per_second(self) -> float:
        """Draw rate over the most recent second of draws (0 before two draws)."""
        now = time.perf_counter()
        recent = [t for t in self._draw_times if now - t <= 1.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-9)

    def _on_draw(self, event: object) -> None:
        self.draw_count += 1
        self._draw_times.append(time.perf_counter())
        self.sigFrameDrawn.emit(self.frames_per_second())

    def close(self) -> bool:
        """Release the GL canvas, then close."""
        self.canvas.events.draw.disconnect(self._on_draw)
        self.canvas.close()
        return super().close()
