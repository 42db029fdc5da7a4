"""Bad input, as a hostile but realistic user hands it to the command line: every malformed curves CSV, Live Link
file, rig-parameter file, session file and video gets exit code 1, exactly one line that names the file (with
line and column where there is one), no traceback — and no file is changed or created.

Malformed files are generated (Hypothesis, derandomized so CI sees the same examples every run) from valid
ones by one mutation each, every mutation one that makes the file invalid. Commands run in-process
(:func:`studio.cli.main`), as ``main.py`` runs them.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.cli import main
from studio.core.io.curves import TakeCurves
from studio.core.io.livelink import write_livelink_csv
from studio.core.rig.rig import RIG_PARAMETERS_FORMAT, RigParameters

FUZZ = settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# ----------------------------------------------------------------------------------------------------------
# Helpers


def run(*argv: str) -> tuple[int, str, str]:
    """``main.py argv`` in-process: ``(exit code, stdout, stderr)``; argparse's own exits are caught too."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([*argv, *(["--quiet"] if argv[0] in ("track", "stream") else [])])
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too), by relative path, with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_refused(result: tuple[int, str, str], names: str | Path, where: str | None = None) -> str:
    """Exit code 1, one ``error:`` line on stderr naming ``names`` (and ``where``), no traceback."""
    code, _out, err = result
    lines = err.strip().splitlines()
    assert code == 1, f"exit {code}: {err}"
    assert len(lines) == 1, f"expected one line, got {len(lines)}: {err}"
    assert lines[0].startswith("error: ") and "Traceback" not in err
    assert str(names) in lines[0], f"{names} not named in: {lines[0]}"
    if where is not None:
        assert where in lines[0], f"{where!r} not in: {lines[0]}"
    assert ".tmp" not in lines[0], f"names a temporary file: {lines[0]}"
    return lines[0]


@pytest.fixture(scope="module")
def ict_names(assets_dir) -> tuple[str, ...]:
    from studio.core.rig.definition import RigDefinition

    return RigDefinition.ict().control_names


def _valid_curves(names: tuple[str, ...], frames: int = 6) -> str:
    rng = np.random.default_rng(0)
    found = np.ones(frames, bool)
    found[3] = False
    values = np.where(found[:, None], rng.random((frames, len(names))), np.nan).astype(np.float32)
    return TakeCurves(names, np.arange(frames) / 30.0, found, values).csv_text()


# ----------------------------------------------------------------------------------------------------------
# Curves CSV


def _mutate_curves(text: str, kind: str, row: int, cell: int, garbage: str) -> tuple[str, str | None]:
    """One invalidating mutation of a curves CSV: ``(new text, where the error must point)``."""
    header, rows, row, line = _split(text, row)
    face_row = 0 if row == 3 else row  # row 3 has no face
    face_line = face_row + 2
    column = 3 + cell % (len(header) - 3)
    if kind == "garbage_value":
        rows[face_row][column] = garbage
        return _join(header, rows), f"line {face_line}, column {header[column]}"
    if kind == "out_of_range":
        rows[face_row][column] = "1.5"
        return _join(header, rows), f"line {face_line}, column {header[column]}"
    if kind == "nan":
        rows[face_row][column] = "nan"
        return _join(header, rows), f"line {face_line}, column {header[column]}"
    if kind == "value_without_face":
        rows[3][column] = "0.5"
        return _join(header, rows), "line 5, column"
    if kind == "short_row":
        rows[row] = rows[row][:-1]
        return _join(header, rows), f"line {line}"
    if kind == "long_row":
        rows[row] = [*rows[row], "0.1"]
        return _join(header, rows), f"line {line}"
    if kind == "time_backwards":
        rows[max(row, 1)][1] = "-1.0"
        return _join(header, rows), f"line {max(row, 1) + 2}, column time_s"
    if kind == "time_gap":
        for later in rows[max(row, 1):]:
            later[1] = f"{float(later[1]) + 1e6:.6f}"
        return _join(header, rows), f"line {max(row, 1) + 2}, column time_s"
    if kind == "face_found":
        rows[row][2] = garbage if garbage not in ("0", "1") else "2"
        return _join(header, rows), f"line {line}, column face_found"
    if kind == "frame":
        rows[row][0] = garbage if garbage.strip() != str(row) else "x"
        return _join(header, rows), f"line {line}, column frame"
    if kind == "unknown_column":
        header[column] = header[column] + "X"
        return _join(header, rows), "line 1"
    if kind == "repeated_column":
        header[column] = header[3 if column != 3 else 4]
        return _join(header, rows), "line 1"
    if kind == "no_header":
        return _join(rows[0], rows[1:]), "line 1"
    if kind == "binary":
        return "\x00\x01PK\x03garbage\xff" + garbage, None
    if kind == "empty":
        return "", "line 1"
    if kind == "no_frames":
        return ",".join(header) + "\n", None
    raise AssertionError(kind)


