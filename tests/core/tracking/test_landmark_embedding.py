"""The landmark embedding: MediaPipe's 478 landmarks as points on the ICT rig's surface.

Pure tests check the packaged file, its format and its semantics against the rig's Multi-PIE landmarks
and its own mirror symmetry, and the ray caster and closest-point search against slow references. One GL
test renders a fresh frontal view and compares MediaPipe's detections with the projected points.

``STUDIO_ASSETS_DIR=../shared/assets pytest tests/core/tracking/test_landmark_embedding.py -p no:xvfb``
"""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.rig.rig import RigFileError, SurfacePoints
from studio.core.tracking.landmark_embedding import (
    EMBEDDING_VERSION,
    ICT_EMBEDDING_PATH,
    IRIS_LANDMARKS,
    LOWER_INNER_LIP,
    UPPER_INNER_LIP,
    LandmarkEmbedding,
    LandmarkEmbeddingFileError,
    canonical_face_model,
    cast_rays,
    closest_surface_points,
    expression_motion_mm,
    stable_landmarks,
)

# MediaPipe face-mesh index → Multi-PIE 68 number of the same feature (0-based). MediaPipe's "right" is
# the subject's right (x < 0 in the rig), as Multi-PIE's 36 and 48.
MEDIAPIPE_TO_MULTIPIE = {
    1: 30,  # nose tip (MediaPipe 1 sits ~7 mm below the pronasale; 4 is within 1 mm of it)
    152: 8,  # chin
    33: 36,  # right eye, outer corner
    263: 45,  # left eye, outer corner
    61: 48,  # right mouth corner
    291: 54,  # left mouth corner
    13: 62,  # upper inner lip, centre
    14: 66,  # lower inner lip, centre
}
# MediaPipe's lips (outer and inner contours) and the moving middle of the eyelids
LIPS = np.array(
    [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 146, 91, 181, 84, 17, 314, 405, 321, 375, 78, 308]
    + list(UPPER_INNER_LIP)
    + list(LOWER_INNER_LIP)
)
UPPER_EYELIDS = np.array([159, 158, 160, 386, 385, 387])
LOWER_EYELIDS = np.array([145, 153, 144, 374, 380, 373])  # ICT's lower lids move 2.5-3 mm at most


@pytest.fixture(scope="module")
def embedding() -> LandmarkEmbedding:
    return LandmarkEmbedding.ict()


@pytest.fixture(scope="module")
def positions(embedding, ict_rig) -> np.ndarray:
    return embedding.positions(ict_rig)


# -- the packaged file ----------------------------------------------------------------------------------


def test_packaged_embedding_is_valid_for_the_ict_rig(embedding, ict_rig):
    assert ICT_EMBEDDING_PATH.is_file() and ICT_EMBEDDING_PATH.stat().st_size < 64_000
    assert len(embedding) == 478 and embedding.rig_name == "ict_facekit"
    ids, bary = embedding.points.triangle_ids, embedding.points.barycentrics
    assert ids.min() >= 0 and ids.max() < len(ict_rig.triangles)
    assert bary.dtype == np.float32 and (bary >= 0).all() and np.allclose(bary.sum(axis=1), 1, atol=1e-5)
    assert (embedding.views >= 1).all() and np.isfinite(embedding.spread_mm).all()
    assert np.median(embedding.spread_mm) < 2.0, "views disagree by more than 2 mm on a typical landmark"
    assert int(embedding.metadata["num_views"]) >= 9

    groups = np.asarray(ict_rig.group_names)[ict_rig.vertex_group[ict_rig.triangles[ids]]]  # (478, 3)
    assert np.isin(groups[:468], ["face", "head_neck"]).all(), "face-mesh landmarks must be on the skin"
    assert (groups[468:473] == "eyeball_right").all() and (groups[473:] == "eyeball_left").all()


def test_embedded_points_sit_on_the_rigs_named_features(positions, ict_rig):
    multipie = ict_rig.neutral[ict_rig.landmarks_multipie68]
    distance_mm = {
        mp: 10 * float(np.linalg.norm(positions[mp] - multipie[m])) for mp, m in MEDIAPIPE_TO_MULTIPIE.items()
    }
    assert all(d < 10.0 for d in distance_mm.values()), distance_mm
    assert sorted(distance_mm.values())[-2] < 3.0, distance_mm  # all but the nose tip within 3 mm


def test_left_and_right_landmarks_embed_mirror_symmetrically(embedding, positions, assets_dir):
    mirror = canonical_face_model(assets_dir / "face_landmarker.task").mirror_indices()
    assert (mirror[mirror] == np.arange(478)).all()
    asymmetry_mm = 10 * np.linalg.norm(positions - positions[mirror] * [-1, 1, 1], axis=1)
    well_seen = (embedding.spread_mm < 3) & (embedding.spread_mm[mirror] < 3)
    assert np.median(asymmetry_mm) < 1.5
    assert np.percentile(asymmetry_mm[well_seen], 95) < 4.0
    assert asymmetry_mm[IRIS_LANDMARKS].max() < 2.0
    midline = mirror == np.arange(478)
    assert 10 * np.abs(positions[midline, 0]).max() < 1.5


