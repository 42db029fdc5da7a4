"""A strip under a take's curves: per frame the emotion recognised on the performer (top row) and on the
retarget target (bottom row), coloured per emotion, with their agreement."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from studio.core.expression.emotions import EMOTIONS

__all__ = ["EMOTION_COLOURS", "EmotionStrip"]

#: RGB per emotion, in :data:`EMOTIONS` order (neutral grey, anger red, disgust green, fear purple,
#: happiness yellow, sadness blue, surprise orange); frames without a face are white.
EMOTION_COLOURS: tuple[tuple[int, int, int], ...] = (
    (170, 170, 170), (214, 39, 40), (44, 160, 44), (148, 103, 189), (240, 200, 30), (31, 119, 180), (255, 127, 14),
)
_NO_FACE = (255, 255, 255)


class EmotionStrip(QWidget):
    """Two coloured rows over time and a line saying what they are and how often they agree."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("emotion: —")
        legend = "  ".join(f"<span style='color: rgb{EMOTION_COLOURS[e]}'>■</span> {name}"
                           for e, name in enumerate(EMOTIONS))
        self.legend = QLabel(legend)
        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.setMaximumHeight(70)
        self.plot.getAxis("left").setTicks([[(0.5, "target"), (1.5, "performer")]])
        self.plot.hideAxis("bottom")
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.plot.setYRange(0.0, 2.0, padding=0.0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QVBoxLayout()
        top.addWidget(self.title)
        top.addWidget(self.legend)
        layout.addLayout(top)
        layout.addWidget(self.plot)
        self.performer: np.ndarray | None = None
        self.target: np.ndarray | None = None

    def clear(self, message: str = "emotion: —") -> None:
        self.image.clear()
        self.performer = self.target = None
        self.title.setText(message)

    def show_tracks(self, time_s: np.ndarray, performer: np.ndarray, target: np.ndarray, agreement: float,
                    target_label: str) -> None:
        """Draw per frame ``performer`` and ``target`` emotion indices ``(T,)`` (−1: no face)."""
        self.performer, self.target = np.asarray(performer), np.asarray(target)
        colours = np.array([*EMOTION_COLOURS, _NO_FACE], np.uint8)  # index −1 → the last
        rows = np.stack([colours[self.target], colours[self.performer]], axis=1)  # (T, 2, 3): x = frame, y = row
        self.image.setImage(rows, levels=(0, 255))
        start = float(time_s[0]) if len(time_s) else 0.0
        duration = float(time_s[-1] - time_s[0]) if len(time_s) > 1 else 1.0
        step = duration / max(len(time_s) - 1, 1)
        self.image.setRect(QRectF(start - step / 2, 0.0, duration + step, 2.0))
        text = "no frame with a face" if not np.isfinite(agreement) else f"{100 * agreement:.0f} % of frames agree"
        self.title.setText(f"emotion on the performer (top) and on {target_label} (bottom): {text}")
