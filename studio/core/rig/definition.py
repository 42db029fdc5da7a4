"""Rig definitions: what a rig's controls mean, kept as data beside the rig.

A rig (``neutral``, deltas ``θ``, triangles) says how controls move vertices; its *definition* says what the
controls mean. For each control: its ARKit name, face region, role (``primary`` -- carries an expression's
meaning and retargets well -- or ``tweaker`` -- shapes details; paper 001 Sec. 9 and the tweaker metric of
Sec. 10.5), mirror partner and FACS action units. The definition also lists the rig's corrective
constraints (paper 001 Sec. 8): control combinations under which pairs of vertices must meet, such as the
lips sealing for ``jawOpen + mouthClose``. Calibration changes ``θ``, never the definition.

Definitions are JSON files (format and field meanings in ``docs/rig-definition.md``); the ICT-FaceKit one
ships as ``studio/resources/rigs/ict_facekit.json`` and loads with :meth:`RigDefinition.ict`. A wrong or corrupt
file raises :class:`RigDefinitionError` with one line naming the file and the problem.

Shapes: ``K`` controls, ``V`` vertices, ``P`` vertex pairs of a constraint. Positions in centimetres, gaps
reported in millimetres.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.errors import StudioError
from studio.core.io.arkit import ARKIT_BLENDSHAPE_NAMES, arkit_name
from studio.core.io.json_fields import JsonFields
from studio.core.io.resources import RIGS_DIR

__all__ = [
    "control_side",
    "ARKIT_COMBINE_MODES",
    "FORMAT",
    "REGIONS",
    "ROLES",
    "SUPPORTED_VERSIONS",
    "ControlDefinition",
    "CorrectiveConstraint",
    "GapStats",
    "RigDefinition",
    "RigDefinitionError",
]

FORMAT = "simon-says-rig-definition"
"""The value of a definition file's ``format`` field."""

SUPPORTED_VERSIONS: tuple[int, ...] = (1,)
"""Versions of the file format this module reads."""

REGIONS: tuple[str, ...] = ("brow", "eye", "cheek", "nose", "mouth", "jaw")
"""Face regions a control may belong to, in display order."""

ROLES: tuple[str, ...] = ("primary", "tweaker")
"""Control roles (paper 001 Sec. 9): primaries carry meaning and retarget well, tweakers shape details."""

ARKIT_COMBINE_MODES: tuple[str, ...] = ("mean",)
"""How controls that share one ARKit name (split shapes) give that one ARKit value."""

_FACS_PATTERN = re.compile(r"AU\d{1,2}")

_TOP_KEYS = {
    "format",
    "version",
    "name",
    "description",
    "asset",
    "units",
    "num_vertices",
    "controls",
    "constraints",
}
_TOP_REQUIRED = ("format", "version", "name", "asset", "units", "num_vertices", "controls")
_CONTROL_KEYS = {"name", "arkit", "region", "role", "mirror", "facs", "arkit_combine"}
_CONTROL_REQUIRED = ("name", "arkit", "region", "role", "mirror", "facs")
_CONSTRAINT_KEYS = {
    "name", "description", "controls", "reference_controls", "vertex_pairs",
    "residual_gap_mm", "reference_gap_mm", "neutral_gap_mm", "derivation",
}  # fmt: skip
_CONSTRAINT_REQUIRED = ("name", "description", "controls", "vertex_pairs")


class RigDefinitionError(StudioError):
    """A rig definition is unreadable, inconsistent, or does not match a rig (one-line message)."""


