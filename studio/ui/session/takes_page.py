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
    QVBoxLayout,
    QWidget,
)

from studio.core.expression.model_files import model_path
from studio.core.jobs import JobCancelled
from studio.core.rig.rig import Rig
from studio.core.session.folder import Session
from studio.core.session.model import SessionModel
from studio.core.session.takes import TakeReport, record_take_job, track_session_take_job
from studio.core.tracking.frame_sources import VideoFileSource
from studio.core.tracking.rig_bundle import RigBundle
from studio.render.sources import is_synthetic, open_source, reads_in_real_time
from studio.ui.widgets.choosers import RigChooser, SourceChooser
from studio.ui.widgets.metrics_table import TakeMetricsTable
from studio.ui.workers import job_worker

#: The temporal filters a take can be tracked with: ``(label, filter name)``.
FILTER_CHOICES = (("zero-phase smoothing", "smooth"), ("learned (CNN + GRU)", "learned"), ("One-Euro", "one-euro"),
                  ("none", "none"))
#: The source choice for the session's synthetic performer, who plays moderate expressions (``synthetic:1``).
SYNTHETIC_TAKE = "synthetic performer (plays a take)"
#: What the camera chooser offers: ``(label, source spec)``.
SOURCE_CHOICES = ((SYNTHETIC_TAKE, "synthetic:1"), ("camera:0", "camera:0"), ("camera:1", "camera:1"))


def _track_video(folder: Path, bundle: RigBundle, video: Path, name: str, cancel: threading.Event,
                 filter_name: str = "smooth"):
    """The worker's job: open the video and track it into the session (closes the video afterwards)."""
    with VideoFileSource(video) as source:
        return (yield from track_session_take_job(Session.open(folder), source, name, bundle,
                                                  filter_name=filter_name, cancel=cancel))


def _record_and_track(folder: Path, bundle: RigBundle, spec: str, performer: Rig | None, name: str, seconds: float,
                      stop: threading.Event, cancel: threading.Event, filter_name: str = "smooth"):
    """The worker's job: record the camera into the take's video, then track the recording."""
    source = open_source(spec, performer, seconds)
    try:
        video = yield from record_take_job(
            Session.open(folder), source, name, seconds, reads_in_real_time(spec), stop=stop, cancel=cancel
        )
    finally:
        source.close()
    return (yield from _track_video(folder, bundle, video, name, cancel, filter_name))


class TakesPage(QWidget):
    """A session's takes: import and track, curves per rig, metrics per rig.

    Parameters
    ----------
    model : SessionModel
        The session; the page follows its takes and tells it of every take tracked.

    Signals
    -------
    sigTakeTracked(str, bool)
        ``(take name, succeeded)`` when an import ends.
    sigFrameChanged(int)
        The time cursor moved to this frame.
    """

    sigTakeTracked = Signal(str, bool)
    sigFrameChanged = Signal(int)

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setWindowTitle(f"Takes — {model.folder.name}")
        self._worker: Any = None
        self._cancel = threading.Event()
        self._importing = ""
        self.report: TakeReport | None = None
        self.curves: dict = {}

        self.take_list = QListWidget()
        self.take_list.currentTextChanged.connect(self.show_take)
        self.import_button = QPushButton("Import video…")
        self.import_button.clicked.connect(self._ask_and_import)
        self.source_box = SourceChooser(SOURCE_CHOICES)
        self.source_box.choose(SYNTHETIC_TAKE if model.has_synthetic_performer else "camera:0")
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
        self.filter_box = QComboBox()
        for label, name in FILTER_CHOICES:
            self.filter_box.addItem(label, name)
        learned = self.filter_box.findData("learned")
        self.filter_box.model().item(learned).setEnabled(model_path("temporal").is_file())
        self.filter_box.setToolTip("how tracked curves are cleaned: zero-phase smoothing (no lag), the learned "
                                   "temporal model (also fills short gaps without a face; python main.py train "
                                   "temporal), One-Euro (as live) or none")
        self.rig_box = RigChooser()
        self.rig_box.setToolTip("θ_A, θ_S, θ̂_S: the landmark tracker with that rig; network, network_calibrated: the "
                                "learned tracker as trained, and calibrated to this performer")
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
        self.metrics = TakeMetricsTable()

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
        left.addWidget(QLabel("Temporal filter"))
        left.addWidget(self.filter_box)
        left.addWidget(self.import_button)
        left.addWidget(self.cancel_button)
        left.addWidget(self.progress)
        left.addWidget(self.status)
        left.addWidget(QLabel("Rig or tracker"))
        left.addWidget(self.rig_box)
        left.addWidget(QLabel("Controls"))
        left.addWidget(self.control_list, 2)
        right = QVBoxLayout()
        right.addWidget(self.plot, 3)
        right.addWidget(self.metrics, 1)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 1)
        layout.addLayout(right, 3)
        model.takes_changed.connect(self._takes_changed)
        self.refresh()

    # -- takes ------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-list the session's takes (keeps the current one selected)."""
        current = self.take_list.currentItem().text() if self.take_list.currentItem() else None
        self.take_list.clear()
        names = self.model.take_names()
        self.take_list.addItems(names)
        if names:
            self.take_list.setCurrentRow(names.index(current) if current in names else len(names) - 1)

    def show_take(self, name: str) -> None:
        """Load a take: its rigs, the most active controls selected, the metrics per rig."""
        if not name:
            return
        take = self.model.take(name)
        self.report, self.curves = take.report, take.curves
        self.rig_box.set_rigs(list(self.curves))
        first = next(iter(self.curves.values()))
        self.control_list.blockSignals(True)
        self.control_list.clear()
        self.control_list.addItems(list(first.control_names))
        for index in first.most_active():
            self.control_list.item(int(index)).setSelected(True)
        self.control_list.blockSignals(False)
        self.metrics.show_report(self.report)
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
            taken = set(self.model.take_names())
            name = next(f"take-{i}" for i in range(1, 10_000) if f"take-{i}" not in taken)
        spec = self.source_box.spec()
        performer = self.model.synthetic_performer_rig() if is_synthetic(spec) else None
        self._stop = threading.Event()
        self._start(name, _record_and_track, spec, performer, name, float(seconds or self.seconds_box.value()),
                    self._stop)
        self.stop_button.setEnabled(True)

    def stop_recording(self) -> None:
        """End the recording now and track what was recorded."""
        self._stop.set()
        self.stop_button.setEnabled(False)

    def _start(self, name: str, job, *args) -> None:
        self._cancel = threading.Event()
        self._importing = name
        self._succeeded = False
        worker = job_worker(job, self.model.folder, self.model.bundle, *args, cancel=self._cancel,
                            filter_name=str(self.filter_box.currentData()))
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

    def _returned(self, report: TakeReport) -> None:
        self._succeeded = True
        self.status.setText(f"{report.name}: {report.frames} frames tracked with {', '.join(report.rigs)}")

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
            self.model.take_added(self._importing)  # this page and the review follow
        self.sigTakeTracked.emit(self._importing, self._succeeded)

    def _takes_changed(self, name: str | None) -> None:
        self.refresh()
        items = self.take_list.findItems(name, Qt.MatchFlag.MatchExactly) if name else []
        if items:
            self.take_list.setCurrentItem(items[0])

    def close_views(self) -> None:
        """Cancel a running recording or import and stop following the session."""
        self.cancel()
        self.model.takes_changed.disconnect(self._takes_changed)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        """Closing cancels a running import."""
        self.close_views()
        super().closeEvent(event)
