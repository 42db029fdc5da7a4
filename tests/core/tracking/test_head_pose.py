"""Head pose in takes: tracked from rendered frames, stored in the curves, carried by every export."""

from __future__ import annotations

import json

import numpy as np
import pytest

from studio.core.geometry.rotations import euler_to_matrix, matrix_to_euler, matrix_to_quaternion
from studio.core.io.curves import (
    HEAD_POSE_COLUMNS,
    TakeCurves,
    TakeFileError,
    read_curves_json,
    write_curves_json,
)


def test_euler_angles_and_quaternions_invert_the_rig_rotation():
    rng = np.random.default_rng(0)
    angles = rng.uniform([-170, -85, -170], [170, 85, 170], (50, 3))
    matrices = np.stack([euler_to_matrix(a) for a in angles])
    np.testing.assert_allclose(matrix_to_euler(matrices), angles, atol=1e-9)
    quaternions = matrix_to_quaternion(matrices)
    x, y, z, w = quaternions.T  # rotating +z by the quaternion lands where the matrix sends it
    rotated_z = np.stack([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)], axis=1)
    np.testing.assert_allclose(rotated_z, matrices[:, :, 2], atol=1e-9)


@pytest.fixture(scope="module")
def tracked_head(assets_dir):
    """A synthetic performer turning and moving their head (±15° yaw, ±10° pitch, ±8° roll, ±2–3 cm) while
    opening the jaw, rendered and tracked; returns the result and the truth relative to its neutral frames."""
    from studio.core.jobs import run_job
    from studio.core.tracking.head_pose import relative_head_pose
    from studio.core.tracking.rig_bundle import RigBundle
    from studio.core.tracking.take import track_take
    from studio.render.synthetic_performer import (
        TRACKING_CAMERA,
        SyntheticPerformerSource,
        head_motion_curves,
    )

    bundle = RigBundle.load()
    frames = 90
    curves = np.zeros((frames, bundle.rig.num_controls), np.float32)
    curves[40:70, bundle.rig.control_index("jawOpen")] = 0.5
    source = SyntheticPerformerSource(bundle.rig, curves, seed=3)
    source.head_rotation_deg, source.head_translation_cm = head_motion_curves(frames, 30.0, 3, (15, 10, 8), (2, 2, 3))
    result = run_job(track_take(source, bundle.tracker(), "auto", "smooth"))
    truth = np.c_[source.head_rotation_deg, source.head_translation_cm]
    truth = relative_head_pose(truth, result.neutral.start, result.neutral.stop)
    assert TRACKING_CAMERA.fov_deg == 30.0  # the renders' camera; the take assumes a 45° webcam for depth
    return result, truth


def test_the_head_pose_of_a_rendered_performer_is_tracked(tracked_head):
    result, truth = tracked_head
    pose = result.curves.head_pose
    assert pose is not None and pose.shape == (90, 6) and np.isfinite(pose).all()
    error = np.abs(pose - truth).mean(axis=0)
    # yaw, roll within 1°, pitch within 2.5° (MediaPipe's depth), x, y within 0.4 cm on average
    assert error[0] < 1.0 and error[1] < 2.5 and error[2] < 1.0, error
    assert error[3] < 0.4 and error[4] < 0.4, error
    for axis in range(6):  # every axis follows the truth, z too (its scale depends on the assumed camera)
        assert np.corrcoef(pose[:, axis], truth[:, axis])[0, 1] > 0.95, axis
    # and the expression is still read through the head motion
    jaw = result.curves.control_names.index("jawOpen")
    assert result.curves.values[50:65, jaw].mean() > 0.3 and result.curves.values[5:30, jaw].mean() < 0.1


