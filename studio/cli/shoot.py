"""``python main.py batch``: a whole shoot tracked, retargeted and exported on Ray (docs/batch.md)."""

from __future__ import annotations

import argparse
import sys


def _cmd_batch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from studio.core.jobs import run_job
    from studio.core.session.shoot import batch_job

    targets = [t for t in args.targets.split(",") if t] if args.targets else ["performer"]
    formats = [f for f in args.formats.split(",") if f]
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers {args.workers}: at least one")
    with tqdm(unit="take", desc="shoot", file=sys.stderr, disable=args.quiet) as bar:
        def progress(step: tuple[str, int, int]) -> None:
            bar.total = step[2]
            bar.update(step[1] - bar.n)

        rows = run_job(batch_job(args.shoot, args.session, args.out, targets, formats, args.ray, args.workers,
                                 args.retry_failed), on_progress=progress)  # fmt: skip
    done = [r for r in rows if r.get("status") == "done"]
    failed = [r for r in rows if r.get("status") != "done"]
    skipped = sum(1 for r in rows if r.get("skipped"))
    print(f"{len(done)} takes done, {len(failed)} failed, {skipped} already finished before this run "
          f"(summary: {args.out or args.shoot + '/studio-batch'}/summary.csv)")  # fmt: skip
    for row in failed:
        print(f"failed: {row['take']}: {row.get('error')}", file=sys.stderr)
    return 0 if done or not failed else 1


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``batch``."""
    batch = commands.add_parser("batch", help="track, retarget and export every video of a shoot folder, on Ray")
    batch.add_argument("shoot", metavar="SHOOT_DIR", help="the shoot's folder (videos found recursively)")
    batch.add_argument("--session", required=True, metavar="SESSION", help="the performer's calibrated session")
    batch.add_argument("--targets", metavar="A,B", help="retarget targets, comma-separated (default: performer, "
                                                        "the session's own rig)")
    batch.add_argument("--formats", default="livelink", metavar="F,G",
                       help="export formats, comma-separated: livelink, csv, json, glb, usd (default livelink)")
    batch.add_argument("--out", metavar="DIR", help="where exports and summary.csv/json go (default SHOOT_DIR/studio-batch)")
    batch.add_argument("--ray", metavar="ADDRESS", help="an existing Ray cluster's head HOST:PORT (default: a local "
                                                       "Ray started here)")
    batch.add_argument("--workers", type=int, help="takes at once on the local Ray (default: one per core)")
    batch.add_argument("--retry-failed", action="store_true", help="run the takes that failed before again")
    batch.add_argument("--quiet", action="store_true", help="no progress bar")
    batch.set_defaults(func=_cmd_batch)