# ----------------------------------------------------------------------------------------------------------
# Data classes
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ControlDefinition:
    """The meaning of one rig control.

    Attributes
    ----------
    name : str
        The control's name in the rig (``eyeBlink_L``).
    arkit : str or None
        Its ARKit blendshape name (``eyeBlinkLeft``), or ``None`` when it has none.
    region : str
        One of :data:`REGIONS`.
    role : str
        One of :data:`ROLES`.
    mirror : str or None
        The name of its left/right partner, ``None`` for a centre control.
    facs : tuple of str
        FACS action units it corresponds to (``("AU45",)``), possibly empty.
    arkit_combine : str or None
        For split shapes -- several controls sharing one ARKit name, e.g. ``browInnerUp_L/_R`` -- how the
        single ARKit value is formed (``"mean"`` of the controls; an incoming ARKit value drives each of
        them). ``None`` for a control that is alone on its ARKit name.
    """

    name: str
    arkit: str | None
    region: str
    role: str
    mirror: str | None
    facs: tuple[str, ...] = ()
    arkit_combine: str | None = None

    @property
    def is_primary(self) -> bool:
        """Whether the control is a primary (carries meaning, retargets well)."""
        return self.role == "primary"

    @property
    def is_tweaker(self) -> bool:
        """Whether the control is a tweaker (shapes details; counted by the tweaker metric)."""
        return self.role == "tweaker"


@dataclass(frozen=True)
class GapStats:
    """Mean and largest distance between the paired vertices of a constraint, in millimetres.

    Attributes
    ----------
    mean_mm : float
        Mean pair distance, millimetres.
    max_mm : float
        Largest pair distance, millimetres.
    """

    mean_mm: float
    max_mm: float


@dataclass(frozen=True, eq=False)
class CorrectiveConstraint:
    """A control combination under which pairs of vertices must meet (paper 001 Sec. 8).

    Calibration adds such constraints as surrogate (c, v) pairs so that a calibrated rig stays technically
    correct, e.g. the lips still seal for ``jawOpen + mouthClose``.

    Attributes
    ----------
    name : str
        Constraint name (``lip_seal``).
    controls : dict of str to float
        The control values that pose the constrained shape (``{"jawOpen": 1.0, "mouthClose": 1.0}``); all
        other controls are 0.
    vertex_pairs : np.ndarray
        Shape ``(P, 2)``, int64, read-only: vertex ids ``(a, b)`` that must meet under ``controls``.
    description : str
        What the constraint protects, in words.
    reference_controls : dict of str to float
        The pose the corrective corrects (``{"jawOpen": 1.0}``: jaw open, lips apart), to compare against;
        empty for the neutral.
    residual_gap : GapStats or None
        Pair distances under ``controls`` in the rig as it ships (not zero: a linear rig only
        approximately seals); a calibrated rig should not do much worse.
    reference_gap : GapStats or None
        Pair distances under ``reference_controls`` in the rig as it ships.
    neutral_gap : GapStats or None
        Pair distances at the neutral in the rig as it ships.
    derivation : dict
        How the pairs were found (free-form; written by ``scripts/derive_ict_correctives.py``).
    """

    name: str
    controls: dict[str, float]
    vertex_pairs: np.ndarray = field(repr=False)
    description: str = field(default="", repr=False)
    reference_controls: dict[str, float] = field(default_factory=dict)
    residual_gap: GapStats | None = None
    reference_gap: GapStats | None = None
    neutral_gap: GapStats | None = None
    derivation: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        pairs = np.array(self.vertex_pairs, dtype=np.int64, copy=True)
        if pairs.ndim != 2 or pairs.shape[1] != 2:
            raise RigDefinitionError(
                f"constraint '{self.name}': vertex_pairs must have shape (P, 2), got {pairs.shape}"
            )
        pairs.flags.writeable = False
        object.__setattr__(self, "vertex_pairs", pairs)

    @property
    def num_pairs(self) -> int:
        """``P``, the number of vertex pairs."""
        return int(self.vertex_pairs.shape[0])

    def control_vector(self, control_names: Sequence[str]) -> np.ndarray:
        """The constrained pose as a full control vector.

        Parameters
        ----------
        control_names : sequence of str
            The rig's control names, length ``K``.

        Returns
        -------
        np.ndarray
            Shape ``(K,)``, float32: ``controls`` at their indices, 0 elsewhere.
        """
        return control_vector_of(self.controls, control_names)

    def reference_vector(self, control_names: Sequence[str]) -> np.ndarray:
        """The reference pose (``reference_controls``) as a full control vector, shape ``(K,)``, float32.

        Parameters
        ----------
        control_names : sequence of str
            The rig's control names, length ``K``.

        Returns
        -------
        np.ndarray
            Shape ``(K,)``, float32.
        """
        return control_vector_of(self.reference_controls, control_names)

    def gaps(self, vertices: np.ndarray) -> np.ndarray:
        """Distances between the paired vertices of posed meshes.

        Parameters
        ----------
        vertices : np.ndarray
            Posed positions, shape ``(..., V, 3)``.

        Returns
        -------
        np.ndarray
            Shape ``(..., P)``, in the units of ``vertices`` (centimetres for studio rigs).
        """
        vertices = np.asarray(vertices)
        if vertices.ndim < 2 or vertices.shape[-1] != 3:
            raise ValueError(f"vertices must have shape (..., V, 3), got {vertices.shape}")
        a = vertices[..., self.vertex_pairs[:, 0], :]
        b = vertices[..., self.vertex_pairs[:, 1], :]
        return np.linalg.norm(a - b, axis=-1)


