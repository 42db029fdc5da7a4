"""Exchange formats: Live Link Face CSV, take-curves JSON and glTF morph animation; gap filling."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pygltflib
import pytest
import trimesh

from studio.core.io.arkit import ARKIT_BLENDSHAPE_NAMES
from studio.core.io.curves import (
    TakeCurves,
    TakeFileError,
    fill_missing_frames,
    read_curves_json,
    write_curves_json,
)
from studio.core.io.gltf import read_morph_glb_summary, write_morph_glb
from studio.core.io.livelink import eye_angles_from_arkit, read_livelink_csv, write_livelink_csv

# Spelled out from the format's description, not derived from the module: ARKit order, PascalCase, with
# JawRight before JawLeft and MouthRight before MouthLeft.
EXPECTED_HEADER = [
    "Timecode", "BlendshapeCount",
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft", "EyeSquintLeft",
    "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight",
    "EyeSquintRight", "EyeWideRight", "JawForward", "JawRight", "JawLeft", "JawOpen", "MouthClose",
    "MouthFunnel", "MouthPucker", "MouthRight", "MouthLeft", "MouthSmileLeft", "MouthSmileRight",
    "MouthFrownLeft", "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft",
    "MouthStretchRight", "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper",
    "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft",
    "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft",
    "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft",
    "NoseSneerRight", "TongueOut",
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw",
    "RightEyePitch", "RightEyeRoll",
]  # fmt: skip
TIMECODE = re.compile(r"^\d\d:\d\d:\d\d:\d\d\.\d\d\d$")


def _pascal(name: str) -> str:
    return name[0].upper() + name[1:]


def _distinct_arkit(num_frames: int) -> np.ndarray:
    """A distinct value per shape and frame: shape i, frame t -> (i + 1) / 100 + t / 1000."""
    return (np.arange(1, 53)[None, :] / 100 + np.arange(num_frames)[:, None] / 1000).astype(np.float32)


def _rows(path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text())))


def _write_rows(path, rows: list[list[str]]) -> None:
    path.write_text("".join(",".join(row) + "\n" for row in rows))


# ----------------------------------------------------------------------------------------------------------
# Live Link Face CSV: writing
# ----------------------------------------------------------------------------------------------------------


def test_livelink_header_counts_timecodes_and_values_by_name(tmp_path):
    num_frames = 35
    arkit = _distinct_arkit(num_frames)
    head = np.tile([[0.25, -0.5, 0.125]], (num_frames, 1))
    path = write_livelink_csv(tmp_path / "take.csv", np.arange(num_frames) / 30, arkit, fps=30, head=head)
    rows = _rows(path)
    assert rows[0] == EXPECTED_HEADER
    assert len(rows) == num_frames + 1
    assert all(len(row) == 63 for row in rows)
    assert all(row[1] == "61" for row in rows[1:])
    timecodes = [row[0] for row in rows[1:]]
    assert all(TIMECODE.match(code) for code in timecodes)
    assert timecodes[:2] == ["00:00:00:00.000", "00:00:00:01.000"]
    assert timecodes[29:32] == ["00:00:00:29.000", "00:00:01:00.000", "00:00:01:01.000"]

    records = list(csv.DictReader(io.StringIO(path.read_text())))
    for frame in (0, 7, 34):
        for index, name in enumerate(ARKIT_BLENDSHAPE_NAMES):
            assert float(records[frame][_pascal(name)]) == pytest.approx(arkit[frame, index], abs=1e-6), name
        assert [float(records[frame][c]) for c in ("HeadYaw", "HeadPitch", "HeadRoll")] == [0.25, -0.5, 0.125]
        for column in (
            "LeftEyeYaw",
            "LeftEyePitch",
            "LeftEyeRoll",
            "RightEyeYaw",
            "RightEyePitch",
            "RightEyeRoll",
        ):
            assert records[frame][column] == "0"
    # the two swapped pairs hold their own shapes' values, whatever their position
    assert float(records[0]["JawLeft"]) == pytest.approx((ARKIT_BLENDSHAPE_NAMES.index("jawLeft") + 1) / 100)
    assert float(records[0]["MouthRight"]) == pytest.approx(
        (ARKIT_BLENDSHAPE_NAMES.index("mouthRight") + 1) / 100
    )


def test_livelink_clips_values_and_uses_start_timecode(tmp_path):
    arkit = np.zeros((2, 52))
    arkit[:, 0] = [1.5, -0.25]
    start = 17 * 3600 + 35 * 60 + 44 + 9.64 / 30
    path = write_livelink_csv(
        tmp_path / "take.csv", np.array([0.0, 1 / 30]), arkit, fps=30, start_timecode_s=start
    )
    rows = _rows(path)
    assert [row[0] for row in rows[1:]] == ["17:35:44:09.640", "17:35:44:10.640"]
    assert [row[2] for row in rows[1:]] == ["1", "0"]  # EyeBlinkLeft clipped to [0, 1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"arkit": np.zeros((3, 51))}, "arkit must have shape"),
        ({"arkit": np.full((3, 52), np.nan)}, "NaN"),
        ({"head": np.zeros((3, 2))}, "head must have shape"),
        ({"eyes": np.full((3, 6), np.inf)}, "eyes contains NaN"),
        ({"fps": 0}, "fps"),
        ({"fps": -30}, "fps"),
        ({"time_s": np.array([0.0, 0.1, 0.1])}, "strictly increase"),
        ({"time_s": np.zeros((3, 1))}, "time_s must have shape"),
    ],
)
def test_livelink_write_rejects_bad_input(tmp_path, kwargs, match):
    arguments = {"time_s": np.arange(3) / 30, "arkit": np.zeros((3, 52)), "fps": 30} | kwargs
    with pytest.raises(ValueError, match=match):
        write_livelink_csv(tmp_path / "take.csv", **arguments)
    assert not (tmp_path / "take.csv").exists()


# ----------------------------------------------------------------------------------------------------------
# Live Link Face CSV: reading
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fps", "num_frames"), [(30, 45), (60, 130)])
def test_livelink_round_trip_infers_fps(tmp_path, fps, num_frames):
    rng = np.random.default_rng(fps)
    arkit = rng.random((num_frames, 52)).astype(np.float32)
    head = rng.uniform(-1, 1, (num_frames, 3))
    eyes = eye_angles_from_arkit(arkit)
    times = np.arange(num_frames) / fps
    path = write_livelink_csv(tmp_path / "take.csv", times, arkit, fps=fps, head=head, eyes=eyes)
    take = read_livelink_csv(path)
    assert take.fps == fps  # no fps in the file: 60 because frame numbers exceed 30
    assert take.num_frames == num_frames and take.arkit.dtype == np.float32
    np.testing.assert_allclose(take.time_s, times, atol=1e-6)
    np.testing.assert_allclose(take.arkit, arkit, atol=1e-6)
    np.testing.assert_allclose(take.head, head, atol=1e-6)
    np.testing.assert_allclose(take.eyes, eyes, atol=1e-6)
    assert take.timecodes[0] == "00:00:00:00.000"


def test_livelink_round_trip_with_time_of_day_start(tmp_path):
    times = np.arange(70) / 60
    start = 10 * 3600 + 59 * 60 + 59.5  # crosses into 11:00:00
    path = write_livelink_csv(
        tmp_path / "take.csv", times, np.zeros((70, 52)), fps=60, start_timecode_s=start
    )
    take = read_livelink_csv(path)
    assert take.timecodes[0] == "10:59:59:30.000" and take.timecodes[30] == "11:00:00:00.000"
    np.testing.assert_allclose(take.time_s, times, atol=1e-6)
    assert take.start_timecode_s == pytest.approx(start)


def _capture_text(header: list[str], timecodes: list[str], values: dict[str, list[float]]) -> str:
    lines = [",".join(header)]
    for frame, timecode in enumerate(timecodes):
        cells = []
        for column in header:
            if column == "Timecode":
                cells.append(timecode)
            elif column.lower() == "blendshapecount":
                cells.append("61")
            else:
                cells.append(f"{values[column][frame]:.6f}")
        lines.append(",".join(cells))
    return "\r\n".join(lines) + "\r\n"


def test_livelink_reads_real_capture_style_by_header_name(tmp_path):
    header = EXPECTED_HEADER.copy()
    header[1] = "BlendShapeCount"
    rng = np.random.default_rng(3)
    shuffled = [header[i] for i in rng.permutation(len(header))]
    values = {column: list(rng.random(3)) for column in header[2:]}
    timecodes = ["17:35:44:09.640", "17:35:44:10.640", "17:35:44:11.640"]
    path = tmp_path / "MySlate_7_iPhone.csv"
    path.write_text(_capture_text(shuffled, timecodes, values))
    take = read_livelink_csv(path)
    assert take.fps == 30 and take.timecodes == tuple(timecodes)
    np.testing.assert_allclose(take.time_s, [0.0, 1 / 30, 2 / 30], atol=1e-9)
    for index, name in enumerate(ARKIT_BLENDSHAPE_NAMES):
        np.testing.assert_allclose(take.arkit[:, index], values[_pascal(name)], atol=1e-6, err_msg=name)
    np.testing.assert_allclose(take.head[:, 0], values["HeadYaw"], atol=1e-6)
    np.testing.assert_allclose(take.eyes[:, 3], values["RightEyeYaw"], atol=1e-6)


def test_livelink_reads_60_fps_across_a_second_and_without_angle_columns(tmp_path):
    header = EXPECTED_HEADER[:54]  # no head or eye columns
    values = {column: [0.5, 0.25, 0.125] for column in header[2:]}
    timecodes = ["17:35:44:58.500", "17:35:44:59.500", "17:35:45:00.500"]
    path = tmp_path / "take.csv"
    path.write_text(_capture_text(header, timecodes, values))
    take = read_livelink_csv(path)
    assert take.fps == 60
    np.testing.assert_allclose(take.time_s, [0.0, 1 / 60, 2 / 60], atol=1e-9)
    assert take.head.shape == (3, 3) and not take.head.any()
    assert take.eyes.shape == (3, 6) and not take.eyes.any()
    at_120 = read_livelink_csv(path, fps=120)  # a given rate is used as is
    assert at_120.fps == 120
    np.testing.assert_allclose(at_120.time_s, [0.0, 1 / 120, 1 - 58 / 120], atol=1e-9)


def _good_rows(tmp_path) -> list[list[str]]:
    path = write_livelink_csv(tmp_path / "good.csv", np.arange(4) / 30, _distinct_arkit(4), fps=30)
    return _rows(path)


def _drop_column(rows, name):
    col = rows[0].index(name)
    return [row[:col] + row[col + 1 :] for row in rows]


def _set(rows, line, name, cell):
    rows[line - 1][rows[0].index(name)] = cell
    return rows


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda rows: _drop_column(rows, "JawOpen"), r"line 1: missing column\(s\) JawOpen"),
        (lambda rows: _drop_column(rows, "Timecode"), r"line 1: missing column\(s\) Timecode"),
        (lambda rows: [row + ["1"] for row in rows[:1]] + [row + ["0"] for row in rows[1:]], "line 1"),
        (lambda rows: [rows[0][:-1] + ["Smile"]] + rows[1:], r"line 1: unknown column\(s\) 'Smile'"),
        (
            lambda rows: [rows[0] + ["EyeBlinkLeft"]] + [row + ["0"] for row in rows[1:]],
            "line 1: column EyeBlinkLeft",
        ),
        (lambda rows: _set(rows, 3, "MouthClose", "nan"), "line 3, column MouthClose: 'nan' is not a finite"),
        (lambda rows: _set(rows, 2, "CheekPuff", "abc"), "line 2, column CheekPuff: not a number"),
        (
            lambda rows: _set(rows, 4, "Timecode", rows[2][0]),
            "line 4, column Timecode: time does not increase",
        ),
        (lambda rows: _set(rows, 3, "Timecode", "00:00:00:00.000"), "line 3, column Timecode: time does not"),
        (
            lambda rows: rows[:2] + [rows[2][:-1]] + rows[3:],
            "line 3: 62 columns, header has 63, column RightEyeRoll",
        ),
        (
            lambda rows: _set(rows, 2, "Timecode", "12:xx:00:01.0"),
            "line 2, column Timecode: expected a timecode",
        ),
        (
            lambda rows: _set(rows, 5, "Timecode", "00:00:61:01.0"),
            "line 5, column Timecode: expected a timecode",
        ),
        (
            lambda rows: _set(rows, 2, "BlendshapeCount", "6.1"),
            "line 2, column BlendshapeCount: expected an integer",
        ),
        (lambda rows: rows[:1], "no frames"),
        (lambda rows: [], "line 1: empty file"),
    ],
)
def test_livelink_malformed_files_name_line_and_column(tmp_path, edit, match):
    path = tmp_path / "bad.csv"
    _write_rows(path, edit(_good_rows(tmp_path)))
    with pytest.raises(TakeFileError, match=match) as error:
        read_livelink_csv(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_livelink_unreadable_file(tmp_path):
    with pytest.raises(TakeFileError, match="cannot read"):
        read_livelink_csv(tmp_path / "missing.csv")


def test_failed_write_leaves_the_old_file_untouched(tmp_path):
    path = write_livelink_csv(tmp_path / "take.csv", np.arange(3) / 30, np.full((3, 52), 0.5), fps=30)
    before = path.read_bytes()
    arkit = np.full((3, 52), 0.5)
    arkit[1, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_livelink_csv(path, np.arange(3) / 30, arkit, fps=30)
    curves = TakeCurves(
        ("a",), np.array([0.0, 1.0]), np.array([True, True]), np.array([[0.5], [np.nan]], np.float32)
    )
    json_path = write_curves_json(
        tmp_path / "take.json",
        TakeCurves(("a",), np.zeros(1), np.ones(1, bool), np.zeros((1, 1), np.float32)),
    )
    json_before = json_path.read_bytes()
    with pytest.raises(ValueError, match="frame 1 has a face but NaN"):
        write_curves_json(json_path, curves)
    assert path.read_bytes() == before and json_path.read_bytes() == json_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.csv", "take.json"]  # no temporary files left


# ----------------------------------------------------------------------------------------------------------
# Eye angles
# ----------------------------------------------------------------------------------------------------------


def test_eye_yaw_is_positive_toward_the_performers_left_for_both_eyes():
    arkit = np.zeros((3, 52), np.float32)
    index = ARKIT_BLENDSHAPE_NAMES.index
    # frame 0: both eyes look to the performer's left, frame 1: to their right, frame 2: left up, right down
    arkit[0, [index("eyeLookOutLeft"), index("eyeLookInRight")]] = 0.6
    arkit[1, [index("eyeLookInLeft"), index("eyeLookOutRight")]] = 0.4
    arkit[2, [index("eyeLookUpLeft"), index("eyeLookDownRight")]] = 0.5
    angles = eye_angles_from_arkit(arkit)
    assert angles.shape == (3, 6) and angles.dtype == np.float32
    np.testing.assert_allclose(angles[0], [0.6, 0, 0, 0.6, 0, 0], atol=1e-7)
    np.testing.assert_allclose(angles[1], [-0.4, 0, 0, -0.4, 0, 0], atol=1e-7)
    np.testing.assert_allclose(angles[2], [0, 0.5, 0, 0, -0.5, 0], atol=1e-7)
    with pytest.raises(ValueError, match="shape"):
        eye_angles_from_arkit(np.zeros((3, 53)))


# ----------------------------------------------------------------------------------------------------------
# Take curves JSON
# ----------------------------------------------------------------------------------------------------------


def _curves() -> TakeCurves:
    values = np.array([[0.1, 0.5], [np.nan, np.nan], [0.25, 1.0], [np.nan, np.nan]], np.float32)
    found = np.array([True, False, True, False])
    return TakeCurves(("jawOpen", "mouthClose"), np.arange(4) / 30, found, values)


def test_curves_json_round_trip_with_frames_without_a_face(tmp_path):
    path = write_curves_json(tmp_path / "take.json", _curves(), target="ict_facekit", fps=30)
    document = json.loads(path.read_text())
    assert document["format"] == "simon-says-take-curves" and document["version"] == 2
    assert document["target"] == "ict_facekit" and document["fps"] == 30.0
    assert document["control_names"] == ["jawOpen", "mouthClose"]
    assert document["face_found"] == [True, False, True, False]
    # shortest float32 decimals, null for no face
    assert document["curves"]["jawOpen"] == [0.1, None, 0.25, None]
    loaded = read_curves_json(path)
    assert loaded.control_names == ("jawOpen", "mouthClose")
    np.testing.assert_array_equal(loaded.face_found, _curves().face_found)
    np.testing.assert_array_equal(loaded.time_s, _curves().time_s)
    np.testing.assert_array_equal(loaded.values, _curves().values)  # exact, NaN rows included
    assert loaded.values.dtype == np.float32
    default_fps = json.loads(write_curves_json(tmp_path / "b.json", _curves()).read_text())["fps"]
    assert default_fps == pytest.approx(30)  # the mean rate of the timestamps


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d | {"format": "something-else"}, "not a take-curves file"),
        (lambda d: d | {"version": 3}, "unsupported version 3"),
        (lambda d: {k: v for k, v in d.items() if k != "face_found"}, r"missing field\(s\) face_found"),
        (lambda d: d | {"time_s": [0.0, 0.1, 0.1, 0.2]}, r"time_s\[2\]: time does not increase"),
        (lambda d: d | {"face_found": [True, False]}, "face_found has 2 values"),
        (lambda d: d | {"curves": {"jawOpen": d["curves"]["jawOpen"]}}, "curves must map exactly"),
        (
            lambda d: d | {"curves": d["curves"] | {"jawOpen": [None, None, 0.2, None]}},
            r"curves.jawOpen\[0\]: null",
        ),
        (
            lambda d: d | {"curves": d["curves"] | {"jawOpen": [0.1, 0.3, 0.2, None]}},
            r"curves.jawOpen\[1\]: a value",
        ),
        (
            lambda d: d | {"curves": d["curves"] | {"jawOpen": [0.1, None, "x", None]}},
            r"jawOpen\[2\]: expected a finite",
        ),
    ],
)
def test_curves_json_malformed_files(tmp_path, edit, match):
    document = json.loads(write_curves_json(tmp_path / "good.json", _curves()).read_text())
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(edit(document)))
    with pytest.raises(TakeFileError, match=match) as error:
        read_curves_json(path)
    assert "\n" not in str(error.value)


def test_curves_json_not_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"format": "simon-says-take-curves",\n  "version": }')
    with pytest.raises(TakeFileError, match="line 2, column 14: not valid JSON"):
        read_curves_json(path)


# ----------------------------------------------------------------------------------------------------------
# glTF morph animation
# ----------------------------------------------------------------------------------------------------------


def _accessor(gltf: pygltflib.GLTF2, index: int) -> np.ndarray:
    """Decode an accessor (tightly packed float32 / uint32) straight from the glb's binary chunk."""
    accessor = gltf.accessors[index]
    view = gltf.bufferViews[accessor.bufferView]
    dtype = {pygltflib.FLOAT: np.float32, pygltflib.UNSIGNED_INT: np.uint32}[accessor.componentType]
    width = {"SCALAR": 1, "VEC3": 3}[accessor.type]
    offset = (view.byteOffset or 0) + (accessor.byteOffset or 0)
    data = np.frombuffer(gltf.binary_blob(), dtype, count=accessor.count * width, offset=offset)
    return data.reshape(accessor.count, width)


