"""Captures judged against what MediaPipe makes of each expression, and the report card on held-out captures."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
NAMES = ["smile", "frown", "brows_down", "mouth_left"]  # in the set's order

pytestmark = pytest.mark.gl


def _polluting_source(rig, seed: int):
    """The prompted performer, who raises their brows whenever asked to smile (capture pollution)."""
    from studio.render.synthetic_performer import PromptedPerformerSource

    brows = [rig.control_index(n) for n in ("browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R")]
    smile = rig.control_index("mouthSmile_L")

    class Polluting(PromptedPerformerSource):
        def perform(self, controls: np.ndarray) -> None:
            controls = np.array(controls, np.float32)
            if controls[smile] > 0:
                controls[brows] = 0.8
            super().perform(controls)

    return Polluting(rig, seed=seed)


@pytest.fixture(scope="module")
def polluted_session(tmp_path_factory, assets_dir):
    from studio.core.jobs import run_job
    from studio.core.session.synthetic import synthetic_session_job

    folder = tmp_path_factory.mktemp("sessions") / "polluted"
    return run_job(synthetic_session_job(folder, 2, lambda rig: _polluting_source(rig, 2), NAMES))


def test_a_polluted_capture_is_caught_and_the_obeyed_ones_pass(polluted_session) -> None:
    from studio.core.session.calibrate import calibration_pairs, capture_yardsticks
    from studio.core.tracking.rig_bundle import RigBundle

    bundle = RigBundle.load()
    session = polluted_session
    pairs, flags = calibration_pairs(session, bundle.tracker(), bundle.definition, session.expression_set_definition())
    assert [p.name for p in pairs] == NAMES
    assert any(m.startswith("Your eyebrows moved during the smile") for m in flags["smile"]), flags
    obeyed = {name: messages for name, messages in flags.items() if name != "smile" and messages}
    assert not obeyed, obeyed
    # the guided capture judged them the same way when it saved them
    assert session.status().flagged == ("smile",)
    tracker = bundle.tracker()
    yardsticks = capture_yardsticks(session, tracker, tracker.performer_neutral(session.capture("neutral").averaged),
                                    session.expression_set_definition())
    assert set(yardsticks) == set(NAMES)
    smile = tracker.control_names.index("mouthSmile_L")
    assert 0.3 < yardsticks["smile"].controls[smile] < 1.0  # MediaPipe shows less than the rig's geometry


def test_the_report_card_tracks_each_capture_with_rigs_made_without_it(polluted_session, tmp_path) -> None:
    import shutil

    from studio.core.jobs import JobCancelled, run_job
    from studio.core.session.folder import Session
    from studio.core.session.report_card import CARD_RIGS, read_report_card, report_card_job

    folder = tmp_path / "card"
    shutil.copytree(polluted_session.folder, folder)
    session = Session.open(folder)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(JobCancelled):
        run_job(report_card_job(session, folds=4, cancel=cancel))
    assert read_report_card(session) is None  # nothing written

    progress = []
    card = run_job(report_card_job(session, folds=4), on_progress=progress.append)
    assert list(card.errors) == NAMES and card.folds == 4
    for name, errors in card.errors.items():
        assert set(errors) == set(CARD_RIGS) and all(np.isfinite(v) and v >= 0 for v in errors.values()), name
    assert progress[-1] == ("done", 8, 8) and any("fold 1/4 (smile)" in p[0] for p in progress)
    assert card.recommended() in CARD_RIGS and "recommended for takes" in card.summary()
    found = read_report_card(session)
    assert found is not None and found[1] and found[0] == card
    # a new calibration makes it stale
    from studio.core.session.calibrate import calibrate_session

    calibrate_session(session)
    assert read_report_card(session)[1] is False
    with pytest.raises(Exception, match="folds must be between 2 and 4"):
        run_job(report_card_job(session, folds=5))


def test_calibrate_report_prints_the_card_and_takes_rig_keeps_theta_a(polluted_session, tmp_path) -> None:
    import shutil

    from studio.core.session.folder import Session

    folder = tmp_path / "cli"
    shutil.copytree(polluted_session.folder, folder)
    run = lambda *args: subprocess.run([sys.executable, "main.py", "calibrate", str(folder), *args], cwd=ROOT,  # noqa: E731
                                       capture_output=True, text=True, timeout=600, env=os.environ)
    result = run("--report", "--folds", "2", "--quiet")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "report card (made in" in lines[0]
    assert any(line.split()[:1] == ["smile"] and len(line.split()) >= 4 for line in lines)
    assert any(line.strip().startswith("overall") for line in lines)
    assert (folder / "calibration" / "report_card.json").exists()
    again = run("--report", "--quiet")
    assert again.returncode == 0 and "current, from calibration/report_card.json" in again.stdout
    chosen = run("--takes-rig", "theta_A")
    assert chosen.returncode == 0 and Session.open(folder).takes_rig == "theta_A"
    assert run("--takes-rig", "auto").returncode == 0 and Session.open(folder).takes_rig is None