#: A control named with a side: ``_L``/``_R`` (ICT) or ``Left``/``Right`` (ARKit), after a base name.
_SIDED = re.compile(r"^(?P<base>.+?)(?P<side>_L|_R|Left|Right)$")


def control_side(name: str) -> tuple[str, str] | None:
    """``(base, "left" | "right")`` for a control named with a side, else ``None``.

    ``_L``/``Left`` is the performer's left (``mouthSmile_L`` → ``("mouthSmile", "left")``). This is the one
    reading of sides from names; which control mirrors which is the definition's (``mirror``). Note that
    ``jawLeft`` and ``mouthRight`` read as sided too: they name a direction, which callers that pair controls
    tell apart (:func:`studio.core.rig.control_curves.control_units`).
    """
    match = _SIDED.match(name)
    if match is None:
        return None
    return match["base"], "left" if match["side"] in ("_L", "Left") else "right"


def control_vector_of(values: Mapping[str, float], control_names: Sequence[str]) -> np.ndarray:
    """Named control values as a full control vector.

    Parameters
    ----------
    values : mapping of str to float
        Control name → value (controls not named are 0).
    control_names : sequence of str
        The rig's control names, length ``K``.

    Returns
    -------
    np.ndarray
        Shape ``(K,)``, float32.

    Raises
    ------
    KeyError
        A named control is not among ``control_names``.
    """
    index = {name: k for k, name in enumerate(control_names)}
    out = np.zeros(len(index), np.float32)
    for name, value in values.items():
        if name not in index:
            raise KeyError(f"control '{name}' is not among the rig's controls")
        out[index[name]] = value
    return out


