"""Shared fixtures: the real ICT rig from STUDIO_ASSETS_DIR (CI points it at ../shared/assets), the real footage
beside the checkout (``../shared/footage``, or STUDIO_FOOTAGE_DIR), synthetic sessions.

The tests mirror the package (``tests/core/tracking/`` tests ``studio/core/tracking/``); pure tests run first,
then offscreen GL tests, then Qt windows (:func:`pytest_collection_modifyitems`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _assets_dir() -> Path | None:
    folder = os.environ.get("STUDIO_ASSETS_DIR")
    return Path(folder) if folder and Path(folder, "ict_facekit.npz").exists() else None


@pytest.fixture(scope="session")
def assets_dir() -> Path:
    """The folder holding the third-party assets; tests needing them skip when it is not set."""
    folder = _assets_dir()
    if folder is None:
        pytest.skip("STUDIO_ASSETS_DIR does not point at a folder with ict_facekit.npz")
    return folder


@pytest.fixture(scope="session")
def ict_rig(assets_dir):
    """The ICT-FaceKit rig (26,719 vertices, 53 controls, 100 identity modes)."""
    from studio.core.rig.rig import Rig

    return Rig.from_npz(assets_dir / "ict_facekit.npz", name="ict_facekit")


def pytest_collection_modifyitems(config, items):
    """Pure tests first, then offscreen GL tests, then Qt windows (napari's habit: fast failures first)."""

    def rank(item) -> int:
        return 2 if item.get_closest_marker("qt") else 1 if item.get_closest_marker("gl") else 0

    items.sort(key=rank)  # stable: file order is kept within each rank


#: The checkout.
ROOT = Path(__file__).resolve().parents[1]


def footage_folder() -> Path:
    """Where the real face clips are: ``$STUDIO_FOOTAGE_DIR``, else ``../shared/footage`` beside the checkout."""
    folder = os.environ.get("STUDIO_FOOTAGE_DIR")
    return Path(folder) if folder else ROOT.parent / "shared" / "footage"


def _footage(name: str = "d10.mp4") -> Path:
    path = footage_folder() / name
    if not path.is_file():
        pytest.skip(f"{path} not found: real footage lives in ../shared/footage (or set STUDIO_FOOTAGE_DIR)")
    return path


@pytest.fixture(scope="session")
def footage():
    """``footage(name="d10.mp4") -> Path``: a real face clip; the test skips when it is not there."""
    return _footage


def _record_synthetic_session(folder: Path, seed: int, expression_names: list[str]):
    """Record a Simon-Says session of a few expressions from the synthetic performer (render → MediaPipe)."""
    from studio.core.jobs import run_job
    from studio.core.session.synthetic import synthetic_session_job
    from studio.render.synthetic_performer import PromptedPerformerSource

    return run_job(synthetic_session_job(folder, seed, lambda rig: PromptedPerformerSource(rig, seed=seed),
                                         expression_names))


def _short_clip(path: Path, frames: int = 40) -> Path:
    """The first ``frames`` frames of the footage clip d10.mp4, written as a small MJPG file at ``path``."""
    import cv2

    source = cv2.VideoCapture(str(_footage("d10.mp4")))
    writer = None
    for _ in range(frames):
        ok, image = source.read()
        if not ok:
            break
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, image.shape[1::-1])
        writer.write(image)
    source.release()
    writer.release()
    return path


@pytest.fixture(scope="session")
def record_synthetic_session(assets_dir):
    """``record(folder, seed, expression_names) -> Session``: a few synthetic-performer captures."""
    return _record_synthetic_session


@pytest.fixture(scope="session")
def short_clip():
    """``clip(path, frames=40) -> path``: the start of the footage clip d10.mp4 (skips without the footage)."""
    return _short_clip


@pytest.fixture(scope="session", autouse=True)
def _built_detector_response_model():
    """The studio's model of MediaPipe's response to the rig (``make models``), rendered before the first test
    when the assets are here and it is missing, so that every test sees the studio as a user has it."""
    if _assets_dir() is None:
        yield None
        return
    from studio.core.calibration.detector_response import model_path

    path = model_path("ict_facekit")
    if not path.exists():
        import subprocess
        import sys

        subprocess.run([sys.executable, "main.py", "train", "detector-response", "--quiet", "--out", str(path)],
                       cwd=ROOT, check=True, timeout=1800)
    yield path


@pytest.fixture(scope="session")
def detector_response_model(assets_dir, _built_detector_response_model):
    """The path of the built response model (the test skips without the assets)."""
    return _built_detector_response_model


class _MediaFiles:
    """Videos made by the tests with PyAV: variable frame rate, timestamps going backwards, sound only."""

    @staticmethod
    def vfr_video(path: Path, times_s, size=(96, 64), tone_hz: float | None = None) -> Path:
        """Frames at exactly ``times_s`` (seconds), each a flat grey of its index × 4; with a tone when asked."""
        import numpy as np

        from studio.core.io.media import TakeVideoWriter

        writer = TakeVideoWriter(path, size, 30.0, audio_rate=None if tone_hz is None else 16000)
        for index, time_s in enumerate(times_s):
            writer.add_frame(np.full((size[1], size[0], 3), 4 * index, np.uint8), float(time_s))
        if tone_hz is not None:
            count = int(round((float(times_s[-1]) + 1 / 30) * 16000))
            writer.add_audio(0.5 * np.sin(2 * np.pi * tone_hz * np.arange(count) / 16000)[:, None])
        return writer.close()

    @staticmethod
    def backwards_video(path: Path, order=(0, 1, 2, 3, 6, 5, 7, 8)) -> Path:
        """An MJPEG Matroska whose sixth frame is presented before the fifth (decode order kept valid)."""
        from fractions import Fraction

        import av
        import numpy as np

        out = av.open(str(path), "w", format="matroska")
        stream = out.add_stream("mjpeg", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 30)
        packets = []
        for index in range(len(order)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 30 * index, np.uint8), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 30)
            packets += list(stream.encode(frame))
        packets += list(stream.encode(None))
        for dts, (packet, pts) in enumerate(zip(packets, order, strict=True)):
            packet.pts, packet.dts = pts, dts
            out.mux(packet)
        out.close()
        return path

    @staticmethod
    def audio_only(path: Path, seconds: float = 1.0) -> Path:
        """An ``.mp4`` holding one second of silence and no pictures."""
        import av
        import numpy as np

        out = av.open(str(path), "w", format="mp4")
        stream = out.add_stream("aac", rate=16000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, int(16000 * seconds)), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
        out.close()
        return path


@pytest.fixture(scope="session")
def media_files():
    """Makers of test videos (:class:`_MediaFiles`): ``vfr_video``, ``backwards_video``, ``audio_only``."""
    return _MediaFiles
