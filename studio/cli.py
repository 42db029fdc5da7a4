"""The studio's command line: one argparse program with subcommands; no subcommand opens the GUI.

Every GUI action that computes something has a twin here, so benchmarks and scripted pipelines run
without a window. Heavy modules are imported inside the command that needs them to keep start-up fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from studio.assets.cli import add_assets_parser


def _parse_controls(pairs: Sequence[str]) -> dict[str, float]:
    controls: dict[str, float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"control {pair!r} must be written NAME=VALUE, e.g. jawOpen=0.6")
        controls[name] = float(value)
    return controls


def _cmd_gui(args: argparse.Namespace) -> int:
    from studio.ui.app import run_studio

    return run_studio(controls=_parse_controls(args.control), screenshot=args.screenshot, session=args.session,
                      inspector=args.inspector)


def _cmd_live(args: argparse.Namespace) -> int:
    from studio.ui.live_view import run_live_view

    return run_live_view(source=args.source, screenshot=args.screenshot, frames=args.frames)


def _cmd_render(args: argparse.Namespace) -> int:
    import numpy as np

    from studio.core.rig import Rig
    from studio.core.rig_state import RigState
    from studio.render.offscreen import OffscreenRenderer, save_png

    rig = Rig.ict()
    state = RigState.neutral(rig)
    for name, value in _parse_controls(args.control).items():
        state.controls[rig.control_index(name)] = value
    if args.identity:
        state.identity = np.asarray([float(x) for x in args.identity.split(",")], np.float32)
    state.head_rotation_deg = np.asarray([args.yaw, args.pitch, args.roll], np.float64)
    with OffscreenRenderer(rig, size=(args.size, args.size)) as renderer:
        save_png(args.out, renderer.render(state))
    print(f"wrote {args.out}")
    return 0


def _cmd_track(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from studio.core.frame_sources import VideoFileSource
    from studio.core.jobs import run_job
    from studio.core.rig import Rig, RigParameters
    from studio.core.rig_definition import RigDefinition
    from studio.core.take_tracking import parse_neutral, track_take
    from studio.core.tracker import Tracker

    neutral = parse_neutral(args.neutral)
    rig = Rig.ict()
    rig_stage = "theta_A"
    if args.rig_params:
        parameters = RigParameters.load(args.rig_params)
        rig = rig.with_parameters(parameters)
        rig_stage = str(parameters.metadata.get("stage", "unknown"))
    definition = RigDefinition.ict()
    tracker = Tracker.ict(rig)
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
            track_take(source, tracker, neutral, args.filter, definition.tweaker_indices()), on_progress=show
        )
    result.curves.write_csv(args.out)
    stats = {
        "video": str(args.video), "curves": str(args.out), "filter": args.filter,
        "rig_params": str(args.rig_params) if args.rig_params else None, "rig_stage": rig_stage, **result.stats,
    }
    if args.json:
        from studio.core.atomic_files import write_text_atomic

        write_text_atomic(Path(args.json), json.dumps(stats, indent=2) + "\n")
    print(
        f"{args.out}: {stats['frames']} frames, face in {stats['frames_with_face']}, "
        f"residual {stats['fit_residual_mm']:.2f} mm, {stats['fps']:.1f} frames/s"
    )
    return 0


def _cmd_targets(args: argparse.Namespace) -> int:
    from studio.core.targets import available_targets

    infos = available_targets()
    width = max(len(info.name) for info in infos)
    for info in infos:
        controls = "ICT's 53 controls" if info.num_controls is None else f"{info.num_controls} own controls"
        print(f"{info.name:<{width}}  {info.kind:<8}  {controls:<17}  {info.description}")
    print(f"{'session:FOLDER':<{width}}  identity  ICT's 53 controls  a studio session's performer, with their calibration θ_S")
    if args.report:
        _report_targets([info.name for info in infos])
    if args.screenshots:
        from studio.render.target_sheet import write_target_sheets

        for path in write_target_sheets(args.screenshots, [info.name for info in infos]):
            print(f"wrote {path}")
    return 0


def _report_targets(names: list[str]) -> None:
    """Per target: the morph's smallest Jacobian determinant and each corrective constraint's gap vs ICT."""
    from studio.core.rig import Rig
    from studio.core.rig_definition import RigDefinition
    from studio.core.targets import load_target

    ict, definition = Rig.ict(), RigDefinition.ict()
    for name in names:
        target = load_target(name, ict)
        determinant = float(target.morph.jacobian_determinant(ict.neutral).min()) if len(target.morph.radii) else 1.0
        gaps = []
        for constraint in target.definition.constraints:
            source = definition.constraint(constraint.name)
            ours = constraint.gaps(target.rig.evaluate(constraint.control_vector(target.control_names))).mean()
            theirs = source.gaps(ict.evaluate(source.control_vector(definition.control_names))).mean()
            gaps.append(f"{constraint.name} {10 * ours:.2f} mm (ICT {10 * theirs:.2f})")
        print(f"{name}: morph det ≥ {determinant:.3f}; closed-pose gaps: {', '.join(gaps) or 'none'}")


def _load_curves_and_target(args: argparse.Namespace):
    from studio.core.retargeting import read_source_curves
    from studio.core.targets import load_target

    curves = read_source_curves(args.curves)
    target = load_target(args.target) if getattr(args, "target", None) else None
    return curves, target


def _cmd_retarget(args: argparse.Namespace) -> int:
    from studio.core.retargeting import retarget_curves

    curves, target = _load_curves_and_target(args)
    result = retarget_curves(curves, target)
    result.write_csv(args.out)
    print(f"{args.out}: {result.num_frames} frames of {target.label}, {len(result.control_names)} controls")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from studio.core.retargeting import export_take

    curves, target = _load_curves_and_target(args)
    path = export_take(curves, args.format, args.out, target)
    where = target.label if target is not None else "the performer's rig (ICT)"
    print(f"{path}: {args.format}, {curves.num_frames} frames at {curves.fps:.2f} fps, {where}")
    return 0


def _cmd_import_livelink(args: argparse.Namespace) -> int:
    from studio.core.retargeting import import_livelink

    curves = import_livelink(args.file, args.fps)
    curves.write_csv(args.out)
    print(f"{args.out}: {curves.num_frames} frames at {curves.fps:.2f} fps, {len(curves.control_names)} ICT controls")
    return 0


def _cmd_stream(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from studio.core.jobs import run_job
    from studio.core.retargeting import stream_values
    from studio.core.vmc import VmcSender, parse_host_port, stream_curves_job

    curves, target = _load_curves_and_target(args)
    names, values = stream_values(curves, target)
    host, port = parse_host_port(args.vmc)
    with VmcSender(host, port) as sender, tqdm(
        total=curves.num_frames, unit="frame", desc=f"VMC → {host}:{port}", file=sys.stderr, disable=args.quiet
    ) as bar:
        summary = run_job(
            stream_curves_job(curves.time_s, names, values, sender, realtime=not args.as_fast_as_possible),
            on_progress=lambda progress: bar.update(progress[1] - bar.n),
        )
    print(
        f"sent {summary.frames_sent} frames to {host}:{port} in {summary.duration_s:.2f} s "
        f"({summary.frames_skipped} without a face skipped, {summary.late_frames} late, "
        f"at most {summary.max_lateness_ms:.1f} ms)"
    )
    return 0


def _bench_calibration(args: argparse.Namespace) -> dict:
    from bench.bench_calibration import run_calibration_benchmark

    return run_calibration_benchmark(
        seed=args.seed,
        gt_rig=args.gt_rig,
        noise_mm=args.noise_mm,
        level=args.level,
        expression_set=args.expression_set,
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    if not args.walkthrough:
        from studio.ui.app import run_studio

        return run_studio()
    from studio.ui.walkthrough import run_walkthrough

    return run_walkthrough(args.screenshots, args.session_folder)


def _cmd_session_synthetic(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from studio.core.jobs import run_job
    from studio.core.session_calibration import synthetic_session_job
    from studio.render.synthetic_performer import SyntheticPerformerSource

    def source_for(rig, curves, seed):
        return SyntheticPerformerSource(rig, curves, fps=30.0, seed=seed)

    with tqdm(desc="capturing", unit="step", file=sys.stderr, disable=args.quiet) as bar:

        def show(progress: tuple) -> None:
            bar.set_description(f"{progress[0]}")
            bar.update(1)

        job = synthetic_session_job(args.folder, args.seed, source_for, expression_set=args.expression_set)
        session = run_job(job, on_progress=show)
    status = session.status()
    print(f"{args.folder}: {len(status.captured)} captures, {len(status.missing)} missing, "
          f"{len(status.flagged)} flagged")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from studio.core.session_calibration import calibrate_session

    result, report = calibrate_session(args.folder)
    residual = report["residual_mm"]
    before = sum(r["before"] for r in residual.values()) / len(residual)
    after = sum(r["after"] for r in residual.values()) / len(residual)
    print(f"{args.folder}: calibrated {len(report['expressions'])} expressions in {report['wall_seconds']:.2f} s "
          f"(λ {report['regularization']:g}, μ {report['smoothness']:g}); landmark residual {before:.2f} → "
          f"{after:.2f} mm; flagged: {', '.join(report['flagged_captures']) or 'none'}; wrote "
          f"calibration/theta_S.npz and calibration/report.json")
    return 0


def _cmd_finetune(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from studio.core.jobs import run_job
    from studio.core.session_calibration import finetune_session_job

    with tqdm(desc="fine-tuning", unit="run", file=sys.stderr, disable=args.quiet, delay=1.0) as bar:

        def show(progress: tuple[str, int, int]) -> None:
            what, done, total = progress
            bar.total = total
            bar.set_description(what[:60])
            bar.update(done - bar.n)

        _result, report = run_job(finetune_session_job(args.folder), on_progress=show)
    before, after = report["metrics"]["theta_S"], report["metrics"]["theta_S_hat"]
    stages = ", ".join(f"{s['stage']}: {s['accepted']}/{s['runs']}" for s in report["stages"])
    print(
        f"{args.folder}: fine-tuned on {len(report['expressions'])} captures in {report['wall_seconds']:.1f} s "
        f"(accepted per stage {stages}); control L2 {before['control_l2']:.3f} → {after['control_l2']:.3f}, "
        f"sparsity {before['sparsity']:.3f} → {after['sparsity']:.3f}, tweakers {before['tweaker']:.3f} → "
        f"{after['tweaker']:.3f}; wrote calibration/theta_S_hat.npz and calibration/finetune_report.json"
    )
    return 0


def _bench_finetune(args: argparse.Namespace) -> dict:
    from bench.bench_finetune import run_finetune_benchmark

    settings = {}
    if args.noise_margin is not None:
        settings["noise_margin"] = args.noise_margin
    if args.max_noise_std is not None:
        settings["max_noise_std"] = args.max_noise_std
    return run_finetune_benchmark(
        seed=args.seed, gt_rig=args.gt_rig, noise_mm=args.noise_mm, device=args.device, settings=settings
    )


def _run_bench(args: argparse.Namespace) -> int:
    result = args.bench(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        from studio.core.atomic_files import write_text_atomic

        write_text_atomic(Path(args.json), text + "\n")
    return 0


def _bench_render(args: argparse.Namespace) -> dict:
    from bench.bench_render import run_render_benchmark

    return run_render_benchmark(size=args.size, frames=args.frames, seed=args.seed)


def _bench_inspector(args: argparse.Namespace) -> dict:
    from bench.bench_inspector import run_inspector_benchmark

    return run_inspector_benchmark(frames=args.frames, seed=args.seed)


def _bench_solver(args: argparse.Namespace) -> dict:
    from bench.bench_solver import run_solver_benchmark

    return run_solver_benchmark(batch=args.batch, seed=args.seed, device=args.device)


def _bench_live(args: argparse.Namespace) -> dict:
    from bench.bench_live import run_live_benchmark

    return run_live_benchmark(seconds=args.seconds, source=args.source, seed=args.seed)


def _bench_tracking(args: argparse.Namespace) -> dict:
    from bench.bench_tracking import run_tracking_benchmark

    return run_tracking_benchmark(seed=args.seed, seconds=args.seconds, footage=args.footage)


# Errors that mean bad input or a missing resource (one line for the user), by module; checked only after a
# command failed, so the check imports nothing that the command did not already load.
_EXPECTED_ERRORS = {
    "studio.assets": ("AssetUnavailableError", "AssetVerificationError"),
    "studio.core.rig": ("RigFileError",),
    "studio.core.rig_definition": ("RigDefinitionError",),
    "studio.core.frame_sources": ("FrameSourceError",),
    "studio.core.tracker": ("TrackingError",),
    "studio.core.jobs": ("JobCancelled",),
    "studio.core.take": ("TakeFileError",),
    "studio.core.session": ("SessionError",),
    "studio.core.burst_capture": ("CaptureError",),
    "studio.core.expression_sets": ("ExpressionSetError",),
    "studio.core.targets": ("TargetError",),
}


def _expected_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ValueError, KeyError, OSError]
    for module_name, names in _EXPECTED_ERRORS.items():
        module = sys.modules.get(module_name)
        errors.extend(getattr(module, name) for name in names if module is not None and hasattr(module, name))
    return tuple(errors)


def build_parser() -> argparse.ArgumentParser:
    """The ``main.py`` argument parser with all subcommands."""
    parser = argparse.ArgumentParser(prog="main.py", description="Simon Says Studio")
    parser.add_argument("--screenshot", metavar="PNG", help="open the studio, save a screenshot, quit")
    parser.add_argument("--control", action="append", default=[], metavar="NAME=VALUE",
                        help="open the rig inspector with this expression control set (repeatable)")
    parser.add_argument("--session", metavar="FOLDER", help="open this session instead of the demo session")
    parser.add_argument("--inspector", action="store_true", help="open the rig inspector instead of a session")
    parser.set_defaults(func=_cmd_gui)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    add_assets_parser(commands)

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

    track = commands.add_parser("track", help="track a video: MediaPipe landmarks → rig controls per frame (CSV)")
    track.add_argument("video", help="video file (mp4, mov, avi, mkv, webm)")
    track.add_argument("--out", required=True, metavar="CURVES.csv", help="control curves, one row per frame")
    track.add_argument("--rig-params", metavar="THETA.npz", help="tracking rig parameters θ_T (default: ICT's own)")
    track.add_argument("--neutral", default="auto", metavar="auto|A:B",
                       help="performer neutral: resting frames picked automatically, or frames A to B (exclusive)")
    track.add_argument("--filter", default="smooth", choices=["none", "one-euro", "smooth"],
                       help="temporal filter (default: zero-phase smoothing for recorded takes)")
    track.add_argument("--json", metavar="STATS.json", help="write tracking figures here")
    track.add_argument("--quiet", action="store_true", help="no progress bar")
    track.set_defaults(func=_cmd_track)

    live = commands.add_parser("live", help="live view: camera, video or synthetic performer → landmarks → rig")
    live.add_argument("source", nargs="?", metavar="SOURCE",
                      help="camera:N, a video file or synthetic[:seed] (default: camera 0 if present, else synthetic)")
    live.add_argument("--screenshot", metavar="PNG", help="save a screenshot after --frames tracked frames, then quit")
    live.add_argument("--frames", type=int, default=90, help="tracked frames before the screenshot (default 90)")
    live.set_defaults(func=_cmd_live)

    demo = commands.add_parser("demo", help="the demo workflow: --walkthrough drives it by itself")
    demo.add_argument("--walkthrough", action="store_true",
                      help="capture, calibrate, fine-tune, record and track a take, review, with no hands")
    demo.add_argument("--screenshots", metavar="DIR", default="walkthrough",
                      help="folder for a PNG of each page and walkthrough.json (default ./walkthrough)")
    demo.add_argument("--session-folder", metavar="FOLDER",
                      help="where the walkthrough's session goes (default: <data folder>/sessions/walkthrough)")
    demo.set_defaults(func=_cmd_demo)
    targets = commands.add_parser("targets", help="list the retarget targets (identities, stylized, game rigs)")
    targets.add_argument("--screenshots", metavar="DIR", help="also render each target's neutral and poses to PNGs")
    targets.add_argument("--report", action="store_true",
                         help="also check each target: morph fold-free, lips and eyelids still closing")
    targets.set_defaults(func=_cmd_targets)

    def add_curves(parser: argparse.ArgumentParser, target_required: bool) -> None:
        parser.add_argument("curves", metavar="CURVES.csv", help="a tracked take (python main.py track --out)")
        parser.add_argument("--target", required=target_required, metavar="NAME",
                            help="retarget target: a name from `targets`, a target .json or session:FOLDER")

    retarget = commands.add_parser("retarget", help="retarget a take's curves to a target's controls (CSV)")
    add_curves(retarget, True)
    retarget.add_argument("--out", required=True, metavar="OUT.csv", help="the target's control curves")
    retarget.set_defaults(func=_cmd_retarget)

    export = commands.add_parser("export", help="export a take: Live Link Face CSV, curves CSV/JSON, glTF (.glb)")
    add_curves(export, False)
    export.add_argument("--format", required=True, choices=["livelink", "csv", "json", "glb"])
    export.add_argument("--out", required=True, metavar="FILE", help="output file (written atomically)")
    export.set_defaults(func=_cmd_export)

    import_livelink = commands.add_parser("import-livelink", help="a Live Link Face CSV as a take (ICT curves CSV)")
    import_livelink.add_argument("file", metavar="LIVELINK.csv")
    import_livelink.add_argument("--out", required=True, metavar="CURVES.csv")
    import_livelink.add_argument("--fps", type=float, help="frame rate (default: inferred like Unreal, 30 or 60)")
    import_livelink.set_defaults(func=_cmd_import_livelink)

    stream = commands.add_parser("stream", help="stream a take over VMC (OSC/UDP) in real time, ARKit names")
    add_curves(stream, False)
    stream.add_argument("--vmc", default="127.0.0.1:39539", metavar="HOST:PORT",
                        help="the VMC receiver (default 127.0.0.1:39539)")
    stream.add_argument("--as-fast-as-possible", action="store_true", help="no real-time pacing")
    stream.add_argument("--quiet", action="store_true", help="no progress bar")
    stream.set_defaults(func=_cmd_stream)

    session = commands.add_parser("session", help="Simon-Says sessions")
    session_commands = session.add_subparsers(dest="session_command", metavar="ACTION", required=True)
    synthetic = session_commands.add_parser(
        "synthetic", help="record a whole session from a synthetic performer with a known motion signature"
    )
    synthetic.add_argument("folder", metavar="SESSION_DIR")
    synthetic.add_argument("--seed", type=int, default=0, help="which synthetic performer (θ_GT)")
    synthetic.add_argument("--expression-set", default="ict_full", metavar="NAME",
                           help="packaged Simon-Says set performed (ict_full, ict_default)")
    synthetic.add_argument("--quiet", action="store_true", help="no progress bar")
    synthetic.set_defaults(func=_cmd_session_synthetic)

    calibrate = commands.add_parser("calibrate", help="calibrate the rig to a session's captures (θ_A → θ_S)")
    calibrate.add_argument("folder", metavar="SESSION_DIR")
    calibrate.set_defaults(func=_cmd_calibrate)

    finetune = commands.add_parser(
        "finetune", help="fine-tune a calibrated session's tracking rig (θ_S → θ̂_S, for track --rig-params)"
    )
    finetune.add_argument("folder", metavar="SESSION_DIR")
    finetune.add_argument("--quiet", action="store_true", help="no progress bar")
    finetune.set_defaults(func=_cmd_finetune)

    bench = commands.add_parser("bench", help="run a benchmark and write its figures as JSON")
    benches = bench.add_subparsers(dest="bench_name", metavar="BENCHMARK", required=True)

    def add_bench(name: str, run, help_text: str) -> argparse.ArgumentParser:
        parser = benches.add_parser(name, help=help_text)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", metavar="OUT.json", help="also write the figures to this file")
        parser.set_defaults(func=_run_bench, bench=run)
        return parser

    bench_render = add_bench("render", _bench_render, "offscreen render throughput")
    bench_render.add_argument("--frames", type=int, default=100)
    bench_render.add_argument("--size", type=int, default=512, help="image width and height in pixels")
    bench_inspector = add_bench("inspector", _bench_inspector, "inspector frame rate while a slider is dragged")
    bench_inspector.add_argument("--frames", type=int, default=120)
    bench_solver = add_bench("solver", _bench_solver, "bounded least-squares rig inversion throughput")
    bench_solver.add_argument("--batch", type=int, default=10000, help="frames solved in one batch")
    bench_solver.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    bench_calibration = add_bench("calibration", _bench_calibration, "calibrate a synthetic performer: θ_S vs θ_A")
    bench_calibration.add_argument("--gt-rig", metavar="FILE",
                                   help="npz with expression_names (K,) and expression_deltas (K, V, 3) in cm")
    bench_calibration.add_argument("--noise-mm", type=float, default=1.0, help="landmark noise σ per coordinate")
    bench_calibration.add_argument("--level", choices=["geometry", "image"], default="geometry")
    bench_calibration.add_argument("--expression-set", default="ict_full", metavar="NAME",
                                   help="packaged Simon-Says set performed (ict_full, ict_default)")
    bench_finetune = add_bench("finetune", _bench_finetune, "fine-tune trackers on a synthetic performer: Table 3")
    bench_finetune.add_argument("--gt-rig", metavar="FILE",
                                help="npz with expression_names (K,) and expression_deltas (K, V, 3) in cm")
    bench_finetune.add_argument("--noise-mm", type=float, default=1.0, help="landmark noise σ per coordinate")
    bench_finetune.add_argument("--device", default="cpu", help="torch device of the solves (cpu, cuda)")
    bench_finetune.add_argument("--noise-margin", type=float, metavar="Z",
                                help="errors within Z noise standard deviations are not fitted (default 2)")
    bench_finetune.add_argument("--max-noise-std", type=float, metavar="S",
                                help="controls noisier than S are left alone (default 0.025; 1e9: tune all)")
    bench_tracking = add_bench("tracking", _bench_tracking, "closed loop: synthetic performer → MediaPipe → solve")
    bench_tracking.add_argument("--seconds", type=float, default=12.0, help="length of the synthetic take")
    bench_tracking.add_argument("--footage", metavar="DIR",
                                help="clips for the MediaPipe correlation (default: ../shared/footage if present)")
    bench_live = add_bench("live", _bench_live, "live view end to end: landmarks + solve + filter + draw, frames/s")
    bench_live.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    bench_live.add_argument("--source", metavar="SOURCE",
                            help="memory:VIDEO (pre-decoded 640×480, the default with d10.mp4), synthetic:SEED, "
                                 "a video or camera:N")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code.

    Expected failures (missing assets, bad files, bad arguments) print one line and no traceback; set
    ``STUDIO_DEBUG=1`` to see the traceback instead.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Exception as error:
        if os.environ.get("STUDIO_DEBUG") or not isinstance(error, _expected_errors()):
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
