"""Retarget targets: the rigs a take is played on, as data files plus the code that builds them.

Retargeting is by *parallel parameterization* (paper 001 Sec. 10.1–10.3): the performer's tracked semantic
controls drive the target's own rig. Three kinds of target:

``identity``
    Another person from ICT's identity space (its identity coefficients, given or seeded), with ICT's 53
    controls. Optionally with its own Simon-Says calibration: ``rig_parameters`` names the θ (deltas) of
    that person's calibrated rig, and ``session:FOLDER`` makes a target of a studio session's performer (the
    identity fitted to the session's neutral capture and the session's θ_S).
``stylized``
    A cartoon character: the ICT rig under a smooth volumetric morph (:class:`VolumetricMorph`: larger eyes
    and head, smaller chin), its blendshapes carried through the morph (:meth:`VolumetricMorph.carry`), and
    per-region exaggeration gains on the controls. Gains act in control space,
    ``c_target = clip(g_region · c, 0, 1)``: every target pose is then a pose of the rig with controls in
    [0, 1], so lips and eyelids close exactly as well as on the morphed rig. Controls that a corrective
    constraint poses together (``jawOpen`` with ``mouthClose`` for a sealed M/B/P) share the smallest of
    their gains, so that a sealed lip stays sealed.
``game``
    A game character with its own, smaller control space (visemes ``AA``, ``EE``, ``OO``, ``CH``, ``MBP``,
    ``FV``, blinks and emotions), each control defined as data by a combination of ICT shapes
    (``shape``: ``{ICT control: weight}``), then volumetrically morphed into the character. An ICT take
    becomes game controls by projection (:meth:`RetargetTarget.retarget`): per frame, the game control
    values in [0, 1] whose combination of ICT shapes best reproduces, on ICT's average face, the geometry of
    the tracked ICT controls (least squares over the face's vertices, in cm). The performer-side version of
    the game rig (:meth:`RetargetTarget.performer_rig`, the character's shapes brought back through the
    inverse morph onto the performer's face) and its Simon-Says set (:meth:`RetargetTarget.simon_says_set`,
    from :func:`studio.core.capture.expression_sets.generate_simon_says_set`) let the performer be calibrated in the
    game's own control space, as in the paper's Sec. 10.3. ``docs/retargeting.md`` lists how each ICT
    control reaches the visemes and emotions.

Target files are versioned JSON (``format``: ``"simon-says-retarget-target"``, layout in
``docs/retargeting.md``); the packaged ones live in ``studio/resources/targets/`` and :func:`available_targets`
lists them. A wrong file raises :class:`TargetError` with one line naming the file and the problem.

Shapes: ``K`` ICT controls (53), ``G`` target controls, ``V`` vertices, ``T`` frames. Positions in
centimetres.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio.core.capture.expression_sets import SimonSaysSet, generate_simon_says_set
from studio.core.errors import StudioError
from studio.core.geometry.bounded_least_squares import BoundedLeastSquares
from studio.core.io.json_fields import JsonFields
from studio.core.io.resources import RESOURCES_DIR
from studio.core.rig.definition import REGIONS, RigDefinition, RigDefinitionError
from studio.core.rig.rig import Rig, RigParameters

__all__ = [
    "FORMAT",
    "KINDS",
    "SUPPORTED_VERSIONS",
    "TARGETS_DIR",
    "FeatureMorph",
    "RetargetTarget",
    "TargetError",
    "TargetInfo",
    "VolumetricMorph",
    "available_targets",
    "load_target",
]

FORMAT = "simon-says-retarget-target"
"""The value of a target file's ``format`` field."""

SUPPORTED_VERSIONS: tuple[int, ...] = (1,)
"""Versions of the target file format this module reads."""

KINDS: tuple[str, ...] = ("identity", "stylized", "game")
"""Kinds of retarget target."""

TARGETS_DIR: Path = RESOURCES_DIR / "targets"
"""The packaged target files."""

#: Shape weights below this do not count as moving a region (for the Simon-Says keep-still advice).
_MOVES_REGION_WEIGHT = 0.2

_TOP_KEYS = {"format", "version", "name", "kind", "label", "description", "identity", "morph", "gains",
             "rig_parameters", "controls"}  # fmt: skip
