"""``session synthetic``, ``calibrate`` and ``finetune``: Simon-Says sessions and their rigs."""

from __future__ import annotations

import argparse
import sys

from studio.cli.arguments import progress_bar


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


def _print_report_card(args: argparse.Namespace, session) -> None:
    from studio.core.jobs import checked_device, run_job
    from studio.core.session.report_card import CARD_RIGS, read_report_card, report_card_job

    found = read_report_card(session)
    folds = args.folds if args.folds is not None else (found[0].folds if found else None)  # None: the default
    if found is None or not found[1] or (folds is not None and found[0].folds != folds):
        bar, show = progress_bar(args, "report card")
        with bar:
            card = run_job(report_card_job(session, folds=folds, device=checked_device(args.device)),
                           on_progress=show)
        made = f"made in {card.seconds:.0f} s, wrote calibration/report_card.json"
    else:
        card, made = found[0], "current, from calibration/report_card.json"
    labels = {"theta_A": "θ_A", "theta_S": "θ_S", "theta_S_hat": "θ̂_S"}
    print(f"{args.folder}: report card ({made})")
    print(f"  {'expression':<24}" + "".join(f"{labels[r]:>9}" for r in CARD_RIGS))
    for name, errors in card.errors.items():
        worse = [labels[r] for r in CARD_RIGS[1:] if name in card.worse_than_theta_A(r)]
        print(f"  {name:<24}" + "".join(f"{errors[r]:9.3f}" for r in CARD_RIGS)
              + (f"   worse than θ_A: {', '.join(worse)}" if worse else ""))
    overall = card.overall()
    print(f"  {'overall':<24}" + "".join(f"{overall[r]:9.3f}" for r in CARD_RIGS))
    print(f"  {card.summary()}")
    chosen = session.takes_rig
    print(f"  takes use: {labels[chosen] + ' (chosen)' if chosen else 'the most refined rig'}; change with "
          f"calibrate {args.folder} --takes-rig theta_A|theta_S|theta_S_hat|auto")


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from studio.core.session.calibrate import calibrate_session
    from studio.core.session.folder import Session

    session = Session.open(args.folder)
    if args.takes_rig:
        session.set_takes_rig(None if args.takes_rig == "auto" else args.takes_rig)
        print(f"{args.folder}: takes show and export {args.takes_rig if args.takes_rig != 'auto' else 'the most refined rig'}"
              " by default")
        if not args.report:
            return 0
    if args.report:
        _print_report_card(args, session)
        return 0
    had_finetuned = session.has_rig_parameters("theta_S_hat")
    _result, report = calibrate_session(session)
    residual = report.mean_residual_mm()
    missing = session.status().missing
    response = (f"captures corrected for MediaPipe's response ({report.detector_response})" if report.detector_response
                else "no MediaPipe response model: captures calibrated as reported (python main.py train "
                     "detector-response)")
    print(f"{args.folder}: calibrated {len(report.expressions)} expressions in {report.wall_seconds:.2f} s "
          f"(λ {report.regularization:g}, μ {report.smoothness:g}); landmark residual {residual.before:.2f} → "
          f"{residual.after:.2f} mm; flagged: {', '.join(report.flagged_captures) or 'none'}"
          f"{f'; not captured: {len(missing)}' if missing else ''}; wrote calibration/theta_S.npz and "
          f"calibration/report.json; {response}")
    if had_finetuned and not session.has_rig_parameters("theta_S_hat"):
        print(f"{args.folder}: the fine-tuned θ̂_S of the previous calibration was moved to calibration/superseded/; "
              "run finetune again", file=sys.stderr)
    return 0


