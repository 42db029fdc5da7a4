"""The retargeting commands end to end on a take tracked from real footage: targets, retarget, export,
import-livelink and stream (VMC to a UDP receiver on 127.0.0.1)."""

from __future__ import annotations

import csv
import re
import socket
import threading

import numpy as np
import pytest

from studio.cli import main
from studio.core.io.arkit import ARKIT_BLENDSHAPE_NAMES
from studio.core.io.curves import TakeCurves
from studio.core.rig.definition import RigDefinition

# Live Link Face CSV as Unreal's importer reads it, written out from the format facts (GUIDE §4)
_SWAPPED = {"jawLeft": "jawRight", "jawRight": "jawLeft", "mouthLeft": "mouthRight", "mouthRight": "mouthLeft"}
LIVELINK_HEADER = [
    "Timecode", "BlendshapeCount",
    *(n[0].upper() + n[1:] for n in (_SWAPPED.get(name, name) for name in ARKIT_BLENDSHAPE_NAMES)),
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
]  # fmt: skip


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, assets_dir, short_clip):
    folder = tmp_path_factory.mktemp("retarget")
    clip = short_clip(folder / "clip.avi", frames=45)
    assert main(["track", str(clip), "--out", str(folder / "take.csv"), "--quiet"]) == 0
    return folder / "take.csv"


def test_targets_lists_every_kind(capsys, assets_dir):
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    for name, kind in (("alex", "identity"), ("toon", "stylized"), ("rook", "game"), ("session:FOLDER", "identity")):
        assert re.search(rf"^{re.escape(name)}\s+{kind}\s", out, re.MULTILINE), name


@pytest.mark.parametrize("target", ["alex", "sam", "toon", "rook"])
def test_retarget_writes_the_target_controls(tracked, tmp_path, target):
    from studio.core.retarget.targets import load_target

    out = tmp_path / f"{target}.csv"
    assert main(["retarget", str(tracked), "--target", target, "--out", str(out)]) == 0
    source, result = TakeCurves.read_csv(tracked), TakeCurves.read_csv(out)
    built = load_target(target)
    assert result.control_names == built.control_names and result.num_frames == source.num_frames
    np.testing.assert_array_equal(result.time_s, source.time_s)
    np.testing.assert_allclose(result.values, built.retarget(source.values), atol=2e-6)
    assert np.nanmax(result.values) <= 1.0 and np.nanmin(result.values) >= 0.0


def test_export_livelink_is_what_unreal_reads(tracked, tmp_path):
    out = tmp_path / "take_livelink.csv"
    assert main(["export", str(tracked), "--format", "livelink", "--target", "toon", "--out", str(out)]) == 0
    with out.open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == LIVELINK_HEADER and len(rows[0]) == 63
    source = TakeCurves.read_csv(tracked)
    assert len(rows) - 1 == source.num_frames
    timecode = re.compile(r"^\d\d:\d\d:\d\d:\d\d\.\d\d\d$")
    for index, row in enumerate(rows[1:]):
        assert len(row) == 63 and row[1] == "61" and timecode.match(row[0]), row[:2]
        frame = float(row[0].split(":")[3])
        assert frame == pytest.approx(round(source.time_s[index] * 30.0) % 30, abs=1e-3)  # a 30 fps take
        values = np.asarray(row[2:], float)
        assert np.isfinite(values).all() and (values[:52] >= 0).all() and (values[:52] <= 1).all()
        assert (np.abs(values[52:]) <= 1).all()
    # the toon exaggerates: its Live Link brows are the take's brows × 1.5 (clipped)
    definition = RigDefinition.ict()
    column = rows[0].index("BrowDownLeft")
    take_brow = source.values[:, definition.index_of("browDown_L")]
    np.testing.assert_allclose([float(r[column]) for r in rows[1:]], np.clip(take_brow * 1.5, 0, 1), atol=2e-6)