def _split(text: str, row: int) -> tuple[list[str], list[list[str]], int, int]:
    """A CSV's header and rows as cells, the row chosen (``row`` modulo the rows) and its line number."""
    lines = text.splitlines()
    rows = [line.split(",") for line in lines[1:]]
    row = row % len(rows)
    return lines[0].split(","), rows, row, row + 2


def _join(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(",".join(r) for r in [header, *rows]) + "\n"


CURVES_MUTATIONS = (
    "garbage_value", "out_of_range", "nan", "value_without_face", "short_row", "long_row", "time_backwards",
    "time_gap", "face_found", "frame", "unknown_column", "repeated_column", "no_header", "binary", "empty",
    "no_frames",
)  # fmt: skip
_GARBAGE = st.sampled_from(["abc", "", "1e999", "-inf", "0x10", " ", "NaN", "½", "3.4.5", "--1"])


@FUZZ
@given(
    kind=st.sampled_from(CURVES_MUTATIONS),
    row=st.integers(0, 5),
    cell=st.integers(0, 52),
    garbage=_GARBAGE,
    command=st.sampled_from(["retarget", "export-csv", "export-json", "export-livelink", "export-glb", "export-usd",
                             "stream", "emotion"]),
)
def test_malformed_curves_are_refused_by_every_command(tmp_path, ict_names, kind, row, cell, garbage, command):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    text, where = _mutate_curves(_valid_curves(ict_names), kind, row, cell, garbage)
    bad = folder / "take.csv"
    bad.write_bytes(text.encode("utf-8", "surrogateescape") if kind != "binary" else text.encode("latin-1"))
    before = snapshot(folder)
    out = folder / "out.file"
    if command == "retarget":
        argv = ["retarget", str(bad), "--target", "alex", "--out", str(out)]
    elif command == "stream":
        argv = ["stream", str(bad), "--vmc", "127.0.0.1:9", "--as-fast-as-possible"]
    elif command == "emotion":
        argv = ["emotion", str(bad), "--out", str(out)]
    else:
        argv = ["export", str(bad), "--format", command.split("-")[1], "--out", str(out)]
    assert_refused(run(*argv), bad, where)
    assert snapshot(folder) == before


def test_a_spreadsheet_csv_with_bom_and_blank_lines_is_read(tmp_path, ict_names):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _valid_curves(ict_names).replace("\n", "\r\n").encode() + b"\r\n\r\n")
    curves = TakeCurves.read_csv(path)
    assert curves.num_frames == 6 and curves.control_names == ict_names
    code, out, err = run("retarget", str(path), "--target", "rook", "--out", str(tmp_path / "rook.csv"))
    assert code == 0, err


# ----------------------------------------------------------------------------------------------------------
# Live Link Face CSV


def _valid_livelink(tmp_path: Path, fps: float = 30.0, frames: int = 8, start_s: float = 17 * 3600.0) -> str:
    rng = np.random.default_rng(1)
    path = tmp_path / "valid-livelink.csv"
    write_livelink_csv(path, np.arange(frames) / fps, rng.random((frames, 52)), fps=fps, start_timecode_s=start_s)
    return path.read_text()


LIVELINK_MUTATIONS = (
    "timecode", "count", "cell", "missing_column", "short_row", "time_backwards", "time_gap", "binary", "empty",
    "header_only",
)  # fmt: skip