def _cmd_finetune_network(args: argparse.Namespace, device: str) -> int:
    from studio.core.jobs import run_job
    from studio.core.session.calibrate import calibrate_network_session_job

    folds = (args.folds or 8) if args.report_card else 0
    if folds < 0:
        raise ValueError("--folds must be positive")
    bar, show = progress_bar(args, "calibrating the network")
    with bar:
        _tracker, report = run_job(calibrate_network_session_job(args.folder, network=args.network, folds=folds,
                                                                 device=device), on_progress=show)
    print(f"{args.folder}: the network calibrated (λ {report['lambda']:g}) on {report['crops']} face crops of {len(report['captures'])} "
          f"captures in {report['seconds']:.1f} s; control L1 on them {report['control_l1_before']:.4f} → "
          f"{report['control_l1_after']:.4f}; wrote calibration/network_calibrated.pt and "
          "calibration/network_report.json")
    if "report_card" in report:
        card = report["report_card"]
        worse = [n for n, e in card["errors"].items() if e["network_calibrated"] > e["network"] + 0.05]
        print(f"report card ({len(card['errors'])} held-out captures, {card['folds']} folds), control error: "
              f"network {card['overall']['network']:.3f}, calibrated {card['overall']['network_calibrated']:.3f}"
              + (f"; calibrated is worse on {len(worse)}: {', '.join(worse)}" if worse else ""))
    return 0


def _cmd_finetune(args: argparse.Namespace) -> int:
    from studio.core.jobs import checked_device, run_job
    from studio.core.session.calibrate import finetune_session_job

    device = checked_device(args.device)
    if args.tracker == "network":
        return _cmd_finetune_network(args, device)
    bar, show = progress_bar(args, "fine-tuning")
    with bar:
        _result, report = run_job(finetune_session_job(args.folder, device=device), on_progress=show)
    before, after = report.metrics["theta_S"], report.metrics["theta_S_hat"]
    stages = ", ".join(f"{s.stage}: {s.accepted}/{s.runs}" for s in report.stages)
    print(
        f"{args.folder}: fine-tuned on {len(report.expressions)} captures in {report.wall_seconds:.1f} s "
        f"(accepted per stage {stages}); control L2 {before['control_l2']:.3f} → {after['control_l2']:.3f}, "
        f"sparsity {before['sparsity']:.3f} → {after['sparsity']:.3f}, tweakers {before['tweaker']:.3f} → "
        f"{after['tweaker']:.3f}; wrote calibration/theta_S_hat.npz and calibration/finetune_report.json"
    )
    if args.report_card:
        from studio.core.session.folder import Session

        _print_report_card(args, Session.open(args.folder))
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
    calibrate.add_argument(
        "--report", action="store_true",
        help="calibrate nothing: print the session's report card (each rig on captures it was not calibrated "
             "on), making it first when it is missing or stale",
    )
    calibrate.add_argument("--folds", type=int, default=None, metavar="N",
                           help="groups of held-out captures for the report card (default 8, or the number of "
                                "captures when fewer: leave-one-expression-out)")
    calibrate.add_argument("--takes-rig", choices=("theta_A", "theta_S", "theta_S_hat", "auto"),
                           help="calibrate nothing: choose the rig takes show and export by default (auto: the "
                                "most refined)")
    calibrate.add_argument("--device", default="cpu",
                           help="where the report card's fine-tunings solve (cpu, cuda); calibration itself is "
                                "sparse algebra and runs on the CPU")
    calibrate.add_argument("--quiet", action="store_true", help="no progress bar")
    calibrate.set_defaults(func=_cmd_calibrate)

    finetune = commands.add_parser(
        "finetune", help="fine-tune a calibrated session's tracking rig (θ_S → θ̂_S, for track --rig-params)"
    )
    finetune.add_argument("folder", metavar="SESSION_DIR")
    finetune.add_argument("--tracker", default="landmarks", choices=["landmarks", "network"],
                          help="landmarks: fine-tune the rig θ_S → θ̂_S (default); network: calibrate the learned "
                               "tracker to the captures' face crops (calibration/network_calibrated.pt)")
    finetune.add_argument("--network", metavar="NET.pt",
                          help="the network to calibrate (default the shipped one, models/inversion/two_branch.pt)")
    finetune.add_argument("--device", default="cpu", help="where the tracker's solves run (cpu, cuda)")
    finetune.add_argument("--report-card", action="store_true",
                          help="then make the report card (calibrate --report) for the new θ̂_S; with --tracker "
                               "network, the network's own card (generic against calibrated, held out)")
    finetune.add_argument("--folds", type=int, default=None, metavar="N",
                          help="folds of the network's report card (default 8)")
    finetune.add_argument("--quiet", action="store_true", help="no progress bar")
    finetune.set_defaults(func=_cmd_finetune)