def test_export_glb_holds_the_target_mesh_and_the_take(tracked, tmp_path):
    import pygltflib
    import trimesh

    from studio.core.retarget.targets import load_target

    rook = load_target("rook")
    out = tmp_path / "rook.glb"
    assert main(["export", str(tracked), "--format", "glb", "--target", "rook", "--out", str(out)]) == 0
    gltf = pygltflib.GLTF2().load(str(out))
    (mesh,) = gltf.meshes
    assert len(mesh.primitives[0].targets) == 13 and mesh.extras["targetNames"] == list(rook.control_names)
    (animation,) = gltf.animations
    assert animation.channels[0].target.path == "weights" and animation.channels[0].target.node == 0
    times = gltf.accessors[animation.samplers[0].input]
    source = TakeCurves.read_csv(tracked)
    assert times.count == source.num_frames and times.max[0] == pytest.approx(source.time_s[-1] - source.time_s[0])
    assert gltf.accessors[animation.samplers[0].output].count == source.num_frames * 13
    scene = trimesh.load(out, force="scene", process=False)
    (geometry,) = scene.geometry.values()
    np.testing.assert_allclose(geometry.vertices, rook.rig.neutral * 0.01, atol=1e-6)  # metres
    assert geometry.metadata["targetNames"] == list(rook.control_names)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_curves_without_target_keeps_the_take(tracked, tmp_path, fmt):
    from studio.core.io.curves import read_curves_json

    out = tmp_path / f"take.{fmt}"
    assert main(["export", str(tracked), "--format", fmt, "--out", str(out)]) == 0
    back = TakeCurves.read_csv(out) if fmt == "csv" else read_curves_json(out)
    source = TakeCurves.read_csv(tracked)
    assert back.control_names == source.control_names
    np.testing.assert_allclose(back.values, source.values, atol=1e-6)


def test_import_livelink_round_trips_the_take(tracked, tmp_path):
    livelink, back = tmp_path / "take_livelink.csv", tmp_path / "back.csv"
    assert main(["export", str(tracked), "--format", "livelink", "--out", str(livelink)]) == 0
    assert main(["import-livelink", str(livelink), "--out", str(back)]) == 0
    source, result = TakeCurves.read_csv(tracked), TakeCurves.read_csv(back)
    assert result.control_names == source.control_names
    np.testing.assert_allclose(result.time_s, source.time_s - source.time_s[0], atol=1e-4)
    definition = RigDefinition.ict()
    # ARKit has one browInnerUp and one cheekPuff: those split pairs come back as their mean
    paired = {name for arkit, idx in definition.arkit_targets().items() if len(idx) > 1
              for name in np.asarray(definition.control_names)[list(idx)]}  # fmt: skip
    for k, name in enumerate(definition.control_names):
        expected = source.values[:, k]
        if name in paired:
            partner = definition.control(name).mirror
            expected = (expected + source.values[:, definition.index_of(partner)]) / 2
        np.testing.assert_allclose(result.values[:, k], expected, atol=2e-6, err_msg=name)


def _receiver() -> tuple[socket.socket, list[bytes], threading.Thread]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(20.0)  # the command starts (loads the take and the target) before its first frame
    datagrams: list[bytes] = []

    def listen() -> None:
        while True:
            try:
                datagrams.append(sock.recv(65535))
            except TimeoutError:
                return
            except OSError:
                return
            sock.settimeout(1.0)  # then frames come every 33 ms: a second of silence is the end

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    return sock, datagrams, thread


def _frames(datagrams: list[bytes]) -> list[dict[str, float]]:
    from pythonosc.osc_bundle import OscBundle

    frames, current = [], {}
    for datagram in datagrams:
        for message in OscBundle(datagram):
            if message.address == "/VMC/Ext/Blend/Val":
                current[message.params[0]] = message.params[1]
            elif message.address == "/VMC/Ext/Blend/Apply":
                frames.append(current)
                current = {}
    return frames