def _mutate_livelink(text: str, kind: str, row: int, cell: int, garbage: str) -> tuple[str, str | None]:
    """One invalidating mutation of a Live Link Face CSV: ``(new text, where the error must point)``."""
    header, rows, row, line = _split(text, row)
    column = 2 + cell % (len(header) - 2)
    shape_column = 2 + cell % 52  # the head and eye angle columns may be absent: the 52 shapes may not
    if kind == "timecode":
        rows[row][0] = garbage + ":99"
        return _join(header, rows), f"line {line}, column Timecode"
    if kind == "count":
        rows[row][1] = garbage if not garbage.strip().isdigit() else "x"
        return _join(header, rows), f"line {line}, column BlendshapeCount"
    if kind == "cell":
        rows[row][column] = garbage if garbage.strip() not in ("1e999", "-inf", "NaN") else "nan"
        return _join(header, rows), f"line {line}, column {header[column]}"
    if kind == "missing_column":
        del header[shape_column]
        for r in rows:
            del r[shape_column]
        return _join(header, rows), "line 1"
    if kind == "short_row":
        rows[row] = rows[row][:-2]
        return _join(header, rows), f"line {line}"
    if kind == "time_backwards":
        rows[max(row, 1)][0] = "16:00:00:00.000"
        return _join(header, rows), f"line {max(row, 1) + 2}"
    if kind == "time_gap":
        for later in rows[max(row, 1):]:
            later[0] = "20" + later[0][2:]
        return _join(header, rows), f"line {max(row, 1) + 2}"
    if kind == "binary":
        return "\x00\x01\x02" + garbage, None
    if kind == "empty":
        return "", "line 1"
    if kind == "header_only":
        return ",".join(header) + "\n", None
    raise AssertionError(kind)


@FUZZ
@given(
    kind=st.sampled_from(LIVELINK_MUTATIONS),
    row=st.integers(0, 7),
    cell=st.integers(0, 60),
    garbage=st.sampled_from(["abc", "", "1e999", "-inf", "NaN", "12:00", "--1", "1.2.3"]),
)
def test_malformed_livelink_files_are_refused(tmp_path, assets_dir, kind, row, cell, garbage):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    text, where = _mutate_livelink(_valid_livelink(tmp_path), kind, row, cell, garbage)
    bad = folder / "take_livelink.csv"
    bad.write_text(text)
    before = snapshot(folder)
    assert_refused(run("import-livelink", str(bad), "--out", str(folder / "out.csv")), bad, where)
    assert snapshot(folder) == before


@pytest.mark.parametrize("fps", [24.0, 25.0, 30.0, 50.0, 60.0])
def test_livelink_frame_rate_is_inferred_and_said(tmp_path, assets_dir, fps):
    source = tmp_path / "take.csv"
    source.write_text(_valid_livelink(tmp_path, fps=fps, frames=int(2 * fps)))
    code, _out, err = run("import-livelink", str(source), "--out", str(tmp_path / "out.csv"))
    assert code == 0, err
    assert f"frame rate {fps:g} fps, inferred" in err and "--fps" in err
    curves = TakeCurves.read_csv(tmp_path / "out.csv")
    np.testing.assert_allclose(np.diff(curves.time_s), 1 / fps, atol=2e-6)
    code, _out, err = run("import-livelink", str(source), "--out", str(tmp_path / "given.csv"), "--fps", str(fps))
    assert code == 0 and "frame rate" not in err


def test_a_livelink_take_across_midnight_is_one_take(tmp_path, assets_dir):
    text = _valid_livelink(tmp_path, fps=30.0, frames=60, start_s=0.0)  # 00:00:00:ff then 00:00:01:ff
    night = text.replace("\n00:00:00:", "\n23:59:59:").replace("\n00:00:01:", "\n00:00:00:")
    source = tmp_path / "night.csv"
    source.write_text(night)
    assert "23:59:59:29" in night and "00:00:00:00" in night
    code, _out, err = run("import-livelink", str(source), "--out", str(tmp_path / "out.csv"))
    assert code == 0, err
    curves = TakeCurves.read_csv(tmp_path / "out.csv")
    np.testing.assert_allclose(curves.time_s, np.arange(60) / 30.0, atol=2e-6)


# ----------------------------------------------------------------------------------------------------------
# Rig-parameter files


