"""Simon-Says sessions on disk: round trips, retakes, interruption, corrupt files, atomicity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from studio.core.capture.burst import (
    BurstCapture,
    average_burst,
)
from studio.core.session.folder import BURST_FILE, SESSION_FILE, Session, SessionError
from studio.core.tracking.reconstruction import BLENDSHAPE_NAMES

REPO = Path(__file__).resolve().parents[3]
N = 478
EXPRESSIONS = ["jawOpen", "smile", "browsUp", "pucker", "eyesClosed"]


# ----------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------


def _face(seed: int = 0) -> np.ndarray:
    """A face-sized landmark cloud, rig space, cm, shape (478, 3)."""
    return np.random.default_rng(seed).normal(0.0, 4.0, (N, 3))


def make_capture(frames: int = 12, seed: int = 0, flags: list | None = None) -> BurstCapture:
    rng = np.random.default_rng(seed)
    aligned = _face(seed) + rng.normal(0.0, 0.005, (frames, N, 3))
    averaged, kept, spread = average_burst(aligned)
    return BurstCapture(
        landmarks_px=(rng.uniform(100, 400, (frames, N, 3))).astype(np.float32),
        time_s=np.arange(frames) / 30.0,
        face_found=np.ones(frames, bool),
        aligned=aligned.astype(np.float32),
        averaged=averaged,
        kept=kept,
        blendshapes=rng.uniform(0, 1, (frames, len(BLENDSHAPE_NAMES))).astype(np.float32),
        stillness_mm_per_s=3.5,
        spread_mm=spread,
        flags=list(flags or []),
    )


def new_session(folder: Path) -> Session:
    return Session.create(folder, {"name": "Ada", "notes": "test"}, "ict_facekit", "basic", EXPRESSIONS)


def assert_same_capture(a: BurstCapture, b: BurstCapture) -> None:
    for key in ("landmarks_px", "time_s", "face_found", "aligned", "averaged", "kept", "blendshapes"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)
    assert a.spread_mm == pytest.approx(b.spread_mm) and a.flags == b.flags and a.aligned_to == b.aligned_to


# ----------------------------------------------------------------------------------------------------------
# Session files
# ----------------------------------------------------------------------------------------------------------


def test_create_save_open_round_trip(tmp_path):
    session = new_session(tmp_path / "s")
    assert session.expression_names == ("neutral", *EXPRESSIONS)
    assert session.status().missing == session.expression_names
    neutral, jaw = make_capture(seed=1), make_capture(seed=2, flags=["eyes_closed", {"code": "blur"}])
    jaw.thumbnails = [np.full((24, 32, 3), 128, np.uint8)] * 2
    session.save_capture("neutral", neutral)
    session.save_capture("jawOpen", jaw)

    again = Session.open(tmp_path / "s")
    assert again.performer == {"name": "Ada", "notes": "test"}
    assert again.rig == {"name": "ict_facekit", "parameters": None}
    assert again.expression_set["name"] == "basic"
    status = again.status()
    assert status.captured == ("neutral", "jawOpen") and status.flagged == ("jawOpen",)
    assert status.missing == tuple(EXPRESSIONS[1:]) and not status.complete
    assert_same_capture(again.capture("neutral"), neutral)
    assert_same_capture(again.capture("jawOpen"), jaw)
    assert again.capture("smile") is None
    assert [p.name for p in again.thumbnail_paths("jawOpen")] == ["0.jpg", "1.jpg"]

    folder = tmp_path / "s"
    data = json.loads((folder / SESSION_FILE).read_text())
    assert data["format"] and data["version"] == "1.0"
    assert [c["status"] for c in data["captures"][:3]] == ["captured", "flagged", "missing"]
    quality = json.loads((folder / "captures" / "jawOpen" / "quality.json").read_text())
    assert quality["frames_used"] == 12 and quality["frames_rejected"] == 0
    assert quality["flags"] == ["eyes_closed", {"code": "blur"}]
    assert (folder / "neutral" / BURST_FILE).is_file() and (folder / "calibration").is_dir()


def test_create_refuses_a_non_empty_folder_and_bad_names(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(SessionError, match="not an empty folder"):
        new_session(tmp_path / "full")
    with pytest.raises(SessionError, match="folder name"):
        Session.create(tmp_path / "bad", "Ada", "ict", "set", ["../escape"])
    session = new_session(tmp_path / "ok")
    with pytest.raises(SessionError, match="not one of"):
        session.save_capture("nope", make_capture())
    with pytest.raises(SessionError, match="not JSON data"):
        session.save_capture("smile", make_capture(flags=[object()]))
    assert session.status().captured == ()


def test_dataclass_flags_are_stored_as_dicts(tmp_path):
    QualityFlag = pytest.importorskip("studio.core.capture.quality").QualityFlag

    session = new_session(tmp_path / "s")
    flag = QualityFlag("barely_moved", "Open wider.", "warning", ("jawOpen",))
    session.save_capture("jawOpen", make_capture(flags=[flag]))
    stored = Session.open(tmp_path / "s").capture("jawOpen").flags
    assert stored == [
        {"code": "barely_moved", "message": "Open wider.", "severity": "warning", "controls": ["jawOpen"]}
    ]


def test_retake_removes_and_replaces_a_capture(tmp_path):
    session = new_session(tmp_path / "s")
    session.save_capture("smile", make_capture(seed=3, flags=["asymmetric"]))
    assert session.status().flagged == ("smile",)
    session.remove_capture("smile")
    assert "smile" in session.status().missing and not (tmp_path / "s" / "captures" / "smile").exists()
    retake = make_capture(seed=4)
    session.save_capture("smile", retake)
    reopened = Session.open(tmp_path / "s")
    assert reopened.status().captured == ("smile",) and reopened.status().flagged == ()
    assert_same_capture(reopened.capture("smile"), retake)


def test_interrupted_session_reopens_with_what_was_captured(tmp_path):
    folder = tmp_path / "s"
    session = new_session(folder)
    for name in ("neutral", "jawOpen", "smile"):
        session.save_capture(name, make_capture(seed=len(name)))
    # what an interruption leaves: a stray temp file, a capture folder whose burst never landed, and a
    # session.json that predates the last capture
    stale = json.loads((folder / SESSION_FILE).read_text())
    stale["captures"][2]["status"] = "missing"
    (folder / SESSION_FILE).write_text(json.dumps(stale))
    (folder / "captures" / "browsUp").mkdir()
    (folder / "captures" / "browsUp" / ".burst.npz.999.tmp").write_bytes(b"half a zip")
    (folder / "captures" / "browsUp" / "quality.json").write_text("{}")
    (folder / f".{SESSION_FILE}.999.tmp").write_text('{"format": "trunc')

    reopened = Session.open(folder)
    assert reopened.status().captured == ("neutral", "jawOpen", "smile")
    assert reopened.status().missing == ("browsUp", "pucker", "eyesClosed")
    assert reopened.capture("browsUp") is None
    assert_same_capture(reopened.capture("smile"), make_capture(seed=len("smile")))


def test_corrupt_or_newer_session_files_are_refused_in_one_line(tmp_path):
    folder = tmp_path / "s"
    new_session(folder)
    path = folder / SESSION_FILE
    good = path.read_text()

    path.write_text(good[: len(good) // 2])
    with pytest.raises(SessionError) as error:
        Session.open(folder)
    assert "unreadable" in str(error.value) and "\n" not in str(error.value)

    data = json.loads(good)
    data["version"] = "2.0"
    path.write_text(json.dumps(data))
    with pytest.raises(SessionError, match=r"version 2\.0 is newer") as error:
        Session.open(folder)
    assert "\n" not in str(error.value)

    data["version"] = "1.7"  # a newer minor only adds keys: readable
    data["new_key"] = {"anything": 1}
    path.write_text(json.dumps(data))
    assert Session.open(folder).status().missing[0] == "neutral"

    del data["captures"]
    path.write_text(json.dumps(data))
    with pytest.raises(SessionError, match="malformed"):
        Session.open(folder)
    path.write_text('{"format": "something else"}')
    with pytest.raises(SessionError, match="not a Simon Says Studio session"):
        Session.open(folder)
    with pytest.raises(SessionError, match="not a session"):
        Session.open(tmp_path / "nowhere")


def test_corrupt_burst_is_a_session_error(tmp_path):
    session = new_session(tmp_path / "s")
    session.save_capture("pucker", make_capture())
    (tmp_path / "s" / "captures" / "pucker" / BURST_FILE).write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(SessionError, match=r"pucker/burst.npz: damaged \.npz file"):
        session.capture("pucker")


_KILLED_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import numpy as np
    sys.path[:0] = [{repo!r}, {tests!r}]
    from studio.core.session.folder import Session
    from test_folder import make_capture

    hook, target, name = {hook!r}, {target!r}, {name!r}
    real = getattr(os, hook)

    def hang(*args):
        path = args[1] if hook == "replace" else None
        if hook == "fsync" or Path(path).name == target:
            print("INSIDE", flush=True)
            time.sleep(60)
        return real(*args)

    session = Session.open({folder!r})
    setattr(os, hook, hang)
    session.save_capture(name, make_capture(frames=300, seed=99))
    print("DONE", flush=True)
    """
)


