"""The review page: a take played on its footage, the performer's rig and a retarget target, linked with its curves.

Left, the take's own video (recorded or imported; :class:`~studio.ui.widgets.footage_view.FootageView`) on the
same transport, with its sound while playing (the sound's clock then leads the pictures); a take without
video (generated, imported curves) says so. Middle, the performer's animation rig (θ_S when the session has
it, else θ_A) posed with the take's controls (and, with *Head pose*, the take's head motion); right, the
retarget target chosen in the Target box — another person, the stylized toon, the game rig with its own
controls (:mod:`studio.core.retarget.targets`), or the session's performer with their own calibration —
driven by the same semantic controls (parallel parameterization, paper 001 Sec. 10.1–10.3), with the target's
most active controls of the frame beneath it. Targets are built in a worker and kept. "Export…" writes the
take, retargeted, as Live Link Face CSV, curves CSV or JSON, glTF (.glb) or USD (in a worker).
Transport: play/pause (Space), frame step (←/→), loop, a frame slider; the slider and the time
cursor on the pyqtgraph curves move together, both ways. Which tracking drives the views (θ_A, θ_S, θ̂_S)
is chosen per take; a table compares the take tracked with each rig -- sparsity at the current frame, and
the take's mean sparsity, tweaker usage, fit residual and jitter (paper 001 Table 5 for this take). For a
take of a synthetic performer, whose true face is known (its θ_GT and the controls it performed), the
performer view can show the geometry error per vertex as a heatmap, as in the top rows of the paper's
Fig. 8–9. The page follows the session model: a new take is listed, a new θ_S poses the performer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from studio.core.io.atomic_files import check_outputs
from studio.core.io.exports import EXPORT_FORMATS
from studio.core.retarget.curves import export_take
from studio.core.retarget.targets import RetargetTarget, available_targets
from studio.core.rig.metrics import sparsity, tweaker_usage
from studio.core.rig.rig import Rig
from studio.core.rig.state import posed_by_head
from studio.core.session.model import SessionModel
from studio.core.session.takes import TakeReport
from studio.core.session.targets import SESSION_PREFIX, open_target
from studio.ui.widgets.choosers import RigChooser
from studio.ui.widgets.emotion_strip import EmotionStrip
from studio.ui.widgets.footage_view import FootageView, TakeSound
from studio.ui.widgets.metrics_table import TakeMetricsTable
from studio.ui.widgets.rig_view import RigView
from studio.ui.workers import job_worker, one_line

#: Geometry error shown at full red in the heatmap, mm.
HEATMAP_MAX_MM = 5.0


def error_colours(error_mm: np.ndarray, max_mm: float = HEATMAP_MAX_MM) -> np.ndarray:
    """Heatmap colours for per-vertex errors: white at 0 through yellow to red at ``max_mm`` and above.

    Parameters
    ----------
    error_mm : np.ndarray
        Shape ``(V,)``, mm.
    max_mm : float
        The error shown at full red, mm.

    Returns
    -------
    np.ndarray
        sRGB in [0, 1], shape ``(V, 3)``, float32.
    """
    t = np.clip(np.asarray(error_mm, np.float64) / max_mm, 0.0, 1.0)[:, None]
    white, yellow, red = np.array([0.95, 0.95, 0.95]), np.array([1.0, 0.85, 0.2]), np.array([0.85, 0.1, 0.1])
    low = white + (yellow - white) * np.clip(2.0 * t, 0.0, 1.0)
    return np.where(t < 0.5, low, yellow + (red - yellow) * np.clip(2.0 * t - 1.0, 0.0, 1.0)).astype(np.float32)


#: The target the review opens on.
DEFAULT_TARGET = "toon"

def _build_target(name: str, rig: Rig) -> tuple[str, RetargetTarget]:
    """``(name, target)``, built in a worker."""
    return name, open_target(name, rig)


def _export_job(curves, fmt: str, path: str, target: RetargetTarget, rig: Rig, session_folder: Path,
                start_timecode: str = ""):
    """Export as a one-step job (the review runs it in a worker); never over one of the session's files."""
    check_outputs([("export", path)], [p for p in session_folder.rglob("*") if p.is_file()])
    yield ("exporting", 0, 1)
    return export_take(curves, fmt, path, target, rig, start_timecode=start_timecode or None)


