"""``train``: the studio's own learned models, trained by seeded commands on data the studio renders."""

from __future__ import annotations

import argparse
import sys


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register the training commands."""
    train = commands.add_parser("train", help="train the studio's own models on data it renders")
    models = train.add_subparsers(dest="model", metavar="MODEL", required=True)
    response = models.add_parser(
        "detector-response",
        help="MediaPipe's response to the rig's controls (θ_A rendered through MediaPipe), removed from "
             "captures before calibration",
    )
    response.add_argument("--rig", default="ict_facekit", help="the rig (default ict_facekit)")
    response.add_argument("--identities", type=int, default=12, help="random identities rendered (default 12)")
    response.add_argument("--segments", type=int, default=45,
                          help="control mixes per identity, 10 frames each (default 45)")
    response.add_argument("--seed", type=int, default=0)
    response.add_argument("--ridge", type=float, default=1.0, help="ridge of the regression (default 1)")
    response.add_argument("--out", metavar="FILE.npz",
                          help="where to write it (default models/detector_response/mediapipe_on_<rig>.npz)")
    response.add_argument("--quiet", action="store_true", help="no progress bar")
    response.set_defaults(func=_cmd_train_detector_response)


def _cmd_train_detector_response(args: argparse.Namespace) -> int:
    import time
    from dataclasses import replace

    from tqdm import tqdm

    from studio.cli.arguments import finite_number
    from studio.core.calibration.detector_response import model_path
    from studio.core.io.atomic_files import check_outputs
    from studio.core.jobs import run_job
    from studio.core.tracking.rig_bundle import RigBundle
    from studio.render.detector_response_data import detector_response_job

    if args.identities < 2 or args.segments < 1:
        raise ValueError("--identities must be at least 2 and --segments at least 1")
    ridge = finite_number("--ridge", args.ridge)
    if ridge < 0:
        raise ValueError("--ridge must not be negative")
    out = args.out or str(model_path(args.rig))
    check_outputs([("--out", out)])
    bundle = RigBundle.load(args.rig)
    started = time.perf_counter()
    with tqdm(desc="rendering", unit="frame", file=sys.stderr, disable=args.quiet) as bar:

        def show(progress: tuple[str, int, int]) -> None:
            what, done, total = progress
            bar.total = total
            bar.set_description(what)
            bar.update(done - bar.n)

        response = run_job(detector_response_job(bundle, args.identities, args.segments, args.seed, ridge),
                           on_progress=show)
    seconds = time.perf_counter() - started
    command = (f"python main.py train detector-response --rig {args.rig} --identities {args.identities} "
               f"--segments {args.segments} --seed {args.seed} --ridge {ridge:g}")
    response = replace(response, metadata={**response.metadata, "command": command, "seconds": round(seconds, 1)})
    response.save(out)
    held = response.metadata["held_out_rms_mm"]
    print(f"{out}: {response.metadata['frames']} frames of {args.identities} identities in {seconds:.0f} s; "
          f"held-out identity, landmark error against MediaPipe {held['theta_A']:.2f} mm (θ_A's geometry) → "
          f"{held['theta_A_plus_response']:.2f} mm (with the response); fingerprint {response.fingerprint}")
    return 0
