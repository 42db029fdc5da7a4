"""The render layer: offscreen renders of the ICT rig, geometry maps, projection, and MediaPipe on renders.

EGL needs no display: ``STUDIO_ASSETS_DIR=../shared/assets pytest tests/render/test_render.py -p no:xvfb``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.gl

SIZE = (512, 512)

# Multi-PIE 68 landmark number → standard MediaPipe face-mesh index of the same feature
MULTIPIE_TO_MEDIAPIPE = {
    "nose tip": (30, 1),
    "chin": (8, 152),
    "right eye outer corner": (36, 33),
    "left eye outer corner": (45, 263),
    "right mouth corner": (48, 61),
    "left mouth corner": (54, 291),
}


def _random_moderate_controls(rng: np.random.Generator, num_controls: int) -> np.ndarray:
    controls = np.zeros(num_controls, np.float32)
    chosen = rng.choice(num_controls, size=int(rng.integers(3, 6)), replace=False)
    controls[chosen] = rng.uniform(0.2, 0.6, size=len(chosen))
    return controls


@pytest.fixture(scope="module")
def renderer(ict_rig):
    from studio.render.offscreen import OffscreenRenderer

    with OffscreenRenderer(ict_rig, size=SIZE) as renderer:
        yield renderer


@pytest.fixture(scope="module")
def multipie68(assets_dir) -> np.ndarray:
    with np.load(assets_dir / "ict_facekit.npz") as data:
        return data["landmarks_multipie68"]


@pytest.fixture(scope="module")
def neutral_maps(renderer, ict_rig):
    return renderer.render_maps(ict_rig.neutral)


def _foreground(image: np.ndarray, background: tuple[float, float, float]) -> np.ndarray:
    reference = np.round(np.asarray(background) * 255).astype(np.int16)
    return np.abs(image.astype(np.int16) - reference).max(axis=-1) > 6


# -- pure (no GL) -------------------------------------------------------------------------------------------


def test_camera_projects_its_target_to_the_image_centre():
    from studio.render.face_scene import Camera

    camera = Camera()
    target = np.asarray(camera.target)[None]
    np.testing.assert_allclose(camera.project(target, SIZE), [[256.0, 256.0]], atol=1e-6)
    above_and_left = camera.project(target + [[-1.0, 1.0, 0.0]], SIZE)[0]
    assert above_and_left[0] < 256 and above_and_left[1] < 256  # face's right is image left; +y is up


def test_rig_carries_the_assets_multipie_landmarks(ict_rig, multipie68):
    np.testing.assert_array_equal(ict_rig.landmarks_multipie68, multipie68)


def test_face_materials_hide_helper_shells(ict_rig):
    from studio.render.face_scene import HIDDEN_GROUPS, face_materials

    albedo, eye_frame, triangles = face_materials(ict_rig)
    assert albedo.shape == (ict_rig.num_vertices, 4) and eye_frame.shape == (ict_rig.num_vertices, 4)
    drawn_groups = {ict_rig.group_names[g] for g in np.unique(ict_rig.vertex_group[triangles])}
    assert not drawn_groups & set(HIDDEN_GROUPS)
    assert {"face", "teeth", "eyeball_left", "eyeball_right", "eyelashes_left"} <= drawn_groups
    mouth = ict_rig.group_vertices("mouth_socket")
    face = ict_rig.group_vertices("face")
    assert albedo[mouth, :3].mean() < 0.5 * albedo[face, :3].mean(), "the mouth interior should be dark"


def test_the_decimated_skin_is_lighter_and_lies_on_the_full_face_as_it_moves(ict_rig):
    from studio.render.face_scene import EXACT_GROUPS, LIVE_SKIN_REDUCTION, decimate_skin, face_materials

    skin = decimate_skin(ict_rig, LIVE_SKIN_REDUCTION)
    _albedo, eye_frame, triangles = face_materials(ict_rig)
    assert len(skin.triangles) < 0.6 * len(triangles)
    assert skin.triangles.max() < skin.num_vertices and skin.max_offset_cm < 0.2  # within 2 mm of the skin
    row_sums = np.asarray(skin.driver.sum(axis=1)).ravel()
    np.testing.assert_allclose(row_sums, 1.0, atol=1e-5)  # barycentric blends
    # eyeballs, eyelash cards and the exact groups are carried over vertex for vertex
    names = list(ict_rig.group_names)
    teeth = np.flatnonzero(np.asarray(ict_rig.vertex_group) == names.index(EXACT_GROUPS[0]))
    drawn_teeth = np.intersect1d(teeth, triangles)
    kept_columns = skin.driver[skin.driver.getnnz(axis=1) == 1].indices
    assert np.isin(drawn_teeth, kept_columns).all()
    assert set(np.unique(skin.eye_frame[:, 3])) <= set(np.unique(eye_frame[:, 3]))  # material tags exact
    # posed by the full rig: an open jaw moves the decimated chin as it moves the full one
    controls = np.zeros(ict_rig.num_controls, np.float32)
    controls[ict_rig.control_index("jawOpen")] = 1.0
    opened = ict_rig.evaluate(controls)
    moved = skin.positions(opened) - skin.positions(ict_rig.neutral)
    full_moved = opened - ict_rig.neutral
    assert np.abs(moved).max() == pytest.approx(np.abs(full_moved).max(), rel=0.1)
    assert moved[:, 1].min() < -1.0  # the chin drops by centimetres


# -- offscreen renders --------------------------------------------------------------------------------------


def test_render_shows_the_face_centred(renderer, ict_rig):
    image = renderer.render(ict_rig.neutral)
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    covered = _foreground(image, renderer.background)
    assert 0.15 < covered.mean() < 0.6, f"{covered.mean():.2f} of the image is covered by the head"
    rows, cols = np.nonzero(covered)
    assert abs(cols.mean() - 256) < 0.05 * 512, "the head is not centred horizontally"
    centre = image[128:384, 128:384].astype(float)
    assert centre.std() > 20, "the centre of the render looks blank"
    face = ict_rig.group_vertices("face")
    centre_px = renderer.project(ict_rig.neutral[face]).mean(axis=0)
    assert np.all(np.abs(centre_px - 256) < 0.12 * 512), f"face centre at {centre_px}"


def test_jaw_open_changes_the_mouth(renderer, ict_rig, multipie68):
    neutral = renderer.render(ict_rig.neutral).astype(np.int16)
    controls = np.zeros(ict_rig.num_controls, np.float32)
    controls[ict_rig.control_index("jawOpen")] = 1.0
    jaw_open = renderer.render(ict_rig.evaluate(controls)).astype(np.int16)
    changed = np.abs(jaw_open - neutral).max(axis=-1) > 30
    assert changed.mean() > 0.005
    x, y = renderer.project(ict_rig.neutral[multipie68[[62]]])[0]  # inner upper lip
    window = changed[int(y) : int(y) + 40, int(x) - 30 : int(x) + 30]
    assert window.mean() > 0.3, "the image did not change inside the opened mouth"
    mouth = jaw_open[int(y) + 10 : int(y) + 25, int(x) - 8 : int(x) + 8]
    assert mouth.mean() < 110, "the open mouth should look dark"


def test_render_accepts_a_rig_state_with_head_pose(renderer, ict_rig, multipie68):
    from studio.core.rig.state import RigState

    state = RigState.neutral(ict_rig)
    state.head_rotation_deg = np.array([20.0, 0.0, 0.0])
    maps = renderer.render_maps(state)
    assert not np.array_equal(maps.rgb, renderer.render(ict_rig.neutral))
    nose = state.vertices(ict_rig)[multipie68[30]]
    x, y = renderer.project(nose[None])[0]
    expected_depth = -(renderer.camera.world_to_camera() @ np.r_[nose, 1.0])[2]
    assert maps.depth[int(y), int(x)] == pytest.approx(expected_depth, abs=0.5)


def test_depth_map_is_camera_distance_in_cm(neutral_maps, renderer, ict_rig, multipie68):
    depth = neutral_maps.depth
    assert depth.shape == (512, 512) and depth.dtype == np.float32
    assert np.isinf(depth[0, 0]) and np.isinf(depth[0, -1]), "background depth should be inf"
    nose_tip, cheek = renderer.project(ict_rig.neutral[multipie68[[30, 3]]]).astype(int)
    cheek = (cheek + renderer.project(ict_rig.neutral[multipie68[[30]]])[0].astype(int)) // 2
    assert depth[nose_tip[1], nose_tip[0]] < depth[cheek[1], cheek[0]] - 1.0
    # the depth at projected vertices equals their z-depth in camera space
    view = renderer.camera.world_to_camera()
    for vertex in multipie68[[8, 27, 30, 33, 51]]:
        point = ict_rig.neutral[vertex].astype(np.float64)
        x, y = renderer.project(point[None])[0]
        expected = -(view @ np.r_[point, 1.0])[2]
        assert depth[int(y), int(x)] == pytest.approx(expected, abs=0.3)


def test_normal_map_is_unit_camera_space(neutral_maps, renderer, ict_rig, multipie68):
    normal = neutral_maps.normal
    assert normal.shape == (512, 512, 3) and normal.dtype == np.float32
    covered = neutral_maps.mask
    np.testing.assert_allclose(np.linalg.norm(normal[covered], axis=-1), 1.0, atol=1e-3)
    assert not normal[~covered].any(), "background normals should be 0"
    brows = ict_rig.neutral[multipie68[[19, 24]]].mean(axis=0)
    forehead = renderer.project((brows + [0.0, 3.0, 0.0])[None])[0].astype(int)
    n = normal[forehead[1], forehead[0]]
    assert n[2] > 0.85, f"forehead normal {n} does not face the camera"
    left_cheek, right_cheek = renderer.project(ict_rig.neutral[multipie68[[13, 3]]]).astype(int)
    assert normal[left_cheek[1], left_cheek[0], 0] > 0.2  # the face's left is image right (+x)
    assert normal[right_cheek[1], right_cheek[0], 0] < -0.2
    assert np.array_equal(covered, _foreground(neutral_maps.rgb, renderer.background) | covered)


def test_face_scene_set_vertices_is_fast(renderer, ict_rig):
    import time

    face = renderer.face
    rng = np.random.default_rng(1)
    frames = [ict_rig.evaluate(_random_moderate_controls(rng, ict_rig.num_controls)) for _ in range(10)]
    times = []
    for vertices in frames:
        start = time.perf_counter()
        face.set_vertices(vertices)
        times.append(time.perf_counter() - start)
    np.testing.assert_array_equal(face.vertices, frames[-1])
    assert np.median(times) < 0.02, f"set_vertices takes {np.median(times) * 1000:.1f} ms"


# -- MediaPipe on renders -----------------------------------------------------------------------------------


def test_mediapipe_finds_and_fits_rendered_faces(renderer, ict_rig, multipie68, assets_dir, record_property):
    from studio.core.tracking.face_landmarker import FaceLandmarker

    rng = np.random.default_rng(0)
    controls = [np.zeros(ict_rig.num_controls, np.float32)]
    controls += [_random_moderate_controls(rng, ict_rig.num_controls) for _ in range(10)]
    tolerance_px = 0.03 * SIZE[0]
    errors = {name: [] for name in MULTIPIE_TO_MEDIAPIPE}
    missed = []
    with FaceLandmarker(assets_dir / "face_landmarker.task") as landmarker:
        for i, c in enumerate(controls):
            vertices = ict_rig.evaluate(c)
            face = landmarker.detect(renderer.render(vertices))
            if face is None:
                missed.append(i)
                continue
            assert face.landmarks.shape == (478, 3) and face.transform.shape == (4, 4)
            assert "jawOpen" in face.blendshapes
            found = face.pixels(SIZE)
            for name, (multipie, mediapipe) in MULTIPIE_TO_MEDIAPIPE.items():
                expected = renderer.project(vertices[multipie68[multipie]][None])[0]
                errors[name].append(float(np.linalg.norm(found[mediapipe] - expected)))
    assert not missed, f"MediaPipe found no face in renders {missed}"
    summary = {name: (round(float(np.mean(e)), 1), round(float(np.max(e)), 1)) for name, e in errors.items()}
    record_property("landmark_pixel_errors_mean_max", summary)
    print("MediaPipe landmark errors, px (mean, max):", summary)
    worst = {name: m for name, (_, m) in summary.items() if m > tolerance_px}
    assert not worst, f"landmarks off by more than {tolerance_px:.0f} px: {worst}"


# -- coexistence with a Qt window (separate process under Xvfb) ---------------------------------------------

_COEXISTENCE_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from studio.core.rig.rig import Rig
    from studio.render.offscreen import OffscreenRenderer

    rig = Rig.from_npz(os.environ["STUDIO_ASSETS_DIR"] + "/ict_facekit.npz")
    order = sys.argv[1]

    def qt_canvas():
        from PySide6.QtWidgets import QApplication
        from vispy import scene
        from studio.render.face_scene import FaceScene
        app = QApplication.instance() or QApplication([])
        canvas = scene.SceneCanvas(app="pyside6", size=(256, 256), show=True)
        view = canvas.central_widget.add_view()
        FaceScene(rig, parent=view.scene)
        view.camera = scene.TurntableCamera(fov=30, up="+y", distance=75, center=(0, 1, 6))
        for _ in range(5):
            app.processEvents()
        return app, canvas

    def qt_image(canvas):
        return canvas.render(alpha=False)[..., :3]

    renderer = OffscreenRenderer(rig, size=(128, 128)) if order == "egl-first" else None
    before = renderer.render(rig.neutral) if renderer else None
    app, canvas = qt_canvas()
    first = qt_image(canvas)
    if renderer is None:
        renderer = OffscreenRenderer(rig, size=(128, 128))
        before = renderer.render(rig.neutral)
    after = renderer.render(rig.neutral)
    second = qt_image(canvas)
    assert np.array_equal(before, after) and before.std() > 10
    assert np.array_equal(first, second) and first.std() > 10
    renderer.close()
    canvas.close()
    print("coexist-ok")
    """
)


@pytest.mark.qt
@pytest.mark.parametrize("order", ["egl-first", "qt-first"])
def test_egl_renderer_and_qt_canvas_share_a_process(order, assets_dir, tmp_path):
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed")
    script = tmp_path / "coexist.py"
    script.write_text(_COEXISTENCE_SCRIPT)
    result = subprocess.run(
        ["xvfb-run", "-a", sys.executable, str(script), order],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "STUDIO_ASSETS_DIR": str(assets_dir)},
    )
    assert "coexist-ok" in result.stdout, result.stdout[-2000:] + result.stderr[-4000:]
