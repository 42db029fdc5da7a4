"""What a calibration and a fine-tuning report: dataclasses read by attribute, kept as JSON.

:class:`CalibrationReport` (θ_A → θ_S) and :class:`FinetuneReport` (θ_S → θ̂_S) carry the figures of one run:
what the solve chose and how far the captures moved. A session writes them beside the rig parameters
(``calibration/report.json``, ``calibration/finetune_report.json``) with the session's own fields filled in
(which session, which captures, flagged captures, wall time, the capture metrics of both rigs).

``to_json`` gives exactly the keys those files have always had (the session's fields only when set), and
``from_json`` reads them back, older files included (a missing key takes its default). Irregular parts —
the cross-validation grids, the constraint gaps, the fine-tuning settings — stay JSON data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["BeforeAfter", "CalibrationReport", "FinetuneReport", "FinetuneStage"]


@dataclass(frozen=True)
class BeforeAfter:
    """A figure before and after (a landmark residual in mm, a control L2)."""

    before: float
    after: float


def _optional(data: dict[str, Any], key: str, default: Any = None) -> Any:
    value = data.get(key, default)
    return default if value is None else value


def _json(value: Any) -> Any:
    """JSON data from numbers, strings, lists, dicts and numpy scalars/arrays (NaN as null)."""
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return _json(value.tolist())
    if isinstance(value, float) and value != value:
        return None
    return value


@dataclass(frozen=True)
class CalibrationReport:
    """The figures of one calibration θ_A → θ_S (:func:`studio.core.calibration.calibrate.calibrate_job`).

    Attributes
    ----------
    regularization, smoothness : float
        The chosen λ and μ.
    cv : dict or None
        The cross-validation grid and its leave-one-out errors (mm), or ``None`` when not cross-validated.
    support_falloff : float or None
        The chosen support falloff, or ``None`` for none.
    support_cv : dict or None
        Its cross-validation, or ``None``.
    gain : dict or None
        The gain prior's ``length_cm`` and ``noise_cm`` and each captured shape's ``mean_gain``, or ``None``.
    residual_mm : dict of str to BeforeAfter
        Per expression, the RMS landmark residual of θ_A and of θ_S, mm.
    constraints : dict
        Per corrective constraint, its mean/max gap (mm) with θ_A, unconstrained θ_S and θ_S.
    seconds : dict of str to float
        Seconds per stage and in total.
    num_pairs, num_landmarks_corrected : int
        Captures calibrated, landmarks corrected.
    noise_mm : list of float or None
        Each capture's landmark noise, mm (``None`` when unknown).
    session : str or None
        The session folder (a session's report).
    expressions : list of str
        The captures calibrated, in order (a session's report).
    flagged_captures : dict of str to list of str or None
        Captures with quality flags and their messages (a session's report).
    wall_seconds : float or None
        Wall time of the session's calibration job.
    detector_response : str or None
        The MediaPipe response model removed from the captures before calibrating (its file and
        fingerprint), or ``None`` when the captures were calibrated as MediaPipe reported them.
    """

    regularization: float
    smoothness: float
    cv: dict[str, Any] | None = None
    support_falloff: float | None = None
    support_cv: dict[str, Any] | None = None
    gain: dict[str, Any] | None = None
    residual_mm: dict[str, BeforeAfter] = field(default_factory=dict)
    constraints: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    num_pairs: int = 0
    num_landmarks_corrected: int = 0
    noise_mm: list[float | None] = field(default_factory=list)
    session: str | None = None
    expressions: list[str] | None = None
    flagged_captures: dict[str, list[str]] | None = None
    wall_seconds: float | None = None
    detector_response: str | None = None

    def mean_residual_mm(self) -> BeforeAfter:
        """The landmark residual averaged over the captures, mm (NaN when there are none)."""
        values = list(self.residual_mm.values())
        if not values:
            return BeforeAfter(float("nan"), float("nan"))
        return BeforeAfter(sum(v.before for v in values) / len(values), sum(v.after for v in values) / len(values))

    def to_json(self) -> dict[str, Any]:
        """The report as ``report.json`` holds it."""
        data: dict[str, Any] = {}
        if self.session is not None:
            data["session"] = self.session
        if self.expressions is not None:
            data["expressions"] = list(self.expressions)
        data |= {
            "regularization": self.regularization,
            "smoothness": self.smoothness,
            "cv": self.cv,
            "support_falloff": self.support_falloff,
            "support_cv": self.support_cv,
            "gain": self.gain,
            "residual_mm": {name: asdict(value) for name, value in self.residual_mm.items()},
            "constraints": self.constraints,
            "seconds": self.seconds,
            "num_pairs": self.num_pairs,
            "num_landmarks_corrected": self.num_landmarks_corrected,
            "noise_mm": list(self.noise_mm),
        }
        if self.flagged_captures is not None:
            data["flagged_captures"] = self.flagged_captures
        if self.wall_seconds is not None:
            data["wall_seconds"] = self.wall_seconds
        data["detector_response"] = self.detector_response
        return _json(data)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CalibrationReport:
        """A report from ``report.json``'s data (``KeyError``/``TypeError`` when it is not one)."""
        return cls(
            regularization=float(data["regularization"]),
            smoothness=float(data["smoothness"]),
            cv=data.get("cv"),
            support_falloff=data.get("support_falloff"),
            support_cv=data.get("support_cv"),
            gain=data.get("gain"),
            residual_mm={
                str(name): BeforeAfter(float(value["before"]), float(value["after"]))
                for name, value in _optional(data, "residual_mm", {}).items()
            },
            constraints=_optional(data, "constraints", {}),
            seconds=_optional(data, "seconds", {}),
            num_pairs=int(_optional(data, "num_pairs", 0)),
            num_landmarks_corrected=int(_optional(data, "num_landmarks_corrected", 0)),
            noise_mm=list(_optional(data, "noise_mm", [])),
            session=data.get("session"),
            expressions=data.get("expressions"),
            flagged_captures=data.get("flagged_captures"),
            wall_seconds=data.get("wall_seconds"),
            detector_response=data.get("detector_response"),
        )


@dataclass(frozen=True)
class FinetuneStage:
    """One stage of the fine-tuning (paper 001 Sec. 9.1).

    Attributes
    ----------
    stage : int
        1 to 4.
    name : str
        Its name (:data:`studio.core.calibration.finetune.STAGES`).
    runs, accepted : int
        Optimisations run, and those whose result was kept (they lowered the control error).
    objective_before, objective_after : float
        The objective summed over its optimisations, before and after.
    control_l2 : float
        The full tracker's mean control L2 over the pairs after the stage.
    """

    stage: int
    name: str
    runs: int = 0
    accepted: int = 0
    objective_before: float = 0.0
    objective_after: float = 0.0
    control_l2: float = float("nan")


@dataclass(frozen=True)
class FinetuneReport:
    """The figures of one tracker fine-tuning θ_R → θ̂ (:func:`studio.core.calibration.finetune.finetune_job`).

    Attributes
    ----------
    settings : dict
        The :class:`~studio.core.calibration.finetune.FinetuneSettings` used, as JSON data.
    theta_R : str
        The stage of the animation rig fine-tuned from (``theta_S``, ``theta_A``).
    noise_mm : float
        The captures' median landmark noise, mm.
    untuned : list of str
        Controls left alone (too noisy to tune).
    stages : list of FinetuneStage
        Per stage run.
    control_l2_before, control_l2_after : float
        Mean control L2 over the pairs, before and after.
    per_expression : dict of str to BeforeAfter
        Control L2 per capture.
    spurious : dict of str to list of str
        Per expression, the controls stage 3 suppressed.
    num_pairs : int
        Captures used.
    seconds : float
        Seconds of the fine-tuning.
    cancelled_in_stage : int or None
        The stage a cancelled run stopped in (the report of a partial result), else ``None``.
    session : str or None
        The session folder (a session's report).
    expressions : list of str
        The captures used, in order (a session's report).
    metrics : dict or None
        The capture metrics (``control_l2``, ``control_linf``, ``sparsity``, ``tweaker``, ``landmark_mm``) of
        tracking with θ_S and with θ̂_S (a session's report: ``{"theta_S": {...}, "theta_S_hat": {...}}``).
    wall_seconds : float or None
        Wall time of the session's fine-tuning job.
    """

    settings: dict[str, Any] = field(default_factory=dict)
    theta_R: str = "theta_R"  # noqa: N815 (the paper's name)
    noise_mm: float = float("nan")
    untuned: list[str] = field(default_factory=list)
    stages: list[FinetuneStage] = field(default_factory=list)
    control_l2_before: float = float("nan")
    control_l2_after: float = float("nan")
    per_expression: dict[str, BeforeAfter] = field(default_factory=dict)
    spurious: dict[str, list[str]] = field(default_factory=dict)
    num_pairs: int = 0
    seconds: float = float("nan")
    cancelled_in_stage: int | None = None
    session: str | None = None
    expressions: list[str] | None = None
    metrics: dict[str, dict[str, float]] | None = None
    wall_seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The report as ``finetune_report.json`` holds it."""
        data: dict[str, Any] = {}
        if self.session is not None:
            data["session"] = self.session
        if self.expressions is not None:
            data["expressions"] = list(self.expressions)
        if self.cancelled_in_stage is not None:  # a partial result: what it reached
            return _json(data | {"control_l2_after": self.control_l2_after,
                                 "cancelled_in_stage": self.cancelled_in_stage})
        data |= {
            "settings": self.settings,
            "theta_R": self.theta_R,
            "noise_mm": self.noise_mm,
            "untuned": list(self.untuned),
            "stages": [asdict(stage) for stage in self.stages],
            "control_l2_before": self.control_l2_before,
            "control_l2_after": self.control_l2_after,
            "per_expression": {name: asdict(value) for name, value in self.per_expression.items()},
            "spurious": self.spurious,
            "num_pairs": self.num_pairs,
            "seconds": self.seconds,
        }
        if self.metrics is not None:
            data["metrics"] = self.metrics
        if self.wall_seconds is not None:
            data["wall_seconds"] = self.wall_seconds
        return _json(data)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FinetuneReport:
        """A report from ``finetune_report.json``'s data (``KeyError``/``TypeError`` when it is not one)."""
        known = {f.name for f in fields(FinetuneStage)}
        return cls(
            settings=_optional(data, "settings", {}),
            theta_R=str(_optional(data, "theta_R", "theta_R")),
            noise_mm=float(_optional(data, "noise_mm", float("nan"))),
            untuned=list(_optional(data, "untuned", [])),
            stages=[FinetuneStage(**{k: v for k, v in stage.items() if k in known}) for stage in data["stages"]],
            control_l2_before=float(_optional(data, "control_l2_before", float("nan"))),
            control_l2_after=float(_optional(data, "control_l2_after", float("nan"))),
            per_expression={
                str(name): BeforeAfter(float(value["before"]), float(value["after"]))
                for name, value in _optional(data, "per_expression", {}).items()
            },
            spurious=_optional(data, "spurious", {}),
            num_pairs=int(_optional(data, "num_pairs", 0)),
            seconds=float(_optional(data, "seconds", float("nan"))),
            cancelled_in_stage=data.get("cancelled_in_stage"),
            session=data.get("session"),
            expressions=data.get("expressions"),
            metrics=data.get("metrics"),
            wall_seconds=data.get("wall_seconds"),
        )
