"""Simon-Says sessions on disk: the folder, and every file in it (layout in docs/session-format.md).

:class:`Session` owns the session folder: it is the one place that knows where each file lives and what it
is called. A session holds one performer's captures for one expression set and one rig, and what the studio
derived from them::

    <session>/
        session.json                 format, version, performer, rig, expression set, capture list
        expression_set.json          the Simon-Says set, when the session brought its own (else a packaged one)
        neutral/                     the neutral capture (captured first)
            burst.npz                landmarks (px), aligned landmarks (cm), averaged face, kept mask, ...
            quality.json             figures and flags, for people and tools
            frames/0.jpg ...         a few small thumbnails (optional)
        captures/<expression>/       one folder per captured expression, same files as neutral/
        calibration/                 rig parameters by stage and their reports:
            theta_S.npz, report.json                 the calibrated animation rig θ_S
            theta_S_hat.npz, finetune_report.json    the fine-tuned tracking rig θ̂_S
            theta_GT.npz                             a synthetic performer's true rig θ_GT
        takes/<take>/                take.json, curves_<rig>.csv per tracking rig, video.mp4, truth.npz
        response.json                the per-shape response (multiplier, offset, clamp, curve, smoothing)

Every file is written atomically: a temporary file in the same folder (its name starts with ``.`` and ends
in ``.tmp``), flushed and fsynced, then renamed over the target, then the folder fsynced. A capture's
``burst.npz`` is its commit point (it holds everything, flags included); ``quality.json`` is written after
it, and ``session.json`` last. Readers ignore temporary files and capture folders without ``burst.npz``, so
an interrupted session reopens with every capture completed before the interruption.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.capture.burst import NEUTRAL, BurstCapture
from studio.core.capture.expression_sets import SimonSaysSet
from studio.core.errors import StudioError
from studio.core.io.atomic_files import (
    fsync_folder,
    json_text,
    npz_writer,
    text_writer,
    write_atomic,
    write_json_atomic,
    write_npz_atomic,
    write_text_atomic,
    write_together,
)
from studio.core.io.npz import read_npz
from studio.core.rig.response import ResponseError, ResponseSet
from studio.core.rig.rig import RigParameters

#: ``format`` of session.json.
FORMAT = "simon-says-studio.session"
#: ``version`` written, ``"MAJOR.MINOR"``: readers refuse a newer major; newer minors only add keys.
VERSION = (1, 0)
SESSION_FILE = "session.json"
BURST_FILE = "burst.npz"
_BURST_ARRAYS = (
    "landmarks_px", "time_s", "face_found", "aligned", "averaged", "kept", "blendshapes", "stillness_mm_per_s",
    "spread_mm", "aligned_to", "flags_json",
)
QUALITY_FILE = "quality.json"
FRAMES_FOLDER = "frames"
CAPTURES_FOLDER = "captures"
CALIBRATION_FOLDER = "calibration"
TAKES_FOLDER = "takes"
#: A set file the session brought along (a packaged set is named, not copied).
EXPRESSION_SET_FILE = "expression_set.json"
#: Rig parameters kept in ``calibration/``, by stage: the calibrated animation rig θ_S, the fine-tuned
#: tracking rig θ̂_S, and a synthetic performer's true rig θ_GT.
RIG_PARAMETER_FILES: dict[str, str] = {
    "theta_S": "theta_S.npz",
    "theta_S_hat": "theta_S_hat.npz",
    "theta_GT": "theta_GT.npz",
}
#: Reports kept in ``calibration/``: of the calibration (θ_S) and of the tracker's fine-tuning (θ̂_S).
REPORT_FILES: dict[str, str] = {
    "calibration": "report.json",
    "finetune": "finetune_report.json",
    "report_card": "report_card.json",
    "network": "network_report.json",
}
#: The learned tracker calibrated to the session's performer (``finetune --tracker network``).
NETWORK_FILE = "network_calibrated.pt"
#: The report kept beside each calibration stage's rig parameters.
STAGE_REPORTS: dict[str, str] = {"theta_S": "calibration", "theta_S_hat": "finetune"}
#: What a new result of a stage makes stale: θ̂_S is fine-tuned from θ_S.
DERIVED_STAGES: dict[str, tuple[str, ...]] = {"theta_S": ("theta_S_hat",)}
#: Where stale results are moved, inside ``calibration/``: ``superseded/<time>/``.
SUPERSEDED_FOLDER = "superseded"
#: The rigs a take is tracked with, in order, when the session has them (θ_A is the rig's own).
TRACKING_RIGS: tuple[str, ...] = ("theta_A", "theta_S", "theta_S_hat")
#: A take's files in ``takes/<take>/``: its index (written last: a take without it is incomplete), the video
#: recorded from a camera, and a synthetic performer's performed controls.
RESPONSE_FILE = "response.json"
TAKE_FILE = "take.json"
TAKE_VIDEO_FILE = "video.mp4"
TAKE_TRUTH_FILE = "truth.npz"

#: Expression and take names are folder names: letters, digits, ``_ - + .``, starting with a letter or digit.
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+.\-]{0,63}")


class SessionError(StudioError):
    """A session cannot be created, opened or written (one-line message naming the folder or file)."""


@dataclasses.dataclass(frozen=True)
class SessionStatus:
    """Which of a session's expressions are captured.

    Attributes
    ----------
    captured : tuple of str
        Captured expressions, in session order (``"neutral"`` first), flagged ones included.
    missing : tuple of str
        Expressions still to capture, in order.
    flagged : tuple of str
        Captured expressions with quality flags.
    """

    captured: tuple[str, ...]
    missing: tuple[str, ...]
    flagged: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """Whether every expression is captured."""
        return not self.missing


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def _flag_as_json(value: Any) -> Any:
    """``json.dumps`` fallback: dataclass flags become dicts (tuples in them become lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _parse_version(value: Any, path: Path) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)\.(\d+)", str(value))
    if match is None:
        raise SessionError(f"{path}: version {value!r} is not MAJOR.MINOR")
    return int(match[1]), int(match[2])


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name) or name.endswith(".tmp"):
        raise SessionError(
            f"expression name {name!r} is not usable as a folder name (letters, digits, _ - + ., up to 64)"
        )
    return name


