"""Atomic file writes: a reader sees the old file or the complete new one, never a partial write.

Every writer goes through :func:`write_atomic`: the content is written to ``.<name>.<pid>.tmp`` in the
target's folder, flushed and fsynced, renamed over the target (``os.replace``, atomic on one file
system), and the folder is fsynced so the rename survives a crash. A failure removes the temporary file
and is told as an :class:`OutputError` naming the target (never the temporary file); the temporary files
that killed runs left beside a target are removed at its next write.

Outputs that belong together (curves and their statistics) are written with :func:`write_together`: every
temporary file first, then the renames, so a failure to write one leaves all of them as they were.
:func:`check_outputs` is what a command calls *before* its work: an output may not be one of its inputs (by
resolved path and inode), two outputs may not be one file, and each destination must be writable.
:func:`json_text` is the one JSON serialiser for the studio's files: strict JSON (non-finite floats as
``null``, numpy scalars and arrays as numbers and lists).
"""

from __future__ import annotations

import errno
import glob
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from studio.core.errors import StudioError

Writer = Callable[[BinaryIO], object]
"""Writes a file's content to a binary handle."""

_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)\.tmp$")


class OutputError(StudioError):
    """An output cannot be written (or would overwrite an input); the message names the path."""


def fsync_folder(folder: Path) -> None:
    """Make a folder's entries (a rename into it) durable; a no-op where folders cannot be opened."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without folder handles
        return
    try:
        os.fsync(handle)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(handle)


def temp_path(path: Path) -> Path:
    """Where :func:`write_atomic` writes ``path``'s content before the rename: ``.<name>.<pid>.tmp``."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def remove_dead_temp_files(path: Path) -> list[Path]:
    """Remove the temporary files of ``path`` left by runs that were killed; returns what was removed.

    A temporary file is dead when the process named in it no longer runs (a live writer's file is kept).
    """
    removed: list[Path] = []
    try:
        entries = list(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or match["target"] != path.name or _pid_alive(int(match["pid"])):
            continue
        try:
            entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed


def _describe(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _write_temp(path: Path, write: Writer) -> Path:
    """Write ``path``'s content to its temporary file, durably; :class:`OutputError` naming ``path``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{path}: cannot create its folder ({_describe(error)})") from None
    if path.is_dir():
        raise OutputError(f"{path}: is a folder, not a file")
    remove_dead_temp_files(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({_describe(error)})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _commit(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({_describe(error)})") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, write: Writer) -> Path:
    """Write ``path`` atomically with ``write(handle)`` on a binary file handle; returns the path.

    Raises
    ------
    OutputError
        The folder or file cannot be written (the message names ``path``); ``path`` is left as it was.
    """
    path = Path(path)
    tmp = _write_temp(path, write)
    _commit(tmp, path)
    fsync_folder(path.parent)
    return path


def write_together(
    writes: Mapping[str | os.PathLike, Writer], before_commit: Callable[[], object] | None = None
) -> list[Path]:
    """Write several files that belong together: every temporary file first, then the renames.

    A failure while writing any of them leaves all of them as they were (the renames come after every
    content is on disk). ``before_commit`` runs once every content is on disk, just before the renames (to
    move aside what the new files make stale). Returns the paths in the order given.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, write in writes.items():
            target = Path(path)
            staged.append((_write_temp(target, write), target))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    if before_commit is not None:
        try:
            before_commit()
        except BaseException:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
            raise
    for tmp, target in staged:
        _commit(tmp, target)
    for folder in {target.parent for _, target in staged}:
        fsync_folder(folder)
    return [target for _, target in staged]


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically (see :func:`write_atomic`)."""
    return write_atomic(path, text_writer(text))


def text_writer(text: str) -> Writer:
    """A :data:`Writer` of UTF-8 text."""
    return lambda handle: handle.write(text.encode("utf-8"))


def write_npz_atomic(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Write a compressed npz atomically (see :func:`write_atomic`)."""
    return write_atomic(path, npz_writer(arrays))


def npz_writer(arrays: dict[str, np.ndarray]) -> Writer:
    """A :data:`Writer` of a compressed npz."""
    return lambda handle: np.savez_compressed(handle, **arrays)


# ----------------------------------------------------------------------------------------------------------
# Strict JSON


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    return value


def json_text(data: Any, indent: int | None = 2) -> str:
    """``data`` as strict JSON text ending in a newline: NaN and infinities become ``null``, numpy values
    become numbers and lists (``TypeError`` for anything else JSON cannot hold)."""
    return json.dumps(_plain(data), indent=indent, allow_nan=False) + "\n"


def write_json_atomic(path: str | os.PathLike, data: Any, indent: int | None = 2) -> Path:
    """Write ``data`` as strict JSON (:func:`json_text`), atomically."""
    return write_text_atomic(path, json_text(data, indent))


# ----------------------------------------------------------------------------------------------------------
# Checks before the work


def _identity(path: Path) -> tuple[str, tuple[int, int] | None]:
    resolved = os.path.realpath(path)
    try:
        stat = os.stat(resolved)
    except OSError:
        return resolved, None
    return resolved, (stat.st_dev, stat.st_ino)


def _same(a: tuple[str, tuple[int, int] | None], b: tuple[str, tuple[int, int] | None]) -> bool:
    return a[0] == b[0] or (a[1] is not None and a[1] == b[1])


def _writable_folder(path: Path) -> None:
    folder = Path(os.path.realpath(path)).parent
    while not folder.exists():  # a folder the write will create: its nearest existing ancestor decides
        if folder.parent == folder:
            break
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"{path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write into {folder} ({os.strerror(errno.EACCES)})")


def check_outputs(
    outputs: Iterable[tuple[str, str | os.PathLike | None]],
    inputs: Iterable[str | os.PathLike | None] = (),
) -> None:
    """Refuse, before any work, outputs that would destroy an input or cannot be written.

    Parameters
    ----------
    outputs : iterable of (str, path or None)
        ``(option, path)`` of every file the command will write (``("--out", "a.csv")``); ``None`` paths are
        skipped (an option not given).
    inputs : iterable of path or None
        The files the command reads.

    Raises
    ------
    OutputError
        An output is an input (same resolved path or same inode: a hard link counts), two outputs are the
        same file, an output is a folder, or its folder cannot be written into; one line naming both.
    """
    input_ids = [(Path(p), _identity(Path(p))) for p in inputs if p is not None]
    seen: list[tuple[str, Path, tuple[str, tuple[int, int] | None]]] = []
    for option, raw in outputs:
        if raw is None:
            continue
        path = Path(raw)
        identity = _identity(path)
        for source, source_id in input_ids:
            if _same(identity, source_id):
                raise OutputError(f"{option} {path} is the input {source}: writing it would destroy the input")
        for other_option, other, other_id in seen:
            if _same(identity, other_id):
                raise OutputError(f"{option} {path} is the same file as {other_option} {other}")
        if path.is_dir():
            raise OutputError(f"{option} {path}: is a folder, not a file")
        _writable_folder(path)
        seen.append((option, path, identity))