def _write_rig_parameters(path: Path, kind: str, rig) -> str | None:
    """A malformed rig-parameter file; returns what the one line must say, when it says something specific."""
    names, deltas = np.array(rig.expression_names), rig.expression_deltas
    good = {"format": np.array(RIG_PARAMETERS_FORMAT), "version": np.array(1), "units": np.array("cm"),
            "expression_names": names, "expression_deltas": deltas}  # fmt: skip
    if kind == "random_bytes":
        path.write_bytes(np.random.default_rng(0).bytes(300))
        return "not an .npz file"
    if kind == "text":
        path.write_text("expression_deltas = 0.1\n")
        return "not an .npz file"
    if kind == "truncated":
        RigParameters(rig.expression_names, deltas).save(path)
        path.write_bytes(path.read_bytes()[:5000])
        return "damaged .npz file"
    if kind == "pickled":
        with open(path, "wb") as handle:
            np.savez(handle, **{**good, "expression_names": np.array(list(rig.expression_names), object)})
        return "Python objects"
    if kind == "no_format":
        np.savez(path, expression_names=names, expression_deltas=deltas)
        return "not a rig-parameter file"
    if kind == "nan":
        bad = deltas.copy()
        bad[4, 100, 1] = np.nan
        np.savez(path, **{**good, "expression_deltas": bad})
        return "NaN"
    if kind == "absurd":
        np.savez(path, **{**good, "expression_deltas": deltas * 1e6})
        return "not rig parameters in centimetres"
    if kind == "wrong_shape":
        np.savez(path, **{**good, "expression_deltas": deltas[:, :100]})
        return None
    if kind == "wrong_names":
        np.savez(path, **{**good, "expression_names": np.array([f"c{i}" for i in range(len(names))])})
        return "control names"
    if kind == "newer":
        np.savez(path, **{**good, "version": np.array(99)})
        return "newer than this studio reads"
    if kind == "missing_deltas":
        np.savez(path, format=good["format"], version=good["version"], expression_names=names)
        return "missing expression_deltas"
    raise AssertionError(kind)


RIG_FILE_KINDS = ("random_bytes", "text", "truncated", "pickled", "no_format", "nan", "absurd", "wrong_shape",
                  "wrong_names", "newer", "missing_deltas")  # fmt: skip


@pytest.mark.parametrize("kind", RIG_FILE_KINDS)
def test_malformed_rig_parameters_are_refused_before_tracking(tmp_path, ict_rig, kind):
    bad = tmp_path / "theta.npz"
    says = _write_rig_parameters(bad, kind, ict_rig)
    video = tmp_path / "take.mp4"
    video.write_bytes(b"never read: the rig parameters are checked first")
    before = snapshot(tmp_path)
    line = assert_refused(run("track", str(video), "--rig-params", str(bad), "--out", str(tmp_path / "o.csv")), bad)
    if says is not None:
        assert says in line
    assert "allow_pickle" not in line and "raise the threshold" not in line
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------------------------------------
# Videos


VIDEO_KINDS = ("random_bytes", "text", "empty", "header_only", "folder", "missing", "extension", "audio_only",
               "backwards")


@pytest.mark.parametrize("kind", VIDEO_KINDS)
def test_bad_videos_are_refused(tmp_path, assets_dir, short_clip, media_files, kind):
    video = tmp_path / {"extension": "clip.txt", "backwards": "clip.mkv"}.get(kind, "clip.mp4")
    if kind == "random_bytes":
        video.write_bytes(np.random.default_rng(2).bytes(20000))
    elif kind == "text":
        video.write_text("this is not a video\n" * 100)
    elif kind == "empty":
        video.write_bytes(b"")
    elif kind == "header_only":
        real = short_clip(tmp_path / "real.avi", frames=10)
        video.write_bytes(real.read_bytes()[:400])
        real.unlink()
    elif kind == "folder":
        video.mkdir()
    elif kind == "extension":
        video.write_text("x")
    elif kind == "audio_only":
        media_files.audio_only(video)
    elif kind == "backwards":  # a face-less clip whose timestamps go backwards at frame 5
        media_files.backwards_video(video)
    before = snapshot(tmp_path)
    assert_refused(run("track", str(video), "--out", str(tmp_path / "o.csv"), "--json", str(tmp_path / "o.json")),
                   video.name)  # fmt: skip
    assert snapshot(tmp_path) == before