@dataclass(frozen=True, eq=False)
class RigDefinition:
    """The semantics of one rig: its controls and corrective constraints.

    Constructing one checks it (names unique, regions and roles known, mirror symmetric, constraints
    referring to known controls and vertices) and raises :class:`RigDefinitionError` otherwise.

    Attributes
    ----------
    name : str
        Rig name (``ict_facekit``).
    controls : tuple of ControlDefinition
        One per rig control, in the rig's control order (``K``).
    constraints : tuple of CorrectiveConstraint
        Corrective constraints, possibly empty.
    num_vertices : int
        ``V``, the vertex count of the rig this definition belongs to.
    asset : dict of str to str
        The asset the definition belongs to: ``id`` (the asset manager's id) and optionally ``file``,
        ``source``, ``license``.
    units : str
        Length units of the rig (``"cm"``).
    version : int
        File format version.
    description : str
        Free text.
    source : Path or None
        The file it was loaded from, if any (used in error messages).
    """

    name: str
    controls: tuple[ControlDefinition, ...]
    constraints: tuple[CorrectiveConstraint, ...]
    num_vertices: int
    asset: dict[str, str] = field(default_factory=dict)
    units: str = "cm"
    version: int = SUPPORTED_VERSIONS[-1]
    description: str = ""
    source: Path | None = None
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "controls", tuple(self.controls))
        object.__setattr__(self, "constraints", tuple(self.constraints))
        object.__setattr__(self, "_index", {c.name: i for i, c in enumerate(self.controls)})
        _check_definition(self)

    def __repr__(self) -> str:
        return (
            f"RigDefinition(name={self.name!r}, controls={self.num_controls}, "
            f"constraints={[c.name for c in self.constraints]}, source={self.source})"
        )

    # -- loading ----------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike) -> RigDefinition:
        """Read a rig definition file.

        Parameters
        ----------
        path : str or os.PathLike
            A JSON file in the format of ``docs/rig-definition.md``.

        Returns
        -------
        RigDefinition
            The checked definition, with ``source`` set to ``path``.

        Raises
        ------
        RigDefinitionError
            One line naming the file and the problem (unreadable, not JSON, missing field, unknown region
            or role, mirror not symmetric, duplicate names, constraint on an unknown control, ...).
        """
        path = Path(path)
        return cls.from_dict(_FIELDS.load(path, "rig definition"), source=path)

    @classmethod
    def from_dict(cls, data: Any, source: str | os.PathLike | None = None) -> RigDefinition:
        """Build a definition from parsed JSON (the file's top-level object).

        Parameters
        ----------
        data : Any
            The parsed file content; anything else than the documented layout raises.
        source : str or os.PathLike, optional
            Where the data came from, for error messages.

        Returns
        -------
        RigDefinition
            The checked definition.

        Raises
        ------
        RigDefinitionError
            One line naming the source and the problem.
        """
        src = Path(source) if source is not None else None
        try:
            return _parse_definition(data, src)
        except RigDefinitionError as error:
            message = str(error)
            prefix = f"{src}: " if src is not None else ""
            if src is not None and message.startswith(prefix):
                raise
            raise RigDefinitionError(prefix + message) from None

    @classmethod
    def ict(cls) -> RigDefinition:
        """The packaged definition of the ICT-FaceKit rig (``studio/resources/rigs/ict_facekit.json``).

        Returns
        -------
        RigDefinition
            53 controls in ICT's order and the rig's corrective constraints.
        """
        return cls.load(RIGS_DIR / "ict_facekit.json")

    # -- controls ---------------------------------------------------------------------------------------

    @property
    def num_controls(self) -> int:
        """``K``, the number of controls."""
        return len(self.controls)

    @property
    def control_names(self) -> tuple[str, ...]:
        """Control names in rig order, length ``K``."""
        return tuple(c.name for c in self.controls)

    def index_of(self, name: str) -> int:
        """Index of the control called ``name``.

        Parameters
        ----------
        name : str
            Control name, exactly as in the rig.

        Returns
        -------
        int
            Its position in :attr:`controls`.

        Raises
        ------
        KeyError
            No control has that name.
        """
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"rig definition '{self.name}' has no control named '{name}'") from None

    def control(self, name: str) -> ControlDefinition:
        """The definition of the control called ``name`` (``KeyError`` when there is none).

        Parameters
        ----------
        name : str
            Control name.

        Returns
        -------
        ControlDefinition
            Its definition.
        """
        return self.controls[self.index_of(name)]

    def primary_indices(self) -> np.ndarray:
        """Indices of the primary controls, ascending, shape ``(K_p,)``, int64."""
        return np.array([i for i, c in enumerate(self.controls) if c.is_primary], dtype=np.int64)

    def tweaker_indices(self) -> np.ndarray:
        """Indices of the tweaker controls, ascending, shape ``(K_t,)``, int64."""
        return np.array([i for i, c in enumerate(self.controls) if c.is_tweaker], dtype=np.int64)

    def mirror_indices(self) -> np.ndarray:
        """The left/right permutation of the controls.

        Returns
        -------
        np.ndarray
            Shape ``(K,)``, int64: entry ``k`` is the index of control ``k``'s mirror partner, ``k`` itself
            for a centre control. An involution: ``m[m] == arange(K)``. ``c[m]`` mirrors a control vector.
        """
        return np.array(
            [self._index[c.mirror] if c.mirror is not None else i for i, c in enumerate(self.controls)],
            dtype=np.int64,
        )

    def by_region(self) -> dict[str, list[int]]:
        """Control indices grouped by region.

        Returns
        -------
        dict of str to list of int
            Every region of :data:`REGIONS`, in that order, to the ascending indices of its controls
            (empty when none).
        """
        groups: dict[str, list[int]] = {region: [] for region in REGIONS}
        for i, c in enumerate(self.controls):
            groups[c.region].append(i)
        return groups

    # -- ARKit ------------------------------------------------------------------------------------------

    @property
    def arkit_names(self) -> tuple[str | None, ...]:
        """The ARKit name of each control, length ``K`` (split shapes repeat a name; ``None`` for none)."""
        return tuple(c.arkit for c in self.controls)

    def arkit_targets(self) -> dict[str, tuple[int, ...]]:
        """Each ARKit name the rig drives, to the indices of the controls carrying it.

        Returns
        -------
        dict of str to tuple of int
            In order of first appearance among the controls; split shapes map to several indices.
        """
        targets: dict[str, list[int]] = {}
        for i, c in enumerate(self.controls):
            if c.arkit is not None:
                targets.setdefault(c.arkit, []).append(i)
        return {name: tuple(indices) for name, indices in targets.items()}

    def to_arkit(self, values: np.ndarray) -> dict[str, np.ndarray]:
        """ARKit values from control values (split shapes combined by their ``arkit_combine``, the mean).

        Parameters
        ----------
        values : np.ndarray
            Control values, shape ``(..., K)``.

        Returns
        -------
        dict of str to np.ndarray
            ARKit name to values of shape ``(...)``, in the order of :meth:`arkit_targets`.
        """
        values = np.asarray(values)
        if values.ndim < 1 or values.shape[-1] != self.num_controls:
            raise ValueError(f"values must have shape (..., {self.num_controls}), got {values.shape}")
        return {name: values[..., list(idx)].mean(axis=-1) for name, idx in self.arkit_targets().items()}

    def arkit_matrix(self) -> np.ndarray:
        """The linear map from control values to ARKit values, shape ``(52, K)``, float64.

        Row ``i`` is :data:`ARKIT_BLENDSHAPE_NAMES` ``[i]``: the mean of the controls carrying that name (as
        :meth:`to_arkit`), a zero row for names the rig does not drive (``tongueOut`` for ICT).
        """
        matrix = np.zeros((len(ARKIT_BLENDSHAPE_NAMES), self.num_controls))
        for name, indices in self.arkit_targets().items():
            matrix[ARKIT_BLENDSHAPE_NAMES.index(name), list(indices)] = 1.0 / len(indices)
        return matrix

    def arkit_vector(self, values: np.ndarray) -> np.ndarray:
        """ARKit values in :data:`ARKIT_BLENDSHAPE_NAMES` order, shape ``(..., 52)`` float32, for ``(..., K)``."""
        values = np.asarray(values, np.float64)
        if values.ndim < 1 or values.shape[-1] != self.num_controls:
            raise ValueError(f"values must have shape (..., {self.num_controls}), got {values.shape}")
        return (values @ self.arkit_matrix().T).astype(np.float32)

    def from_arkit(self, values: Mapping[str, Any]) -> np.ndarray:
        """Control values from ARKit values (an ARKit value drives every control that carries it).

        Parameters
        ----------
        values : mapping of str to array_like
            ARKit name (matched case-insensitively) to a value or an array of values; all must broadcast
            together. Names the rig does not drive (``tongueOut``, MediaPipe's ``_neutral``) are ignored.

        Returns
        -------
        np.ndarray
            Shape ``(..., K)``, float32; controls without an ARKit value are 0.
        """
        by_lower = {str(k).lower(): np.asarray(v, dtype=np.float32) for k, v in values.items()}
        shape = np.broadcast_shapes(*(v.shape for v in by_lower.values())) if by_lower else ()
        out = np.zeros((*shape, self.num_controls), np.float32)
        for i, c in enumerate(self.controls):
            if c.arkit is not None and c.arkit.lower() in by_lower:
                out[..., i] = by_lower[c.arkit.lower()]
        return out

    # -- constraints ------------------------------------------------------------------------------------

    def constraint(self, name: str) -> CorrectiveConstraint:
        """The corrective constraint called ``name``.

        Parameters
        ----------
        name : str
            Constraint name (``lip_seal``).

        Returns
        -------
        CorrectiveConstraint
            The constraint.

        Raises
        ------
        KeyError
            No constraint has that name.
        """
        for constraint in self.constraints:
            if constraint.name == name:
                return constraint
        raise KeyError(f"rig definition '{self.name}' has no constraint named '{name}'")

    # -- matching a rig ---------------------------------------------------------------------------------

    def validate_against(self, expression_names: Sequence[str], num_vertices: int) -> None:
        """Check that this definition describes a rig with these controls and this many vertices.

        Parameters
        ----------
        expression_names : sequence of str
            The rig's control names, in its order.
        num_vertices : int
            The rig's vertex count ``V``.

        Raises
        ------
        RigDefinitionError
            Different control count, names or order; different vertex count; constraint vertex ids out of
            range.
        """
        where = f"{self.source}: " if self.source is not None else f"rig definition '{self.name}': "
        names = [str(n) for n in expression_names]
        if len(names) != self.num_controls:
            raise RigDefinitionError(
                f"{where}defines {self.num_controls} controls but the rig has {len(names)}"
            )
        for i, (mine, theirs) in enumerate(zip(self.control_names, names, strict=True)):
            if mine != theirs:
                raise RigDefinitionError(
                    f"{where}control {i} is '{mine}' in the definition but '{theirs}' in the rig"
                )
        if int(num_vertices) != self.num_vertices:
            raise RigDefinitionError(
                f"{where}made for {self.num_vertices} vertices but the rig has {int(num_vertices)}"
            )
        for constraint in self.constraints:
            if constraint.num_pairs and int(constraint.vertex_pairs.max()) >= num_vertices:
                largest = int(constraint.vertex_pairs.max())
                raise RigDefinitionError(
                    f"{where}constraint '{constraint.name}' uses vertex {largest}, "
                    f"the rig has {int(num_vertices)} vertices"
                )