def _check_glb(path, neutral, triangles, deltas, names, times, weights):
    num_targets, num_vertices = len(names), len(neutral)
    gltf = pygltflib.GLTF2.load(str(path))
    assert len(gltf.buffers) == 1 and len(gltf.meshes) == 1 and len(gltf.meshes[0].primitives) == 1
    mesh = gltf.meshes[0]
    primitive = mesh.primitives[0]
    assert mesh.extras["targetNames"] == list(names)
    assert mesh.weights == [0.0] * num_targets
    assert gltf.scenes[gltf.scene].nodes == [0] and gltf.nodes[0].mesh == 0

    position = gltf.accessors[primitive.attributes.POSITION]
    assert (position.componentType, position.type, position.count) == (pygltflib.FLOAT, "VEC3", num_vertices)
    np.testing.assert_allclose(_accessor(gltf, primitive.attributes.POSITION), neutral * 0.01, atol=1e-6)
    np.testing.assert_allclose(position.min, (neutral * 0.01).min(axis=0), atol=1e-6)
    np.testing.assert_allclose(position.max, (neutral * 0.01).max(axis=0), atol=1e-6)
    indices = gltf.accessors[primitive.indices]
    assert (indices.componentType, indices.type) == (pygltflib.UNSIGNED_INT, "SCALAR")
    np.testing.assert_array_equal(_accessor(gltf, primitive.indices).reshape(-1, 3), triangles)

    assert len(primitive.targets) == num_targets
    for k in sorted({0, num_targets - 1}):
        target = primitive.targets[k]["POSITION"]
        displacement = gltf.accessors[target]
        assert displacement.min is not None and displacement.max is not None
        np.testing.assert_allclose(_accessor(gltf, target), deltas[k] * 0.01, atol=1e-7)

    (animation,) = gltf.animations
    assert animation.name == "take"
    (channel,) = animation.channels
    assert (channel.target.node, channel.target.path) == (0, "weights")
    sampler = animation.samplers[channel.sampler]
    assert sampler.interpolation == "LINEAR"
    time_accessor = gltf.accessors[sampler.input]
    assert time_accessor.min == pytest.approx([times[0]]) and time_accessor.max == pytest.approx([times[-1]])
    np.testing.assert_allclose(_accessor(gltf, sampler.input)[:, 0], times, atol=1e-6)
    np.testing.assert_allclose(
        _accessor(gltf, sampler.output).reshape(len(times), num_targets), weights, atol=1e-7
    )

    summary = read_morph_glb_summary(path)
    assert summary["num_vertices"] == num_vertices and summary["num_targets"] == num_targets
    assert summary["num_triangles"] == len(triangles)
    assert summary["target_names"] == tuple(names)
    np.testing.assert_allclose(summary["times"], times, atol=1e-6)
    np.testing.assert_allclose(summary["weights"], weights, atol=1e-7)

    scene = trimesh.load(str(path), force="scene", process=False)
    (geometry,) = scene.geometry.values()
    assert len(geometry.vertices) == num_vertices
    assert geometry.metadata["targetNames"] == list(names)
    np.testing.assert_allclose(geometry.vertices, neutral * 0.01, atol=1e-6)


