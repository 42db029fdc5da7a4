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


def held_pose_curves(
    poses: np.ndarray,
    fps: float = 30.0,
    *,
    neutral_lead_s: float = 1.5,
    ease_s: float = 0.35,
    hold_s: float = 1.0,
    gap_s: float = 0.4,
) -> tuple[np.ndarray, np.ndarray]:
    """A take of poses, each eased in from neutral, held and eased back out: the held-pose take of a study.

    Parameters
    ----------
    poses : np.ndarray
        Poses, shape ``(E, K)``, in [0, 1].
    fps : float
        Frames per second.
    neutral_lead_s, ease_s, hold_s, gap_s : float
        Seconds of neutral at the start, of each ease (in and out), of each hold, and of neutral between poses.

    Returns
    -------
    curves : np.ndarray
        Controls, shape ``(T, K)``, float32.
    pose_of_frame : np.ndarray
        Shape ``(T,)``, int: the pose each frame is on its way to, in or back from (−1 for the neutral lead).
    """
    poses = np.asarray(poses, np.float64)
    if poses.ndim != 2 or fps <= 0 or min(ease_s, hold_s) <= 0 or neutral_lead_s < 1.0 or gap_s < 0:
        raise ValueError("poses must be (E, K), fps, ease_s and hold_s positive, neutral_lead_s at least 1 s")
    ease = max(1, round(ease_s * fps))
    weights = np.concatenate([
        _ease(np.arange(1, ease + 1) / ease), np.ones(round(hold_s * fps)), _ease(1.0 - np.arange(1, ease + 1) / ease),
        np.zeros(round(gap_s * fps)),
    ])  # fmt: skip
    lead = round(neutral_lead_s * fps)
    curves = [np.zeros((lead, poses.shape[1]))] + [weights[:, None] * pose for pose in poses]
    owner = [np.full(lead, -1)] + [np.full(len(weights), index) for index in range(len(poses))]
    return np.concatenate(curves).astype(np.float32), np.concatenate(owner)


#: Viseme shapes of ICT's controls for :func:`speech_like_curves` (the ones a rig lacks are left out).
VISEMES: dict[str, dict[str, float]] = {
    "AA": {"jawOpen": 0.45, "mouthLowerDown_L": 0.25, "mouthLowerDown_R": 0.25},
    "EE": {"jawOpen": 0.15, "mouthStretch_L": 0.35, "mouthStretch_R": 0.35, "mouthSmile_L": 0.15, "mouthSmile_R": 0.15},
    "OO": {"jawOpen": 0.15, "mouthPucker": 0.55, "mouthFunnel": 0.3},
    "FV": {"mouthRollLower": 0.45, "mouthUpperUp_L": 0.2, "mouthUpperUp_R": 0.2},
    "MBP": {"mouthPress_L": 0.35, "mouthPress_R": 0.35, "mouthRollUpper": 0.15},
    "CH": {"jawOpen": 0.12, "mouthFunnel": 0.35, "mouthShrugUpper": 0.2},
    "ER": {"jawOpen": 0.2, "mouthFunnel": 0.15, "mouthUpperUp_L": 0.15, "mouthUpperUp_R": 0.15},
}  # fmt: skip