# ----------------------------------------------------------------------------------------------------------
# Parsing and checking
# ----------------------------------------------------------------------------------------------------------


#: The checks of rig definition files.
_FIELDS = JsonFields(RigDefinitionError)


def _gap_stats(value: Any, what: str) -> GapStats | None:
    if value is None:
        return None
    obj = _FIELDS.object(value, what, ("mean", "max"), {"mean", "max"})
    mean, largest = _FIELDS.number(obj["mean"], f"{what}.mean"), _FIELDS.number(obj["max"], f"{what}.max")
    if mean < 0 or largest < mean:
        raise RigDefinitionError(f"{what} must have 0 <= mean <= max, got mean {mean} and max {largest}")
    return GapStats(mean_mm=mean, max_mm=largest)


def _parse_control(obj: Any, position: int) -> ControlDefinition:
    label = f"control {position}"
    if isinstance(obj, dict) and isinstance(obj.get("name"), str):
        label = f"control '{obj['name']}'"
    obj = _FIELDS.object(obj, label, _CONTROL_REQUIRED, _CONTROL_KEYS)
    name = _FIELDS.string(obj["name"], f"{label} name")
    arkit = _FIELDS.optional_string(obj["arkit"], f"{label} arkit")
    if arkit is not None:
        spelled = arkit_name(arkit)
        if spelled is None:
            raise RigDefinitionError(f"{label}: unknown ARKit name '{arkit}' (see ARKIT_BLENDSHAPE_NAMES)")
        arkit = spelled
    region = obj["region"]
    if region not in REGIONS:
        raise RigDefinitionError(
            f"{label}: unknown region {json.dumps(region)} (expected one of {', '.join(REGIONS)})"
        )
    role = obj["role"]
    if role not in ROLES:
        raise RigDefinitionError(
            f"{label}: unknown role {json.dumps(role)} (expected one of {', '.join(ROLES)})"
        )
    mirror = _FIELDS.optional_string(obj["mirror"], f"{label} mirror")
    facs = obj["facs"]
    if not isinstance(facs, list) or not all(
        isinstance(au, str) and _FACS_PATTERN.fullmatch(au) for au in facs
    ):
        raise RigDefinitionError(
            f'{label}: facs must be a list of action units like "AU12", got {json.dumps(facs)}'
        )
    combine = obj.get("arkit_combine")
    if combine is not None and combine not in ARKIT_COMBINE_MODES:
        raise RigDefinitionError(
            f"{label}: unknown arkit_combine {json.dumps(combine)} "
            f"(expected one of {', '.join(ARKIT_COMBINE_MODES)})"
        )
    return ControlDefinition(
        name=name,
        arkit=arkit,
        region=region,
        role=role,
        mirror=mirror,
        facs=tuple(facs),
        arkit_combine=combine,
    )


