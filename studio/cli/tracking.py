"""``render`` and ``track``: a reference render of the rig, and a video tracked into control curves."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio.cli.arguments import finite_number, parse_controls

#: The image sizes ``render`` accepts, pixels (width and height).
RENDER_SIZES = (16, 4096)


def _cmd_render(args: argparse.Namespace) -> int:
    import numpy as np

    from studio.core.io.atomic_files import check_outputs
    from studio.core.rig.rig import Rig
    from studio.core.rig.state import RigState
    from studio.render.offscreen import OffscreenRenderer, save_png

    if not RENDER_SIZES[0] <= args.size <= RENDER_SIZES[1]:
        raise ValueError(f"--size {args.size}: the image size must be {RENDER_SIZES[0]} to {RENDER_SIZES[1]} pixels")
    for option in ("yaw", "pitch", "roll"):
        finite_number(f"--{option}", getattr(args, option), limit=180.0)
    controls = parse_controls(args.control)
    identity = [finite_number("--identity", x) for x in args.identity.split(",")] if args.identity else None
    check_outputs([("--out", args.out)])
    rig = Rig.ict()
    state = RigState.neutral(rig)
    for name, value in controls.items():
        state.controls[rig.control_index(name)] = value
    if identity is not None:
        if len(identity) > rig.num_identity_modes:
            raise ValueError(f"--identity: {len(identity)} coefficients, the rig has {rig.num_identity_modes} modes")
        state.identity = np.asarray(identity, np.float32)
    state.head_rotation_deg = np.asarray([args.yaw, args.pitch, args.roll], np.float64)
    with OffscreenRenderer(rig, size=(args.size, args.size)) as renderer:
        save_png(args.out, renderer.render(state))
    print(f"wrote {args.out}")
    return 0


def _cmd_track(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from studio.core.errors import StudioError
    from studio.core.io.atomic_files import check_outputs, json_text, text_writer, write_together
    from studio.core.jobs import run_job
    from studio.core.rig.rig import RigParameters
    from studio.core.tracking.frame_sources import VideoFileSource
    from studio.core.tracking.rig_bundle import RigBundle
    from studio.core.tracking.take import parse_neutral, track_take

    if args.tracker == "network" and args.rig_params:
        raise ValueError("--rig-params is the landmark tracker's rig; the network tracker takes --network")
    check_outputs([("--out", args.out), ("--json", args.json)], [args.video, args.rig_params, args.network])
    neutral = parse_neutral(args.neutral)
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers {args.workers}: give at least 1")
    bundle = RigBundle.load()
    definition = bundle.definition
    if args.tracker == "network":
        from studio.core.jobs import checked_device, preferred_device
        from studio.core.tracking.inversion.tracker import NetworkTracker, network_path

        network_file = args.network or str(network_path())
        tracker = NetworkTracker.load(network_file, bundle.rig.expression_names,
                                      device=checked_device(args.device or preferred_device()))
        rig_stage = f"network ({network_file})"
    else:
        parameters = RigParameters.load(args.rig_params) if args.rig_params else None
        rig_stage = "theta_A" if parameters is None else str(parameters.metadata.get("stage", "unknown"))
        try:
            tracker = bundle.tracker(parameters)
        except StudioError as error:  # rig parameters that do not fit the rig, or make no tracker
            if parameters is None:
                raise
            raise type(error)(f"{args.rig_params}: {error}") from None
    with VideoFileSource(args.video) as source, tqdm(
        total=source.num_frames, unit="frame", desc="tracking", file=sys.stderr, disable=args.quiet
    ) as bar:

        def show(progress: tuple[str, int, int]) -> None:
            stage, done, total = progress
            if stage == "landmarks":
                bar.total = max(total, done)
                bar.update(done - bar.n)
            else:
                bar.set_description(stage)

        result = run_job(
            track_take(source, tracker, neutral, args.filter, definition.tweaker_indices(), keep_observations=False,
                       workers=args.workers),
            on_progress=show,
        )
        truncated = source.truncated
    stats = {
        "video": str(args.video), "curves": str(args.out), "filter": args.filter,
        "tracker": args.tracker, "rig_params": str(args.rig_params) if args.rig_params else None,
        "rig_stage": rig_stage, **result.stats.to_json(),
        "truncated": truncated,
    }
    outputs = {Path(args.out): result.curves.csv_writer()}
    if args.json:
        outputs[Path(args.json)] = text_writer(json_text(stats))
    write_together(outputs)  # the curves and their figures: both or neither
    if stats.get("truncated"):
        print(f"warning: {args.video}: the video ends early ({stats['truncated']})", file=sys.stderr)
    residual = "" if args.tracker == "network" else f"residual {stats['fit_residual_mm']:.2f} mm, "
    print(f"{args.out}: {stats['frames']} frames, face in {stats['frames_with_face']}, {residual}"
          f"{stats['fps']:.1f} frames/s ({args.tracker} tracker)")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``render`` and ``track``."""
    render = commands.add_parser("render", help="render a reference image of the ICT rig to a PNG")
    render.add_argument("--control", action="append", default=[], metavar="NAME=VALUE",
                        help="set an expression control, e.g. --control jawOpen=0.6 (repeatable)")
    render.add_argument("--identity", help="comma-separated identity coefficients (leading modes)")
    render.add_argument("--yaw", type=float, default=0.0, help="head yaw in degrees")
    render.add_argument("--pitch", type=float, default=0.0, help="head pitch in degrees")
    render.add_argument("--roll", type=float, default=0.0, help="head roll in degrees")
    render.add_argument("--size", type=int, default=512, help="image width and height in pixels")
    render.add_argument("--out", required=True, help="output PNG path")
    render.set_defaults(func=_cmd_render)

    track = commands.add_parser("track", help="track a video into rig controls per frame (CSV): MediaPipe's "
                                              "landmarks solved against the rig, or the learned tracker")
    track.add_argument("video", help="video file (mp4, mov, avi, mkv, webm)")
    track.add_argument("--out", required=True, metavar="CURVES.csv", help="control curves, one row per frame")
    track.add_argument("--tracker", default="landmarks", choices=["landmarks", "network"],
                       help="landmarks: MediaPipe's landmarks solved against the rig (default); network: the "
                            "learned tracker on the face crop (models/inversion/two_branch.pt)")
    track.add_argument("--rig-params", metavar="THETA.npz", help="tracking rig parameters θ_T (default: ICT's own)")
    track.add_argument("--network", metavar="NET.pt",
                       help="the network tracker's weights (default: the shipped two-branch network; the RGB-only one, or a "
                            "session's calibrated one)")
    track.add_argument("--neutral", default="auto", metavar="auto|A:B",
                       help="performer neutral: resting frames picked automatically, or frames A to B (exclusive)")
    track.add_argument("--filter", default="smooth", choices=["none", "one-euro", "smooth", "learned"],
                       help="temporal filter (default: zero-phase smoothing for recorded takes)")
    track.add_argument("--json", metavar="STATS.json", help="write tracking figures here")
    track.add_argument("--device", metavar="DEVICE",
                       help="where the network tracker runs: cpu, cuda (default: cuda when there is a GPU)")
    track.add_argument("--workers", type=int, metavar="N",
                       help="MediaPipe instances observing the video at once, each on a consecutive segment "
                            "(default: one per core; 1: one pass)")
    track.add_argument("--quiet", action="store_true", help="no progress bar")
    track.set_defaults(func=_cmd_track)
