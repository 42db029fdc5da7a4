"""``bench NAME``: run one of the benchmarks of :mod:`studio.bench` and print (and write) its figures as JSON."""

from __future__ import annotations

import argparse
from pathlib import Path


def _run_bench(args: argparse.Namespace) -> int:
    from studio.core.io.atomic_files import check_outputs, json_text, write_text_atomic

    if args.json:
        check_outputs([("--json", args.json)])
    result = args.bench(args)
    text = json_text(result)  # strict JSON: a figure that is not finite is null
    print(text, end="")
    if args.json:
        write_text_atomic(Path(args.json), text)
    return 0


def _bench_render(args: argparse.Namespace) -> dict:
    from studio.bench.render import run_render_benchmark

    return run_render_benchmark(size=args.size, frames=args.frames, seed=args.seed)


def _bench_inspector(args: argparse.Namespace) -> dict:
    from studio.bench.inspector import run_inspector_benchmark

    return run_inspector_benchmark(frames=args.frames, seed=args.seed)


def _bench_solver(args: argparse.Namespace) -> dict:
    from studio.bench.solver import run_solver_benchmark

    return run_solver_benchmark(batch=args.batch, seed=args.seed, device=args.device)


def _bench_calibration(args: argparse.Namespace) -> dict:
    from studio.bench.calibration import run_calibration_benchmark

    return run_calibration_benchmark(
        seed=args.seed,
        gt_rig=args.gt_rig,
        noise_mm=args.noise_mm,
        level=args.level,
        expression_set=args.expression_set,
    )


def _bench_finetune(args: argparse.Namespace) -> dict:
    from studio.bench.finetune import run_finetune_benchmark

    settings = {}
    if args.noise_margin is not None:
        settings["noise_margin"] = args.noise_margin
    if args.max_noise_std is not None:
        settings["max_noise_std"] = args.max_noise_std
    return run_finetune_benchmark(
        seed=args.seed, gt_rig=args.gt_rig, noise_mm=args.noise_mm, device=args.device, settings=settings
    )


def _bench_tracking(args: argparse.Namespace) -> dict:
    from studio.bench.tracking import run_tracking_benchmark

    return run_tracking_benchmark(seed=args.seed, seconds=args.seconds, footage=args.footage)


def _bench_track_memory(args: argparse.Namespace) -> dict:
    from studio.bench.track_memory import run_track_memory_benchmark

    return run_track_memory_benchmark(seconds=args.seconds, minutes=args.minutes, footage=args.footage)


def _bench_study(args: argparse.Namespace) -> dict:
    from studio.bench.study import run_study_benchmark

    return run_study_benchmark(
        seed=args.seed, level=args.level, gt_rig=args.gt_rig, eval_set=args.eval_set, noise_mm=args.noise_mm,
        continuous_s=args.continuous_s, speech_s=args.speech_s, device=args.device,
    )


def _bench_inversion(args: argparse.Namespace) -> dict:
    from studio.bench.inversion import run_inversion_benchmark

    if args.samples < 1 or args.threads < 1:
        raise ValueError("--samples and --threads must be at least 1")
    networks = None
    if args.network:
        networks = {}
        for spec in args.network:
            name, sep, path = spec.partition("=")
            if not sep or not name or not path:
                raise ValueError(f"--network {spec!r}: give NAME=FILE.pt")
            networks[name] = path
    return run_inversion_benchmark(samples=args.samples, seed=args.seed, networks=networks, footage=args.footage,
                                   threads=args.threads)


def _bench_live(args: argparse.Namespace) -> dict:
    from studio.bench.live import run_live_benchmark

    return run_live_benchmark(seconds=args.seconds, source=args.source, seed=args.seed)


def _bench_emotion(args: argparse.Namespace) -> dict:
    from studio.bench.emotion import run_emotion_benchmark

    png_dir = args.png_dir or (str(Path(args.json).parent) if args.json else None)
    return run_emotion_benchmark(per_emotion_image=args.per_emotion, take_seconds=args.take_seconds,
                                 png_dir=png_dir, model=args.model)


def _bench_generator(args: argparse.Namespace) -> dict:
    from studio.bench.generator import run_generator_benchmark

    return run_generator_benchmark(seed=args.seed, model=args.model, classifier=args.classifier)


def _bench_temporal(args: argparse.Namespace) -> dict:
    from studio.bench.temporal import run_temporal_benchmark

    return run_temporal_benchmark(seconds=args.seconds, model=args.model)


def _bench_head_pose(args: argparse.Namespace) -> dict:
    from studio.bench.head_pose import run_head_pose_benchmark

    return run_head_pose_benchmark(seconds=args.seconds, seed=args.seed)