def _parse_constraint(obj: Any, position: int) -> CorrectiveConstraint:
    label = f"constraint {position}"
    if isinstance(obj, dict) and isinstance(obj.get("name"), str):
        label = f"constraint '{obj['name']}'"
    obj = _FIELDS.object(obj, label, _CONSTRAINT_REQUIRED, _CONSTRAINT_KEYS)
    name = _FIELDS.string(obj["name"], f"{label} name")
    description = obj["description"]
    if not isinstance(description, str):
        raise RigDefinitionError(f"{label}: description must be a string")
    controls = _FIELDS.numbers_by_name(obj["controls"], f"{label} controls")
    reference = _FIELDS.numbers_by_name(obj.get("reference_controls", {}), f"{label} reference_controls")
    pairs = obj["vertex_pairs"]
    if (
        not isinstance(pairs, list)
        or not pairs
        or not all(
            isinstance(p, list)
            and len(p) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in p)
            for p in pairs
        )
    ):
        raise RigDefinitionError(
            f"{label}: vertex_pairs must be a non-empty list of [vertex, vertex] integer pairs"
        )
    derivation = obj.get("derivation", {})
    if not isinstance(derivation, dict):
        raise RigDefinitionError(f"{label}: derivation must be a JSON object")
    return CorrectiveConstraint(
        name=name,
        controls=controls,
        vertex_pairs=np.array(pairs, dtype=np.int64).reshape(-1, 2),
        description=description,
        reference_controls=reference,
        residual_gap=_gap_stats(obj.get("residual_gap_mm"), f"{label} residual_gap_mm"),
        reference_gap=_gap_stats(obj.get("reference_gap_mm"), f"{label} reference_gap_mm"),
        neutral_gap=_gap_stats(obj.get("neutral_gap_mm"), f"{label} neutral_gap_mm"),
        derivation=derivation,
    )


