"""Retarget targets: other identities, the stylized toon, the game rig; retargeting curves."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from studio.core.capture.expression_sets import must_not_move_indices
from studio.core.io.curves import TakeCurves, TakeFileError
from studio.core.retarget.targets import (
    KINDS,
    TARGETS_DIR,
    FeatureMorph,
    TargetError,
    VolumetricMorph,
    available_targets,
    load_target,
)
from studio.core.rig.definition import RigDefinition
from studio.core.rig.rig import RigParameters


@pytest.fixture(scope="module")
def definition():
    return RigDefinition.ict()


@pytest.fixture(scope="module")
def targets(ict_rig):
    return {name: load_target(name, ict_rig) for name in ("alex", "sam", "toon", "rook")}


def _pose(names, controls):
    vector = np.zeros(len(names), np.float32)
    for name, value in controls.items():
        vector[names.index(name)] = value
    return vector


def test_every_kind_of_target_is_packaged():
    infos = available_targets()
    assert {info.kind for info in infos} == set(KINDS)
    assert [info.kind for info in infos] == sorted((info.kind for info in infos), key=KINDS.index)
    game = next(info for info in infos if info.kind == "game")
    assert game.num_controls is not None and game.num_controls < 53


def test_identity_targets_are_other_people_with_ict_controls(targets, ict_rig):
    alex, sam = targets["alex"], targets["sam"]
    for target in (alex, sam):
        assert target.control_names == ict_rig.expression_names
        offset = np.linalg.norm(target.rig.neutral - ict_rig.neutral, axis=1)
        assert np.median(offset[ict_rig.group_vertices("face")]) > 0.1  # cm: another face
        np.testing.assert_array_equal(target.rig.expression_deltas, ict_rig.expression_deltas)
    assert np.abs(alex.rig.neutral - sam.rig.neutral).max() > 0.3
    controls = np.random.default_rng(0).uniform(0, 1, (5, 53)).astype(np.float32)
    np.testing.assert_allclose(alex.retarget(controls), controls, atol=1e-6)


def test_identity_target_with_its_own_calibration(tmp_path, ict_rig):
    theta = RigParameters(ict_rig.expression_names, ict_rig.expression_deltas * 1.2, {"stage": "theta_S"})
    theta.save(tmp_path / "theta_S.npz")
    data = json.loads((TARGETS_DIR / "alex.json").read_text())
    data["rig_parameters"] = "theta_S.npz"
    (tmp_path / "alex_calibrated.json").write_text(json.dumps(data))
    target = load_target(tmp_path / "alex_calibrated.json", ict_rig)
    np.testing.assert_allclose(target.rig.expression_deltas, ict_rig.expression_deltas * 1.2, rtol=1e-6)
    assert target.metadata["rig_parameters"].endswith("theta_S.npz")


def test_the_toon_morph_is_smooth_and_stylizes(targets, ict_rig):
    toon = targets["toon"]
    determinant = toon.morph.jacobian_determinant(ict_rig.neutral)
    assert determinant.min() > 0.2  # the warp never folds the mesh
    # no triangle of the face turns over
    def normals(vertices):
        a, b, c = (vertices[ict_rig.triangles[:, i]] for i in range(3))
        return np.cross(b - a, c - a)

    face = np.isin(ict_rig.triangles, ict_rig.group_vertices("face")).all(axis=1)
    assert ((normals(ict_rig.neutral) * normals(toon.rig.neutral)).sum(axis=1)[face] > 0).all()

    def width(rig, group):
        points = rig.neutral[rig.group_vertices(group)]
        return np.ptp(points[:, 0])

    assert width(toon.rig, "eyeball_left") / width(ict_rig, "eyeball_left") > 1.3  # larger eyes
    assert np.ptp(toon.rig.neutral[:, 1]) > np.ptp(ict_rig.neutral[:, 1])  # larger head
    chin, mouth = ict_rig.landmarks_multipie68[8], ict_rig.landmarks_multipie68[57]
    def chin_length(vertices):
        return np.linalg.norm(vertices[chin] - vertices[mouth])
    assert chin_length(toon.rig.neutral) < 0.9 * chin_length(ict_rig.neutral)  # smaller chin


@pytest.mark.parametrize("name", ["toon", "rook"])
def test_carried_shapes_keep_lips_and_eyelids_closed(targets, ict_rig, definition, name):
    target = targets[name]
    assert target.definition.constraints, "the target keeps ICT's corrective constraints"
    for constraint in target.definition.constraints:
        gaps = constraint.gaps(target.rig.evaluate(constraint.control_vector(target.control_names)))
        source = definition.constraint(constraint.name)
        reference = source.gaps(ict_rig.evaluate(source.control_vector(definition.control_names)))
        opened = constraint.gaps(target.rig.evaluate(constraint.reference_vector(target.control_names)))
        # within the local scale of the morph (eyes 1.55×) of ICT's own residual, and far below open
        assert gaps.mean() < 1.6 * reference.mean() + 0.01, constraint.name
        assert gaps.mean() < 0.25 * opened.mean(), constraint.name


def test_without_the_corrective_base_the_toon_lips_would_not_seal(targets, ict_rig, definition):
    toon = targets["toon"]
    naive = toon.morph.morph_rig(ict_rig, "naive")  # every shape carried from the neutral
    constraint = definition.constraint("lip_seal")
    pose = constraint.control_vector(definition.control_names)
    assert constraint.gaps(toon.rig.evaluate(pose)).mean() < constraint.gaps(naive.evaluate(pose)).mean() - 0.02


def test_a_folding_morph_is_detected(ict_rig):
    folding = VolumetricMorph.from_features([FeatureMorph("too much", "group:eyeball_left", scale=(4, 4, 4),
                                                          radius_cm=1.0)], ict_rig)  # fmt: skip
    assert folding.jacobian_determinant(ict_rig.neutral).min() < 0


def test_stylized_gains_exaggerate_and_keep_seals_together(targets, definition):
    toon = targets["toon"]
    names = definition.control_names
    controls = _pose(names, {"browInnerUp_L": 0.4, "mouthSmile_L": 0.9, "jawOpen": 0.5, "mouthClose": 0.5})
    out = toon.retarget(controls)
    assert out[names.index("browInnerUp_L")] == pytest.approx(0.4 * 1.5)
    assert out[names.index("mouthSmile_L")] == 1.0  # clipped
    # jaw (1.2) and mouth (1.3) gains differ, the lip seal's controls share the smaller one
    assert out[names.index("jawOpen")] == pytest.approx(out[names.index("mouthClose")])
    assert np.isnan(toon.retarget(np.full((2, 53), np.nan))).all()


def test_game_rig_recovers_its_own_controls_from_ict_poses(targets):
    rook = targets["rook"]
    weights = rook.shape_weights
    assert weights.shape == (len(rook.control_names), 53)
    # each game control's own ICT pose maps back to that control alone
    poses = np.clip(np.eye(len(rook.control_names)) @ weights, 0, 1)
    recovered = rook.retarget(poses)
    np.testing.assert_allclose(np.diag(recovered), 1.0, atol=0.02)
    off_diagonal = recovered - np.diag(np.diag(recovered))
    assert np.abs(off_diagonal).max() < 0.05
    # a sparse mix of game controls survives the round trip
    rng = np.random.default_rng(3)
    mix = np.zeros((20, len(rook.control_names)))
    for row in mix:
        row[rng.choice(len(row), 2, replace=False)] = rng.uniform(0.2, 0.6, 2)
    np.testing.assert_allclose(rook.retarget(np.clip(mix @ weights, 0, 1)), mix, atol=0.05)


def test_game_rig_maps_other_ict_expressions_sensibly(targets, definition):
    rook = targets["rook"]
    names, game = definition.control_names, rook.control_names
    smile = rook.retarget(_pose(names, {"mouthSmile_L": 0.8, "mouthSmile_R": 0.8}))
    assert game[int(np.argmax(smile))] == "joy"
    jaw = rook.retarget(_pose(names, {"jawOpen": 0.7}))
    assert game[int(np.argmax(jaw))] == "AA"
    blink = rook.retarget(_pose(names, {"eyeBlink_L": 1.0}))
    assert blink[game.index("blink_L")] > 0.95 and blink[game.index("blink_R")] < 0.05
    # ARKit weights go through the game shapes
    arkit = rook.arkit(np.eye(len(game))[game.index("blink_L")])
    assert arkit.shape == (52,) and arkit.max() == pytest.approx(1.0) and np.count_nonzero(arkit) == 1


def test_game_rig_on_the_performer_and_its_simon_says_set(targets, ict_rig):
    rook = targets["rook"]
    performer = ict_rig.with_identity(np.r_[np.full(5, 1.0), np.zeros(95)])
    on_performer = rook.performer_rig(performer)
    assert on_performer.expression_names == rook.control_names
    np.testing.assert_array_equal(on_performer.neutral, performer.neutral)
    aa = rook.control_names.index("AA")
    expected = np.tensordot(rook.shape_weights[aa], performer.expression_deltas, axes=1)
    np.testing.assert_allclose(on_performer.expression_deltas[aa], expected, atol=1e-5)

    expression_set = rook.simon_says_set()
    expression_set.validate_against(rook.definition)
    by_controls = {tuple(sorted(e.controls)): e for e in expression_set}
    for name in ("AA", "OO", "CH", "MBP", "FV", "joy", "anger", "sadness", "surprise", "disgust"):
        assert (name,) in by_controls, name
    assert ("blink_L",) in by_controls and ("blink_L", "blink_R") in by_controls
    assert "'ooh'" in by_controls[("OO",)].cue
    # an emotion is never told to keep still a region its own shape moves
    surprise = by_controls[("surprise",)]
    assert "jaw" not in surprise.must_not_move
    assert len(must_not_move_indices(by_controls[("AA",)], rook.definition)) > 0


def test_a_game_target_cannot_use_a_performer_rig_with_other_controls(targets, ict_rig):
    with pytest.raises(TargetError, match="ICT's controls"):
        targets["alex"].performer_rig(ict_rig)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(kind="puppet"), "kind must be one of"),
        (lambda d: d.pop("label"), "missing field"),
        (lambda d: d.update(colour="red"), "unknown field"),
        (lambda d: d["controls"][0]["shape"].update(jawClench=0.5), "unknown ICT control 'jawClench'"),
        (lambda d: d["morph"][0].update(anchor="group:tail"), "anchor 'group:tail'"),
        (lambda d: d["morph"][0].update(radius_cm=-1), "radius_cm must be positive"),
        (lambda d: d.update(format="something-else"), "not a retarget target"),
    ],
)
def test_bad_target_files_fail_with_one_line(tmp_path, ict_rig, edit, message):
    data = json.loads((TARGETS_DIR / "rook.json").read_text())
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(TargetError, match=message) as error:
        load_target(path, ict_rig)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_unknown_target_names_the_packaged_ones(ict_rig):
    with pytest.raises(TargetError, match="packaged targets: alex"):
        load_target("nobody", ict_rig)


# -- curves --------------------------------------------------------------------------------------------


def _write_curves(path, definition, frames=6, order=None):
    names = definition.control_names if order is None else order
    values = np.random.default_rng(1).uniform(0, 0.5, (frames, len(names))).astype(np.float32)
    found = np.ones(frames, bool)
    found[2] = False
    values[2] = np.nan
    TakeCurves(tuple(names), np.arange(frames) / 30.0, found, values).write_csv(path)
    return values


def test_retargeting_curves_reads_columns_by_name(tmp_path, targets, definition):
    from studio.core.retarget.curves import read_source_curves, retarget_curves

    shuffled = list(definition.control_names)[::-1]
    values = _write_curves(tmp_path / "take.csv", definition, order=shuffled)
    curves = read_source_curves(tmp_path / "take.csv")
    assert curves.control_names == definition.control_names
    np.testing.assert_allclose(curves.values[0], values[0][::-1], atol=1e-6)
    out = retarget_curves(curves, targets["rook"])
    assert out.control_names == targets["rook"].control_names and out.num_frames == 6
    assert not out.face_found[2] and np.isnan(out.values[2]).all()
    assert np.isfinite(out.values[[0, 1, 3, 4, 5]]).all()


def test_bad_curves_name_line_and_column(tmp_path, definition):
    from studio.core.retarget.curves import read_source_curves

    path = tmp_path / "take.csv"
    _write_curves(path, definition)
    text = path.read_text().splitlines()
    cases = {
        "unknown": ([text[0].replace("jawOpen", "jawOpenn"), *text[1:]], "line 1, column jawOpenn"),
        "missing": ([",".join(text[0].split(",")[:-1]), *(",".join(t.split(",")[:-1]) for t in text[1:])],
                    "missing control column"),
        "nan": ([*text[:2], text[2].replace(text[2].split(",")[5], "nan", 1), *text[3:]], "line 3, column"),
        "time": ([*text[:3], text[3].replace(text[3].split(",")[1], "0.0", 1), *text[4:]], "line 4, column time_s"),
        "short row": ([*text[:4], ",".join(text[4].split(",")[:-3]), *text[5:]], "line 5"),
        "range": ([*text[:2], text[2].replace(text[2].split(",")[6], "1.5", 1), *text[3:]], "outside"),
    }
    for case, (lines, message) in cases.items():
        bad = tmp_path / f"{case.replace(' ', '_')}.csv"
        bad.write_text("\n".join(lines) + "\n")
        with pytest.raises(TakeFileError, match=message) as error:
            read_source_curves(bad)
        assert "\n" not in str(error.value), case


@pytest.mark.gl
def test_a_session_performer_is_a_target_with_their_calibration(tmp_path, record_synthetic_session, ict_rig):
    from studio.core.session.calibrate import calibrate_session
    from studio.core.session.targets import open_target

    folder = tmp_path / "performer"
    record_synthetic_session(folder, 4, ["jaw_open", "smile"])
    before = open_target(f"session:{folder}", ict_rig)
    assert "rig_parameters" not in before.metadata
    # the fitted identity is the synthetic performer's, not ICT's average face
    assert np.abs(before.rig.neutral - ict_rig.neutral).max() > 0.1
    calibrate_session(folder)
    after = open_target(f"session:{folder}", ict_rig)
    theta = RigParameters.load(folder / "calibration" / "theta_S.npz")
    np.testing.assert_allclose(after.rig.expression_deltas, theta.expression_deltas)
    shutil.rmtree(folder / "neutral")
    with pytest.raises((TargetError, ValueError)):
        open_target(f"session:{folder}", ict_rig)
