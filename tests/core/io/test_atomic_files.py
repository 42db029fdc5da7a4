"""Atomic writes, outputs written together, checks before the work, strict JSON, and the npz reader."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from studio.core.errors import StudioError
from studio.core.io.atomic_files import (
    OutputError,
    check_outputs,
    json_text,
    remove_dead_temp_files,
    text_writer,
    write_atomic,
    write_json_atomic,
    write_text_atomic,
    write_together,
)
from studio.core.io.npz import read_npz


def _dead_pid() -> int:
    pid = 2**22 - 7
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except OSError:
            pass
        pid -= 1


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = write_text_atomic(tmp_path / "a.txt", "old")

    def half_then_fail(handle):
        handle.write(b"new, half")
        raise ValueError("the writer failed")

    with pytest.raises(ValueError, match="the writer failed"):
        write_atomic(path, half_then_fail)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_a_write_that_cannot_happen_names_the_target_not_the_temporary_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError) as error:
        write_text_atomic(tmp_path / "file" / "out.csv", "data")
    assert "out.csv" in str(error.value) and ".tmp" not in str(error.value)
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        write_text_atomic(tmp_path / "folder.csv", "data")


def test_temporary_files_of_dead_runs_are_removed_at_the_next_write(tmp_path):
    target = tmp_path / "curves.csv"
    dead = tmp_path / f".curves.csv.{_dead_pid()}.tmp"
    alive = tmp_path / f".curves.csv.{os.getppid()}.tmp"  # a running process: its write may be under way
    other = tmp_path / f".other.csv.{_dead_pid()}.tmp"
    for path in (dead, alive, other):
        path.write_text("partial")
    write_text_atomic(target, "whole")
    assert not dead.exists() and alive.exists() and other.exists()
    assert remove_dead_temp_files(tmp_path / "other.csv") == [other]


def test_files_written_together_are_all_or_nothing(tmp_path):
    a = write_text_atomic(tmp_path / "a.csv", "old a")
    b = write_text_atomic(tmp_path / "b.json", "old b")
    (tmp_path / "sub").write_text("not a folder")
    with pytest.raises(OutputError):
        write_together({a: text_writer("new a"), b: text_writer("new b"), tmp_path / "sub" / "c": text_writer("c")})
    assert a.read_text() == "old a" and b.read_text() == "old b"
    assert not list(tmp_path.glob(".*.tmp"))
    moved = []
    write_together({a: text_writer("new a"), b: text_writer("new b")}, before_commit=lambda: moved.append(a.read_text()))
    assert moved == ["old a"] and a.read_text() == "new a" and b.read_text() == "new b"


def test_check_outputs_refuses_inputs_links_twins_and_unwritable_places(tmp_path):
    source = tmp_path / "take.csv"
    source.write_text("x")
    os.link(source, tmp_path / "hard.csv")
    (tmp_path / "soft.csv").symlink_to(source)
    for output, says in ((source, "is the input"), (tmp_path / "hard.csv", "is the input"),
                         (tmp_path / "soft.csv", "is the input"), (tmp_path / "." / "take.csv", "is the input"),
                         (tmp_path, "is a folder"), (source / "x.csv", "is not a folder")):  # fmt: skip
        with pytest.raises(OutputError, match=says):
            check_outputs([("--out", output)], [source])
    with pytest.raises(OutputError, match="same file as --out"):
        check_outputs([("--out", tmp_path / "n.csv"), ("--json", tmp_path / "n.csv")])
    check_outputs([("--out", tmp_path / "new" / "deeper" / "n.csv"), ("--json", None)], [source, None])


def test_json_text_is_strict_json(tmp_path):
    data = {"a": math.nan, "b": [1.0, math.inf, np.float32(2.5)], "c": np.arange(3), "d": np.bool_(True)}
    text = json_text(data)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.0, None, 2.5], "c": [0, 1, 2], "d": True}
    path = write_json_atomic(tmp_path / "r.json", data)
    assert json.loads(path.read_text(), parse_constant=lambda name: pytest.fail(f"{name} in strict JSON"))


class _AreaError(StudioError):
    pass


def test_read_npz_says_what_is_wrong_without_advice_to_unpickle(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, a=np.arange(3))
    assert read_npz(good, _AreaError, required=("a",))["a"].tolist() == [0, 1, 2]
    cases = {
        "text.npz": (lambda p: p.write_text("hello"), "not an .npz file"),
        "cut.npz": (lambda p: p.write_bytes(good.read_bytes()[:60]), "damaged .npz file"),
        "objects.npz": (lambda p: np.savez(p, a=np.array([{"x": 1}], object)), "holds Python objects"),
    }
    for name, (make, says) in cases.items():
        path = tmp_path / name
        make(path)
        with pytest.raises(_AreaError, match=says) as error:
            read_npz(path, _AreaError)
        assert name in str(error.value) and "allow_pickle" not in str(error.value)
    with pytest.raises(_AreaError, match="missing array b"):
        read_npz(good, _AreaError, required=("a", "b"))
    with pytest.raises(_AreaError, match="file not found"):
        read_npz(tmp_path / "none.npz", _AreaError)
