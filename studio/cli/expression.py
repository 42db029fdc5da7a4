"""``emotion`` and ``generate``: expression intelligence (paper 000) on takes."""

from __future__ import annotations

import argparse


def _cmd_emotion(args: argparse.Namespace) -> int:
    import numpy as np

    from studio.core.expression.classifier import EmotionRecognizer, labels_of, smooth_probabilities
    from studio.core.expression.emotions import EMOTIONS
    from studio.core.io.atomic_files import check_outputs
    from studio.core.io.emotions import write_emotions_csv
    from studio.core.retarget.curves import read_source_curves

    check_outputs([("--out", args.out)], [args.curves])
    if args.smooth_s < 0:
        raise ValueError("--smooth-s must not be negative")
    curves = read_source_curves(args.curves)
    recognizer = EmotionRecognizer.load(args.model, curves.control_names)
    values = np.where(curves.face_found[:, None], curves.values, np.nan)
    probabilities = smooth_probabilities(recognizer.probabilities(values), int(round(args.smooth_s * curves.fps)))
    write_emotions_csv(args.out, curves.time_s, probabilities, EMOTIONS)
    labels = labels_of(probabilities)
    found = labels >= 0
    labels = labels[found]
    shares = ", ".join(f"{EMOTIONS[e]} {100 * np.mean(labels == e):.0f} %" for e in np.unique(labels))
    print(f"{args.out}: {curves.num_frames} frames ({int(found.sum())} with a face): {shares or 'no face'}")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``emotion``."""
    emotion = commands.add_parser(
        "emotion", help="label a take's frames with the seven emotions (paper 000) and their probabilities")
    emotion.add_argument("curves", metavar="CURVES.csv", help="a tracked take's curves (ICT controls)")
    emotion.add_argument("--out", required=True, metavar="EMOTIONS.csv", help="per frame the emotion and probabilities")
    emotion.add_argument("--smooth-s", type=float, default=0.2,
                         help="average the probabilities over this many seconds around each frame (default 0.2; 0: "
                              "each frame alone)")
    emotion.add_argument("--model", metavar="FILE.pt", help="the classifier (default models/emotion/classifier.pt)")
    emotion.set_defaults(func=_cmd_emotion)