def _bench_batch(args: argparse.Namespace) -> dict:
    from studio.bench.batch import run_batch_benchmark

    return run_batch_benchmark(seed=args.seed)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``bench`` and its benchmarks."""
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
    bench_study = add_bench("study", _bench_study,
                            "the whole chain on an unseen synthetic performer: session, calibrate, fine-tune, "
                            "unseen takes tracked with θ_A, θ_S, θ̂_S, θ_GT and MediaPipe's blendshapes")
    bench_study.add_argument("--level", choices=["image", "geometry"], default="image",
                             help="image: renderer and MediaPipe (default); geometry: exact landmarks plus noise")
    bench_study.add_argument("--gt-rig", metavar="FILE",
                             help="npz with expression_names (K,) and expression_deltas (K, V, 3) in cm")
    bench_study.add_argument("--eval-set", metavar="FILE", help="held poses in the animator set's format")
    bench_study.add_argument("--noise-mm", type=float, default=1.0, help="geometry level: landmark noise σ")
    bench_study.add_argument("--continuous-s", type=float, default=20.0, help="length of the continuous take, s")
    bench_study.add_argument("--speech-s", type=float, default=15.0, help="length of the speech-like take, s")
    bench_study.add_argument("--device", default="cpu", help="where fine-tuning and tracking solve (cpu, cuda)")
    bench_inversion = add_bench("inversion", _bench_inversion,
                                "the learned tracker (two-branch, RGB-only) against the landmark tracker and "
                                "MediaPipe: held-out renders, real footage, ms/frame")
    bench_inversion.add_argument("--samples", type=int, default=300, help="held-out renders (default 300)")
    bench_inversion.add_argument("--network", action="append", metavar="NAME=FILE.pt",
                                 help="networks to compare (default two_branch and rgb_only from models/inversion)")
    bench_inversion.add_argument("--footage", metavar="DIR", help="clips (default: ../shared/footage if present)")
    bench_inversion.add_argument("--threads", type=int, default=2, help="CPU threads for the speed figures")
    bench_memory = add_bench("track-memory", _bench_track_memory,
                             "peak memory of `track` on a short and a long take (streamed and kept)")
    bench_memory.add_argument("--seconds", type=float, default=15.0, help="length of the short take")
    bench_memory.add_argument("--minutes", type=float, default=5.0, help="length of the long take")
    bench_memory.add_argument("--footage", metavar="DIR", help="folder with d10.mp4 (default: ../shared/footage)")
    bench_live = add_bench("live", _bench_live, "live view end to end: landmarks + solve + filter + draw, frames/s")
    bench_emotion = add_bench("emotion", _bench_emotion,
                              "emotion recognition on held-out controls and through the image path (rendered "
                              "performers → MediaPipe → tracker), and the emotion agreement of retargeted takes")
    bench_emotion.add_argument("--per-emotion", type=int, default=10,
                               help="image path: expressions of each emotion per performer (6 performers)")
    bench_emotion.add_argument("--take-seconds", type=float, default=20.0, help="length of each retargeted take")
    bench_emotion.add_argument("--png-dir", metavar="DIR", help="where the confusion PNGs go (default: beside --json)")
    bench_emotion.add_argument("--model", metavar="FILE.pt", help="the classifier (default the shipped one)")
    bench_generator = add_bench("generator", _bench_generator,
                                "the generative expression model: recognised emotion, impossible poses, diversity "
                                "and transition steps of its samples")
    bench_generator.add_argument("--model", metavar="FILE.pt", help="the generator (default the shipped one)")
    bench_generator.add_argument("--classifier", metavar="FILE.pt", help="the emotion classifier (default shipped)")
    bench_temporal = add_bench("temporal", _bench_temporal,
                               "raw, One-Euro, zero-phase and the learned temporal model on rendered, tracked takes "
                               "with a 10-frame gap")
    bench_temporal.add_argument("--seconds", type=float, default=20.0, help="length of each take")
    bench_temporal.add_argument("--model", metavar="FILE.pt", help="the temporal model (default the shipped one)")
    bench_head = add_bench("head-pose", _bench_head_pose,
                           "the takes' head pose on rendered, tracked performers, next to MediaPipe's own transform")
    bench_head.add_argument("--seconds", type=float, default=8.0, help="length of each performer's take")
    add_bench("batch", _bench_batch, "a shoot of 8 clips of the shared footage on a local Ray, 1 and 2 workers: "
                                     "wall time, takes per minute, CPU use")
    bench_live.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    bench_live.add_argument("--source", metavar="SOURCE",
                            help="memory:VIDEO (pre-decoded 640×480, the default with d10.mp4), synthetic:SEED, "
                                 "a video or camera:N")
