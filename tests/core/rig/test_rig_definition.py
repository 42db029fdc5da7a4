"""The ICT rig definition (studio/resources/rigs/ict_facekit.json) and its loader.

Tests that need the rig itself read ``ict_facekit.npz`` from ``STUDIO_ASSETS_DIR`` and skip without it.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from studio.core.io.arkit import ARKIT_BLENDSHAPE_NAMES
from studio.core.io.resources import RIGS_DIR
from studio.core.rig.definition import (
    REGIONS,
    ROLES,
    RigDefinition,
    RigDefinitionError,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
ICT_JSON = RIGS_DIR / "ict_facekit.json"

# GUIDE.md §4, typed out again here so that the test does not trust the module's own copy.
ARKIT_52 = """
eyeBlinkLeft eyeLookDownLeft eyeLookInLeft eyeLookOutLeft eyeLookUpLeft eyeSquintLeft eyeWideLeft
eyeBlinkRight eyeLookDownRight eyeLookInRight eyeLookOutRight eyeLookUpRight eyeSquintRight
eyeWideRight jawForward jawLeft jawRight jawOpen mouthClose mouthFunnel mouthPucker mouthLeft
mouthRight mouthSmileLeft mouthSmileRight mouthFrownLeft mouthFrownRight mouthDimpleLeft
mouthDimpleRight mouthStretchLeft mouthStretchRight mouthRollLower mouthRollUpper mouthShrugLower
mouthShrugUpper mouthPressLeft mouthPressRight mouthLowerDownLeft mouthLowerDownRight
mouthUpperUpLeft mouthUpperUpRight browDownLeft browDownRight browInnerUp browOuterUpLeft
browOuterUpRight cheekPuff cheekSquintLeft cheekSquintRight noseSneerLeft noseSneerRight tongueOut
""".split()

# Measured on the ICT rig as it ships (scripts/derive_ict_correctives.py): mean / max gap in mm under the
# constraint -- lip_seal 1.36 / 2.30, eyelid closure 0.82 / 1.40. Bounds leave ~50 % margin.
GAP_BOUNDS_MM = {"lip_seal": (2.0, 3.5), "eyelid_closure_L": (1.25, 2.1), "eyelid_closure_R": (1.25, 2.1)}


@pytest.fixture(scope="module")
def definition() -> RigDefinition:
    return RigDefinition.ict()


@pytest.fixture(scope="module")
def ict() -> dict[str, np.ndarray]:
    folder = os.environ.get("STUDIO_ASSETS_DIR")
    if not folder or not Path(folder, "ict_facekit.npz").exists():
        pytest.skip("STUDIO_ASSETS_DIR does not point at a folder with ict_facekit.npz")
    with np.load(Path(folder, "ict_facekit.npz")) as data:
        return {
            "neutral": data["neutral"].astype(np.float64),
            "deltas": data["expression_deltas"].astype(np.float64),
            "names": np.array([str(n) for n in data["expression_names"]]),
            "vertex_group": data["vertex_group"],
            "group_names": np.array([str(g) for g in data["group_names"]]),
        }


def _pose(ict: dict[str, np.ndarray], controls: dict[str, float]) -> np.ndarray:
    names = list(ict["names"])
    vertices = ict["neutral"].copy()
    for name, value in controls.items():
        vertices += value * ict["deltas"][names.index(name)]
    return vertices


# ----------------------------------------------------------------------------------------------------------
# The packaged file
# ----------------------------------------------------------------------------------------------------------


def test_packaged_definition_loads(definition):
    assert definition.source == ICT_JSON
    assert ICT_JSON.is_relative_to(REPO_ROOT / "studio" / "resources")
    assert definition.name == "ict_facekit"
    assert definition.units == "cm"
    assert definition.version == 1
    assert definition.num_vertices == 26719
    assert definition.asset["id"] == "ict_facekit"
    assert definition.num_controls == 53
    assert [c.name for c in definition.constraints] == ["lip_seal", "eyelid_closure_L", "eyelid_closure_R"]


def test_controls_match_the_rig_names_and_order(definition, ict):
    assert definition.control_names == tuple(ict["names"])
    definition.validate_against(list(ict["names"]), len(ict["neutral"]))
    for i, name in enumerate(ict["names"]):
        assert definition.index_of(str(name)) == i


def test_regions_and_roles_are_valid_and_partition_the_controls(definition):
    for c in definition.controls:
        assert c.region in REGIONS and c.role in ROLES
    primaries, tweakers = definition.primary_indices(), definition.tweaker_indices()
    assert (len(primaries), len(tweakers)) == (35, 18)
    np.testing.assert_array_equal(np.sort(np.concatenate([primaries, tweakers])), np.arange(53))
    regions = definition.by_region()
    assert list(regions) == list(REGIONS)
    assert sorted(i for indices in regions.values() for i in indices) == list(range(53))
    assert {k: len(v) for k, v in regions.items()} == {
        "brow": 6,
        "eye": 14,
        "cheek": 4,
        "nose": 2,
        "mouth": 23,
        "jaw": 4,
    }


def test_roles_follow_the_technical_artist_split(definition):
    for name in (
        "jawOpen",
        "mouthSmile_L",
        "mouthFunnel",
        "mouthPucker",
        "eyeBlink_R",
        "browInnerUp_L",
        "browDown_R",
    ):
        assert definition.control(name).is_primary, name
    for name in ("mouthPress_L", "mouthDimple_R", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
                 "mouthShrugUpper", "mouthStretch_L", "cheekSquint_R", "mouthClose"):  # fmt: skip
        assert definition.control(name).is_tweaker, name


def test_mirror_is_an_involution_and_pairs_left_with_right(definition):
    mirror = definition.mirror_indices()
    names = definition.control_names
    np.testing.assert_array_equal(mirror[mirror], np.arange(53))
    swap = {"_L": "_R", "_R": "_L", "Left": "Right", "Right": "Left"}
    for i, name in enumerate(names):
        suffix = next((s for s in swap if name.endswith(s)), None)
        if suffix is None:
            assert mirror[i] == i and definition.controls[i].mirror is None, name
        else:
            assert names[mirror[i]] == name[: -len(suffix)] + swap[suffix], name
    assert names[mirror[definition.index_of("jawLeft")]] == "jawRight"
    assert names[mirror[definition.index_of("mouthLeft")]] == "mouthRight"
    assert (
        int((mirror == np.arange(53)).sum()) == 9
    )  # jawForward, jawOpen, mouthClose/Funnel/Pucker, Roll×2, Shrug×2


def test_left_controls_move_the_face_s_left_side(definition, ict):
    """ICT's _L is the face's left (+x), as ARKit's Left; jawLeft/mouthLeft move towards +x."""
    x = ict["neutral"][:, 0]
    for k, name in enumerate(definition.control_names):
        delta = ict["deltas"][k]
        weight = np.linalg.norm(delta, axis=1)
        if name.endswith(("_L", "_R")):
            side = np.sign(weight @ x / weight.sum())
            assert side == (1 if name.endswith("_L") else -1), name
        elif name in ("jawLeft", "mouthLeft", "jawRight", "mouthRight"):
            assert np.sign((weight * delta[:, 0]).sum()) == (1 if name.endswith("Left") else -1), name


