"""``train``: the studio's own learned models, trained by seeded commands on data the studio renders."""

from __future__ import annotations

import argparse


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

    inversion = models.add_parser(
        "inversion",
        help="the learned tracker (paper 002): face crop (+ MediaPipe's mesh as normals) → rig controls, trained "
             "on the renders of python main.py dataset inversion; seeded and resumable",
    )
    inversion.add_argument("--data", required=True, metavar="DIR", help="the dataset folder")
    inversion.add_argument("--variant", default="two_branch", choices=["two_branch", "rgb_only"],
                           help="two branches (RGB and normal map, default) or RGB only")
    inversion.add_argument("--epochs", type=int, default=18, help="passes over the training shards (default 18)")
    inversion.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    inversion.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default 0.002)")
    inversion.add_argument("--seed", type=int, default=0)
    inversion.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    inversion.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    inversion.add_argument("--out", metavar="FILE.pt",
                           help="where to write the weights (default models/inversion/<variant>.pt)")
    inversion.add_argument("--checkpoint", metavar="FILE.pt",
                           help="resumable state (default DATA/checkpoints/<variant>.pt)")
    inversion.add_argument("--limit", type=int, help="train on the first N samples only (quick runs)")
    inversion.add_argument("--quiet", action="store_true", help="no progress bar")
    inversion.set_defaults(func=_cmd_train_inversion)


def _cmd_train_detector_response(args: argparse.Namespace) -> int:
    import time
    from dataclasses import replace

    from studio.cli.arguments import finite_number, progress_bar
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
    bar, show = progress_bar(args, "rendering", "frame")
    with bar:
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


def _cmd_train_inversion(args: argparse.Namespace) -> int:
    import torch

    from studio.cli.arguments import finite_number, progress_bar
    from studio.core.io.atomic_files import check_outputs
    from studio.core.jobs import checked_device, run_job
    from studio.core.tracking.inversion.tracker import network_path
    from studio.core.tracking.inversion.training import train_inversion_job
    from studio.core.tracking.rig_bundle import RigBundle

    learning_rate = finite_number("--lr", args.lr)
    if learning_rate <= 0 or args.epochs < 1 or args.batch < 2 or (args.limit is not None and args.limit < args.batch):
        raise ValueError("--lr must be positive, --epochs at least 1, --batch at least 2 and --limit at least a batch")
    device = checked_device(args.device)
    out = args.out or str(network_path(args.variant))
    check_outputs([("--out", out)])
    if args.threads:
        torch.set_num_threads(args.threads)
    bundle = RigBundle.load()
    bar, show = progress_bar(args, "training")
    with bar:
        summary = run_job(train_inversion_job(args.data, out, bundle.rig, bundle.definition, args.variant,
                                              args.epochs, args.batch, learning_rate, args.seed, device,
                                              args.checkpoint, args.limit), on_progress=show)
    held = summary["held_out"]
    print(f"{out}: {args.variant}, {summary['train_samples']} samples, {summary['steps']} steps in "
          f"{summary['seconds']:.0f} s on {device}; held out ({summary['held_out_samples']} renders): control MAE "
          f"{held['control_mae']:.4f}, face vertex error {held['vertex_error_mm']:.2f} mm, mouth "
          f"{held['vertex_error_mm_by_region']['mouth']:.2f} mm, gaze MAE {held['gaze_mae']:.4f}")
    return 0
