"""A vispy 3D view of a rig in a Qt widget: orbit with the left button, zoom with the wheel.

The scene (a vispy ``SceneCanvas`` with a turntable camera) is drawn offscreen through EGL, the same path
as the reference renders (:mod:`studio.render.offscreen`), into a framebuffer object the size of the
widget, read back and painted as an image into this plain raster widget; mouse events are handed to the
canvas as its Qt backend would. Where EGL is not available the view falls back to vispy's Qt canvas.

Why not vispy's Qt canvas by default: it is a ``QOpenGLWidget``, and one of those makes Qt compose the
*whole* main window through OpenGL on every update (a window-sized textured pass and buffer swap besides
the 3D view's own pass, plus a full-canvas alpha clear by vispy). With Mesa's CPU rasterizer (llvmpipe,
machines without a GPU) that cost about 6 ms of a 27 ms slider-drag frame in the default 1280×800
inspector; reading the 914×730 view back and painting it costs about 1 ms, and the rest of the window
stays raster-painted, only its changed parts reaching the screen.
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections import deque
from collections.abc import Callable
from contextlib import nullcontext

import numpy as np
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QImage, QMouseEvent, QPainter, QWheelEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget
from vispy import scene
from vispy.util import keys

from studio.core.rig.rig import Rig
from studio.render.face_scene import DecimatedSkin, FaceScene
from studio.render.offscreen import (
    egl_context_scope,
    is_software_renderer,
    limit_blas_threads,
    load_egl_backend,
)

logger = logging.getLogger(__name__)

#: Background colour of the view (sRGB, opaque).
BACKGROUND = (0.16, 0.17, 0.19, 1.0)

_GL_UNSIGNED_BYTE = 0x1401
_GL_BGRA = 0x80E1  # bytes B, G, R, A: QImage.Format_RGB32 on little-endian machines
_GL_PACK_INVERT_MESA = 0x8758  # GL_MESA_pack_invert: glReadPixels returns rows top to bottom
_GL_DEPTH_COMPONENT24 = 0x81A6

_BUTTONS = {
    Qt.MouseButton.LeftButton: 1,
    Qt.MouseButton.RightButton: 2,
    Qt.MouseButton.MiddleButton: 3,
}
_MODIFIERS = (
    (Qt.KeyboardModifier.ShiftModifier, keys.SHIFT),
    (Qt.KeyboardModifier.ControlModifier, keys.CONTROL),
    (Qt.KeyboardModifier.AltModifier, keys.ALT),
    (Qt.KeyboardModifier.MetaModifier, keys.META),
)


class RigView(QWidget):
    """The rig's mesh in a vispy ``SceneCanvas`` with a turntable camera.

    Parameters
    ----------
    rig : Rig
        The rig shown.
    parent : QWidget, optional
        Parent widget.
    skin : DecimatedSkin, optional
        Draw this lighter mesh instead of the full one (a small live view; :func:`decimate_skin`).

    Attributes
    ----------
    canvas : vispy.scene.SceneCanvas
        The canvas (offscreen unless EGL is missing); ``canvas.render()`` draws it into an image array.
    view : vispy.scene.ViewBox
        The canvas's view, with a ``TurntableCamera``.
    face : FaceScene
        The rig's visuals.
    offscreen : bool
        Whether the scene is drawn offscreen and painted as an image (else it is vispy's Qt canvas).
    draw_count : int
        Number of times the scene was drawn for display.
    gl_renderer : str
        The OpenGL renderer (``GL_RENDERER``) once the view has drawn, e.g. ``llvmpipe (LLVM 15.0.6, 256 bits)``.

    Signals
    -------
    sigFrameDrawn(float)
        After each draw, with the frame rate over the last second of draws (frames per second).
    """

    sigFrameDrawn = Signal(float)

    def __init__(self, rig: Rig, parent: QWidget | None = None, skin: DecimatedSkin | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.WheelFocus)
        self.draw_count = 0
        self.gl_renderer = ""
        self._draw_times: deque[float] = deque(maxlen=120)
        self._closed = False
        self._stale = True  # the scene changed since the image was drawn
        self._size = self._physical_size()
        self._framebuffer = None
        self._pixels = self._rows = np.zeros((0, 0, 4), np.uint8)
        self._image: QImage | None = None
        self._read_pixels: Callable | None = None
        self._pixel_store: Callable | None = None
        self._pack_invert = False
        try:
            self._make_offscreen_canvas()
            self.offscreen = True
        except Exception as error:  # no EGL here (not Linux, no libEGL): vispy's Qt canvas
            logger.warning("offscreen 3D view unavailable (%s); using vispy's Qt canvas", error)
            self._make_qt_canvas()
            self.offscreen = False
        with egl_context_scope() if self.offscreen else nullcontext():
            self.view = self.canvas.central_widget.add_view()
            self.face = FaceScene(rig, parent=self.view.scene, skin=skin)
        if "face" in rig.group_names:
            self._center = rig.neutral[rig.group_vertices("face")].mean(axis=0)
        else:
            self._center = rig.neutral.mean(axis=0)
        self.view.camera = scene.TurntableCamera(fov=30.0, up="+y")
        self.draw_ms: deque[float] = deque(maxlen=100_000)  # milliseconds of each draw (scene + read-back)
        self.reset_view()
        self.canvas.events.draw.connect(self._on_draw)

    def _make_offscreen_canvas(self) -> None:
        load_egl_backend()
        from vispy import app

        self._app = app.Application("egl")
        with egl_context_scope():
            self.canvas = scene.SceneCanvas(
                app=self._app, size=self._size, show=False, bgcolor=BACKGROUND, keys=None, autoswap=False
            )
        # vispy asks its backend for redraws (camera moves, new vertices): repaint this widget instead
        self.canvas._backend._vispy_update = self._request_draw
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # every pixel comes from the image

    def _make_qt_canvas(self) -> None:
        self.canvas = scene.SceneCanvas(
            keys=None, app="pyside6", bgcolor=BACKGROUND, parent=self, autoswap=False
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas.native)

    # -- public API -------------------------------------------------------------------------------------

    def show_vertices(self, vertices: np.ndarray) -> None:
        """Display new positions, shape ``(V, 3)``, centimetres; the view redraws on the next paint."""
        self.face.set_vertices(vertices)
        self.canvas.update()

    def show_geometry(self, vertices: np.ndarray, geometry: tuple[np.ndarray, np.ndarray]) -> None:
        """Display new positions ``(V, 3)`` (cm) whose drawn geometry was made elsewhere by
        ``face.geometry(vertices)`` (another thread); the view redraws on the next paint."""
        self.face.set_geometry(vertices, *geometry)
        self.canvas.update()

    def show_vertex_colours(self, colours: np.ndarray | None) -> None:
        """Paint the mesh with per-vertex sRGB colours ``(V, 3)`` in [0, 1] (a heatmap), or ``None`` for
        its own materials."""
        self.face.set_vertex_colours(colours)
        self.canvas.update()

    def reset_view(self) -> None:
        """Front view of the face, framed as in the Simon-Says reference renders."""
        camera = self.view.camera
        camera.center = tuple(float(x) for x in self._center)
        camera.azimuth = 90.0  # with up=+y, vispy's turntable looks down −z (at the face) at azimuth 90
        camera.elevation = 0.0
        camera.distance = 75.0  # cm, with a 30 degree field of view the head fills the view
        camera.scale_factor = 40.0
        self.canvas.update()

    def frames_per_second(self) -> float:
        """Draw rate over the most recent second of draws (0 before two draws)."""
        now = time.perf_counter()
        recent = [t for t in self._draw_times if now - t <= 1.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-9)

    def close(self) -> bool:
        """Release the GL canvas, then close."""
        if not self._closed:
            self._closed = True
            self.canvas.events.draw.disconnect(self._on_draw)
            with egl_context_scope() if self.offscreen else nullcontext():
                self._framebuffer = None
                self.canvas.close()
        return super().close()

    # -- drawing ----------------------------------------------------------------------------------------

    def _on_draw(self, event: object) -> None:
        if self.draw_count == 0:  # the canvas's context is current while it draws
            from vispy.gloo import gl

            self.gl_renderer = str(gl.glGetParameter(gl.GL_RENDERER))
            if is_software_renderer(self.gl_renderer):
                limit_blas_threads(1)  # OpenBLAS's spinning workers would steal llvmpipe's cores
        self.draw_count += 1
        self._draw_times.append(time.perf_counter())
        self.sigFrameDrawn.emit(self.frames_per_second())

    def _request_draw(self) -> None:
        self._stale = True
        self.update()

    def _physical_size(self) -> tuple[int, int]:
        ratio = self.devicePixelRatioF()
        return max(1, round(self.width() * ratio)), max(1, round(self.height() * ratio))

    def paintEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        """Offscreen: draw the scene if it (or the size) changed, then paint the image."""
        if not self.offscreen or self._closed:
            return
        if self._stale or self._image is None or self._size != self._physical_size():
            self._stale = False
            self._draw()
        painter = QPainter(self)
        painter.drawImage(0, 0, self._image)
        painter.end()

    def _draw(self) -> None:
        """Draw the scene into the framebuffer and read it into the image (top row first)."""
        started = time.perf_counter()
        size = self._physical_size()
        width, height = size
        with egl_context_scope():
            canvas = self.canvas
            self._resize_canvas(size)
            canvas.set_current()
            if self._read_pixels is None:
                self._init_read_pixels()
            canvas.push_fbo(self._framebuffer, (0, 0), canvas.size)
            try:
                canvas.events.draw(region=None)  # clears and draws the scene, counts the frame
                if self._pack_invert:  # only for our reads: vispy's read_pixels flips rows itself
                    self._pixel_store(_GL_PACK_INVERT_MESA, 1)
                    self._read_pixels(
                        0, 0, width, height, _GL_BGRA, _GL_UNSIGNED_BYTE, self._rows.ctypes.data
                    )
                    self._pixel_store(_GL_PACK_INVERT_MESA, 0)
                else:
                    self._read_pixels(
                        0, 0, width, height, _GL_BGRA, _GL_UNSIGNED_BYTE, self._pixels.ctypes.data
                    )
                    np.copyto(self._rows, self._pixels[::-1])
            finally:
                canvas.pop_fbo()
                canvas.context.flush_commands()
        self.draw_ms.append(1e3 * (time.perf_counter() - started))

    def _resize_canvas(self, size: tuple[int, int]) -> None:
        """Match the canvas, its framebuffer and the image to ``size`` (physical pixels)."""
        from vispy import gloo

        width, height = size
        if size != self._size:
            self._size = size
            self.canvas.size = size
            self.canvas.events.resize(size=size, physical_size=size)
        if self._framebuffer is None or self._rows.shape[:2] != (height, width):
            self._framebuffer = gloo.FrameBuffer(
                color=gloo.RenderBuffer((height, width, 4)),
                depth=gloo.RenderBuffer((height, width), format=_GL_DEPTH_COMPONENT24),
            )
            self._pixels = np.empty((height, width, 4), np.uint8)  # as read: bottom row first
            self._rows = np.empty_like(self._pixels)  # top row first: the image's memory
            self._image = QImage(self._rows.data, width, height, 4 * width, QImage.Format.Format_RGB32)
            self._image.setDevicePixelRatio(self.devicePixelRatioF())

    def _init_read_pixels(self) -> None:
        """``glReadPixels`` straight into our buffers (vispy's goes through bytes); Mesa can invert rows."""
        from vispy.gloo import gl
        from vispy.gloo.gl.gl2 import _get_gl_func

        c_int, c_uint = ctypes.c_int, ctypes.c_uint
        self._read_pixels = _get_gl_func(
            "glReadPixels", None, (c_int, c_int, c_int, c_int, c_uint, c_uint, ctypes.c_void_p)
        )
        self._pixel_store = gl.glPixelStorei
        self._pack_invert = "GL_MESA_pack_invert" in str(gl.glGetParameter(gl.GL_EXTENSIONS)).split()

    # -- mouse → canvas (offscreen; vispy's Qt canvas takes its own events) -----------------------------

    def _mouse_kwargs(self, event: QMouseEvent | QWheelEvent) -> dict:
        ratio = self.devicePixelRatioF()
        position = event.position()
        return {
            "native": event,
            "pos": (position.x() * ratio, position.y() * ratio),
            "buttons": [number for button, number in _BUTTONS.items() if event.buttons() & button],
            "modifiers": tuple(key for flag, key in _MODIFIERS if event.modifiers() & flag),
        }

    def _deliver(self, event: QEvent, emit: Callable[[], object]) -> None:
        if not self.offscreen or self._closed:
            event.ignore()
            return
        with egl_context_scope():  # picking the visual under the mouse draws the scene
            vispy_event = emit()
        if vispy_event is None or not vispy_event.handled:
            event.ignore()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        """Hand the press to the canvas (starts an orbit or pan)."""
        kwargs = self._mouse_kwargs(event)
        button = _BUTTONS.get(event.button(), 0)
        self._deliver(event, lambda: self.canvas._backend._vispy_mouse_press(button=button, **kwargs))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        """Hand the release to the canvas."""
        kwargs = self._mouse_kwargs(event)
        button = _BUTTONS.get(event.button(), 0)
        self._deliver(event, lambda: self.canvas._backend._vispy_mouse_release(button=button, **kwargs))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        """Hand the move to the canvas (orbits or pans while a button is down)."""
        kwargs = self._mouse_kwargs(event)
        self._deliver(event, lambda: self.canvas._backend._vispy_mouse_move(**kwargs))

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt API)
        """Hand the wheel to the canvas (zooms)."""
        kwargs = self._mouse_kwargs(event)
        delta = (event.angleDelta().x() / 120.0, event.angleDelta().y() / 120.0)
        self._deliver(event, lambda: self.canvas.events.mouse_wheel(delta=delta, **kwargs))
