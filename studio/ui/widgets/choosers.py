"""Choosers shared by the session pages: a source (camera, video, synthetic performer) and a tracking rig."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QComboBox, QWidget

__all__ = ["RigChooser", "SourceChooser"]


class SourceChooser(QComboBox):
    """An editable chooser of what a page reads frames from.

    Offers named choices (a label for a person, a source spec for :func:`studio.render.sources.open_source`)
    and accepts any typed text as a spec of its own (``camera:2``, the path of a video).

    Parameters
    ----------
    choices : sequence of (str, str)
        ``(label, spec)`` pairs, in order.
    """

    def __init__(self, choices: Sequence[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setEditable(True)
        for label, spec in choices:
            self.addItem(label, spec)
        self.setToolTip("camera:N, a video file, or the synthetic performer")

    def spec(self) -> str:
        """The chosen source as a spec: the choice's own when a listed label is shown, else the typed text."""
        index = self.findText(self.currentText())
        return str(self.itemData(index)) if index >= 0 else self.currentText().strip()

    def choose(self, label_or_spec: str) -> None:
        """Show a listed choice (by its label or spec) or any spec as typed text."""
        index = self.findText(label_or_spec)
        index = index if index >= 0 else self.findData(label_or_spec)
        if index >= 0:
            self.setCurrentIndex(index)
        else:
            self.setCurrentText(label_or_spec)


class RigChooser(QComboBox):
    """Which tracking of a take to show (``theta_A``, ``theta_S``, ``theta_S_hat``; ``network``,
    ``network_calibrated`` for the learned tracker)."""

    def set_rigs(self, rigs: Sequence[str], preferred: str | None = None) -> None:
        """Offer a take's rigs and choose ``preferred`` (the session's choice for takes) when the take has it,
        else the last rig of the landmark tracker (the most refined), without signalling."""
        rigs = list(rigs)
        landmark_rigs = [i for i, rig in enumerate(rigs) if not rig.startswith("network")] or [len(rigs) - 1]
        self.blockSignals(True)
        self.clear()
        self.addItems(rigs)
        self.setCurrentIndex(rigs.index(preferred) if preferred in rigs else landmark_rigs[-1])
        self.blockSignals(False)
