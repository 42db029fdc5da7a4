"""The per-shape response editor: a control's multiplier, offset, clamp, curve and smoothing, the curve drawn.

A list of the rig's controls (those with a response marked ●), the chosen control's settings, and its curve in
a pyqtgraph plot: the points can be dragged (the ends stay at x = 0 and x = 1; a point cannot pass its
neighbours, nor go below the one before it or above the one after it, so the curve stays monotone and in
[0, 1]), added and removed. While the live view tracks, a marker shows where the performer's current value
lands on the curve (the curve's input is the tracked value after gain and offset). Every change is checked (:class:`~studio.core.rig.response.ShapeResponse`) and handed on
as a whole :class:`~studio.core.rig.response.ResponseSet` through ``sigChanged``; *Undo* (Ctrl+Z) steps back
through the changes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.rig.response import (
    MAX_CURVE_POINTS,
    MAX_MULTIPLIER,
    MAX_SMOOTHING_S,
    ResponseError,
    ResponseSet,
    ShapeResponse,
)

#: Smallest x distance between two curve points.
MIN_POINT_GAP = 0.02


class ResponsePanel(QWidget):
    """Edit a :class:`ResponseSet` for the controls ``control_names``.

    Signals
    -------
    sigChanged(object)
        The new :class:`ResponseSet` after every valid change.
    """

    sigChanged = Signal(object)

    def __init__(self, control_names, response: ResponseSet | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.control_names = tuple(control_names)
        self.response = response or ResponseSet()
        self._history: list[ResponseSet] = []
        self._updating = False
        self.control_list = QListWidget()
        self.control_list.setMinimumWidth(200)
        self.control_list.setMaximumWidth(230)
        self.control_list.currentRowChanged.connect(lambda _: self._show_control())
        self.spins = {}
        form = QFormLayout()
        for key, label, low, high, step, suffix in (
            ("multiplier", "Multiplier", 0.0, MAX_MULTIPLIER, 0.05, " ×"),
            ("offset", "Offset", -1.0, 1.0, 0.01, ""),
            ("clamp_low", "Clamp low", 0.0, 1.0, 0.01, ""),
            ("clamp_high", "Clamp high", 0.0, 1.0, 0.01, ""),
            ("smoothing_s", "Smoothing", 0.0, MAX_SMOOTHING_S, 0.01, " s"),
        ):
            spin = QDoubleSpinBox()
            spin.setRange(low, high)
            spin.setSingleStep(step)
            spin.setDecimals(3)
            spin.setSuffix(suffix)
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(lambda _value: self._settings_edited())
            form.addRow(label, spin)
            self.spins[key] = spin
        self.spins["smoothing_s"].setToolTip("causal smoothing of this shape in takes and exports (time constant)")
        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.setXRange(0.0, 1.0, padding=0.04)
        self.plot.setYRange(0.0, 1.0, padding=0.04)
        self.plot.setMouseEnabled(False, False)
        self.plot.setLabel("bottom", "tracked value × multiplier + offset")
        self.plot.setLabel("left", "drives the character")
        self.plot.plot([0, 1], [0, 1], pen=pg.mkPen((180, 180, 180), style=Qt.PenStyle.DashLine))
        self.curve_item = self.plot.plot([], [], pen=pg.mkPen((40, 90, 200), width=3))
        self.input_line = pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen((220, 80, 40), width=1))
        self.input_marker = pg.ScatterPlotItem(size=10, brush=pg.mkBrush(220, 80, 40))
        self.plot.addItem(self.input_line)
        self.plot.addItem(self.input_marker)
        self.input_line.hide()
        self.point_items: list[pg.TargetItem] = []
        self.add_button = QPushButton("Add point")
        self.add_button.clicked.connect(self.add_point)
        self.remove_button = QPushButton("Remove point")
        self.remove_button.clicked.connect(self.remove_point)
        self.reset_button = QPushButton("Reset shape")
        self.reset_button.setToolTip("this control passes through unchanged")
        self.reset_button.clicked.connect(lambda: self.set_shape(ShapeResponse()))
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.undo)
        QShortcut(QKeySequence.StandardKey.Undo, self, activated=self.undo)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        buttons = QHBoxLayout()
        for button in (self.add_button, self.remove_button, self.reset_button, self.undo_button):
            buttons.addWidget(button)
        right = QVBoxLayout()
        right.addLayout(form)
        right.addWidget(self.plot, 1)
        right.addLayout(buttons)
        right.addWidget(self.status)
        layout = QHBoxLayout(self)
        layout.addWidget(self.control_list)
        layout.addLayout(right, 1)
        self._fill_list()
        self.control_list.setCurrentRow(0)

    # -- the model --------------------------------------------------------------------------------------

    @property
    def current_name(self) -> str:
        """The control being edited."""
        return self.control_names[max(self.control_list.currentRow(), 0)]

    def choose(self, name: str) -> None:
        """Edit control ``name``."""
        self.control_list.setCurrentRow(self.control_names.index(name))

    def set_response(self, response: ResponseSet, remember: bool = True) -> None:
        """Show and hand on ``response`` (e.g. after *Re-zero neutral*); undoable."""
        if remember:
            self._history.append(self.response)
        self.response = response
        self._fill_list()
        self._show_control()
        self.sigChanged.emit(self.response)

    def set_shape(self, shape: ShapeResponse) -> bool:
        """Give the current control ``shape``; False (and the reason in the status line) when it is invalid."""
        try:
            response = self.response.with_shape(self.current_name, shape)
        except ResponseError as error:
            self.status.setText(str(error))
            self._show_control()
            return False
        self.status.setText("")
        self.set_response(response)
        return True

    def set_curve_point(self, index: int, x: float, y: float) -> bool:
        """Move point ``index`` of the current control's curve to ``(x, y)`` (kept monotone, in [0, 1])."""
        shape = self.response.get(self.current_name)
        points = [list(p) for p in shape.curve]
        points[index] = list(self._constrained(points, index, x, y))
        return self.set_shape(replace(shape, curve=tuple(map(tuple, points))))

    def add_point(self) -> bool:
        """Split the curve's longest segment at its middle."""
        shape = self.response.get(self.current_name)
        points = list(shape.curve)
        if len(points) >= MAX_CURVE_POINTS:
            self.status.setText(f"a curve has at most {MAX_CURVE_POINTS} points")
            return False
        gaps = np.diff([p[0] for p in points])
        at = int(np.argmax(gaps))
        (x0, y0), (x1, y1) = points[at], points[at + 1]
        points.insert(at + 1, ((x0 + x1) / 2, (y0 + y1) / 2))
        return self.set_shape(replace(shape, curve=tuple(points)))

    def remove_point(self) -> bool:
        """Remove the curve's last inner point."""
        shape = self.response.get(self.current_name)
        if len(shape.curve) <= 2:
            self.status.setText("the ends of a curve stay")
            return False
        points = list(shape.curve)
        del points[-2]
        return self.set_shape(replace(shape, curve=tuple(points)))

    def undo(self) -> None:
        """Back to the response before the last change."""
        if self._history:
            self.set_response(self._history.pop(), remember=False)

    def show_input(self, raw: np.ndarray | None) -> None:
        """Mark where the current control's raw value ``raw[k]`` (the live frame's controls ``(K,)``) lands."""
        if raw is None or not np.isfinite(raw).all():
            self.input_line.hide()
            self.input_marker.setData([], [])
            return
        value = float(raw[self.control_names.index(self.current_name)])
        shape = self.response.get(self.current_name)
        self.input_line.setValue(np.clip(shape.multiplier * value + shape.offset, 0.0, 1.0))
        self.input_line.show()
        self.input_marker.setData([float(self.input_line.value())], [float(shape.shape(np.array([value]))[0])])

    # -- view -------------------------------------------------------------------------------------------

    def _fill_list(self) -> None:
        row = self.control_list.currentRow()
        self.control_list.blockSignals(True)
        self.control_list.clear()
        for name in self.control_names:
            self.control_list.addItem(("● " if name in self.response.shapes else "   ") + name)
        self.control_list.setCurrentRow(max(row, 0))
        self.control_list.blockSignals(False)

    def _show_control(self) -> None:
        shape = self.response.get(self.current_name)
        self._updating = True
        for key, value in (("multiplier", shape.multiplier), ("offset", shape.offset), ("clamp_low", shape.clamp[0]),
                           ("clamp_high", shape.clamp[1]), ("smoothing_s", shape.smoothing_s)):
            self.spins[key].setValue(value)
        self._updating = False
        for item in self.point_items:
            self.plot.removeItem(item)
        self.point_items = []
        for index, (x, y) in enumerate(shape.curve):
            item = pg.TargetItem((x, y), size=11, movable=True, pen=pg.mkPen((40, 90, 200), width=2))
            item.sigPositionChangeFinished.connect(lambda item, index=index: self._point_dragged(index, item))
            self.plot.addItem(item)
            self.point_items.append(item)
        xs = np.linspace(0.0, 1.0, 101)  # the curve over its input (the tracked value after gain and offset)
        points = np.asarray(shape.curve, np.float64)
        self.curve_item.setData(xs, np.clip(np.interp(xs, points[:, 0], points[:, 1]), *shape.clamp))

    def _settings_edited(self) -> None:
        if self._updating:
            return
        shape = self.response.get(self.current_name)
        self.set_shape(replace(
            shape, multiplier=self.spins["multiplier"].value(), offset=self.spins["offset"].value(),
            clamp=(self.spins["clamp_low"].value(), self.spins["clamp_high"].value()),
            smoothing_s=self.spins["smoothing_s"].value(),
        ))  # fmt: skip

    def _point_dragged(self, index: int, item: pg.TargetItem) -> None:
        position = item.pos()
        self.set_curve_point(index, float(position.x()), float(position.y()))

    @staticmethod
    def _constrained(points: list[list[float]], index: int, x: float, y: float) -> tuple[float, float]:
        """``(x, y)`` kept between the neighbours (ends fixed in x), so the curve stays monotone in [0, 1]."""
        last = len(points) - 1
        if index == 0:
            x = 0.0
        elif index == last:
            x = 1.0
        else:
            x = float(np.clip(x, points[index - 1][0] + MIN_POINT_GAP, points[index + 1][0] - MIN_POINT_GAP))
        low = points[index - 1][1] if index > 0 else 0.0
        high = points[index + 1][1] if index < last else 1.0
        return x, float(np.clip(y, low, high))
