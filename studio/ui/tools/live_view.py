"""The live view: the camera (or a video, or the synthetic performer) with its landmarks, and the rig following.

Left, the frame as a pyqtgraph ``ImageItem`` (a mirror for cameras: flipped left-right by the view, not by
copying pixels) with MediaPipe's 478 landmarks as a scatter overlay, the head-pose anchors (stable
landmarks) in another colour. Right, a :class:`~studio.ui.widgets.rig_view.RigView` of the rig driven by the
tracked controls. Below, the neutral-capture prompt and a status line with the frame rates.

"Stream" sends every shown tracked frame to a receiver as ARKit blendshape values over UDP — VMC (VSeeFace, Warudo,
VNyan, …; :mod:`studio.core.io.vmc`), Live Link Face packets (Unreal; :mod:`studio.core.io.livelink_udp`) or
iFacialMocap text frames (VTuber apps; :mod:`studio.core.io.ifacialmocap`, answering their handshake) — from the
GUI thread: a UDP send never waits for the receiver, and building a frame costs well under a millisecond.

Threads (a pipeline; each hand-off keeps only the newest item, so a slow stage drops frames instead of
lagging): the source is read in a thread of its own, MediaPipe runs in another, and a superqt generator
worker runs :func:`studio.core.tracking.live.live_tracking_job` (head-pose removal, solve, gaze, filter) and
poses the rig view's mesh (positions and normals of the view's decimated mesh,
:class:`~studio.render.face_scene.DecimatedSkin`). Results arrive in the GUI thread through ``yielded``; the
GUI keeps only the latest one and shows it at most twice per display refresh, so the GUI thread only uploads
and draws, and the rig is drawn no more often than the screen can show it. A synthetic performer is rendered
(EGL, offscreen) in the reader thread, which opens and closes its renderer. When the machine cannot keep up,
the status line says how many frames a second are being dropped.
"""

from __future__ import annotations

import sys
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import StudioError
from studio.core.expression.model_files import model_path
from studio.core.expression.temporal import CausalDenoiserStream, TemporalModels
from studio.core.io import udp
from studio.core.io.ifacialmocap import DEFAULT_PORT as IFACIALMOCAP_PORT
from studio.core.io.ifacialmocap import IFacialMocapSender
from studio.core.io.livelink_udp import DEFAULT_LIVELINK_PORT, LiveLinkSender
from studio.core.io.vmc import DEFAULT_VMC_HOST, DEFAULT_VMC_PORT, VmcSender
from studio.core.jobs import JobCancelled, preferred_device
from studio.core.retarget.stream import (
    StreamMapping,
    arkit_stream_mapping,
    ifacialmocap_angles,
    livelink_angles,
    target_stream_mapping,
)
from studio.core.retarget.targets import RetargetTarget, available_targets
from studio.core.rig.definition import RigDefinition
from studio.core.rig.response import ResponseSet
from studio.core.rig.rig import Rig
from studio.core.session.folder import Session, SessionError
from studio.core.session.targets import open_target
from studio.core.tracking.frame_sources import VIDEO_EXTENSIONS, FrameSource, list_cameras
from studio.core.tracking.inversion.tracker import NetworkTracker, network_path
from studio.core.tracking.live import (
    DEFAULT_NEUTRAL_FRAMES,
    STAGES,
    TRACKING_STAGES,
    LiveResult,
    LiveSummary,
    LiveTracker,
    live_tracking_job,
)
from studio.core.tracking.reconstruction import GeometryReconstructor
from studio.core.tracking.rig_bundle import RigBundle
from studio.core.tracking.tracker import Tracker
from studio.render.face_scene import LIVE_SKIN_REDUCTION, DecimatedSkin, decimate_skin
from studio.render.offscreen import is_software_renderer
from studio.render.sources import open_source
from studio.ui.widgets.response_panel import ResponsePanel
from studio.ui.widgets.rig_view import RigView
from studio.ui.workers import job_worker, one_line

pg.setConfigOptions(imageAxisOrder="row-major")

#: Size of the rig view in pixels (its draw cost on a CPU rasterizer grows with its area).
RIG_VIEW_SIZE = (400, 480)
#: Most rig draws per second when a CPU rasterizer (llvmpipe) draws: there the rig view costs more than the
#: rest of a frame together, and drawing it at every frame of a 60 fps camera leaves tracking no time.
SOFTWARE_RIG_FPS = 30.0
#: Spec of the synthetic performer in the source chooser.
SYNTHETIC_SPEC = "synthetic:0"
#: Length of the synthetic performance the live view plays, seconds.
SYNTHETIC_SECONDS = 600.0
#: How often the frame-rate readout is refreshed, milliseconds.
READOUT_INTERVAL_MS = 250
#: Landmark colours: all landmarks, and the stable ones that anchor head-pose removal.
LANDMARK_COLOR = QColor(80, 220, 255)
STABLE_LANDMARK_COLOR = QColor(255, 170, 40)
#: The VMC target the live view offers first.
DEFAULT_VMC_TARGET = f"{DEFAULT_VMC_HOST}:{DEFAULT_VMC_PORT}"
#: What "Stream" can speak: ``(label, protocol)``.
STREAM_PROTOCOLS = (("VMC", "vmc"), ("Live Link", "livelink"), ("iFacialMocap", "ifacialmocap"))
STREAM_DEFAULT_PORTS = {"vmc": DEFAULT_VMC_PORT, "livelink": DEFAULT_LIVELINK_PORT, "ifacialmocap": IFACIALMOCAP_PORT}


def _live_head(sender, arkit: np.ndarray) -> np.ndarray | None:
    """The head rows a live frame carries for ``sender``: the live view has no head pose, so the head stays at
    rest; the eyes come from the gaze shapes (Live Link: 9 angles, radians; iFacialMocap: 12 numbers)."""
    if isinstance(sender, VmcSender) or len(arkit) != 52:
        return None
    angles = livelink_angles if isinstance(sender, LiveLinkSender) else ifacialmocap_angles
    return angles(None, arkit)[0]


