"""``session synthetic``, ``calibrate`` and ``finetune``: Simon-Says sessions and their rigs."""

from __future__ import annotations

import argparse
import sys


def _cmd_session_synthetic(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from studio.core.jobs import run_job
    from studio.core.session.synthetic import synthetic_session_job
    from studio.render.synthetic_performer import PromptedPerformerSource

    with tqdm(desc="capturing", unit="frame", file=sys.stderr, disable=args.quiet) as bar:

        def show(frame) -> None:
            bar.set_description(f"{frame.expression.name} ({len(frame.status.captured)}/{frame.count})")
            bar.update(1)

        job = synthetic_session_job(args.folder, args.seed, lambda rig: PromptedPerformerSource(rig, seed=args.seed),
                                    expression_set=args.expression_set)
        session = run_job(job, on_progress=show)
    status = session.status()
    print(f"{args.folder}: {len(status.captured)} captures, {len(status.missing)} missing, "
          f"{len(status.flagged)} flagged")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from studio.core.session.calibrate import calibrate_session
    from studio.core.session.folder import Session

    session = Session.open(args.folder)
    had_finetuned = session.has_rig_parameters("theta_S_hat")
    _result, report = calibrate_session(session)
    residual = report.mean_residual_mm()
    missing = session.status().missing
    print(f"{args.folder}: calibrated {len(report.expressions)} expressions in {report.wall_seconds:.2f} s "
          f"(λ {report.regularization:g}, μ {report.smoothness:g}); landmark residual {residual.before:.2f} → "
          f"{residual.after:.2f} mm; flagged: {', '.join(report.flagged_captures) or 'none'}"
          f"{f'; not captured: {len(missing)}' if missing else ''}; wrote calibration/theta_S.npz and "
          f"calibration/report.json")
    if had_finetuned and not session.has_rig_parameters("theta_S_hat"):
        print(f"{args.folder}: the fine-tuned θ̂_S of the previous calibration was moved to calibration/superseded/; "
              "run finetune again", file=sys.stderr)
    return 0


def _cmd_finetune(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from studio.core.jobs import run_job
    from studio.core.session.calibrate import finetune_session_job

    with tqdm(desc="fine-tuning", unit="run", file=sys.stderr, disable=args.quiet, delay=1.0) as bar:

        def show(progress: tuple[str, int, int]) -> None:
            what, done, total = progress
            bar.total = total
            bar.set_description(what[:60])
            bar.update(done - bar.n)

        _result, report = run_job(finetune_session_job(args.folder), on_progress=show)
    before, after = report.metrics["theta_S"], report.metrics["theta_S_hat"]
    stages = ", ".join(f"{s.stage}: {s.accepted}/{s.runs}" for s in report.stages)
    print(
        f"{args.folder}: fine-tuned on {len(report.expressions)} captures in {report.wall_seconds:.1f} s "
        f"(accepted per stage {stages}); control L2 {before['control_l2']:.3f} → {after['control_l2']:.3f}, "
        f"sparsity {before['sparsity']:.3f} → {after['sparsity']:.3f}, tweakers {before['tweaker']:.3f} → "
        f"{after['tweaker']:.3f}; wrote calibration/theta_S_hat.npz and calibration/finetune_report.json"
    )
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register the session commands."""
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