_TOP_REQUIRED = ("format", "version", "name", "kind", "label", "description")
_FEATURE_KEYS = {"name", "anchor", "offset_cm", "scale", "radius_cm"}
_CONTROL_KEYS = {"name", "label", "region", "role", "mirror", "facs", "arkit", "shape"}


class TargetError(StudioError):
    """A target file is unreadable or inconsistent, or a target cannot be built (one-line message)."""


# ----------------------------------------------------------------------------------------------------------
# The volumetric morph
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureMorph:
    """One feature of a volumetric morph: a smooth local scaling about an anchor.

    Attributes
    ----------
    name : str
        What it changes (``eyes``, ``chin``, ...).
    anchor : str or tuple of float
        ``"group:NAME"`` (the centroid of a vertex group, e.g. ``group:eyeball_left``),
        ``"landmark:N"`` (Multi-PIE landmark ``N`` of the rig) or a point ``(x, y, z)`` in cm.
    offset_cm : tuple of float
        Added to the anchor, cm.
    scale : tuple of float
        Scale factors along x, y, z at the centre (``> 0``; 1 leaves the feature as it is).
    radius_cm : float
        ``σ`` of the Gaussian falloff, cm.
    """

    name: str
    anchor: str | tuple[float, float, float]
    offset_cm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    radius_cm: float = 2.0

    def centre(self, rig: Rig) -> np.ndarray:
        """The feature's centre on ``rig`` (its neutral), shape ``(3,)``, cm."""
        anchor = self.anchor
        if isinstance(anchor, str):
            kind, _, value = anchor.partition(":")
            if kind == "group" and value in rig.group_names:
                point = rig.neutral[rig.group_vertices(value)].mean(axis=0)
            elif kind == "landmark" and value.isdigit() and int(value) < len(rig.landmarks_multipie68):
                point = rig.neutral[rig.landmarks_multipie68[int(value)]]
            else:
                raise TargetError(f"morph feature '{self.name}': anchor {anchor!r} is not on rig {rig.name}")
        else:
            point = np.asarray(anchor, np.float64)
        return np.asarray(point, np.float64) + np.asarray(self.offset_cm, np.float64)