_DECIMATED: dict[int, tuple[Rig, DecimatedSkin]] = {}


def _decimated_skin(rig: Rig) -> DecimatedSkin:
    """The live view's lighter mesh of ``rig`` (built once per rig and process, about 1 s for ICT)."""
    cached = _DECIMATED.get(id(rig))
    if cached is None or cached[0] is not rig:
        cached = _DECIMATED[id(rig)] = (rig, decimate_skin(rig, LIVE_SKIN_REDUCTION))
    return cached[1]


# ----------------------------------------------------------------------------------------------------------
# One run of the tracking worker
# ----------------------------------------------------------------------------------------------------------


class _LiveRun:
    """One Start…Stop: opens the source and MediaPipe in the worker thread, runs the job, cleans up there.

    Cleanup happens in the worker thread either way: when the job ends (source over, cancelled, failed) or,
    if the worker was told to quit while the job waited at a ``yield``, from the worker's ``aborted``
    signal (emitted in the worker thread; superqt then never resumes the generator).
    """

    def __init__(
        self,
        rig: Rig,
        spec: str | FrameSource,
        tracker_cache: dict,
        neutral_frames: int,
        realtime: bool,
        tracker_kind: str = "landmarks",
        pose=None,
        filter_kind: str = "one-euro",
    ) -> None:
        self.rig = rig
        self.filter_kind = filter_kind
        self.pose = pose
        self.tracker_kind = tracker_kind
        self.spec = spec
        self.tracker_cache = tracker_cache
        self.neutral_frames = neutral_frames
        self.realtime = realtime
        self.cancel = threading.Event()
        self.done = threading.Event()
        self.live_tracker = None
        self.summary: LiveSummary | None = None
        self._job = None
        self._source: FrameSource | None = None
        self._reconstructor = None
        self._lock = threading.Lock()

    def work(self):
        """The worker's generator: yields :class:`LiveResult` objects (``posed`` by :attr:`pose`), returns a
        :class:`LiveSummary`."""
        try:
            tracker = self.tracker_cache.get("tracker")
            if tracker is None:
                bundle = RigBundle.load()
                tracker = self.tracker_cache["tracker"] = Tracker(self.rig, bundle.embedding, gaze=bundle.gaze)
            network = None
            if self.tracker_kind == "network":
                network = self.tracker_cache.get("network")
                if network is None:
                    network = self.tracker_cache["network"] = NetworkTracker.load(
                        network_path(), self.rig.expression_names, device=preferred_device())
            live_filter = None
            if self.filter_kind == "learned":
                models = self.tracker_cache.get("temporal")
                if models is None:
                    models = self.tracker_cache["temporal"] = TemporalModels.load(None, self.rig.expression_names)[0]
                live_filter = CausalDenoiserStream(models)
            self.live_tracker = LiveTracker(tracker, self.neutral_frames, one_euro=live_filter, network=network)
            # a synthetic performer renders the view's lighter mesh: it shares the cores with tracking
            self._source = self.spec if isinstance(self.spec, FrameSource) else open_source(
                self.spec, self.rig, SYNTHETIC_SECONDS, skin=_decimated_skin(self.rig)
            )
            self._reconstructor = GeometryReconstructor(
                running_mode="video", crop_size=None if network is None else network.size)
            self._job = live_tracking_job(
                self._source, self.live_tracker, self._reconstructor, self.cancel, realtime=self.realtime,
                pose=self.pose,
            )
            while True:
                try:
                    result = next(self._job)
                except StopIteration as end:
                    self.summary = end.value
                    return self.summary
                yield result
        except JobCancelled as cancelled:
            self.summary = cancelled.partial
            return self.summary
        finally:
            self.finish()

    def finish(self) -> None:
        """Close the job, MediaPipe and the source (idempotent); sets :attr:`done`."""
        with self._lock:
            try:
                if self._job is not None and not self._job.gi_running:
                    self._job.close()  # stops and joins the frame reader
                if self._reconstructor is not None:
                    self._reconstructor.close()
                if self._source is not None:
                    self._source.close()
            finally:
                self.done.set()


@dataclass
class _Rate:
    """Events per second over the last second."""

    times: deque

    @classmethod
    def new(cls) -> _Rate:
        return cls(deque(maxlen=240))

    def tick(self, now: float) -> None:
        self.times.append(now)

    def per_second(self, now: float) -> float:
        recent = [t for t in self.times if now - t <= 1.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-9)


class _TimedGraphicsView(pg.GraphicsView):
    """A pyqtgraph view that adds the time of each paint to its owner's GUI-time counter."""

    def __init__(self, on_painted, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=(20, 20, 22))
        self._on_painted = on_painted

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """Paint, then report how long it took."""
        start = time.perf_counter()
        super().paintEvent(event)
        self._on_painted(time.perf_counter() - start)


class _TimedRigView(RigView):
    """The rig view, reporting the time of each paint (the 3D draw happens inside it)."""

    def __init__(self, rig: Rig, on_painted, parent: QWidget | None = None, skin: DecimatedSkin | None = None) -> None:
        super().__init__(rig, parent, skin=skin)
        self._on_painted = on_painted

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """Paint (drawing the scene if it changed), then report how long it took."""
        start = time.perf_counter()
        super().paintEvent(event)
        self._on_painted(time.perf_counter() - start)


# ----------------------------------------------------------------------------------------------------------
# The window
# ----------------------------------------------------------------------------------------------------------


