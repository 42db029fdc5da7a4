"""A rig and everything the studio uses it with, loaded together once: :class:`RigBundle`.

Tracking, calibrating and showing a rig need more than its geometry: its definition (what the controls mean),
the landmark embedding (where MediaPipe's 478 landmarks sit on it) and the gaze model (reading ``eyeLook``
from the irises). A session names its rig in ``session.json`` (``rig.name``); :meth:`RigBundle.load` turns
that name into the four parts, once per process, and every job of the session is handed the same bundle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from studio.core.errors import StudioError
from studio.core.rig.definition import RigDefinition
from studio.core.rig.rig import Rig, RigParameters
from studio.core.tracking.gaze import GazeModel
from studio.core.tracking.landmark_embedding import LandmarkEmbedding
from studio.core.tracking.tracker import Tracker

__all__ = ["RIG_NAMES", "RigBundle", "UnknownRigError"]


class UnknownRigError(StudioError):
    """A rig name the studio has no rig for (one line naming the ones it has)."""


@dataclass(frozen=True, eq=False)
class RigBundle:
    """A rig with its definition, landmark embedding and gaze model.

    Attributes
    ----------
    name : str
        The rig's name, as sessions record it (``ict_facekit``).
    rig : Rig
        The animation rig θ_A (shared and read-only: derive rigs with :meth:`posed_with`).
    definition : RigDefinition
        What its controls mean.
    embedding : LandmarkEmbedding
        Where MediaPipe's 478 landmarks sit on its surface.
    gaze : GazeModel or None
        Reads its ``eyeLook`` controls from the irises.
    """

    name: str
    rig: Rig
    definition: RigDefinition
    embedding: LandmarkEmbedding
    gaze: GazeModel | None

    @classmethod
    def load(cls, name: str = "ict_facekit") -> RigBundle:
        """The bundle of the rig called ``name`` (one of :data:`RIG_NAMES`), loaded once per process.

        Raises
        ------
        UnknownRigError
            No rig of that name.
        RigFileError, AssetUnavailableError
            Its files are missing or wrong.
        """
        if name not in _LOADERS:
            raise UnknownRigError(f"unknown rig {name!r} (the studio has {', '.join(RIG_NAMES)})")
        rig = _LOADERS[name]()
        cached = _LOADED.get(name)
        if cached is None or cached.rig is not rig:  # the rig's file changed: everything loads anew
            cached = _LOADED[name] = cls(name, rig, RigDefinition.ict(), LandmarkEmbedding.ict(), GazeModel.ict())
        return cached

    def posed_with(self, parameters: RigParameters | None) -> Rig:
        """The rig with other parameters θ (θ_S, θ̂_S, θ_GT), or θ_A itself for ``None``."""
        return self.rig if parameters is None else self.rig.with_parameters(parameters)

    def tracker(self, parameters: RigParameters | None = None, **options) -> Tracker:
        """A tracker whose rig is θ_A, or ``parameters`` (θ_T: θ_S, θ̂_S); ``options`` go to :class:`Tracker`."""
        return Tracker(self.posed_with(parameters), self.embedding, gaze=self.gaze, **options)


#: Loaders of the rigs the studio has, by name.
_LOADERS: dict[str, Callable[[], Rig]] = {"ict_facekit": Rig.ict}
_LOADED: dict[str, RigBundle] = {}

#: The names of the rigs a session can use.
RIG_NAMES: tuple[str, ...] = tuple(_LOADERS)
