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

    emotion = models.add_parser(
        "emotion",
        help="the emotion classifier (paper 000's seven emotions) on rig controls: synthetic expressions from "
             "FACS prototypes, and training performers rendered and read back by MediaPipe and the tracker",
    )
    emotion.add_argument("--steps", type=int, default=3000, help="training steps (default 3000)")
    emotion.add_argument("--performers", type=int, default=24,
                         help="training performers rendered through the image path (default 24; 0: none)")
    emotion.add_argument("--per-emotion", type=int, default=24,
                         help="expressions of each emotion each rendered performer holds (default 24)")
    emotion.add_argument("--seed", type=int, default=0)
    emotion.add_argument("--out", metavar="FILE.pt", help="default models/emotion/classifier.pt")
    emotion.add_argument("--quiet", action="store_true", help="no progress bar")
    emotion.set_defaults(func=_cmd_train_emotion)

    generator = models.add_parser(
        "generator",
        help="the generative expression model (conditional VAE with an adversarial term): emotion and intensity "
             "→ controls, variations and transitions",
    )
    generator.add_argument("--steps", type=int, default=3000, help="training steps (default 3000)")
    generator.add_argument("--seed", type=int, default=0)
    generator.add_argument("--out", metavar="FILE.pt", help="default models/generator/cvae.pt")
    generator.add_argument("--quiet", action="store_true", help="no progress bar")
    generator.set_defaults(func=_cmd_train_generator)

    temporal = models.add_parser(
        "temporal",
        help="the temporal model for tracked curves (1-D CNN + GRU, causal for live and with 8 frames of "
             "lookahead offline): synthetic performances with a tracking-noise model measured on footage",
    )
    temporal.add_argument("--footage", metavar="DIR",
                          help="the real clips the noise model is measured on (default the shared footage)")
    temporal.add_argument("--steps", type=int, default=1500, help="training steps (default 1500)")
    temporal.add_argument("--seed", type=int, default=0)
    temporal.add_argument("--out", metavar="FILE.pt", help="default models/temporal/denoiser.pt")
    temporal.add_argument("--quiet", action="store_true", help="no progress bar")
    temporal.set_defaults(func=_cmd_train_temporal)


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


def _training_performers(seed: int, count: int) -> list[int]:
    """Seeds of the performers a model is trained on: ``100·seed + 1 …``; the benchmarks' performers are 501+."""
    return [100 * seed + 1 + i for i in range(count)]


def _cmd_train_emotion(args: argparse.Namespace) -> int:
    import numpy as np

    from studio.cli.arguments import progress_bar
    from studio.core.expression.classifier import train_emotion_job
    from studio.core.expression.model_files import model_path
    from studio.core.io.atomic_files import check_outputs
    from studio.core.jobs import run_job
    from studio.core.tracking.rig_bundle import RigBundle
    from studio.render.emotion_data import tracked_expressions_job

    if args.steps < 1 or args.performers < 0 or args.per_emotion < 1:
        raise ValueError("--steps and --per-emotion must be at least 1, --performers at least 0")
    out = args.out or str(model_path("emotion"))
    check_outputs([("--out", out)])
    bundle = RigBundle.load()
    seen = None
    performers = _training_performers(args.seed, args.performers)
    if performers:
        bar, show = progress_bar(args, "rendering", "frame")
        with bar:
            tracked = run_job(tracked_expressions_job(bundle, performers, args.per_emotion), on_progress=show)
        seen = (np.concatenate([tracked.tracked, tracked.mediapipe]), np.concatenate([tracked.labels] * 2))
    command = (f"python main.py train emotion --steps {args.steps} --performers {args.performers} "
               f"--per-emotion {args.per_emotion} --seed {args.seed}")
    bar, show = progress_bar(args, "training")
    with bar:
        figures = run_job(train_emotion_job(bundle.definition, out, steps=args.steps, seed=args.seed, seen=seen,
                                            command=command), on_progress=show)
    held = figures["held_out"]
    worst = min(held["accuracy_by_emotion"].items(), key=lambda item: item[1])
    print(f"{out}: {figures['parameters']} parameters, {figures['file_bytes'] / 1024:.0f} KB, {figures['steps']} "
          f"steps in {figures['seconds']:.0f} s ({figures['seen_samples']} image-path samples); held-out persons "
          f"{100 * held['accuracy']:.1f} % (lowest {worst[0]} {100 * worst[1]:.1f} %)")
    return 0


