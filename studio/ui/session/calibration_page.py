"""The calibration page: calibrate a session (θ_A → θ_S), fine-tune its tracker (θ_S → θ̂_S), and the report card.

All three run as core generator jobs (:func:`studio.core.session.calibrate.calibrate_session_job`,
:func:`studio.core.session.calibrate.finetune_session_job`,
:func:`studio.core.session.report_card.report_card_job`) in superqt workers; the GUI thread only shows
their progress, a log and the reports: a pyqtgraph bar chart of each expression's landmark residual before
and after calibration, the fine-tuning objective and control error per stage, and the report card — each
capture tracked with θ_A and with a θ_S and θ̂_S made without it, per expression and overall, a calibrated rig
that is worse than θ_A marked red — beside the choice of rig the takes use (the user may keep θ_A). Cancel (or closing the
page) sets the job's cancel flag and stops the worker at its next yield; the jobs write their files only at
the end, atomically, so a cancelled run leaves the session as it was.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QCloseEvent, QColor, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.calibration.reports import CalibrationReport, FinetuneReport
from studio.core.jobs import JobCancelled
from studio.core.session.calibrate import calibrate_session_job, finetune_session_job
from studio.core.session.model import SessionModel
from studio.core.session.report_card import CARD_RIGS, ReportCard, report_card_job
from studio.ui.widgets.rig_view import RigView
from studio.ui.workers import job_worker

#: Colours of the "before" and "after" bars.
BEFORE_BRUSH, AFTER_BRUSH = (150, 150, 150), (60, 130, 220)
#: Report card cells: a calibrated rig worse than θ_A there, and the best rig of a row.
WORSE_COLOUR, BEST_COLOUR = QColor(250, 200, 200), QColor(200, 235, 200)
RIG_LABELS = {"theta_A": "θ_A", "theta_S": "θ_S", "theta_S_hat": "fine-tuned θ_S"}
#: The choices of rig for the takes: ``None`` is the most refined the take has.
TAKES_RIG_CHOICES: tuple[tuple[str, str | None], ...] = (
    ("the most refined", None), ("θ_A (keep the generic rig)", "theta_A"), ("θ_S", "theta_S"),
    ("fine-tuned θ_S", "theta_S_hat"),
)


class CalibrationPage(QWidget):
    """Calibrate and fine-tune one session; shows progress, a log and the reports' plots.

    Parameters
    ----------
    model : SessionModel
        The session; the page follows its captures and calibration, and tells it when θ_S or θ̂_S is written.

    Signals
    -------
    sigJobFinished(str, bool)
        ``("calibration" | "finetune", succeeded)`` once a job has ended (done, failed or cancelled).
    """

    sigJobFinished = Signal(str, bool)

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setWindowTitle(f"Calibration — {model.folder.name}")
        self._worker: Any = None
        self._cancel = threading.Event()
        self._job_name = ""
        self.compared = ""  # the expression shown before/after

        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.calibrate_button = QPushButton("Calibrate (θ_A → θ_S)")
        self.finetune_button = QPushButton("Fine-tune tracker (θ_S → fine-tuned θ_S)")
        self.card_button = QPushButton("Report card")
        self.card_button.setToolTip(
            "each rig tracks captures it was not calibrated on (the session is calibrated and fine-tuned 8 "
            "times, each time without a fifth of them): a few minutes"
        )
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.calibrate_button.clicked.connect(self.calibrate)
        self.finetune_button.clicked.connect(self.finetune)
        self.card_button.clicked.connect(self.make_report_card)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.status = QLabel("idle")
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)

        self.residual_plot = pg.PlotWidget(title="landmark residual per expression (mm): before, after")
        self.residual_plot.setBackground("w")
        self.residual_plot.showGrid(x=True, alpha=0.3)
        self.stage_plot = pg.PlotWidget(title="fine-tuning per stage: objective before, after; control L2")
        self.stage_plot.setBackground("w")
        self.stage_plot.showGrid(y=True, alpha=0.3)
        self.stage_plot.addLegend(offset=(-10, 10))

        buttons = QHBoxLayout()
        for button in (self.calibrate_button, self.finetune_button, self.card_button, self.cancel_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(QLabel("Takes use"))
        self.takes_rig_box = QComboBox()
        for label, rig in TAKES_RIG_CHOICES:
            self.takes_rig_box.addItem(label, rig)
        self.takes_rig_box.setToolTip("the rig whose tracking takes show and export by default")
        self.takes_rig_box.currentIndexChanged.connect(self._takes_rig_chosen)
        buttons.addWidget(self.takes_rig_box)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        plots = QHBoxLayout()
        plots.addWidget(self.residual_plot, 3)
        plots.addWidget(self.stage_plot, 2)
        # the report card: control error on held-out captures per expression and rig
        card = QVBoxLayout()
        self.card_label = QLabel("report card: not made yet")
        self.card_label.setWordWrap(True)
        self.card_table = QTableWidget(0, len(CARD_RIGS))
        self.card_table.setHorizontalHeaderLabels([RIG_LABELS[r] for r in CARD_RIGS])
        self.card_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.card_table.setToolTip("control error (L2) tracking each capture with rigs calibrated without it; "
                                   "red: worse than θ_A, green: the best of the row")
        card.addWidget(self.card_label)
        card.addWidget(self.card_table, 1)
        plots.addLayout(card, 3)
        layout.addLayout(plots, 3)

        # before/after of one expression: the performer's capture, the rig posed with θ_A and with θ_S
        self.expression_box = QComboBox()
        self.expression_box.setToolTip("an expression's capture beside the rig posed as it, before and after")
        self.expression_box.currentTextChanged.connect(self.compare_expression)
        self.capture_label = QLabel()
        self.capture_label.setFixedSize(160, 120)
        self.capture_label.setScaledContents(True)
        self.compare_row = QHBoxLayout()
        chooser = QVBoxLayout()
        chooser.addWidget(QLabel("Before / after of"))
        chooser.addWidget(self.expression_box)
        chooser.addWidget(self.capture_label)
        chooser.addStretch(1)
        self.compare_row.addLayout(chooser)
        self.comparison_views: dict = {}  # θ_A and θ_S views, built on the first comparison
        self.compare_row.addWidget(self.log, 2)
        layout.addLayout(self.compare_row, 2)
        model.captures_changed.connect(self.refresh)
        model.calibration_changed.connect(self.refresh)
        self.refresh()

    # -- state ------------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether a job is running."""
        return self._worker is not None

    def refresh(self) -> None:
        """Show the session's captures, rigs and reports."""
        model = self.model
        status = model.status()
        calibrated, finetuned = model.has_rig_parameters("theta_S"), model.has_rig_parameters("theta_S_hat")
        self.title.setText(
            f"{model.folder}: {len(status.captured)} captures, {len(status.flagged)} flagged; "
            f"θ_S {'yes' if calibrated else 'no'}, fine-tuned θ_S {'yes' if finetuned else 'no'}"
        )
        self.finetune_button.setEnabled(not self.busy and calibrated)
        self.calibrate_button.setEnabled(not self.busy)
        self.card_button.setEnabled(not self.busy and len(status.captured) > 2)
        self.show_calibration_report(model.calibration_report())
        self.show_finetune_report(model.finetune_report())
        found = model.report_card()
        self.show_report_card(*(found if found is not None else (None, True)))
        chosen = model.session.takes_rig
        self.takes_rig_box.blockSignals(True)
        self.takes_rig_box.setCurrentIndex(max(self.takes_rig_box.findData(chosen), 0))
        self.takes_rig_box.blockSignals(False)
        current = self.expression_box.currentText()
        captured = [name for name in status.captured if name != "neutral"]
        self.expression_box.blockSignals(True)
        self.expression_box.clear()
        self.expression_box.addItems(["(choose an expression)", *captured])
        self.expression_box.blockSignals(False)
        if current in captured:
            self.expression_box.setCurrentText(current)
            self.compare_expression(current)

    def compare_expression(self, name: str) -> None:
        """Show an expression's capture beside the rig posed as the expression with θ_A and with θ_S.

        Both rigs are posed with the expression's Simon-Says controls: calibration made θ_S reproduce the
        capture there, so θ_S should look like the photo and θ_A like anyone. One pose per rig is evaluated
        here; the two views are built on the first call.
        """
        session = self.model.session
        if name not in session.expression_names or name == "neutral" or not session.is_captured(name):
            return
        thumbnails = session.thumbnail_paths(name)
        self.capture_label.setPixmap(QPixmap(str(thumbnails[len(thumbnails) // 2])) if thumbnails else QPixmap())
        rig = self.model.bundle.rig
        if not self.comparison_views:
            for key, caption in (("theta_A", "rig θ_A (before)"), ("theta_S", "rig θ_S (after)")):
                column = QVBoxLayout()
                label = QLabel(caption)
                view = RigView(rig)
                view.setMinimumSize(220, 200)
                column.addWidget(label)
                column.addWidget(view, 1)
                self.compare_row.insertLayout(self.compare_row.count() - 1, column, 1)
                self.comparison_views[key] = (view, label)
        controls = self.model.expression_set.expression(name).control_vector(rig.expression_names)
        self.comparison_views["theta_A"][0].show_vertices(rig.evaluate(controls))
        theta_s = self.model.rig_parameters("theta_S")
        view, label = self.comparison_views["theta_S"]
        if theta_s is not None:
            view.show_vertices(rig.with_parameters(theta_s).evaluate(controls))
            label.setText("rig θ_S (after)")
        else:
            view.show_vertices(rig.neutral)
            label.setText("rig θ_S (after): not calibrated yet")
        self.compared = name

    def show_calibration_report(self, report: CalibrationReport | None) -> None:
        """Bars of each expression's landmark residual (mm) before and after calibration."""
        self.residual_plot.clear()
        if report is None or not report.residual_mm:
            return
        names = list(report.residual_mm)
        before = np.array([report.residual_mm[n].before for n in names])
        after = np.array([report.residual_mm[n].after for n in names])
        y = -np.arange(len(names), dtype=float)  # first expression on top
        self.residual_plot.addItem(pg.BarGraphItem(x0=0.0, y=y + 0.2, height=0.4, width=before, brush=BEFORE_BRUSH))
        self.residual_plot.addItem(pg.BarGraphItem(x0=0.0, y=y - 0.2, height=0.4, width=after, brush=AFTER_BRUSH))
        self.residual_plot.getAxis("left").setTicks([[(float(v), n) for v, n in zip(y, names, strict=True)]])
        self.residual_plot.getAxis("bottom").setLabel("mm")

    def show_finetune_report(self, report: FinetuneReport | None) -> None:
        """The fine-tuning objective before/after and the control L2 after each stage."""
        self.stage_plot.clear()
        if report is None or not report.stages:
            return
        stages = np.array([s.stage for s in report.stages], dtype=float)
        before = np.array([s.objective_before for s in report.stages])
        after = np.array([s.objective_after for s in report.stages])
        l2 = np.array([s.control_l2 for s in report.stages])
        self.stage_plot.addItem(pg.BarGraphItem(x=stages - 0.2, height=before, width=0.4, brush=BEFORE_BRUSH))
        self.stage_plot.addItem(pg.BarGraphItem(x=stages + 0.2, height=after, width=0.4, brush=AFTER_BRUSH))
        self.stage_plot.plot(stages, l2, pen=pg.mkPen((220, 80, 40), width=2), symbol="o", name="control L2")
        self.stage_plot.getAxis("bottom").setTicks([[(float(s), f"stage {int(s)}") for s in stages]])

    def show_report_card(self, card: ReportCard | None, current: bool = True) -> None:
        """The card's table (one row per expression, then the overall means) and its plain summary."""
        table = self.card_table
        if card is None:
            table.setRowCount(0)
            self.card_label.setText("report card: not made yet (Report card: each rig on captures it did not see)")
            return
        names = list(card.errors)
        overall = card.overall()
        table.setRowCount(len(names) + 1)
        table.setVerticalHeaderLabels([*names, "overall"])
        worse = {rig: set(card.worse_than_theta_A(rig)) for rig in CARD_RIGS[1:]}
        for row, values in enumerate([*(card.errors[n] for n in names), overall]):
            best = min(CARD_RIGS, key=lambda r, v=values: v[r])
            for column, rig in enumerate(CARD_RIGS):
                item = QTableWidgetItem(f"{values[rig]:.3f}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if row < len(names) and rig != "theta_A" and names[row] in worse[rig]:
                    item.setBackground(QBrush(WORSE_COLOUR))
                elif rig == best:
                    item.setBackground(QBrush(BEST_COLOUR))
                table.setItem(row, column, item)
        stale = "" if current else "STALE (the rigs changed since; make it again). "
        self.card_label.setText(f"report card: {stale}{card.summary().replace('θ̂_S', 'fine-tuned θ_S')}")

    def _takes_rig_chosen(self, index: int) -> None:
        rig = self.takes_rig_box.itemData(index)
        self.model.session.set_takes_rig(rig)
        self._log(f"takes use {'the most refined rig' if rig is None else RIG_LABELS[rig]} by default")

    # -- jobs -------------------------------------------------------------------------------------------

    def calibrate(self) -> None:
        """Start calibrating in a worker (no-op while a job runs)."""
        self._start("calibration", calibrate_session_job)

    def finetune(self) -> None:
        """Start fine-tuning in a worker (no-op while a job runs)."""
        self._start("finetune", finetune_session_job)

    def make_report_card(self) -> None:
        """Start making the report card in a worker (no-op while a job runs)."""
        self._start("report card", report_card_job)

    def cancel(self) -> None:
        """Ask the running job to stop; it ends at its next check without writing anything."""
        if self._worker is None:
            return
        self._cancel.set()
        self._worker.quit()
        self.status.setText(f"{self._job_name}: cancelling…")

    def _start(self, name: str, job) -> None:
        if self.busy:
            return
        self._cancel = threading.Event()
        self._job_name = name
        self._started = time.perf_counter()
        worker = job_worker(job, self.model.folder, self.model.bundle, cancel=self._cancel)
        worker.yielded.connect(self._progress)
        worker.returned.connect(self._returned)
        worker.errored.connect(self._errored)
        worker.finished.connect(self._finished)
        self._worker = worker
        self._succeeded = False
        self._log(f"{name} started")
        for button in (self.calibrate_button, self.finetune_button, self.card_button):
            button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        worker.start()

    def _progress(self, progress: tuple[str, int, int]) -> None:
        what, done, total = progress
        self.progress.setRange(0, max(int(total), 1))
        self.progress.setValue(int(done))
        self.status.setText(f"{self._job_name}: {what}")
        self._log(f"{what} ({done}/{total})")

    def _returned(self, result: tuple[Any, CalibrationReport | FinetuneReport] | ReportCard) -> None:
        self._succeeded = True
        seconds = time.perf_counter() - self._started
        if isinstance(result, ReportCard):
            self._log(f"report card done in {seconds:.1f} s: {result.summary()}")
            return
        report = result[1]
        if self._job_name == "calibration":
            self._log(f"calibration done in {seconds:.1f} s: wrote calibration/theta_S.npz")
        else:
            before, after = report.metrics["theta_S"], report.metrics["theta_S_hat"]
            self._log(f"fine-tuning done in {seconds:.1f} s: control L2 on the captures "
                      f"{before['control_l2']:.3f} → {after['control_l2']:.3f}; wrote calibration/theta_S_hat.npz")

    def _errored(self, error: BaseException) -> None:
        if isinstance(error, JobCancelled):
            self._log(f"{self._job_name} cancelled; nothing written")
        else:
            self._log(f"{self._job_name} failed: {error}")

    def _finished(self) -> None:
        name, succeeded = self._job_name, self._succeeded
        if not succeeded and self._cancel.is_set():
            self._log(f"{name} stopped; nothing written")
        self._worker = None
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if succeeded else 0)
        self.status.setText(f"{name}: {'done' if succeeded else 'not done'}")
        if succeeded:
            self.model.calibration_changed_on_disk()  # this page and every other follow
        else:
            self.refresh()
        self.sigJobFinished.emit(name, succeeded)

    def _log(self, line: str) -> None:
        self.log.appendPlainText(line)

    def close_views(self) -> None:
        """Cancel a running job, stop following the session, release the before/after views' GL resources."""
        self.cancel()
        for event in (self.model.captures_changed, self.model.calibration_changed):
            event.disconnect(self.refresh)
        for view, _ in self.comparison_views.values():
            view.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        """Closing cancels a running job (it writes nothing half-way)."""
        self.close_views()
        super().closeEvent(event)

