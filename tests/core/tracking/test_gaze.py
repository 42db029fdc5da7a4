"""The gaze model: eyeLook controls from MediaPipe's iris landmarks (studio.core.tracking.gaze).

Pure tests run anywhere; the render tests (``gl``) draw the ICT rig with turned eyeballs offscreen and run
MediaPipe: ``STUDIO_ASSETS_DIR=../shared/assets pytest tests/core/tracking/test_gaze.py -p no:xvfb``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from studio.core.rig.eyeballs import pose_eyeballs
from studio.core.tracking.gaze import (
    EYES,
    GAZE_CONTROL_NAMES,
    ICT_GAZE_PATH,
    GazeModel,
    GazeModelError,
    measure_eyes,
)

#: Tolerance of a rendered gaze value, and the most a control that should be 0 may read.
TOLERANCE = 0.15


def _face(eye_width: float = 2.8) -> np.ndarray:
    """A schematic aligned face: both eyes (corners, lids, iris centred), everything else at the origin."""
    points = np.zeros((478, 3))
    for side, sign in (("L", 1.0), ("R", -1.0)):
        eye = EYES[side]
        centre = np.array([sign * 3.2, 3.4, 9.0])
        points[eye.inner] = centre - [sign * eye_width / 2, 0, 0]
        points[eye.outer] = centre + [sign * eye_width / 2, 0, 0]
        points[eye.upper] = centre + [0, 0.5, 0]
        points[eye.lower] = centre - [0, 0.5, 0]
        ring = [(0, 0), (0.5, 0), (0, 0.5), (-0.5, 0), (0, -0.5)]
        for landmark, (dx, dy) in zip(eye.iris, ring, strict=True):
            points[landmark] = centre + [dx, dy, 0.3]
    return points


def _move_iris(face: np.ndarray, side: str, dx_cm: float, dy_cm: float) -> np.ndarray:
    moved = face.copy()
    moved[list(EYES[side].iris)] += [dx_cm, dy_cm, 0.0]
    return moved


# -- the data file ---------------------------------------------------------------------------------------


def test_packaged_model_round_trips(tmp_path):
    model = GazeModel.ict()
    assert model.gaze_control_names == GAZE_CONTROL_NAMES and len(GAZE_CONTROL_NAMES) == 8
    again = GazeModel.load(model.save(tmp_path / "gaze.json"))
    assert again == model
    assert json.loads(ICT_GAZE_PATH.read_text())["format"] == "simon-says-studio/gaze-model"
    assert all(0.0 < gain < 1.0 for gain in model.gains.values())  # eye widths per unit control
    assert (
        model.drift_vertical[0] < 0.0 and model.drift_vertical[-1] == 0.0
    )  # closing lids drag the iris down


def test_bad_files_name_the_problem(tmp_path):
    path = tmp_path / "gaze.json"
    with pytest.raises(GazeModelError, match="no such gaze model"):
        GazeModel.load(path)
    path.write_text("{not json")
    with pytest.raises(GazeModelError, match="not a readable JSON"):
        GazeModel.load(path)
    obj = GazeModel.ict().to_json()
    path.write_text(json.dumps({**obj, "format": "something-else"}))
    with pytest.raises(GazeModelError, match="not a gaze model"):
        GazeModel.load(path)
    del obj["gains"]["eyeLookUp_L"]
    path.write_text(json.dumps(obj))
    with pytest.raises(GazeModelError, match=r"gains must name.*missing \['eyeLookUp_L'\]"):
        GazeModel.load(path)


# -- reading landmarks --------------------------------------------------------------------------------------


def test_eye_frames_are_scale_free_and_point_to_the_ear_and_up():
    face = _face()
    looked = np.stack([_move_iris(face, "L", 0.28, 0.0), _move_iris(face, "R", 0.0, 0.14)])
    small = np.stack([_move_iris(_face(1.4), "L", 0.14, 0.0), _move_iris(_face(1.4), "R", 0.0, 0.07)])
    base = measure_eyes(face[None])
    for frames in (measure_eyes(looked), measure_eyes(small)):
        np.testing.assert_allclose(frames.horizontal[0] - base.horizontal[0], [0.1, 0.0], atol=1e-12)
        np.testing.assert_allclose(frames.vertical[1] - base.vertical[0], [0.0, 0.05], atol=1e-12)
    # the left eye's iris moving to +x (its ear) and the right eye's to -x (its ear) both read "out"
    out_both = _move_iris(_move_iris(face, "L", 0.3, 0.0), "R", -0.3, 0.0)
    assert np.all(measure_eyes(out_both[None]).horizontal[0] > base.horizontal[0])


def test_controls_on_schematic_landmarks_have_the_right_sides():
    model = GazeModel.ict()
    face = _face()
    width = 2.8
    frames = np.stack([
        face,
        _move_iris(face, "L", 0.8 * model.gains["eyeLookOut_L"] * width, 0.0),  # left eye towards +x: out
        _move_iris(face, "R", 0.8 * model.gains["eyeLookIn_R"] * width, 0.0),  # right eye towards +x: in
        _move_iris(_move_iris(face, "L", 0.0, 0.2), "R", 0.0, 0.2),  # both up
        np.full_like(face, np.nan),
    ])  # fmt: skip
    controls = model.controls(frames, face)
    assert set(controls) == set(GAZE_CONTROL_NAMES)
    assert all(v.shape == (5,) and v.dtype == np.float32 for v in controls.values())
    assert all(v[0] == 0.0 for v in controls.values())
    assert controls["eyeLookOut_L"][1] > 0.6 and controls["eyeLookIn_L"][1] == 0.0
    assert controls["eyeLookIn_R"][2] > 0.6 and controls["eyeLookOut_R"][2] == 0.0
    assert controls["eyeLookUp_L"][3] == controls["eyeLookUp_R"][3] == 1.0  # clipped at 1
    assert all(np.isnan(v[4]) for v in controls.values())
    values = np.stack(list(controls.values()))[:, :4]
    assert values.min() >= 0.0 and values.max() <= 1.0


def test_closed_eyes_give_no_gaze():
    model = GazeModel.ict()
    face = _face()
    closed = _move_iris(face, "L", 0.0, -0.3)
    closed = _move_iris(closed, "R", 0.0, -0.3)
    for side in "LR":  # lids shut: no gap left
        closed[EYES[side].upper] = closed[EYES[side].lower]
    controls = model.controls(closed[None], face)
    assert max(float(v[0]) for v in controls.values()) == 0.0


def test_pose_eyeballs_turns_only_the_eyeballs(ict_rig):
    from studio.core.geometry.rotations import euler_to_matrix
    from studio.core.rig.state import RigState

    controls = np.zeros(ict_rig.num_controls, np.float32)
    controls[ict_rig.control_index("eyeLookOut_L")] = 1.0
    controls[ict_rig.control_index("eyeLookUp_R")] = 1.0
    for rotation in (np.zeros(3), np.array([20.0, -5.0, 3.0])):
        posed = RigState(controls=controls, head_rotation_deg=rotation).vertices(ict_rig)
        turned = pose_eyeballs(ict_rig, posed, controls, rotation)
        moved = np.linalg.norm(turned - posed, axis=1) > 1e-5
        eyeballs = np.isin(np.arange(ict_rig.num_vertices), np.r_[
            ict_rig.group_vertices("eyeball_left"), ict_rig.group_vertices("eyeball_right")
        ])  # fmt: skip
        assert moved.any() and not moved[~eyeballs].any()
        # in the head's frame the left eye's front turns to +x (its ear), the right eye's up
        head = euler_to_matrix(rotation).T  # world → head frame
        for group, axis in (("eyeball_left", 0), ("eyeball_right", 1)):
            ids = ict_rig.group_vertices(group)
            front = ids[np.argsort(posed[ids] @ head[2])[-50:]]  # the 50 most forward vertices
            shift = head @ (turned[front] - posed[front]).mean(axis=0)
            assert shift[axis] > 0.3 and abs(shift[1 - axis]) < 0.1, (group, shift)
    assert np.array_equal(pose_eyeballs(ict_rig, posed, np.zeros_like(controls)), posed)


# -- on renders ---------------------------------------------------------------------------------------------


#: Head shifts (cm, up to 1 mm) of the frames of a held pose: the neutral is their median (as the
#: tracker's performer neutral is a median over a burst) and a gaze reading their mean (as a temporal
#: filter would give), because MediaPipe's vertical iris noise is about 0.15 control units per frame.
HELD_SHIFTS_CM = ((0.0, 0.0, 0.0), (0.1, 0.0, 0.0), (0.0, 0.1, 0.0))


class _GazeRenders:
    """Renders the ICT rig with turned eyeballs at the tracking framing and aligns MediaPipe's landmarks."""

    def __init__(self, rig, model_path: Path) -> None:
        from studio.core.tracking.landmark_embedding import LandmarkEmbedding
        from studio.core.tracking.reconstruction import GeometryReconstructor
        from studio.core.tracking.tracker import Tracker
        from studio.render.offscreen import OffscreenRenderer
        from studio.render.synthetic_performer import TRACKING_CAMERA

        self.rig = rig
        self.tracker = Tracker(rig, LandmarkEmbedding.ict())
        self.renderer = OffscreenRenderer(rig, size=(640, 480), camera=TRACKING_CAMERA)
        self.reconstructor = GeometryReconstructor(running_mode="image", model_path=model_path)

    def held(self, controls: dict[str, float], yaw_deg: float = 0.0) -> np.ndarray:
        """Aligned landmarks ``(3, 478, 3)`` of a held pose, one frame per shift of :data:`HELD_SHIFTS_CM`."""
        from studio.core.rig.state import RigState
        from studio.core.tracking.frame_sources import Frame

        vector = np.zeros(self.rig.num_controls, np.float32)
        for name, value in controls.items():
            vector[self.rig.control_index(name)] = value
        rotation = np.array([yaw_deg, 0.0, 0.0])
        frames = []
        for shift in HELD_SHIFTS_CM:
            state = RigState(controls=vector, head_rotation_deg=rotation, head_translation_cm=np.array(shift))
            vertices = state.vertices(self.rig)  # the eyeLook controls turn the eyeballs
            observation = self.reconstructor.observe(Frame(0, 0.0, self.renderer.render(vertices)))
            assert observation.face_found
            frames.append(self.tracker.align(observation.landmarks[None])[0])
        return np.stack(frames)

    def close(self) -> None:
        self.renderer.close()
        self.reconstructor.close()


