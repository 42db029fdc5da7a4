"""Control curves for synthetic performances: held expressions with smooth transitions through neutral.

A control curve array has shape ``(T, K)``: ``T`` frames at a frame rate ``fps``, ``K`` expression
controls in [0, 1] in the rig's control order. The generators here are seeded and deterministic; they feed
:class:`studio.render.synthetic_performer.SyntheticPerformerSource` and tracker tests with ground truth.

Mirror pairs are found from control names: ``xxx_L``/``xxx_R`` (ICT) and ``xxxLeft``/``xxxRight`` (ARKit)
where ``xxx`` is at least two words (``eyeBlink``); ``jawLeft``/``jawRight`` and ``mouthLeft``/``mouthRight``
move one way or the other, so they are opposites, never used together.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from studio.core.rig.definition import control_side


def _side_of(name: str) -> tuple[str, str] | None:
    """``(base, "L"|"R")`` for a sided control name, else ``None``."""
    sided = control_side(name)
    return None if sided is None else (sided[0], "L" if sided[1] == "left" else "R")


def _is_one_word(base: str) -> bool:
    return not re.search(r"[A-Z_]", base)


def control_units(control_names: Sequence[str]) -> tuple[list[tuple[int, ...]], list[str | None]]:
    """Group controls into units that an expression picks: mirror pairs and single controls.

    Parameters
    ----------
    control_names : sequence of str
        The rig's control names, length ``K``.

    Returns
    -------
    units : list of tuple of int
        Control indices of each unit: ``(left, right)`` for a mirror pair, ``(k,)`` for a single control.
    exclusive : list of str or None
        Per unit, a key shared with the units it must not be combined with (``jaw`` for ``jawLeft`` and
        ``jawRight``, ``eyeLook`` for all gaze controls), or ``None``.
    """
    names = list(control_names)
    index = {name: k for k, name in enumerate(names)}
    units: list[tuple[int, ...]] = []
    exclusive: list[str | None] = []
    taken: set[int] = set()
    for k, name in enumerate(names):
        if k in taken:
            continue
        sided = _side_of(name)
        key = "eyeLook" if name.startswith("eyeLook") else None
        if sided is not None and not name.endswith(("_L", "_R")) and _is_one_word(sided[0]):
            # jawLeft / mouthRight: a direction of motion, not a side of the face
            units.append((k,))
            exclusive.append(sided[0])
            taken.add(k)
            continue
        if sided is not None:
            base, side = sided
            suffix = name[len(base) :]
            other_suffix = {"_L": "_R", "_R": "_L", "Left": "Right", "Right": "Left"}[suffix]
            partner = index.get(base + other_suffix)
            if partner is not None and partner not in taken:
                left, right = (k, partner) if side == "L" else (partner, k)
                units.append((left, right))
                exclusive.append(key)
                taken.update((k, partner))
                continue
        units.append((k,))
        exclusive.append(key)
        taken.add(k)
    return units, exclusive


def _ease(s: np.ndarray) -> np.ndarray:
    """Cosine ease from 0 to 1 for ``s`` in [0, 1] (zero slope at both ends)."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(s, 0.0, 1.0))


def _random_expression(
    rng: np.random.Generator,
    num_controls: int,
    units: list[tuple[int, ...]],
    exclusive: list[str | None],
    min_value: float,
    max_value: float,
) -> np.ndarray:
    """One expression: 2–4 controls (mirror pairs usually both sides) at ``min_value``..``max_value``."""
    expression = np.zeros(num_controls, np.float64)
    target = min(int(rng.integers(2, 5)), num_controls)
    used_keys: set[str] = set()
    count = 0
    for u in rng.permutation(len(units)):
        if count >= target:
            break
        key = exclusive[u]
        if key is not None and key in used_keys:
            continue
        value = rng.uniform(min_value, max_value)
        unit = units[u]
        if len(unit) == 2 and count + 2 <= target and rng.random() < 0.7:
            expression[unit[0]] = value  # mirror pair together, the sides nearly equal
            expression[unit[1]] = value * rng.uniform(0.85, 1.0)
            count += 2
        else:
            expression[unit[int(rng.integers(len(unit)))]] = value
            count += 1
        if key is not None:
            used_keys.add(key)
    return expression


