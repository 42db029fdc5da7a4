"""The Shoot page: a folder of takes processed on Ray into the session, with each take's status as it finishes.

Pick the shoot's folder, the targets and the formats, and *Process shoot* runs
:func:`studio.core.session.shoot.batch_job` in a worker (a local Ray, one task per core; the GUI thread never
waits). The table fills from the job's rows as takes finish — take, status, frames, face %, residual, sparsity,
seconds, the error of a failed take — and *Open in review* shows a finished take on the Review page (the page
asks the window through ``sigOpenTake``: pages never import each other). *Cancel* stops the shoot; finished
takes stay, and running the shoot again skips them.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.session.model import SessionModel
from studio.core.session.shoot import SUMMARY_COLUMNS, batch_job
from studio.ui.workers import job_worker, one_line

#: The table's columns (the summary's, less the video's path, which the tooltip shows).
COLUMNS = tuple(c for c in SUMMARY_COLUMNS if c != "video")


class ShootPage(QWidget):
    """A shoot folder processed into the session.

    Signals
    -------
    sigOpenTake(str)
        Show this take in the review.
    sigShootFinished(bool)
        The shoot ended: whether it ran to its end (False: failed or cancelled).
    """

    sigOpenTake = Signal(str)
    sigShootFinished = Signal(bool)

    def __init__(self, model: SessionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.rows: list[dict] = []
        self._worker = None
        self._cancel = threading.Event()
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("the shoot's folder (videos found in it and below)")
        browse = QPushButton("Folder…")
        browse.clicked.connect(self._browse)
        self.targets_edit = QLineEdit("performer,toon")
        self.targets_edit.setToolTip("retarget targets, comma-separated: performer (this session's rig), toon, rook, "
                                     "an identity, a target file")
        self.formats_edit = QLineEdit("livelink,glb")
        self.formats_edit.setToolTip("export formats, comma-separated: livelink, csv, json, glb, usd")
        self.workers_box = QSpinBox()
        self.workers_box.setRange(1, max(1, os.cpu_count() or 1))
        self.workers_box.setValue(max(1, os.cpu_count() or 1))
        self.workers_box.setToolTip("takes processed at once (Ray tasks, one core each)")
        self.start_button = QPushButton("Process shoot")
        self.start_button.clicked.connect(lambda: self.start())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.status = QLabel("Pick a folder of takes; each is tracked with this session's rigs, retargeted and "
                             "exported. Finished takes are skipped when the shoot runs again.")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([c.replace("_", " ") for c in COLUMNS])
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.cellDoubleClicked.connect(lambda row, _column: self.open_take(row))
        self.open_button = QPushButton("Open in review")
        self.open_button.clicked.connect(lambda: self.open_take(self.table.currentRow()))

        folder = QHBoxLayout()
        folder.addWidget(QLabel("Shoot"))
        folder.addWidget(self.folder_edit, 1)
        folder.addWidget(browse)
        options = QHBoxLayout()
        for label, widget in (("Targets", self.targets_edit), ("Formats", self.formats_edit),
                              ("At once", self.workers_box)):  # fmt: skip
            options.addWidget(QLabel(label))
            options.addWidget(widget)
        options.addWidget(self.start_button)
        options.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(folder)
        layout.addLayout(options)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.open_button)

    @property
    def busy(self) -> bool:
        """Whether a shoot is running."""
        return self._worker is not None

    def out_folder(self) -> Path:
        """Where the shoot's exports and summary go: ``<shoot>/studio-batch``."""
        return Path(self.folder_edit.text()) / "studio-batch"

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "The shoot's folder")
        if folder:
            self.folder_edit.setText(folder)

    def start(self, folder: str | Path | None = None):
        """Process the shoot in ``folder`` (default the one typed) in a worker; returns the worker."""
        if self.busy:
            return self._worker
        if folder is not None:
            self.folder_edit.setText(str(folder))
        targets = [t.strip() for t in self.targets_edit.text().split(",") if t.strip()]
        formats = [f.strip() for f in self.formats_edit.text().split(",") if f.strip()]
        self._cancel.clear()
        self.rows = []
        self._show_rows()
        worker = job_worker(batch_job, self.folder_edit.text(), self.model.folder, self.out_folder(), targets, formats,
                            None, self.workers_box.value(), False, self._cancel)  # fmt: skip
        worker.yielded.connect(self._progressed)
        worker.returned.connect(self._returned)
        worker.errored.connect(self._failed)
        worker.finished.connect(self._finished)
        self._worker = worker
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText("Starting Ray…")
        worker.start()
        return worker

    def cancel(self) -> None:
        """Stop the shoot (finished takes stay)."""
        self._cancel.set()
        self.status.setText("Cancelling…")

    def _progressed(self, step) -> None:
        _stage, done, total = step
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.status.setText(f"{done} of {total} takes finished")
        self._read_summary()

    def _read_summary(self) -> None:
        try:
            document = json.loads((self.out_folder() / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        self.rows = list(document.get("takes", []))
        self._show_rows()

    def _returned(self, rows) -> None:
        self.rows = sorted(rows, key=lambda r: r["take"])
        self._show_rows()
        done = sum(1 for r in rows if r.get("status") == "done")
        skipped = sum(1 for r in rows if r.get("skipped"))
        self.status.setText(f"{done} takes done, {len(rows) - done} failed, {skipped} finished before — "
                            f"exports and summary in {self.out_folder()}")  # fmt: skip
        self.model.take_added()
        self._succeeded = True

    def _failed(self, error: BaseException) -> None:
        self.status.setText(f"Shoot stopped: {one_line(error)}")
        self._read_summary()
        self._succeeded = False

    def _finished(self) -> None:
        self._worker = None
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.sigShootFinished.emit(getattr(self, "_succeeded", False))

    def _show_rows(self) -> None:
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            for c, column in enumerate(COLUMNS):
                value = row.get(column)
                item = QTableWidgetItem("" if value is None else str(value))
                item.setToolTip(str(row.get("video", "")))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()

    def open_take(self, row: int) -> bool:
        """Ask for take ``row`` in the review (a finished one); False when the row has no finished take."""
        if not 0 <= row < len(self.rows) or self.rows[row].get("status") != "done":
            return False
        self.sigOpenTake.emit(self.rows[row]["take"])
        return True

    def close_views(self) -> None:
        """Cancel a running shoot."""
        self._cancel.set()