def _small_mesh():
    neutral = np.array([[0, 0, 0], [2, 0, 0], [0, 2, 0], [2, 2, 1], [1, 3, 0.5]], float)  # cm
    triangles = np.array([[0, 1, 2], [1, 3, 2], [2, 3, 4]])
    deltas = np.random.default_rng(0).normal(0, 0.5, (3, 5, 3))
    times = np.arange(10) / 30
    weights = np.random.default_rng(1).random((10, 3))
    return neutral, triangles, deltas, ["jawOpen", "mouthClose", "eyeBlink_L"], times, weights


def test_morph_glb_small_mesh(tmp_path):
    neutral, triangles, deltas, names, times, weights = _small_mesh()
    path = write_morph_glb(
        tmp_path / "take.glb",
        neutral=neutral,
        triangles=triangles,
        deltas=deltas,
        target_names=names,
        time_s=times,
        weights=weights,
        mesh_name="performer",
    )
    assert path.read_bytes()[:4] == b"glTF"
    _check_glb(path, neutral, triangles, deltas, names, times, weights)
    assert read_morph_glb_summary(path)["mesh_name"] == "performer"


def test_morph_glb_ict_rig(tmp_path, ict_rig):
    rig = ict_rig
    num_frames = 10
    weights = np.random.default_rng(2).random((num_frames, rig.num_controls)).astype(np.float32)
    times = 1.5 + np.arange(num_frames) / 60
    path = write_morph_glb(
        tmp_path / "ict.glb",
        neutral=rig.neutral,
        triangles=rig.triangles,
        deltas=rig.expression_deltas,
        target_names=rig.expression_names,
        time_s=times,
        weights=weights,
    )
    _check_glb(path, rig.neutral, rig.triangles, rig.expression_deltas, rig.expression_names, times, weights)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"time_s": np.array([0.0, 0.2, 0.1])}, "strictly increase"),
        ({"time_s": np.array([-0.1, 0.0, 0.1])}, ">= 0"),
        ({"weights": np.array([[0.0, np.nan], [0, 0], [0, 0]])}, "weights contains NaN"),
        ({"weights": np.zeros((3, 3))}, "weights must have shape"),
        ({"deltas": np.zeros((2, 5, 3))}, "deltas must have shape"),
        ({"target_names": ["a"]}, "deltas must have shape"),
        ({"neutral": np.zeros((5, 3))}, "deltas must have shape"),
        ({"triangles": np.array([[0, 1, 4]])}, "vertex ids"),
        ({"triangles": np.array([[0.0, 1.0, 2.0]])}, "integers"),
        ({"neutral": np.full((4, 3), np.nan)}, "neutral contains NaN"),
    ],
)
def test_morph_glb_rejects_bad_input(tmp_path, kwargs, match):
    arguments = {
        "neutral": np.eye(4, 3),
        "triangles": np.array([[0, 1, 2], [1, 2, 3]]),
        "deltas": np.zeros((2, 4, 3)),
        "target_names": ["a", "b"],
        "time_s": np.arange(3) / 30,
        "weights": np.zeros((3, 2)),
    } | kwargs
    with pytest.raises(ValueError, match=match):
        write_morph_glb(tmp_path / "take.glb", **arguments)
    assert not (tmp_path / "take.glb").exists()