def _parse_definition(data: Any, source: Path | None) -> RigDefinition:
    obj = _FIELDS.object(data, "the rig definition", _TOP_REQUIRED, _TOP_KEYS)
    if obj["format"] != FORMAT:
        raise RigDefinitionError(
            f'not a rig definition (format is {json.dumps(obj["format"])}, expected "{FORMAT}")'
        )
    version = _FIELDS.integer(obj["version"], "version")
    if version not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        raise RigDefinitionError(
            f"unsupported rig definition version {version} (this studio reads {supported})"
        )
    name = _FIELDS.string(obj["name"], "name")
    units = obj["units"]
    if units != "cm":
        raise RigDefinitionError(f'units must be "cm", got {json.dumps(units)}')
    num_vertices = _FIELDS.integer(obj["num_vertices"], "num_vertices")
    asset = obj["asset"]
    if not isinstance(asset, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in asset.items()
    ):
        raise RigDefinitionError("asset must be an object of strings")
    if "id" not in asset:
        raise RigDefinitionError("asset is missing field 'id'")
    description = obj.get("description", "")
    if not isinstance(description, str):
        raise RigDefinitionError("description must be a string")
    controls = obj["controls"]
    if not isinstance(controls, list) or not controls:
        raise RigDefinitionError("controls must be a non-empty list")
    constraints = obj.get("constraints", [])
    if not isinstance(constraints, list):
        raise RigDefinitionError("constraints must be a list")
    return RigDefinition(
        name=name,
        controls=tuple(_parse_control(c, i) for i, c in enumerate(controls)),
        constraints=tuple(_parse_constraint(c, i) for i, c in enumerate(constraints)),
        num_vertices=num_vertices,
        asset=dict(asset),
        units=units,
        version=version,
        description=description,
        source=source,
    )