def test_head_pose_survives_the_curves_files_and_old_files_still_read(tracked_head, tmp_path):
    curves = tracked_head[0].curves
    found = curves.face_found.copy()
    found[5] = False
    values, head = curves.values.copy(), curves.head_pose.copy()
    values[5], head[5] = np.nan, np.nan
    take = TakeCurves(curves.control_names, curves.time_s, found, values, head)
    path = take.write_csv(tmp_path / "take.csv")
    assert path.read_text().splitlines()[0].startswith("frame,time_s,face_found," + ",".join(HEAD_POSE_COLUMNS))
    back = TakeCurves.read_csv(path)
    np.testing.assert_allclose(back.head_pose, head, atol=1e-4)
    assert np.isnan(back.head_pose[5]).all()
    again = read_curves_json(write_curves_json(tmp_path / "take.json", take))
    np.testing.assert_allclose(again.head_pose, head, atol=1e-5)
    # a take written before head pose (no columns, version 1 JSON) reads without one
    old = TakeCurves(curves.control_names, curves.time_s, found, values)
    assert TakeCurves.read_csv(old.write_csv(tmp_path / "old.csv")).head_pose is None
    document = json.loads(write_curves_json(tmp_path / "old.json", old).read_text())
    document["version"] = 1
    del document["head_pose"]
    (tmp_path / "old.json").write_text(json.dumps(document))
    assert read_curves_json(tmp_path / "old.json").head_pose is None
    # head columns anywhere but after face_found are refused in one line
    text = path.read_text().splitlines()
    header = text[0].split(",")
    moved = header[:3] + header[9:] + header[3:9]
    (tmp_path / "bad.csv").write_text(",".join(moved) + "\n")
    with pytest.raises(TakeFileError, match="head_yaw_deg: the head-pose columns come together"):
        TakeCurves.read_csv(tmp_path / "bad.csv")


def test_every_export_carries_the_head(tracked_head, tmp_path, ict_rig):
    from studio.core.io.gltf import read_morph_glb_summary
    from studio.core.io.livelink import read_livelink_csv
    from studio.core.io.usd import read_blendshape_usd_summary
    from studio.core.retarget.curves import export_take, head_quaternions, import_livelink
    from studio.core.retarget.targets import load_target

    curves = tracked_head[0].curves
    head = curves.filled_head_pose()
    # Live Link Face: the head columns in radians, and back on import
    take = read_livelink_csv(export_take(curves, "livelink", tmp_path / "take.csv"))
    assert np.abs(take.head).max() > np.deg2rad(5.0)
    np.testing.assert_allclose(take.head, np.deg2rad(head[:, :3]), atol=1e-6)
    imported = import_livelink(tmp_path / "take.csv")
    np.testing.assert_allclose(imported.head_pose[:, :3], head[:, :3], atol=1e-3)
    # glb: a head node above the mesh, rotation and translation animated at the take's times
    target = load_target("toon", ict_rig)
    summary = read_morph_glb_summary(export_take(curves, "glb", tmp_path / "take.glb", target))
    np.testing.assert_allclose(summary["head_rotation"], head_quaternions(head), atol=1e-6)
    np.testing.assert_allclose(summary["head_translation_m"], head[:, 3:] * 0.01, atol=1e-6)
    assert summary["times"].shape == (90,)
    # USD: the head joint time-sampled
    usd = read_blendshape_usd_summary(export_take(curves, "usd", tmp_path / "take.usda", target), frames=[0, 45, 89])
    assert usd["head_samples"] == 90
    np.testing.assert_allclose(usd["head_rotation"], head_quaternions(head)[[0, 45, 89]], atol=1e-6)
    np.testing.assert_allclose(usd["head_translation_cm"], head[[0, 45, 89], 3:], atol=1e-5)


def test_a_vmc_stream_sends_the_head_bone(tracked_head):
    import socket

    from pythonosc.osc_bundle import OscBundle

    from studio.core.io.vmc import BONE_ADDRESS, HEAD_BONE, VmcSender, stream_curves_job
    from studio.core.jobs import run_job
    from studio.core.retarget.curves import head_quaternions
    from studio.core.retarget.stream import stream_head, stream_values

    curves = tracked_head[0].curves
    names, values = stream_values(curves)
    bones = stream_head(curves)
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2.0)
    try:
        with VmcSender("127.0.0.1", receiver.getsockname()[1]) as sender:
            run_job(stream_curves_job(curves.time_s[:10], names, values[:10], sender, realtime=False,
                                      head=bones[:10]))  # fmt: skip
        heads = []
        for _ in range(10):
            messages = list(OscBundle(receiver.recv(1 << 16)))
            heads += [m.params for m in messages if m.address == BONE_ADDRESS]
    finally:
        receiver.close()
    assert len(heads) == 10 and all(params[0] == HEAD_BONE and len(params) == 8 for params in heads)
    sent = np.array([params[1:] for params in heads])
    pose = curves.head_pose[:10].astype(np.float64)
    np.testing.assert_allclose(sent[:, :3], pose[:, 3:] * 0.01 * [-1, 1, 1], atol=1e-6)  # Unity: x mirrored
    np.testing.assert_allclose(sent[:, 3:], head_quaternions(pose) * [1, -1, -1, 1], atol=1e-6)
