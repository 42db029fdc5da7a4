"""kill -9 in the middle of every command that writes: the previous outputs stay byte for byte, and the next run
cleans the dead run's temporary files.

Each command runs in a child process whose ``os.replace`` stops at the first rename of one of its outputs (every
content is then on disk in temporary files, nothing renamed yet) and says so; the test kills it there with
SIGKILL — the worst moment for a writer that is not atomic.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from studio.cli import main

REPO = Path(__file__).resolve().parents[2]

_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    targets, real = {targets!r}, os.replace

    def stop_at_the_commit(source, destination, *args, **kwargs):
        if Path(destination).name in targets:
            print("INSIDE", flush=True)
            time.sleep(300)
        return real(source, destination, *args, **kwargs)

    os.replace = stop_at_the_commit
    from studio.cli import main
    sys.exit(main({argv!r}))
    """
)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def kill_at_the_commit(argv: list[str], targets: set[str], timeout: float = 240) -> None:
    """Run ``main.py argv`` in a child, SIGKILL it when it is about to rename one of ``targets`` into place."""
    script = _CHILD.format(repo=str(REPO), targets=targets, argv=argv)
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = ""
        while line.strip() != "INSIDE":
            line = child.stdout.readline()
            if not line and child.poll() is not None:
                raise AssertionError(f"the child ended (exit {child.returncode}) before its commit: "
                                     f"{child.stderr.read()[-2000:]}")  # fmt: skip
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=timeout)
    assert child.returncode == -signal.SIGKILL


def assert_killed_run_changed_nothing_and_next_run_cleans(folder: Path, argv: list[str], targets: set[str]) -> None:
    before = snapshot(folder)
    kill_at_the_commit(argv, targets)
    after = snapshot(folder)
    left = {name for name in after if name.endswith(".tmp")}
    assert left, "the killed run had its outputs in temporary files"
    assert {name: data for name, data in after.items() if name not in left} == before
    assert main([*argv, *(["--quiet"] if argv[0] in ("track", "finetune", "session") else [])]) == 0
    assert not [p for p in folder.rglob("*.tmp")], "the next run removes the dead run's temporary files"


@pytest.fixture(scope="module")
def takes(tmp_path_factory, assets_dir, short_clip):
    folder = tmp_path_factory.mktemp("takes")
    clip = short_clip(folder / "clip.avi", frames=20)
    assert main(["track", str(clip), "--out", str(folder / "take.csv"), "--json", str(folder / "take.json"),
                 "--quiet"]) == 0  # fmt: skip
    assert main(["export", str(folder / "take.csv"), "--format", "glb", "--target", "rook",
                 "--out", str(folder / "take.glb")]) == 0  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def finetuned_session(tmp_path_factory, record_synthetic_session):
    folder = tmp_path_factory.mktemp("killed") / "s"
    record_synthetic_session(folder, 4, ["jaw_open", "smile", "brows_up"])
    assert main(["calibrate", str(folder)]) == 0
    assert main(["finetune", str(folder), "--quiet"]) == 0
    return folder


def test_track_killed_at_its_commit(takes, tmp_path):
    folder = tmp_path / "t"
    shutil.copytree(takes, folder)
    argv = ["track", str(folder / "clip.avi"), "--out", str(folder / "take.csv"), "--json", str(folder / "take.json")]
    assert_killed_run_changed_nothing_and_next_run_cleans(folder, argv, {"take.csv", "take.json"})


def test_export_killed_at_its_commit(takes, tmp_path):
    folder = tmp_path / "e"
    shutil.copytree(takes, folder)
    argv = ["export", str(folder / "take.csv"), "--format", "glb", "--target", "rook", "--out", str(folder / "take.glb")]
    assert_killed_run_changed_nothing_and_next_run_cleans(folder, argv, {"take.glb"})


@pytest.mark.parametrize(
    ("command", "targets"),
    [("calibrate", {"theta_S.npz", "report.json"}), ("finetune", {"theta_S_hat.npz", "finetune_report.json"})],
)
def test_calibrate_and_finetune_killed_at_their_commit(finetuned_session, tmp_path, command, targets):
    folder = tmp_path / "s"
    shutil.copytree(finetuned_session, folder)
    if command == "calibrate":  # keep the calibration's outputs only: its stale θ̂_S would be moved aside
        (folder / "calibration" / "theta_S_hat.npz").unlink()
        (folder / "calibration" / "finetune_report.json").unlink()
    assert_killed_run_changed_nothing_and_next_run_cleans(folder, [command, str(folder)], targets)


def test_session_synthetic_killed_at_its_commit(finetuned_session, tmp_path):
    from studio.core.session.folder import Session

    folder = tmp_path / "s"
    shutil.copytree(finetuned_session, folder)
    Session.open(folder).remove_capture("smile")
    argv = ["session", "synthetic", str(folder), "--seed", "4"]
    before = snapshot(folder)
    kill_at_the_commit(argv, {"burst.npz", "session.json"})
    after = {name: data for name, data in snapshot(folder).items() if not name.endswith(".tmp")}
    assert {name: after.get(name) for name in before} == before  # every previous file byte for byte
    assert all(name.startswith("captures/smile/frames/") for name in set(after) - set(before))  # thumbnails are
    # written before the burst, the capture's commit point: a capture without its burst is not a capture
    assert not Session.open(folder).is_captured("smile")
    assert main([*argv, "--quiet"]) == 0
    assert not [p for p in folder.rglob("*.tmp")]
    assert Session.open(folder).is_captured("smile")