def _cmd_train_temporal(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from studio.bench.footage import footage_folder
    from studio.cli.arguments import progress_bar
    from studio.core.expression.model_files import model_path
    from studio.core.expression.temporal import measure_tracking_noise, train_temporal_job
    from studio.core.io.atomic_files import check_outputs
    from studio.core.jobs import run_job
    from studio.core.tracking.frame_sources import VideoFileSource
    from studio.core.tracking.rig_bundle import RigBundle
    from studio.core.tracking.take import track_take

    if args.steps < 1:
        raise ValueError("--steps must be at least 1")
    folder = Path(args.footage) if args.footage else footage_folder()
    clips = sorted(folder.glob("*.mp4")) if folder is not None and folder.is_dir() else []
    if not clips:
        raise ValueError("no footage to measure the tracking noise on: give --footage DIR with .mp4 clips")
    out = args.out or str(model_path("temporal"))
    check_outputs([("--out", out)])
    bundle = RigBundle.load()
    takes, fps = [], []
    bar, show = progress_bar(args, "tracking the footage", "frame")
    with bar:
        for clip in clips:
            with VideoFileSource(clip) as source:
                result = run_job(track_take(source, bundle.tracker(), "auto", "none",
                                            bundle.definition.tweaker_indices()), on_progress=show)
            takes.append(result.raw_controls)
            fps.append(source.fps)
    noise = measure_tracking_noise(takes, float(np.median(fps)), tuple(c.name for c in clips))
    command = f"python main.py train temporal --steps {args.steps} --seed {args.seed}"
    bar, show = progress_bar(args, "training")
    with bar:
        figures = run_job(train_temporal_job(bundle.definition, noise, out, steps=args.steps, seed=args.seed,
                                             command=command), on_progress=show)
    print(f"{out}: noise measured on {noise.frames} frames of {len(clips)} clips (median σ "
          f"{np.median(noise.sigma):.4f}, correlation {noise.correlation:.2f}, no face {100 * noise.dropout_fraction:.1f} "
          f"%); {figures['parameters']} parameters, {figures['file_bytes'] / 1024:.0f} KB, {figures['steps']} steps in "
          f"{figures['seconds']:.0f} s, final loss {figures['loss']:.4f}")
    return 0


def _cmd_train_generator(args: argparse.Namespace) -> int:
    from studio.cli.arguments import progress_bar
    from studio.core.expression.generator import train_generator_job
    from studio.core.expression.model_files import model_path
    from studio.core.io.atomic_files import check_outputs
    from studio.core.jobs import run_job
    from studio.core.rig.definition import RigDefinition

    if args.steps < 1:
        raise ValueError("--steps must be at least 1")
    out = args.out or str(model_path("generator"))
    check_outputs([("--out", out)])
    command = f"python main.py train generator --steps {args.steps} --seed {args.seed}"
    bar, show = progress_bar(args, "training")
    with bar:
        figures = run_job(train_generator_job(RigDefinition.ict(), out, steps=args.steps, seed=args.seed,
                                              command=command), on_progress=show)
    print(f"{out}: {figures['parameters']} parameters, {figures['file_bytes'] / 1024:.0f} KB, {figures['steps']} steps "
          f"in {figures['seconds']:.0f} s, reconstruction error {figures['reconstruction']:.4f} per control")
    return 0
