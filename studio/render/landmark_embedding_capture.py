"""Render the neutral rig from several views and embed MediaPipe's landmarks on it.

The render-driven half of :mod:`studio.core.tracking.landmark_embedding`: :func:`capture_landmark_views` renders
the neutral with the :class:`~studio.render.offscreen.OffscreenRenderer` from a grid of yaw × pitch
cameras framed close on the face, detects MediaPipe's 478 landmarks in each render (IMAGE mode) and reads
the rendered depth at each landmark; :func:`compute_landmark_embedding` then hands the views to
:func:`studio.core.tracking.landmark_embedding.embed_landmarks` (ray casting and robust consensus).

``scripts/embed_landmarks.py`` runs it and writes ``studio/resources/landmarks/mediapipe478_on_ict.npz``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from studio.core.errors import StudioError
from studio.core.rig.rig import Rig
from studio.core.tracking.face_landmarker import FaceLandmarker
from studio.core.tracking.landmark_embedding import (
    EmbeddingReport,
    LandmarkEmbedding,
    LandmarkView,
    canonical_face_model,
    embed_landmarks,
    landmark_facing,
)
from studio.render.face_scene import Camera, Lighting, face_materials
from studio.render.offscreen import OffscreenRenderer

#: Camera yaws (azimuth about +y, positive towards the face's left), degrees.
DEFAULT_YAWS_DEG = (-30.0, -15.0, 0.0, 15.0, 30.0)
#: Camera pitches (elevation, positive looking down on the face), degrees.
DEFAULT_PITCHES_DEG = (-10.0, 0.0, 10.0)
#: Camera distance: the landmarks span about 80 % of the image height at the default 30° field of view.
CAPTURE_DISTANCE_CM = 42.0
#: Image size of the renders, pixels.
CAPTURE_SIZE = (512, 512)
#: Lights of the renders: symmetric about the face's midline, so that shading does not pull MediaPipe's
#: landmarks to one side (the studio's default key light comes from the face's left).
CAPTURE_LIGHTING = Lighting(key_direction=(0.0, 0.55, 1.0), fill_direction=(0.0, -0.4, 1.0))


def capture_cameras(
    yaws_deg: tuple[float, ...] = DEFAULT_YAWS_DEG,
    pitches_deg: tuple[float, ...] = DEFAULT_PITCHES_DEG,
    distance_cm: float = CAPTURE_DISTANCE_CM,
) -> list[Camera]:
    """The yaw × pitch grid of cameras, framed close on the face (pitch-major order).

    Parameters
    ----------
    yaws_deg, pitches_deg : tuple of float
        Azimuths and elevations of :class:`Camera`, degrees.
    distance_cm : float
        Distance from the camera to the face's centre, centimetres.

    Returns
    -------
    list of Camera
        ``len(pitches_deg) × len(yaws_deg)`` cameras.
    """
    return [
        Camera(distance_cm=float(distance_cm), azimuth_deg=float(yaw), elevation_deg=float(pitch))
        for pitch in pitches_deg
        for yaw in yaws_deg
    ]


def ray_triangles(rig: Rig) -> np.ndarray:
    """Indices into ``rig.triangles`` of what the renders show as solid surface, shape ``(F',)``, int64.

    The drawn triangles of :func:`~studio.render.face_scene.face_materials` (hidden helper shells and the
    inner iris shells left out) less the eyelash cards, which are mostly see-through.
    """
    _, _, drawn = face_materials(rig)
    num_vertices = rig.num_vertices

    def keys(triangles: np.ndarray) -> np.ndarray:
        t = np.asarray(triangles, np.int64)
        return (t[:, 0] * num_vertices + t[:, 1]) * num_vertices + t[:, 2]

    ids = np.flatnonzero(np.isin(keys(rig.triangles), keys(drawn)))
    lashes = [i for i, name in enumerate(rig.group_names) if name.startswith("eyelashes")]
    on_lashes = np.isin(rig.vertex_group[rig.triangles[ids]], lashes).any(axis=1)
    return ids[~on_lashes]


def _view_name(camera: Camera) -> str:
    return f"yaw{camera.azimuth_deg:+.0f}_pitch{camera.elevation_deg:+.0f}"


def capture_landmark_views(
    rig: Rig,
    cameras: list[Camera],
    size: tuple[int, int] = CAPTURE_SIZE,
    model_path: Path | None = None,
    lighting: Lighting | None = None,
) -> tuple[list[LandmarkView], list[str]]:
    """Render the rig's neutral from each camera and detect MediaPipe's landmarks (IMAGE mode).

    Parameters
    ----------
    rig : Rig
        The rig; its neutral is rendered.
    cameras : list of Camera
        The views.
    size : tuple of int
        Image ``(width, height)``, pixels.
    model_path : Path, optional
        MediaPipe's ``face_landmarker.task``; the asset manager's copy when omitted.
    lighting : Lighting, optional
        The light rig; :data:`CAPTURE_LIGHTING` when omitted.

    Returns
    -------
    views : list of LandmarkView
        One per camera in which MediaPipe found the face.
    missed : list of str
        Names of the views in which it found none.
    """
    model = canonical_face_model(model_path)
    views, missed = [], []
    with (
        OffscreenRenderer(rig, size=size, lighting=lighting or CAPTURE_LIGHTING) as renderer,
        FaceLandmarker(model_path, running_mode="image") as mp,
    ):
        for camera in cameras:
            renderer.set_camera(camera)
            maps = renderer.render_maps(rig.neutral)
            face = mp.detect(maps.rgb)
            if face is None:
                missed.append(_view_name(camera))
                continue
            pixels = face.pixels(renderer.size)
            cols = np.clip(np.floor(pixels[:, 0]).astype(int), 0, size[0] - 1)
            rows = np.clip(np.floor(pixels[:, 1]).astype(int), 0, size[1] - 1)
            views.append(
                LandmarkView(
                    pixels=pixels,
                    world_to_camera=camera.world_to_camera(),
                    world_to_pixel=camera.world_to_pixel(renderer.size),
                    rendered_depth_cm=maps.depth[rows, cols].astype(np.float64),
                    predicted_facing=landmark_facing(face.landmarks, renderer.size, model),
                    name=_view_name(camera),
                )
            )
    return views, missed


def compute_landmark_embedding(
    rig: Rig,
    yaws_deg: tuple[float, ...] = DEFAULT_YAWS_DEG,
    pitches_deg: tuple[float, ...] = DEFAULT_PITCHES_DEG,
    size: tuple[int, int] = CAPTURE_SIZE,
    distance_cm: float = CAPTURE_DISTANCE_CM,
    model_path: Path | None = None,
) -> tuple[LandmarkEmbedding, EmbeddingReport]:
    """Embed MediaPipe's 478 landmarks on the rig from renders of its neutral (see module docstring).

    Parameters
    ----------
    rig : Rig
        The rig (ICT-FaceKit layout: vertex groups name the skin and eyeballs).
    yaws_deg, pitches_deg : tuple of float
        The camera grid, degrees (:func:`capture_cameras`).
    size : tuple of int
        Render ``(width, height)``, pixels.
    distance_cm : float
        Camera distance to the face's centre, centimetres.
    model_path : Path, optional
        MediaPipe's ``face_landmarker.task``; the asset manager's copy when omitted.

    Returns
    -------
    embedding : LandmarkEmbedding
        The embedding, with its camera settings in ``metadata``.
    report : EmbeddingReport
        Per-view diagnostics (:meth:`EmbeddingReport.summary` for a text report).
    """
    import mediapipe

    cameras = capture_cameras(yaws_deg, pitches_deg, distance_cm)
    views, missed = capture_landmark_views(rig, cameras, size, model_path)
    if missed:
        raise StudioError(f"MediaPipe found no face in views {', '.join(missed)}")
    camera = cameras[0]
    metadata = {
        "yaw_deg": ",".join(f"{y:g}" for y in yaws_deg),
        "pitch_deg": ",".join(f"{p:g}" for p in pitches_deg),
        "distance_cm": f"{distance_cm:g}",
        "fov_deg": f"{camera.fov_deg:g}",
        "target_cm": ",".join(f"{t:g}" for t in camera.target),
        "image_size": f"{size[0]}x{size[1]}",
        "mediapipe": str(getattr(mediapipe, "__version__", "?")),
        "created_by": "scripts/embed_landmarks.py",
    }
    return embed_landmarks(rig, views, ray_triangles(rig), metadata=metadata)


#: Expressions of :func:`expression_reprojection_px`: control name → value (others 0).
VALIDATION_EXPRESSIONS: dict[str, dict[str, float]] = {
    "neutral": {},
    "jawOpen 0.5": {"jawOpen": 0.5},
    "smile 0.8": {"mouthSmile_L": 0.8, "mouthSmile_R": 0.8},
    "pucker 0.8": {"mouthPucker": 0.8},
    "browInnerUp 1": {"browInnerUp_L": 1.0, "browInnerUp_R": 1.0},
    "eyeBlink 0.6": {"eyeBlink_L": 0.6, "eyeBlink_R": 0.6},
}


def expression_reprojection_px(
    rig: Rig,
    embedding: LandmarkEmbedding,
    expressions: dict[str, dict[str, float]] | None = None,
    camera: Camera | None = None,
    size: tuple[int, int] = CAPTURE_SIZE,
    model_path: Path | None = None,
) -> dict[str, np.ndarray]:
    """Distance between MediaPipe's detections and the embedded points on renders of posed expressions.

    The embedding is made on the neutral only; this checks that its points move with MediaPipe's
    landmarks (e.g. the inner lip contour with the right lip when the jaw opens).

    Parameters
    ----------
    rig : Rig
        The rig.
    embedding : LandmarkEmbedding
        Points on ``rig``.
    expressions : dict, optional
        Name → {control name: value}; :data:`VALIDATION_EXPRESSIONS` when omitted.
    camera : Camera, optional
        The view; frontal at the capture distance when omitted.
    size : tuple of int
        Image ``(width, height)``, pixels.
    model_path : Path, optional
        MediaPipe's ``face_landmarker.task``; the asset manager's copy when omitted.

    Returns
    -------
    dict of str to np.ndarray
        Per expression, shape ``(N,)``, pixels; ``nan`` everywhere when MediaPipe found no face.
    """
    expressions = VALIDATION_EXPRESSIONS if expressions is None else expressions
    camera = camera if camera is not None else Camera(distance_cm=CAPTURE_DISTANCE_CM)
    errors = {}
    with (
        OffscreenRenderer(rig, size=size, camera=camera, lighting=CAPTURE_LIGHTING) as renderer,
        FaceLandmarker(model_path, running_mode="image") as landmarker,
    ):
        for name, values in expressions.items():
            controls = np.zeros(rig.num_controls, np.float32)
            for control, value in values.items():
                controls[rig.control_index(control)] = value
            vertices = rig.evaluate(controls)
            face = landmarker.detect(renderer.render(vertices))
            expected = renderer.project(embedding.positions(rig, vertices))
            errors[name] = (
                np.linalg.norm(face.pixels(renderer.size) - expected, axis=1)
                if face is not None
                else np.full(len(embedding), np.nan)
            )
    return errors
