"""``assets status`` and ``assets fetch``: the command-line side of the asset manager.

:func:`add_assets_parser` registers the ``assets`` command on the studio's argparse subparsers; each
subcommand stores its handler in ``func`` and returns the exit code. Expected failures (missing asset,
offline) print one line to stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from studio.core.assets.catalog import ASSETS
from studio.core.assets.resolver import AssetUnavailableError, asset_path, asset_status, cache_dir

__all__ = ["add_assets_parser", "run_fetch", "run_status"]


def _check_label(matches: bool | None) -> str:
    if matches is None:
        return "MISSING"
    return "OK" if matches else "MISMATCH"


def run_status(args: argparse.Namespace | None = None) -> int:
    """Print one row per asset: id, where found, check, sha256, path.

    Parameters
    ----------
    args : argparse.Namespace or None
        Parsed arguments (unused; present for the ``func`` convention).

    Returns
    -------
    int
        0 when every asset was found (in ``STUDIO_ASSETS_DIR`` or the cache), 1 otherwise. A found file
        whose digest differs is reported as ``MISMATCH`` (and a warning line) but still counts as found.
    """
    statuses = asset_status()
    rows = [("asset", "where", "check", "sha256", "path")]
    for status in statuses:
        rows.append(
            (
                status.asset_id,
                status.where,
                _check_label(status.matches),
                status.sha256 or "-",
                str(status.path) if status.path is not None else "-",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4]
        )
    print(f"cache: {cache_dir()}")
    for status in statuses:
        if status.matches is False:
            print(
                f"warning: {status.file_name} at {status.path} is not the expected file "
                f"(checked by {status.checked_by}); official source: {status.url}",
                file=sys.stderr,
            )
    return 0 if all(status.path is not None for status in statuses) else 1


def run_fetch(args: argparse.Namespace | None = None) -> int:
    """Download every missing asset into the cache (verified), then report where each one is.

    Parameters
    ----------
    args : argparse.Namespace or None
        Parsed arguments; ``args.no_progress`` hides the progress bars.

    Returns
    -------
    int
        0 when every asset is available afterwards, 1 otherwise (one ``error:`` line per failure on
        stderr).
    """
    progress = not getattr(args, "no_progress", False)
    failed = False
    for asset_id, spec in ASSETS.items():
        try:
            path = asset_path(asset_id, allow_download=False)
        except AssetUnavailableError:
            print(f"{asset_id}: downloading {spec.url}", flush=True)
            try:
                path = asset_path(asset_id, progress=progress)
            except AssetUnavailableError as error:
                print(f"error: {error}", file=sys.stderr)
                failed = True
                continue
        print(f"{asset_id}: {path}")
    return 1 if failed else 0


def add_assets_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``assets status`` and ``assets fetch`` on an argparse subparsers object.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers()`` returned.

    Returns
    -------
    argparse.ArgumentParser
        The ``assets`` parser.
    """
    assets = subparsers.add_parser(
        "assets",
        help="show or download the third-party assets (MediaPipe model, ICT-FaceKit)",
        description="Third-party assets: looked up in $STUDIO_ASSETS_DIR, then in the per-user cache "
        "($STUDIO_CACHE_DIR/assets when set), else downloaded from the official source.",
    )
    commands = assets.add_subparsers(dest="assets_command", metavar="ACTION", required=True)
    status = commands.add_parser("status", help="where each asset is found, its sha256 and whether it is OK")
    status.set_defaults(func=run_status)
    fetch = commands.add_parser("fetch", help="download the missing assets into the cache (verified)")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bars")
    fetch.set_defaults(func=run_fetch)
    return assets
