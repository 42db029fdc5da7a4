"""The Generate page: expressions from the generative model (paper 000), on any target, and transitions kept
as takes.

Pick an emotion and an intensity (above 1 exaggerated, up to 1.5) and see a variation on the chosen target;
"Another variation" draws the next one. A transition goes from that expression to a second one in N frames;
"Play" shows it and "Save as take" keeps it in the session (a ``generated`` take: reviewed, retargeted and
exported like any take).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import StudioError
from studio.core.expression.emotions import EMOTIONS
from studio.core.expression.generator import MAX_INTENSITY
from studio.core.retarget.targets import RetargetTarget, available_targets
from studio.core.session.model import SessionModel
from studio.core.session.takes import save_generated_take
from studio.core.session.targets import SESSION_PREFIX, open_target
from studio.ui.widgets.rig_view import RigView
from studio.ui.workers import job_worker, one_line

__all__ = ["GeneratePage"]

#: The performer's own rig in the target box.
PERFORMER = "performer"
TAKE_FPS = 30.0


def _load_generator(control_names: tuple[str, ...]):
    from studio.core.expression.generator import ExpressionGenerator

    return ExpressionGenerator.load(None, control_names)


def _build_target(name: str, rig) -> tuple[str, RetargetTarget]:
    return name, open_target(name, rig)


class GeneratePage(QWidget):
    """Generate expressions and transitions with the generative model (module docstring)."""

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.base_rig = model.bundle.rig
        self.generator = None
        self.metadata: dict = {}
        self.targets: dict[str, RetargetTarget] = {}
        self.target: RetargetTarget | None = None
        self.pose = np.zeros(self.base_rig.num_controls, np.float32)
        self.transition_curves: np.ndarray | None = None
        self._frame = 0
        self._workers: list = []

        self.view = RigView(self.base_rig)  # every target shares ICT's topology: one view shows them all
        self.emotion_box = QComboBox()
        self.emotion_box.addItems(list(EMOTIONS))
        self.emotion_box.setCurrentText("happiness")
        self.intensity = QSlider(Qt.Orientation.Horizontal)
        self.intensity.setRange(0, int(round(100 * MAX_INTENSITY)))
        self.intensity.setValue(100)
        self.intensity_label = QLabel()
        self.variation = QSpinBox()
        self.variation.setRange(0, 9999)
        self.another = QPushButton("Another variation")
        self.another.clicked.connect(lambda: self.variation.setValue(self.variation.value() + 1))
        self.target_box = QComboBox()
        self.target_box.addItem("This session's performer", PERFORMER)
        for info in available_targets():
            self.target_box.addItem(info.label, info.name)
        self.target_box.addItem("This session's performer (own calibration)", f"{SESSION_PREFIX}{model.folder}")
        self.controls_label = QLabel("")  # the strongest controls, one per line
        self.controls_label.setMinimumHeight(self.controls_label.fontMetrics().lineSpacing() * 5)

        self.to_box = QComboBox()
        self.to_box.addItems(list(EMOTIONS))
        self.to_box.setCurrentText("surprise")
        self.to_intensity = QDoubleSpinBox()
        self.to_intensity.setRange(0.0, MAX_INTENSITY)
        self.to_intensity.setSingleStep(0.1)
        self.to_intensity.setValue(1.0)
        self.frames = QSpinBox()
        self.frames.setRange(2, 600)
        self.frames.setValue(45)
        self.take_name = QLineEdit()
        self.play_button = QPushButton("Play transition")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._play_toggled)
        self.save_button = QPushButton("Save as take")
        self.save_button.clicked.connect(self.save_transition)
        self.status = QLabel("loading the generative model…")
        self.status.setWordWrap(True)
        self.status.setMinimumHeight(self.status.fontMetrics().lineSpacing() * 4)
        self.status.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._next_frame)

        expression = QGroupBox("Expression")
        form = QFormLayout(expression)
        form.addRow("Emotion", self.emotion_box)
        row = QHBoxLayout()
        row.addWidget(self.intensity, 1)
        row.addWidget(self.intensity_label)
        form.addRow("Intensity", row)
        row = QHBoxLayout()
        row.addWidget(self.variation)
        row.addWidget(self.another)
        form.addRow("Variation", row)
        form.addRow("Show on", self.target_box)
        transition = QGroupBox("Transition to")
        form = QFormLayout(transition)
        form.addRow("Emotion", self.to_box)
        form.addRow("Intensity", self.to_intensity)
        form.addRow("Frames (30 fps)", self.frames)
        form.addRow("Take name", self.take_name)
        row = QHBoxLayout()
        row.addWidget(self.play_button)
        row.addWidget(self.save_button)
        form.addRow(row)
        side = QVBoxLayout()
        side.addWidget(expression)
        side.addWidget(transition)
        side.addWidget(self.controls_label)
        side.addWidget(self.status)
        side.addStretch(1)
        panel = QWidget()
        panel.setLayout(side)
        panel.setMaximumWidth(420)
        layout = QHBoxLayout(self)
        layout.addWidget(panel)
        layout.addWidget(self.view, 1)

        for signal in (self.emotion_box.currentTextChanged, self.intensity.valueChanged, self.variation.valueChanged):
            signal.connect(lambda *_: self.update_pose())
        for signal in (self.to_box.currentTextChanged, self.to_intensity.valueChanged, self.frames.valueChanged,
                       self.emotion_box.currentTextChanged, self.intensity.valueChanged, self.variation.valueChanged):
            signal.connect(lambda *_: self._transition_changed())
        self.target_box.currentIndexChanged.connect(lambda _: self.set_target(self.target_box.currentData()))
        model.calibration_changed.connect(self._calibration_changed)
        self._transition_changed()
        self._start(job_worker(_load_generator, model.bundle.definition.control_names), self._generator_ready,
                    lambda error: self.status.setText(f"no generative model: {one_line(error)}"))

    def _start(self, worker, returned, errored) -> None:
        worker.returned.connect(returned)
        worker.errored.connect(errored)
        worker.finished.connect(lambda: self._workers.remove(worker) if worker in self._workers else None)
        self._workers.append(worker)
        worker.start()

    # -- the model and targets ------------------------------------------------------------------------

    def _generator_ready(self, loaded) -> None:
        self.generator, self.metadata = loaded
        self.status.setText(f"generative model: {self.metadata.get('command', 'loaded')}")
        self.update_pose()

    def set_target(self, name: str) -> None:
        """Show the expressions on ``name`` (built in a worker the first time)."""
        if name == PERFORMER:
            self.target = None
            self.update_pose()
            return
        if name in self.targets:
            self._target_ready((name, self.targets[name]))
            return
        self.status.setText(f"building target {self.target_box.currentText()}…")
        self._start(job_worker(_build_target, name, self.base_rig), self._target_ready,
                    lambda error: self.status.setText(f"target failed: {one_line(error)}"))

    def _target_ready(self, built: tuple[str, RetargetTarget]) -> None:
        name, target = built
        self.targets[name] = target
        if self.target_box.currentData() == name:
            self.target = target
            self.status.setText(f"shown on {target.label}")
            self.show_controls(self.pose)

    def _calibration_changed(self) -> None:
        """θ_S was (re)written: the performer's rig follows."""
        self.show_controls(self.pose)

    # -- expressions ----------------------------------------------------------------------------------

    @property
    def intensity_value(self) -> float:
        return self.intensity.value() / 100.0

    def update_pose(self) -> None:
        """Sample the chosen emotion, intensity and variation and show it."""
        value = self.intensity_value
        self.intensity_label.setText(f"{value:.2f}" + (" exaggerated" if value > 1.0 else ""))
        if self.generator is None:
            return
        self.play_button.setChecked(False)
        self.pose = self.generator.sample(self.emotion_box.currentText(), value, 1, seed=self.variation.value())[0]
        self.show_controls(self.pose)

    def show_controls(self, controls: np.ndarray) -> None:
        """Pose the view with ICT controls ``(K,)`` on the current target (or the performer)."""
        if self.target is None:
            vertices = self.model.performer_rig.evaluate(controls[None].astype(np.float64))[0]
            names, values = self.model.bundle.definition.control_names, controls
        else:
            values = self.target.retarget(controls.astype(np.float64))
            vertices = self.target.rig.evaluate(values)
            names = self.target.control_names
        self.view.show_vertices(vertices)
        top = np.argsort(-values)[:5]
        self.controls_label.setText("\n".join(f"{names[i]} {values[i]:.2f}" for i in top if values[i] >= 0.05)
                                    or "(neutral)")

    # -- transitions ----------------------------------------------------------------------------------

    def _transition_changed(self) -> None:
        self.transition_curves = None
        start, end = self.emotion_box.currentText(), self.to_box.currentText()
        self.take_name.setText(f"generated-{start}-to-{end}-{self.variation.value()}")

    def transition(self) -> np.ndarray | None:
        """The transition's controls ``(T, K)`` (computed once per setting)."""
        if self.generator is None:
            return None
        if self.transition_curves is None:
            self.transition_curves = self.generator.transition(
                (self.emotion_box.currentText(), self.intensity_value),
                (self.to_box.currentText(), float(self.to_intensity.value())),
                int(self.frames.value()), seed=self.variation.value())
        return self.transition_curves

    def _play_toggled(self, playing: bool) -> None:
        self.play_button.setText("Stop" if playing else "Play transition")
        if playing and self.transition() is not None:
            self._frame = 0
            self.timer.start(int(round(1000.0 / TAKE_FPS)))
        else:
            self.timer.stop()

    def _next_frame(self) -> None:
        curves = self.transition()
        if curves is None:
            return
        self.show_controls(curves[self._frame % len(curves)])
        self._frame += 1

    def save_transition(self) -> str | None:
        """Keep the transition as a take of the session; returns its name (``None`` when it was refused)."""
        curves = self.transition()
        if curves is None:
            self.status.setText("no generative model loaded")
            return None
        name = self.take_name.text().strip()
        description = (f"generated: {self.emotion_box.currentText()} {self.intensity_value:.2f} → "
                       f"{self.to_box.currentText()} {self.to_intensity.value():.2f}, {len(curves)} frames, "
                       f"variation {self.variation.value()} ({self.metadata.get('command', '')})")
        try:
            save_generated_take(self.model.session, name, curves, TAKE_FPS, description)
        except (StudioError, OSError) as error:  # a refused name or an unwritable folder: one line, nothing lost
            self.status.setText(f"not saved: {one_line(error)}")
            return None
        self.status.setText(f"saved take {name} ({len(curves)} frames): review and export it like any take")
        self.model.take_added(name)
        return name

    def close_views(self) -> None:
        """Stop playing and release the view."""
        self.timer.stop()
        self.model.calibration_changed.disconnect(self._calibration_changed)
        self.view.close()