def test_arkit_names_cover_the_51_arkit_shapes(definition):
    assert ARKIT_BLENDSHAPE_NAMES == tuple(ARKIT_52)
    arkit = definition.arkit_names
    assert all(a in ARKIT_52 for a in arkit)
    assert set(arkit) == set(ARKIT_52) - {"tongueOut"}
    targets = definition.arkit_targets()
    assert len(targets) == 51
    split = {name: idx for name, idx in targets.items() if len(idx) > 1}
    assert {name: [definition.control_names[i] for i in idx] for name, idx in split.items()} == {
        "browInnerUp": ["browInnerUp_L", "browInnerUp_R"],
        "cheekPuff": ["cheekPuff_L", "cheekPuff_R"],
    }
    for c in definition.controls:
        assert (c.arkit_combine == "mean") == (c.arkit in split), c.name
        if c.name.endswith(("_L", "_R")) and c.arkit not in split:
            assert c.arkit == c.name[:-2] + ("Left" if c.name.endswith("_L") else "Right")
        elif not c.name.endswith(("_L", "_R")):
            assert c.arkit == c.name


def test_split_shapes_combine_by_mean_and_arkit_values_drive_both_sides(definition):
    values = np.zeros((2, 53), np.float32)
    values[:, definition.index_of("browInnerUp_L")] = [0.2, 1.0]
    values[:, definition.index_of("browInnerUp_R")] = [0.6, 0.0]
    values[:, definition.index_of("eyeBlink_L")] = [0.3, 0.9]
    arkit = definition.to_arkit(values)
    np.testing.assert_allclose(arkit["browInnerUp"], [0.4, 0.5])
    np.testing.assert_allclose(arkit["eyeBlinkLeft"], [0.3, 0.9])
    # the same values as a (T, 52) array in ARKit's order; shapes the rig lacks are 0
    from studio.core.io.arkit import ARKIT_BLENDSHAPE_NAMES

    vector = definition.arkit_vector(values)
    assert vector.shape == (2, 52)
    for i, name in enumerate(ARKIT_BLENDSHAPE_NAMES):
        np.testing.assert_allclose(vector[:, i], arkit.get(name, np.zeros(2)), atol=1e-7, err_msg=name)
    back = definition.from_arkit(
        {"BROWINNERUP": [0.4, 0.5], "eyeBlinkLeft": [0.3, 0.9], "tongueOut": [1.0, 1.0]}
    )
    assert back.shape == (2, 53)
    np.testing.assert_allclose(back[:, definition.index_of("browInnerUp_R")], [0.4, 0.5])
    np.testing.assert_allclose(back[:, definition.index_of("eyeBlink_L")], [0.3, 0.9])
    assert np.count_nonzero(back) == 6