def test_inner_lip_contour_sits_on_its_own_lip(embedding, ict_rig):
    jaw = np.linalg.norm(ict_rig.expression_deltas[ict_rig.control_index("jawOpen")], axis=1)
    corners = ict_rig.triangles[embedding.points.triangle_ids]
    motion = np.einsum("nc,nc->n", jaw[corners], embedding.points.barycentrics)  # cm under jawOpen = 1
    # jawOpen moves the chin 4 cm; the upper lip's inner contour hardly, the lower's nearly as far
    assert motion[UPPER_INNER_LIP].max() < 1.2 and motion[LOWER_INNER_LIP].min() > 2.5


def test_stable_landmarks_leave_out_lips_eyelids_and_iris(embedding, ict_rig):
    """Lips and upper lids at every threshold; ICT's lower lids move under 3 mm, so up to 2 mm."""
    motion = expression_motion_mm(embedding, ict_rig)
    assert motion.shape == (478,) and (motion >= 0).all()
    stable = {t: stable_landmarks(embedding, ict_rig, t) for t in (1.0, 2.0, 3.0)}
    assert set(stable[1.0]) <= set(stable[2.0]) <= set(stable[3.0])
    assert 5 <= len(stable[1.0]) and 30 <= len(stable[2.0]) and 60 <= len(stable[3.0])
    for threshold, ids in stable.items():
        assert not np.isin(ids, LIPS).any() and not np.isin(ids, UPPER_EYELIDS).any()
        assert not np.isin(ids, IRIS_LANDMARKS).any() and (motion[ids] < threshold).all()
    assert not np.isin(stable[2.0], LOWER_EYELIDS).any()
    assert {6, 168}.issubset(stable[3.0])  # the bridge of the nose


# -- the file format ------------------------------------------------------------------------------------


def _small_embedding() -> LandmarkEmbedding:
    points = SurfacePoints(np.array([0, 5, 7]), np.array([[1, 0, 0], [0.2, 0.3, 0.5], [0, 0, 1]], np.float32))
    return LandmarkEmbedding(points, np.array([0.5, 1.0, 2.5], np.float32), np.array([3, 9, 1]), {"rig": "x"})


def test_save_load_round_trip(tmp_path, embedding):
    for original in (_small_embedding(), embedding):
        path = original.save(tmp_path / "sub" / "embedding.npz")
        loaded = LandmarkEmbedding.load(path)
        np.testing.assert_array_equal(loaded.points.triangle_ids, original.points.triangle_ids)
        np.testing.assert_array_equal(loaded.points.barycentrics, original.points.barycentrics)
        np.testing.assert_array_equal(loaded.spread_mm, original.spread_mm)
        np.testing.assert_array_equal(loaded.views, original.views)
        assert loaded.metadata == original.metadata
    assert not list((tmp_path / "sub").glob(".*.tmp")), "atomic save left its temporary file"
    with np.load(path) as data:
        assert data["triangle_ids"].dtype == np.int32 and int(data["version"]) == EMBEDDING_VERSION


@pytest.mark.parametrize(
    "case, message",
    [
        ("garbage", "not a readable npz"),
        ("missing", "file not found"),
        ("other format", "not a landmark-embedding file"),
        ("newer", "newer than this studio reads"),
        ("negative barycentrics", "barycentrics"),
        ("shapes", "inconsistent shapes"),
    ],
)
def test_bad_files_fail_with_one_line(tmp_path, case, message):
    path = tmp_path / "bad.npz"
    good = {
        "format": np.array("simon-says-studio/landmark-embedding"),
        "version": np.array(EMBEDDING_VERSION),
        "triangle_ids": np.array([1, 2], np.int32),
        "barycentrics": np.array([[1, 0, 0], [0, 1, 0]], np.float32),
        "spread_mm": np.zeros(2, np.float32),
        "views": np.ones(2, np.int32),
    }
    if case == "garbage":
        path.write_bytes(b"PK\x03\x04 not really a zip")
    elif case != "missing":
        arrays = dict(good)
        if case == "other format":
            arrays["format"] = np.array("simon-says-studio/rig-parameters")
        elif case == "newer":
            arrays["version"] = np.array(EMBEDDING_VERSION + 1)
        elif case == "negative barycentrics":
            arrays["barycentrics"] = np.array([[1.5, -0.5, 0], [0, 1, 0]], np.float32)
        elif case == "shapes":
            arrays["views"] = np.ones(3, np.int32)
        np.savez(path, **arrays)
    with pytest.raises(LandmarkEmbeddingFileError, match=message) as error:
        LandmarkEmbedding.load(path)
    assert "\n" not in str(error.value) and isinstance(error.value, RigFileError)