def test_a_truncated_video_is_tracked_and_says_so(tmp_path, assets_dir, short_clip):
    real = short_clip(tmp_path / "real.avi", frames=30)
    cut = tmp_path / "cut.avi"
    data = real.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    code, _out, err = run("track", str(cut), "--out", str(tmp_path / "o.csv"), "--json", str(tmp_path / "o.json"))
    assert code == 0, err
    assert "Warning" not in err and "warning: " in err and "ends early" in err
    import json

    stats = json.loads((tmp_path / "o.json").read_text())
    assert stats["truncated"] and stats["frames"] < 30


# ----------------------------------------------------------------------------------------------------------
# Outputs that would destroy an input


@pytest.fixture(scope="module")
def take_files(tmp_path_factory, assets_dir, short_clip):
    folder = tmp_path_factory.mktemp("outputs")
    clip = short_clip(folder / "clip.avi", frames=20)
    assert run("track", str(clip), "--out", str(folder / "take.csv"))[0] == 0
    assert run("export", str(folder / "take.csv"), "--format", "livelink", "--out", str(folder / "ll.csv"))[0] == 0
    return folder


@pytest.mark.parametrize(
    "argv",
    [
        ["track", "{clip}", "--out", "{clip}"],
        ["track", "{clip}", "--out", "{folder}/new.csv", "--json", "{clip}"],
        ["track", "{clip}", "--out", "{folder}/same.csv", "--json", "{folder}/same.csv"],
        ["track", "{clip}", "--out", "{folder}/x.csv", "--json", "{folder}/take.csv/x.json"],
        ["track", "{clip}", "--out", "{folder}"],
        ["retarget", "{take}", "--target", "rook", "--out", "{take}"],
        ["retarget", "{take}", "--target", "rook", "--out", "{folder}/./take.csv"],
        ["export", "{take}", "--format", "glb", "--out", "{take}"],
        ["export", "{take}", "--format", "json", "--out", "{link}"],
        ["export", "{take}", "--format", "usd", "--out", "{take}"],
        ["import-livelink", "{ll}", "--out", "{ll}"],
        ["render", "--out", "{take}/x.png"],
        ["emotion", "{take}", "--out", "{link}"],
    ],
    ids=["track-out", "track-json", "track-out-json", "track-json-under-file", "track-out-folder", "retarget",
         "retarget-dot", "export-glb", "export-hard-link", "export-usd", "import-livelink", "render-under-file", "emotion"],
)
def test_an_output_that_is_an_input_is_refused_before_any_work(take_files, tmp_path, argv):
    folder = tmp_path / "work"
    shutil.copytree(take_files, folder)
    link = folder / "link.csv"
    os.link(folder / "take.csv", link)
    names = {"clip": folder / "clip.avi", "folder": folder, "take": folder / "take.csv", "ll": folder / "ll.csv",
             "link": link}  # fmt: skip
    before = snapshot(folder)
    assert_refused(run(*(a.format(**names) for a in argv)), folder)
    assert snapshot(folder) == before


# ----------------------------------------------------------------------------------------------------------
# render


@pytest.mark.parametrize(
    "argv",
    [["--size", "0"], ["--size", "-5"], ["--size", "100000"], ["--control", "jawOpen=nan"],
     ["--control", "jawOpen=2"], ["--yaw", "inf"], ["--pitch", "nan"], ["--roll", "720"], ["--identity", "1,nan"]],
    ids=["size0", "size-5", "size-huge", "control-nan", "control-2", "yaw-inf", "pitch-nan", "roll-720", "identity"],
)  # fmt: skip
def test_render_refuses_impossible_values(tmp_path, assets_dir, argv):
    code, _out, err = run("render", *argv, "--out", str(tmp_path / "x.png"))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert argv[0] in err
    assert not any(tmp_path.iterdir())


# ----------------------------------------------------------------------------------------------------------
# Sessions: calibrate, finetune and session synthetic


@pytest.fixture(scope="module")
def recorded_session(tmp_path_factory, record_synthetic_session):
    """A calibrated and fine-tuned synthetic session of three expressions."""
    folder = tmp_path_factory.mktemp("session") / "s"
    record_synthetic_session(folder, 4, ["jaw_open", "smile", "brows_up"])
    assert run("calibrate", str(folder))[0] == 0
    return folder


