"""A shoot on Ray: good takes tracked, retargeted and exported, corrupt ones failed in one line, a re-run idle."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from studio.core.jobs import run_job


@pytest.fixture(scope="module")
def calibrated_session(tmp_path_factory, record_synthetic_session):
    from studio.core.session.calibrate import calibrate_session

    folder = tmp_path_factory.mktemp("shoot") / "performer"
    record_synthetic_session(folder, 5, ["jaw_open", "smile", "brows_up"])
    calibrate_session(folder)
    return folder


@pytest.fixture(scope="module")
def shoot_folder(tmp_path_factory, short_clip):
    root = tmp_path_factory.mktemp("shoot-day")
    (root / "scene1").mkdir()
    (root / "scene2" / "pickups").mkdir(parents=True)
    short_clip(root / "scene1" / "take01.avi", frames=30)
    short_clip(root / "scene2" / "pickups" / "take02.avi", frames=30)
    (root / "scene1" / "broken.mp4").write_bytes(np.random.default_rng(1).bytes(5000))
    (root / "scene2" / "notes.mov").write_text("not a video\n" * 50)
    (root / "scene2" / "readme.txt").write_text("ignored")
    return root


def test_a_shoot_is_processed_on_ray_with_failures_isolated_and_a_rerun_does_no_work(calibrated_session,
                                                                                      shoot_folder, tmp_path):
    from studio.core.session.folder import Session
    from studio.core.session.shoot import SUMMARY_COLUMNS, batch_job
    from studio.core.session.takes import load_take

    out = tmp_path / "out"
    progress = []
    rows = run_job(batch_job(shoot_folder, calibrated_session, out, targets=["performer", "toon"],
                             formats=["livelink", "glb"], workers=2), on_progress=progress.append)  # fmt: skip
    assert progress[-1] == ("takes", 4, 4)
    by_take = {row["take"]: row for row in rows}
    assert set(by_take) == {"shoot-scene1-take01", "shoot-scene2-pickups-take02", "shoot-scene1-broken",
                            "shoot-scene2-notes"}  # fmt: skip
    for good in ("shoot-scene1-take01", "shoot-scene2-pickups-take02"):
        row = by_take[good]
        assert row["status"] == "done" and row["frames"] == 30 and row["face_percent"] > 90, row
        assert 0 < row["residual_mm"] < 5 and 0 <= row["sparsity"] <= 1 and row["seconds"] > 0
        for name in ("performer.csv", "performer.glb", "toon.csv", "toon.glb", "result.json"):
            assert (out / good / name).stat().st_size > 0
        take = load_take(Session.open(calibrated_session), good)  # the take opens in the review like any
        assert take.report.rigs[:2] == ("theta_A", "theta_S") and take.report.video.endswith(".avi")
    for bad in ("shoot-scene1-broken", "shoot-scene2-notes"):
        row = by_take[bad]
        assert row["status"] == "failed" and "not a video or corrupt" in row["error"] and "\n" not in row["error"]
    with open(out / "summary.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [list(r) for r in table][0] == list(SUMMARY_COLUMNS) and len(table) == 4
    assert json.loads((out / "summary.json").read_text())["takes"][0]["take"] == "shoot-scene1-broken"
    # a second run finds every take finished (the failed ones too) and does no work
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.glb")}
    again = run_job(batch_job(shoot_folder, calibrated_session, out, targets=["performer", "toon"],
                              formats=["livelink", "glb"], workers=2))  # fmt: skip
    assert all(row.get("skipped") for row in again) and len(again) == 4
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.glb")} == before


def test_a_shoot_that_cannot_start_says_why_in_one_line(calibrated_session, shoot_folder, tmp_path, record_synthetic_session):
    from studio.core.session.shoot import ShootError, batch_job

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no videos")
    uncalibrated = tmp_path / "uncalibrated"
    record_synthetic_session(uncalibrated, 6, ["jaw_open"])
    cases = (
        ((empty, calibrated_session), {}, "no video in this folder or below"),
        ((shoot_folder, uncalibrated), {}, "the session has no θ_S yet"),
        ((shoot_folder, calibrated_session), {"formats": ["fbx"]}, "unknown export format 'fbx'"),
        ((shoot_folder, calibrated_session), {"targets": ["nobody"]}, "unknown target 'nobody'"),
        ((shoot_folder, calibrated_session), {"ray_address": "127.0.0.1:1"}, "Ray at 127.0.0.1:1 does not answer"),
    )
    for args, options, says in cases:
        with pytest.raises(ShootError, match=says) as error:
            run_job(batch_job(*args, out=tmp_path / "never", **options))
        assert "\n" not in str(error.value)
        assert not (tmp_path / "never").exists()
