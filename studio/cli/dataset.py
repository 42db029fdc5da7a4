"""``dataset``: training data the studio renders for its learned models."""

from __future__ import annotations

import argparse


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register the dataset commands."""
    dataset = commands.add_parser("dataset", help="render training data for the studio's learned models")
    kinds = dataset.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    inversion = kinds.add_parser(
        "inversion",
        help="face crops (RGB and normal map) of random identities, expressions, head poses and lights with "
             "their rig controls, cropped from MediaPipe's landmarks; sharded and resumable",
    )
    inversion.add_argument("--out", required=True, metavar="DIR", help="the dataset folder (resumed if it exists)")
    inversion.add_argument("--samples", type=int, required=True, help="how many samples in all")
    inversion.add_argument("--seed", type=int, default=0)
    inversion.add_argument("--size", type=int, default=128, help="crop side in pixels (default 128)")
    inversion.add_argument("--shard-size", type=int, default=500, help="samples per shard file (default 500)")
    inversion.add_argument("--quiet", action="store_true", help="no progress bar")
    inversion.set_defaults(func=_cmd_dataset_inversion)


def _cmd_dataset_inversion(args: argparse.Namespace) -> int:
    from studio.cli.arguments import progress_bar
    from studio.core.jobs import run_job
    from studio.render.inversion_data import inversion_dataset_job

    if args.samples < 1 or args.shard_size < 1 or not 32 <= args.size <= 512:
        raise ValueError("--samples and --shard-size must be at least 1, --size within 32–512")
    bar, show = progress_bar(args, "rendering", "sample")
    with bar:
        summary = run_job(inversion_dataset_job(args.out, args.samples, seed=args.seed, size=args.size,
                                                shard_size=args.shard_size), on_progress=show)
    rate = f", {summary['samples_per_s']} samples/s" if summary["samples_per_s"] else ""
    print(f"{args.out}: {summary['samples']} samples in {summary['shards']} shards ({summary['made_now']} made now "
          f"in {summary['seconds']} s{rate}; {summary['no_face_skipped']} renders without a face found skipped)")
    return 0