@dataclass(frozen=True)
class VolumetricMorph:
    """A smooth space warp ``f(x) = x + Σ_i w_i(x) (s_i − 1) ⊙ (x − c_i)``, ``w_i = exp(−|x − c_i|² / 2σ_i²)``.

    Each feature scales space about its centre ``c_i`` by ``s_i`` near it and fades out smoothly (C∞) over
    ``σ_i``; the rest of the head is left alone. Scales and radii are kept such that the warp does not fold
    (:meth:`jacobian_determinant` stays positive on the mesh; tested).

    Attributes
    ----------
    centres : np.ndarray
        ``c_i``, shape ``(N, 3)``, cm.
    scales : np.ndarray
        ``s_i``, shape ``(N, 3)``.
    radii : np.ndarray
        ``σ_i``, shape ``(N,)``, cm.
    """

    centres: np.ndarray
    scales: np.ndarray
    radii: np.ndarray

    @classmethod
    def from_features(cls, features: Sequence[FeatureMorph], rig: Rig) -> VolumetricMorph:
        """The morph of ``features`` placed on ``rig``'s neutral."""
        if not features:
            return cls(np.zeros((0, 3)), np.ones((0, 3)), np.ones(0))
        return cls(
            np.stack([f.centre(rig) for f in features]),
            np.asarray([f.scale for f in features], np.float64),
            np.asarray([f.radius_cm for f in features], np.float64),
        )

    def _weights(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        offsets = points[..., None, :] - self.centres  # (..., N, 3)
        weights = np.exp(-(offsets**2).sum(-1) / (2.0 * self.radii**2))  # (..., N)
        return offsets, weights

    def apply(self, points: np.ndarray) -> np.ndarray:
        """``f(points)``.

        Parameters
        ----------
        points : np.ndarray
            Shape ``(..., 3)``, cm.

        Returns
        -------
        np.ndarray
            Morphed points, shape ``(..., 3)``, float64, cm.
        """
        points = np.asarray(points, np.float64)
        offsets, weights = self._weights(points)
        return points + (weights[..., None] * (self.scales - 1.0) * offsets).sum(axis=-2)

    def jacobian_determinant(self, points: np.ndarray) -> np.ndarray:
        """``det ∂f/∂x`` at ``points`` (shape ``(..., 3)``, cm); positive everywhere for a warp that does not fold.

        Returns
        -------
        np.ndarray
            Shape ``(...)``.
        """
        points = np.asarray(points, np.float64)
        offsets, weights = self._weights(points)
        gain = self.scales - 1.0  # (N, 3)
        # ∂/∂x_b of w (s − 1)_a (x − c)_a = (s − 1)_a [w δ_ab − w (x − c)_a (x − c)_b / σ²]
        eye = np.eye(3)
        term = weights[..., None, None] * gain[..., :, None] * (
            eye - offsets[..., :, None] * offsets[..., None, :] / (self.radii**2)[:, None, None]
        )
        return np.linalg.det(eye + term.sum(axis=-3))

    def carry(
        self, neutral: np.ndarray, deltas: np.ndarray, bases: Mapping[int, np.ndarray] | None = None
    ) -> np.ndarray:
        """Blendshapes carried through the morph: ``f(x + b_k + d_k) − f(x + b_k)`` per shape.

        Each shape is morphed as a whole pose, so every shape at full weight is exactly the morph of the
        source rig's pose (a blink that closes the eye still closes it). A corrective shape that is meant
        on top of another pose (ICT's ``mouthClose`` seals the lips of ``jawOpen``) is carried from that
        pose ``b_k``, so the combined pose is exact too (the lips stay sealed).

        Parameters
        ----------
        neutral : np.ndarray
            Source neutral ``x``, shape ``(V, 3)``, cm.
        deltas : np.ndarray
            Source shapes ``d``, shape ``(K, V, 3)``, cm.
        bases : mapping of int to np.ndarray, optional
            Shape index ``k`` to the offset ``b_k`` of the pose it corrects, shape ``(V, 3)``, cm; other
            shapes are carried from the neutral (``b_k = 0``).

        Returns
        -------
        np.ndarray
            Shape ``(K, V, 3)``, float32, cm.
        """
        neutral = np.asarray(neutral, np.float64)
        bases = dict(bases or {})
        out = np.zeros(np.shape(deltas), np.float32)
        for k in np.flatnonzero(np.abs(deltas).reshape(len(deltas), -1).max(axis=1) > 0):
            vertices = np.flatnonzero(np.abs(deltas[k]).max(axis=1) > 0)
            start = neutral[vertices] + (bases[k][vertices] if k in bases else 0.0)
            out[k, vertices] = self.apply(start + deltas[k, vertices]) - self.apply(start)
        return out

    def morph_rig(self, rig: Rig, name: str, definition: RigDefinition | None = None) -> Rig:
        """``rig`` under the morph: its neutral morphed and its shapes carried (:meth:`carry`).

        With ``definition``, each corrective constraint whose pose extends its reference pose (``jawOpen +
        mouthClose`` over ``jawOpen``) carries the added controls from the reference pose.
        """
        bases: dict[int, np.ndarray] = {}
        if definition is not None and definition.control_names == rig.expression_names:
            for constraint in definition.constraints:
                reference = constraint.reference_vector(rig.expression_names)
                if not reference.any():
                    continue
                offset = rig.evaluate(reference) - rig.neutral
                for control in constraint.controls:
                    if control not in constraint.reference_controls:
                        bases[definition.index_of(control)] = offset
        neutral = self.apply(rig.neutral).astype(np.float32)
        return replace(
            rig,
            name=name,
            neutral=neutral,
            base_neutral=neutral,
            expression_deltas=self.carry(rig.neutral, rig.expression_deltas, bases),
            identity_deltas=None,
            identity_coefficients=np.zeros(0, np.float32),
        )


# ----------------------------------------------------------------------------------------------------------
# Targets
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetInfo:
    """What a target is, read from its file without building it.

    Attributes
    ----------
    name : str
        The name ``load_target`` takes.
    kind : str
        One of :data:`KINDS`.
    label : str
        Display name.
    description : str
        One or two sentences.
    num_controls : int or None
        ``G`` for a game rig, ``None`` for targets with ICT's controls.
    path : Path
        The target file.
    """

    name: str
    kind: str
    label: str
    description: str
    num_controls: int | None
    path: Path


@dataclass(frozen=True, eq=False)
class RetargetTarget:
    """A built retarget target: the character's rig, what its controls mean, and the control mapping.

    Attributes
    ----------
    name, kind, label, description : str
        As in the file (:class:`TargetInfo`).
    rig : Rig
        The character: neutral ``(V, 3)`` and its controls' shapes ``(G, V, 3)``, cm (``G = K`` for
        identity and stylized targets).
    definition : RigDefinition
        The meaning of the character's ``G`` controls (ICT's for identity and stylized targets).
    source_definition : RigDefinition
        The ICT definition of the tracked controls a take carries.
    gains : np.ndarray
        Exaggeration gain per ICT control, shape ``(K,)`` (ones except for stylized targets).
    shape_weights : np.ndarray or None
        For a game target, each game control as a combination of ICT controls, shape ``(G, K)``; ``None``
        for targets with ICT's controls.
    morph : VolumetricMorph
        The character's morph from human space (no features for identity targets).
    metadata : dict
        Provenance (file, identity coefficients, calibration used).
    """

    name: str
    kind: str
    label: str
    description: str
    rig: Rig
    definition: RigDefinition
    source_definition: RigDefinition
    gains: np.ndarray
    shape_weights: np.ndarray | None
    morph: VolumetricMorph
    metadata: dict[str, Any] = field(default_factory=dict)
    _projection: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def control_names(self) -> tuple[str, ...]:
        """The target's ``G`` control names."""
        return self.definition.control_names

    @property
    def has_own_controls(self) -> bool:
        """Whether the target has its own control space (a game rig) rather than ICT's controls."""
        return self.shape_weights is not None

    # -- control mapping ------------------------------------------------------------------------------

    def retarget(self, controls: np.ndarray) -> np.ndarray:
        """The target's controls for tracked ICT controls.

        Identity targets take the controls as they are; stylized targets scale them by their gains and
        clip to [0, 1]; game targets project them onto their own controls (module notes). NaN rows (frames
        without a face) stay NaN.

        Parameters
        ----------
        controls : np.ndarray
            ICT controls, shape ``(T, K)`` or ``(K,)``, in [0, 1].

        Returns
        -------
        np.ndarray
            Target controls, shape ``(T, G)`` or ``(G,)``, float32 in [0, 1].
        """
        controls = np.asarray(controls, np.float64)
        single = controls.ndim == 1
        batch = controls[None] if single else controls
        num_source = self.source_definition.num_controls
        if batch.ndim != 2 or batch.shape[1] != num_source:
            raise ValueError(f"controls must have shape (T, {num_source}), got {controls.shape}")
        found = np.isfinite(batch).all(axis=1)
        out = np.full((batch.shape[0], len(self.control_names)), np.nan, np.float32)
        if found.any():
            if self.shape_weights is None:
                out[found] = np.clip(batch[found] * self.gains, 0.0, 1.0)
            else:
                out[found] = self._project(batch[found])
        return out[0] if single else out

    def _project(self, controls: np.ndarray) -> np.ndarray:
        """Game controls in [0, 1] minimising ``||Δ (W g − c)||²`` over the face, for ``c`` of shape ``(T, K)``."""
        if "solver" not in self._projection:
            gram = self._projection["gram"]  # (K, K): ICT's shapes over the face, cm² per unit control²
            root = np.linalg.cholesky(gram + 1e-9 * np.trace(gram) / len(gram) * np.eye(len(gram))).T
            design = root @ self.shape_weights.T  # (K, G)
            ridge = 1e-4 * float(np.mean(np.diag(design.T @ design)))
            self._projection["root"] = root
            self._projection["solver"] = BoundedLeastSquares(
                torch.as_tensor(design), 0.0, 1.0, ridge
            )
        targets = torch.as_tensor(controls @ self._projection["root"].T)
        return np.clip(self._projection["solver"].solve(targets).x.numpy(), 0.0, 1.0).astype(np.float32)

    def ict_controls(self, target_controls: np.ndarray) -> np.ndarray:
        """ICT controls that show the target's controls on an ICT-like rig, shape ``(..., K)`` for ``(..., G)``.

        The identity for targets with ICT's controls; ``clip(W g, 0, 1)`` for a game rig (its controls are
        combinations of ICT shapes).
        """
        target_controls = np.asarray(target_controls, np.float64)
        if self.shape_weights is None:
            return target_controls.astype(np.float32)
        return np.clip(target_controls @ self.shape_weights, 0.0, 1.0).astype(np.float32)

    def arkit(self, target_controls: np.ndarray) -> np.ndarray:
        """ARKit weights for the target's controls (Live Link Face, VMC), shape ``(..., 52)`` for ``(..., G)``.

        In :data:`~studio.core.io.arkit.ARKIT_BLENDSHAPE_NAMES` order; shapes the rig has no value
        for (``tongueOut``) are 0. A game rig's controls go through their ICT shapes (:meth:`ict_controls`).
        """
        return self.source_definition.arkit_vector(self.ict_controls(target_controls))

    # -- the game rig on the performer ---------------------------------------------------------------

    def performer_rig(self, performer: Rig) -> Rig:
        """The game rig on the performer (paper 001 Sec. 10.3): the character's shapes on the performer's face.

        The inverse of the character's morph takes the character's shapes back to human space, where they
        are the game shapes combined from ICT shapes; on the performer they are combined from the
        performer's own shapes (their θ: calibrated θ_S when the rig has it), on the performer's neutral.

        Parameters
        ----------
        performer : Rig
            The performer's ICT rig (their identity, and θ_A or θ_S).

        Returns
        -------
        Rig
            ``G`` controls named as the game rig's, the performer's neutral ``(V, 3)``, cm.
        """
        if self.shape_weights is None:
            raise TargetError(f"target {self.name} has ICT's controls: use the performer's own rig")
        if performer.expression_names != self.source_definition.control_names:
            raise TargetError(f"the performer's rig {performer.name} does not have ICT's controls")
        deltas = np.tensordot(self.shape_weights, performer.expression_deltas, axes=1).astype(np.float32)
        return replace(performer, name=f"{self.name}_on_{performer.name}", expression_names=self.control_names,
                       expression_deltas=deltas)

    def simon_says_set(self) -> SimonSaysSet:
        """The Simon-Says set for the target's controls (:func:`generate_simon_says_set`)."""
        moved: dict[str, list[str]] = {}
        if self.shape_weights is not None:
            source = self.source_definition
            for g, name in enumerate(self.control_names):
                moved[name] = sorted(
                    {source.controls[k].region for k in np.flatnonzero(self.shape_weights[g] >= _MOVES_REGION_WEIGHT)}
                )
        return generate_simon_says_set(self.definition, name=f"{self.name}_simon_says", moved_regions=moved)


# ----------------------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------------------


def available_targets() -> list[TargetInfo]:
    """The packaged targets, identities first, then stylized, then game rigs."""
    infos = [_read_info(path) for path in sorted(TARGETS_DIR.glob("*.json"))]
    return sorted(infos, key=lambda info: (KINDS.index(info.kind), info.name))


def load_target(name: str | os.PathLike, base_rig: Rig | None = None) -> RetargetTarget:
    """Build a target by packaged name or file path (a session's performer is
    :func:`studio.core.session.targets.open_target`'s ``session:FOLDER``).

    Parameters
    ----------
    name : str or os.PathLike
        A packaged target (``python main.py targets`` lists them) or a target JSON file.
    base_rig : Rig, optional
        The ICT rig (loaded through the asset manager when omitted).

    Returns
    -------
    RetargetTarget

    Raises
    ------
    TargetError
        One line: unknown name, unreadable or inconsistent file.
    """
    base = base_rig if base_rig is not None else Rig.ict()
    text = os.fspath(name)
    path = Path(text)
    if path.suffix != ".json":
        packaged = TARGETS_DIR / f"{text}.json"
        if not packaged.exists():
            known = ", ".join(info.name for info in available_targets())
            raise TargetError(f"unknown target {text!r} (packaged targets: {known}; or a .json file, or "
                              "session:FOLDER)")
        path = packaged
    return _build(path, _read_json(path), base)


def _read_json(path: Path) -> dict[str, Any]:
    fields = JsonFields(TargetError, path)
    data = fields.object(fields.load(path, "target"), "a target file", _TOP_REQUIRED, _TOP_KEYS)
    fields.format_version(data, FORMAT, SUPPORTED_VERSIONS, "retarget target")
    if data["kind"] not in KINDS:
        fields.fail(f"kind must be one of {', '.join(KINDS)}, got {data['kind']!r}")
    for key in ("name", "label", "description"):
        fields.string(data[key], key)
    if (data["kind"] == "game") != ("controls" in data):
        fields.fail("a game target, and only a game target, lists its own controls")
    return data


def _read_info(path: Path) -> TargetInfo:
    data = _read_json(path)
    controls = data.get("controls")
    return TargetInfo(data["name"], data["kind"], data["label"], data["description"],
                      len(controls) if isinstance(controls, list) else None, path)  # fmt: skip


def _identity(data: dict[str, Any], base: Rig, path: Path) -> np.ndarray:
    fields = JsonFields(TargetError, path)
    spec = data.get("identity")
    coefficients = np.zeros(base.num_identity_modes, np.float32)
    if spec is None:
        return coefficients
    if isinstance(spec, list):
        values = [fields.number(v, "identity") for v in spec]
        if len(values) > base.num_identity_modes:
            fields.fail(f"identity has {len(values)} coefficients, rig has {base.num_identity_modes}")
        coefficients[: len(values)] = values
        return coefficients
    if isinstance(spec, dict) and set(spec) == {"seed", "scale", "modes"}:
        modes = min(int(fields.number(spec["modes"], "identity modes", positive=True)), base.num_identity_modes)
        rng = np.random.default_rng(int(fields.number(spec["seed"], "identity seed")))
        coefficients[:modes] = rng.normal(0.0, fields.number(spec["scale"], "identity scale", positive=True), modes)
        return coefficients
    fields.fail("identity must be a list of coefficients or {\"seed\", \"scale\", \"modes\"}")


def _features(data: dict[str, Any], path: Path) -> list[FeatureMorph]:
    fields = JsonFields(TargetError, path)
    morph = data.get("morph", [])
    if not isinstance(morph, list):
        fields.fail("morph must be a list of features")
    features = []
    for i, obj in enumerate(morph):
        if not isinstance(obj, dict) or not {"name", "anchor", "scale", "radius_cm"} <= set(obj) or set(obj) - _FEATURE_KEYS:
            fields.fail(f"morph feature {i} needs name, anchor, scale, radius_cm (and optional offset_cm)")
        anchor = obj["anchor"]
        if not isinstance(anchor, str):
            anchor = fields.vector3(anchor, f"morph feature {i} anchor")
        features.append(FeatureMorph(
            name=str(obj["name"]), anchor=anchor,
            offset_cm=fields.vector3(obj.get("offset_cm", 0.0), f"morph feature {i} offset_cm"),
            scale=fields.vector3(obj["scale"], f"morph feature {i} scale", positive=True),
            radius_cm=fields.number(obj["radius_cm"], f"morph feature {i} radius_cm", positive=True),
        ))  # fmt: skip
    return features


def _gains(data: dict[str, Any], definition: RigDefinition, path: Path) -> np.ndarray:
    fields = JsonFields(TargetError, path)
    spec = data.get("gains", {})
    if not isinstance(spec, dict) or set(spec) - set(REGIONS):
        fields.fail(f"gains must map regions ({', '.join(REGIONS)}) to numbers")
    region_gain = {r: fields.number(spec.get(r, 1.0), f"gain of {r}", positive=True) for r in REGIONS}
    gains = np.asarray([region_gain[c.region] for c in definition.controls], np.float64)
    # controls posed together by a corrective constraint share their smallest gain (a seal stays sealed)
    for constraint in definition.constraints:
        members = [definition.index_of(name) for name in constraint.controls]
        gains[members] = gains[members].min()
    return gains


def _build(path: Path, data: dict[str, Any], base: Rig) -> RetargetTarget:
    source = RigDefinition.ict()
    kind = data["kind"]
    identity = _identity(data, base, path)
    human = base.with_identity(identity) if base.identity_deltas is not None else base
    metadata: dict[str, Any] = {"file": str(path), "identity_modes_used": int(np.count_nonzero(identity))}
    if "rig_parameters" in data:
        parameters_path = (path.parent / str(data["rig_parameters"])).resolve()
        try:
            human = human.with_parameters(RigParameters.load(parameters_path))
        except (OSError, ValueError) as error:
            raise TargetError(f"{path}: rig_parameters: {error}") from None
        metadata["rig_parameters"] = str(parameters_path)
    try:
        morph = VolumetricMorph.from_features(_features(data, path), human)
    except TargetError as error:
        raise TargetError(f"{path}: {error}") from None
    common = dict(name=data["name"], kind=kind, label=data["label"], description=data["description"],
                  source_definition=source, morph=morph, metadata=metadata)  # fmt: skip
    if kind == "identity":
        if "morph" in data or "gains" in data:
            raise TargetError(f"{path}: an identity target has no morph and no gains")
        return RetargetTarget(rig=replace(human, name=data["name"]), definition=source,
                              gains=np.ones(source.num_controls), shape_weights=None, **common)  # fmt: skip
    if kind == "stylized":
        return RetargetTarget(rig=morph.morph_rig(human, data["name"], source), definition=source,
                              gains=_gains(data, source, path), shape_weights=None, **common)  # fmt: skip
    definition, weights = _game_definition(data, source, path)
    game_human = replace(
        human, name=f"{data['name']}_human", expression_names=definition.control_names,
        expression_deltas=np.tensordot(weights, human.expression_deltas, axes=1).astype(np.float32),
    )  # fmt: skip
    face = human.group_vertices("face") if "face" in human.group_names else slice(None)
    shapes = base.expression_deltas[:, face].reshape(base.num_controls, -1).astype(np.float64)
    return RetargetTarget(rig=morph.morph_rig(game_human, data["name"]), definition=definition,
                          gains=np.ones(source.num_controls), shape_weights=weights,
                          _projection={"gram": shapes @ shapes.T}, **common)  # fmt: skip


def _game_definition(data: dict[str, Any], source: RigDefinition, path: Path) -> tuple[RigDefinition, np.ndarray]:
    """The game rig's definition and shape weights ``W`` (shape ``(G, K)``) from the file's controls."""
    fields = JsonFields(TargetError, path)
    controls = data["controls"]
    if not isinstance(controls, list) or not controls:
        fields.fail("controls must be a non-empty list")
    weights = np.zeros((len(controls), source.num_controls), np.float64)
    definitions = []
    for g, obj in enumerate(controls):
        if not isinstance(obj, dict) or "shape" not in obj or set(obj) - _CONTROL_KEYS:
            fields.fail(f"control {g} must be an object with a shape and the fields "
                              f"{', '.join(sorted(_CONTROL_KEYS - {'shape'}))}")
        shape = obj["shape"]
        if not isinstance(shape, dict) or not shape:
            fields.fail(f"control {obj.get('name', g)!r}: shape must map ICT controls to weights")
        for ict_name, weight in shape.items():
            if ict_name not in source.control_names:
                fields.fail(f"control {obj.get('name', g)!r}: shape uses unknown ICT control {ict_name!r}")
            weights[g, source.index_of(ict_name)] = fields.number(weight, f"weight of {ict_name}")
        definitions.append({key: obj.get(key) for key in ("name", "arkit", "region", "role", "mirror")}
                           | {"facs": obj.get("facs", [])})
    # ICT's corrective constraints carry over to a game control that is exactly the constraint's pose
    constraints = []
    for constraint in source.constraints:
        pose = constraint.control_vector(source.control_names)
        for g, obj in enumerate(controls):
            if np.allclose(weights[g], pose):
                constraints.append({
                    "name": constraint.name, "description": constraint.description,
                    "controls": {obj["name"]: 1.0}, "vertex_pairs": constraint.vertex_pairs.tolist(),
                })  # fmt: skip
    try:
        definition = RigDefinition.from_dict({
            "format": "simon-says-rig-definition", "version": 1, "name": data["name"],
            "description": data["description"], "asset": dict(source.asset), "units": "cm",
            "num_vertices": source.num_vertices, "controls": definitions, "constraints": constraints,
        }, source=path)  # fmt: skip
    except RigDefinitionError as error:
        raise TargetError(str(error)) from None
    return definition, weights
