"""Synthetic sessions go through the one guided capture: neutral first, each expression held and recorded, an
interrupted session resumed, and a performer who never shows a face stopped with one line."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from studio.core.capture.burst import CaptureError
from studio.core.jobs import JobCancelled, run_job
from studio.core.session.folder import Session
from studio.core.session.synthetic import synthetic_session_job
from studio.core.tracking.frame_sources import Frame, FrameSource


class _EmptyRoom(FrameSource):
    """A camera on an empty room that still takes prompts: grey frames, no face."""

    def __init__(self, rig) -> None:
        self.fps, self.num_frames, self.size, self.name = 30.0, 300, (320, 240), "empty-room"
        self.prompts = 0

    def perform(self, controls: np.ndarray) -> None:
        self.prompts += 1

    def __iter__(self) -> Iterator[Frame]:
        for index in range(self.num_frames):
            yield Frame(index, index / self.fps, np.full((240, 320, 3), 128, np.uint8))


def test_a_performer_who_never_shows_a_face_stops_the_session_in_one_line(tmp_path, assets_dir):
    sources = []

    def source_for(rig):
        sources.append(_EmptyRoom(rig))
        return sources[0]

    with pytest.raises(CaptureError, match=r"^neutral: not captured within 1 s") as error:
        run_job(synthetic_session_job(tmp_path / "s", 0, source_for, ["jaw_open"], max_seconds_per_expression=1.0))
    assert "\n" not in str(error.value) and "no_face" in str(error.value)
    assert sources[0].prompts == 1  # the neutral was prompted
    assert Session.open(tmp_path / "s").status().captured == ()


@pytest.mark.gl
def test_an_interrupted_synthetic_session_resumes_where_it_stopped(tmp_path, assets_dir):
    from studio.render.synthetic_performer import PromptedPerformerSource

    folder = tmp_path / "s"

    def source_for(rig):
        return PromptedPerformerSource(rig, seed=4)

    def after_jaw_open() -> bool:
        return (folder / "session.json").exists() and Session.open(folder).is_captured("jaw_open")

    frames = []
    with pytest.raises(JobCancelled) as stopped:
        run_job(synthetic_session_job(folder, 4, source_for, ["jaw_open", "smile"], cancel=after_jaw_open),
                frames.append)
    assert stopped.value.partial.captured == ("neutral", "jaw_open")
    assert [f.saved for f in frames if f.saved] == ["neutral", "jaw_open"]  # in order, neutral first
    first = Session.open(folder)
    neutral_at = json.loads((folder / "neutral" / "quality.json").read_text())["captured_at"]
    assert first.capture("jaw_open").aligned_to == "performer_neutral"
    assert first.capture("neutral").aligned_to == "rig_neutral"

    frames = []
    session = run_job(synthetic_session_job(folder, 4, source_for, ["jaw_open", "smile"]), frames.append)
    assert session.status().complete
    assert [f.saved for f in frames if f.saved] == ["smile"]  # what was captured is kept, not retaken
    assert json.loads((folder / "neutral" / "quality.json").read_text())["captured_at"] == neutral_at
    assert frames[-1].phase == "complete"
    smile = session.capture("smile")
    assert smile.face_found.all() and smile.stillness_mm_per_s < 20.0
    assert (session.calibration_folder / "theta_GT.npz").exists()
