"""Offscreen rendering of a rig with vispy's EGL backend (no display needed): colour, normals, depth.

On a machine without a display Mesa's surfaceless EGL platform is used: ``EGL_PLATFORM=surfaceless`` is
set while vispy opens its EGL display unless the variable is already set (see :func:`load_egl_backend`).

Coexistence with Qt: the renderer creates its own ``vispy.app.Application("egl")`` instance instead of
selecting EGL as vispy's process-wide default backend, so a Qt application with vispy canvases can live
in the same process, in either order. Because libglvnd allows one current context per thread across GLX
and EGL, every EGL operation runs in :func:`egl_context_scope`, which sets a current GLX context (Qt's)
aside and restores it afterwards, and leaves no EGL context current.

The :class:`FaceScene` is placed under a node whose transform is the :class:`Camera`'s
world → pixel matrix, so :meth:`OffscreenRenderer.project` is exact for what is drawn.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.core.rig.rig import Rig
from studio.core.rig.state import RigState
from studio.render.face_scene import Camera, DecimatedSkin, FaceScene, Lighting

#: Background colour of colour renders (sRGB, mid grey, as a plain studio backdrop).
BACKGROUND = (0.42, 0.43, 0.45)


class _PerThreadCanvasStack:
    """vispy's stack of current canvases (``vispy.gloo.context.canvasses``), one per thread.

    vispy keeps the "current canvas" in one module-level list and gloo objects attach to whatever canvas is
    current when they draw. With the rig view drawing in the GUI thread while a synthetic performer renders
    in a worker thread, one thread's programs would attach to (and draw with) the other thread's context.
    GL contexts are per thread anyway, so the stack is made per thread too. Supports exactly the list
    operations ``vispy.gloo.context`` uses: iteration, ``len``, ``[-1]`` and ``[:] = ...``.
    """

    def __init__(self, initial: list) -> None:
        self._local = threading.local()
        self._local.stack = list(initial)  # the installing thread keeps the canvases it already has

    def _stack(self) -> list:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def __iter__(self):
        return iter(list(self._stack()))

    def __len__(self) -> int:
        return len(self._stack())

    def __getitem__(self, index):
        return self._stack()[index]

    def __setitem__(self, index, value) -> None:
        self._stack()[index] = value


def use_per_thread_vispy_canvases() -> None:
    """Make vispy's current-canvas tracking per thread (idempotent); see :class:`_PerThreadCanvasStack`."""
    from vispy.gloo import context

    if not isinstance(context.canvasses, _PerThreadCanvasStack):
        context.canvasses = _PerThreadCanvasStack(context.canvasses)


def load_egl_backend() -> None:
    """Import vispy's EGL backend on Mesa's surfaceless platform unless the caller chose one.

    vispy opens its EGL display when its EGL backend module is imported, and Mesa reads ``EGL_PLATFORM``
    then (once per process). The variable is set to ``surfaceless`` for that import only, when it is not
    already set, so that a Qt application started later in the process does not inherit it. vispy's
    current-canvas tracking is made per thread at the same time (:func:`use_per_thread_vispy_canvases`),
    since offscreen renderers may live in worker threads.
    """
    use_per_thread_vispy_canvases()
    if "vispy.app.backends._egl" in sys.modules:
        return
    chosen = "EGL_PLATFORM" in os.environ
    os.environ.setdefault("EGL_PLATFORM", "surfaceless")
    try:
        import vispy.app.backends._egl  # noqa: F401
    finally:
        if not chosen:
            os.environ.pop("EGL_PLATFORM", None)


