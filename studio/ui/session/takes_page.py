"""The takes page: record a take from the camera or import a video, track it with every rig in a worker,
compare the curves.

Recording runs :func:`studio.core.session.takes.record_take_job` (the camera into ``takes/<name>/video.mp4``;
*Stop* ends the take early and keeps it, *Cancel* discards it) and then tracks the recording. Importing runs :func:`studio.core.session.takes.track_session_take_job` in a superqt worker (MediaPipe
once, then one solve per rig: θ_A, θ_S, θ̂_S as the session has them) with progress and cancel. A take
shows as pyqtgraph animation curves of the chosen controls for the chosen rig, with a draggable time
cursor (``sigFrameChanged``), and a table of the animator metrics per rig (paper 001 Table 5 for the take).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.jobs import JobCancelled
from studio.core.session.calibrate import GROUND_TRUTH_FILE
from studio.core.session.folder import Session
from studio.core.session.takes import list_takes, load_take, record_take_job, track_session_take_job
from studio.core.tracking.frame_sources import VideoFileSource
from studio.ui.session.capture_page import SYNTHETIC_SOURCE, synthetic_performer_rig
from studio.ui.workers import job_worker

#: Columns of the metrics table: key in a rig's stats, header.
METRIC_COLUMNS = (("sparsity", "sparsity"), ("tweaker", "tweakers"), ("fit_residual_mm", "residual mm"),
                  ("jitter", "jitter"))


def show_rigs(box: QComboBox, rigs: list[str]) -> None:
    """Fill a rig chooser with a take's rigs, the last (the most refined) chosen, without signalling."""
    box.blockSignals(True)
    box.clear()
    box.addItems(rigs)
    box.setCurrentIndex(len(rigs) - 1)
    box.blockSignals(False)


def most_active_controls(curves, count: int = 5) -> np.ndarray:
    """Indices of the ``count`` controls reaching the highest values in a take's curves."""
    return np.argsort(-np.nan_to_num(curves.values).max(axis=0))[:count]


def _track_video(folder: Path, video: Path, name: str, cancel: threading.Event):
    """The worker's job: open the video and track it into the session (closes the video afterwards)."""
    with VideoFileSource(video) as source:
        return (yield from track_session_take_job(folder, source, name, cancel=cancel))


def open_take_source(spec: str, session: Session, seconds: float):
    """The camera for a recording, and whether to read it in real time.

    :data:`~studio.ui.session.capture_page.SYNTHETIC_SOURCE` is the session's synthetic performer (its θ_GT, as on
    the capture page) playing ``seconds`` of moderate expressions with head motion; anything else goes to
    :func:`studio.core.tracking.frame_sources.open_frame_source` (``camera:N``).
    """
    from studio.core.tracking.frame_sources import open_frame_source

    if spec == SYNTHETIC_SOURCE:
        from studio.core.rig.control_curves import moderate_expression_curves
        from studio.render.synthetic_performer import SyntheticPerformerSource

        rig = synthetic_performer_rig(session)
        fps = 30.0
        curves = moderate_expression_curves(rig.expression_names, round(seconds * fps), fps, seed=1)
        return SyntheticPerformerSource(rig, curves, fps=fps, seed=1), False
    return open_frame_source(spec), True


def _record_and_track(folder: Path, spec: str, name: str, seconds: float, stop: threading.Event,
                      cancel: threading.Event):
    """The worker's job: record the camera into the take's video, then track the recording."""
    session = Session.open(folder)
    source, realtime = open_take_source(spec, session, seconds)
    try:
        video = yield from record_take_job(folder, source, name, seconds, realtime, stop=stop, cancel=cancel)
    finally:
        source.close()
    return (yield from _track_video(folder, video, name, cancel))