def test_stream_sends_every_frame_in_real_time(tracked, tmp_path, capsys):
    from studio.core.retarget.targets import load_target

    sock, datagrams, thread = _receiver()
    port = sock.getsockname()[1]
    try:
        assert main(["stream", str(tracked), "--target", "rook", "--vmc", f"127.0.0.1:{port}", "--quiet"]) == 0
        thread.join(5.0)
    finally:
        sock.close()
    source = TakeCurves.read_csv(tracked)
    frames = _frames(datagrams)
    assert len(frames) == int(source.face_found.sum())
    rook = load_target("rook")
    expected = rook.arkit(rook.retarget(source.values[source.face_found]))
    for frame, values in zip(frames, expected, strict=True):
        assert list(frame) == list(ARKIT_BLENDSHAPE_NAMES)
        np.testing.assert_allclose(list(frame.values()), values, atol=1e-6)
    out = capsys.readouterr().out
    seconds = float(re.search(r"in ([\d.]+) s", out).group(1))
    assert seconds >= 0.95 * (source.time_s[-1] - source.time_s[0])  # paced at the take's rate


def test_bad_curves_fail_with_one_line_and_write_nothing(tracked, tmp_path, capsys):
    lines = tracked.read_text().splitlines()
    header = lines[0].split(",")
    column = header.index("jawOpen")
    row = lines[5].split(",")
    row[column] = "nan"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], *lines[1:5], ",".join(row), *lines[6:]]) + "\n")
    out = tmp_path / "out.glb"
    for argv in (["export", str(bad), "--format", "glb", "--target", "toon", "--out", str(out)],
                 ["retarget", str(bad), "--target", "rook", "--out", str(out)]):  # fmt: skip
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "line 6, column jawOpen" in err
        assert not out.exists()
    unknown = tmp_path / "unknown.csv"
    unknown.write_text(tracked.read_text().replace("mouthPucker", "mouthPuckerr", 1))
    assert main(["export", str(unknown), "--format", "livelink", "--out", str(out)]) == 1
    assert "line 1, column mouthPuckerr" in capsys.readouterr().err
    assert main(["export", str(tracked), "--format", "glb", "--target", "nobody", "--out", str(out)]) == 1
    assert "unknown target 'nobody'" in capsys.readouterr().err
    assert not out.exists()


def test_stream_speaks_live_link_and_ifacialmocap_and_refuses_bad_targets_in_one_line(tracked, capsys):
    import socket
    import struct

    source = TakeCurves.read_csv(tracked)
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(3.0)
    port = receiver.getsockname()[1]
    try:
        assert main(["stream", str(tracked), "--livelink", f"127.0.0.1:{port}", "--subject", "Take7",
                     "--as-fast-as-possible", "--quiet"]) == 0  # fmt: skip
        first = receiver.recv(2048)
        assert first[0] == 6 and struct.unpack_from(">i", first, 1)[0] == 36
        name_length = struct.unpack_from(">i", first, 41)[0]
        assert first[45 : 45 + name_length] == b"Take7" and first[45 + name_length + 16] == 61
        for _ in range(int(source.face_found.sum()) - 1):
            receiver.recv(2048)
        assert main(["stream", str(tracked), "--ifacialmocap", f"127.0.0.1:{port}", "--listen-port", "0",
                     "--as-fast-as-possible", "--quiet"]) == 0  # fmt: skip
        text = receiver.recv(8192).decode("utf-8")
        assert text.startswith("eyeBlink_L-") and "|=head#" in text and text.endswith("|")
    finally:
        receiver.close()
    capsys.readouterr()
    for argv, says in ((["--livelink", "127.0.0.1:99999"], "bad Live Link target '127.0.0.1:99999'"),
                       (["--livelink", "no-such-host.invalid:11111"], "Live Link no-such-host.invalid:11111:"),
                       (["--ifacialmocap", "127.0.0.1:0"], "bad iFacialMocap target"),
                       (["--livelink", "127.0.0.1", "--subject", ""], "subject name")):  # fmt: skip
        assert main(["stream", str(tracked), *argv, "--as-fast-as-possible", "--quiet"]) == 1
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and says in err, err