def _burst(folder: Path, name: str) -> Path:
    return folder / ("neutral" if name == "neutral" else f"captures/{name}") / "burst.npz"


def _with_nan(path: Path, array: str, rows: int = 10) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    values = arrays[array].copy()
    values[..., :rows, :] = np.nan
    arrays[array] = values
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


SESSION_DAMAGE = ("nan_capture", "nan_neutral", "burst_random_bytes", "burst_pickled", "burst_missing",
                  "session_json_garbage", "session_json_not_a_session", "session_json_newer", "session_json_empty",
                  "burst_missing_array")  # fmt: skip


def _damage(folder: Path, kind: str) -> str:
    """Damage a session; returns what the one line must name."""
    if kind == "nan_capture":
        for array in ("landmarks_px", "aligned", "averaged"):
            _with_nan(_burst(folder, "jaw_open"), array)
        return "jaw_open"
    if kind == "nan_neutral":
        _with_nan(_burst(folder, "neutral"), "averaged", rows=3)
        return "neutral/burst.npz"
    if kind == "burst_random_bytes":
        _burst(folder, "smile").write_bytes(np.random.default_rng(3).bytes(999))
        return "smile/burst.npz"
    if kind == "burst_pickled":
        path = _burst(folder, "brows_up")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        arrays["flags_json"] = np.array([{"evil": 1}], object)
        np.savez(path.with_suffix(""), **arrays)
        return "brows_up/burst.npz"
    if kind == "burst_missing":
        _burst(folder, "smile").unlink()
        return "smile"
    if kind == "burst_missing_array":
        path = _burst(folder, "jaw_open")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files if key != "averaged"}
        np.savez(path.with_suffix(""), **arrays)
        return "averaged"
    session_json = folder / "session.json"
    if kind == "session_json_garbage":
        session_json.write_bytes(b"{\"format\": \x00\xff")
    elif kind == "session_json_not_a_session":
        session_json.write_text('{"format": "something-else"}')
    elif kind == "session_json_newer":
        session_json.write_text(session_json.read_text().replace('"version": "1.0"', '"version": "9.0"'))
    elif kind == "session_json_empty":
        session_json.write_text("")
    return "session.json"


@pytest.mark.parametrize("command", ["calibrate", "finetune"])
@pytest.mark.parametrize("kind", SESSION_DAMAGE)
def test_a_damaged_session_is_refused_and_its_results_kept(recorded_session, tmp_path, kind, command):
    folder = tmp_path / "s"
    shutil.copytree(recorded_session, folder)
    names = _damage(folder, kind)
    before = snapshot(folder)
    assert_refused(run(command, str(folder)), names)
    assert snapshot(folder) == before  # θ_S, its report and everything else as they were