@pytest.fixture(scope="module")
def gaze_renders(ict_rig, assets_dir):
    model_path = assets_dir / "face_landmarker.task"
    if not model_path.is_file():
        pytest.skip(f"{model_path} not found")
    renders = _GazeRenders(ict_rig, model_path)
    yield renders
    renders.close()


@pytest.fixture(scope="module")
def rendered_neutral(gaze_renders):
    return np.median(gaze_renders.held({}), axis=0)


def _read(gaze_renders, neutral, controls: dict[str, float], yaw_deg: float = 0.0) -> dict[str, float]:
    values = GazeModel.ict().controls(gaze_renders.held(controls, yaw_deg), neutral)
    return {name: float(value.mean()) for name, value in values.items()}


def _others_small(read: dict[str, float], *allowed: str) -> None:
    others = {name: round(value, 3) for name, value in read.items() if name not in allowed}
    assert max(others.values()) < TOLERANCE, others


@pytest.mark.gl
def test_rendered_look_out_left(gaze_renders, rendered_neutral):
    read = _read(gaze_renders, rendered_neutral, {"eyeLookOut_L": 0.6})
    assert read["eyeLookOut_L"] == pytest.approx(0.6, abs=TOLERANCE), read
    _others_small(read, "eyeLookOut_L")  # eyeLookIn_L, and the right eye that MediaPipe drags along