# -- geometry against slow references -------------------------------------------------------------------


def _bumpy_sphere(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=2, radius=5.0)
    rng = np.random.default_rng(seed)
    vertices = sphere.vertices * (1 + 0.08 * rng.standard_normal((len(sphere.vertices), 1)))
    return vertices, np.asarray(sphere.faces)


def _first_hit_reference(vertices, triangles, origin, direction) -> tuple[int, float]:
    best, best_t = -1, np.inf
    for f, (a, b, c) in enumerate(vertices[triangles]):
        matrix = np.c_[-direction, b - a, c - a]
        if abs(np.linalg.det(matrix)) < 1e-12:
            continue
        t, u, v = np.linalg.solve(matrix, origin - a)
        if u >= 0 and v >= 0 and u + v <= 1 and 0 < t < best_t:
            best, best_t = f, t
    return best, best_t


def test_cast_rays_matches_a_brute_force_reference():
    vertices, triangles = _bumpy_sphere()
    rng = np.random.default_rng(1)
    origin = np.array([3.0, -2.0, 30.0])
    targets = rng.uniform(-7, 7, size=(40, 3))  # some rays miss the sphere
    directions = targets - origin
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    triangle, distance = cast_rays(vertices, triangles, origin, directions)
    for r in range(len(directions)):
        expected, expected_t = _first_hit_reference(vertices, triangles, origin, directions[r])
        assert triangle[r] == expected, r
        assert np.isclose(distance[r], expected_t) or (expected < 0 and np.isinf(distance[r]))
    assert (triangle >= 0).sum() > 10 and (triangle < 0).sum() > 3


def test_closest_surface_points_matches_exhaustive_search():
    import trimesh

    vertices, triangles = _bumpy_sphere(2)
    rng = np.random.default_rng(3)
    points = vertices[rng.choice(len(vertices), 30)] + rng.normal(scale=0.2, size=(30, 3))
    triangle, barycentrics, distance = closest_surface_points(vertices, triangles, points)
    corners = vertices[triangles]
    for n, point in enumerate(points):
        closest = trimesh.triangles.closest_point(corners, np.repeat(point[None], len(corners), axis=0))
        expected = np.linalg.norm(closest - point, axis=1).min()
        assert np.isclose(distance[n], expected, atol=1e-9)
    on_surface = np.einsum("ncx,nc->nx", corners[triangle], barycentrics)
    np.testing.assert_allclose(np.linalg.norm(on_surface - points, axis=1), distance, atol=1e-9)
    assert (barycentrics >= 0).all() and np.allclose(barycentrics.sum(axis=1), 1)


# -- against MediaPipe on a fresh render ----------------------------------------------------------------


@pytest.mark.gl
def test_projected_points_meet_mediapipe_on_a_fresh_render(embedding, ict_rig, assets_dir, record_property):
    """Default camera and lights (not the capture's), neutral and jaw open: the points follow MediaPipe."""
    from studio.core.tracking.face_landmarker import FaceLandmarker
    from studio.render.offscreen import OffscreenRenderer

    jaw_open = np.zeros(ict_rig.num_controls, np.float32)
    jaw_open[ict_rig.control_index("jawOpen")] = 0.5
    errors = {}
    with (
        OffscreenRenderer(ict_rig, size=(512, 512)) as renderer,
        FaceLandmarker(assets_dir / "face_landmarker.task") as landmarker,
    ):
        for name, vertices in (("neutral", ict_rig.neutral), ("jawOpen 0.5", ict_rig.evaluate(jaw_open))):
            face = landmarker.detect(renderer.render(vertices))
            assert face is not None, f"MediaPipe found no face ({name})"
            expected = renderer.project(embedding.positions(ict_rig, vertices))
            errors[name] = np.linalg.norm(face.pixels(renderer.size) - expected, axis=1)
    summary = {
        name: (round(float(np.median(e)), 2), round(float(np.percentile(e, 90)), 2))
        for name, e in errors.items()
    }
    record_property("embedding_reprojection_px_median_p90", summary)
    neutral, jaw = errors["neutral"], errors["jawOpen 0.5"]
    assert np.median(neutral) < 2.0 and np.percentile(neutral, 90) < 4.0, summary
    assert np.median(jaw) < 3.0 and np.percentile(jaw, 90) < 6.0, summary
    # the lower lip drops ~2 cm (~27 px here): inner-lip points on the wrong lip would be far off
    lips = np.r_[UPPER_INNER_LIP, LOWER_INNER_LIP]
    assert jaw[lips].max() < 8.0, summary