class LiveTrackingWindow(QMainWindow):
    """Live tracking: source image with landmarks, the rig following the face, frame rates.

    Parameters
    ----------
    rig : Rig
        The rig that is tracked (θ_T) and shown.
    source : str or FrameSource, optional
        What Start tracks: ``camera:N``, a video path, ``synthetic[:seed]`` or a source object. By default
        camera 0 if :func:`list_cameras` finds one, else the synthetic performer (with a notice).
    neutral_frames : int
        Frames with a face collected as the performer's neutral.
    realtime : bool
        Play recorded sources at their frame rate, dropping frames tracking cannot keep up with (``True``),
        or track every frame as fast as possible (``False``; for tests and benchmarks).
    cameras : list of int, optional
        Camera numbers to offer; by default :func:`list_cameras` is asked.
    rig_view_size : tuple of int
        Width and height of the rig view in pixels (its draw time on a CPU rasterizer grows with its area).
    parent : QWidget, optional
        Parent widget.

    Attributes
    ----------
    image_item : pyqtgraph.ImageItem
        The frame.
    landmark_item, stable_item : pyqtgraph.ScatterPlotItem
        The landmarks that are not stable, and the stable ones (head-pose anchors).
    rig_view : RigView
        The rig in 3D.
    frames_displayed : int
        Results shown since the window opened.
    results_dropped : int
        Results that arrived while a newer one was already waiting to be shown (never shown).
    last_result : LiveResult or None
        The result shown last.
    vmc_box : QCheckBox
        "Stream": send every shown tracked frame to :attr:`vmc_target_edit`'s receiver, in the protocol of
        :attr:`stream_protocol_box`.
    vmc_target_edit : QLineEdit
        The VMC receiver, ``host:port`` (default :data:`DEFAULT_VMC_TARGET`).

    Signals
    -------
    sigResultShown(object)
        After a :class:`LiveResult` was handed to the views.
    sigStopped(str)
        When a run ended, with a one-line reason (``"stopped"``, ``"end of video"`` or the error).
    """

    sigResultShown = Signal(object)
    sigStopped = Signal(str)

    def __init__(
        self,
        rig: Rig,
        source: str | FrameSource | None = None,
        neutral_frames: int = DEFAULT_NEUTRAL_FRAMES,
        realtime: bool = True,
        cameras: list[int] | None = None,
        rig_view_size: tuple[int, int] = RIG_VIEW_SIZE,
        parent: QWidget | None = None,
        session: Session | None = None,
    ) -> None:
        super().__init__(parent)
        self._rig_view_size = (int(rig_view_size[0]), int(rig_view_size[1]))
        self.rig = rig
        self.session = session
        self.response = ResponseSet()
        response_error = None
        if session is not None:
            try:
                self.response = session.response(rig.expression_names)
            except SessionError as error:
                response_error = str(error)
        self.neutral_frames = int(neutral_frames)
        self.realtime = bool(realtime)
        self.setWindowTitle(f"Simon Says Studio — Live tracking ({rig.name})")
        self._tracker_cache: dict = {}
        self._run: _LiveRun | None = None
        self._worker = None
        self._closing = False
        self._pending: LiveResult | None = None
        self._shown_at = 0.0  # perf_counter() of the last show
        self._run_error: str | None = None
        self.frames_displayed = 0
        self.results_dropped = 0
        self.last_result: LiveResult | None = None
        self._display_rate = _Rate.new()
        screen = QGuiApplication.primaryScreen()
        refresh_hz = screen.refreshRate() if screen is not None else 0.0
        self._refresh_interval_s = 1.0 / (refresh_hz if refresh_hz >= 30.0 else 60.0)
        # results are shown at most twice per refresh: a camera at the refresh rate delivers with a few ms of
        # jitter, and pacing at the refresh itself would replace (drop) every result that came early
        self._display_interval_s = 0.5 * self._refresh_interval_s
        self._drops = deque(maxlen=8)  # (time, frames dropped so far) at the last readouts
        self._display_timer = QTimer(self)
        self._display_timer.setSingleShot(True)
        self._display_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._display_timer.timeout.connect(self._show_pending)
        self._stage_ms = {name: deque(maxlen=30) for name in (*STAGES, "draw")}
        self._gui_seconds = 0.0  # GUI time since the last shown result: set data + paints
        self._stable = np.zeros(0, int)
        self._other = np.zeros(0, int)
        self._shown_prompt = ""
        self._vmc_sender: VmcSender | None = None
        self._vmc_frames_sent = 0
        self._stream_mapping: StreamMapping | None = None
        self._default_stream_mapping: StreamMapping | None = None

        self._build_views()
        self._build_controls(cameras)

        self._readout_timer = QTimer(self)
        self._readout_timer.setInterval(READOUT_INTERVAL_MS)
        self._readout_timer.timeout.connect(self._update_readout)
        self._readout_timer.start()
        if source is not None:
            self.set_source(source)
        elif not self.cameras:
            self.statusBar().showMessage(
                "No camera found: tracking the synthetic performer (or choose a video under Source)."
            )
        self._update_buttons()
        self.resize(1120, 620)
        if response_error is not None:
            self.statusBar().showMessage(f"Shape response not loaded: {response_error}")

    # -- construction -----------------------------------------------------------------------------------

    def _build_views(self) -> None:
        self.image_view = _TimedGraphicsView(self._add_gui_time)
        self.image_view.setMinimumSize(320, 240)
        self.image_view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.view_box = pg.ViewBox(lockAspect=True, invertY=True, enableMouse=False, enableMenu=False)
        self.view_box.setDefaultPadding(0.0)
        self.image_view.setCentralItem(self.view_box)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view_box.addItem(self.image_item)
        self.landmark_item = pg.ScatterPlotItem(
            size=3, pen=None, brush=pg.mkBrush(LANDMARK_COLOR), pxMode=True, antialias=False
        )
        self.stable_item = pg.ScatterPlotItem(
            size=4, pen=None, brush=pg.mkBrush(STABLE_LANDMARK_COLOR), pxMode=True, antialias=False
        )
        self.view_box.addItem(self.landmark_item)
        self.view_box.addItem(self.stable_item)
        self._image_size: tuple[int, int] | None = None

        # a lighter mesh: in a view this small, most of the full head's triangles cover less than a pixel
        self.rig_view = _TimedRigView(self.rig, self._add_gui_time, skin=_decimated_skin(self.rig))
        self.rig_view.setFixedSize(*self._rig_view_size)

    def _build_controls(self, cameras: list[int] | None) -> None:
        self.source_box = QComboBox()
        self.source_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.cameras = list_cameras() if cameras is None else list(cameras)
        for device in self.cameras:
            self.source_box.addItem(f"Camera {device}", f"camera:{device}")
        self.source_box.addItem("Synthetic performer", SYNTHETIC_SPEC)
        self.source_box.addItem("Video file…", None)
        self.source_box.activated.connect(self._source_chosen)
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(lambda: self.start())
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.tracker_box = QComboBox()
        self.tracker_box.addItem("Landmarks", "landmarks")
        self.tracker_box.addItem("Network", "network")
        has_network = network_path().is_file()
        self.tracker_box.model().item(1).setEnabled(has_network)
        self.tracker_box.setToolTip(
            "Landmarks: MediaPipe's landmarks solved against the rig (needs a neutral). Network: the learned "
            "tracker on the face crop" + ("" if has_network else " — not installed (models/inversion/two_branch.pt)"))
        self.tracker_box.activated.connect(self._tracker_chosen)
        self.filter_box = QComboBox()
        self.filter_box.addItem("One-Euro", "one-euro")
        self.filter_box.addItem("Learned (causal)", "learned")
        self.filter_box.model().item(1).setEnabled(model_path("temporal").is_file())
        self.filter_box.setToolTip("the temporal filter of the live controls: One-Euro, or the learned causal "
                                   "model (CNN + GRU, python main.py train temporal); a running view restarts")
        self.filter_box.activated.connect(self._tracker_chosen)
        self.recapture_button = QPushButton("Recapture neutral")
        self.recapture_button.clicked.connect(self.recapture_neutral)
        self.response_button = QPushButton("Shape response…")
        self.response_button.setCheckable(True)
        self.response_button.setToolTip("edit each shape's multiplier, offset, clamp and curve, previewed on the rig "
                                        "as the performer moves" + ("; saved in the session" if self.session else ""))
        self.response_button.toggled.connect(self._response_toggled)
        self.vmc_box = QCheckBox("Stream")
        self.vmc_box.setToolTip(
            "Send the tracked face to a VMC receiver (VSeeFace, Warudo, VNyan, …) as ARKit blendshapes"
        )
        self.vmc_box.toggled.connect(self._vmc_toggled)
        self.stream_protocol_box = QComboBox()
        for label, protocol in STREAM_PROTOCOLS:
            self.stream_protocol_box.addItem(label, protocol)
        self.stream_protocol_box.setToolTip("VMC (VSeeFace, Warudo, VNyan, …), Live Link Face (Unreal, port 11111) or "
                                            "iFacialMocap (VTuber apps, port 49983; also answers their handshake)")
        self.stream_protocol_box.activated.connect(lambda _: self.set_stream_protocol(self.stream_protocol_box.currentData()))
        self.vmc_target_edit = QLineEdit(DEFAULT_VMC_TARGET)
        self.vmc_target_edit.setPlaceholderText("host:port")
        self.vmc_target_edit.setToolTip("The VMC receiver: host:port (receivers listen on port 39539)")
        self.vmc_target_edit.setMaximumWidth(170)
        self.vmc_target_edit.editingFinished.connect(self._vmc_target_edited)
        self.stream_as_box = QComboBox()
        self.stream_as_box.addItem("as tracked", None)
        for info in available_targets():
            self.stream_as_box.addItem(f"retargeted: {info.label}", info.name)
        self.stream_as_box.setToolTip("stream the tracked controls as they are, or retargeted to a target first")
        self.stream_as_box.currentIndexChanged.connect(lambda _: self.set_stream_target(self.stream_as_box.currentData()))
        self._target_worker = None

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Source"))
        bar.addWidget(self.source_box)
        bar.addWidget(QLabel("Tracker"))
        bar.addWidget(self.tracker_box)
        bar.addWidget(self.filter_box)
        bar.addWidget(self.start_button)
        bar.addWidget(self.stop_button)
        bar.addWidget(self.recapture_button)
        bar.addWidget(self.response_button)
        bar.addStretch(1)
        bar.addWidget(self.vmc_box)
        bar.addWidget(self.stream_protocol_box)
        bar.addWidget(self.vmc_target_edit)
        bar.addWidget(self.stream_as_box)
        views = QHBoxLayout()
        views.addWidget(self.image_view, 1)
        views.addWidget(self.rig_view, 0, Qt.AlignmentFlag.AlignTop)
        self.prompt_label = QLabel("Press Start to track.")
        self.prompt_label.setStyleSheet("font-size: 14pt;")
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(bar)
        layout.addLayout(views, 1)
        layout.addWidget(self.prompt_label)
        self.setCentralWidget(central)
        self._build_response_dock()
        self.fps_label = QLabel("source – fps · tracking – ms · display – fps")
        self.statusBar().addPermanentWidget(self.fps_label)
        if not self.cameras:
            self.source_box.setCurrentIndex(self.source_box.findData(SYNTHETIC_SPEC))

    def _build_response_dock(self) -> None:
        self.response_panel = ResponsePanel(self.rig.expression_names, self.response)
        self.response_panel.sigChanged.connect(self._response_changed)
        self.rezero_button = QPushButton("Re-zero neutral")
        self.rezero_button.setToolTip("the face shown now becomes every shape's zero (each offset takes away its "
                                      "current value); undo with Undo")
        self.rezero_button.clicked.connect(self.rezero_neutral)
        self.save_response_button = QPushButton("Save to session")
        self.save_response_button.setEnabled(self.session is not None)
        self.save_response_button.setToolTip("keep this response in the session: takes tracked from now on record "
                                             "it, and the review and exports apply it")
        self.save_response_button.clicked.connect(self.save_response)
        buttons = QHBoxLayout()
        buttons.addWidget(self.rezero_button)
        buttons.addWidget(self.save_response_button)
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.addWidget(self.response_panel, 1)
        column.addLayout(buttons)
        self.response_dock = QDockWidget("Shape response", self)
        self.response_dock.setWidget(holder)
        self.response_dock.setMinimumWidth(520)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.response_dock)
        self.response_dock.hide()
        self.response_dock.visibilityChanged.connect(self._response_dock_shown)

    def _response_toggled(self, shown: bool) -> None:
        self.response_dock.setVisible(shown)

    def _response_dock_shown(self, visible: bool) -> None:
        blocked = self.response_button.blockSignals(True)
        self.response_button.setChecked(visible)
        self.response_button.blockSignals(blocked)

    def _response_changed(self, response: ResponseSet) -> None:
        self.response = response  # the worker's pose reads it at its next frame (one reference, swapped)
        if self.last_result is not None and self.last_result.controls is not None and self._run is None:
            self._pose_now(self.last_result.controls)

    def _pose_now(self, controls: np.ndarray) -> None:
        """Pose the rig view from ``controls`` with the response (while stopped, an edit still shows)."""
        vertices = self.rig.evaluate(self.response.apply(controls, self.rig.expression_names))
        self.rig_view.show_geometry(vertices, self.rig_view.face.geometry(vertices))

    def rezero_neutral(self) -> bool:
        """*Re-zero neutral*: the last shown frame's controls become every shape's zero; False without one."""
        result = self.last_result
        if result is None or result.controls is None:
            self.statusBar().showMessage("Re-zero neutral: no tracked face yet (start tracking first)")
            return False
        self.response_panel.set_response(self.response.rezeroed(result.controls, self.rig.expression_names))
        self.statusBar().showMessage("Re-zero neutral: the face shown now reads as every shape's zero")
        return True

    def save_response(self) -> bool:
        """Write the response to the session's ``response.json``; False without a session or on failure."""
        if self.session is None:
            return False
        try:
            path = self.session.write_response(self.response)
        except (OSError, StudioError) as error:
            self.statusBar().showMessage(f"Shape response not saved: {one_line(error)}")
            return False
        self.statusBar().showMessage(f"Shape response saved: {path}")
        return True

    # -- source -----------------------------------------------------------------------------------------

    def source(self) -> str | FrameSource:
        """What Start tracks (the chooser's current entry)."""
        data = self.source_box.currentData()
        return data if data is not None else SYNTHETIC_SPEC

    def set_source(self, source: str | FrameSource) -> None:
        """Choose what Start tracks: ``camera:N``, a video path, ``synthetic[:seed]`` or a source object."""
        if isinstance(source, FrameSource):
            label = f"{source.name}"
        else:
            source = str(source)
            scheme = source.partition(":")[0]
            label = "Synthetic performer" if scheme == "synthetic" else (
                f"Camera {source.partition(':')[2] or 0}" if scheme == "camera" else f"Video: {Path(source).name}"
            )
        index = self.source_box.findData(source) if isinstance(source, str) else -1
        if index < 0:
            index = self.source_box.count() - 1  # before "Video file…"
            self.source_box.insertItem(index, label, source)
        self.source_box.setCurrentIndex(index)

    def _source_chosen(self, index: int) -> None:
        if self.source_box.itemData(index) is not None:
            return
        patterns = " ".join(f"*{ext}" for ext in VIDEO_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(self, "Track a video", "", f"Videos ({patterns})")
        if path:
            self.set_source(path)
        else:
            self.source_box.setCurrentIndex(max(0, index - 1))

    # -- running ----------------------------------------------------------------------------------------

    def tracker_kind(self) -> str:
        """The tracker Start uses: ``landmarks`` or ``network``."""
        return str(self.tracker_box.currentData())

    def set_tracker_kind(self, kind: str) -> None:
        """Choose the tracker (``landmarks``, ``network``); a running view restarts with it."""
        index = self.tracker_box.findData(kind)
        if index < 0:
            raise ValueError(f"unknown tracker {kind!r}: choose landmarks or network")
        self.tracker_box.setCurrentIndex(index)
        self._tracker_chosen(index)

    def set_filter_kind(self, kind: str) -> None:
        """Choose the live filter (``one-euro``, ``learned``); a running view restarts with it."""
        index = self.filter_box.findData(kind)
        if index < 0:
            raise ValueError(f"unknown filter {kind!r}: choose one-euro or learned")
        self.filter_box.setCurrentIndex(index)
        self._tracker_chosen(index)

    def _tracker_chosen(self, _index: int) -> None:
        """A running view restarts when its tracker or filter is no longer the chosen one."""
        run = self._run
        if run is not None and (run.tracker_kind, run.filter_kind) != (self.tracker_kind(),
                                                                       str(self.filter_box.currentData())):
            self.stop()
            QTimer.singleShot(0, self._start_when_stopped)

    def _start_when_stopped(self) -> None:
        if self._closing:
            return
        if self._run is not None:
            QTimer.singleShot(20, self._start_when_stopped)
            return
        self.start()

    @property
    def is_running(self) -> bool:
        """Whether a tracking worker is running (or stopping)."""
        return self._run is not None

    def start(self, source: str | FrameSource | None = None) -> None:
        """Start tracking ``source`` (default: the chooser's entry); a no-op while running."""
        if self._run is not None or self._closing:
            return
        if source is not None:
            self.set_source(source)
        spec = self.source()
        mirror = isinstance(spec, str) and spec.startswith("camera")
        self.view_box.invertX(mirror)
        run = _LiveRun(self.rig, spec, self._tracker_cache, self.neutral_frames, self.realtime, self.tracker_kind(),
                       pose=self._pose_function(), filter_kind=str(self.filter_box.currentData()))
        # errors are shown in the status line (our errored slot), not re-raised in the GUI thread
        worker = job_worker(run.work)
        # in the worker thread, when it quits with the generator paused at a yield
        worker.aborted.connect(run.finish, Qt.ConnectionType.DirectConnection)
        me = weakref.ref(self)

        def on_yielded(frame: LiveResult, run: _LiveRun = run) -> None:
            window = me()
            if window is not None:
                window._on_yielded(run, frame)

        def on_errored(error: BaseException, run: _LiveRun = run) -> None:
            window = me()
            if window is not None:
                window._on_errored(run, error)

        def on_finished(run: _LiveRun = run) -> None:
            window = me()
            if window is not None:
                window._on_finished(run)

        worker.yielded.connect(on_yielded)
        worker.errored.connect(on_errored)
        worker.finished.connect(on_finished)
        self._run, self._worker = run, worker
        self._run_error: str | None = None
        self._shown_prompt = ""
        self.prompt_label.setText("Starting…")
        self._update_buttons()
        worker.start()

    def _pose_function(self):
        """What the worker makes of a frame's controls for the rig view, off the GUI thread (which only
        uploads and draws): the posed rig ``(V, 3)`` and the drawn mesh's positions and normals. Only one
        frame per :meth:`_rig_interval_s` is posed (less a tenth, for the camera's jitter); the others get
        ``None`` and leave the rig as it is: this is what holds the rig to the display's refresh, and to
        about :data:`SOFTWARE_RIG_FPS` draws a second on a CPU rasterizer."""
        rig, scene = self.rig, self.rig_view.face
        posed_at = [0.0]

        def pose(controls: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]] | None:
            now = time.perf_counter()
            if now - posed_at[0] < 0.9 * self._rig_interval_s():
                return None
            posed_at[0] = now
            vertices = rig.evaluate(self.response.apply(controls, rig.expression_names))  # the shape response
            return vertices, scene.geometry(vertices)

        return pose

    def stop(self) -> None:
        """Stop tracking (the worker finishes its frame and releases the source); returns at once."""
        if self._run is not None:
            self._run.cancel.set()
            self._worker.quit()
            self.prompt_label.setText("Stopping…")

    def recapture_neutral(self) -> None:
        """Collect a new performer neutral from the next frames with a face."""
        if self._run is not None and self._run.live_tracker is not None:
            self._run.live_tracker.recapture_neutral()

    def wait_stopped(self, timeout_s: float = 5.0) -> bool:
        """Block until the worker has released everything (for closing); ``True`` if it did in time."""
        run = self._run
        return True if run is None else run.done.wait(timeout_s)

    def _update_buttons(self) -> None:
        running = self._run is not None
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.recapture_button.setEnabled(running)
        self.source_box.setEnabled(not running)

    # -- VMC streaming ----------------------------------------------------------------------------------

    @property
    def vmc_streaming(self) -> bool:
        """Whether shown tracked frames are being sent to a VMC receiver."""
        return self._vmc_sender is not None

    @property
    def vmc_frames_sent(self) -> int:
        """Frames the current VMC stream sent (the last stream's once stopped; 0 before any)."""
        return self._vmc_frames_sent

    def set_vmc_target(self, host_port: str | None) -> bool:
        """Stream shown tracked frames to ``host_port`` (``"HOST:PORT"``, ``"HOST"``, ``":PORT"``), or stop.

        Parameters
        ----------
        host_port : str or None
            The receiver (see :func:`studio.core.io.vmc.parse_host_port`); ``None`` stops streaming.

        Returns
        -------
        bool
            Whether the window now streams. A bad target or socket error does not raise: it unchecks
            "Stream" and shows a one-line message in the status line, as from the controls.
        """
        if host_port is None:
            self.vmc_box.setChecked(False)
            return False
        self.vmc_target_edit.setText(host_port)
        if self.vmc_box.isChecked():
            self._start_vmc()
        else:
            self.vmc_box.setChecked(True)  # starts the stream through _vmc_toggled
        return self.vmc_streaming

    def set_stream_mapping(self, convert: StreamMapping | None) -> None:
        """Choose what VMC streaming sends for a tracked frame (for retargeting).

        Parameters
        ----------
        convert : callable or None
            ``convert(controls) -> (names, values)``: the shown frame's controls, shape ``(K,)`` in the rig's
            order, to blendshape names (length ``N``) and finite values, shape ``(N,)``; called in the GUI
            thread for every shown tracked frame while streaming. An exception it raises stops the stream
            (one line in the status line). ``None`` restores the default, :func:`arkit_stream_mapping` of
            the window's rig.
        """
        self._stream_mapping = convert

    def set_stream_target(self, name: str | None):
        """Stream retargeted to target ``name`` (built in a worker; the tracked controls until it is ready), or
        as tracked for ``None``. Returns the worker building the target, or ``None``."""
        self.set_stream_mapping(None)
        if name is None:
            return None
        worker = job_worker(open_target, name, self.rig)
        worker.returned.connect(self._stream_target_built)  # bound methods: dropped with the window
        worker.errored.connect(self._stream_target_failed)
        self._target_worker = worker
        worker.start()
        return worker

    def _stream_target_built(self, target: RetargetTarget) -> None:
        if self.stream_as_box.currentData() == target.name:
            self.set_stream_mapping(target_stream_mapping(target))

    def _stream_target_failed(self, error: BaseException) -> None:
        self.statusBar().showMessage(f"retarget target: {one_line(error)}")

    def stream_mapping(self) -> StreamMapping:
        """The mapping VMC streaming uses now (see :meth:`set_stream_mapping`)."""
        if self._stream_mapping is not None:
            return self._stream_mapping
        if self._default_stream_mapping is None:
            self._default_stream_mapping = arkit_stream_mapping(self.rig.expression_names, RigDefinition.ict())
        return self._default_stream_mapping

    def _vmc_toggled(self, checked: bool) -> None:
        if checked:
            self._start_vmc()
        elif self._vmc_sender is not None:
            target = self._vmc_sender.target
            self._stop_vmc()
            self.statusBar().showMessage(
                f"VMC streaming to {target} stopped ({self._vmc_frames_sent} frames)."
            )

    def _vmc_target_edited(self) -> None:
        sender = self._vmc_sender
        if sender is None:
            return
        try:
            unchanged = self._parse_target() == (sender.host, sender.port)
        except ValueError:
            unchanged = False
        if not unchanged:
            self._start_vmc()

    @property
    def stream_protocol(self) -> str:
        """What "Stream" speaks: ``vmc``, ``livelink`` or ``ifacialmocap``."""
        return self.stream_protocol_box.currentData()

    def set_stream_protocol(self, protocol: str) -> None:
        """Speak ``protocol`` (``vmc``, ``livelink``, ``ifacialmocap``); the target takes its default port, and a
        running stream restarts."""
        self.stream_protocol_box.setCurrentIndex(self.stream_protocol_box.findData(protocol))
        host = self.vmc_target_edit.text().rpartition(":")[0] or DEFAULT_VMC_HOST
        self.vmc_target_edit.setText(f"{host}:{STREAM_DEFAULT_PORTS[protocol]}")
        if self._vmc_sender is not None:
            self._start_vmc()

    def _parse_target(self) -> tuple[str, int]:
        protocol = self.stream_protocol
        return udp.parse_host_port(self.vmc_target_edit.text(), DEFAULT_VMC_HOST, STREAM_DEFAULT_PORTS[protocol],
                                   self.stream_protocol_box.currentText())  # fmt: skip

    def _start_vmc(self) -> None:
        self._stop_vmc()
        try:
            host, port = self._parse_target()
            if self.stream_protocol == "livelink":
                self._vmc_sender = LiveLinkSender(host, port, subject="SimonSays", fps=30.0)
            elif self.stream_protocol == "ifacialmocap":
                self._vmc_sender = IFacialMocapSender(host, port)
            else:
                self._vmc_sender = VmcSender(host, port)
        except (ValueError, OSError) as error:
            self._vmc_failed(one_line(error))
            return
        self._vmc_frames_sent = 0
        self.statusBar().showMessage(f"Streaming {self._vmc_sender.protocol} to {self._vmc_sender.target}.")

    def _stop_vmc(self) -> None:
        sender, self._vmc_sender = self._vmc_sender, None
        if sender is not None:
            sender.close()

    def _vmc_failed(self, message: str) -> None:
        self._stop_vmc()
        blocked = self.vmc_box.blockSignals(True)
        self.vmc_box.setChecked(False)
        self.vmc_box.blockSignals(blocked)
        if not self._closing:
            self.statusBar().showMessage(f"{self.stream_protocol_box.currentText()} streaming stopped: {message}")

    def _send_vmc(self, controls: np.ndarray) -> None:
        sender = self._vmc_sender
        try:
            names, values = self.stream_mapping()(self.response.apply(controls, self.rig.expression_names))
            sender.send_frame(names, values, _live_head(sender, values))
        except Exception as error:  # the mapping may be anyone's: any failure stops the stream, in one line
            self._vmc_failed(one_line(error))
            return
        self._vmc_frames_sent = sender.frames_sent

    # -- worker → GUI -----------------------------------------------------------------------------------

    def _on_yielded(self, run: _LiveRun, frame: LiveResult) -> None:
        if run is not self._run or self._closing:
            return
        if self._pending is not None:
            self.results_dropped += 1
        self._pending = frame
        if not self._display_timer.isActive():
            # paced to the display (see __init__): a result that arrives sooner waits, and is replaced if a
            # newer one comes in the meantime (never a queue)
            wait_ms = 1e3 * (self._shown_at + self._display_interval_s - time.perf_counter())
            self._display_timer.start(max(0, int(wait_ms)))

    def _on_errored(self, run: _LiveRun, error: BaseException) -> None:
        message = one_line(error)
        if run is self._run:
            self._run_error = message
        if not self._closing:
            self.statusBar().showMessage(f"Live tracking stopped: {message}")

    def _on_finished(self, run: _LiveRun) -> None:
        if run is not self._run:
            return
        error = self._run_error
        cancelled = run.cancel.is_set()
        self._run, self._worker = None, None
        if self._closing:
            return
        self._update_buttons()
        if error is not None:
            reason = error
            self.prompt_label.setText("Stopped: see the status line.")
        elif cancelled:
            reason = "stopped"
            self.prompt_label.setText("Stopped.")
        else:
            reason = "end of video"
            self.prompt_label.setText("End of the video.")
        self.sigStopped.emit(reason)

    # -- drawing ----------------------------------------------------------------------------------------

    def _add_gui_time(self, seconds: float) -> None:
        self._gui_seconds += seconds

    def _show_pending(self) -> None:
        result, self._pending = self._pending, None
        if result is None or self._closing:
            return
        start = self._shown_at = time.perf_counter()
        if result.image is not None:
            self._show_image(result.image)
        self._show_landmarks(result)
        if result.posed is not None:
            self.rig_view.show_geometry(*result.posed)
        self._show_prompt(result)
        if self.response_dock.isVisible():
            self.response_panel.show_input(result.controls)
        if self._vmc_sender is not None and result.controls is not None:
            self._send_vmc(result.controls)
        now = time.perf_counter()
        # GUI time of the previous result: its set-up plus the paints that followed it
        if self.frames_displayed:
            self._stage_ms["draw"].append(1e3 * self._gui_seconds)
        self._gui_seconds = now - start
        for name, ms in result.stage_ms.items():
            self._stage_ms[name].append(ms)
        self.frames_displayed += 1
        self._display_rate.tick(now)
        self.last_result = result
        self.sigResultShown.emit(result)

    def _rig_interval_s(self) -> float:
        """Shortest time between two rig draws: the display's refresh, or :data:`SOFTWARE_RIG_FPS`'s period
        when a CPU rasterizer draws (there the rig costs more than all the rest of a frame)."""
        software = is_software_renderer(self.rig_view.gl_renderer)
        return max(self._refresh_interval_s, 1.0 / SOFTWARE_RIG_FPS) if software else self._refresh_interval_s

    def _show_image(self, image: np.ndarray) -> None:
        # uint8 RGB without levels or a lookup table goes to a QImage without a copy (pyqtgraph's fast path)
        self.image_item.setImage(image, autoLevels=False)
        size = (image.shape[1], image.shape[0])
        if size != self._image_size:
            self._image_size = size
            self.view_box.setRange(QRectF(0, 0, *size), padding=0.0)

    def _show_landmarks(self, result: LiveResult) -> None:
        if not result.face_found:
            self.landmark_item.clear()
            self.stable_item.clear()
            return
        tracker = self._tracker_cache.get("tracker")  # set by the worker before its first result
        if not len(self._stable) and tracker is not None:
            self._stable = np.asarray(tracker.stable)
            self._other = np.setdiff1d(np.arange(len(result.landmarks_px)), self._stable)
        points = result.landmarks_px
        others = points[self._other] if len(self._stable) else points
        self.landmark_item.setData(x=others[:, 0], y=others[:, 1])
        if len(self._stable):
            self.stable_item.setData(x=points[self._stable, 0], y=points[self._stable, 1])

    def _show_prompt(self, result: LiveResult) -> None:
        if not result.face_found:
            text = "No face in view."
        elif result.capturing_neutral:
            text = (
                "Look at the camera with a relaxed face — capturing neutral… "
                f"{result.neutral_captured}/{result.neutral_required}"
            )
        else:
            text = "Tracking."
        if text != self._shown_prompt:
            self._shown_prompt = text
            self.prompt_label.setText(text)

    def reset_stage_times(self, maxlen: int = 30) -> None:
        """Forget the per-frame stage times and keep up to ``maxlen`` of each from now on."""
        self._stage_ms = {name: deque(maxlen=maxlen) for name in self._stage_ms}

    def stage_times(self, name: str) -> list[float]:
        """The kept per-frame times of one stage (see :data:`STAGES`, or ``draw``), milliseconds."""
        return list(self._stage_ms[name])

    def stage_ms(self) -> dict[str, float]:
        """Mean milliseconds per frame of each stage over the last 30 shown frames (``draw``: GUI time)."""
        return {name: float(np.mean(values)) for name, values in self._stage_ms.items() if values}

    def display_fps(self) -> float:
        """Results shown per second over the last second."""
        return self._display_rate.per_second(time.perf_counter())

    def _update_readout(self) -> None:
        result = self.last_result
        if result is None:
            return
        stages = self.stage_ms()
        tracking = sum(stages.get(name, 0.0) for name in TRACKING_STAGES)
        dropped = result.frames_dropped + self.results_dropped
        self._drops.append((time.perf_counter(), dropped))
        per_second = self.dropping_per_second()
        busy = f" · busy: dropping {per_second:.0f} frames/s to stay with the camera" if per_second >= 1.0 else ""
        vmc = f" · VMC {self._vmc_frames_sent} sent" if self._vmc_sender is not None else ""
        self.fps_label.setText(
            f"source {result.source_fps:.1f} fps · tracking {tracking:.1f} ms · "
            f"display {self.display_fps():.1f} fps · dropped {dropped}{busy}{vmc}"
        )

    def dropping_per_second(self) -> float:
        """Frames dropped per second over the last second of readouts (0 when none were)."""
        if len(self._drops) < 2:
            return 0.0
        now = self._drops[-1][0]
        recent = [(t, d) for t, d in self._drops if now - t <= 1.1]
        (t0, d0), (t1, d1) = recent[0], recent[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0

    # -- closing ----------------------------------------------------------------------------------------

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """Stop the worker and wait (at most 5 s; usually one frame) until it released the source."""
        self._closing = True
        self._readout_timer.stop()
        if self._run is not None:
            self.stop()
            if not self.wait_stopped(5.0):
                print("warning: the live tracking worker did not stop within 5 s", file=sys.stderr)
            self._run, self._worker = None, None
        self._stop_vmc()
        self.rig_view.close()
        super().closeEvent(event)


# ----------------------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------------------


def run_live_view(source: str | None = None, screenshot: str | Path | None = None, frames: int = 90) -> int:
    """Open the live view on the ICT rig and start tracking; returns the process exit code.

    Parameters
    ----------
    source : str, optional
        ``camera:N``, a video path or ``synthetic[:seed]``; by default camera 0 if present, else synthetic.
    screenshot : str or Path, optional
        Save a PNG of the window after ``frames`` tracked frames (controls shown), then quit.
    frames : int
        Tracked frames before the screenshot.
    """
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Simon Says Studio")
    rig = Rig.ict()
    window = LiveTrackingWindow(rig, source=source)
    exit_code = 0
    tracked = 0

    def save_and_quit() -> None:
        nonlocal exit_code
        path = Path(screenshot)
        path.parent.mkdir(parents=True, exist_ok=True)
        if window.grab().save(str(path)):
            print(f"wrote {path}")
        else:
            print(f"error: could not write {path}", file=sys.stderr)
            exit_code = 1
        window.close()
        app.quit()

    def count(result: LiveResult) -> None:
        nonlocal tracked
        tracked += result.controls is not None
        if tracked == frames:
            window.sigResultShown.disconnect(count)
            QTimer.singleShot(100, save_and_quit)  # let the last frame paint

    def stopped(reason: str) -> None:
        nonlocal exit_code
        if reason not in ("stopped", "end of video"):
            print(f"error: {reason}", file=sys.stderr)
            exit_code = 1
            window.close()
            app.quit()
        elif tracked < frames:
            save_and_quit()

    if screenshot is not None:
        window.sigResultShown.connect(count)
        window.sigStopped.connect(stopped)
    window.show()
    window.start()
    code = app.exec()
    return exit_code or int(code)
