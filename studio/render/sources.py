"""Frame sources by name: the one opener behind every source chooser and command of the studio.

A user names a source as text. Cameras, videos and image folders are opened by the core
(:func:`studio.core.tracking.frame_sources.open_frame_source`: ``camera[:N]``, a video file, a folder of
images); synthetic performers are rendered here:

- ``synthetic[:SEED]`` — a rig playing ``seconds`` of moderate expressions with gentle head motion
  (:func:`studio.core.rig.control_curves.moderate_expression_curves` of that seed): a take to record, or
  something to track live without a camera;
- ``prompted[:SEED]`` — a rig that follows Simon-Says prompts (:class:`PromptedPerformerSource`): the
  capture page's camera for a synthetic performer.

:func:`reads_in_real_time` says how a source is read: cameras and videos at their own pace (frames that
tracking cannot keep up with are dropped), synthetic performers as fast as they render.
"""

from __future__ import annotations

import os

from studio.core.rig.control_curves import moderate_expression_curves
from studio.core.rig.rig import Rig
from studio.core.tracking.frame_sources import FrameSource, FrameSourceError, open_frame_source
from studio.render.face_scene import DecimatedSkin
from studio.render.synthetic_performer import PromptedPerformerSource, SyntheticPerformerSource

__all__ = ["PROMPTED", "SYNTHETIC", "is_synthetic", "open_source", "reads_in_real_time"]

#: The scheme of a synthetic performer playing moderate expressions.
SYNTHETIC = "synthetic"
#: The scheme of a synthetic performer following Simon-Says prompts.
PROMPTED = "prompted"
#: Frames per second of the synthetic performers.
SYNTHETIC_FPS = 30.0


def _scheme_and_seed(spec: str) -> tuple[str, int | None]:
    scheme, _, argument = spec.partition(":")
    if scheme not in (SYNTHETIC, PROMPTED):
        return scheme, None
    try:
        return scheme, int(argument or 0)
    except ValueError:
        raise FrameSourceError(f"{spec}: the seed must be an integer, e.g. {scheme}:3") from None


def is_synthetic(spec: str | os.PathLike | FrameSource) -> bool:
    """Whether ``spec`` names a synthetic performer (``synthetic[:SEED]`` or ``prompted[:SEED]``)."""
    if isinstance(spec, FrameSource):
        return isinstance(spec, SyntheticPerformerSource | PromptedPerformerSource)
    return os.fspath(spec).partition(":")[0] in (SYNTHETIC, PROMPTED)


def reads_in_real_time(spec: str | os.PathLike | FrameSource) -> bool:
    """Whether a source is read at its own pace (cameras, videos) rather than as fast as it renders."""
    return not is_synthetic(spec)


def open_source(
    spec: str | os.PathLike, performer: Rig | None = None, seconds: float = 600.0, skin: DecimatedSkin | None = None
) -> FrameSource:
    """Open the source a user named.

    Parameters
    ----------
    spec : str or os.PathLike
        ``camera[:N]``, a video file, a folder of images, ``synthetic[:SEED]`` or ``prompted[:SEED]``.
    performer : Rig, optional
        The rig a synthetic performer plays (θ_GT applied for a session's performer); by default the ICT rig.
    seconds : float
        Length of a ``synthetic`` performance, seconds (rendered at 640×480, 30 fps, as it is read).
    skin : DecimatedSkin, optional
        A ``synthetic`` performer renders this lighter mesh of ``performer`` (the live view's).

    Returns
    -------
    FrameSource
        The opened source (close it when done).

    Raises
    ------
    FrameSourceError
        Nothing usable at ``spec`` (one line saying why).
    """
    text = os.fspath(spec)
    scheme, seed = _scheme_and_seed(text)
    if seed is None:
        return open_frame_source(text)
    rig = performer if performer is not None else Rig.ict()
    if scheme == PROMPTED:
        return PromptedPerformerSource(rig, fps=SYNTHETIC_FPS, seed=seed)
    frames = max(1, round(seconds * SYNTHETIC_FPS))
    curves = moderate_expression_curves(rig.expression_names, frames, SYNTHETIC_FPS, seed)
    return SyntheticPerformerSource(rig, curves, fps=SYNTHETIC_FPS, seed=seed, skin=skin)
