"""The studio's windows from the command line: the studio itself (no subcommand), ``live`` and ``demo``."""

from __future__ import annotations

import argparse

from studio.cli.arguments import parse_controls


def _cmd_gui(args: argparse.Namespace) -> int:
    from studio.ui.app import run_studio

    return run_studio(controls=parse_controls(args.control), screenshot=args.screenshot, session=args.session,
                      inspector=args.inspector)


def _cmd_live(args: argparse.Namespace) -> int:
    from studio.ui.tools.live_view import run_live_view

    return run_live_view(source=args.source, screenshot=args.screenshot, frames=args.frames)


def _cmd_demo(args: argparse.Namespace) -> int:
    if not args.walkthrough:
        from studio.ui.app import run_studio

        return run_studio()
    from studio.ui.walkthrough import run_walkthrough

    return run_walkthrough(args.screenshots, args.session_folder)


def add_studio_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``python main.py`` with no subcommand (open the studio)."""
    parser.add_argument("--screenshot", metavar="PNG", help="open the studio, save a screenshot, quit")
    parser.add_argument("--control", action="append", default=[], metavar="NAME=VALUE",
                        help="open the rig inspector with this expression control set (repeatable)")
    parser.add_argument("--session", metavar="FOLDER", help="open this session instead of the demo session")
    parser.add_argument("--inspector", action="store_true", help="open the rig inspector instead of a session")
    parser.set_defaults(func=_cmd_gui)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``live`` and ``demo``."""
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
