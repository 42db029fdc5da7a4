"""A table of a take's animator metrics per tracking rig (paper 001 Table 5 for the take)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem, QWidget

from studio.core.session.takes import TakeReport

__all__ = ["METRIC_COLUMNS", "TakeMetricsTable"]

#: The metrics shown per rig: attribute of :class:`~studio.core.tracking.take.TakeStats`, header.
METRIC_COLUMNS: tuple[tuple[str, str], ...] = (
    ("sparsity", "sparsity"), ("tweaker", "tweakers"), ("fit_residual_mm", "residual mm"), ("jitter", "jitter"),
)


class TakeMetricsTable(QTableWidget):
    """One row per rig a take was tracked with, one column per metric (after ``leading`` columns of its own).

    Parameters
    ----------
    leading : sequence of str
        Headers of columns before the metrics, filled by the owner with :meth:`set_cell` (the review's
        "sparsity now").
    """

    def __init__(self, leading: Sequence[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(0, len(leading) + len(METRIC_COLUMNS), parent)
        self.leading = len(leading)
        self.setHorizontalHeaderLabels([*leading, *[header for _, header in METRIC_COLUMNS]])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)

    def show_report(self, report: TakeReport) -> None:
        """A row per rig of the take with its metrics (``–`` where a figure is missing)."""
        self.setRowCount(len(report.rigs))
        self.setVerticalHeaderLabels(list(report.rigs))
        for row, rig in enumerate(report.rigs):
            stats = report.stats.get(rig)
            for column, (key, _) in enumerate(METRIC_COLUMNS, start=self.leading):
                value = None if stats is None else getattr(stats, key)
                self.set_cell(row, column, "–" if value is None else f"{value:.3f}")

    def set_cell(self, row: int, column: int, text: str) -> None:
        """Show ``text`` right-aligned in a cell."""
        item = QTableWidgetItem(text)
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.setItem(row, column, item)
