"""Simon-Says expression sets, evaluation sets, the generator, and capture-quality checks (pure, fast)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from studio.core.capture.expression_sets import (
    EXPRESSION_SETS_DIR,
    ExpressionSetError,
    SimonSaysSet,
    animator_set,
    generate_simon_says_set,
    random_set,
)
from studio.core.capture.quality import (
    QualityFlag,
    assess_capture,
    extraneous_controls,
    factor_out_extraneous,
)
from studio.core.rig.definition import REGIONS, RigDefinition


@pytest.fixture(scope="module")
def ict() -> RigDefinition:
    return RigDefinition.ict()


@pytest.fixture(scope="module")
def default_set() -> SimonSaysSet:
    return SimonSaysSet.ict_default()


@pytest.fixture(scope="module", params=["ict_default", "ict_full"])
def packaged_set(request) -> SimonSaysSet:
    return SimonSaysSet.packaged(request.param)


def _game_rig() -> RigDefinition:
    def control(name, region, role="primary", mirror=None, facs=()):
        return {
            "name": name,
            "arkit": None,
            "region": region,
            "role": role,
            "mirror": mirror,
            "facs": list(facs),
        }

    return RigDefinition.from_dict(
        {
            "format": "simon-says-rig-definition",
            "version": 1,
            "name": "game_character",
            "asset": {"id": "game_character"},
            "units": "cm",
            "num_vertices": 100,
            "controls": [
                control("viseme_AA", "jaw"),
                control("viseme_OO", "mouth"),
                control("viseme_CH", "mouth"),
                control("viseme_MBP", "mouth"),
                control("viseme_FV", "mouth"),
                control("joy", "mouth"),
                control("anger", "brow"),
                control("blink_L", "eye", mirror="blink_R", facs=["AU45"]),
                control("blink_R", "eye", mirror="blink_L", facs=["AU45"]),
                control("lipCornerPull", "mouth", role="tweaker"),
            ],
        }
    )


# -- the default set -----------------------------------------------------------------------------------


def test_default_set_counts(default_set: SimonSaysSet) -> None:
    assert default_set.names[0] == "neutral" and default_set.neutral.is_neutral
    assert len(default_set.symmetric()) == 19
    asymmetric = {e.name for e in default_set.asymmetric()}
    for stem in ("wink", "smile", "sneer", "brow_up"):
        assert {f"{stem}_left", f"{stem}_right"} <= asymmetric
    assert len(default_set) == 1 + 19 + 8
    assert default_set.rig == "ict_facekit"


def test_default_set_covers_the_important_controls(default_set: SimonSaysSet, ict: RigDefinition) -> None:
    lip_seal = default_set.expression("lips_sealed_jaw_open").controls
    assert lip_seal["jawOpen"] > 0 and lip_seal["mouthClose"] == lip_seal["jawOpen"]
    used = {name for e in default_set for name in e.controls}
    missing = {ict.controls[k].name for k in ict.primary_indices()} - used
    assert missing <= {n for n in missing if n.startswith("eyeLook")}  # gaze is tracked, not calibrated


def test_packaged_set_entries_are_valid(packaged_set: SimonSaysSet, ict: RigDefinition) -> None:
    names = set(ict.control_names)
    for e in packaged_set:
        assert set(e.controls) <= names
        assert all(0.0 < v <= 1.0 for v in e.controls.values())
        assert all(m in names or m in REGIONS for m in e.must_not_move)
        assert e.region in REGIONS
        assert e.cue.strip() and len(e.cue) < 200 and "\n" not in e.cue
        assert e.subject
        if not e.is_neutral:
            assert len(packaged_set.must_not_move_indices(e, ict)) > 0
            own = {ict.index_of(n) for n in e.controls}
            assert not own & set(packaged_set.must_not_move_indices(e, ict).tolist())


def test_smile_must_not_move_brows(default_set: SimonSaysSet, ict: RigDefinition) -> None:
    still = {ict.control_names[k] for k in default_set.must_not_move_indices("smile", ict)}
    assert {"browInnerUp_L", "browOuterUp_R", "browDown_L"} <= still


def test_symmetric_expressions_are_their_own_mirror(packaged_set: SimonSaysSet, ict: RigDefinition) -> None:
    m = ict.mirror_indices()
    for e in packaged_set.symmetric():
        v = e.control_vector(ict.control_names)
        np.testing.assert_array_equal(v, v[m], err_msg=e.name)
    for e in packaged_set.asymmetric():
        v = e.control_vector(ict.control_names)
        assert not np.array_equal(v, v[m]), e.name


def test_asymmetric_pairs_are_mirror_images(packaged_set: SimonSaysSet, ict: RigDefinition) -> None:
    m = ict.mirror_indices()
    pairs = packaged_set.mirror_pairs()
    assert len(pairs) == (4 if packaged_set.name == "ict_default" else 7)
    for left, right in pairs:
        vl = packaged_set.control_vector(left, ict.control_names)
        vr = packaged_set.control_vector(right, ict.control_names)
        np.testing.assert_array_equal(vr, vl[m])
        # the left one moves controls of the performer's left (_L, or jawLeft / mouthLeft)
        assert any(n.endswith(("_L", "Left")) for n in packaged_set.expression(left).controls)
        assert not any(n.endswith(("_R", "Right")) for n in packaged_set.expression(left).controls if "Look" not in n)
        assert "left" in packaged_set.expression(left).cue and "right" in packaged_set.expression(right).cue
        still_l = packaged_set.must_not_move_indices(left, ict)
        still_r = packaged_set.must_not_move_indices(right, ict)
        np.testing.assert_array_equal(np.sort(m[still_l]), still_r)


def test_full_set_extends_the_default_and_covers_every_control(
    default_set: SimonSaysSet, ict: RigDefinition
) -> None:
    full = SimonSaysSet.ict_full()
    assert full.names[: len(default_set)] == default_set.names
    assert len(full) == len(default_set) + 12
    assert {name for e in full for name in e.controls} == set(ict.control_names)
    look_left = full.control_vector("look_left", ict.control_names)
    assert look_left[ict.index_of("eyeLookOut_L")] == look_left[ict.index_of("eyeLookIn_R")] == 1.0
    with pytest.raises(ExpressionSetError, match="no packaged expression set 'nope'.*ict_full"):
        SimonSaysSet.packaged("nope")


def test_extends_resolves_relative_paths_and_rejects_cycles(tmp_path: Path) -> None:
    extra = {
        "name": "hum", "label": "Hum", "subject": "hum", "region": "mouth", "symmetric": True,
        "controls": {"mouthClose": 0.5}, "must_not_move": ["brow"], "cue": "Hum with your lips closed.",
    }
    base = json.loads((EXPRESSION_SETS_DIR / "ict_default.json").read_text())
    (tmp_path / "base.json").write_text(json.dumps(base))
    child = {**base, "name": "child", "extends": "base.json", "expressions": [extra]}
    (tmp_path / "child.json").write_text(json.dumps(child))
    loaded = SimonSaysSet.load(tmp_path / "child.json")
    assert loaded.names[-1] == "hum" and loaded.names[0] == "neutral" and len(loaded) == len(base["expressions"]) + 1
    (tmp_path / "base.json").write_text(json.dumps({**base, "extends": "child.json"}))
    with pytest.raises(ExpressionSetError, match="cycle"):
        SimonSaysSet.load(tmp_path / "child.json")
    (tmp_path / "other.json").write_text(json.dumps({**child, "extends": "ict_default", "rig": "game"}))
    with pytest.raises(ExpressionSetError, match="rig 'ict_facekit', not 'game'"):
        SimonSaysSet.load(tmp_path / "other.json", definition=RigDefinition.ict())


def test_control_matrix(default_set: SimonSaysSet, ict: RigDefinition) -> None:
    matrix = default_set.control_matrix(ict.control_names)
    assert matrix.shape == (28, ict.num_controls) and matrix.dtype == np.float32
    assert not matrix[0].any()
    assert matrix[default_set.names.index("jaw_open"), ict.index_of("jawOpen")] == 1.0


def test_save_load_roundtrip(default_set: SimonSaysSet, tmp_path: Path) -> None:
    path = default_set.save(tmp_path / "set.json")
    again = SimonSaysSet.load(path)
    assert again.names == default_set.names
    assert [e.to_dict() for e in again] == [e.to_dict() for e in default_set]
    assert not list(tmp_path.glob(".*.tmp"))


# -- bad files -----------------------------------------------------------------------------------------


def _write_variant(tmp_path: Path, edit) -> Path:
    data = json.loads((EXPRESSION_SETS_DIR / "ict_default.json").read_text())
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (
            lambda d: d["expressions"][3]["controls"].update({"mouthGrin_L": 1.0}),
            "unknown control 'mouthGrin_L'",
        ),
        (lambda d: d["expressions"][3]["controls"].update({"mouthSmile_L": 1.5}), "outside [0, 1]"),
        (lambda d: d["expressions"][3]["controls"].update({"mouthSmile_L": -0.1}), "outside [0, 1]"),
        (
            lambda d: d["expressions"][4].update({"name": d["expressions"][3]["name"]}),
            "duplicate expression name",
        ),
        (lambda d: d["expressions"].pop(0), "first expression must be 'neutral'"),
        (lambda d: d["expressions"].reverse(), "first expression must be 'neutral'"),
        (lambda d: d.update({"format": "something-else"}), "format"),
        (lambda d: d.update({"version": 99}), "unsupported Simon-Says expression set version 99"),
        (lambda d: d["expressions"][2].pop("cue"), "missing field"),
        (lambda d: d["expressions"][2].update({"region": "ear"}), "unknown region"),
        (
            lambda d: d["expressions"][2].update({"must_not_move": ["forehead"]}),
            "must_not_move entry 'forehead'",
        ),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path: Path, edit, needle: str) -> None:
    path = _write_variant(tmp_path, edit)
    with pytest.raises(ExpressionSetError) as info:
        SimonSaysSet.load(path)
    message = str(info.value)
    assert needle in message and "\n" not in message and message.startswith(str(path))


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ExpressionSetError, match="not found"):
        SimonSaysSet.load(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ExpressionSetError, match="not valid JSON"):
        SimonSaysSet.load(broken)


# -- evaluation sets -----------------------------------------------------------------------------------


def test_animator_set(default_set: SimonSaysSet, ict: RigDefinition) -> None:
    poses, names = animator_set(ict.control_names)
    assert poses.shape == (len(names), ict.num_controls) and 13 <= len(names) <= 20
    assert {"happy", "sad", "angry", "surprised", "disgusted", "afraid", "contempt"} <= set(names)
    assert {f"viseme_{v}" for v in ("AA", "OO", "EE", "FV", "MBP", "CH")} <= set(names)
    assert len(set(names)) == len(names)
    assert poses.min() >= 0.0 and poses.max() <= 1.0
    assert (np.count_nonzero(poses, axis=1) >= 3).all()
    simon = default_set.control_matrix(ict.control_names)
    distances = np.abs(poses[:, None, :] - simon[None, :, :]).max(axis=-1)
    assert distances.min() > 0.1  # no animator pose is (nearly) a Simon-Says expression


def test_animator_set_rejects_unknown_controls() -> None:
    with pytest.raises(ExpressionSetError, match="unknown control"):
        animator_set(["jawOpen", "mouthClose"])


def test_random_set(ict: RigDefinition) -> None:
    names = list(ict.control_names)
    poses = random_set(names, 200, seed=3)
    assert poses.shape == (200, ict.num_controls) and poses.dtype == np.float32
    active = np.count_nonzero(poses, axis=1)
    assert active.min() >= 2 and active.max() <= 6
    nonzero = poses[poses > 0]
    assert nonzero.min() >= 0.2 and nonzero.max() <= 1.0
    for a, b in (("jawLeft", "jawRight"), ("mouthLeft", "mouthRight")):
        assert not ((poses[:, names.index(a)] > 0) & (poses[:, names.index(b)] > 0)).any()
    close, jaw = poses[:, names.index("mouthClose")], poses[:, names.index("jawOpen")]
    assert (jaw >= close).all()
    np.testing.assert_array_equal(poses, random_set(names, 200, seed=3))
    assert not np.array_equal(poses, random_set(names, 200, seed=4))


# -- the generator -------------------------------------------------------------------------------------


def _check_generated(generated: SimonSaysSet, definition: RigDefinition) -> None:
    assert generated.names[0] == "neutral"
    assert len(set(generated.names)) == len(generated)
    generated.validate_against(definition)
    m = definition.mirror_indices()
    for e in generated:
        assert e.cue.strip() and len(e.cue) < 200, e.name
        v = e.control_vector(definition.control_names)
        if e.symmetric:
            np.testing.assert_array_equal(v, v[m], err_msg=e.name)


def test_generator_on_ict(ict: RigDefinition, tmp_path: Path) -> None:
    generated = generate_simon_says_set(ict)
    _check_generated(generated, ict)
    used = {name for e in generated for name in e.controls}
    assert used == set(ict.control_names)  # every control is exercised, tweakers grouped
    assert generated.expression("lip_seal").controls == {"jawOpen": 1.0, "mouthClose": 1.0}
    assert generated.expression("look_left").controls == {"eyeLookOut_L": 1.0, "eyeLookIn_R": 1.0}
    assert "mouthClose" not in {n for e in generated for n in e.controls if len(e.controls) == 1}
    assert set(generated.expression("mouth_roll").controls) == {"mouthRollLower", "mouthRollUpper"}
    assert "left eye" in generated.expression("eye_blink_left").cue
    assert "brow" in generated.expression("mouth_smile").must_not_move
    assert len(generated.mirror_pairs()) > 5
    assert SimonSaysSet.load(generated.save(tmp_path / "g.json")).names == generated.names

    primaries_only = generate_simon_says_set(ict, include_tweakers=False, one_sided=False)
    _check_generated(primaries_only, ict)
    tweakers = {ict.controls[k].name for k in ict.tweaker_indices()}
    assert not tweakers & {n for e in primaries_only for n in e.controls}
    assert all(e.symmetric or e.name in ("look_left", "look_right") for e in primaries_only)


def test_generator_on_a_game_rig(tmp_path: Path) -> None:
    game = _game_rig()
    generated = generate_simon_says_set(game)
    _check_generated(generated, game)
    by_control = {next(iter(e.controls)): e for e in generated if len(e.controls) == 1}
    assert "'ah'" in by_control["viseme_AA"].cue
    assert "'ooh'" in by_control["viseme_OO"].cue
    assert "'b'" in by_control["viseme_MBP"].cue
    assert "'f'" in by_control["viseme_FV"].cue
    assert "'ch'" in by_control["viseme_CH"].cue
    assert "smile" in by_control["joy"].cue and "angry" in by_control["anger"].cue.lower()
    assert "left eye" in by_control["blink_L"].cue and not by_control["blink_L"].symmetric
    assert "lip corner pull" in by_control["lipCornerPull"].cue  # generic template for unknown names
    assert generated.expression("blink").controls == {"blink_L": 1.0, "blink_R": 1.0}
    with pytest.raises(ExpressionSetError, match="no packaged definition"):
        SimonSaysSet.load(generated.save(tmp_path / "game.json"))
    assert SimonSaysSet.load(tmp_path / "game.json", definition=game).names == generated.names


# -- capture quality -----------------------------------------------------------------------------------


def test_barely_moving_capture_is_flagged(default_set: SimonSaysSet, ict: RigDefinition) -> None:
    smile = default_set.expression("smile")
    solved = smile.control_vector(ict.control_names) * 0.1
    flags = assess_capture(smile, solved, np.full(478, 0.4), ict.control_names, ict)
    assert [f.code for f in flags] == ["barely_moved"]
    assert flags[0].message == "We could barely see a change. Try a bigger smile."
    assert flags[0].severity == "error"
    good = assess_capture(
        smile, smile.control_vector(ict.control_names), np.full((478, 3), 2.0), ict.control_names, ict
    )
    assert good == []


def test_brows_rising_during_smile_are_flagged(default_set: SimonSaysSet, ict: RigDefinition) -> None:
    smile = default_set.expression("smile")
    solved = smile.control_vector(ict.control_names).astype(np.float64)
    solved[ict.index_of("browInnerUp_L")] = 0.4
    solved[ict.index_of("browOuterUp_R")] = 0.5
    solved[ict.index_of("eyeSquint_L")] = 0.6  # not forbidden for a smile: no flag
    flags = assess_capture(smile, solved, np.full(478, 5.0), ict.control_names, ict)
    assert len(flags) == 1
    flag = flags[0]
    assert isinstance(flag, QualityFlag) and flag.code == "moved_forbidden"
    assert flag.message == "Your eyebrows moved during the smile. Try to keep your forehead relaxed."
    assert set(flag.controls) == {"browInnerUp_L", "browOuterUp_R"}


def test_a_yardstick_judges_against_what_mediapipe_shows(default_set: SimonSaysSet, ict: RigDefinition) -> None:
    from studio.core.capture.quality import Yardstick

    smile = default_set.expression("smile")
    left, right = ict.index_of("mouthSmile_L"), ict.index_of("mouthSmile_R")
    brow = ict.index_of("browInnerUp_L")
    expected = np.zeros(ict.num_controls)
    expected[[left, right]] = 0.5  # MediaPipe shows half of a smile
    baseline = np.zeros(ict.num_controls)
    baseline[brow] = 0.2  # and a little inner brow on every capture of this face
    yardstick = Yardstick(expected, 8.0, baseline, np.full(ict.num_controls, 0.8))
    obeyed = np.zeros(ict.num_controls)
    obeyed[[left, right]] = 0.35
    obeyed[brow] = 0.4
    assert assess_capture(smile, obeyed, np.full(478, 5.0), ict.control_names, ict) != []  # against the rig
    assert assess_capture(smile, obeyed, np.full(478, 5.0), ict.control_names, ict, yardstick=yardstick) == []
    polluted = obeyed.copy()
    polluted[brow] = 0.8
    flags = assess_capture(smile, polluted, np.full(478, 5.0), ict.control_names, ict, yardstick=yardstick)
    assert [f.code for f in flags] == ["moved_forbidden"] and flags[0].controls == ("browInnerUp_L",)
    faint = obeyed.copy()
    faint[[left, right]] = 0.1
    flags = assess_capture(smile, faint, np.full(478, 5.0), ict.control_names, ict, yardstick=yardstick)
    assert [f.code for f in flags] == ["weak_target"]
    # MediaPipe's view too faint to judge: no weak flag, and no "barely moved" when it moved over half of it
    unseen = Yardstick(np.zeros(ict.num_controls), 2.0, baseline, np.ones(ict.num_controls))
    assert assess_capture(smile, faint, np.full(478, 1.2), ict.control_names, ict, yardstick=unseen) == []
    flags = assess_capture(smile, faint, np.full(478, 1.2), ict.control_names, ict)
    assert [f.code for f in flags] == ["barely_moved", "moved_forbidden"]  # judged against the rig


def test_other_side_and_weak_target_flags(default_set: SimonSaysSet, ict: RigDefinition) -> None:
    wink = default_set.expression("wink_left")
    solved = np.zeros(ict.num_controls)
    solved[ict.index_of("eyeBlink_L")] = 0.9
    solved[ict.index_of("eyeBlink_R")] = 0.7
    flags = assess_capture(wink, solved, np.full(478, 3.0), ict.control_names, ict)
    assert [f.code for f in flags] == ["moved_forbidden"]
    assert "right side" in flags[0].message and flags[0].controls == ("eyeBlink_R",)

    weak = np.zeros(ict.num_controls)
    weak[ict.index_of("eyeBlink_L")] = 0.2
    flags = assess_capture(wink, weak, np.full(478, 3.0), ict.control_names, ict)
    assert [f.code for f in flags] == ["weak_target"] and flags[0].controls == ("eyeBlink_L",)

    tense = np.zeros(ict.num_controls)
    tense[ict.index_of("browDown_L")] = 0.5
    flags = assess_capture(default_set.neutral, tense, np.zeros(478), ict.control_names, ict)
    assert [f.code for f in flags] == ["not_neutral"]


def test_factor_out_extraneous_removes_injected_brow_motion(
    default_set: SimonSaysSet, ict: RigDefinition
) -> None:
    rng = np.random.default_rng(0)
    k, n = ict.num_controls, 60
    deltas = rng.normal(size=(k, n, 3))
    smile = default_set.expression("smile")
    clean = np.einsum("k,knc->nc", smile.control_vector(ict.control_names).astype(np.float64), deltas)
    solved = smile.control_vector(ict.control_names).astype(np.float64)
    solved[ict.index_of("browInnerUp_L")] = 0.35
    solved[ict.index_of("browInnerUp_R")] = 0.3
    polluted = clean + np.einsum("k,knc->nc", solved - smile.control_vector(ict.control_names), deltas)
    extraneous = extraneous_controls(smile, solved, ict)
    assert np.count_nonzero(extraneous) == 2
    np.testing.assert_allclose(factor_out_extraneous(polluted, extraneous, deltas), clean, atol=1e-12)
    with pytest.raises(ValueError, match="delta_points"):
        factor_out_extraneous(polluted, extraneous, deltas[:, :10])
