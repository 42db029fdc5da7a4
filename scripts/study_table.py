"""The study's table over seeds, in Markdown: ``python scripts/study_table.py OUT_seed0.json OUT_seed1.json ...``.

Each JSON is the output of ``python main.py bench study --json``. Per take and rig: the mean control L2 over the
seeds, and its change against θ_A (mean, and the range over seeds), as in docs/study.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

LABELS = {"theta_A": "θ_A", "theta_S": "θ_S", "theta_S_hat": "θ̂_S", "theta_GT": "θ_GT (oracle)",
          "mediapipe": "MediaPipe's blendshapes", "network": "network", "network_calibrated": "network (calibrated)"}  # fmt: skip


def table(reports: list[dict]) -> str:
    """The Markdown table of ``reports`` (outputs of one level)."""
    takes = list(reports[0]["takes"])
    rigs = [rig for rig in LABELS if rig in reports[0]["takes"][takes[0]]]
    lines = ["| take | " + " | ".join(LABELS[r] for r in rigs) + " |", "|---" * (len(rigs) + 1) + "|"]
    for take in takes:
        cells = []
        for rig in rigs:
            l2 = np.array([r["takes"][take][rig]["control_l2"] for r in reports])
            change = 100 * np.array([r["takes"][take][rig]["vs_theta_A"] for r in reports])
            cells.append(f"{l2.mean():.3f}" if rig == "theta_A" else
                         f"{l2.mean():.3f} ({change.mean():+.0f} %, {change.min():+.0f} … {change.max():+.0f})")  # fmt: skip
        lines.append(f"| {take} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    args = parser.parse_args()
    reports = [json.loads(path.read_text()) for path in args.reports]
    seeds = ", ".join(str(r["seed"]) for r in reports)
    print(f"{reports[0]['level']} level, seeds {seeds}: mean control L2 (change vs θ_A: mean, range over seeds)\n")
    print(table(reports))
    if "mediapipe" in reports[0]["takes"][next(iter(reports[0]["takes"]))]:
        print("\nθ̂_S against MediaPipe's blendshapes (control L2): " + "; ".join(
            f"{take} {_range([100 * (r['takes'][take]['theta_S_hat']['control_l2'] / r['takes'][take]['mediapipe']['control_l2'] - 1) for r in reports])}"  # noqa: E501
            for take in reports[0]["takes"]))
    first = reports[0]["takes"][next(iter(reports[0]["takes"]))]
    if "network_calibrated" in first:
        print("\nnetwork (calibrated) against θ̂_S (control L2): " + "; ".join(
            f"{take} {_range([100 * (r['takes'][take]['network_calibrated']['control_l2'] / r['takes'][take]['theta_S_hat']['control_l2'] - 1) for r in reports])}"  # noqa: E501
            for take in reports[0]["takes"]))
    flagged = [r["session"]["flagged"] for r in reports]
    captures = [r["session"]["captures"] for r in reports]
    print(f"flagged captures: {min(flagged)}–{max(flagged)} of {max(captures)} "
          f"(mean {100 * np.mean(np.divide(flagged, captures)):.0f} %)")
    seconds = [r["seconds"]["calibrate_s"] + r["seconds"]["finetune_s"] for r in reports]
    total = [r["seconds"]["total_s"] for r in reports]
    print(f"calibrate + fine-tune: {min(seconds):.0f}–{max(seconds):.0f} s; whole study {min(total):.0f}–{max(total):.0f} s")


def _range(values: list[float]) -> str:
    return f"{np.mean(values):+.0f} % ({min(values):+.0f} … {max(values):+.0f})"


if __name__ == "__main__":
    main()