@pytest.mark.parametrize(
    ("hook", "target", "name"),
    [
        ("fsync", "", "jawOpen"),  # killed with the new burst written to its temp file, not yet durable
        ("replace", BURST_FILE, "jawOpen"),  # killed just before the new burst is renamed over the old
        ("replace", SESSION_FILE, "smile"),  # killed just before session.json is renamed
    ],
)
def test_a_write_killed_midway_leaves_the_previous_files_intact(tmp_path, hook, target, name):
    folder = tmp_path / "s"
    session = new_session(folder)
    session.save_capture("neutral", make_capture(seed=1))
    session.save_capture("jawOpen", make_capture(seed=2))
    burst = folder / "captures" / "jawOpen" / BURST_FILE
    before_json, before_burst = (folder / SESSION_FILE).read_bytes(), burst.read_bytes()

    script = _KILLED_WRITER.format(
        repo=str(REPO), tests=str(Path(__file__).parent), hook=hook, target=target, name=name, folder=str(folder)
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = child.stdout.readline()
        assert line.strip() == "INSIDE", f"child did not reach the write: {line!r} {child.stderr.read()}"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    assert (folder / SESSION_FILE).read_bytes() == before_json
    assert burst.read_bytes() == before_burst
    leftovers = [p.name for p in folder.rglob("*.tmp")]
    assert leftovers, "the killed writer leaves its temp file behind"
    reopened = Session.open(folder)
    assert_same_capture(reopened.capture("jawOpen"), make_capture(seed=2))
    if name == "smile":  # its burst was committed before session.json: the reopened session has it
        assert reopened.status().captured == ("neutral", "jawOpen", "smile")
    else:
        assert reopened.status().captured == ("neutral", "jawOpen")
