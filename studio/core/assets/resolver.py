"""Find an asset on disk, or download (and for ICT-FaceKit convert) it into the per-user cache.

Resolution order of :func:`asset_path`:

1. ``$STUDIO_ASSETS_DIR/<file name>`` when the variable is set and the file is there;
2. ``<cache>/<file name>``, where ``<cache>`` is :func:`cache_dir`
   (``platformdirs.user_cache_dir("simon-says-studio")/assets``, or ``$STUDIO_CACHE_DIR/assets``);
3. a download from the official URL into the cache, verified before it is moved into place.

Found files are not hashed on the way (start-up stays fast): files in the cache were verified when they
were written, files in ``STUDIO_ASSETS_DIR`` are the user's responsibility; :func:`asset_status`
hashes both.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from studio.core.assets.catalog import ASSETS, AssetSpec, get_spec
from studio.core.assets.fingerprint import verify_arrays
from studio.core.assets.hashing import sha256_file
from studio.core.assets.ict_facekit import build_ict_arrays
from studio.core.errors import StudioError
from studio.core.io.atomic_files import write_npz_atomic

__all__ = [
    "ASSETS_DIR_ENV",
    "CACHE_DIR_ENV",
    "AssetStatus",
    "AssetUnavailableError",
    "AssetVerificationError",
    "asset_path",
    "asset_status",
    "cache_dir",
    "fetch_assets",
    "verify_file",
]

#: Environment variable naming a folder that holds the asset files (checked first).
ASSETS_DIR_ENV = "STUDIO_ASSETS_DIR"
#: Environment variable replacing the per-user cache root (assets go to ``$STUDIO_CACHE_DIR/assets``).
CACHE_DIR_ENV = "STUDIO_CACHE_DIR"

_APP_NAME = "simon-says-studio"
_FETCH_HINT = "python main.py assets fetch"

Where = Literal["STUDIO_ASSETS_DIR", "cache", "missing"]

_log = logging.getLogger(__name__)


class AssetUnavailableError(StudioError):
    """An asset is neither in ``STUDIO_ASSETS_DIR`` nor in the cache, and could not be downloaded.

    ``str(error)`` is one line naming the file, where it was looked for, the URL and what to do.

    Parameters
    ----------
    spec : AssetSpec
        The asset that is missing.
    assets_dir : Path or None
        The value of ``STUDIO_ASSETS_DIR`` (None when unset).
    cache : Path
        The cache folder that was searched.
    reason : str
        Why no download happened or why it failed (one line; newlines are flattened).
    """

    def __init__(self, spec: AssetSpec, assets_dir: Path | None, cache: Path, reason: str) -> None:
        self.asset_id = spec.asset_id
        self.file_name = spec.file_name
        self.url = spec.url
        self.assets_dir = assets_dir
        self.cache = cache
        self.reason = " ".join(str(reason).split())
        where = f"STUDIO_ASSETS_DIR ({assets_dir})" if assets_dir is not None else "STUDIO_ASSETS_DIR (unset)"
        message = (
            f"{spec.file_name} not found in {where} or the cache {cache}, and {self.reason}: "
            f"set STUDIO_ASSETS_DIR to a folder holding it or run `{_FETCH_HINT}` when online"
        )
        super().__init__(message)


class AssetVerificationError(StudioError):
    """A downloaded or converted asset does not match the digests recorded in the catalog."""


def _content_problems(spec: AssetSpec, arrays: Mapping[str, np.ndarray]) -> list[str]:
    """What differs between named arrays and the catalog's references (empty: they match)."""
    return verify_arrays(arrays, spec.array_sha256, spec.array_fingerprints)