def moderate_expression_curves(
    rig_control_names: Sequence[str],
    num_frames: int,
    fps: float = 30.0,
    seed: int = 0,
    max_value: float = 0.6,
    *,
    min_value: float = 0.2,
    neutral_lead_s: float = 1.5,
    hold_s: tuple[float, float] = (0.8, 1.6),
    transition_s: tuple[float, float] = (0.25, 0.5),
    gap_s: tuple[float, float] = (0.4, 1.0),
) -> np.ndarray:
    """A performance of moderate held expressions, each reached from and left back to neutral.

    The timeline is: neutral for ``neutral_lead_s`` (the performer's neutral), then repeatedly an
    eased transition into a random expression, a hold, an eased transition back, and a neutral gap,
    until ``num_frames`` frames are filled (the last expression may be cut off). Each expression sets 2–4
    controls to values in ``[min_value, max_value]``; a mirror pair usually moves both sides together.

    Parameters
    ----------
    rig_control_names : sequence of str
        Control names in rig order, length ``K`` (mirror pairs are found from them, see the module notes).
    num_frames : int
        ``T``, number of frames.
    fps : float
        Frames per second; segment durations are given in seconds.
    seed : int
        Seed of the random choices (same seed, same curves).
    max_value, min_value : float
        Range of a moved control's held value, ``0 < min_value <= max_value <= 1``.
    neutral_lead_s : float
        Neutral at the start, seconds (at least 1 s so a performer neutral can be captured).
    hold_s, transition_s, gap_s : tuple of float
        ``(shortest, longest)`` seconds of each expression's hold, of each transition (in and out), and of
        the neutral gap between expressions.

    Returns
    -------
    np.ndarray
        Controls, shape ``(T, K)``, float32 in [0, ``max_value``].
    """
    num_controls = len(rig_control_names)
    if num_frames < 0 or num_controls == 0:
        raise ValueError(
            f"need num_frames >= 0 and at least one control, got {num_frames} and {num_controls}"
        )
    if not 0.0 < min_value <= max_value <= 1.0:
        raise ValueError(f"need 0 < min_value <= max_value <= 1, got {min_value} and {max_value}")
    if neutral_lead_s < 1.0:
        raise ValueError(
            f"neutral_lead_s must be at least 1 s for the performer neutral, got {neutral_lead_s}"
        )
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    rng = np.random.default_rng(seed)
    units, exclusive = control_units(rig_control_names)
    curves = np.zeros((num_frames, num_controls), np.float64)

    def frames(seconds: tuple[float, float]) -> int:
        return max(1, round(rng.uniform(*seconds) * fps))

    start = round(neutral_lead_s * fps)
    while start < num_frames:
        expression = _random_expression(rng, num_controls, units, exclusive, min_value, max_value)
        ramp_in, hold, ramp_out, gap = (
            frames(transition_s),
            frames(hold_s),
            frames(transition_s),
            frames(gap_s),
        )
        weights = np.concatenate(
            [
                _ease(np.arange(1, ramp_in + 1) / ramp_in),
                np.ones(hold),
                _ease(1.0 - np.arange(1, ramp_out + 1) / ramp_out),
                np.zeros(gap),
            ]
        )
        stop = min(start + len(weights), num_frames)
        curves[start:stop] = weights[: stop - start, None] * expression
        start += len(weights)
    return curves.astype(np.float32)


def neutral_then(
    curves: np.ndarray, fps: float = 30.0, neutral_s: float = 1.0, blend_s: float = 0.5
) -> np.ndarray:
    """Prepend a neutral hold and an eased blend into the first frame of ``curves``.

    Parameters
    ----------
    curves : np.ndarray
        Controls, shape ``(T, K)``.
    fps : float
        Frames per second.
    neutral_s : float
        Seconds of all-zero controls at the start.
    blend_s : float
        Seconds of the eased transition from neutral to ``curves[0]`` (0 for a cut).

    Returns
    -------
    np.ndarray
        Shape ``(N + B + T, K)``, float32, with ``N = round(neutral_s · fps)`` neutral frames and
        ``B = round(blend_s · fps)`` blend frames before ``curves``.
    """
    curves = np.asarray(curves, np.float32)
    if curves.ndim != 2:
        raise ValueError(f"curves must have shape (T, K), got {curves.shape}")
    if curves.shape[0] == 0:
        raise ValueError("curves must have at least one frame")
    neutral = np.zeros((round(neutral_s * fps), curves.shape[1]), np.float32)
    blend_frames = round(blend_s * fps)
    blend = _ease(np.arange(1, blend_frames + 1) / (blend_frames + 1))[:, None] * curves[0]
    return np.concatenate([neutral, blend.astype(np.float32), curves])