def test_facs_follow_the_ict_readme(definition):
    expected = {
        "browInnerUp_L": ("AU1",), "browOuterUp_R": ("AU2",), "browDown_L": ("AU4",), "eyeWide_L": ("AU5",),
        "cheekSquint_R": ("AU6",), "eyeSquint_L": ("AU7",), "noseSneer_L": ("AU9",),
        "mouthShrugUpper": ("AU10",), "mouthUpperUp_L": ("AU11",), "mouthSmile_R": ("AU12",),
        "mouthDimple_L": ("AU14",), "mouthFrown_L": ("AU15",), "mouthLowerDown_R": ("AU16",),
        "mouthShrugLower": ("AU17",), "mouthPucker": ("AU18",), "mouthStretch_L": ("AU20",),
        "mouthFunnel": ("AU22",), "mouthPress_R": ("AU24",), "jawOpen": ("AU27",),
        "mouthRollLower": ("AU28",), "mouthRollUpper": ("AU28",), "jawForward": ("AU29",),
        "jawLeft": ("AU30",), "cheekPuff_R": ("AU33",), "eyeBlink_L": ("AU45",),
        "eyeLookUp_R": ("AU63",), "eyeLookDown_L": ("AU64",),
    }  # fmt: skip
    for name, facs in expected.items():
        assert definition.control(name).facs == facs, name
    assert definition.control("mouthClose").facs == ()
    assert all(re.fullmatch(r"AU\d+", au) for c in definition.controls for au in c.facs)