class Session:
    """One performer's Simon-Says captures in a folder (see the module docstring for the layout).

    Create one with :meth:`create`, open one with :meth:`open`. Not safe for two writers at once.

    Attributes
    ----------
    folder : Path
        The session folder.
    performer : dict
        ``{"name": str, "notes": str}``.
    rig : dict
        ``{"name": str, "parameters": str or None}`` (parameters file relative to the session, e.g. θ_S).
    expression_set : dict
        ``{"name": str, "path": str or None}``.
    expression_names : tuple of str
        Capture order, ``"neutral"`` first.
    created, modified : str
        ISO 8601 UTC times.
    """

    def __init__(self, folder: Path, data: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self._data = data
        self.performer: dict[str, Any] = data["performer"]
        self.rig: dict[str, Any] = data["rig"]
        self.expression_set: dict[str, Any] = data["expression_set"]
        self.expression_names: tuple[str, ...] = tuple(entry["name"] for entry in data["captures"])
        self.created: str = data["created"]
        self.modified: str = data["modified"]

    # -- creating and opening ---------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        folder: str | os.PathLike,
        performer: str | dict[str, Any],
        rig_name: str,
        expression_set_name: str,
        expression_names: list[str] | tuple[str, ...],
        rig_parameters: str | None = None,
        expression_set_path: str | None = None,
    ) -> Session:
        """Start a session in a new (or empty) folder.

        Parameters
        ----------
        folder : path
            The session folder; created if missing, refused if it holds anything.
        performer : str or dict
            The performer's name, or ``{"name": ..., "notes": ...}``.
        rig_name : str
            The animation rig the session calibrates (e.g. ``"ict_facekit"``).
        expression_set_name : str
            The Simon-Says set's name.
        expression_names : sequence of str
            The expressions in capture order; ``"neutral"`` is put first (added if absent).
        rig_parameters : str, optional
            Rig parameters file, relative to the session folder, or ``None`` for the rig's own.
        expression_set_path : str, optional
            Where the expression set definition lives, or ``None``.

        Raises
        ------
        SessionError
            The folder is not empty, or a name is unusable or repeated.
        """
        folder = Path(folder)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise SessionError(f"{folder}: not an empty folder; open it or choose a new one")
        names = [NEUTRAL] + [_check_name(name) for name in expression_names if name != NEUTRAL]
        if len(set(names)) != len(names):
            raise SessionError(f"{folder}: expression names repeat")
        if isinstance(performer, str):
            performer = {"name": performer, "notes": ""}
        now = _now()
        data = {
            "format": FORMAT,
            "version": f"{VERSION[0]}.{VERSION[1]}",
            "created": now,
            "modified": now,
            "performer": {"name": str(performer.get("name", "")), "notes": str(performer.get("notes", ""))},
            "rig": {"name": rig_name, "parameters": rig_parameters},
            "expression_set": {"name": expression_set_name, "path": expression_set_path},
            "captures": [
                {"name": name, "folder": cls._relative_folder(name), "status": "missing", "flags": []}
                for name in names
            ],
        }
        for sub in (NEUTRAL, CAPTURES_FOLDER, CALIBRATION_FOLDER):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        _write_json_atomic(folder / SESSION_FILE, data)
        fsync_folder(folder)
        return cls(folder, data)

    @classmethod
    def open(cls, folder: str | os.PathLike) -> Session:
        """Open a session; captures are what their folders hold (temporary files and incomplete folders are
        ignored), whatever ``session.json``'s capture list says.

        Raises
        ------
        SessionError
            ``session.json`` is missing, unreadable, not a session, or of a newer major version.
        """
        folder = Path(folder)
        path = folder / SESSION_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SessionError(f"{folder}: not a session (no {SESSION_FILE})") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise SessionError(f"{path}: unreadable ({type(error).__name__}: {message})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SessionError(f"{path}: not a Simon Says Studio session file")
        major, minor = _parse_version(data.get("version"), path)
        if major > VERSION[0]:
            raise SessionError(
                f"{path}: session format version {major}.{minor} is newer than this studio reads "
                f"({VERSION[0]}.x); update the studio"
            )
        try:
            data["performer"] = {"name": "", "notes": "", **dict(data["performer"])}
            data["rig"] = {"name": "", "parameters": None, **dict(data["rig"])}
            data["expression_set"] = {"name": "", "path": None, **dict(data["expression_set"])}
            captures = [dict(entry) for entry in data["captures"]]
            for entry in captures:
                _check_name(entry["name"])
            str(data["created"]), str(data["modified"])
        except (KeyError, TypeError, ValueError, SessionError) as error:
            raise SessionError(f"{path}: malformed session file ({type(error).__name__}: {error})") from None
        if not captures or captures[0]["name"] != NEUTRAL:
            raise SessionError(f"{path}: malformed session file (the capture list must start with neutral)")
        data["captures"] = captures
        session = cls(folder, data)
        session._reconcile()
        return session

    # -- layout ------------------------------------------------------------------------------------------

    @staticmethod
    def _relative_folder(name: str) -> str:
        return NEUTRAL if name == NEUTRAL else f"{CAPTURES_FOLDER}/{name}"

    def capture_folder(self, name: str) -> Path:
        """The folder of an expression's capture (``neutral/`` or ``captures/<name>/``)."""
        self._entry(name)
        return self.folder / self._relative_folder(name)

    @property
    def calibration_folder(self) -> Path:
        """``calibration/``: θ_S, θ̂_S and their reports (written by calibration and fine-tuning)."""
        return self.folder / CALIBRATION_FOLDER

    @property
    def rig_name(self) -> str:
        """The animation rig the session calibrates, as ``session.json`` records it (``ict_facekit``)."""
        return str(self.rig.get("name") or "ict_facekit")

    def expression_set_definition(self) -> SimonSaysSet:
        """The session's Simon-Says set: the file it brought (:data:`EXPRESSION_SET_FILE`), else the packaged
        set of its name (``ict_default`` when it names none)."""
        path = self.expression_set.get("path")
        if path:
            return SimonSaysSet.load(self.folder / path)
        return SimonSaysSet.packaged(self.expression_set.get("name") or "ict_default")

    # -- calibration/ ----------------------------------------------------------------------------------------

    def rig_parameters_path(self, stage: str) -> Path:
        """Where the rig parameters of a stage (``theta_S``, ``theta_S_hat``, ``theta_GT``) are kept."""
        if stage not in RIG_PARAMETER_FILES:
            raise SessionError(f"no rig parameters of stage {stage!r} (one of {', '.join(RIG_PARAMETER_FILES)})")
        return self.folder / CALIBRATION_FOLDER / RIG_PARAMETER_FILES[stage]

    def has_rig_parameters(self, stage: str) -> bool:
        """Whether the session has the rig parameters of ``stage``."""
        return self.rig_parameters_path(stage).is_file()

    def rig_parameters(self, stage: str) -> RigParameters | None:
        """The rig parameters of ``stage``, or ``None`` when the session has none.

        Raises
        ------
        RigFileError
            The file is there but unreadable.
        """
        path = self.rig_parameters_path(stage)
        return RigParameters.load(path) if path.is_file() else None

    def save_rig_parameters(self, stage: str, parameters: RigParameters) -> Path:
        """Keep ``parameters`` as the session's ``stage`` (atomically)."""
        path = self.rig_parameters_path(stage)
        path.parent.mkdir(parents=True, exist_ok=True)
        return parameters.save(path)

    def tracking_rigs(self) -> dict[str, RigParameters | None]:
        """The rigs to track a take with, by name (:data:`TRACKING_RIGS`): ``theta_A`` (``None``: the rig's
        own) and the calibrated ones the session has."""
        rigs: dict[str, RigParameters | None] = {"theta_A": None}
        for stage in TRACKING_RIGS[1:]:
            parameters = self.rig_parameters(stage)
            if parameters is not None:
                rigs[stage] = parameters
        return rigs

    def network_path(self) -> Path:
        """Where the learned tracker calibrated to this performer is kept (``calibration/network_calibrated.pt``)."""
        return self.folder / CALIBRATION_FOLDER / NETWORK_FILE

    def report_path(self, kind: str) -> Path:
        """Where a report (``calibration``, ``finetune``) is kept."""
        if kind not in REPORT_FILES:
            raise SessionError(f"no report of kind {kind!r} (one of {', '.join(REPORT_FILES)})")
        return self.folder / CALIBRATION_FOLDER / REPORT_FILES[kind]

    def read_report(self, kind: str) -> dict[str, Any] | None:
        """A report as JSON data, or ``None`` when it is missing or unreadable."""
        try:
            data = json.loads(self.report_path(kind).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def write_report(self, kind: str, data: dict[str, Any]) -> Path:
        """Keep a report (strict JSON data, atomically)."""
        path = self.report_path(kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_json_atomic(path, data)

    def save_result(self, stage: str, parameters: RigParameters, report: dict[str, Any]) -> Path | None:
        """Keep a calibration stage's rig parameters and its report together, and move aside what they make
        stale.

        The two files are written to temporary files first and renamed only when both are on disk, so a
        failure leaves the previous pair untouched. A new θ_S makes the θ̂_S fine-tuned from the previous one
        stale: it and its report are moved to ``calibration/superseded/<time>/`` (kept, never left looking
        valid beside the new θ_S).

        Parameters
        ----------
        stage : str
            ``theta_S`` (report ``calibration``) or ``theta_S_hat`` (report ``finetune``).
        parameters : RigParameters
            The stage's rig parameters; every delta finite.
        report : dict
            The stage's report (JSON data).

        Returns
        -------
        Path or None
            The folder the stale results were moved to, or ``None`` when nothing was stale.

        Raises
        ------
        SessionError
            ``parameters`` hold NaN or infinite values (nothing is written).
        """
        if stage not in STAGE_REPORTS:
            raise SessionError(f"no calibration stage {stage!r} (one of {', '.join(STAGE_REPORTS)})")
        if not np.isfinite(parameters.expression_deltas).all():
            raise SessionError(f"{self.folder}: the computed {stage} holds NaN or infinite values; nothing was written")
        stale = [
            path
            for derived in DERIVED_STAGES.get(stage, ())
            for path in (self.rig_parameters_path(derived), self.report_path(STAGE_REPORTS[derived]))
            if path.exists()
        ]
        moved_to = self.folder / CALIBRATION_FOLDER / SUPERSEDED_FOLDER / _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")

        def move_stale() -> None:
            if stale:
                moved_to.mkdir(parents=True, exist_ok=True)
                for path in stale:
                    os.replace(path, moved_to / path.name)
                fsync_folder(moved_to)

        write_together(
            {
                self.rig_parameters_path(stage): npz_writer(parameters.arrays()),
                self.report_path(STAGE_REPORTS[stage]): text_writer(json_text(report)),
            },
            before_commit=move_stale,
        )
        return moved_to if stale else None

    # -- response.json ----------------------------------------------------------------------------------

    def response(self, control_names=None) -> ResponseSet:
        """The session's per-shape response (:mod:`studio.core.rig.response`); the identity when it has none.

        Raises
        ------
        SessionError
            ``response.json`` is unreadable, or not a valid response (one line).
        """
        path = self.folder / RESPONSE_FILE
        if not path.is_file():
            return ResponseSet()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise SessionError(f"{path}: unreadable ({type(error).__name__}: {error})") from None
        try:
            return ResponseSet.from_json(data, control_names, where=str(path))
        except ResponseError as error:
            raise SessionError(str(error)) from None

    def write_response(self, response: ResponseSet) -> Path:
        """Keep ``response`` as the session's ``response.json`` (atomically)."""
        return write_json_atomic(self.folder / RESPONSE_FILE, response.to_json())

    # -- takes/ --------------------------------------------------------------------------------------------

    def take_folder(self, name: str) -> Path:
        """``takes/<name>/`` (the name checked: letters, digits, ``_ - + .``, at most 64)."""
        if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name) or name.endswith(".tmp"):
            raise SessionError(f"take name {name!r}: use letters, digits and _ - + . (at most 64)")
        return self.folder / TAKES_FOLDER / name

    def take_names(self) -> list[str]:
        """The complete takes (those with a ``take.json``), sorted by name."""
        root = self.folder / TAKES_FOLDER
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if (p / TAKE_FILE).is_file())

    def take_curves_path(self, name: str, rig: str) -> Path:
        """``takes/<name>/curves_<rig>.csv``: the take tracked with ``rig`` (one of :data:`TRACKING_RIGS`)."""
        return self.take_folder(name) / f"curves_{rig}.csv"

    def _entry(self, name: str) -> dict[str, Any]:
        for entry in self._data["captures"]:
            if entry["name"] == name:
                return entry
        raise SessionError(f"{self.folder}: {name!r} is not one of the session's expressions")

    def _reconcile(self) -> None:
        """Make the in-memory capture list match the capture folders on disk; remember the captures
        ``session.json`` lists whose burst file is gone (:attr:`lost_captures`)."""
        self._lost: list[str] = []
        for entry in self._data["captures"]:
            burst = self.folder / self._relative_folder(entry["name"]) / BURST_FILE
            if not burst.is_file():
                if entry.get("status") in ("captured", "flagged"):
                    self._lost.append(entry["name"])
                entry.update(status="missing", flags=[])
            elif entry.get("status") not in ("captured", "flagged"):
                flags = self._read_flags(burst)
                entry.update(status="flagged" if flags else "captured", flags=flags)

    # -- captures ----------------------------------------------------------------------------------------

    @property
    def lost_captures(self) -> tuple[str, ...]:
        """Expressions ``session.json`` lists as captured whose ``burst.npz`` was not there when the session
        was opened (a file removed by hand, a copy that missed it); they count as missing until retaken."""
        return tuple(name for name in getattr(self, "_lost", ()) if not self.is_captured(name))

    def is_captured(self, name: str) -> bool:
        """Whether ``name`` has a capture."""
        return self._entry(name)["status"] != "missing"

    def status(self) -> SessionStatus:
        """Captured, missing and flagged expressions, in session order."""
        entries = self._data["captures"]
        return SessionStatus(
            captured=tuple(e["name"] for e in entries if e["status"] != "missing"),
            missing=tuple(e["name"] for e in entries if e["status"] == "missing"),
            flagged=tuple(e["name"] for e in entries if e["status"] == "flagged"),
        )

    def flags(self, name: str) -> list:
        """The quality flags stored with a capture (dicts with ``code``, ``message``, ...), empty when none."""
        return list(self._entry(name).get("flags", []))

    def save_capture(self, name: str, capture: BurstCapture, flags: list | None = None) -> Path:
        """Save (or replace, for a retake) an expression's capture, atomically.

        Thumbnails first, then ``burst.npz`` (the commit point), ``quality.json``, and ``session.json`` last;
        each through a temporary file, fsync and rename.

        Parameters
        ----------
        name : str
            One of :attr:`expression_names`.
        capture : BurstCapture
            The burst.
        flags : list, optional
            Quality flags to store: JSON data, or dataclasses such as ``capture_quality.QualityFlag``
            (stored as dicts); by default ``capture.flags``.

        Returns
        -------
        Path
            The capture's folder.
        """
        entry = self._entry(name)
        try:
            flags_json = json.dumps(
                list(capture.flags if flags is None else flags), allow_nan=False, default=_flag_as_json
            )
        except (TypeError, ValueError) as error:
            raise SessionError(f"{name}: flags are not JSON data ({error})") from None
        flags = json.loads(flags_json)
        folder = self.capture_folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        captured_at = _now()
        if capture.thumbnails:
            self._write_thumbnails(folder / FRAMES_FOLDER, capture.thumbnails)
        arrays = {
            "landmarks_px": np.asarray(capture.landmarks_px, np.float32),
            "time_s": np.asarray(capture.time_s, np.float64),
            "face_found": np.asarray(capture.face_found, bool),
            "aligned": np.asarray(capture.aligned, np.float32),
            "averaged": np.asarray(capture.averaged, np.float64),
            "kept": np.asarray(capture.kept, bool),
            "blendshapes": np.asarray(capture.blendshapes, np.float32),
            "stillness_mm_per_s": np.float64(capture.stillness_mm_per_s),
            "spread_mm": np.float64(capture.spread_mm),
            "aligned_to": np.array(capture.aligned_to),
            "flags_json": np.array(flags_json),
            "captured_at": np.array(captured_at),
        }
        if capture.crops is not None:
            arrays["crops"] = np.asarray(capture.crops, np.uint8)
            arrays["crop_frames"] = np.asarray(capture.crop_frames, np.int64)
        write_npz_atomic(folder / BURST_FILE, arrays)
        quality = {"expression": name, "captured_at": captured_at, **capture.quality(), "flags": flags}
        _write_json_atomic(folder / QUALITY_FILE, quality)
        entry.update(status="flagged" if flags else "captured", flags=flags, captured_at=captured_at)
        self._write_session_file()
        return folder

    @staticmethod
    def _write_thumbnails(folder: Path, thumbnails: list[np.ndarray]) -> None:
        import cv2

        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.jpg"):
            stale.unlink()
        for index, image in enumerate(thumbnails):
            ok, encoded = cv2.imencode(
                ".jpg",
                np.ascontiguousarray(np.asarray(image, np.uint8)[..., ::-1]),
                [cv2.IMWRITE_JPEG_QUALITY, 85],
            )
            if ok:
                write_atomic(
                    folder / f"{index}.jpg", lambda handle, data=encoded: handle.write(data.tobytes())
                )

    def thumbnail_paths(self, name: str) -> list[Path]:
        """The capture's JPEG thumbnails (RGB, small), in burst order; empty when none."""
        folder = self.capture_folder(name) / FRAMES_FOLDER
        return sorted(folder.glob("[0-9]*.jpg"), key=lambda p: int(p.stem)) if folder.is_dir() else []

    def capture(self, name: str) -> BurstCapture | None:
        """Read an expression's capture back (without thumbnails), or ``None`` when it is not captured.

        Raises
        ------
        SessionError
            ``burst.npz`` exists but is unreadable or incomplete.
        """
        if not self.is_captured(name):
            return None
        path = self.capture_folder(name) / BURST_FILE
        if not path.is_file():
            raise SessionError(
                f"{path}: capture {name!r} is missing its burst file (session.json lists it as captured): "
                "retake it"
            )
        arrays = read_npz(path, SessionError, required=_BURST_ARRAYS)
        try:
            capture = BurstCapture(
                landmarks_px=arrays["landmarks_px"],
                time_s=arrays["time_s"],
                face_found=arrays["face_found"],
                aligned=arrays["aligned"],
                averaged=arrays["averaged"],
                kept=arrays["kept"],
                blendshapes=arrays["blendshapes"],
                stillness_mm_per_s=float(arrays["stillness_mm_per_s"]),
                spread_mm=float(arrays["spread_mm"]),
                aligned_to=str(arrays["aligned_to"]),
                flags=json.loads(str(arrays["flags_json"])),
                crops=arrays["crops"] if "crops" in arrays and "crop_frames" in arrays else None,
                crop_frames=arrays["crop_frames"] if "crops" in arrays and "crop_frames" in arrays else None,
            )
        except (TypeError, ValueError) as error:  # json.JSONDecodeError is a ValueError
            raise SessionError(f"{path}: unreadable capture ({type(error).__name__}: {error})") from None
        damage = capture.damage()
        if damage is not None:
            raise SessionError(f"{path}: capture {name!r} {damage}; retake it")
        return capture

    @staticmethod
    def _read_flags(burst: Path) -> list:
        arrays = read_npz(burst, SessionError, required=("flags_json",))
        try:
            return list(json.loads(str(arrays["flags_json"])))
        except (TypeError, ValueError) as error:
            raise SessionError(f"{burst}: unreadable capture ({type(error).__name__}: {error})") from None

    def remove_capture(self, name: str) -> None:
        """Delete an expression's capture (for a retake): ``burst.npz`` first, so it is missing at once."""
        entry = self._entry(name)
        folder = self.capture_folder(name)
        if folder.is_dir():
            (folder / BURST_FILE).unlink(missing_ok=True)
            fsync_folder(folder)
            if name == NEUTRAL:  # neutral/ itself stays
                for child in folder.iterdir():
                    if child.is_dir():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
            else:
                shutil.rmtree(folder, ignore_errors=True)
        entry.update(status="missing", flags=[])
        entry.pop("captured_at", None)
        self._write_session_file()

    # -- session.json ------------------------------------------------------------------------------------

    def _write_session_file(self) -> None:
        self.modified = self._data["modified"] = _now()
        self._data["version"] = f"{VERSION[0]}.{VERSION[1]}"
        try:
            _write_json_atomic(self.folder / SESSION_FILE, self._data)
        except (TypeError, ValueError) as error:
            raise SessionError(f"{self.folder / SESSION_FILE}: cannot write ({error})") from None

    @property
    def takes_rig(self) -> str | None:
        """The rig whose tracking a take shows and exports by default (one of :data:`TRACKING_RIGS`), or
        ``None``: the most refined the take has. The report card recommends one; the user may keep θ_A."""
        value = self._data.get("takes_rig")
        return value if value in TRACKING_RIGS else None

    def set_takes_rig(self, rig: str | None) -> None:
        """Choose the rig takes show and export by default (``None``: the most refined)."""
        if rig is not None and rig not in TRACKING_RIGS:
            raise SessionError(f"no tracking rig {rig!r} (one of {', '.join(TRACKING_RIGS)})")
        if rig is None:
            self._data.pop("takes_rig", None)
        else:
            self._data["takes_rig"] = rig
        self._write_session_file()

    def set_expression_set(self, name: str, path: str | None) -> None:
        """Record which Simon-Says set the session uses (``path`` relative to the session, or ``None`` for a
        packaged set)."""
        self.expression_set.update(name=str(name), path=path)
        self._write_session_file()

    def set_performer(self, name: str, notes: str = "") -> None:
        """Change the performer's name and notes (session.json is rewritten)."""
        self.performer.update(name=str(name), notes=str(notes))
        self._write_session_file()

    def __repr__(self) -> str:
        status = self.status()
        return (
            f"Session({str(self.folder)!r}, performer={self.performer['name']!r}, "
            f"{len(status.captured)}/{len(self.expression_names)} captured)"
        )