def test_morph_glb_summary_rejects_other_files(tmp_path):
    path = tmp_path / "take.glb"
    path.write_text("not a glb")
    with pytest.raises(TakeFileError, match="not a binary glTF"):
        read_morph_glb_summary(path)


# ----------------------------------------------------------------------------------------------------------
# Gap filling
# ----------------------------------------------------------------------------------------------------------


def test_fill_missing_frames_interpolates_in_time_and_holds_the_ends():
    times = np.array([0.0, 0.1, 0.2, 0.5, 0.6, 0.7])
    found = np.array([False, True, False, False, True, False])
    values = np.full((6, 2), np.nan, np.float32)
    values[1] = [0.2, 1.0]
    values[4] = [0.7, 0.0]
    filled = fill_missing_frames(times, values, found)
    assert filled.dtype == np.float32 and not np.isnan(filled).any()
    np.testing.assert_allclose(filled[0], [0.2, 1.0])  # held before the first face
    np.testing.assert_allclose(filled[2], [0.3, 0.8], atol=1e-6)  # 1/5 of the way in time, not 1/3 by index
    np.testing.assert_allclose(filled[3], [0.6, 0.2], atol=1e-6)
    np.testing.assert_allclose(filled[5], [0.7, 0.0])  # held after the last face
    np.testing.assert_array_equal(filled[found], values[found])
    assert np.isnan(values[0]).all()  # input untouched


def test_fill_missing_frames_errors():
    with pytest.raises(ValueError, match="no frame of the take has a face"):
        fill_missing_frames(np.arange(3.0), np.full((3, 2), np.nan), np.zeros(3, bool))
    with pytest.raises(ValueError, match="must be"):
        fill_missing_frames(np.arange(3.0), np.zeros((2, 2)), np.ones(3, bool))
    with pytest.raises(ValueError, match="NaN"):
        fill_missing_frames(np.arange(3.0), np.full((3, 2), np.nan), np.ones(3, bool))
