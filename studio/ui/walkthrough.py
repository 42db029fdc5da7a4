"""``python main.py demo --walkthrough``: the whole demo workflow, driven by itself, with a screenshot per page.

A fresh session for the demo's synthetic performer (θ_GT of :data:`~studio.core.session.library.DEMO_SEED`)
is created, then the session window goes through it the way a person would, one step after another
as each job reports back (the GUI thread never waits): the Simon-Says page captures every expression
with the synthetic performer as the camera (following the prompts, auto-capture), Calibration calibrates
and fine-tunes and makes the report card, Takes records a take from the synthetic performer and tracks it with θ_A, θ_S and θ̂_S,
Review plays it with its footage and sound, the geometry-error heatmap on and the emotion strip filled,
Generate shows a generated expression on the stylized target and keeps a transition as a take, and the live
view (Tools → Live tracking) tracks the synthetic performer while the Shape response panel makes the jaw
stronger, saved in the session. A PNG of each page is saved into the screenshot folder, with
``walkthrough.json`` (each step's duration and the figures it produced).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication

from studio.core.io.atomic_files import write_json_atomic
from studio.core.session.library import DEMO_SEED, create_session, data_folder, is_session
from studio.ui.session.capture_page import SYNTHETIC_SOURCE
from studio.ui.session.takes_page import SYNTHETIC_TAKE
from studio.ui.windows import open_session_window

#: Screenshots, in the order they are taken.
SCREENSHOTS = ("1-capture.png", "2-capture-review.png", "3-calibration.png", "4-takes.png", "5-review.png",
               "6-generate.png", "7-response.png")
#: Tracked frames the live view shows before the shape response is edited on it.
LIVE_FRAMES = 15


class Walkthrough(QObject):
    """Drives a :class:`~studio.ui.session.window.SessionWindow` through the demo workflow.

    Parameters
    ----------
    screenshots : Path
        Folder for the PNGs and ``walkthrough.json`` (created).
    session_folder : Path
        Where the walkthrough's session is created (replaced when it holds an earlier one).
    expression_names : list of str, optional
        Limit the capture to these expressions (tests); by default the whole set.
    take_seconds : float
        Length of the recorded take.
    timeout_s : float
        Give up after this long.
    quit_when_done : bool
        Quit the application's event loop at the end (the command line); tests wait for ``sigFinished``.

    Signals
    -------
    sigStep(str)
        A step is done: ``open``, ``capture``, ``calibration``, ``finetune``, ``report card``, ``take``,
        ``review``, ``generate``, ``response``.
    sigFinished(object)
        The end: ``None``, or the error's one line.
    """

    sigStep = Signal(str)
    sigFinished = Signal(object)

    def __init__(self, screenshots: Path, session_folder: Path, expression_names: list[str] | None = None,
                 take_seconds: float = 8.0, timeout_s: float = 1200.0, quit_when_done: bool = True) -> None:
        super().__init__()
        self.quit_when_done = quit_when_done
        self.screenshots = Path(screenshots)
        self.session_folder = Path(session_folder)
        self.expression_names = expression_names
        self.take_seconds = take_seconds
        self._waited = 0  # polls of the step waiting on a worker
        self.window = None
        self.live = None
        self._live_frames = 0
        self.error: str | None = None
        self.steps: dict[str, float] = {}
        self.figures: dict[str, object] = {}
        self.done = False
        self._started = time.perf_counter()
        self._step_started = self._started
        self._timeout = QTimer(self)
        self._timeout.setSingleShot(True)
        self._timeout.timeout.connect(lambda: self.fail(f"timed out after {timeout_s:g} s"))
        self._timeout.start(int(timeout_s * 1000))

    # -- steps ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Create the session, open its window and start capturing."""
        self.screenshots.mkdir(parents=True, exist_ok=True)
        if is_session(self.session_folder):
            shutil.rmtree(self.session_folder)
        session = create_session(self.session_folder, "Demo performer (synthetic)", "ict_full",
                                 notes=f"walkthrough, seed {DEMO_SEED}", synthetic_seed=DEMO_SEED,
                                 expression_names=self.expression_names)
        self.window = open_session_window(session.folder)
        self.window.resize(1400, 900)
        page = self.window.capture
        page.realtime = False  # the synthetic performer as fast as the machine goes
        page.sigCaptureSaved.connect(self._captured)
        page.sigFrameShown.connect(self._capture_frame)
        page.sigStopped.connect(self._capture_stopped)
        self._mark("open")
        page.start(SYNTHETIC_SOURCE)

    def _captured(self, name: str) -> None:
        saved = len(self.window.capture.session.status().captured)
        if saved == 3 and SCREENSHOTS[0] not in self.figures.get("screenshots", []):
            QTimer.singleShot(300, lambda: self._shoot(SCREENSHOTS[0]))

    def _capture_frame(self, frame) -> None:
        if frame.phase == "complete" and self.window.capture.busy:
            self.window.capture.stop()

    def _capture_stopped(self, reason: str) -> None:
        status = self.window.capture.session.status()
        if status.missing:
            self.fail(f"capture stopped ({reason}) with {len(status.missing)} expressions missing")
            return
        self.figures["captures"] = len(status.captured)
        self.figures["flagged"] = len(status.flagged)
        self._mark("capture")
        self._shoot(SCREENSHOTS[1])
        page = self.window.calibration
        self.window.tabs.setCurrentWidget(page)
        page.sigJobFinished.connect(self._calibration_finished)
        page.calibrate()

    def _calibration_finished(self, job: str, succeeded: bool) -> None:
        if not succeeded:
            self.fail(f"{job} failed: {self.window.calibration.status.text()}")
            return
        self._mark(job)
        if job == "calibration":
            self.window.calibration.finetune()
            return
        if job == "finetune":
            self.window.calibration.make_report_card()
            return
        found = self.window.calibration.model.report_card()
        if found is not None:
            card = found[0]
            self.figures["report_card"] = {"overall": card.overall(), "recommended": card.recommended(),
                                           "folds": card.folds, "summary": card.summary()}
        self.window.calibration.expression_box.setCurrentText("smile")  # before/after of one expression
        QTimer.singleShot(500, self._calibration_shown)

    def _calibration_shown(self) -> None:
        self._shoot(SCREENSHOTS[2])
        page = self.window.takes
        self.window.tabs.setCurrentWidget(page)
        page.sigTakeTracked.connect(self._take_tracked)
        page.source_box.choose(SYNTHETIC_TAKE)
        page.record_take("take-1", self.take_seconds)

    def _take_tracked(self, name: str, succeeded: bool) -> None:
        if not succeeded:
            self.fail(f"take {name} failed: {self.window.takes.status.text()}")
            return
        self._mark("take")
        self.figures["take"] = {rig: {"sparsity": stats.sparsity, "tweaker": stats.tweaker}
                                for rig, stats in self.window.takes.report.stats.items()}
        self._shoot(SCREENSHOTS[3])
        self.window.tabs.setCurrentIndex(self.window.tabs.indexOf(self.window._review_tab))
        review = self.window.review
        review.heatmap_box.setChecked(review.heatmap_box.isEnabled())
        review.play_button.setChecked(True)
        QTimer.singleShot(2000, self._reviewed)

    def _reviewed(self) -> None:
        review = self.window.review
        self.figures["review_frame"] = review.frame
        if review.error_mm is not None:
            self.figures["review_face_error_mm_median"] = round(float(np.median(review.error_mm)), 3)
        review.play_button.setChecked(False)
        # the picture: the take's most expressive frame after its first second (the filter settling)
        curves = review.current_curves()
        start = min(int(round(curves.fps)), curves.num_frames - 1)
        review.show_frame(start + int(np.argmax(np.nan_to_num(curves.values[start:]).sum(axis=1))))
        self._waited = 0
        self._when_emotions_shown()

    def _when_emotions_shown(self) -> None:
        """The review's emotion strip fills in a worker and its footage is decoded in a thread: shoot once both
        show the frame (or after 20 s)."""
        review = self.window.review
        frame_s = float(review.current_curves().time_s[review.frame])
        footage_behind = review.footage.path is not None and (
            review.footage.shown_time is None or abs(review.footage.shown_time - frame_s) > 1e-6)
        if (review.emotion_strip.performer is None or footage_behind) and self._waited < 200:
            self._waited += 1
            QTimer.singleShot(100, self._when_emotions_shown)
            return
        if review.emotion_strip.performer is not None:
            self.figures["review_emotion"] = review.emotion_strip.title.text()
        self.figures["review_footage"] = {"sound": review.sound.available, "frame_shown_s": review.footage.shown_time,
                                          "label": review.footage_label.text()}
        self._shoot(SCREENSHOTS[4])
        self._mark("review")
        self.window.tabs.setCurrentIndex(self.window.tabs.indexOf(self.window._generate_tab))
        self._waited = 0
        self._when_generator_loaded()

    def _when_generator_loaded(self) -> None:
        page = self.window.generate
        if page.generator is None:
            self._waited += 1
            if self._waited > 300:
                self.fail(f"the generative model did not load: {page.status.text()}")
                return
            QTimer.singleShot(100, self._when_generator_loaded)
            return
        page.emotion_box.setCurrentText("surprise")
        page.intensity.setValue(120)
        page.to_box.setCurrentText("happiness")
        page.target_box.setCurrentIndex(page.target_box.findData("toon"))
        self._waited = 0
        self._when_target_shown()

    def _when_target_shown(self) -> None:
        page = self.window.generate
        if (page.target is None or page.target.name != "toon") and self._waited < 300:
            self._waited += 1
            QTimer.singleShot(100, self._when_target_shown)
            return
        name = page.save_transition()
        if name is None:
            self.fail(f"the generated transition was not saved: {page.status.text()}")
            return
        self.figures["generated_take"] = name
        self._shoot(SCREENSHOTS[5])
        self._mark("generate")
        self._open_live_view()

    def _open_live_view(self) -> None:
        """Tools → Live tracking for this session, on the synthetic performer, with the Shape response panel."""
        from studio.ui.windows import open_live_view

        self.live = open_live_view(session=self.window.session)
        self.live.realtime = False
        self.live.resize(1500, 820)
        self.live.response_button.setChecked(True)
        self._live_frames = 0
        self.live.sigResultShown.connect(self._live_result)
        self.live.sigStopped.connect(self._live_stopped)
        self.live.start("synthetic:1")

    def _live_result(self, result) -> None:
        if result.controls is None or self._live_frames < 0:
            return
        self._live_frames += 1
        if self._live_frames == LIVE_FRAMES:
            self._live_frames = -1
            self.live.stop()

    def _live_stopped(self, reason: str) -> None:
        if self._live_frames != -1:
            self.fail(f"live tracking stopped before {LIVE_FRAMES} tracked frames: {reason}")
            return
        live, panel = self.live, self.live.response_panel
        panel.choose("jawOpen")
        panel.spins["multiplier"].setValue(1.4)
        panel.add_point()
        panel.set_curve_point(1, 0.4, 0.65)
        if live.last_result is not None:
            panel.show_input(live.last_result.controls)
        if not live.save_response():
            self.fail(f"the shape response was not saved: {live.statusBar().currentMessage()}")
            return
        self.figures["response_shapes"] = sorted(live.response.shapes)
        self._shoot(SCREENSHOTS[6], live)
        self._mark("response")
        live.close()
        self.finish()

    # -- bookkeeping ------------------------------------------------------------------------------------

    def _mark(self, step: str) -> None:
        now = time.perf_counter()
        self.steps[step] = round(now - self._step_started, 2)
        self._step_started = now
        print(f"walkthrough: {step} done in {self.steps[step]:.1f} s", flush=True)
        self.sigStep.emit(step)

    def _shoot(self, name: str, window=None) -> None:
        path = self.screenshots / name
        if not (window or self.window).grab().save(str(path)):
            self.fail(f"could not write {path}")
            return
        self.figures.setdefault("screenshots", []).append(name)
        print(f"wrote {path}", flush=True)

    def fail(self, message: str) -> None:
        """End with an error (one line)."""
        if self.done:
            return
        self.error = message
        print(f"error: walkthrough: {message}", file=sys.stderr, flush=True)
        self.finish()

    def finish(self) -> None:
        """Write ``walkthrough.json``, close the window and quit the event loop."""
        if self.done:
            return
        self.done = True
        self._timeout.stop()
        summary = {
            "seconds": round(time.perf_counter() - self._started, 2),
            "steps_s": self.steps,
            "figures": self.figures,
            "session": str(self.session_folder),
            "error": self.error,
        }
        write_json_atomic(self.screenshots / "walkthrough.json", summary)
        print(f"walkthrough {'failed' if self.error else 'finished'} in {summary['seconds']:.1f} s", flush=True)
        if self.window is not None:
            self.window.close()
        self.sigFinished.emit(self.error)
        if self.quit_when_done:
            QApplication.instance().quit()


def run_walkthrough(screenshots: str | Path, session_folder: str | Path | None = None) -> int:
    """Run the walkthrough in a Qt application; returns the exit code (1 when a step failed)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Simon Says Studio")
    folder = Path(session_folder) if session_folder else data_folder() / "sessions" / "walkthrough"
    walkthrough = Walkthrough(Path(screenshots), folder)
    QTimer.singleShot(0, walkthrough.start)
    app.exec()
    return 1 if walkthrough.error else 0