@pytest.mark.gl
def test_rendered_look_in_right(gaze_renders, rendered_neutral):
    read = _read(gaze_renders, rendered_neutral, {"eyeLookIn_R": 0.6})
    assert read["eyeLookIn_R"] == pytest.approx(0.6, abs=TOLERANCE), read
    _others_small(read, "eyeLookIn_R")


@pytest.mark.gl
def test_rendered_look_up(gaze_renders, rendered_neutral):
    """Vertical gaze is conjugate (both eyes turn up together), and read so."""
    read = _read(gaze_renders, rendered_neutral, {"eyeLookUp_L": 0.6, "eyeLookUp_R": 0.6})
    assert read["eyeLookUp_L"] == pytest.approx(0.6, abs=TOLERANCE), read
    assert read["eyeLookUp_R"] == read["eyeLookUp_L"]
    _others_small(read, "eyeLookUp_L", "eyeLookUp_R")


@pytest.mark.gl
def test_rendered_blink_does_not_read_as_looking_down(gaze_renders, rendered_neutral):
    read = _read(gaze_renders, rendered_neutral, {"eyeBlink_L": 1.0, "eyeBlink_R": 1.0})
    assert max(read["eyeLookDown_L"], read["eyeLookDown_R"]) < TOLERANCE, read
    _others_small(read)  # closed eyes: no gaze at all
    half = _read(gaze_renders, rendered_neutral, {"eyeBlink_L": 0.6, "eyeBlink_R": 0.6})
    assert max(half["eyeLookDown_L"], half["eyeLookDown_R"]) < TOLERANCE, half


@pytest.mark.gl
def test_rendered_head_yaw_with_the_gaze_forward(gaze_renders, rendered_neutral):
    read = _read(gaze_renders, rendered_neutral, {}, yaw_deg=10.0)
    _others_small(read)