# ----------------------------------------------------------------------------------------------------------
# Corrective constraints on the ICT rig
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lip_seal", "eyelid_closure_L", "eyelid_closure_R"])
def test_constraint_brings_its_vertex_pairs_together(definition, ict, name):
    constraint = definition.constraint(name)
    pairs = constraint.vertex_pairs
    face = int(np.flatnonzero(ict["group_names"] == "face")[0])
    assert (ict["vertex_group"][pairs] == face).all()
    # (upper, lower): the first vertex lies above the second at the neutral
    assert (ict["neutral"][pairs[:, 0], 1] > ict["neutral"][pairs[:, 1], 1]).all()

    constrained = constraint.gaps(_pose(ict, constraint.controls)) * 10.0
    reference = constraint.gaps(_pose(ict, constraint.reference_controls)) * 10.0
    neutral = constraint.gaps(ict["neutral"]) * 10.0
    mean_bound, max_bound = GAP_BOUNDS_MM[name]
    assert constrained.mean() < mean_bound and constrained.max() < max_bound
    assert constrained.mean() < 0.3 * neutral.mean()
    assert constrained.mean() < 0.3 * reference.mean()
    # the measured numbers stored in the file are those of the rig as it ships
    assert constraint.residual_gap.mean_mm == pytest.approx(constrained.mean(), abs=0.01)
    assert constraint.residual_gap.max_mm == pytest.approx(constrained.max(), abs=0.01)
    assert constraint.reference_gap.mean_mm == pytest.approx(reference.mean(), abs=0.01)
    assert constraint.neutral_gap.mean_mm == pytest.approx(neutral.mean(), abs=0.01)


def test_lip_seal_needs_mouth_close(definition, ict):
    """jawOpen alone opens the lips by centimetres; mouthClose is what seals them."""
    constraint = definition.constraint("lip_seal")
    assert constraint.controls == {"jawOpen": 1.0, "mouthClose": 1.0}
    assert constraint.reference_controls == {"jawOpen": 1.0}
    assert constraint.gaps(_pose(ict, {"jawOpen": 1.0})).mean() * 10.0 > 20.0


def test_constraint_vectors_and_batched_gaps(definition, ict):
    constraint = definition.constraint("lip_seal")
    vector = constraint.control_vector(definition.control_names)
    assert vector.shape == (53,) and vector.sum() == 2.0
    assert vector[definition.index_of("jawOpen")] == vector[definition.index_of("mouthClose")] == 1.0
    assert constraint.reference_vector(definition.control_names).sum() == 1.0
    posed = ict["neutral"] + np.einsum("k,kvx->vx", vector.astype(np.float64), ict["deltas"])
    batch = np.stack([ict["neutral"], posed])
    gaps = constraint.gaps(batch)
    assert gaps.shape == (2, constraint.num_pairs)
    np.testing.assert_allclose(gaps[1], constraint.gaps(_pose(ict, constraint.controls)), atol=1e-9)
    assert not constraint.vertex_pairs.flags.writeable


# ----------------------------------------------------------------------------------------------------------
# Matching a rig
# ----------------------------------------------------------------------------------------------------------


def test_validate_against_rejects_a_different_rig(definition):
    names = list(definition.control_names)
    definition.validate_against(names, 26719)
    swapped = [names[1], names[0], *names[2:]]
    with pytest.raises(
        RigDefinitionError, match=r"control 0 is 'browDown_L' in the definition but 'browDown_R'"
    ):
        definition.validate_against(swapped, 26719)
    with pytest.raises(RigDefinitionError, match="defines 53 controls but the rig has 52"):
        definition.validate_against(names[:-1], 26719)
    with pytest.raises(RigDefinitionError, match="26719 vertices but the rig has 5000"):
        definition.validate_against(names, 5000)


# ----------------------------------------------------------------------------------------------------------
# Corrupt files
# ----------------------------------------------------------------------------------------------------------


def _packaged() -> dict:
    return json.loads(ICT_JSON.read_text(encoding="utf-8"))


def _control(data: dict, name: str) -> dict:
    return next(c for c in data["controls"] if c["name"] == name)


def _set(path: tuple, value):
    """A mutation setting ``data[path] = value``; a string key into a list picks the entry of that name."""

    def mutate(data: dict) -> None:
        target = data
        for key in path[:-1]:
            if isinstance(target, list) and isinstance(key, str):
                target = next(entry for entry in target if entry["name"] == key)
            else:
                target = target[key]
        target[path[-1]] = value

    return mutate


def _delete_role(data: dict) -> None:
    del _control(data, "jawOpen")["role"]


def _duplicate(data: dict) -> None:
    _control(data, "mouthFunnel")["name"] = "mouthPucker"


def _no_combine(data: dict) -> None:
    del _control(data, "cheekPuff_L")["arkit_combine"]


