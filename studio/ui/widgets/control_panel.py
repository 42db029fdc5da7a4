"""Slider panels that write a :class:`~studio.core.rig.inspection.RigInspection` and follow its events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QScrollArea, QVBoxLayout, QWidget
from superqt import QCollapsible, QLabeledDoubleSlider

from studio.core.rig.inspection import RigInspection

REGION_ORDER = ("brow", "eye", "cheek", "nose", "mouth", "jaw")
_SLIDER_STEPS = 1000  # resolution of a slider between its minimum and maximum


@dataclass(frozen=True)
class SliderRow:
    """One labelled slider of a panel: what it shows and which model entry it edits."""

    index: int
    label: str
    tooltip: str
    dimmed: bool = False


class SliderPanel(QScrollArea):
    """Collapsible sections of labelled sliders over one array of the model (napari-style view).

    Parameters
    ----------
    minimum, maximum : float
        Slider range.
    write : callable
        ``write(index, value)``: sets the model entry when a slider moves.
    values : callable
        ``values()``: the model's current array, read to move sliders back after model changes.
    """

    def __init__(
        self, minimum: float, maximum: float, write: Callable[[int, float], None], values: Callable[[], np.ndarray]
    ) -> None:
        super().__init__()
        self._range = (minimum, maximum)
        self._write = write
        self._values = values
        self.slider_at: dict[int, QLabeledDoubleSlider] = {}
        body = QWidget()
        self._layout = QVBoxLayout(body)
        self.setWidget(body)
        self.setWidgetResizable(True)

    def add_section(self, title: str, rows: Sequence[SliderRow], expanded: bool = True) -> None:
        """Append a collapsible section with one slider per row."""
        section = QCollapsible(title)
        grid_widget = QWidget()
        grid = QGridLayout(grid_widget)
        grid.setContentsMargins(0, 0, 0, 0)
        for line, row in enumerate(rows):
            label = QLabel(row.label)
            label.setToolTip(row.tooltip)
            if row.dimmed:
                label.setStyleSheet("color: palette(placeholder-text);")
            slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
            slider.setRange(*self._range)
            slider.setSingleStep((self._range[1] - self._range[0]) / _SLIDER_STEPS)
            slider.setDecimals(3)
            slider.setToolTip(row.tooltip)
            slider.setObjectName(row.label)
            slider.valueChanged.connect(lambda value, k=row.index: self._write(k, value))
            grid.addWidget(label, line, 0)
            grid.addWidget(slider, line, 1)
            self.slider_at[row.index] = slider
        section.addWidget(grid_widget)
        if expanded:
            section.expand(animate=False)
        self._layout.addWidget(section)

    def finish(self) -> None:
        """Close the layout after the last section."""
        self._layout.addStretch(1)

    def follow_model(self, index: int | None) -> None:
        """Move sliders to the model's values (all when ``index`` is None) without writing back."""
        values = self._values()
        for k in self.slider_at if index is None else [index]:
            slider, value = self.slider_at[k], float(values[k])
            if abs(slider.value() - value) > 1e-9:
                slider.blockSignals(True)
                slider.setValue(value)
                slider.blockSignals(False)


class ControlPanel(SliderPanel):
    """One slider per expression control (0..1), grouped by facial region; tweakers are dimmed.

    ``sliders`` maps control names to their sliders.
    """

    def __init__(self, inspection: RigInspection) -> None:
        super().__init__(0.0, 1.0, inspection.set_control, lambda: inspection.state.controls)
        self.inspection = inspection
        definition = inspection.definition
        by_region = definition.by_region()
        for region in sorted(by_region, key=lambda r: REGION_ORDER.index(r) if r in REGION_ORDER else 99):
            rows = []
            for index in by_region[region]:
                control = definition.controls[index]
                tooltip = f"{control.name} — ARKit {control.arkit}, {control.role}, FACS {', '.join(control.facs)}"
                rows.append(SliderRow(index, control.name, tooltip, dimmed=control.role == "tweaker"))
            if rows:
                self.add_section(f"{region.capitalize()}  ({len(rows)})", rows)
        self.finish()
        self.sliders = {definition.controls[k].name: s for k, s in self.slider_at.items()}
        inspection.controls_changed.connect(self.follow_model)

    def close(self) -> bool:
        """Disconnect from the model, then close."""
        self.inspection.controls_changed.disconnect(self.follow_model)
        return super().close()


class IdentityPanel(SliderPanel):
    """Sliders for the rig's identity modes (PCA coefficients in standard deviations, −3..3).

    The leading ``shown`` modes are open; the rest sit in a collapsed section. ``sliders[m]`` is mode m's.
    """

    def __init__(self, inspection: RigInspection, shown: int = 10) -> None:
        super().__init__(-3.0, 3.0, inspection.set_identity, lambda: inspection.state.identity)
        self.inspection = inspection
        num_modes = inspection.rig.num_identity_modes
        groups = [range(min(shown, num_modes)), range(min(shown, num_modes), num_modes)]
        for modes in groups:
            if len(modes):
                rows = [SliderRow(m, f"mode {m + 1}", f"identity mode {m + 1} (standard deviations)") for m in modes]
                self.add_section(f"Identity modes {modes.start + 1}–{modes.stop}", rows, expanded=modes.start == 0)
        self.finish()
        self.sliders = [self.slider_at[m] for m in range(num_modes)]
        inspection.identity_changed.connect(self.follow_model)

    def close(self) -> bool:
        """Disconnect from the model, then close."""
        self.inspection.identity_changed.disconnect(self.follow_model)
        return super().close()