#: The emotion strip averages each side's probabilities over this many seconds (single-frame flips removed).
EMOTION_SMOOTH_S = 0.2


def _emotion_job(values: np.ndarray, fps: float, target: RetargetTarget, recognizer, request: int):
    """The emotion tracks of a take on the performer and the target (a worker: the game rig's projection
    takes a moment on long takes); loads the shipped classifier the first time."""
    from studio.core.expression.classifier import EmotionRecognizer
    from studio.core.retarget.emotion import retarget_emotions

    recognizer = recognizer or EmotionRecognizer.load(None, target.source_definition.control_names)
    tracks = retarget_emotions(values, target, recognizer, int(round(EMOTION_SMOOTH_S * fps)))
    return tracks, recognizer, request


class ReviewPage(QWidget):
    """Play a session's take on the performer's rig and a target side by side.

    Signals
    -------
    sigFrameChanged(int)
        The frame shown changed.
    """

    sigFrameChanged = Signal(int)

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        base = model.bundle.rig
        self.performer_rig = model.performer_rig
        self.base_rig = base
        self.targets: dict[str, RetargetTarget] = {}
        self.target: RetargetTarget | None = None
        self._target_worker = None
        self._export_worker = None
        self.tweakers = model.bundle.definition.tweaker_indices()
        self.curves: dict = {}
        self.report: TakeReport | None = None
        self.frame = 0
        self._heatmap_shown = False

        self.take_box = QComboBox()
        self.take_box.currentTextChanged.connect(self.load)
        self.rig_box = RigChooser()
        self.rig_box.currentTextChanged.connect(lambda _: self.show_frame(self.frame))
        self.rig_box.currentTextChanged.connect(lambda _: self.update_emotions())
        self.footage = FootageView()
        self.footage.setToolTip("the take's own video at the current time (recorded or imported), with its sound "
                                "when playing")
        self.sound = TakeSound(self)
        self._sound_clock: float | None = None
        self.performer_view = RigView(self.performer_rig)
        self.target_view = RigView(base)  # every target shares ICT's topology: one view shows them all
        self.target_box = QComboBox()
        for info in available_targets():
            self.target_box.addItem(info.label, info.name)
        self.target_box.addItem("This session's performer (own calibration)", f"{SESSION_PREFIX}{model.folder}")
        self.target_box.setToolTip("where the take is retargeted: another person, a stylized character, a game "
                                   "rig with its own controls, or the performer with their own calibration")
        self.target_label = QLabel("")
        self.target_controls_label = QLabel("")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("write the take, retargeted to the chosen target: Live Link Face CSV, "
                                      "glTF (.glb), curves CSV or JSON")
        self.export_button.clicked.connect(self._export_dialog)
        self.status_label = QLabel("")
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._play_toggled)
        self.loop_box = QCheckBox("Loop")
        self.loop_box.setChecked(True)
        # the performer's true geometry exists for synthetic performers: their rig θ_GT and performed controls
        self.truth_rig = model.truth_rig
        self.truth_controls: np.ndarray | None = None
        self.heatmap_box = QCheckBox(f"geometry error heatmap (0–{HEATMAP_MAX_MM:g} mm)")
        self.heatmap_box.setToolTip("per-vertex distance to the performer's true face; needs a take recorded "
                                    "from the synthetic performer")
        self.heatmap_box.toggled.connect(lambda _: self.show_frame(self.frame))
        self.head_box = QCheckBox("Head pose")
        self.head_box.setChecked(True)
        self.head_box.setToolTip("turn and move both rigs' heads as the performer's head moved (the take's tracked "
                                 "head pose); off: the faces stay still and only the expressions play")
        self.head_box.toggled.connect(lambda _: self.show_frame(self.frame))
        self.response_box = QCheckBox("Shape response")
        self.response_box.setChecked(True)
        self.response_box.setToolTip("apply the per-shape response recorded with the take (multiplier, offset, "
                                     "clamp, curve, smoothing; edited in the live view) to what is shown and "
                                     "exported; off: the raw tracked curves")
        self.response_box.toggled.connect(self._response_toggled)
        self._responded: dict = {}
        self._take = None
        self.error_mm: np.ndarray | None = None
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self.show_frame)
        self.frame_label = QLabel()
        self.metrics_label = QLabel()
        self.metrics_label.setTextFormat(Qt.TextFormat.PlainText)
        # the same take tracked with each rig, side by side (paper 001 Table 5 for this take)
        self.comparison = TakeMetricsTable(leading=["sparsity now"])
        self.comparison.setMaximumHeight(130)
        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.setLabel("bottom", "time", units="s")
        self.plot.setYRange(0.0, 1.0)
        self.emotion_strip = EmotionStrip()
        self.emotion_strip.plot.setXLink(self.plot)
        self.emotion_strip.setToolTip("the emotion recognised in each frame (paper 000's seven) on the performer and "
                                      "on the retarget target; a game rig is read through its own controls")
        self._recognizer = None
        self._emotion_worker = None
        self._emotion_request = 0  # the newest request: an older worker's answer is dropped
        self.cursor = pg.InfiniteLine(0.0, movable=True, pen=pg.mkPen((220, 80, 40), width=2))
        self.cursor.sigPositionChanged.connect(self._cursor_moved)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.step)
        for key, slot in ((Qt.Key.Key_Space, self.play_button.toggle), (Qt.Key.Key_Right, self.step),
                          (Qt.Key.Key_Left, lambda: self.step(-1))):
            QShortcut(QKeySequence(key), self, activated=slot)

        top = QHBoxLayout()
        for label, widget in (("Take", self.take_box), ("Tracked with", self.rig_box), ("Target", self.target_box)):
            top.addWidget(QLabel(label))
            top.addWidget(widget)
        top.addWidget(self.export_button)
        top.addWidget(self.status_label, 1)
        views = QHBoxLayout()
        self.footage_label = QLabel("footage")
        for title, view, under in ((self.footage_label, self.footage, None),
                                   (QLabel("performer (animation rig)"), self.performer_view, None),
                                   (self.target_label, self.target_view, self.target_controls_label)):
            column = QVBoxLayout()
            column.addWidget(title)
            column.addWidget(view, 1)
            if under is not None:
                column.addWidget(under)
            views.addLayout(column, 1)
        transport = QHBoxLayout()
        transport.addWidget(self.play_button)
        transport.addWidget(self.loop_box)
        transport.addWidget(self.heatmap_box)
        transport.addWidget(self.head_box)
        transport.addWidget(self.response_box)
        transport.addWidget(self.slider, 1)
        transport.addWidget(self.frame_label)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(views, 3)
        layout.addLayout(transport)
        layout.addWidget(self.metrics_label)
        bottom = QHBoxLayout()
        curves_column = QVBoxLayout()
        curves_column.addWidget(self.plot, 1)
        curves_column.addWidget(self.emotion_strip)
        bottom.addLayout(curves_column, 3)
        bottom.addWidget(self.comparison, 2)
        layout.addLayout(bottom, 2)
        self.target_box.currentIndexChanged.connect(lambda _: self.set_target(self.target_box.currentData()))
        model.takes_changed.connect(self._takes_changed)
        model.calibration_changed.connect(self._calibration_changed)
        self.refresh()
        index = self.target_box.findData(DEFAULT_TARGET)
        self.target_box.setCurrentIndex(max(index, 0))
        if index <= 0:
            self.set_target(self.target_box.currentData())

    # -- targets ----------------------------------------------------------------------------------------

    def set_target(self, name: str) -> None:
        """Retarget to ``name`` (built in a worker the first time, then kept); the view follows when ready."""
        if name in self.targets:
            self._target_ready(name, self.targets[name])
            return
        self.target_label.setText(f"building target {self.target_box.currentText()}…")
        # bound methods, not lambdas: Qt drops the connections when the page goes before the worker ends
        worker = job_worker(_build_target, name, self.base_rig)
        worker.returned.connect(self._target_built)
        worker.errored.connect(self._target_failed)
        self._target_worker = worker
        worker.start()

    def _target_built(self, built: tuple[str, RetargetTarget]) -> None:
        self._target_ready(*built)

    def _target_failed(self, error: BaseException) -> None:
        self.target_label.setText(f"target failed: {one_line(error)}")

    def _target_ready(self, name: str, target: RetargetTarget) -> None:
        self.targets[name] = target
        if self.target_box.currentData() != name:
            return  # another target was chosen meanwhile
        self.target = target
        controls = "ICT's controls" if not target.has_own_controls else f"{len(target.control_names)} own controls"
        gains = "" if target.kind != "stylized" else ", exaggerated"
        self.target_label.setText(f"retarget: {target.label} — {target.kind}, {controls}{gains}")
        self.show_frame(self.frame)
        self.update_emotions()

    # -- emotions ---------------------------------------------------------------------------------------

    def update_emotions(self):
        """Recognise the emotion per frame on the performer and the target in a worker; the strip follows.
        Returns the worker (``None`` when there is no take or target yet)."""
        if not self.curves or self.target is None or not self.rig_box.currentText():
            return None
        curves = self.current_curves()
        values = np.where(curves.face_found[:, None], curves.values, np.nan).astype(np.float32)
        self.emotion_strip.clear("emotion: recognising…")
        self._emotion_request += 1
        worker = job_worker(_emotion_job, values, curves.fps, self.target, self._recognizer, self._emotion_request)
        worker.returned.connect(self._emotions_ready)
        worker.errored.connect(self._emotions_failed)
        self._emotion_worker = worker
        worker.start()
        return worker

    def _emotions_ready(self, result) -> None:
        tracks, self._recognizer, request = result
        if request != self._emotion_request or not self.curves or self.target is None:
            return  # another take, tracking or target was chosen meanwhile; its own worker follows
        curves = self.current_curves()
        self.emotion_tracks = tracks
        self.emotion_strip.show_tracks(curves.time_s, tracks.performer, tracks.target, tracks.agreement,
                                       self.target.label)

    def _emotions_failed(self, error: BaseException) -> None:
        self.emotion_strip.clear(f"emotion: {one_line(error)}")

    # -- export -----------------------------------------------------------------------------------------

    def _export_dialog(self) -> None:
        if not self.curves or self.target is None:
            return
        take = self.take_box.currentText()
        filters = ";;".join(f.file_filter for f in EXPORT_FORMATS.values())
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export take", str(Path.home() / f"{take}-{self.target.name.replace(':', '_').replace('/', '_')}"),
            filters,
        )
        if not path:
            return
        chosen_format = next(f for f in EXPORT_FORMATS.values() if f.file_filter == chosen)
        self.export(chosen_format.name, path if Path(path).suffix else path + chosen_format.suffix)

    def export(self, fmt: str, path: str | Path):
        """Export the shown take (the tracking chosen) to the current target in a worker; returns the worker."""
        if self.target is None or not self.curves:
            raise ValueError("no take or target to export")
        self.export_button.setEnabled(False)
        self.status_label.setText(f"exporting {fmt}…")
        worker = job_worker(_export_job, self.current_curves(), fmt, str(path), self.target, self.base_rig,
                            self.model.session.folder, self.report.start_timecode)
        self._export_what = f"{fmt}, {self.target.name}"
        worker.returned.connect(self._exported)
        worker.errored.connect(self._export_failed)
        worker.finished.connect(self._export_finished)
        self._export_worker = worker
        worker.start()
        return worker

    def _exported(self, written: Path) -> None:
        self.status_label.setText(f"exported {Path(written).name} ({self._export_what})")

    def _export_failed(self, error: BaseException) -> None:
        self.status_label.setText(f"export failed: {one_line(error)}")

    def _export_finished(self) -> None:
        self.export_button.setEnabled(True)

    # -- takes ------------------------------------------------------------------------------------------

    def _takes_changed(self, name: str | None) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Re-list the session's takes."""
        current = self.take_box.currentText()
        self.take_box.blockSignals(True)
        self.take_box.clear()
        names = self.model.take_names()
        self.take_box.addItems(names)
        self.take_box.blockSignals(False)
        if names:
            self.take_box.setCurrentText(current if current in names else names[-1])
            self.load(self.take_box.currentText())

    def load(self, name: str) -> None:
        """Show take ``name``: its rigs, its five most active controls as curves, frame 0."""
        if not name:
            return
        take = self.model.take(name)
        self.report, self.curves = take.report, take.curves
        self._take, self._responded = take, {}
        has_response = bool(take.report.response)
        self.response_box.setEnabled(has_response)
        self.response_box.setToolTip(self.response_box.toolTip().split(" [")[0] + (
            "" if has_response else " [this take was tracked without one]"))
        self.rig_box.set_rigs(list(self.curves), self.model.session.takes_rig)
        self.truth_controls = take.truth_controls if self.truth_rig is not None else None
        self.heatmap_box.setEnabled(self.truth_controls is not None)
        if self.truth_controls is None:
            self.heatmap_box.setChecked(False)
        curves = self.current_curves()
        self.plot.clear()
        self.plot.addLegend(offset=(10, 10))
        for i, column in enumerate(curves.most_active()):
            self.plot.plot(curves.time_s, curves.values[:, column], pen=pg.mkPen(pg.intColor(i, hues=9), width=2),
                           name=curves.control_names[column], connect="finite")
        self.plot.addItem(self.cursor)
        self.slider.setRange(0, curves.num_frames - 1)
        stats = self.report.stats
        means = "   ".join(
            f"{rig}: sparsity {stats[rig].sparsity:.3f}, tweakers {stats[rig].tweaker:.3f}" for rig in self.report.rigs
        )
        self.metrics_label.setToolTip(f"take means — {means}")
        self._means = means
        self.comparison.show_report(self.report)
        self._load_footage(take)
        self.show_frame(0)
        self.update_emotions()

    def _load_footage(self, take) -> None:
        """The take's video in the footage pane and its sound on the transport (or why there is none)."""
        report = take.report
        video = report.video_path(self.model.session.take_folder(report.name))
        why = ("no video: this take was made by the generator" if report.rigs == ("generated",)
               else "no video: this take was tracked from images or imported curves")  # fmt: skip
        self.footage.set_video(video, why)
        self.sound.set_source(video if report.audio and video is not None else None)
        sound = "with sound" if self.sound.available else "no sound"
        timecode = f", starts {report.start_timecode}" if report.start_timecode else ""
        self.footage_label.setText(f"footage ({sound}{timecode})" if video is not None else "footage")

    def current_curves(self):
        """The curves of the tracking chosen in the rig box (after the take's shape response when it has one
        and *Shape response* is on)."""
        rig = self.rig_box.currentText()
        if self._take is None or not self.response_box.isChecked() or not self._take.report.response:
            return self.curves[rig]
        if rig not in self._responded:
            self._responded[rig] = self._take.with_response(rig)
        return self._responded[rig]

    def _response_toggled(self, _on: bool) -> None:
        if self.curves:
            frame = self.frame
            self.load(self.take_box.currentText())
            self.show_frame(frame)

    # -- transport --------------------------------------------------------------------------------------

    def show_frame(self, frame: int) -> None:
        """Pose both rigs with frame ``frame``'s controls; move the slider and cursor with it."""
        if not self.curves:
            return
        curves = self.current_curves()
        frame = int(np.clip(frame, 0, curves.num_frames - 1))
        self.frame = frame
        controls = np.nan_to_num(curves.values[frame].astype(np.float64))
        self.performer_vertices = self.performer_rig.evaluate(controls[None])[0]
        head = self.head_pose(frame)
        self.performer_view.show_vertices(self.performer_vertices if head is None else
                                          posed_by_head(self.performer_vertices, head[:3], head[3:]))  # fmt: skip
        self.error_mm = None
        if self.heatmap_box.isChecked() and self.truth_controls is not None:
            truth = self.truth_rig.evaluate(self.truth_controls[min(frame, len(self.truth_controls) - 1)][None])[0]
            self.error_mm = 10.0 * np.linalg.norm(self.performer_vertices - truth, axis=1)
            self.performer_view.show_vertex_colours(error_colours(self.error_mm))
        elif self._heatmap_shown:
            self.performer_view.show_vertex_colours(None)
        self._heatmap_shown = self.error_mm is not None
        if self.target is not None:
            target_controls = np.nan_to_num(self.target.retarget(curves.values[frame].astype(np.float64)))
            self.target_vertices = self.target.rig.evaluate(target_controls)
            if head is not None:
                self.target_vertices = posed_by_head(self.target_vertices, head[:3], head[3:])
            self.target_view.show_vertices(self.target_vertices)
            top = np.argsort(-target_controls)[:4]
            self.target_controls_label.setText("   ".join(
                f"{self.target.control_names[i]} {target_controls[i]:.2f}" for i in top if target_controls[i] >= 0.05
            ) or "(neutral)")  # fmt: skip
        for widget, value in ((self.slider, frame), (self.cursor, float(curves.time_s[frame]))):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)
        self.footage.show_time(float(curves.time_s[frame]))
        if not self.play_button.isChecked():
            self.sound.seek(float(curves.time_s[frame]))
        error = "" if self.error_mm is None else f", face error {float(np.median(self.error_mm)):.2f} mm median"
        self.frame_label.setText(f"frame {frame + 1}/{curves.num_frames}, {curves.time_s[frame]:.2f} s{error}")
        row = curves.values[frame : frame + 1]
        self.metrics_label.setText(
            f"this frame: sparsity {float(sparsity(row)[0]):.3f}, tweakers "
            f"{float(tweaker_usage(row, self.tweakers)[0]):.3f}      take means — {self._means}"
        )
        for index, rig in enumerate(self.report.rigs):
            values = self.curves[rig].values[frame : frame + 1]
            self.comparison.set_cell(index, 0, f"{float(sparsity(values)[0]):.3f}")
        self.sigFrameChanged.emit(frame)

    def head_pose(self, frame: int) -> np.ndarray | None:
        """The head pose shown at ``frame`` (``(6,)``: degrees, cm), or None: the toggle is off, the take has
        none (imported or generated curves) or the frame has no face."""
        head = self.current_curves().head_pose if self.curves and self.head_box.isChecked() else None
        if head is None or not np.isfinite(head[frame]).all():
            return None
        return head[frame].astype(np.float64)

    def step(self, delta: int = 1) -> None:
        """Advance ``delta`` frames (wrapping when looping, else stopping at the end)."""
        if not self.curves:
            return
        curves = self.current_curves()
        count = curves.num_frames
        frame = self.frame + delta
        if self.play_button.isChecked() and delta == 1 and self.sound.playing:
            position = self.sound.position_s()
            if position != self._sound_clock:  # the sound's clock runs: the pictures follow it
                self._sound_clock = position
                frame = max(int(np.searchsorted(curves.time_s, position + 1e-6)) - 1, 0)
        if frame >= count or frame < 0:
            if not self.loop_box.isChecked():
                self.play_button.setChecked(False)
                return
            frame %= count
            if self.play_button.isChecked():
                self.sound.play_from(float(curves.time_s[frame]))
        self.show_frame(frame)

    def _play_toggled(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing and self.curves:
            self._sound_clock = None
            self.sound.play_from(float(self.current_curves().time_s[self.frame]))
            self.timer.start(max(int(round(1000.0 / max(self.current_curves().fps, 1.0))), 1))
        else:
            self.timer.stop()
            self.sound.pause()

    def _cursor_moved(self) -> None:
        curves = self.current_curves() if self.curves else None
        if curves is not None:
            self.show_frame(int(np.searchsorted(curves.time_s, self.cursor.value())))

    def _calibration_changed(self) -> None:
        """θ_S was (re)written: the performer's rig follows."""
        self.performer_rig = self.model.performer_rig
        self.show_frame(self.frame)

    def close_views(self) -> None:
        """Stop playing, stop following the session, and release the GL views."""
        self.timer.stop()
        self.model.takes_changed.disconnect(self._takes_changed)
        self.model.calibration_changed.disconnect(self._calibration_changed)
        self.sound.set_source(None)
        self.footage.close_view()
        self.performer_view.close()
        self.target_view.close()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """Release the views."""
        self.close_views()
        super().closeEvent(event)