@dataclass(frozen=True)
class AssetStatus:
    """Where an asset was found and whether its content is the expected one.

    Attributes
    ----------
    asset_id : str
        Catalog id.
    file_name : str
        File name looked for.
    path : Path or None
        The file found, or None.
    where : {"STUDIO_ASSETS_DIR", "cache", "missing"}
        Which location provided it.
    sha256 : str or None
        sha256 of the file's bytes (None when missing).
    matches : bool or None
        True when the file is the catalog's (file sha256 equal, or for an npz asset the arrays' content
        matching the catalog's references), False when not, None when missing.
    checked_by : str or None
        ``"sha256"`` or ``"content"`` (exact digests of the integer and string arrays, float arrays within
        tolerance of their fingerprints) -- what ``matches`` was decided by.
    url : str
        Official source.
    """

    asset_id: str
    file_name: str
    path: Path | None
    where: Where
    sha256: str | None
    matches: bool | None
    checked_by: str | None
    url: str


def cache_dir() -> Path:
    """Return the folder where downloaded assets are cached (it may not exist yet).

    Returns
    -------
    Path
        ``$STUDIO_CACHE_DIR/assets`` when that variable is set, else
        ``platformdirs.user_cache_dir("simon-says-studio")/assets``.
    """
    root = os.environ.get(CACHE_DIR_ENV)
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir(_APP_NAME, appauthor=False)
    return Path(root).expanduser() / "assets"


def _assets_dir() -> Path | None:
    value = os.environ.get(ASSETS_DIR_ENV)
    return Path(value).expanduser() if value else None


def _locate(spec: AssetSpec) -> tuple[Path | None, Where]:
    assets_dir = _assets_dir()
    if assets_dir is not None and (assets_dir / spec.file_name).is_file():
        return assets_dir / spec.file_name, "STUDIO_ASSETS_DIR"
    cached = cache_dir() / spec.file_name
    if cached.is_file():
        return cached, "cache"
    return None, "missing"


def verify_file(spec: AssetSpec, path: Path) -> tuple[str, bool, str]:
    """Check a file against the catalog.

    Parameters
    ----------
    spec : AssetSpec
        The asset's catalog entry.
    path : Path
        The file.

    Returns
    -------
    sha256 : str
        sha256 of the file's bytes.
    matches : bool
        Whether the file is the expected one.
    checked_by : str
        ``"sha256"`` when the bytes match (or when the asset has no content references), else
        ``"content"``: for an npz asset the arrays decide (:func:`studio.core.assets.fingerprint.verify_arrays`),
        since a locally converted npz holds the same arrays as the reference but not necessarily the same
        zip bytes, nor bit-identical floats.
    """
    digest = sha256_file(path)
    if digest == spec.sha256 or not spec.checks_content:
        return digest, digest == spec.sha256, "sha256"
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except Exception:  # not an npz, a truncated file, a pickled array...
        return digest, False, "content"
    return digest, not _content_problems(spec, arrays), "content"


@contextlib.contextmanager
def _quiet_pooch() -> Iterator[None]:
    """Silence pooch's own INFO logging ("Downloading data from..."); our callers report progress."""
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _download(spec: AssetSpec, cache: Path, progress: bool) -> Path:
    """Download (and convert) one asset into ``cache``; raise on any failure, leaving no partial file."""
    import pooch

    cache.mkdir(parents=True, exist_ok=True)
    target = cache / spec.file_name
    _log.info("downloading %s from %s", spec.file_name, spec.url)
    if not spec.converted:
        with _quiet_pooch():
            # pooch writes to a temporary file, checks the sha256 and only then moves it into place.
            fetched = pooch.retrieve(
                spec.url,
                known_hash=f"sha256:{spec.sha256}",
                fname=spec.file_name,
                path=cache,
                progressbar=progress,
            )
        return Path(fetched)

    downloads = cache / "downloads"
    archive_name = spec.url.rstrip("/").rsplit("/", 1)[-1]
    with _quiet_pooch():
        # GitHub's archive bytes are not promised to be stable, so no hash is pinned for the zip itself;
        # the converted arrays are verified against the catalog instead (below).
        archive = Path(
            pooch.retrieve(
                spec.url,
                known_hash=None,
                fname=f"ICT-FaceKit-{archive_name}",
                path=downloads,
                progressbar=progress,
            )
        )
    _log.info("converting %s", archive)
    try:
        arrays = build_ict_arrays(archive)
    except (OSError, ValueError, KeyError) as error:
        archive.unlink(missing_ok=True)
        raise AssetVerificationError(f"converting the download of {spec.url} failed ({error})") from error
    problems = _content_problems(spec, arrays)
    if problems:
        archive.unlink(missing_ok=True)
        raise AssetVerificationError(
            f"the conversion of {spec.url} does not match the reference content "
            f"(differing arrays: {'; '.join(problems)})"
        )
    write_npz_atomic(target, arrays)
    archive.unlink(missing_ok=True)  # hundreds of MB; the npz is all the studio needs
    return target


