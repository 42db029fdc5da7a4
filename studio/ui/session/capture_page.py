"""The Simon-Says page: the performer-facing capture screen (paper 001 Fig. 3).

It shows the prompted expression rendered on the performer's own face (:class:`~studio.ui.widgets.rig_view.RigView`,
the identity fitted to the neutral capture), its verbal cue in large type (spoken when a text-to-speech
voice exists), the live mirror with MediaPipe's landmarks, a hold-still bar, a match meter per face region,
progress through the set, and a review grid of every capture with its quality flags.

Everything is keyboard-only for a performer: **Space** captures (or retakes) the current expression, **←/→**
move through the set, **R** retakes the expression selected in the grid, **F11** toggles full screen. With
auto-capture on, holding the expression still records it by itself and the next one is prompted.

The work -- camera, MediaPipe, alignment, solve, burst averaging, saving -- runs in
:func:`studio.core.session.simon_says.simon_says_job` in a superqt worker; the GUI thread only draws what it yields
(the newest frame; older ones are dropped when drawing falls behind) and sends commands.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.jobs import JobCancelled
from studio.core.session.folder import Session
from studio.core.session.model import SessionModel
from studio.core.session.simon_says import PromptFrame, SimonSaysCommands, SimonSaysSettings, simon_says_job
from studio.core.tracking.reconstruction import GeometryReconstructor
from studio.render.sources import is_synthetic, open_source, reads_in_real_time
from studio.ui.widgets.choosers import SourceChooser
from studio.ui.widgets.rig_view import RigView
from studio.ui.workers import job_worker, one_line

#: The source choice for the session's synthetic performer, who follows the prompts (``prompted:0``).
SYNTHETIC_SOURCE = "synthetic performer (follows the prompts)"
#: What the source chooser offers: ``(label, source spec)``.
SOURCE_CHOICES = ((SYNTHETIC_SOURCE, "prompted:0"), ("camera:0", "camera:0"), ("camera:1", "camera:1"))
#: Review-grid thumbnail size, pixels.
THUMBNAIL_SIZE = QSize(96, 72)
_FLAG_COLOUR = QColor(255, 214, 150)
_OK_COLOUR = QColor(190, 235, 190)


class _CaptureRun:
    """One Start…Stop of the guided capture: source, MediaPipe and the job live in the worker thread."""

    def __init__(self, model: SessionModel, spec: str, commands: SimonSaysCommands, settings: SimonSaysSettings,
                 realtime: bool | None) -> None:
        self.folder = model.folder
        self.bundle = model.bundle
        self.expression_set = model.expression_set
        self.performer = model.synthetic_performer_rig() if is_synthetic(spec) else None
        self.spec = spec
        self.commands = commands
        self.settings = settings
        self.realtime = reads_in_real_time(spec) if realtime is None else realtime
        self.cancel = threading.Event()

    def work(self):
        session = Session.open(self.folder)  # the worker's own: the page's is the model's
        source = open_source(self.spec, self.performer)
        reconstructor = None
        try:
            reconstructor = GeometryReconstructor(running_mode="video")
            job = simon_says_job(
                session, source, self.expression_set, self.bundle.definition, self.bundle.tracker(),
                reconstructor, self.commands, self.settings, cancel=self.cancel, realtime=self.realtime,
            )
            return (yield from job)
        finally:
            if reconstructor is not None:
                reconstructor.close()
            source.close()


class CapturePage(QWidget):
    """Guided capture of one session's Simon-Says set.

    Parameters
    ----------
    model : SessionModel
        The session; the page follows its ``captures_changed`` and tells it of every capture saved.
    source : str, optional
        The initial source choice: :data:`SYNTHETIC_SOURCE`, ``camera:N`` or a video path; by default the
        synthetic performer for sessions with a ground-truth performer (demo), else ``camera:0``.

    Signals
    -------
    sigFrameShown(object)
        The :class:`PromptFrame` just drawn.
    sigCaptureSaved(str)
        An expression's capture was saved.
    sigStopped(str)
        The capture stopped: ``"stopped"``, ``"end of source"`` or the error's one line.
    """

    sigFrameShown = Signal(object)
    sigCaptureSaved = Signal(str)
    sigStopped = Signal(str)

    def __init__(self, model: SessionModel, source: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.expression_set = model.expression_set
        self.commands = SimonSaysCommands()
        self.settings = SimonSaysSettings()
        self.realtime: bool | None = None  # None: real time for cameras, as fast as possible for the rest
        self._run: _CaptureRun | None = None
        self._worker: Any = None
        self._pending: PromptFrame | None = None
        self._draw_scheduled = False
        self._closing = False
        self._spoken = ""
        self._shown_cue = ""
        self.frames_shown = 0
        self.last_frame: PromptFrame | None = None
        self._speech = None

        # -- prompt: progress, reference pose, cue ---------------------------------------------------------
        self.progress_label = QLabel()
        self.progress_label.setFont(QFont(self.font().family(), 14, QFont.Weight.Bold))
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximum(len(self.session.expression_names))
        self.reference_view = RigView(model.bundle.rig)
        self.reference_view.setMinimumSize(260, 260)
        self.cue_label = QLabel()
        self.cue_label.setWordWrap(True)
        self.cue_label.setFont(QFont(self.font().family(), 22))
        self.cue_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cue_label.setMinimumHeight(90)

        # -- mirror -----------------------------------------------------------------------------------------
        self.mirror = pg.GraphicsView(background=(20, 20, 22))
        self.mirror_box = pg.ViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.mirror.setCentralItem(self.mirror_box)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.landmark_item = pg.ScatterPlotItem(size=2, pen=None, brush=pg.mkBrush(80, 220, 120, 200))
        self.mirror_box.addItem(self.image_item)
        self.mirror_box.addItem(self.landmark_item)
        self.mirror.setMinimumSize(320, 240)
        self._image_size: tuple[int, int] | None = None

        # -- hold still and match meters ------------------------------------------------------------------
        self.phase_label = QLabel("Press Start.")
        self.phase_label.setFont(QFont(self.font().family(), 13))
        self.hold_bar = QProgressBar()
        self.hold_bar.setFormat("hold still %p%")
        self.match_box = QGridLayout()
        self._match_bars: dict[str, QProgressBar] = {}
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet("color: #b35900;")

        # -- controls ---------------------------------------------------------------------------------------
        self.source_box = SourceChooser(SOURCE_CHOICES)
        self.source_box.choose(source or (SYNTHETIC_SOURCE if model.has_synthetic_performer else "camera:0"))
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.toggle)
        self.auto_box = QCheckBox("auto-capture when held")
        self.auto_box.setChecked(True)
        self.auto_box.toggled.connect(self.commands.set_auto_capture)
        self.speak_box = QCheckBox("speak the cue")
        self.capture_button = QPushButton("Capture / retake (Space)")
        self.capture_button.clicked.connect(self.capture_now)
        self.full_screen_button = QPushButton("Full screen (F11)")
        self.full_screen_button.clicked.connect(self.toggle_full_screen)

        # -- review grid ------------------------------------------------------------------------------------
        self.grid = QListWidget()
        self.grid.setViewMode(QListWidget.ViewMode.IconMode)
        self.grid.setIconSize(THUMBNAIL_SIZE)
        self.grid.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.grid.setMovement(QListWidget.Movement.Static)
        self.grid.setWrapping(False)
        self.grid.setFixedHeight(THUMBNAIL_SIZE.height() + 50)
        self.grid.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.grid.itemDoubleClicked.connect(lambda item: self.retake(item.data(Qt.ItemDataRole.UserRole)))
        self.grid.itemClicked.connect(lambda item: self.go_to(item.data(Qt.ItemDataRole.UserRole)))

        top = QHBoxLayout()
        top.addWidget(self.progress_label, 1)
        top.addWidget(self.progress_bar, 1)
        side = QVBoxLayout()
        side.addWidget(self.phase_label)
        side.addWidget(self.hold_bar)
        side.addWidget(QLabel("match"))
        side.addLayout(self.match_box)
        side.addWidget(self.message_label)
        side.addStretch(1)
        reference = QVBoxLayout()
        reference.addWidget(QLabel("Make this face:"))
        reference.addWidget(self.reference_view, 1)
        side_panel = QWidget()
        side_panel.setLayout(side)
        side_panel.setFixedWidth(280)  # the mirror keeps its size whatever the messages say
        views = QHBoxLayout()
        views.addLayout(reference, 2)
        views.addWidget(self.mirror, 3)
        views.addWidget(side_panel)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("source"))
        controls.addWidget(self.source_box, 2)
        for widget in (self.start_button, self.capture_button, self.auto_box, self.speak_box,
                       self.full_screen_button):
            controls.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(views, 1)
        layout.addWidget(self.cue_label)
        layout.addLayout(controls)
        layout.addWidget(self.grid)

        for key, slot in (
            (Qt.Key.Key_Space, self.capture_now),
            (Qt.Key.Key_Left, lambda: self.step(-1)),
            (Qt.Key.Key_Right, lambda: self.step(1)),
            (Qt.Key.Key_R, self.retake_selected),
            (Qt.Key.Key_F11, self.toggle_full_screen),
        ):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        for button in (self.start_button, self.capture_button, self.full_screen_button, self.auto_box,
                       self.speak_box):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space is the capture key, never a button's
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        model.captures_changed.connect(self.refresh)
        self.refresh()

    # -- state ------------------------------------------------------------------------------------------

    @property
    def session(self) -> Session:
        """The session (the model's)."""
        return self.model.session

    @property
    def busy(self) -> bool:
        """Whether the capture runs."""
        return self._worker is not None

    def refresh(self) -> None:
        """Rebuild the review grid and the progress from the session."""
        status = self.session.status()
        self.progress_bar.setValue(len(status.captured))
        self.progress_bar.setFormat(f"{len(status.captured)} of {len(self.session.expression_names)} captured")
        self.grid.clear()
        for name in self.session.expression_names:
            item = QListWidgetItem(self.expression_set.expression(name).label or name)
            item.setData(Qt.ItemDataRole.UserRole, name)
            thumbnails = self.session.thumbnail_paths(name)
            if thumbnails:
                pixmap = QPixmap(str(thumbnails[len(thumbnails) // 2]))
                item.setIcon(QIcon(pixmap.transformed(pg.QtGui.QTransform().scale(-1, 1))))
            if name in status.flagged:
                item.setBackground(_FLAG_COLOUR)
                flags = self.session.flags(name)
                item.setToolTip("\n".join(str(f.get("message", f)) if isinstance(f, dict) else str(f)
                                          for f in flags) + "\n(double-click or R to retake)")
                item.setText("⚠ " + item.text())
            elif name in status.captured:
                item.setBackground(_OK_COLOUR)
                item.setToolTip("captured (double-click or R to retake)")
            else:
                item.setToolTip("not captured yet")
            self.grid.addItem(item)
        if self.last_frame is None:
            first = status.missing[0] if status.missing else self.session.expression_names[0]
            self._show_cue(self.expression_set.expression(first), len(status.captured))

    # -- commands ---------------------------------------------------------------------------------------

    def start(self, source: str | None = None) -> None:
        """Start the camera and the guided capture (no-op while running)."""
        if self._worker is not None:
            return
        if source is not None:
            self.source_box.choose(source)
        run = _CaptureRun(self.model, self.source_box.spec(), self.commands, self.settings, self.realtime)
        worker = job_worker(run.work)
        worker.yielded.connect(lambda frame, run=run: self._on_yielded(run, frame))
        worker.errored.connect(lambda error, run=run: self._on_errored(run, error))
        worker.returned.connect(lambda status, run=run: self._on_ended(run, "end of source"))
        worker.finished.connect(lambda run=run: self._on_finished(run))
        self._run, self._worker = run, worker
        self._stop_reason = ""
        self.start_button.setText("Stop")
        self.source_box.setEnabled(False)
        self.phase_label.setText("Starting the camera…")
        worker.start()

    def stop(self) -> None:
        """Stop the capture; every capture saved so far stays. The job sees the flag at its next frame
        and ends in the worker thread, closing MediaPipe and the source there."""
        if self._run is not None:
            self._run.cancel.set()

    def toggle(self) -> None:
        """Start or stop."""
        self.stop() if self.busy else self.start()

    def capture_now(self) -> None:
        """Capture (or retake) the current expression now."""
        if self.busy:
            self.commands.capture_now()

    def step(self, offset: int) -> None:
        """Prompt the next (``offset`` 1) or previous (−1) expression."""
        self.commands.step(offset)

    def go_to(self, name: str) -> None:
        """Prompt this expression."""
        self.commands.go_to(name)

    def retake(self, name: str) -> None:
        """Prompt ``name`` and record it again when held (the old capture stays until then)."""
        self.commands.retake(name)

    def retake_selected(self) -> None:
        """Retake the expression selected in the grid, or the current one."""
        item = self.grid.currentItem()
        if item is not None:
            self.retake(item.data(Qt.ItemDataRole.UserRole))
        elif self.last_frame is not None:
            self.retake(self.last_frame.expression.name)

    def toggle_full_screen(self) -> None:
        """Full screen for the performer (F11 again, or Esc, to leave)."""
        window = self.window()
        window.showNormal() if window.isFullScreen() else window.showFullScreen()

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """Esc leaves full screen."""
        if event.key() == Qt.Key.Key_Escape and self.window().isFullScreen():
            self.window().showNormal()
            return
        super().keyPressEvent(event)

    # -- worker → GUI -----------------------------------------------------------------------------------

    def _on_yielded(self, run: _CaptureRun, frame: PromptFrame) -> None:
        if run is not self._run or self._closing:
            return
        if frame.saved is not None:
            self._saved(frame)
        if self._pending is not None and self._pending.reference_vertices is not None \
                and frame.reference_vertices is None:
            frame = replace(frame, reference_vertices=self._pending.reference_vertices)
        self._pending = frame
        if not self._draw_scheduled:
            self._draw_scheduled = True
            QTimer.singleShot(0, self._draw_pending)

    def _saved(self, frame: PromptFrame) -> None:
        self.model.captures_changed_on_disk()  # the grid and every other page follow
        self.sigCaptureSaved.emit(frame.saved)

    def _on_errored(self, run: _CaptureRun, error: BaseException) -> None:
        if run is not self._run:
            return
        self._stop_reason = "stopped" if isinstance(error, JobCancelled) else one_line(error)

    def _on_ended(self, run: _CaptureRun, reason: str) -> None:
        if run is self._run:
            self._stop_reason = reason

    def _on_finished(self, run: _CaptureRun) -> None:
        if run is not self._run:
            return
        reason = self._stop_reason or "stopped"
        self._run, self._worker = None, None
        if self._closing:
            return
        self.start_button.setText("Start")
        self.source_box.setEnabled(True)
        self.phase_label.setText(f"Stopped: {reason}" if reason not in ("stopped",) else "Stopped.")
        self.model.captures_changed_on_disk()
        self.sigStopped.emit(reason)

    # -- drawing ----------------------------------------------------------------------------------------

    def _draw_pending(self) -> None:
        self._draw_scheduled = False
        frame, self._pending = self._pending, None
        if frame is None or self._closing:
            return
        if frame.image is not None:
            image = np.ascontiguousarray(frame.image[:, ::-1])  # a mirror
            self.image_item.setImage(image, autoLevels=False)
            size = (image.shape[1], image.shape[0])
            if size != self._image_size:
                self._image_size = size
                self.mirror_box.setRange(QRectF(0, 0, *size), padding=0.0)
            points = frame.landmarks_px
            if np.isfinite(points).all():
                self.landmark_item.setData(x=size[0] - points[:, 0], y=points[:, 1])
            else:
                self.landmark_item.clear()
        if frame.reference_vertices is not None:
            self.reference_view.show_vertices(frame.reference_vertices)
        self._show_cue(frame.expression, len(frame.status.captured), frame.index, frame.count)
        self._show_phase(frame)
        self._show_match(frame.match)
        if frame.message or frame.saved:
            self.message_label.setText(frame.message or f"{frame.saved}: saved, no problems found.")
        self.last_frame = frame
        self.frames_shown += 1
        self.sigFrameShown.emit(frame)

    def _show_cue(self, expression, captured: int, index: int | None = None, count: int | None = None) -> None:
        names = self.session.expression_names
        index = names.index(expression.name) if index is None else index
        count = len(names) if count is None else count
        self.progress_label.setText(f"{index + 1} of {count}: {expression.label or expression.name}")
        if expression.cue != self._shown_cue:
            self._shown_cue = expression.cue
            self.cue_label.setText(expression.cue)
            self._speak(expression.cue)
        for row in range(self.grid.count()):
            item = self.grid.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == expression.name and self.grid.currentRow() != row:
                self.grid.setCurrentRow(row)
                self.grid.scrollToItem(item)
                break

    def _show_phase(self, frame: PromptFrame) -> None:
        if frame.phase == "capturing":
            text = f"Hold it… recording {frame.burst_done}/{frame.burst_frames}"
        elif frame.phase == "no_face":
            text = "No face in view: sit in front of the camera."
        elif frame.phase == "settling":
            text = "Get ready…"
        elif frame.phase == "complete":
            text = "All expressions captured. Review them below, or go to Calibration."
        elif not frame.armed:
            text = "Captured. Space to retake, → for the next one."
        else:
            text = "Make the face and hold it still."
        self.phase_label.setText(text)
        self.hold_bar.setValue(round(100 * frame.hold))

    def _show_match(self, match: dict[str, float]) -> None:
        for region in list(self._match_bars):
            if region not in match:
                bar = self._match_bars.pop(region)
                self.match_box.removeWidget(bar)
                bar.deleteLater()
        for row, (region, value) in enumerate(match.items()):
            bar = self._match_bars.get(region)
            if bar is None:
                bar = self._match_bars[region] = QProgressBar()
                bar.setFormat(f"{region} %p%")
            self.match_box.addWidget(bar, row, 0)
            bar.setValue(round(100 * value))

    def _speak(self, text: str) -> None:
        """Say the cue when asked and a voice exists; silently nothing otherwise."""
        if not self.speak_box.isChecked() or text == self._spoken:
            return
        self._spoken = text
        try:
            if self._speech is None:
                from PySide6.QtTextToSpeech import QTextToSpeech

                if not QTextToSpeech.availableEngines():
                    self.speak_box.setChecked(False)
                    self.speak_box.setEnabled(False)
                    self.speak_box.setToolTip("no text-to-speech voice on this machine")
                    return
                self._speech = QTextToSpeech(self)
            self._speech.say(text)
        except Exception:  # no QtTextToSpeech module or no voice: the cue stays on screen
            self.speak_box.setChecked(False)
            self.speak_box.setEnabled(False)

    # -- closing ----------------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop (for closing the window)."""
        self.stop()

    def close_views(self) -> None:
        """Stop, stop following the session, and release the reference view's GL resources."""
        self._closing = True
        self.stop()
        self.model.captures_changed.disconnect(self.refresh)
        self.reference_view.close()