def _loaded_library(name: str) -> ctypes.CDLL | None:
    """A shared library if this process has already loaded it, else ``None`` (never loads it)."""
    try:
        return ctypes.CDLL(name, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    except OSError:
        return None


#: Substrings of ``GL_RENDERER`` that name Mesa's CPU rasterizers.
SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast")


def is_software_renderer(gl_renderer: str) -> bool:
    """Whether a ``GL_RENDERER`` string names a CPU rasterizer (Mesa llvmpipe, softpipe, swrast)."""
    return any(name in gl_renderer.lower() for name in SOFTWARE_RENDERERS)


def limit_blas_threads(max_threads: int = 1) -> int:
    """Cap the thread pools of the BLAS libraries this process has loaded (numpy's, scipy's).

    Meant for processes that draw with a CPU rasterizer: after each call OpenBLAS's idle workers spin for
    a while before they sleep, so a small per-frame product (the rig's blendshape evaluation) keeps them
    spinning on the cores that llvmpipe's threads rasterize on. On a two-core machine that cost the rig
    inspector a third of its frame rate; single-threaded, the evaluation takes 0.7 ms instead of 0.4.
    Process-wide and lasting (like ``OPENBLAS_NUM_THREADS``); torch's own thread pool is not affected.

    Parameters
    ----------
    max_threads : int
        Threads each BLAS pool may use from now on.

    Returns
    -------
    int
        Number of BLAS libraries capped.
    """
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(limits=int(max_threads), user_api="blas")
    return sum(1 for info in threadpool_info() if info.get("user_api") == "blas")


@contextmanager
def egl_context_scope() -> Iterator[None]:
    """Run EGL work while no GLX context is current on this thread, and leave no EGL context current.

    With libglvnd a thread can have one current context across GLX and EGL: ``eglMakeCurrent`` fails
    while, say, a Qt window's GLX context is current, and Qt then fails to make its context current while
    an EGL context is. So a GLX context found current is released before the EGL work and made current
    again afterwards, and the EGL context is released at the end.
    """
    glx = _loaded_library("libGLX.so.0") or _loaded_library("libGL.so.1")
    saved = None
    if glx is not None and hasattr(glx, "glXGetCurrentContext"):
        glx.glXGetCurrentContext.restype = ctypes.c_void_p
        glx.glXGetCurrentDisplay.restype = ctypes.c_void_p
        glx.glXGetCurrentDrawable.restype = ctypes.c_ulong
        glx.glXGetCurrentReadDrawable.restype = ctypes.c_ulong
        glx.glXMakeContextCurrent.argtypes = [
            ctypes.c_void_p,
            ctypes.c_ulong,
            ctypes.c_ulong,
            ctypes.c_void_p,
        ]
        context = glx.glXGetCurrentContext()
        if context:
            saved = (
                glx.glXGetCurrentDisplay(),
                glx.glXGetCurrentDrawable(),
                glx.glXGetCurrentReadDrawable(),
                context,
            )
            glx.glXMakeContextCurrent(saved[0], 0, 0, None)
    try:
        yield
    finally:
        from vispy.app.backends import _egl
        from vispy.ext import egl

        egl.eglMakeCurrent(_egl._EGL_DISPLAY, egl.EGL_NO_SURFACE, egl.EGL_NO_SURFACE, egl.EGL_NO_CONTEXT)
        if saved is not None:
            glx.glXMakeContextCurrent(*saved)


@dataclass(frozen=True)
class RenderMaps:
    """A colour render with its geometry maps, all from the same camera.

    Attributes
    ----------
    rgb : np.ndarray
        Shape ``(H, W, 3)``, uint8, sRGB.
    normal : np.ndarray
        Camera-space unit normals (x right, y up, z towards the camera), shape ``(H, W, 3)``, float32;
        ``(0, 0, 0)`` on background pixels.
    depth : np.ndarray
        Z-depth: distance from the camera centre along the viewing axis, centimetres, shape ``(H, W)``,
        float32; ``inf`` on background pixels.
    """

    rgb: np.ndarray
    normal: np.ndarray
    depth: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """Pixels covered by the mesh, shape ``(H, W)``, bool."""
        return np.isfinite(self.depth)


@dataclass
class _Targets:
    color: object
    maps: object = field(default=None)


class OffscreenRenderer:
    """Renders rig states to images without a window (vispy + EGL, Mesa llvmpipe on CPU-only machines).

    Parameters
    ----------
    rig : Rig
        The rig to draw.
    size : tuple of int
        Image ``(width, height)`` in pixels.
    camera : Camera
        Camera in rig space; the default frames the face for a 512×512 portrait.
    lighting : Lighting
        Light rig (see :class:`studio.render.face_scene.Lighting`).
    background : tuple of float
        Background sRGB colour in [0, 1].
    skin : DecimatedSkin, optional
        Draw this lighter mesh (:func:`~studio.render.face_scene.decimate_skin`) instead of the full one.

    Notes
    -----
    Use as a context manager or call :meth:`close`. All calls must come from the thread that created it.
    """

    def __init__(
        self,
        rig: Rig,
        size: tuple[int, int] = (512, 512),
        camera: Camera | None = None,
        lighting: Lighting | None = None,
        background: tuple[float, float, float] = BACKGROUND,
        skin: DecimatedSkin | None = None,
    ) -> None:
        load_egl_backend()
        from vispy import app, gloo, scene
        from vispy.visuals.transforms import MatrixTransform

        self.rig = rig
        self.size = (int(size[0]), int(size[1]))
        self.camera = camera if camera is not None else Camera()
        self.background = tuple(float(c) for c in background)
        self._gloo = gloo
        self._app = app.Application("egl")
        width, height = self.size
        with egl_context_scope():
            self._canvas = scene.SceneCanvas(
                app=self._app, size=self.size, show=False, bgcolor=self.background
            )
            self._camera_node = scene.Node(parent=self._canvas.scene)
            self._camera_node.transform = MatrixTransform()
            self.face = FaceScene(rig, parent=self._camera_node, skin=skin)
            self.set_camera(self.camera)
            self.set_lighting(lighting if lighting is not None else Lighting())
            self._canvas.set_current()
            self._targets = _Targets(
                color=gloo.FrameBuffer(
                    color=gloo.RenderBuffer((height, width, 4)),
                    depth=gloo.RenderBuffer((height, width), "depth"),
                )
            )
        self._closed = False
        if is_software_renderer(self.gl_renderer):
            limit_blas_threads(1)  # OpenBLAS's spinning workers would steal llvmpipe's cores

    # -- configuration ----------------------------------------------------------------------------------

    def set_camera(self, camera: Camera) -> None:
        """Use another camera (rig space, see :class:`Camera`)."""
        self.camera = camera
        # vispy's MatrixTransform maps row vectors: p' = p @ M
        self._camera_node.transform.matrix = self.camera.world_to_pixel(self.size).T

    def set_lighting(self, lighting: Lighting) -> None:
        """Use another light rig."""
        self.lighting = lighting
        self.face.set_lighting(lighting)

    @property
    def gl_renderer(self) -> str:
        """The OpenGL renderer string (``GL_RENDERER``), e.g. ``llvmpipe (LLVM 15.0.6, 256 bits)``."""
        from vispy.gloo import gl

        with egl_context_scope():
            self._canvas.set_current()
            return str(gl.glGetParameter(gl.GL_RENDERER))

    # -- rendering --------------------------------------------------------------------------------------

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates of rig-space points ``(N, 3)`` (cm) in this renderer's images → ``(N, 2)``.

        See :meth:`Camera.project` for the pixel convention (x right, y down, pixel centres at +0.5).
        """
        return self.camera.project(points, self.size)

    def render(self, state_or_vertices: RigState | np.ndarray) -> np.ndarray:
        """Render a rig state or mesh positions to an sRGB image.

        Parameters
        ----------
        state_or_vertices : RigState or np.ndarray
            A rig state (posed with :meth:`RigState.vertices`) or world positions, shape ``(V, 3)``, cm.

        Returns
        -------
        np.ndarray
            Shape ``(H, W, 3)``, uint8, RGB; row 0 is the top of the image.
        """
        self._set_pose(state_or_vertices)
        with egl_context_scope():
            return self._draw(self._targets.color, alpha=False, out_type="unsigned_byte")

    def render_maps(self, state_or_vertices: RigState | np.ndarray) -> RenderMaps:
        """Render colour plus camera-space normal and depth maps (see :class:`RenderMaps`).

        The geometry maps come from a second pass of the same mesh into a float framebuffer: each
        fragment writes its camera-space unit normal (rgb) and z-depth in cm (alpha).
        """
        self._set_pose(state_or_vertices)
        with egl_context_scope():
            rgb = self._draw(self._targets.color, alpha=False, out_type="unsigned_byte")
            if self._targets.maps is None:
                gloo = self._gloo
                width, height = self.size
                texture = gloo.Texture2D(shape=(height, width, 4), format="rgba", internalformat="rgba32f")
                depth_buffer = gloo.RenderBuffer((height, width), "depth")
                self._targets.maps = gloo.FrameBuffer(color=texture, depth=depth_buffer)
            self.face.set_geometry_output(self.camera.world_to_camera())
            try:
                maps = self._draw(self._targets.maps, alpha=True, out_type="float", background=(0, 0, 0, 0))
            finally:
                self.face.set_geometry_output(None)
        depth = maps[..., 3].copy()
        covered = depth > 0
        depth[~covered] = np.inf
        normal = np.where(covered[..., None], maps[..., :3], 0.0).astype(np.float32)
        return RenderMaps(rgb=rgb, normal=normal, depth=depth.astype(np.float32))

    def _set_pose(self, state_or_vertices: RigState | np.ndarray) -> None:
        if self._closed:
            raise RuntimeError("OffscreenRenderer is closed")
        if isinstance(state_or_vertices, RigState):
            vertices = state_or_vertices.vertices(self.rig)
        else:
            vertices = np.asarray(state_or_vertices)
        self.face.set_vertices(vertices)

    def _draw(
        self, target: object, alpha: bool, out_type: str, background: tuple | None = None
    ) -> np.ndarray:
        canvas = self._canvas
        canvas.set_current()
        canvas.push_fbo(target, (0, 0), self.size)
        try:
            canvas.context.clear(color=background if background is not None else self.background, depth=True)
            canvas.draw_visual(canvas.scene)
            pixels = self._gloo.read_pixels((0, 0, *self.size), alpha=alpha, out_type=out_type)
        finally:
            canvas.pop_fbo()
            canvas.context.flush_commands()
        return np.ascontiguousarray(pixels)

    # -- lifetime ---------------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the GL context and canvas (idempotent)."""
        if not self._closed:
            self._closed = True
            with egl_context_scope():
                self._canvas.close()

    def __enter__(self) -> OffscreenRenderer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def save_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an ``(H, W, 3)`` or ``(H, W, 4)`` uint8 image as PNG; returns the path."""
    from vispy.io import write_png

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(str(path), np.ascontiguousarray(image, np.uint8))
    return path
