"""Simon-Says expression sets as data, evaluation sets, and a generator for any rig (paper 001 Sec. 8).

A Simon-Says session shows the performer one expression at a time -- a render of the rig posed with the
expression's controls, a mirror view of themselves, and a concise verbal cue -- and records their face when
they hold it. Each recording gives a ``(c_k, v_k)`` pair for calibration. The cue matters: the rig is not yet
calibrated to the performer, so they must not simply copy the picture (paper 001 Fig. 3).

An expression set is a versioned JSON file (``format``: ``"simon-says-expression-set"``, ``version``, ``name``,
``rig``, ``description``, ``expressions``). Each expression has

- ``name`` -- unique identifier (``smile_left``); the first expression is ``neutral`` and sets no controls;
- ``controls`` -- ``{control: value}`` with values in [0, 1], all other controls 0;
- ``must_not_move`` -- control names or regions (:data:`studio.core.rig.definition.REGIONS`) that should stay
  still while the performer holds it (the eyebrows during a smile); region entries never cover the
  expression's own controls;
- ``cue`` -- what to do and what to avoid, in plain words and the performer's own sides ("your left eye");
- ``region`` -- the face region the expression is about (for a per-region match meter);
- ``symmetric`` -- whether the pose is its own left/right mirror image;
- optionally ``label`` (display name) and ``subject`` (a noun phrase for feedback: "Try a bigger smile.").

A file may name another set in ``extends`` (a packaged set name such as ``ict_default``, or a path relative to
the file): its expressions come first, then the file's own (which then need no neutral).

Sides: a control suffixed ``_L`` (ICT) or ``Left`` (ARKit) is on the **performer's** left, which appears on
the viewer's right in a non-mirrored image and on the performer's own left in a mirror view. Cues speak in
the performer's terms.

The packaged ICT sets live in ``studio/resources/expression_sets/``: ``ict_default.json`` (the person-to-person
set), ``ict_full.json`` (the default set plus coverage expressions for the remaining controls: jaw and lips
sideways, lip press, dimples, cheeks, gaze) and ``ict_animator_eval.json`` (unseen poses keyed as an animator would, for evaluation). A wrong or
corrupt file raises :class:`ExpressionSetError` with one line naming the file and the problem.

Shapes: ``K`` controls, ``E`` expressions or poses.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.errors import StudioError
from studio.core.io.atomic_files import write_text_atomic
from studio.core.io.json_fields import JsonFields
from studio.core.io.resources import RESOURCES_DIR, RIGS_DIR
from studio.core.rig.control_curves import control_units
from studio.core.rig.definition import (
    REGIONS,
    ControlDefinition,
    RigDefinition,
    RigDefinitionError,
    control_side,
    control_vector_of,
)

__all__ = [
    "EVALUATION_FORMAT",
    "EXPRESSION_SETS_DIR",
    "FORMAT",
    "SUPPORTED_VERSIONS",
    "ExpressionSetError",
    "SimonSaysExpression",
    "SimonSaysSet",
    "animator_set",
    "generate_simon_says_set",
    "must_not_move_indices",
    "random_set",
]

FORMAT = "simon-says-expression-set"
"""The value of an expression set file's ``format`` field."""

EVALUATION_FORMAT = "simon-says-evaluation-set"
"""The value of an evaluation set file's ``format`` field (poses without cues)."""

SUPPORTED_VERSIONS: tuple[int, ...] = (1,)
"""Versions of the file formats this module reads."""

EXPRESSION_SETS_DIR: Path = RESOURCES_DIR / "expression_sets"
"""Packaged expression and evaluation sets."""

NEUTRAL = "neutral"
"""Name of the first expression of every set."""

_TOP_KEYS = {"format", "version", "name", "rig", "description", "extends", "expressions"}
_TOP_REQUIRED = ("format", "version", "name", "rig", "expressions")
_EXPRESSION_KEYS = {"name", "label", "subject", "controls", "must_not_move", "cue", "region", "symmetric"}
_EXPRESSION_REQUIRED = ("name", "controls", "must_not_move", "cue", "region", "symmetric")
_EVAL_KEYS = {"format", "version", "name", "rig", "description", "poses"}
_POSE_KEYS = {"name", "kind", "controls"}


class ExpressionSetError(StudioError):
    """An expression set is unreadable, inconsistent, or does not fit a rig (one-line message)."""


# ----------------------------------------------------------------------------------------------------------
# Data classes
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimonSaysExpression:
    """One expression the performer is asked to make.

    Attributes
    ----------
    name : str
        Unique identifier within its set (``smile_left``).
    controls : dict of str to float
        Control values in [0, 1] that pose it; controls not listed are 0. Empty for the neutral.
    cue : str
        Concise verbal cue: what to do and what to avoid, in the performer's own sides.
    region : str
        The face region it is about, one of :data:`~studio.core.rig.definition.REGIONS`.
    symmetric : bool
        Whether the pose is its own left/right mirror image.
    must_not_move : tuple of str
        Control names or regions that should stay still while it is held.
    label : str
        Display name (defaults to the name with spaces).
    subject : str
        Noun phrase used in feedback ("smile" in "Try a bigger smile."); defaults to the lower-case label.
    """

    name: str
    controls: dict[str, float]
    cue: str
    region: str
    symmetric: bool
    must_not_move: tuple[str, ...] = ()
    label: str = ""
    subject: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "controls", {str(k): float(v) for k, v in self.controls.items()})
        object.__setattr__(self, "must_not_move", tuple(self.must_not_move))
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " ").capitalize())
        if not self.subject:
            object.__setattr__(self, "subject", self.label.lower())

    @property
    def is_neutral(self) -> bool:
        """Whether it sets no controls (the neutral)."""
        return not any(self.controls.values())

    def control_vector(self, control_names: Sequence[str]) -> np.ndarray:
        """The expression as a full control vector.

        Parameters
        ----------
        control_names : sequence of str
            The rig's control names, length ``K``.

        Returns
        -------
        np.ndarray
            Shape ``(K,)``, float32: the expression's values at their indices, 0 elsewhere.

        Raises
        ------
        KeyError
            The expression uses a control the rig does not have.
        """
        try:
            return control_vector_of(self.controls, control_names)
        except KeyError as error:
            raise KeyError(f"expression '{self.name}': {error.args[0]}") from None

    def to_dict(self) -> dict[str, Any]:
        """The expression as it is written in a set file."""
        return {
            "name": self.name,
            "label": self.label,
            "subject": self.subject,
            "region": self.region,
            "symmetric": self.symmetric,
            "controls": dict(self.controls),
            "must_not_move": list(self.must_not_move),
            "cue": self.cue,
        }