def speech_like_curves(
    rig_control_names: Sequence[str],
    num_frames: int,
    fps: float = 30.0,
    seed: int = 0,
    *,
    neutral_lead_s: float = 1.5,
) -> np.ndarray:
    """A speech-like take: phrases of visemes with co-articulation, blinks, and brows that mark phrases.

    Phrases of 4–12 syllables (one viseme each, 0.12–0.25 s apart, at 60–100 % of :data:`VISEMES`) are joined by
    a smooth curve through the syllables' keys, so neighbouring visemes blend as in speech; phrases are
    separated by rests of 0.3–0.8 s. Both eyes blink every 2–5 s (0.15 s); at the start of a phrase the brows
    rise a little (inner and outer, 0.15–0.35) about one time in three. The first ``neutral_lead_s`` are neutral.

    Returns
    -------
    np.ndarray
        Controls, shape ``(T, K)``, float32 in [0, 1].
    """
    if num_frames < 0 or fps <= 0 or neutral_lead_s < 1.0:
        raise ValueError("need num_frames >= 0, fps > 0 and neutral_lead_s >= 1 s")
    names = list(rig_control_names)
    index = {name: i for i, name in enumerate(names)}
    rng = np.random.default_rng(seed)
    times = np.arange(num_frames) / fps
    mouth = np.zeros((num_frames, len(names)))
    keys_t, keys_v = [0.0, neutral_lead_s], [np.zeros(len(names)), np.zeros(len(names))]
    brows = np.zeros((num_frames, len(names)))
    t = neutral_lead_s
    end = num_frames / fps
    while t < end:
        syllables = int(rng.integers(4, 13))
        if rng.random() < 0.35:
            _bump(brows, times, t, 0.6, {n: rng.uniform(0.15, 0.35) for n in
                                         ("browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R")}, index)  # fmt: skip
        for _ in range(syllables):
            t += rng.uniform(0.12, 0.25)
            shape = VISEMES[str(rng.choice(list(VISEMES)))]
            key = np.zeros(len(names))
            scale = rng.uniform(0.6, 1.0)
            for name, value in shape.items():
                if name in index:
                    key[index[name]] = scale * value
            keys_t.append(t)
            keys_v.append(key)
        t += rng.uniform(0.15, 0.25)
        keys_t.append(t)
        keys_v.append(np.zeros(len(names)))
        t += rng.uniform(0.3, 0.8)
        keys_t.append(t)
        keys_v.append(np.zeros(len(names)))
    keys_t_arr, keys_v_arr = np.asarray(keys_t), np.stack(keys_v)
    for k in range(len(names)):
        mouth[:, k] = np.interp(times, keys_t_arr, keys_v_arr[:, k])
    width = max(1, round(0.06 * fps))  # co-articulation: the keys blend over ~60 ms either side
    kernel = np.exp(-0.5 * (np.arange(-3 * width, 3 * width + 1) / width) ** 2)
    kernel /= kernel.sum()
    mouth = np.stack([np.convolve(mouth[:, k], kernel, mode="same") for k in range(len(names))], axis=1)
    blinks = np.zeros((num_frames, len(names)))
    t = neutral_lead_s + rng.uniform(0.5, 2.0)
    while t < end:
        _bump(blinks, times, t, 0.15, {"eyeBlink_L": 1.0, "eyeBlink_R": 1.0}, index)
        t += rng.uniform(2.0, 5.0)
    curves = np.clip(mouth + brows + blinks, 0.0, 1.0)
    curves[times < neutral_lead_s] = 0.0
    return curves.astype(np.float32)


def _bump(curves: np.ndarray, times: np.ndarray, start: float, length: float, values: dict[str, float],
          index: dict[str, int]) -> None:  # fmt: skip
    """Add a smooth 0 → value → 0 bump of ``length`` seconds from ``start`` to the named controls."""
    s = (times - start) / length
    shape = np.where((s >= 0) & (s <= 1), np.sin(np.pi * np.clip(s, 0.0, 1.0)) ** 2, 0.0)
    for name, value in values.items():
        if name in index:
            curves[:, index[name]] += value * shape


#: One-sided expressions of ICT's controls for the one-sided take of a study: ``(name, {control: value})``.
ONE_SIDED_POSES: tuple[tuple[str, dict[str, float]], ...] = (
    ("wink_left", {"eyeBlink_L": 1.0}), ("wink_right", {"eyeBlink_R": 1.0}),
    ("half_smile_left", {"mouthSmile_L": 0.7}), ("half_smile_right", {"mouthSmile_R": 0.7}),
    ("brow_up_left", {"browOuterUp_L": 0.8, "browInnerUp_L": 0.4}),
    ("brow_up_right", {"browOuterUp_R": 0.8, "browInnerUp_R": 0.4}),
    ("sneer_left", {"noseSneer_L": 0.7, "mouthUpperUp_L": 0.3}),
    ("sneer_right", {"noseSneer_R": 0.7, "mouthUpperUp_R": 0.3}),
    ("frown_left", {"mouthFrown_L": 0.7}), ("frown_right", {"mouthFrown_R": 0.7}),
    ("squint_left", {"eyeSquint_L": 0.7, "cheekSquint_L": 0.3}),
    ("squint_right", {"eyeSquint_R": 0.7, "cheekSquint_R": 0.3}),
)  # fmt: skip


def one_sided_poses(rig_control_names: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """:data:`ONE_SIDED_POSES` as controls ``(E, K)`` in the rig's order, and their names."""
    index = {name: i for i, name in enumerate(rig_control_names)}
    poses = np.zeros((len(ONE_SIDED_POSES), len(index)), np.float32)
    for row, (_, controls) in enumerate(ONE_SIDED_POSES):
        for name, value in controls.items():
            if name in index:
                poses[row, index[name]] = value
    return poses, tuple(name for name, _ in ONE_SIDED_POSES)