def test_session_synthetic_never_mixes_two_performers(recorded_session, tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(recorded_session, folder)
    before = snapshot(folder)
    assert_refused(run("session", "synthetic", str(folder), "--seed", "5", "--quiet"), folder, "another synthetic")
    assert snapshot(folder) == before
    theirs = tmp_path / "person"
    shutil.copytree(recorded_session, theirs)
    (theirs / "calibration" / "theta_GT.npz").unlink()
    before = snapshot(theirs)
    assert_refused(run("session", "synthetic", str(theirs), "--seed", "4", "--quiet"), theirs, "without a known")
    assert snapshot(theirs) == before


def test_a_new_calibration_moves_the_stale_finetuned_rig_aside(recorded_session, tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(recorded_session, folder)
    calibration = folder / "calibration"
    stale = RigParameters(("jawOpen",), np.zeros((1, 3, 3), np.float32), {"stage": "theta_S_hat"})
    stale.save(calibration / "theta_S_hat.npz")
    (calibration / "finetune_report.json").write_text("{}\n")
    stale_bytes = (calibration / "theta_S_hat.npz").read_bytes()
    code, _out, err = run("calibrate", str(folder))
    assert code == 0, err
    assert "moved to calibration/superseded/" in err
    assert not (calibration / "theta_S_hat.npz").exists() and not (calibration / "finetune_report.json").exists()
    (moved,) = (calibration / "superseded").iterdir()
    assert (moved / "theta_S_hat.npz").read_bytes() == stale_bytes
    assert (moved / "finetune_report.json").exists()
    import json

    json.loads((calibration / "report.json").read_text())  # strict JSON (no NaN literal)
    assert "NaN" not in (calibration / "report.json").read_text()


# ----------------------------------------------------------------------------------------------------------
# The learned tracker's files: a network that is not one, a dataset folder without shards


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not a network", b"\x80\x02}q\x00."])
def test_a_bad_network_file_is_one_line_and_writes_nothing(tmp_path, content, assets_dir):
    video = tmp_path / "take.mp4"
    video.write_bytes(b"")  # never opened: the network is read first
    network = tmp_path / "net.pt"
    network.write_bytes(content)
    before = snapshot(tmp_path)
    line = assert_refused(run("track", str(video), "--tracker", "network", "--network", str(network), "--out",
                              str(tmp_path / "c.csv")), network)
    assert "network" in line
    assert snapshot(tmp_path) == before


def test_training_on_a_folder_without_shards_is_one_line(tmp_path, assets_dir):
    empty = tmp_path / "data"
    empty.mkdir()
    line = assert_refused(run("train", "inversion", "--data", str(empty), "--out", str(tmp_path / "n.pt"),
                              "--quiet"), empty)
    assert "dataset inversion" in line and not (tmp_path / "n.pt").exists()


def test_track_refuses_a_device_it_lacks_and_no_workers_in_one_line(tmp_path, assets_dir, short_clip):
    import torch

    clip = short_clip(tmp_path / "clip.avi", frames=10)
    before = snapshot(tmp_path)
    assert_refused(run("track", str(clip), "--out", str(tmp_path / "o.csv"), "--workers", "0"), "--workers")
    if not torch.cuda.is_available():
        assert_refused(run("track", str(clip), "--tracker", "network", "--device", "cuda",
                           "--out", str(tmp_path / "o.csv")), "cuda")  # fmt: skip
    assert_refused(run("track", str(clip), "--tracker", "network", "--device", "tpu",
                       "--out", str(tmp_path / "o.csv")), "tpu")  # fmt: skip
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------------------------------------
# Per-shape response files (export --response)


def test_export_applies_a_response_file_and_refuses_a_bad_one_in_one_line(tmp_path):
    import json

    from studio.core.rig.definition import RigDefinition
    from studio.core.rig.response import ResponseSet, ShapeResponse

    names = RigDefinition.ict().control_names
    values = np.full((20, len(names)), 0.2, np.float32)
    curves = TakeCurves(names, np.arange(20) / 30.0, np.ones(20, bool), values)
    curves.write_csv(tmp_path / "take.csv")
    response = ResponseSet({"jawOpen": ShapeResponse(multiplier=3.0)})
    (tmp_path / "response.json").write_text(json.dumps(response.to_json()))
    code, _out, err = run("export", str(tmp_path / "take.csv"), "--format", "csv", "--response",
                          str(tmp_path / "response.json"), "--out", str(tmp_path / "shaped.csv"))  # fmt: skip
    assert code == 0, err
    shaped = TakeCurves.read_csv(tmp_path / "shaped.csv")
    jaw = names.index("jawOpen")
    assert shaped.values[0, jaw] == np.float32(0.6) and shaped.values[0, jaw - 1] == np.float32(0.2)
    for broken, says in (({"jawOpen": {"curve": [[0, 0], [0.5, 0.8], [0.6, 0.3], [1, 1]]}}, "not monotone"),
                         ({"jawOpen": {"curve": [[0, 0], [0.5, 1.4], [1, 1]]}}, "leaves [0, 1]")):
        (tmp_path / "bad.json").write_text(json.dumps({**response.to_json(), "shapes": broken}))
        before = snapshot(tmp_path)
        line = assert_refused(run("export", str(tmp_path / "take.csv"), "--format", "livelink", "--response",
                                  str(tmp_path / "bad.json"), "--out", str(tmp_path / "o.csv")), "bad.json")  # fmt: skip
        assert says in line
        assert snapshot(tmp_path) == before
