"""Reading the studio's JSON data files with one-line errors: the one validation helper.

Rig definitions, Simon-Says sets and retarget targets are versioned JSON files written by people. A
:class:`JsonFields` reads one kind of them: it parses the file and checks each field (an object's required
and allowed keys, non-empty strings, integers, finite numbers, 3-vectors, name → number maps), raising that
kind's error (a :class:`~studio.core.errors.StudioError` subclass) with one line that names the file when it
knows it, the field, and what was found instead.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, NoReturn

from studio.core.errors import StudioError

__all__ = ["JsonFields"]


class JsonFields:
    """Checks of one kind of JSON file.

    Parameters
    ----------
    error : type of StudioError
        What a failed check raises (``RigDefinitionError``, ``ExpressionSetError``, ``TargetError``).
    source : path, optional
        The file the fields come from: every message starts with ``"<source>: "``.
    """

    def __init__(self, error: type[StudioError], source: str | os.PathLike | None = None) -> None:
        self.error = error
        self.prefix = f"{source}: " if source is not None else ""

    def fail(self, message: str) -> NoReturn:
        """Raise the error with ``message`` (one line), the file named first."""
        raise self.error(f"{self.prefix}{message}")

    def load(self, path: str | os.PathLike, what: str) -> Any:
        """Parse the JSON file at ``path``; ``what`` names it in messages (``"rig definition"``)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise self.error(f"{path}: {what} file not found") from None
        except (OSError, UnicodeDecodeError) as error:
            raise self.error(f"{path}: cannot read {what} ({type(error).__name__}: {error})") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise self.error(
                f"{path}: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
            ) from None

    def object(self, value: Any, what: str, required: Sequence[str], allowed: Collection[str]) -> dict[str, Any]:
        """``value`` as a JSON object holding every ``required`` key and no key outside ``allowed``."""
        if not isinstance(value, dict):
            self.fail(f"{what} must be a JSON object, got {type(value).__name__}")
        missing = [key for key in required if key not in value]
        if missing:
            self.fail(f"{what} is missing field{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}")
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            self.fail(f"{what} has unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}")
        return value

    def string(self, value: Any, what: str) -> str:
        """``value`` as a non-empty string (not only spaces)."""
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{what} must be a non-empty string, got {json.dumps(value)}")
        return value

    def optional_string(self, value: Any, what: str) -> str | None:
        """``value`` as a non-empty string, or ``None`` for JSON null."""
        return None if value is None else self.string(value, what)

    def integer(self, value: Any, what: str) -> int:
        """``value`` as an integer (not a boolean)."""
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"{what} must be an integer, got {json.dumps(value)}")
        return value

    def number(self, value: Any, what: str, positive: bool = False) -> float:
        """``value`` as a finite number (and above 0 when ``positive``)."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(f"{what} must be a finite number, got {json.dumps(value)}")
        if positive and value <= 0:
            self.fail(f"{what} must be positive, got {value}")
        return float(value)

    def vector3(self, value: Any, what: str, positive: bool = False) -> tuple[float, float, float]:
        """``value`` as three finite numbers; one number stands for all three."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = [value] * 3
        if not isinstance(value, list) or len(value) != 3:
            self.fail(f"{what} must be a number or a list of 3 numbers")
        x, y, z = (self.number(v, what, positive) for v in value)
        return x, y, z

    def numbers_by_name(self, value: Any, what: str) -> dict[str, float]:
        """``value`` as an object of names (non-empty strings) to finite numbers (control values, weights)."""
        if not isinstance(value, dict):
            self.fail(f"{what} must be an object of control name to value, got {json.dumps(value)}")
        return {self.string(name, f"{what} key"): self.number(v, f"{what}['{name}']") for name, v in value.items()}

    def format_version(self, data: dict[str, Any], expected: str, versions: Collection[int], what: str) -> int:
        """Check ``data["format"]`` is ``expected`` and ``data["version"]`` one of ``versions``; the version.

        ``what`` names the kind of file in messages (``"rig definition"``).
        """
        if data.get("format") != expected:
            self.fail(f'not a {what} (format is {json.dumps(data.get("format"))}, expected "{expected}")')
        version = data.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version not in versions:
            supported = ", ".join(str(v) for v in sorted(versions))
            self.fail(f"unsupported {what} version {json.dumps(version)} (this studio reads {supported})")
        return version