class TakesPage(QWidget):
    """A session's takes: import and track, curves per rig, metrics per rig.

    Signals
    -------
    sigTakeTracked(str, bool)
        ``(take name, succeeded)`` when an import ends.
    sigFrameChanged(int)
        The time cursor moved to this frame.
    """

    sigTakeTracked = Signal(str, bool)
    sigFrameChanged = Signal(int)

    def __init__(self, folder: str | Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = Session.open(folder)
        self.setWindowTitle(f"Takes — {self.session.folder.name}")
        self._worker: Any = None
        self._cancel = threading.Event()
        self._importing = ""
        self.info: dict | None = None
        self.curves: dict = {}

        self.take_list = QListWidget()
        self.take_list.currentTextChanged.connect(self.show_take)
        self.import_button = QPushButton("Import video…")
        self.import_button.clicked.connect(self._ask_and_import)
        self.source_box = QComboBox()
        self.source_box.setEditable(True)
        self.source_box.addItems([SYNTHETIC_SOURCE, "camera:0", "camera:1"])
        has_truth = (self.session.calibration_folder / GROUND_TRUTH_FILE).is_file()
        self.source_box.setCurrentText(SYNTHETIC_SOURCE if has_truth else "camera:0")
        self.seconds_box = QDoubleSpinBox()
        self.seconds_box.setRange(1.0, 600.0)
        self.seconds_box.setValue(8.0)
        self.seconds_box.setSuffix(" s")
        self.record_button = QPushButton("Record take")
        self.record_button.clicked.connect(lambda: self.record_take())
        self.stop_button = QPushButton("Stop recording")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop_recording)
        self._stop = threading.Event()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.rig_box = QComboBox()
        self.rig_box.currentTextChanged.connect(lambda _: self._plot())
        self.control_list = QListWidget()
        self.control_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.control_list.itemSelectionChanged.connect(self._plot)
        self.plot = pg.PlotWidget(title="animation curves")
        self.plot.setBackground("w")
        self.plot.setLabel("bottom", "time", units="s")
        self.plot.setYRange(0.0, 1.0)
        self.plot.addLegend(offset=(10, 10))
        self.cursor = pg.InfiniteLine(0.0, movable=True, pen=pg.mkPen((220, 80, 40), width=2))
        self.cursor.sigPositionChanged.connect(self._cursor_moved)
        self.metrics = QTableWidget(0, len(METRIC_COLUMNS))
        self.metrics.setHorizontalHeaderLabels([h for _, h in METRIC_COLUMNS])
        self.metrics.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)

        left = QVBoxLayout()
        left.addWidget(QLabel("Takes"))
        left.addWidget(self.take_list, 1)
        left.addWidget(QLabel("Camera"))
        left.addWidget(self.source_box)
        record = QHBoxLayout()
        record.addWidget(self.seconds_box)
        record.addWidget(self.record_button)
        record.addWidget(self.stop_button)
        left.addLayout(record)
        left.addWidget(self.import_button)
        left.addWidget(self.cancel_button)
        left.addWidget(self.progress)
        left.addWidget(self.status)
        left.addWidget(QLabel("Rig"))
        left.addWidget(self.rig_box)
        left.addWidget(QLabel("Controls"))
        left.addWidget(self.control_list, 2)
        right = QVBoxLayout()
        right.addWidget(self.plot, 3)
        right.addWidget(self.metrics, 1)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 1)
        layout.addLayout(right, 3)
        self.refresh()

    # -- takes ------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-list the session's takes (keeps the current one selected)."""
        current = self.take_list.currentItem().text() if self.take_list.currentItem() else None
        self.take_list.clear()
        names = list_takes(self.session.folder)
        self.take_list.addItems(names)
        if names:
            self.take_list.setCurrentRow(names.index(current) if current in names else len(names) - 1)

    def show_take(self, name: str) -> None:
        """Load a take: its rigs, the most active controls selected, the metrics per rig."""
        if not name:
            return
        self.info, self.curves = load_take(self.session.folder, name)
        show_rigs(self.rig_box, list(self.curves))
        first = next(iter(self.curves.values()))
        self.control_list.blockSignals(True)
        self.control_list.clear()
        self.control_list.addItems(list(first.control_names))
        for index in most_active_controls(first):
            self.control_list.item(int(index)).setSelected(True)
        self.control_list.blockSignals(False)
        self.metrics.setRowCount(len(self.info["rigs"]))
        self.metrics.setVerticalHeaderLabels(self.info["rigs"])
        for row, rig in enumerate(self.info["rigs"]):
            for column, (key, _) in enumerate(METRIC_COLUMNS):
                value = self.info["stats"][rig].get(key)
                item = QTableWidgetItem("–" if value is None else f"{value:.3f}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.metrics.setItem(row, column, item)
        self._plot()

    def selected_controls(self) -> list[str]:
        """Names of the controls whose curves are shown."""
        return [item.text() for item in self.control_list.selectedItems()]

    def _plot(self) -> None:
        self.plot.clear()
        self.plot.addItem(self.cursor)
        curves = self.curves.get(self.rig_box.currentText())
        if curves is None:
            return
        for i, name in enumerate(self.selected_controls()):
            column = curves.control_names.index(name)
            pen = pg.mkPen(pg.intColor(i, hues=9), width=2)
            self.plot.plot(curves.time_s, curves.values[:, column], pen=pen, name=name, connect="finite")

    def _cursor_moved(self) -> None:
        curves = next(iter(self.curves.values()), None)
        if curves is not None and curves.num_frames:
            frame = int(np.clip(np.searchsorted(curves.time_s, self.cursor.value()), 0, curves.num_frames - 1))
            self.sigFrameChanged.emit(frame)

    # -- import -----------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether an import is running."""
        return self._worker is not None

    def _ask_and_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a take", "", "Video (*.mp4 *.mov *.avi *.mkv)")
        if path:
            self.import_video(Path(path))

    def import_video(self, video: Path, name: str | None = None) -> None:
        """Track ``video`` into the session as take ``name`` (the file's stem by default), in a worker."""
        if self.busy:
            return
        name = name or Path(video).stem
        self._start(name, _track_video, Path(video), name)

    def record_take(self, name: str | None = None, seconds: float | None = None) -> None:
        """Record the chosen camera for ``seconds`` (the spin box's by default) as take ``name`` (``take-N``
        by default), then track it, in a worker."""
        if self.busy:
            return
        if name is None:
            taken = set(list_takes(self.session.folder))
            name = next(f"take-{i}" for i in range(1, 10_000) if f"take-{i}" not in taken)
        self._stop = threading.Event()
        self._start(name, _record_and_track, self.source_box.currentText(), name,
                    float(seconds or self.seconds_box.value()), self._stop)
        self.stop_button.setEnabled(True)

    def stop_recording(self) -> None:
        """End the recording now and track what was recorded."""
        self._stop.set()
        self.stop_button.setEnabled(False)

    def _start(self, name: str, job, *args) -> None:
        self._cancel = threading.Event()
        self._importing = name
        self._succeeded = False
        worker = job_worker(job, self.session.folder, *args, cancel=self._cancel)
        worker.yielded.connect(self._progress)
        worker.returned.connect(self._returned)
        worker.errored.connect(self._errored)
        worker.finished.connect(self._finished)
        self._worker = worker
        self.import_button.setEnabled(False)
        self.record_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"{name}…")
        worker.start()

    def cancel(self) -> None:
        """Stop a running recording or import; nothing of the take is written (the job sees the flag at its
        next frame and cleans up in its thread)."""
        if self._worker is not None:
            self._cancel.set()

    def _progress(self, progress: tuple[str, int, int]) -> None:
        stage, done, total = progress
        if stage != "recording":
            self.stop_button.setEnabled(False)
        self.progress.setRange(0, max(int(total), 1))
        self.progress.setValue(int(done))
        self.status.setText(f"{self._importing}: {stage} {done}/{total}")

    def _returned(self, info: dict) -> None:
        self._succeeded = True
        self.status.setText(f"{info['name']}: {info['frames']} frames tracked with {', '.join(info['rigs'])}")

    def _errored(self, error: BaseException) -> None:
        message = "cancelled; nothing written" if isinstance(error, JobCancelled) else f"failed: {error}"
        self.status.setText(f"{self._importing}: {message}")

    def _finished(self) -> None:
        self._worker = None
        self.import_button.setEnabled(True)
        self.record_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.cancel_button.setEnabled(False)
        if self._succeeded:
            self.refresh()
            items = self.take_list.findItems(self._importing, Qt.MatchFlag.MatchExactly)
            if items:
                self.take_list.setCurrentItem(items[0])
        self.sigTakeTracked.emit(self._importing, self._succeeded)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        """Closing cancels a running import."""
        self.cancel()
        super().closeEvent(event)
