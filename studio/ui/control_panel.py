"""Slider panels that write a :class:`~studio.core.rig_inspection.RigInspection` and follow its events."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QScrollArea, QVBoxLayout, QWidget
from superqt import QCollapsible, QLabeledDoubleSlider

from studio.core.rig_inspection import RigInspection

REGION_ORDER = ("brow", "eye", "cheek", "nose", "mouth", "jaw")
_SLIDER_STEPS = 1000  # resolution of a slider between its minimum and maximum


def _make_slider(minimum: float, maximum: float, tooltip: str) -> QLabeledDoubleSlider:
    slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
    slider.setRange(minimum, maximum)
    slider.setSingleStep((maximum - minimum) / _SLIDER_STEPS)
    slider.setDecimals(3)
    slider.setToolTip(tooltip)
    return slider


class ControlPanel(QScrollArea):
    """One labelled slider per expression control, grouped by facial region (collapsible).

    Parameters
    ----------
    inspection : RigInspection
        The model: slider moves call ``set_control``; ``controls_changed`` moves sliders back.
    """

    def __init__(self, inspection: RigInspection, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inspection = inspection
        self.sliders: dict[str, QLabeledDoubleSlider] = {}
        body = QWidget()
        layout = QVBoxLayout(body)
        by_region = inspection.definition.by_region()
        for region in sorted(by_region, key=lambda r: REGION_ORDER.index(r) if r in REGION_ORDER else 99):
            if not by_region[region]:
                continue
            section = QCollapsible(f"{region.capitalize()}  ({len(by_region[region])})")
            grid_widget = QWidget()
            grid = QGridLayout(grid_widget)
            grid.setContentsMargins(0, 0, 0, 0)
            for row, index in enumerate(by_region[region]):
                control = inspection.definition.controls[index]
                label = QLabel(control.name)
                if control.role == "tweaker":
                    label.setStyleSheet("color: palette(placeholder-text);")
                tooltip = f"{control.name} — ARKit {control.arkit}, {control.role}, FACS {control.facs}"
                label.setToolTip(tooltip)
                slider = _make_slider(0.0, 1.0, tooltip)
                slider.setObjectName(f"control:{control.name}")
                slider.valueChanged.connect(lambda value, k=index: self._on_slider(k, value))
                grid.addWidget(label, row, 0)
                grid.addWidget(slider, row, 1)
                self.sliders[control.name] = slider
            section.addWidget(grid_widget)
            section.expand(animate=False)
            layout.addWidget(section)
        layout.addStretch(1)
        self.setWidget(body)
        self.setWidgetResizable(True)
        inspection.controls_changed.connect(self._on_controls_changed)

    def _on_slider(self, index: int, value: float) -> None:
        # the model's echo back to this panel is a no-op: the slider already shows ``value``
        self.inspection.set_control(index, value)

    def _on_controls_changed(self, index: int | None) -> None:
        names = self.inspection.rig.expression_names
        indices = range(len(names)) if index is None else [index]
        for k in indices:
            slider = self.sliders[names[k]]
            value = float(self.inspection.state.controls[k])
            if abs(slider.value() - value) > 1e-9:
                slider.blockSignals(True)
                slider.setValue(value)
                slider.blockSignals(False)

    def close(self) -> bool:
        """Disconnect from the model, then close."""
        self.inspection.controls_changed.disconnect(self._on_controls_changed)
        return super().close()


class IdentityPanel(QScrollArea):
    """Sliders for the rig's identity modes (PCA coefficients in standard deviations, −3..3).

    The leading ``shown`` modes are open; the rest sit in a collapsed section.
    """

    def __init__(self, inspection: RigInspection, shown: int = 10, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inspection = inspection
        self.sliders: list[QLabeledDoubleSlider] = []
        body = QWidget()
        layout = QVBoxLayout(body)
        num_modes = inspection.rig.num_identity_modes
        sections = [(f"Identity modes 1–{min(shown, num_modes)}", range(min(shown, num_modes)))]
        if num_modes > shown:
            sections.append((f"Identity modes {shown + 1}–{num_modes}", range(shown, num_modes)))
        for title, modes in sections:
            section = QCollapsible(title)
            grid_widget = QWidget()
            grid = QGridLayout(grid_widget)
            grid.setContentsMargins(0, 0, 0, 0)
            for row, mode in enumerate(modes):
                slider = _make_slider(-3.0, 3.0, f"identity mode {mode + 1} (standard deviations)")
                slider.setObjectName(f"identity:{mode}")
                slider.valueChanged.connect(lambda value, m=mode: self._on_slider(m, value))
                grid.addWidget(QLabel(f"mode {mode + 1}"), row, 0)
                grid.addWidget(slider, row, 1)
                self.sliders.append(slider)
            section.addWidget(grid_widget)
            if modes.start == 0:
                section.expand(animate=False)
            layout.addWidget(section)
        layout.addStretch(1)
        self.setWidget(body)
        self.setWidgetResizable(True)
        inspection.identity_changed.connect(self._on_identity_changed)

    def _on_slider(self, mode: int, value: float) -> None:
        self.inspection.set_identity(mode, value)

    def _on_identity_changed(self, index: int | None) -> None:
        modes = range(len(self.sliders)) if index is None else [index]
        for m in modes:
            value = float(self.inspection.state.identity[m])
            if abs(self.sliders[m].value() - value) > 1e-9:
                self.sliders[m].blockSignals(True)
                self.sliders[m].setValue(value)
                self.sliders[m].blockSignals(False)

    def close(self) -> bool:
        """Disconnect from the model, then close."""
        self.inspection.identity_changed.disconnect(self._on_identity_changed)
        return super().close()
