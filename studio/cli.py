"""The studio's command line: one argparse program with subcommands; no subcommand opens the GUI.

Every GUI action that computes something has a twin here, so benchmarks and scripted pipelines run
without a window. Heavy modules are imported inside the command that needs them to keep start-up fast.
"""

from __future__ import annotations

import argparse
import json
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

    return run_studio(controls=_parse_controls(args.control), screenshot=args.screenshot)


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


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "render":
        from bench.bench_render import run_render_benchmark

        result = run_render_benchmark(size=args.size, frames=args.frames, seed=args.seed)
    else:
        from bench.bench_inspector import run_inspector_benchmark

        result = run_inspector_benchmark(frames=args.frames, seed=args.seed)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``main.py`` argument parser with all subcommands."""
    parser = argparse.ArgumentParser(prog="main.py", description="Simon Says Studio")
    parser.add_argument("--screenshot", metavar="PNG", help="open the studio, save a screenshot, quit")
    parser.add_argument("--control", action="append", default=[], metavar="NAME=VALUE",
                        help="start with this expression control set (repeatable)")
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

    bench = commands.add_parser("bench", help="run a benchmark and write its figures as JSON")
    bench.add_argument("what", choices=["render", "inspector"])
    bench.add_argument("--frames", type=int, default=100)
    bench.add_argument("--size", type=int, default=512, help="render size (bench render)")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--json", metavar="OUT.json", help="also write the figures to this file")
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code.

    Expected failures (missing assets, bad files, bad arguments) print one line and no traceback; set
    ``STUDIO_DEBUG=1`` to see the traceback instead.
    """
    import os

    from studio.assets import AssetUnavailableError
    from studio.core.rig import RigFileError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (AssetUnavailableError, RigFileError, ValueError, KeyError, OSError) as error:
        if os.environ.get("STUDIO_DEBUG"):
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
