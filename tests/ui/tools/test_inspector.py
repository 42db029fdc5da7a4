"""The rig inspector in a real Qt window with a GL canvas (needs Xvfb; pytest-xvfb starts it)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.qt, pytest.mark.gl]


@pytest.fixture
def inspector(qtbot, ict_rig):
    from studio.core.rig.definition import RigDefinition
    from studio.core.rig.inspection import RigInspection
    from studio.ui.tools.inspector import RigInspectorWindow

    window = RigInspectorWindow(RigInspection(ict_rig, RigDefinition.ict()))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.rig_view.draw_count > 0, timeout=20000)
    return window


def _canvas_pixels(window) -> np.ndarray:
    return np.asarray(window.rig_view.canvas.render(alpha=False))[..., :3].astype(np.int16)


def test_moving_a_slider_changes_the_displayed_mesh(qtbot, inspector, ict_rig):
    before_vertices = inspector.rig_view.face.vertices.copy()
    before_pixels = _canvas_pixels(inspector)
    draws = inspector.rig_view.draw_count
    slider = inspector.control_panel.sliders["jawOpen"]
    with qtbot.waitSignal(inspector.sigMeshUpdated, timeout=5000):
        slider.setValue(1.0)
    qtbot.waitUntil(lambda: inspector.rig_view.draw_count > draws, timeout=5000)
    after_vertices = inspector.rig_view.face.vertices
    k = ict_rig.control_index("jawOpen")
    assert inspector.inspection.state.controls[k] == pytest.approx(1.0)
    np.testing.assert_allclose(after_vertices - before_vertices, ict_rig.expression_deltas[k], atol=1e-4)
    changed = np.abs(_canvas_pixels(inspector) - before_pixels).max(axis=-1) > 10
    assert changed.mean() > 0.002, "the drawn image did not change where the jaw opened"


def test_reset_moves_sliders_back_and_restores_neutral(qtbot, inspector, ict_rig):
    inspector.control_panel.sliders["mouthSmile_L"].setValue(0.8)
    inspector.identity_panel.sliders[0].setValue(2.0)
    qtbot.waitUntil(lambda: np.abs(inspector.rig_view.face.vertices - ict_rig.neutral).max() > 0.1, timeout=5000)
    with qtbot.waitSignal(inspector.sigMeshUpdated, timeout=5000):
        inspector.action_reset_expression.trigger()
        inspector.action_reset_identity.trigger()
    assert inspector.control_panel.sliders["mouthSmile_L"].value() == 0.0
    assert inspector.identity_panel.sliders[0].value() == 0.0
    np.testing.assert_allclose(inspector.rig_view.face.vertices, ict_rig.neutral, atol=1e-5)


def test_sliders_are_grouped_by_region_and_cover_every_control(inspector, ict_rig):
    assert set(inspector.control_panel.sliders) == set(ict_rig.expression_names)
    assert len(inspector.identity_panel.sliders) == ict_rig.num_identity_modes


def test_render_reference_image_writes_a_face_png(qtbot, inspector, tmp_path):
    from PIL import Image

    inspector.control_panel.sliders["jawOpen"].setValue(0.6)
    path = inspector.render_reference_image(tmp_path / "reference.png")
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape == (512, 512, 3)
    centre = image[128:384, 128:384].astype(float)
    assert centre.std() > 20, "the reference render looks blank"


def _send_mouse(widget, kind, x, y, buttons):
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    button = Qt.MouseButton.LeftButton if kind != QMouseEvent.Type.MouseMove else Qt.MouseButton.NoButton
    event = QMouseEvent(kind, QPointF(x, y), widget.mapToGlobal(QPointF(x, y)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def test_dragging_orbits_the_view_and_home_resets_it(qtbot, inspector):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QMouseEvent

    view = inspector.rig_view
    camera = view.view.camera
    azimuth, before = camera.azimuth, _canvas_pixels(inspector)
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    _send_mouse(view, QMouseEvent.Type.MouseButtonPress, 300, 300, left)
    for x in range(320, 480, 20):
        qtbot.wait(15)  # vispy drops moves that come within 10 ms of the previous one
        _send_mouse(view, QMouseEvent.Type.MouseMove, x, 300, left)
    _send_mouse(view, QMouseEvent.Type.MouseButtonRelease, 460, 300, none)
    assert abs(camera.azimuth - azimuth) > 20, "a horizontal drag should orbit the camera"
    draws = view.draw_count
    qtbot.waitUntil(lambda: view.draw_count > draws, timeout=5000)
    assert np.abs(_canvas_pixels(inspector) - before).max(axis=-1).mean() > 5
    inspector.action_reset_view.trigger()
    assert camera.azimuth == pytest.approx(azimuth)