def _typo_field(data: dict) -> None:
    _control(data, "eyeBlink_L")["regoin"] = "eye"


CORRUPTIONS = {
    "missing field": (_delete_role, "control 'jawOpen' is missing field 'role'"),
    "unknown region": (
        _set(("controls", "browDown_L", "region"), "forehead"),
        "control 'browDown_L': unknown region \"forehead\"",
    ),
    "unknown role": (
        _set(("controls", "browDown_R", "role"), "secondary"),
        "control 'browDown_R': unknown role \"secondary\"",
    ),
    "asymmetric mirror": (_set(("controls", "eyeBlink_L", "mirror"), "eyeWide_R"), "mirror is not symmetric"),
    "mirror to nothing": (
        _set(("controls", "eyeWide_L", "mirror"), "eyeWide_X"),
        "mirror 'eyeWide_X' is not a control",
    ),
    "duplicate names": (_duplicate, "duplicate control name 'mouthPucker'"),
    "unknown ARKit name": (
        _set(("controls", "jawOpen", "arkit"), "jawOpened"),
        "unknown ARKit name 'jawOpened'",
    ),
    "split shape without combine": (
        _no_combine,
        "share ARKit name 'cheekPuff' but do not all set arkit_combine",
    ),
    "typo in a field name": (_typo_field, "unknown field 'regoin'"),
    "constraint on unknown control": (
        _set(("constraints", 0, "controls"), {"jawOpn": 1.0, "mouthClose": 1.0}),
        "constraint 'lip_seal' controls refers to unknown control 'jawOpn'",
    ),
    "vertex out of range": (
        _set(("constraints", 1, "vertex_pairs"), [[3797, 3799], [3798, 26719]]),
        "outside 0..26718",
    ),
    "malformed pairs": (
        _set(("constraints", 2, "vertex_pairs"), [[1, 2, 3]]),
        "vertex_pairs must be a non-empty list",
    ),
    "wrong format": (_set(("format",), "something-else"), "not a rig definition"),
    "future version": (_set(("version",), 99), "unsupported rig definition version 99"),
    "wrong units": (_set(("units",), "mm"), 'units must be "cm"'),
    "missing top-level field": (lambda data: data.pop("num_vertices"), "missing field 'num_vertices'"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupt_definition_raises_one_clear_line(tmp_path, case):
    mutate, expected = CORRUPTIONS[case]
    data = copy.deepcopy(_packaged())
    mutate(data)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RigDefinitionError) as info:
        RigDefinition.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert expected in message


def test_unreadable_files_raise_one_clear_line(tmp_path):
    truncated = tmp_path / "truncated.json"
    truncated.write_text(ICT_JSON.read_text(encoding="utf-8")[:500], encoding="utf-8")
    with pytest.raises(
        RigDefinitionError, match=r"truncated\.json: not valid JSON \(.* at line \d+, column \d+\)"
    ):
        RigDefinition.load(truncated)
    with pytest.raises(RigDefinitionError, match=r"missing\.json: rig definition file not found"):
        RigDefinition.load(tmp_path / "missing.json")
    not_an_object = tmp_path / "list.json"
    not_an_object.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(RigDefinitionError, match=r"list\.json: the rig definition must be a JSON object"):
        RigDefinition.load(not_an_object)


def test_round_trip_of_the_packaged_data(tmp_path):
    path = tmp_path / "copy.json"
    path.write_text(json.dumps(_packaged()), encoding="utf-8")
    copy_ = RigDefinition.load(path)
    original = RigDefinition.ict()
    assert copy_.controls == original.controls
    for a, b in zip(copy_.constraints, original.constraints, strict=True):
        np.testing.assert_array_equal(a.vertex_pairs, b.vertex_pairs)


# ----------------------------------------------------------------------------------------------------------
# The doc
# ----------------------------------------------------------------------------------------------------------


def test_doc_table_lists_every_control_with_its_role(definition):
    text = (REPO_ROOT / "docs" / "rig-definition.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0] in definition.control_names:
            rows[cells[0]] = cells
    assert set(rows) == set(definition.control_names)
    for c in definition.controls:
        assert c.role in rows[c.name], c.name
