"""Per-shape response: the evaluator, its checks, re-zeroing, and where it is kept."""

from __future__ import annotations

import json

import numpy as np
import pytest

from studio.core.rig.response import RESPONSE_FORMAT, ResponseError, ResponseSet, ShapeResponse

NAMES = ("jawOpen", "mouthSmileLeft", "browInnerUp")


def test_a_response_applies_gain_offset_curve_and_clamp_in_that_order():
    shape = ShapeResponse(multiplier=2.0, offset=-0.1, clamp=(0.0, 0.9), curve=((0, 0), (0.5, 0.8), (1, 1)))
    values = np.array([0.0, 0.05, 0.2, 0.3, 0.8])
    u = np.clip(2.0 * values - 0.1, 0, 1)  # 0, 0, 0.3, 0.5, 1
    expected = np.clip(np.interp(u, [0, 0.5, 1], [0, 0.8, 1]), 0, 0.9)
    np.testing.assert_allclose(shape.shape(values), expected)
    response = ResponseSet({"jawOpen": shape})
    take = np.array([[0.3, 0.3, 0.3], [np.nan, np.nan, np.nan]], np.float32)
    out = response.apply(take, NAMES)
    assert out[0, 0] == pytest.approx(0.8) and out[0, 1] == pytest.approx(0.3)  # only jawOpen changes
    assert np.isnan(out[1]).all()  # no face stays no face
    assert ResponseSet({"jawOpen": ShapeResponse()}).is_identity  # identities are not kept


def test_smoothing_is_causal_and_follows_uneven_times():
    response = ResponseSet({"jawOpen": ShapeResponse(smoothing_s=0.1)})
    times = np.array([0.0, 0.01, 0.02, 0.2, 0.21, 0.5])
    values = np.zeros((6, 3), np.float32)
    values[1:, 0] = 1.0
    out = response.apply(values, NAMES, times)[:, 0]
    assert out[0] == 0 and 0 < out[1] < out[2] < out[3] < out[4] < out[5] <= 1.0
    assert out[1] == pytest.approx(1 - np.exp(-0.1), rel=1e-5)  # one step of 10 ms at τ = 100 ms
    assert out[3] - out[2] > out[2] - out[1]  # a longer step moves further


@pytest.mark.parametrize(
    ("shape", "says"),
    [
        (ShapeResponse(curve=((0, 0), (0.5, 0.7), (0.6, 0.4), (1, 1))), "not monotone (it falls at point 3"),
        (ShapeResponse(curve=((0, 0), (0.5, 1.2), (1, 1.2))), "leaves [0, 1]"),
        (ShapeResponse(curve=((0, 0), (0.5, 0.5))), "x must run from 0 to 1"),
        (ShapeResponse(clamp=(0.6, 0.4)), "clamp (0.6, 0.4)"),
        (ShapeResponse(multiplier=float("nan")), "finite number"),
        (ShapeResponse(multiplier=11.0), "multiplier 11 is outside"),
        (ShapeResponse(smoothing_s=-1.0), "smoothing -1 s"),
    ],
)
def test_bad_settings_are_refused_in_one_line_naming_the_control(shape, says):
    with pytest.raises(ResponseError) as error:
        ResponseSet({"jawOpen": shape})
    assert str(error.value).startswith("response of jawOpen: ") and says in str(error.value)
    assert "\n" not in str(error.value)


def test_rezeroing_makes_the_face_shown_read_zero():
    response = ResponseSet({"jawOpen": ShapeResponse(multiplier=1.5)})
    resting = np.array([0.2, 0.01, 0.1], np.float32)  # this performer's rest reads a little open and raised
    zeroed = response.rezeroed(resting, NAMES)
    np.testing.assert_allclose(zeroed.apply(resting, NAMES), [0.0, 0.01, 0.0], atol=1e-6)
    assert zeroed.get("jawOpen").multiplier == 1.5 and "mouthSmileLeft" not in zeroed.shapes
    smile = np.array([0.6, 0.5, 0.4], np.float32)
    assert zeroed.apply(smile, NAMES)[0] == pytest.approx(1.5 * 0.6 - 0.3)


def test_a_response_is_kept_in_the_session_and_bad_files_are_one_line(tmp_path):
    from studio.core.session.folder import Session, SessionError

    session = Session.create(tmp_path / "s", "p", "ict_facekit", "core", ["neutral"])
    assert session.response().is_identity
    response = ResponseSet({"jawOpen": ShapeResponse(multiplier=1.3, curve=((0, 0), (0.4, 0.6), (1, 1)))})
    session.write_response(response)
    assert Session.open(session.folder).response(NAMES) == response
    data = json.loads((session.folder / "response.json").read_text())
    assert data["format"] == RESPONSE_FORMAT and data["shapes"]["jawOpen"]["multiplier"] == 1.3
    data["shapes"]["jawOpen"]["curve"] = [[0, 0], [0.5, 0.9], [0.7, 0.2], [1, 1]]
    (session.folder / "response.json").write_text(json.dumps(data))
    with pytest.raises(SessionError, match=r"response.json: response of jawOpen: the curve is not monotone"):
        session.response(NAMES)
    data["shapes"] = {"noSuchControl": {}}
    (session.folder / "response.json").write_text(json.dumps(data))
    with pytest.raises(SessionError, match="'noSuchControl' is not a control of the rig"):
        session.response(NAMES)
    (session.folder / "response.json").write_text("{not json")
    with pytest.raises(SessionError, match="unreadable"):
        session.response(NAMES)
