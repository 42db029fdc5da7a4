"""The guided Simon-Says capture: a prompted synthetic performer, MediaPipe, bursts saved into a session."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.gl

NAMES = ["neutral", "jaw_open", "smile"]


@pytest.fixture(scope="module")
def demo_parts(assets_dir):
    from studio.core.capture.expression_sets import SimonSaysSet
    from studio.core.rig.definition import RigDefinition
    from studio.core.rig.performer_model import performer_rig_parameters
    from studio.core.rig.rig import Rig

    rig, definition = Rig.ict(), RigDefinition.ict()
    performer = rig.with_parameters(performer_rig_parameters(rig, definition, 7))
    return rig, definition, SimonSaysSet.packaged("ict_full"), performer


def _job(folder, demo_parts, commands=None, cancel=None, names=NAMES):
    from studio.core.session.folder import Session
    from studio.core.session.simon_says import simon_says_job
    from studio.core.tracking.reconstruction import GeometryReconstructor
    from studio.core.tracking.rig_bundle import RigBundle
    from studio.render.synthetic_performer import PromptedPerformerSource

    rig, definition, expression_set, performer = demo_parts
    session = Session.open(folder) if (folder / "session.json").exists() else Session.create(
        folder, "synthetic", rig.name, expression_set.name, names)
    source = PromptedPerformerSource(performer, seed=7)
    reconstructor = GeometryReconstructor(running_mode="video")
    job = simon_says_job(session, source, expression_set, definition, RigBundle.load().tracker(), reconstructor,
                         commands=commands, cancel=cancel, realtime=False)
    return session, job, reconstructor


def _run_until(job, predicate, max_frames=600):
    frames = []
    for frame in job:
        frames.append(frame)
        if predicate(frame) or len(frames) >= max_frames:
            break
    return frames


def test_the_prompted_performer_is_captured_expression_by_expression(tmp_path, demo_parts):
    from studio.core.session.folder import Session

    rig, definition, expression_set, performer = demo_parts
    session, job, reconstructor = _job(tmp_path / "s", demo_parts)
    try:
        frames = _run_until(job, lambda f: f.phase == "complete")
    finally:
        job.close()
        reconstructor.close()
    assert frames[-1].phase == "complete", [f.phase for f in frames[-5:]]
    saved = [f.saved for f in frames if f.saved]
    assert saved == NAMES  # in order, each once, advancing by itself
    reopened = Session.open(session.folder)
    assert reopened.status().complete
    # the first frame prompts the neutral and carries its reference pose; the match meter needs the neutral
    assert frames[0].expression.name == "neutral" and frames[0].reference_vertices is not None
    assert not frames[0].match
    # each burst started only once the face held still after the prompt settled
    for name in NAMES:
        capture = reopened.capture(name)
        assert capture.num_frames == 30 and capture.stillness_mm_per_s < 20.0
    assert reopened.capture("jaw_open").aligned_to == "performer_neutral"
    # while jaw_open was held, its region's match meter rose (the controls moved towards the target)
    held = [f for f in frames if f.expression.name == "jaw_open" and f.phase == "capturing"]
    assert held and held[-1].match["jaw"] > 0.25 and held[-1].motion_mm > 5.0
    # once the neutral exists, the reference is the prompted pose on the performer's fitted identity
    smile = next(f for f in frames if f.expression.name == "smile" and f.reference_vertices is not None)
    target = expression_set.expression("smile").control_vector(rig.expression_names)
    plain = rig.evaluate(target)
    assert np.abs(smile.reference_vertices - plain).max() > 0.1  # another identity (cm)
    quality = json.loads((session.folder / "captures" / "smile" / "quality.json").read_text())
    smile_saved = next(f for f in frames if f.saved == "smile")
    assert quality["flags"] == reopened.flags("smile") == [
        {**flag, "controls": list(flag["controls"])} for flag in smile_saved.flags
    ]


def test_commands_move_retake_and_cancel_keep_what_was_saved(tmp_path, demo_parts):
    from studio.core.jobs import JobCancelled
    from studio.core.session.simon_says import SimonSaysCommands

    folder = tmp_path / "s"
    commands = SimonSaysCommands()
    commands.set_auto_capture(False)
    commands.step(1)  # off the neutral before anything is captured
    session, job, reconstructor = _job(folder, demo_parts, commands)
    try:
        frames = _run_until(job, lambda f: len(f.status.captured) == 0 and f.expression.name == "jaw_open"
                            and f.phase != "settling", 120)
        assert frames[-1].expression.name == "jaw_open" and not frames[-1].status.captured
        commands.go_to("neutral")
        commands.capture_now()  # Space: record now, auto-capture off
        frames = _run_until(job, lambda f: f.saved == "neutral", 200)
        assert frames[-1].saved == "neutral"
        first = session.capture("neutral").time_s.copy()
        commands.retake("neutral")  # R: prompt it again and record when held (auto re-armed for it)
        commands.capture_now()
        frames = _run_until(job, lambda f: f.saved == "neutral", 200)
        assert frames[-1].saved == "neutral"
        retaken = session.capture("neutral")
        assert not np.array_equal(retaken.time_s, first)  # replaced by the new burst
        assert retaken.aligned_to == "rig_neutral"  # as the first neutral, not onto the old one
    finally:
        job.close()
        reconstructor.close()
    cancel_flag = [False]
    session, job, reconstructor = _job(folder, demo_parts, cancel=lambda: cancel_flag[0])
    try:
        next(job)
        cancel_flag[0] = True
        with pytest.raises(JobCancelled) as cancelled:
            next(job)
    finally:
        reconstructor.close()
    assert cancelled.value.partial.captured == ("neutral",)  # what was saved stays


def test_region_match_scores_reach_and_stillness(demo_parts):
    from studio.core.session.simon_says import region_match

    rig, definition, expression_set, _ = demo_parts
    names = rig.expression_names
    smile = expression_set.expression("smile")
    target = smile.control_vector(names)
    assert region_match(smile, target, names, definition) == {"mouth": 1.0, "brow": 1.0, "jaw": 1.0}
    half = region_match(smile, 0.5 * target, names, definition)
    assert half["mouth"] == pytest.approx(0.5)
    moved = target.copy()
    moved[names.index("browInnerUp_L")] = 0.3  # the brows must keep still during a smile
    assert region_match(smile, moved, names, definition)["brow"] == pytest.approx(0.5)
    neutral = region_match(expression_set.expression("neutral"), np.zeros(len(names)), names, definition)
    assert set(neutral.values()) == {1.0} and "brow" in neutral


def test_performer_identity_recovers_a_known_identity(demo_parts):
    from studio.core.session.simon_says import performer_identity
    from studio.core.tracking.rig_bundle import RigBundle
    from studio.core.tracking.tracker import Tracker

    rig = demo_parts[0]
    bundle = RigBundle.load()
    tracker = bundle.tracker()
    truth = np.zeros(rig.num_identity_modes, np.float32)
    truth[:5] = [1.5, -1.0, 0.8, 0.5, -0.7]
    person = rig.with_identity(truth)
    points = Tracker(person, bundle.embedding).rig_points  # the person's neutral at the landmarks, rig space
    fitted = performer_identity(tracker, points)
    face = rig.group_vertices("face")
    before = np.abs(person.neutral - rig.neutral)[face].mean()  # cm
    after = np.abs(person.neutral - rig.with_identity(fitted).neutral)[face].mean()
    assert before > 0.2 and after < 0.3 * before
    with pytest.raises(ValueError, match="finite"):
        performer_identity(tracker, np.full_like(points, np.nan))


def test_record_take_writes_the_video_whole_or_nothing(tmp_path, demo_parts):
    from studio.core.jobs import JobCancelled, run_job
    from studio.core.session.folder import Session
    from studio.core.session.takes import record_take_job
    from studio.core.tracking.frame_sources import VideoFileSource
    from studio.render.synthetic_performer import PromptedPerformerSource

    rig, _, expression_set, performer = demo_parts
    session = Session.create(tmp_path / "s", "p", rig.name, expression_set.name, ["neutral"])
    source = PromptedPerformerSource(performer, seed=1, max_seconds=5.0)
    video = run_job(record_take_job(session, source, "t1", seconds=1.0, realtime=False))
    with VideoFileSource(video) as recorded:
        assert recorded.num_frames == 30 and recorded.size == (640, 480)
    with np.load(video.parent / "truth.npz") as truth:  # what the synthetic performer performed
        assert truth["controls"].shape == (30, rig.num_controls)
    stop = [False]
    progress = []
    job = record_take_job(session, source, "t2", seconds=4.0, realtime=False, stop=lambda: stop[0])
    for step in job:
        progress.append(step)
        stop[0] = len(progress) >= 10  # Stop: ends early, keeps the take
    with VideoFileSource(session.folder / "takes" / "t2" / "video.mp4") as recorded:
        assert recorded.num_frames == 10
    job = record_take_job(session, source, "t3", seconds=4.0, realtime=False, cancel=lambda: len(progress) > 15)
    with pytest.raises(JobCancelled):
        for step in job:
            progress.append(step)
    assert not list((session.folder / "takes" / "t3").glob("*"))  # nothing left of a cancelled take