@dataclass(frozen=True, eq=False)
class SimonSaysSet:
    """An ordered set of Simon-Says expressions for one rig, neutral first.

    Constructing one checks its structure (neutral first, unique names, values in [0, 1], known regions,
    non-empty cues) and raises :class:`ExpressionSetError` otherwise; :meth:`validate_against` checks the
    control names against a rig definition (done by :meth:`load` and :meth:`from_dict`).

    Attributes
    ----------
    name : str
        Set name (``ict_default``).
    rig : str
        Name of the rig definition it was made for (``ict_facekit``).
    expressions : tuple of SimonSaysExpression
        The expressions in session order, ``expressions[0]`` the neutral.
    description : str
        Free text.
    version : int
        File format version.
    source : Path or None
        The file it was loaded from, if any (used in error messages).
    """

    name: str
    rig: str
    expressions: tuple[SimonSaysExpression, ...]
    description: str = ""
    version: int = SUPPORTED_VERSIONS[-1]
    source: Path | None = None
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "expressions", tuple(self.expressions))
        object.__setattr__(self, "_index", {e.name: i for i, e in enumerate(self.expressions)})
        try:
            _check_structure(self)
        except ExpressionSetError as error:
            raise ExpressionSetError(_prefix(self.source) + str(error)) from None

    def __repr__(self) -> str:
        return f"SimonSaysSet(name={self.name!r}, rig={self.rig!r}, expressions={len(self)}, source={self.source})"

    def __len__(self) -> int:
        return len(self.expressions)

    def __iter__(self) -> Iterator[SimonSaysExpression]:
        return iter(self.expressions)

    # -- loading and saving -----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike, definition: RigDefinition | None = None) -> SimonSaysSet:
        """Read an expression set file and check it against its rig.

        Parameters
        ----------
        path : str or os.PathLike
            A JSON file in the format of the module notes.
        definition : RigDefinition, optional
            The rig's definition; by default the packaged definition named by the file's ``rig``
            (``studio/resources/rigs/<rig>.json``).

        Returns
        -------
        SimonSaysSet
            The checked set, with ``source`` set to ``path``.

        Raises
        ------
        ExpressionSetError
            One line naming the file and the problem (unreadable, not JSON, missing field, unknown control,
            value outside [0, 1], duplicate names, neutral not first, ...).
        """
        path = Path(path)
        data = _FIELDS.load(path, "expression set")
        return cls.from_dict(data, definition=definition, source=path)

    @classmethod
    def from_dict(
        cls,
        data: Any,
        definition: RigDefinition | None = None,
        source: str | os.PathLike | None = None,
    ) -> SimonSaysSet:
        """Build a set from parsed JSON and check it against its rig.

        Parameters
        ----------
        data : Any
            The parsed file content.
        definition : RigDefinition, optional
            The rig's definition; by default the packaged one named by ``data["rig"]``.
        source : str or os.PathLike, optional
            Where the data came from, for error messages.

        Returns
        -------
        SimonSaysSet
            The checked set.

        Raises
        ------
        ExpressionSetError
            One line naming the source and the problem.
        """
        src = Path(source) if source is not None else None
        try:
            result = _parse_set(data, src)
            result.validate_against(
                definition if definition is not None else _packaged_definition(result.rig)
            )
        except ExpressionSetError as error:
            message = str(error)
            prefix = _prefix(src)
            raise ExpressionSetError(message if message.startswith(prefix) else prefix + message) from None
        return result

    @classmethod
    def ict_default(cls) -> SimonSaysSet:
        """The packaged person-to-person set for ICT-FaceKit (``studio/resources/expression_sets/ict_default.json``).

        Returns
        -------
        SimonSaysSet
            Neutral, 19 symmetric expressions, and 4 left/right pairs of one-sided ones.
        """
        return cls.load(EXPRESSION_SETS_DIR / "ict_default.json")

    @classmethod
    def ict_full(cls) -> SimonSaysSet:
        """The default set plus coverage expressions (``studio/resources/expression_sets/ict_full.json``).

        Returns
        -------
        SimonSaysSet
            :meth:`ict_default` followed by jaw forward, lips pressed, dimples, cheeks raised, looking up
            and down, and left/right pairs of jaw sideways, lips sideways and looking sideways: every ICT
            control is then captured at least once.
        """
        return cls.load(EXPRESSION_SETS_DIR / "ict_full.json")

    @staticmethod
    def is_packaged(name: str) -> bool:
        """Whether the studio ships a set called ``name`` (``ict_full``, ``ict_default``)."""
        return _packaged_path(name) is not None

    @classmethod
    def packaged(cls, name: str) -> SimonSaysSet:
        """A packaged set by name (``ict_default``, ``ict_full``).

        Raises
        ------
        ExpressionSetError
            One line listing the packaged sets when ``name`` is not one of them.
        """
        path = _packaged_path(name)
        if path is None:
            known = sorted(p.stem for p in EXPRESSION_SETS_DIR.glob("*.json") if p.stem != "ict_animator_eval")
            raise ExpressionSetError(f"no packaged expression set '{name}' (packaged: {', '.join(known)})")
        return cls.load(path)

    def to_dict(self) -> dict[str, Any]:
        """The set as it is written to a file."""
        return {
            "format": FORMAT,
            "version": self.version,
            "name": self.name,
            "rig": self.rig,
            "description": self.description,
            "expressions": [e.to_dict() for e in self.expressions],
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the set as JSON, atomically (temporary file, then rename).

        Parameters
        ----------
        path : str or os.PathLike
            Destination file.

        Returns
        -------
        Path
            ``path``.
        """
        data = self.to_dict()
        items = data.pop("expressions")
        head = json.dumps(data, indent=2)[:-2]
        body = ",\n".join("    " + json.dumps(item) for item in items)
        return write_text_atomic(Path(path), f'{head},\n  "expressions": [\n{body}\n  ]\n}}\n')

    # -- queries ----------------------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Expression names in session order."""
        return tuple(e.name for e in self.expressions)

    @property
    def neutral(self) -> SimonSaysExpression:
        """The neutral expression (the first)."""
        return self.expressions[0]

    def expression(self, name: str) -> SimonSaysExpression:
        """The expression called ``name`` (``KeyError`` when there is none).

        Parameters
        ----------
        name : str
            Expression name.

        Returns
        -------
        SimonSaysExpression
            The expression.
        """
        try:
            return self.expressions[self._index[name]]
        except KeyError:
            raise KeyError(f"expression set '{self.name}' has no expression named '{name}'") from None

    def symmetric(self) -> tuple[SimonSaysExpression, ...]:
        """The symmetric expressions other than the neutral, in order."""
        return tuple(e for e in self.expressions[1:] if e.symmetric)

    def asymmetric(self) -> tuple[SimonSaysExpression, ...]:
        """The one-sided expressions, in order."""
        return tuple(e for e in self.expressions if not e.symmetric)

    def mirror_pairs(self) -> list[tuple[str, str]]:
        """Left/right pairs of one-sided expressions, found by the ``_left``/``_right`` name suffixes.

        Returns
        -------
        list of tuple of str
            ``(left_name, right_name)`` in the order of the left ones.
        """
        pairs = []
        for e in self.expressions:
            if e.name.endswith("_left"):
                partner = e.name[: -len("_left")] + "_right"
                if partner in self._index:
                    pairs.append((e.name, partner))
        return pairs

    def control_vector(
        self, expression: str | SimonSaysExpression, control_names: Sequence[str]
    ) -> np.ndarray:
        """One expression as a full control vector.

        Parameters
        ----------
        expression : str or SimonSaysExpression
            The expression or its name.
        control_names : sequence of str
            The rig's control names, length ``K``.

        Returns
        -------
        np.ndarray
            Shape ``(K,)``, float32.
        """
        if isinstance(expression, str):
            expression = self.expression(expression)
        return expression.control_vector(control_names)

    def control_matrix(self, control_names: Sequence[str]) -> np.ndarray:
        """All expressions as control vectors, in session order.

        Parameters
        ----------
        control_names : sequence of str
            The rig's control names, length ``K``.

        Returns
        -------
        np.ndarray
            Shape ``(E, K)``, float32; row 0 is the neutral (all zeros).
        """
        names = list(control_names)
        return np.stack([e.control_vector(names) for e in self.expressions]).astype(np.float32)

    def must_not_move_indices(
        self, expression: str | SimonSaysExpression, definition: RigDefinition
    ) -> np.ndarray:
        """Indices of the controls that should stay still while an expression is held.

        Region entries expand to the region's controls; the expression's own controls are never included.

        Parameters
        ----------
        expression : str or SimonSaysExpression
            The expression or its name.
        definition : RigDefinition
            The rig's definition (control order and regions).

        Returns
        -------
        np.ndarray
            Shape ``(M,)``, int64, ascending.
        """
        if isinstance(expression, str):
            expression = self.expression(expression)
        return must_not_move_indices(expression, definition)

    def validate_against(self, definition: RigDefinition) -> None:
        """Check that every control named by the set exists in a rig definition.

        Parameters
        ----------
        definition : RigDefinition
            The rig's definition.

        Raises
        ------
        ExpressionSetError
            One line naming the expression and the unknown control.
        """
        known = set(definition.control_names)
        for e in self.expressions:
            for name in e.controls:
                if name not in known:
                    raise ExpressionSetError(
                        f"{_prefix(self.source)}expression '{e.name}': unknown control '{name}' "
                        f"(not in rig definition '{definition.name}')"
                    )
            for entry in e.must_not_move:
                if entry not in known and entry not in REGIONS:
                    raise ExpressionSetError(
                        f"{_prefix(self.source)}expression '{e.name}': must_not_move entry '{entry}' is neither "
                        f"a control of '{definition.name}' nor a region ({', '.join(REGIONS)})"
                    )


def must_not_move_indices(expression: SimonSaysExpression, definition: RigDefinition) -> np.ndarray:
    """Indices of the controls that should stay still while ``expression`` is held.

    Parameters
    ----------
    expression : SimonSaysExpression
        The expression.
    definition : RigDefinition
        The rig's definition; region entries of ``must_not_move`` expand to the region's controls, and the
        expression's own controls are never included.

    Returns
    -------
    np.ndarray
        Shape ``(M,)``, int64, ascending.
    """
    own = {definition.index_of(name) for name in expression.controls}
    by_region = definition.by_region()
    out: set[int] = set()
    for entry in expression.must_not_move:
        if entry in REGIONS:
            out.update(by_region[entry])
        else:
            out.add(definition.index_of(entry))
    return np.array(sorted(out - own), dtype=np.int64)


# ----------------------------------------------------------------------------------------------------------
# Parsing and checking
# ----------------------------------------------------------------------------------------------------------


#: The checks of expression set files.
_FIELDS = JsonFields(ExpressionSetError)


def _prefix(source: Path | None) -> str:
    return f"{source}: " if source is not None else ""


def _packaged_definition(rig: str) -> RigDefinition:
    path = RIGS_DIR / f"{rig}.json"
    if not path.is_file():
        raise ExpressionSetError(f"rig '{rig}' has no packaged definition; pass its RigDefinition")
    try:
        return RigDefinition.load(path)
    except RigDefinitionError as error:
        raise ExpressionSetError(str(error)) from None


def _parse_expression(obj: Any, position: int) -> SimonSaysExpression:
    label = f"expression {position}"
    if isinstance(obj, dict) and isinstance(obj.get("name"), str):
        label = f"expression '{obj['name']}'"
    obj = _FIELDS.object(obj, label, _EXPRESSION_REQUIRED, _EXPRESSION_KEYS)
    must_not_move = obj["must_not_move"]
    if not isinstance(must_not_move, list) or not all(isinstance(m, str) and m for m in must_not_move):
        raise ExpressionSetError(f"{label}: must_not_move must be a list of control names or regions")
    if not isinstance(obj["symmetric"], bool):
        raise ExpressionSetError(f"{label}: symmetric must be true or false")
    return SimonSaysExpression(
        name=_FIELDS.string(obj["name"], f"{label} name"),
        controls=_FIELDS.numbers_by_name(obj["controls"], f"{label} controls"),
        cue=_FIELDS.string(obj["cue"], f"{label} cue"),
        region=_FIELDS.string(obj["region"], f"{label} region"),
        symmetric=obj["symmetric"],
        must_not_move=tuple(must_not_move),
        label=obj.get("label", "") if isinstance(obj.get("label", ""), str) else "",
        subject=obj.get("subject", "") if isinstance(obj.get("subject", ""), str) else "",
    )


def _parse_set(data: Any, source: Path | None, _extending: tuple[Path, ...] = ()) -> SimonSaysSet:
    obj = _FIELDS.object(data, "the expression set", _TOP_REQUIRED, _TOP_KEYS)
    version = _FIELDS.format_version(obj, FORMAT, SUPPORTED_VERSIONS, "Simon-Says expression set")
    expressions = obj["expressions"]
    if not isinstance(expressions, list) or not expressions:
        raise ExpressionSetError("expressions must be a non-empty list")
    description = obj.get("description", "")
    if not isinstance(description, str):
        raise ExpressionSetError("description must be a string")
    rig = _FIELDS.string(obj["rig"], "rig")
    own = tuple(_parse_expression(e, i) for i, e in enumerate(expressions))
    if "extends" in obj:
        own = _base_set(_FIELDS.string(obj["extends"], "extends"), rig, source, _extending).expressions + own
    return SimonSaysSet(
        name=_FIELDS.string(obj["name"], "name"),
        rig=rig,
        expressions=own,
        description=description,
        version=version,
        source=source,
    )


def _packaged_path(name: str) -> Path | None:
    """The packaged set file called ``name`` (``ict_default``), or None when there is none."""
    path = EXPRESSION_SETS_DIR / f"{name}.json"
    return path if re.fullmatch(r"[A-Za-z0-9_]+", name) and path.exists() else None


def _base_set(extends: str, rig: str, source: Path | None, extending: tuple[Path, ...]) -> SimonSaysSet:
    """The set named by ``extends``: a packaged set name, or a path relative to the extending file."""
    path = _packaged_path(extends)
    if path is None:
        path = Path(extends)
        if not path.is_absolute():
            path = (source.parent if source is not None else Path.cwd()) / path
    path = path.resolve()
    if path in extending:
        raise ExpressionSetError(f"extends '{extends}' makes a cycle")
    try:
        base = _parse_set(_FIELDS.load(path, "expression set"), path, (*extending, path))
    except ExpressionSetError as error:
        raise ExpressionSetError(f"extends '{extends}': {error}") from None
    if base.rig != rig:
        raise ExpressionSetError(f"extends '{extends}', a set for rig '{base.rig}', not '{rig}'")
    return base


def _check_structure(s: SimonSaysSet) -> None:
    if not s.expressions:
        raise ExpressionSetError(f"expression set '{s.name}' has no expressions")
    first = s.expressions[0]
    if first.name != NEUTRAL or not first.is_neutral:
        raise ExpressionSetError(
            f"the first expression must be '{NEUTRAL}' with no controls, got '{first.name}'"
        )
    seen: set[str] = set()
    for e in s.expressions:
        if e.name in seen:
            raise ExpressionSetError(f"duplicate expression name '{e.name}'")
        seen.add(e.name)
        if e is not first and e.is_neutral:
            raise ExpressionSetError(f"expression '{e.name}' sets no controls (only '{NEUTRAL}' may)")
        for control, value in e.controls.items():
            if not 0.0 <= value <= 1.0:
                raise ExpressionSetError(
                    f"expression '{e.name}': value {value:g} of '{control}' is outside [0, 1]"
                )
        if e.region not in REGIONS:
            raise ExpressionSetError(
                f"expression '{e.name}': unknown region '{e.region}' (expected one of {', '.join(REGIONS)})"
            )
        if not e.cue.strip():
            raise ExpressionSetError(f"expression '{e.name}' has an empty cue")
        if "\n" in e.cue:
            raise ExpressionSetError(f"expression '{e.name}': the cue must be one line")
        overlap = set(e.controls) & set(e.must_not_move)
        if overlap:
            raise ExpressionSetError(
                f"expression '{e.name}' both sets and must not move {', '.join(sorted(overlap))}"
            )


# ----------------------------------------------------------------------------------------------------------
# Evaluation sets: animator poses and random poses
# ----------------------------------------------------------------------------------------------------------


def animator_set(
    control_names: Sequence[str], path: str | os.PathLike | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The ``animator`` evaluation set: expressive poses keyed as an animator would, unseen by Simon-Says.

    Emotions (happy, sad, angry, surprised, disgusted, afraid, contempt), visemes (AA, OO, EE, FV, MBP, CH)
    and mixed poses (laugh, skeptical, shout), none equal to a Simon-Says expression of the default set.

    Parameters
    ----------
    control_names : sequence of str
        The rig's control names, length ``K`` (the poses use ICT-FaceKit names).
    path : str or os.PathLike, optional
        An evaluation set file; by default ``studio/resources/expression_sets/ict_animator_eval.json``.

    Returns
    -------
    controls : np.ndarray
        Shape ``(E, K)``, float32 in [0, 1].
    names : tuple of str
        The pose names, length ``E``.

    Raises
    ------
    ExpressionSetError
        One line: unreadable file, bad layout, value outside [0, 1], duplicate name, or a control that is not
        among ``control_names``.
    """
    path = Path(path) if path is not None else EXPRESSION_SETS_DIR / "ict_animator_eval.json"
    data = _FIELDS.load(path, "evaluation set")
    index = {name: k for k, name in enumerate(control_names)}
    try:
        obj = _FIELDS.object(data, "the evaluation set", ("format", "version", "name", "poses"), _EVAL_KEYS)
        _FIELDS.format_version(obj, EVALUATION_FORMAT, SUPPORTED_VERSIONS, "Simon-Says evaluation set")
        poses = obj["poses"]
        if not isinstance(poses, list) or not poses:
            raise ExpressionSetError("poses must be a non-empty list")
        rows, names = [], []
        for i, pose in enumerate(poses):
            pose = _FIELDS.object(pose, f"pose {i}", ("name", "controls"), _POSE_KEYS)
            name = _FIELDS.string(pose["name"], f"pose {i} name")
            if name in names:
                raise ExpressionSetError(f"duplicate pose name '{name}'")
            row = np.zeros(len(index), np.float32)
            for control, value in _FIELDS.numbers_by_name(pose["controls"], f"pose '{name}' controls").items():
                if control not in index:
                    raise ExpressionSetError(f"pose '{name}': unknown control '{control}'")
                if not 0.0 <= value <= 1.0:
                    raise ExpressionSetError(
                        f"pose '{name}': value {value:g} of '{control}' is outside [0, 1]"
                    )
                row[index[control]] = value
            rows.append(row)
            names.append(name)
    except ExpressionSetError as error:
        raise ExpressionSetError(f"{path}: {error}") from None
    return np.stack(rows), tuple(names)


def random_set(
    control_names: Sequence[str],
    count: int,
    seed: int = 0,
    *,
    min_active: int = 2,
    max_active: int = 6,
    min_value: float = 0.2,
    max_value: float = 1.0,
) -> np.ndarray:
    """The ``random`` evaluation set: sparse random poses, seeded.

    Each pose moves ``min_active``..``max_active`` controls to values in ``[min_value, max_value]``. Controls
    that cancel are never combined (``jawLeft`` with ``jawRight``, ``mouthLeft`` with ``mouthRight``, two
    gaze units; see :func:`studio.core.rig.control_curves.control_units`); ``mouthClose`` only comes with at
    least as much ``jawOpen`` (the lips close behind an open jaw), counted among the active controls.

    Parameters
    ----------
    control_names : sequence of str
        The rig's control names, length ``K``.
    count : int
        ``E``, number of poses.
    seed : int
        Seed of the random choices (same seed, same poses).
    min_active, max_active : int
        Range of the number of non-zero controls per pose, ``1 <= min_active <= max_active``.
    min_value, max_value : float
        Range of a moved control's value, ``0 < min_value <= max_value <= 1``.

    Returns
    -------
    np.ndarray
        Shape ``(E, K)``, float32.
    """
    names = list(control_names)
    k = len(names)
    if count < 0 or k == 0:
        raise ValueError(f"need count >= 0 and at least one control, got {count} and {k}")
    if not 1 <= min_active <= max_active:
        raise ValueError(f"need 1 <= min_active <= max_active, got {min_active} and {max_active}")
    if not 0.0 < min_value <= max_value <= 1.0:
        raise ValueError(f"need 0 < min_value <= max_value <= 1, got {min_value} and {max_value}")
    units, exclusive = control_units(names)
    jaw_open = names.index("jawOpen") if "jawOpen" in names else None
    mouth_close = names.index("mouthClose") if "mouthClose" in names else None
    rng = np.random.default_rng(seed)
    out = np.zeros((count, k), np.float32)
    for row in out:
        target = int(rng.integers(min_active, min(max_active, k) + 1))
        used: set[str] = set()
        for u in rng.permutation(len(units)):
            active = int(np.count_nonzero(row))
            if active >= target:
                break
            key = exclusive[u]
            if key is not None and key in used:
                continue
            unit = units[u]
            value = rng.uniform(min_value, max_value)
            if len(unit) == 2 and active + 2 <= target and rng.random() < 0.6:
                picked = list(unit)
            else:
                picked = [unit[int(rng.integers(len(unit)))]]
            if mouth_close is not None and mouth_close in picked:
                if jaw_open is None:
                    continue
                needs_jaw = row[jaw_open] == 0
                if active + 1 + int(needs_jaw) > target:
                    continue
                row[jaw_open] = max(row[jaw_open], value)
            row[picked] = value
            if key is not None:
                used.add(key)
        if np.count_nonzero(row) < min(min_active, k):  # only for tiny rigs: fill from free controls
            free = [i for i in rng.permutation(k) if row[i] == 0 and i != mouth_close]
            row[free[: min_active - np.count_nonzero(row)]] = rng.uniform(min_value, max_value)
    return out


# ----------------------------------------------------------------------------------------------------------
# Generating a set for any rig
# ----------------------------------------------------------------------------------------------------------

# Plain-language actions per FACS action unit: (what to do, feedback subject).
_AU_ACTIONS: dict[str, tuple[str, str]] = {
    "AU1": ("Lift the inner ends of your eyebrows, as if worried", "inner brow raise"),
    "AU2": ("Raise the outer ends of your eyebrows high", "eyebrow raise"),
    "AU4": ("Pull your eyebrows down and together, as if angry", "eyebrow frown"),
    "AU5": ("Open your eyes as wide as you can", "eye widening"),
    "AU6": ("Lift your cheeks up toward your eyes", "cheek raise"),
    "AU7": ("Narrow your eyes by pushing your lower eyelids up", "squint"),
    "AU9": ("Wrinkle your nose as if you smell something bad", "nose wrinkle"),
    "AU10": ("Raise your upper lip a little", "upper lip raise"),
    "AU11": ("Lift your upper lip to show your top teeth", "upper lip raise"),
    "AU12": ("Pull the corners of your mouth up into a smile", "smile"),
    "AU14": ("Tighten the corners of your mouth into dimples", "dimple"),
    "AU15": ("Pull the corners of your mouth down", "frown"),
    "AU16": ("Pull your lower lip down to show your bottom teeth", "lower lip pull"),
    "AU17": ("Push your chin and lower lip up into a pout", "chin push"),
    "AU18": ("Push your lips forward into a kiss", "kiss"),
    "AU20": ("Stretch your lips sideways, wide and flat", "lip stretch"),
    "AU22": ("Flare your lips out into an open 'ooh'", "'ooh' shape"),
    "AU23": ("Tighten your lips into a thin line", "lip tightening"),
    "AU24": ("Press your lips firmly together", "lip press"),
    "AU25": ("Part your lips slightly", "lip part"),
    "AU26": ("Let your jaw drop a little", "jaw drop"),
    "AU27": ("Drop your jaw as far as is comfortable", "jaw drop"),
    "AU28": ("Roll your lips in over your teeth", "lip roll"),
    "AU29": ("Push your lower jaw forward", "jaw push"),
    "AU33": ("Puff your cheeks full of air", "cheek puff"),
    "AU43": ("Close your eyes gently, without squeezing", "eye close"),
    "AU45": ("Close your eyes gently, without squeezing", "eye close"),
    "AU46": ("Wink", "wink"),
}

# Plain-language actions for common non-FACS control names (visemes, emotions), by lower-case name token.
_NAME_ACTIONS: dict[str, tuple[str, str]] = {
    "aa": ("Say a long 'ah' as in 'father', jaw dropped and lips relaxed", "'ah'"),
    "ah": ("Say a long 'ah' as in 'father', jaw dropped and lips relaxed", "'ah'"),
    "oo": ("Say 'ooh' as in 'food', lips rounded and pushed forward", "'ooh'"),
    "ou": ("Say 'ooh' as in 'food', lips rounded and pushed forward", "'ooh'"),
    "oh": ("Say 'oh' as in 'go', lips rounded and jaw a little open", "'oh'"),
    "ee": ("Say 'ee' as in 'see', lips spread wide", "'ee'"),
    "ih": ("Say 'ih' as in 'sit', lips slightly spread", "'ih'"),
    "eh": ("Say 'eh' as in 'bed', jaw a little open", "'eh'"),
    "ch": ("Say 'ch' as in 'cheese', lips pushed out and teeth close", "'ch'"),
    "sh": ("Say 'sh' as in 'shush', lips pushed out and teeth close", "'sh'"),
    "mbp": ("Press your lips together as if about to say 'b'", "'b' lips"),
    "pp": ("Press your lips together as if about to say 'b'", "'b' lips"),
    "fv": ("Rest your upper teeth on your lower lip, as if saying 'f'", "'f' shape"),
    "ff": ("Rest your upper teeth on your lower lip, as if saying 'f'", "'f' shape"),
    "th": ("Put your tongue tip between your teeth, as in 'think'", "'th'"),
    "joy": ("Show a big, happy smile, cheeks lifted", "happy face"),
    "happy": ("Show a big, happy smile, cheeks lifted", "happy face"),
    "anger": ("Look angry: brows down and together, lips pressed", "angry face"),
    "angry": ("Look angry: brows down and together, lips pressed", "angry face"),
    "sad": ("Look sad: inner brows up, mouth corners down", "sad face"),
    "sadness": ("Look sad: inner brows up, mouth corners down", "sad face"),
    "surprise": ("Look surprised: brows up, eyes wide, jaw dropped", "surprised face"),
    "fear": ("Look afraid: brows up and together, eyes wide, lips stretched", "afraid face"),
    "disgust": ("Look disgusted: nose wrinkled, upper lip raised", "disgusted face"),
    "contempt": ("Look smug: tighten one corner of your mouth", "smug face"),
    "blink": ("Close your eyes gently, without squeezing", "eye close"),
    "smile": ("Pull the corners of your mouth up into a smile", "smile"),
}

_REGION_WORDS = {
    "brow": "your eyebrows",
    "eye": "your eyes",
    "cheek": "your cheeks",
    "nose": "your nose",
    "mouth": "your mouth",
    "jaw": "your jaw",
}

# Regions to keep still, by the region an expression is about.
_STILL_REGIONS = {
    "brow": ("mouth", "jaw"),
    "eye": ("mouth", "jaw"),
    "cheek": ("brow",),
    "nose": ("jaw",),
    "mouth": ("brow",),
    "jaw": ("brow",),
}

_GAZE = re.compile(r"look(?P<direction>in|out|up|down)", re.IGNORECASE)


def _tokens(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").replace("-", " ")
    return [t.lower() for t in spaced.split()]


def _snake(name: str) -> str:
    return "_".join(_tokens(name))


def _is_direction(control: ControlDefinition) -> bool:
    """A mirror pair that moves one way or the other (``jawLeft``/``jawRight``), not a side of the face."""
    sided = control_side(control.name)
    return (
        control.mirror is not None
        and sided is not None
        and not control.name.endswith(("_L", "_R"))
        and len(_tokens(sided[0])) == 1
    )


def _action(controls: Sequence[ControlDefinition]) -> tuple[str, str]:
    """A plain-language action and feedback subject for controls that move together."""
    for c in controls:
        for au in c.facs:
            if au in _AU_ACTIONS:
                return _AU_ACTIONS[au]
    for c in controls:
        for token in _tokens(control_side(c.name)[0] if control_side(c.name) else c.name):
            if token in _NAME_ACTIONS:
                return _NAME_ACTIONS[token]
    c = controls[0]
    words = " ".join(_tokens(control_side(c.name)[0] if control_side(c.name) else c.name))
    return f"Move {_REGION_WORDS[c.region]} into the '{words}' shape shown in the picture", words


def _keep_still(regions: Sequence[str], extra: str = "") -> str:
    parts = [_REGION_WORDS[r] for r in regions]
    if extra:
        parts.insert(0, extra)
    if not parts:
        return ""
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f" Keep {joined} still."


@dataclass
class _Builder:
    definition: RigDefinition
    expressions: list[SimonSaysExpression] = field(default_factory=list)
    moved_regions: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def regions_of(self, controls: Sequence[str]) -> set[str]:
        """The regions the controls belong to and, for composite controls, every region their shape moves."""
        regions = {self.definition.control(c).region for c in controls}
        for c in controls:
            regions.update(self.moved_regions.get(c, ()))
        return regions

    def add(
        self,
        name: str,
        controls: Mapping[str, float],
        cue: str,
        subject: str,
        symmetric: bool,
        must_not_move: Sequence[str],
        label: str = "",
    ) -> None:
        taken = {e.name for e in self.expressions}
        unique, n = name, 2
        while unique in taken:
            unique, n = f"{name}_{n}", n + 1
        region = self.definition.control(next(iter(controls))).region
        own = set(controls)
        regions_of_own = self.regions_of(list(own))
        mnm = [m for m in must_not_move if m not in own and m not in regions_of_own]
        self.expressions.append(
            SimonSaysExpression(
                name=unique,
                controls=dict(controls),
                cue=cue,
                region=region,
                symmetric=symmetric,
                must_not_move=tuple(dict.fromkeys(mnm)),
                label=label,
                subject=subject,
            )
        )


def _still_regions(b: _Builder, controls: Sequence[str]) -> list[str]:
    definition = b.definition
    own = b.regions_of(controls)
    present = {r for r, idx in definition.by_region().items() if idx}
    out: list[str] = []
    for r in own:
        out += [s for s in _STILL_REGIONS[r] if s not in own and s in present and s not in out]
    return out


def _add_unit(b: _Builder, group: Sequence[ControlDefinition], value: float, one_sided: bool) -> None:
    """A symmetric expression for a control, a mirror pair, or a group; plus each side alone for a pair."""
    names = [c.name for c in group]
    action, subject = _action(group)
    still = _still_regions(b, names)
    base = control_side(group[0].name)[0] if control_side(group[0].name) and group[0].mirror else group[0].name
    if len(group) > 1 and group[0].mirror is None:
        common = []
        for parts in zip(*(_tokens(c.name) for c in group), strict=False):
            if len(set(parts)) != 1:
                break
            common.append(parts[0])
        name = "_".join(common) if common else "_".join(_snake(n) for n in names)
    else:
        name = _snake(base)
    b.add(name, {n: value for n in names}, f"{action}.{_keep_still(still)}", subject, True, still)
    if not one_sided or len(group) != 2 or group[0].mirror != group[1].name:
        return
    for c in group:
        side = control_side(c.name)[1] if control_side(c.name) else "left"
        other = "right" if side == "left" else "left"
        if any(au in ("AU43", "AU45", "AU46") for au in c.facs):
            cue = f"Wink: close your {side} eye only. Keep your {other} eye open."
            sub = "wink"
        else:
            cue = f"Your {side} side only: {action[0].lower()}{action[1:]}.{_keep_still([], f'your {other} side')}"
            sub = f"one-sided {subject}"
        b.add(f"{name}_{side}", {c.name: value}, cue, sub, False, [c.mirror, *still])


def _add_gaze(b: _Builder, gaze: dict[str, dict[str, str]], value: float) -> set[str]:
    """Look up/down/left/right from eyeLook{Up,Down,In,Out}_{L,R}; returns the controls used."""
    used: set[str] = set()
    for direction in ("up", "down"):
        pair = gaze.get(direction, {})
        if len(pair) == 2:
            b.add(f"look_{direction}", {n: value for n in pair.values()},
                  f"Keep your head still and look {direction} with your eyes only.",
                  f"look {direction}", True, ["brow", "mouth", "jaw"])  # fmt: skip
            used.update(pair.values())
    inward, outward = gaze.get("in", {}), gaze.get("out", {})
    if len(inward) == 2 and len(outward) == 2:
        for side, other in (("left", "right"), ("right", "left")):
            b.add(f"look_{side}", {outward[side]: value, inward[other]: value},
                  f"Keep your head still and look toward your {side} with your eyes only.",
                  f"look {side}", False, ["brow", "mouth", "jaw"])  # fmt: skip
        used.update(inward.values())
        used.update(outward.values())
    return used


def generate_simon_says_set(
    definition: RigDefinition,
    *,
    name: str | None = None,
    value: float = 1.0,
    one_sided: bool = True,
    include_tweakers: bool = True,
    moved_regions: Mapping[str, Sequence[str]] | None = None,
) -> SimonSaysSet:
    """Derive a Simon-Says set from a rig's control space (for characters whose controls differ from ICT).

    The set is: the neutral; gaze directions when the rig has ``eyeLook{Up,Down,In,Out}`` pairs (look up,
    down, to your left, to your right); one symmetric expression per primary unit (a mirror pair moves both
    sides, a centre control alone), and for each primary mirror pair each side alone (tells left from
    right). Tweakers, when included, are grouped: a tweaker that takes part in a corrective constraint with
    other controls gives the constraint's pose (``jawOpen + mouthClose`` = lips sealed, jaw open); mirror
    pairs give one symmetric expression; directional pairs (``jawLeft``/``jawRight``) one expression per
    direction; centre tweakers sharing region and FACS action units one expression together
    (``mouthRollUpper`` + ``mouthRollLower``). Cues are built from templates: the controls' FACS action
    units first, then well-known names (visemes ``AA``, ``OO``, ``CH``, ``MBP``, ``FV``, ...; emotions
    ``joy``, ``anger``, ...), else a generic "move your <region> into the '<name>' shape" -- followed by what
    to keep still (regions away from the expression, the other side for one-sided ones).

    Parameters
    ----------
    definition : RigDefinition
        The rig's definition.
    name : str, optional
        Set name; by default ``"<rig>_generated"``.
    value : float
        The value of every moved control, in (0, 1].
    one_sided : bool
        Whether to add each side alone for primary mirror pairs.
    include_tweakers : bool
        Whether to add expressions for the tweakers (grouped as above) or skip them.
    moved_regions : mapping of str to sequence of str, optional
        For composite controls (a game rig's ``joy`` moves mouth, cheeks and eyes), every region the
        control's shape moves: never asked to be kept still while that control is performed. By default a
        control moves only its own ``region``.

    Returns
    -------
    SimonSaysSet
        The set, ``rig`` = ``definition.name``, checked against the definition.
    """
    if not 0.0 < value <= 1.0:
        raise ValueError(f"value must be in (0, 1], got {value}")
    d = definition
    b = _Builder(d, moved_regions=dict(moved_regions or {}))
    b.expressions.append(
        SimonSaysExpression(
            name=NEUTRAL,
            controls={},
            cue="Relax your whole face and look straight ahead, lips gently together, no expression.",
            region=d.controls[0].region,
            symmetric=True,
            label="Neutral",
            subject="neutral face",
        )
    )
    gaze: dict[str, dict[str, str]] = {}
    for c in d.controls:
        match = _GAZE.search(c.name)
        sided = control_side(c.name)
        if c.region == "eye" and match and sided and c.mirror is not None:
            gaze.setdefault(match["direction"].lower(), {})[sided[1]] = c.name
    done = _add_gaze(b, gaze, value)

    def unit_of(c: ControlDefinition) -> list[ControlDefinition]:
        if c.mirror is None:
            return [c]
        left = c if (control_side(c.name) or ("", "left"))[1] == "left" else d.control(c.mirror)
        return [left, d.control(left.mirror)]  # type: ignore[arg-type]

    for c in d.controls:
        if c.name in done or not c.is_primary:
            continue
        group = unit_of(c)
        done.update(g.name for g in group)
        _add_unit(b, group, value, one_sided)
    if include_tweakers:
        for constraint in d.constraints:
            members = list(constraint.controls)
            if len(members) > 1 and any(d.control(m).is_tweaker and m not in done for m in members):
                controls = [d.control(m) for m in members]
                still = _still_regions(b, members)
                jaw = [m for m in controls if {"AU26", "AU27"} & set(m.facs)]
                if jaw and any("close" in _tokens(m.name) for m in controls):
                    action = "Keep your lips closed and drop your jaw behind them, like a yawn with your mouth shut"
                    subject = "jaw drop behind closed lips"
                else:
                    action = " while ".join(_action([m])[0].lower() for m in controls).capitalize()
                    subject = " and ".join(_action([m])[1] for m in controls)
                b.add(constraint.name, dict(constraint.controls), f"{action}.{_keep_still(still)}", subject,
                      True, still)  # fmt: skip
                done.update(members)
        for c in d.controls:
            if c.name in done:
                continue
            if _is_direction(c):
                for member in (c, d.control(c.mirror)):  # type: ignore[arg-type]
                    base, side = control_side(member.name)  # type: ignore[misc]
                    what = "your jaw" if "jaw" in _tokens(base) else f"your {' '.join(_tokens(base))}"
                    b.add(_snake(member.name), {member.name: value},
                          f"Slide {what} toward your {side}. Keep your eyebrows still.",
                          f"{' '.join(_tokens(base))} shift", False, ["brow"])  # fmt: skip
                    done.add(member.name)
                continue
            if c.mirror is None and c.facs:
                group = [
                    g for g in d.controls
                    if g.name not in done and g.mirror is None and g.is_tweaker
                    and g.region == c.region and g.facs == c.facs
                ]  # fmt: skip
            else:
                group = unit_of(c)
            done.update(g.name for g in group)
            _add_unit(b, group, value, one_sided=False)
    result = SimonSaysSet(
        name=name or f"{d.name}_generated",
        rig=d.name,
        expressions=tuple(b.expressions),
        description=f"Generated from rig definition '{d.name}' by generate_simon_says_set.",
    )
    result.validate_against(d)
    return result
