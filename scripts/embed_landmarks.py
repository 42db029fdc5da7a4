"""Embed MediaPipe's 478 face landmarks on the ICT-FaceKit rig; write the embedding and print its report.

Renders the rig's neutral from a grid of yaw × pitch views (EGL offscreen), detects the landmarks with
MediaPipe's Face Landmarker in IMAGE mode, casts a ray through each landmark onto the mesh and takes a
robust consensus of the hits across the views that see it (``docs/landmark-embedding.md``). Prints the
spread of the hits, the reprojection errors per view, the reprojection errors on a few posed expressions
and the number of expression-stable landmarks.

Usage (from the repository root, with the studio importable, e.g. the project's venv)::

    STUDIO_ASSETS_DIR=../shared/assets python scripts/embed_landmarks.py
    STUDIO_ASSETS_DIR=../shared/assets python scripts/embed_landmarks.py --views 7x5 --size 768 --out /tmp/e.npz
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from studio.core.rig.rig import Rig
from studio.core.tracking.landmark_embedding import (
    ICT_EMBEDDING_PATH,
    IRIS_LANDMARKS,
    LOWER_INNER_LIP,
    UPPER_INNER_LIP,
    expression_motion_mm,
)


def grid(count: int, limit: float) -> tuple[float, ...]:
    """``count`` angles evenly spaced over ``[-limit, limit]`` degrees (just 0 for one)."""
    return (0.0,) if count == 1 else tuple(float(a) for a in np.linspace(-limit, limit, count))


def parse_views(text: str) -> tuple[int, int]:
    """``"5x3"`` → (5 yaws, 3 pitches)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match or min(int(match[1]), int(match[2])) < 1:
        raise argparse.ArgumentTypeError(f"--views must look like 5x3 (yaws x pitches), got {text!r}")
    return int(match[1]), int(match[2])


def parse_size(text: str) -> tuple[int, int]:
    """``"512"`` or ``"640x480"`` → (width, height)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX×]\s*(\d+)\s*)?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"--size must look like 512 or 640x480, got {text!r}")
    return int(match[1]), int(match[2] or match[1])


def main(argv: Sequence[str] | None = None) -> int:
    """Compute the embedding, write it and print the report.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Process exit status.
    """
    from studio.render.landmark_embedding_capture import (
        CAPTURE_DISTANCE_CM,
        compute_landmark_embedding,
        expression_reprojection_px,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ICT_EMBEDDING_PATH, help="embedding file to write")
    parser.add_argument(
        "--views", type=parse_views, default=(5, 3), help="yaws x pitches of the camera grid (default 5x3)"
    )
    parser.add_argument("--max-yaw", type=float, default=30.0, help="largest |yaw|, degrees (default 30)")
    parser.add_argument("--max-pitch", type=float, default=10.0, help="largest |pitch|, degrees (default 10)")
    parser.add_argument(
        "--size", type=parse_size, default=(512, 512), help="render size, e.g. 512 or 768x768"
    )
    parser.add_argument(
        "--distance",
        type=float,
        default=CAPTURE_DISTANCE_CM,
        help="camera distance, cm (default %(default)s)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the report, write nothing")
    args = parser.parse_args(argv)

    rig = Rig.ict()
    yaws, pitches = grid(args.views[0], args.max_yaw), grid(args.views[1], args.max_pitch)
    start = time.perf_counter()
    embedding, report = compute_landmark_embedding(
        rig, yaws_deg=yaws, pitches_deg=pitches, size=args.size, distance_cm=args.distance
    )
    print(
        f"embedded {len(embedding)} landmarks from {len(report.view_names)} views "
        f"in {time.perf_counter() - start:.1f} s"
    )
    print(report.summary())

    print("reprojection on posed expressions (frontal), median px: all / inner lips / iris")
    errors = expression_reprojection_px(rig, embedding, size=args.size)
    lips = np.r_[UPPER_INNER_LIP, LOWER_INNER_LIP]
    for name, error in errors.items():
        print(
            f"  {name:>16}: {np.median(error):5.2f} / {np.median(error[lips]):5.2f} / "
            f"{np.median(error[IRIS_LANDMARKS]):5.2f}"
        )

    motion = expression_motion_mm(embedding, rig)
    motion[IRIS_LANDMARKS] = np.inf
    counts = ", ".join(f"{t} mm: {int((motion < t).sum())}" for t in (1, 2, 3))
    print(f"stable landmarks (no single control at 1 moves them as far; iris excluded): {counts}")

    if not args.dry_run:
        embedding.save(args.out)
        print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
