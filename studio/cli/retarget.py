"""``targets``, ``retarget``, ``export``, ``import-livelink`` and ``stream``: takes on other faces and in other tools."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio.core.io.exports import EXPORT_FORMATS


def _cmd_targets(args: argparse.Namespace) -> int:
    from studio.core.retarget.targets import available_targets

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
    from studio.core.retarget.targets import load_target
    from studio.core.rig.definition import RigDefinition
    from studio.core.rig.rig import Rig

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


def _inputs(args: argparse.Namespace) -> list[str]:
    """The files a command reads: its curves and, when it names a file, its target."""
    target = getattr(args, "target", None)
    response = getattr(args, "response", None)
    return [args.curves, *([target] if target and Path(target).is_file() else []), *([response] if response else [])]


def _load_curves_and_target(args: argparse.Namespace):
    from studio.core.io.atomic_files import check_outputs
    from studio.core.retarget.curves import read_source_curves
    from studio.core.session.targets import open_target

    if getattr(args, "out", None):
        check_outputs([("--out", args.out)], _inputs(args))
    curves = read_source_curves(args.curves)
    target = open_target(args.target) if getattr(args, "target", None) else None
    return curves, target


def _cmd_retarget(args: argparse.Namespace) -> int:
    from studio.core.retarget.curves import retarget_curves

    curves, target = _load_curves_and_target(args)
    result = retarget_curves(curves, target)
    result.write_csv(args.out)
    print(f"{args.out}: {result.num_frames} frames of {target.label}, {len(result.control_names)} controls")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from studio.core.retarget.curves import export_take

    curves, target = _load_curves_and_target(args)
    if args.response:
        curves = _with_response(curves, args.response)
    path = export_take(curves, args.format, args.out, target, start_timecode=args.timecode)
    where = target.label if target is not None else "the performer's rig (ICT)"
    print(f"{path}: {args.format}, {curves.num_frames} frames at {curves.fps:.2f} fps, {where}")
    return 0


def _with_response(curves, path: str):
    """The curves after the per-shape response in ``path`` (a session's ``response.json``); one line if bad."""
    import json

    from studio.core.rig.response import ResponseError, ResponseSet

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ResponseError(f"{path}: unreadable ({type(error).__name__}: {error})") from None
    response = ResponseSet.from_json(data, curves.control_names, where=str(path))
    return curves.with_values(curves.control_names, response.apply(curves.values, curves.control_names, curves.time_s))


def _cmd_import_livelink(args: argparse.Namespace) -> int:
    from studio.core.io.atomic_files import check_outputs
    from studio.core.io.livelink import read_livelink_csv
    from studio.core.retarget.curves import livelink_take_curves

    if args.fps is not None and not 0.0 < args.fps <= 1000.0:
        raise ValueError(f"--fps {args.fps:g}: a frame rate is above 0 and at most 1000 frames per second")
    check_outputs([("--out", args.out)], [args.file])
    take = read_livelink_csv(args.file, args.fps)
    if take.fps_note is not None:
        print(f"{args.file}: frame rate {take.fps_note}", file=sys.stderr)
    curves = livelink_take_curves(take)
    curves.write_csv(args.out)
    print(f"{args.out}: {curves.num_frames} frames at {curves.fps:.2f} fps, {len(curves.control_names)} ICT controls")
    return 0


def _stream_sender(args: argparse.Namespace, curves, arkit):
    """The sender ``stream`` was asked for, and the head rows in its form."""
    from studio.core.io import ifacialmocap, livelink_udp, udp
    from studio.core.io.vmc import DEFAULT_VMC_HOST, VmcSender, parse_host_port
    from studio.core.retarget.stream import ifacialmocap_angles, livelink_angles, stream_head

    if args.livelink is not None:
        host, port = udp.parse_host_port(args.livelink, DEFAULT_VMC_HOST, livelink_udp.DEFAULT_LIVELINK_PORT, "Live Link")
        sender = livelink_udp.LiveLinkSender(host, port, subject=args.subject, fps=curves.fps or 30.0)
        return sender, livelink_angles(curves.head_pose, arkit)
    if args.ifacialmocap is not None:
        if not 0 <= args.listen_port <= 65535:
            raise ValueError(f"--listen-port {args.listen_port}: a port is in 0-65535")
        if args.ifacialmocap:
            host, port = udp.parse_host_port(args.ifacialmocap, DEFAULT_VMC_HOST, ifacialmocap.DEFAULT_PORT,
                                             "iFacialMocap")  # fmt: skip
            sender = ifacialmocap.IFacialMocapSender(host, port, listen_port=args.listen_port)
        else:
            sender = ifacialmocap.IFacialMocapSender(None, listen_port=args.listen_port)
        return sender, ifacialmocap_angles(curves.head_pose, arkit)
    host, port = parse_host_port(args.vmc)
    return VmcSender(host, port), stream_head(curves)


def _cmd_stream(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from studio.core.io.vmc import stream_curves_job
    from studio.core.jobs import run_job
    from studio.core.retarget.stream import stream_values

    curves, target = _load_curves_and_target(args)
    names, values = stream_values(curves, target)
    sender, head = _stream_sender(args, curves, values)
    with sender, tqdm(
        total=curves.num_frames, unit="frame", desc=f"{sender.protocol} → {sender.target}", file=sys.stderr,
        disable=args.quiet,
    ) as bar:
        summary = run_job(
            stream_curves_job(curves.time_s, names, values, sender, realtime=not args.as_fast_as_possible, head=head),
            on_progress=lambda progress: bar.update(progress[1] - bar.n),
        )
    print(
        f"sent {summary.frames_sent} frames to {sender.target} ({sender.protocol}) in {summary.duration_s:.2f} s "
        f"({summary.frames_skipped} without a face skipped, {summary.late_frames} late, "
        f"at most {summary.max_lateness_ms:.1f} ms)"
    )
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register the retargeting commands."""
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

    export = commands.add_parser("export", help="export a take: Live Link Face CSV, curves CSV/JSON, glTF (.glb), USD")
    add_curves(export, False)
    export.add_argument("--format", required=True, choices=list(EXPORT_FORMATS))
    export.add_argument("--out", required=True, metavar="FILE", help="output file (written atomically)")
    export.add_argument("--timecode", metavar="HH:MM:SS:FF",
                        help="SMPTE timecode of the first frame (a session take's start_timecode in take.json): "
                             "Live Link's Timecode column counts from it; JSON, glb and USD state it")
    export.add_argument("--response", metavar="RESPONSE.json",
                        help="apply a per-shape response first (a session's response.json, edited in the live view)")
    export.set_defaults(func=_cmd_export)

    import_livelink = commands.add_parser("import-livelink", help="a Live Link Face CSV as a take (ICT curves CSV)")
    import_livelink.add_argument("file", metavar="LIVELINK.csv")
    import_livelink.add_argument("--out", required=True, metavar="CURVES.csv")
    import_livelink.add_argument("--fps", type=float, help="frame rate (default: inferred from the timecodes' frame numbers, and said)")
    import_livelink.set_defaults(func=_cmd_import_livelink)

    stream = commands.add_parser("stream", help="stream a take in real time over VMC (default), Live Link (Unreal) "
                                                "or iFacialMocap (VTuber apps)")
    add_curves(stream, False)
    protocol = stream.add_mutually_exclusive_group()
    protocol.add_argument("--vmc", default="127.0.0.1:39539", metavar="HOST:PORT",
                          help="the VMC receiver (default 127.0.0.1:39539)")
    protocol.add_argument("--livelink", metavar="HOST:PORT",
                          help="Unreal's Live Link Face source (port 11111 by default): the packets the Live Link Face "
                               "app sends")
    protocol.add_argument("--ifacialmocap", metavar="HOST:PORT", nargs="?", const="",
                          help="send iFacialMocap text frames (port 49983 by default); without HOST:PORT only to "
                               "receivers that send the handshake")
    stream.add_argument("--subject", default="SimonSays", help="the Live Link subject name (default SimonSays)")
    stream.add_argument("--listen-port", type=int, default=49983,
                        help="where the iFacialMocap handshake is awaited (default 49983, as the phone app)")
    stream.add_argument("--as-fast-as-possible", action="store_true", help="no real-time pacing")
    stream.add_argument("--quiet", action="store_true", help="no progress bar")
    stream.set_defaults(func=_cmd_stream)