def _describe_failure(error: BaseException, url: str) -> str:
    """One line saying why a download did not produce the asset."""
    if isinstance(error, AssetVerificationError):
        return str(error)
    import requests

    text = " ".join(str(error).split())
    if len(text) > 120:
        text = text[:117] + "..."
    kind = type(error).__name__
    if isinstance(error, ValueError) and "hash" in text.lower():
        return f"the download from {url} did not match the expected sha256 ({text})"
    if isinstance(error, requests.ConnectionError | requests.Timeout):
        return f"downloading {url} failed (offline? {kind})"
    return f"downloading {url} failed ({kind}: {text})"


def asset_path(asset_id: str, *, allow_download: bool = True, progress: bool = True) -> Path:
    """Return the path of an asset file, downloading it into the cache when needed.

    Parameters
    ----------
    asset_id : str
        ``"face_landmarker"`` or ``"ict_facekit"``.
    allow_download : bool
        When False, only ``STUDIO_ASSETS_DIR`` and the cache are searched.
    progress : bool
        Show a tqdm progress bar while downloading.

    Returns
    -------
    Path
        An existing file.

    Raises
    ------
    KeyError
        For an unknown asset id.
    AssetUnavailableError
        When the file is not found and cannot be downloaded; its message is one line.
    """
    spec = get_spec(asset_id)
    path, _ = _locate(spec)
    if path is not None:
        return path
    cache = cache_dir()
    if not allow_download:
        raise AssetUnavailableError(spec, _assets_dir(), cache, "downloading is disabled")
    try:
        return _download(spec, cache, progress)
    except Exception as error:
        reason = _describe_failure(error, spec.url)
        raise AssetUnavailableError(spec, _assets_dir(), cache, reason) from error


def asset_status() -> list[AssetStatus]:
    """Report, for every catalog asset, where it is found and whether it is the expected file.

    Files found are hashed (sha256 of the bytes; for ``ict_facekit`` also the arrays' content digest
    when the bytes differ from the reference file's). Nothing is downloaded.

    Returns
    -------
    list[AssetStatus]
        One entry per asset, in catalog order.
    """
    statuses = []
    for spec in ASSETS.values():
        path, where = _locate(spec)
        if path is None:
            statuses.append(
                AssetStatus(spec.asset_id, spec.file_name, None, "missing", None, None, None, spec.url)
            )
            continue
        digest, matches, checked_by = verify_file(spec, path)
        statuses.append(
            AssetStatus(spec.asset_id, spec.file_name, path, where, digest, matches, checked_by, spec.url)
        )
    return statuses


def fetch_assets(progress: bool = True) -> list[Path]:
    """Make sure every catalog asset is available, downloading the missing ones into the cache.

    Every asset is attempted even if an earlier one fails.

    Parameters
    ----------
    progress : bool
        Show tqdm progress bars while downloading.

    Returns
    -------
    list[Path]
        The path of every asset, in catalog order.

    Raises
    ------
    AssetUnavailableError
        The first failure, after all assets were attempted.
    """
    paths: list[Path] = []
    failures: list[AssetUnavailableError] = []
    for asset_id in ASSETS:
        try:
            paths.append(asset_path(asset_id, progress=progress))
        except AssetUnavailableError as error:
            failures.append(error)
    if failures:
        raise failures[0]
    return paths