def _check_definition(definition: RigDefinition) -> None:
    """Cross-field checks; raise one :class:`RigDefinitionError` line prefixed with the source."""
    try:
        _check_controls(definition.controls)
        _check_constraints(definition)
        if definition.num_vertices <= 0:
            raise RigDefinitionError(f"num_vertices must be positive, got {definition.num_vertices}")
    except RigDefinitionError as error:
        prefix = f"{definition.source}: " if definition.source is not None else ""
        raise RigDefinitionError(prefix + str(error)) from None


def _check_controls(controls: Sequence[ControlDefinition]) -> None:
    if not controls:
        raise RigDefinitionError("the rig definition has no controls")
    by_name: dict[str, ControlDefinition] = {}
    for c in controls:
        if c.name in by_name:
            raise RigDefinitionError(f"duplicate control name '{c.name}'")
        if c.region not in REGIONS:
            raise RigDefinitionError(
                f"control '{c.name}': unknown region '{c.region}' (expected one of {', '.join(REGIONS)})"
            )
        if c.role not in ROLES:
            raise RigDefinitionError(
                f"control '{c.name}': unknown role '{c.role}' (expected one of {', '.join(ROLES)})"
            )
        if c.arkit is not None and c.arkit not in ARKIT_BLENDSHAPE_NAMES:
            raise RigDefinitionError(f"control '{c.name}': unknown ARKit name '{c.arkit}'")
        by_name[c.name] = c
    for c in controls:
        if c.mirror is None:
            continue
        if c.mirror == c.name:
            raise RigDefinitionError(f"control '{c.name}' is its own mirror (use null for a centre control)")
        partner = by_name.get(c.mirror)
        if partner is None:
            raise RigDefinitionError(f"control '{c.name}': mirror '{c.mirror}' is not a control of this rig")
        if partner.mirror != c.name:
            raise RigDefinitionError(
                f"mirror is not symmetric: '{c.name}' mirrors to '{c.mirror}' but '{c.mirror}' mirrors to "
                f"{json.dumps(partner.mirror)}"
            )
        if partner.region != c.region or partner.role != c.role:
            raise RigDefinitionError(
                f"mirror partners '{c.name}' and '{partner.name}' differ in region or role"
            )
    shared: dict[str, list[ControlDefinition]] = {}
    for c in controls:
        if c.arkit is not None:
            shared.setdefault(c.arkit, []).append(c)
    for arkit, carriers in shared.items():
        combined = [c.name for c in carriers if c.arkit_combine is not None]
        if len(carriers) > 1 and len(combined) != len(carriers):
            names = ", ".join(c.name for c in carriers)
            raise RigDefinitionError(
                f"controls {names} share ARKit name '{arkit}' but do not all set arkit_combine"
            )
        if len(carriers) == 1 and combined:
            raise RigDefinitionError(
                f"control '{combined[0]}' sets arkit_combine but is alone on ARKit name '{arkit}'"
            )
        if len({c.arkit_combine for c in carriers}) > 1:
            raise RigDefinitionError(f"controls sharing ARKit name '{arkit}' disagree on arkit_combine")


def _check_constraints(definition: RigDefinition) -> None:
    seen: set[str] = set()
    for constraint in definition.constraints:
        label = f"constraint '{constraint.name}'"
        if constraint.name in seen:
            raise RigDefinitionError(f"duplicate constraint name '{constraint.name}'")
        seen.add(constraint.name)
        if not constraint.controls:
            raise RigDefinitionError(f"{label} sets no controls")
        for field_name, values in (
            ("controls", constraint.controls),
            ("reference_controls", constraint.reference_controls),
        ):
            for control in values:
                if control not in definition._index:
                    raise RigDefinitionError(f"{label} {field_name} refers to unknown control '{control}'")
        pairs = constraint.vertex_pairs
        if pairs.shape[0] == 0:
            raise RigDefinitionError(f"{label} has no vertex pairs")
        if pairs.min() < 0 or pairs.max() >= definition.num_vertices:
            raise RigDefinitionError(
                f"{label} has vertex ids outside 0..{definition.num_vertices - 1} "
                f"(min {int(pairs.min())}, max {int(pairs.max())})"
            )
        if np.any(pairs[:, 0] == pairs[:, 1]):
            raise RigDefinitionError(f"{label} pairs a vertex with itself")
