"""Tests of the asset manager (:mod:`studio.core.assets`): resolution order, verification, CLI, ICT converter.

No test touches the internet: "offline" is an unreachable ``http://127.0.0.1:9/`` URL, and downloads that
must succeed are served from a temporary folder by a loopback HTTP server.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from studio.core.assets import (
    GROUP_NAMES,
    AssetUnavailableError,
    asset_path,
    asset_status,
    build_ict_arrays,
    catalog,
    convert_ict_facekit,
    fetch_assets,
    resolver,
    vertex_groups,
)
from studio.core.assets.fingerprint import (
    TOLERANCES,
    FloatFingerprint,
    array_references,
    compare_fingerprint,
    float_fingerprint,
    verify_arrays,
)
from studio.core.assets.hashing import array_sha256, arrays_content_sha256, npz_content_sha256, sha256_file
from studio.core.assets.ict_facekit import (
    ICT_GROUP_RANGES,
    ICT_SOURCE,
    ICT_VERTEX_COUNT,
    fan_triangulate,
    parse_obj,
    record_fingerprints,
    write_reference_module,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
#: The real assets (CI sets STUDIO_ASSETS_DIR to ../shared/assets); read once, before any monkeypatching.
SHARED_ASSETS = os.environ.get("STUDIO_ASSETS_DIR")
OFFLINE = "http://127.0.0.1:9/"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every test gets an empty cache and no STUDIO_ASSETS_DIR; returns the cache root."""
    cache_root = tmp_path / "cache-root"
    monkeypatch.setenv("STUDIO_CACHE_DIR", str(cache_root))
    monkeypatch.delenv("STUDIO_ASSETS_DIR", raising=False)
    return cache_root


def _patch_spec(monkeypatch: pytest.MonkeyPatch, asset_id: str, **changes: object) -> catalog.AssetSpec:
    spec = dataclasses.replace(catalog.ASSETS[asset_id], **changes)
    monkeypatch.setitem(catalog.ASSETS, asset_id, spec)
    return spec


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every asset at a port where nothing listens."""
    for asset_id, spec in list(catalog.ASSETS.items()):
        _patch_spec(monkeypatch, asset_id, url=OFFLINE + spec.file_name)


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Serve a temporary folder on 127.0.0.1; yields (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------------------ a tiny ICT-like model

# 7 vertices; a quad, a triangle and a pentagon written in three OBJ corner styles.
TINY_NEUTRAL = np.array(
    [[0.0, 0.0, 10.0], [1.0, 0.0, 10.0], [1.0, 1.0, 10.0], [0.0, 1.0, 10.0],
     [2.0, 0.5, 9.5], [-1.0, 0.5, 9.5], [0.5, -1.0, 9.0]]
)  # fmt: skip
TINY_FACES = ["f 1/1 2/2 3/3 4/4", "f 2//1 5//1 3//1", "f 1/1/1 4/4/1 6/1/1 -1/2/1 -3/3/1"]
TINY_TRIANGLES = [[0, 1, 2], [0, 2, 3], [1, 4, 2], [0, 3, 5], [0, 5, 6], [0, 6, 4]]
TINY_EXPRESSIONS = ["jawOpen", "browDown_L", "mouthClose"]  # deliberately not sorted
TINY_LICENSE = "MIT License\n\nCopyright (c) 2020 USC Institute for Creative Technologies\n"


def _obj_text(vertices: np.ndarray, faces: list[str]) -> str:
    lines = ["# ICT FaceKit test mesh", "mtllib ICTFaceModelMaterial.mtl"]
    lines += [f"v {x:.6g} {y:.6g} {z:.6g}" for x, y, z in vertices]
    lines += ["vt 0 0", "vt 1 0", "vt 1 1", "vt 0 1", "vn 0 0 1", "usemtl skin", "g face", *faces]
    return "\n".join(lines) + "\n"


def _as_written(vertices: np.ndarray) -> np.ndarray:
    """The float64 values a reader gets back from ``_obj_text`` (6 significant digits)."""
    return np.array([[float(f"{value:.6g}") for value in row] for row in vertices])


def _tiny_targets() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    names = TINY_EXPRESSIONS + ["identity000", "identity001"]
    return {name: TINY_NEUTRAL + rng.normal(scale=0.3, size=TINY_NEUTRAL.shape) for name in names}


def _write_tiny_model(root: Path) -> Path:
    """Write a repository-like tree ``root/ICT-FaceKit-<commit>/{LICENSE, FaceXModel/...}``; return it."""
    top = root / f"ICT-FaceKit-{COMMIT}"
    model = top / "FaceXModel"
    model.mkdir(parents=True)
    (top / "LICENSE").write_text(TINY_LICENSE)
    (model / "generic_neutral_mesh.obj").write_text(_obj_text(TINY_NEUTRAL, TINY_FACES))
    for name, vertices in _tiny_targets().items():
        (model / f"{name}.obj").write_text(_obj_text(vertices, TINY_FACES))
    indices = {
        "expressions": TINY_EXPRESSIONS,
        "fitting_expressions": TINY_EXPRESSIONS,
        "incompatibilities": [],
        "idx_to_fitting_verts": [5, 1, 2, 3],
        "idx_to_rigid_verts": [4, 0, 2],
        "idx_to_lap_rigid_verts": [1],
        "idx_to_landmark_verts": [i % 7 for i in range(68)],
        "idx_to_rigid_landmark_idx": [0, 36, 39, 42, 45, 16, 28, 31, 35],
    }
    (model / "vertex_indices.json").write_text(json.dumps(indices))
    (model / "README.txt").write_text("not a mesh")
    return top


def _zip_tree(top: Path, zip_path: Path) -> Path:
    """Zip ``top`` the way GitHub archives a commit: every member under ``<top.name>/``."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(top.rglob("*")):
            archive.write(file, f"{top.name}/{file.relative_to(top).as_posix()}")
    return zip_path


@pytest.fixture
def tiny_zip(tmp_path: Path) -> Path:
    return _zip_tree(_write_tiny_model(tmp_path / "tree"), tmp_path / f"{COMMIT}.zip")


# ------------------------------------------------------------------------------------ resolution order


def test_assets_dir_beats_cache_and_is_not_hashed(monkeypatch, tmp_path, isolated) -> None:
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    (env_dir / "face_landmarker.task").write_bytes(b"from env")
    cache = isolated / "assets"
    cache.mkdir(parents=True)
    (cache / "face_landmarker.task").write_bytes(b"from cache")
    monkeypatch.setenv("STUDIO_ASSETS_DIR", str(env_dir))

    def no_hashing(*args: object) -> str:
        raise AssertionError("asset_path must not hash a found file")

    monkeypatch.setattr(resolver, "sha256_file", no_hashing)
    assert asset_path("face_landmarker") == env_dir / "face_landmarker.task"


def test_cache_used_when_assets_dir_unset_or_lacks_the_file(monkeypatch, tmp_path, isolated) -> None:
    cache = isolated / "assets"
    cache.mkdir(parents=True)
    (cache / "ict_facekit.npz").write_bytes(b"cached")
    assert resolver.cache_dir() == cache
    assert asset_path("ict_facekit", allow_download=False) == cache / "ict_facekit.npz"

    empty = tmp_path / "empty-env"
    empty.mkdir()
    monkeypatch.setenv("STUDIO_ASSETS_DIR", str(empty))
    assert asset_path("ict_facekit", allow_download=False) == cache / "ict_facekit.npz"


def test_cache_dir_defaults_to_platformdirs(monkeypatch) -> None:
    import platformdirs

    monkeypatch.delenv("STUDIO_CACHE_DIR")
    expected = Path(platformdirs.user_cache_dir("simon-says-studio", appauthor=False)) / "assets"
    assert resolver.cache_dir() == expected


def test_unknown_asset_id_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="face_landmarker"):
        asset_path("no_such_asset")


@pytest.mark.usefixtures("offline")
def test_missing_and_offline_raises_one_line_error(isolated) -> None:
    with pytest.raises(AssetUnavailableError) as caught:
        asset_path("face_landmarker", progress=False)
    message = str(caught.value)
    assert "\n" not in message
    assert "face_landmarker.task" in message
    assert OFFLINE + "face_landmarker.task" in message
    assert "STUDIO_ASSETS_DIR (unset)" in message
    assert str(isolated / "assets") in message
    assert "offline" in message
    assert not (isolated / "assets" / "face_landmarker.task").exists()


@pytest.mark.usefixtures("offline")
def test_missing_ict_offline_names_the_archive_url(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("STUDIO_ASSETS_DIR", str(tmp_path))
    with pytest.raises(AssetUnavailableError) as caught:
        asset_path("ict_facekit", progress=False)
    message = str(caught.value)
    assert "\n" not in message
    assert "ict_facekit.npz" in message and OFFLINE + "ict_facekit.npz" in message
    assert f"STUDIO_ASSETS_DIR ({tmp_path})" in message


def test_allow_download_false_never_downloads(monkeypatch) -> None:
    import pooch

    def forbidden(*args: object, **kwargs: object) -> str:
        raise AssertionError("no download expected")

    monkeypatch.setattr(pooch, "retrieve", forbidden)
    with pytest.raises(AssetUnavailableError, match="downloading is disabled"):
        asset_path("face_landmarker", allow_download=False)


# ------------------------------------------------------------------------------ downloads (loopback)


def test_download_is_sha256_verified_and_cached(monkeypatch, http_folder, isolated) -> None:
    folder, base = http_folder
    payload = b"pretend model bundle" * 100
    (folder / "model.task").write_bytes(payload)
    _patch_spec(
        monkeypatch, "face_landmarker", url=base + "model.task", sha256=hashlib.sha256(payload).hexdigest()
    )

    path = asset_path("face_landmarker", progress=False)
    assert path == isolated / "assets" / "face_landmarker.task"
    assert path.read_bytes() == payload

    (folder / "model.task").unlink()  # a second call must not need the server
    assert asset_path("face_landmarker", progress=False) == path


def test_download_with_wrong_sha256_is_rejected(monkeypatch, http_folder, isolated) -> None:
    folder, base = http_folder
    (folder / "model.task").write_bytes(b"tampered")
    _patch_spec(monkeypatch, "face_landmarker", url=base + "model.task", sha256="0" * 64)
    with pytest.raises(AssetUnavailableError, match="did not match the expected sha256") as caught:
        asset_path("face_landmarker", progress=False)
    assert "\n" not in str(caught.value)
    assert not (isolated / "assets" / "face_landmarker.task").exists()


def _patch_references(monkeypatch, url: str, arrays: dict[str, np.ndarray]) -> None:
    """Make ``arrays`` the reference content of ``ict_facekit`` and serve its archive from ``url``."""
    exact, fingerprints = array_references(arrays)
    _patch_spec(monkeypatch, "ict_facekit", url=url, array_sha256=exact, array_fingerprints=fingerprints)


def _float32_subtraction(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same rig with the deltas computed as ``float32(x) - float32(n)`` (another converter's rounding)."""
    neutral32 = arrays["neutral"]
    neutral64 = neutral32.astype(np.float64)
    other = dict(arrays)
    targets = neutral64 + arrays["expression_deltas"].astype(np.float64)
    other["expression_deltas"] = targets.astype(np.float32) - neutral32
    targets = neutral64 + arrays["identity_deltas"].astype(np.float64)
    other["identity_deltas"] = (targets.astype(np.float32) - neutral32).astype(np.float16)
    return other


def test_ict_download_is_converted_and_content_verified(monkeypatch, http_folder, tiny_zip, isolated) -> None:
    folder, base = http_folder
    (folder / tiny_zip.name).write_bytes(tiny_zip.read_bytes())
    arrays = build_ict_arrays(tiny_zip)
    _patch_references(monkeypatch, base + tiny_zip.name, arrays)

    path = asset_path("ict_facekit", progress=False)
    assert path == isolated / "assets" / "ict_facekit.npz"
    assert npz_content_sha256(path)[0] == arrays_content_sha256(arrays)[0]
    assert not list((isolated / "assets" / "downloads").iterdir()), "the archive is removed after conversion"
    (status,) = [s for s in asset_status() if s.asset_id == "ict_facekit"]
    assert (status.where, status.matches, status.checked_by) == ("cache", True, "content")


def test_ict_download_accepts_a_reference_with_other_float_rounding(
    monkeypatch, http_folder, tiny_zip, isolated
) -> None:
    """References recorded from an npz whose floats were rounded differently still accept the download."""
    folder, base = http_folder
    (folder / tiny_zip.name).write_bytes(tiny_zip.read_bytes())
    arrays = build_ict_arrays(tiny_zip)
    reference = _float32_subtraction(arrays)
    assert not np.array_equal(reference["expression_deltas"], arrays["expression_deltas"])
    _patch_references(monkeypatch, base + tiny_zip.name, reference)

    path = asset_path("ict_facekit", progress=False)
    assert path == isolated / "assets" / "ict_facekit.npz"
    (status,) = [s for s in asset_status() if s.asset_id == "ict_facekit"]
    assert (status.matches, status.checked_by) == (True, "content")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("neutral", "neutral"),
        ("expressions", "expression_deltas[0]"),
        ("triangles", "triangles sha256 differs"),
        ("extra", "extra missing"),
    ],
)
def test_ict_download_with_other_content_is_rejected(
    monkeypatch, http_folder, tiny_zip, isolated, change, named
) -> None:
    folder, base = http_folder
    (folder / tiny_zip.name).write_bytes(tiny_zip.read_bytes())
    reference = dict(build_ict_arrays(tiny_zip))
    if change == "neutral":
        reference["neutral"] = reference["neutral"] + np.float32(0.05)
    elif change == "expressions":
        reference["expression_deltas"] = reference["expression_deltas"][[1, 0, 2]]
    elif change == "triangles":
        reference["triangles"] = reference["triangles"][::-1].copy()
    else:
        reference["extra"] = np.arange(3)
    _patch_references(monkeypatch, base + tiny_zip.name, reference)
    with pytest.raises(
        AssetUnavailableError, match=r"does not match the reference content \(differing arrays: "
    ) as caught:
        asset_path("ict_facekit", progress=False)
    message = str(caught.value)
    assert "\n" not in message and named in message
    assert not (isolated / "assets" / "ict_facekit.npz").exists()
    assert not list((isolated / "assets" / "downloads").iterdir())


# ------------------------------------------------------------------------------------------- status


def test_status_reports_where_sha256_and_match(monkeypatch, tmp_path) -> None:
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    good = b"the expected bytes"
    (env_dir / "face_landmarker.task").write_bytes(good)
    _patch_spec(monkeypatch, "face_landmarker", sha256=hashlib.sha256(good).hexdigest())
    monkeypatch.setenv("STUDIO_ASSETS_DIR", str(env_dir))

    by_id = {status.asset_id: status for status in asset_status()}
    face = by_id["face_landmarker"]
    assert (face.where, face.path, face.matches, face.checked_by) == (
        "STUDIO_ASSETS_DIR",
        env_dir / "face_landmarker.task",
        True,
        "sha256",
    )
    assert face.sha256 == hashlib.sha256(good).hexdigest()
    ict = by_id["ict_facekit"]
    assert (ict.where, ict.path, ict.sha256, ict.matches) == ("missing", None, None, None)

    (env_dir / "face_landmarker.task").write_bytes(b"something else")
    (env_dir / "ict_facekit.npz").write_bytes(b"not an npz")
    by_id = {status.asset_id: status for status in asset_status()}
    assert by_id["face_landmarker"].matches is False
    assert by_id["face_landmarker"].sha256 == hashlib.sha256(b"something else").hexdigest()
    assert (by_id["ict_facekit"].matches, by_id["ict_facekit"].checked_by) == (False, "content")


@pytest.mark.usefixtures("offline")
def test_fetch_assets_tries_everything_then_raises(monkeypatch, tmp_path) -> None:
    (tmp_path / "ict_facekit.npz").write_bytes(b"present")
    monkeypatch.setenv("STUDIO_ASSETS_DIR", str(tmp_path))
    with pytest.raises(AssetUnavailableError, match="face_landmarker.task"):
        fetch_assets(progress=False)
    (tmp_path / "face_landmarker.task").write_bytes(b"present")
    assert fetch_assets(progress=False) == [tmp_path / "face_landmarker.task", tmp_path / "ict_facekit.npz"]


# ------------------------------------------------------------------------------------------------ CLI


def _run_cli(args: list[str], env: dict[str, str], prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"import sys\n{prelude}\nfrom studio.cli import main\nsys.exit(main({args!r}))\n"
    full_env = {
        **os.environ,
        **env,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=full_env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.skipif(not SHARED_ASSETS, reason="STUDIO_ASSETS_DIR is not set")
def test_cli_status_with_the_real_assets(isolated) -> None:
    result = _run_cli(
        ["assets", "status"], {"STUDIO_ASSETS_DIR": SHARED_ASSETS, "STUDIO_CACHE_DIR": str(isolated)}
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:3]}
    for spec in catalog.ASSETS.values():
        row = rows[spec.asset_id]
        assert row[1:4] == ["STUDIO_ASSETS_DIR", "OK", spec.sha256]
        assert row[4] == str(Path(SHARED_ASSETS) / spec.file_name)
    assert "MISMATCH" not in result.stdout and result.stderr == ""


def test_cli_status_exits_1_when_missing(isolated) -> None:
    result = _run_cli(["assets", "status"], {"STUDIO_CACHE_DIR": str(isolated), "STUDIO_ASSETS_DIR": ""})
    assert result.returncode == 1
    assert result.stdout.count("MISSING") == 2


def test_cli_fetch_offline_prints_one_line_without_traceback(tmp_path, isolated) -> None:
    (tmp_path / "ict_facekit.npz").write_bytes(b"present")
    prelude = (
        "import dataclasses\nfrom studio.core.assets import catalog\n"
        "spec = catalog.ASSETS['face_landmarker']\n"
        f"catalog.ASSETS['face_landmarker'] = dataclasses.replace(spec, url={OFFLINE + 'face_landmarker.task'!r})"
    )
    env = {"STUDIO_ASSETS_DIR": str(tmp_path), "STUDIO_CACHE_DIR": str(isolated)}
    result = _run_cli(["assets", "fetch", "--no-progress"], env, prelude)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "face_landmarker.task" in lines[0] and OFFLINE in lines[0] and "STUDIO_ASSETS_DIR" in lines[0]
    assert f"ict_facekit: {tmp_path / 'ict_facekit.npz'}" in result.stdout


def test_core_import_pulls_no_gui_modules() -> None:
    code = (
        "import sys, studio.core.assets, studio.cli.assets\n"
        "bad = [m for m in ('PySide6', 'vispy', 'pyqtgraph', 'superqt') if m in sys.modules]\n"
        "sys.exit(1 if bad else 0)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, timeout=60).returncode == 0


# ------------------------------------------------------------------------------------------ converter


def test_parse_obj_reads_corner_styles_and_negative_indices() -> None:
    vertices, polygons = parse_obj(_obj_text(TINY_NEUTRAL, TINY_FACES).encode())
    np.testing.assert_array_equal(vertices, TINY_NEUTRAL)
    assert polygons == [[0, 1, 2, 3], [1, 4, 2], [0, 3, 5, 6, 4]]
    with pytest.raises(ValueError, match="out of range"):
        parse_obj(b"v 0 0 0\nv 1 0 0\nf 1 2 3\n")


def test_fan_triangulation() -> None:
    assert fan_triangulate([[7, 8, 9, 10, 11], [1, 2, 3]]).tolist() == [
        [7, 8, 9],
        [7, 9, 10],
        [7, 10, 11],
        [1, 2, 3],
    ]
    assert fan_triangulate([]).shape == (0, 3)


@pytest.mark.parametrize("kind", ["zip", "tree", "model-folder"])
def test_convert_tiny_model(kind, tmp_path) -> None:
    top = _write_tiny_model(tmp_path / "tree")
    source = {
        "zip": _zip_tree(top, tmp_path / "a.zip"),
        "tree": tmp_path / "tree",
        "model-folder": top / "FaceXModel",
    }[kind]
    out = tmp_path / "out" / "ict_facekit.npz"
    assert convert_ict_facekit(source, out) == out
    assert [p.name for p in out.parent.iterdir()] == ["ict_facekit.npz"], "no temporary file left behind"

    with np.load(out, allow_pickle=False) as npz:
        z = {key: npz[key] for key in npz.files}
    assert list(z) == [
        "neutral", "triangles", "vertex_group", "group_names", "expression_names", "expression_deltas",
        "identity_deltas", "landmarks_multipie68", "rigid_vertices", "fitting_vertices", "license", "source",
    ]  # fmt: skip
    dtypes = {key: value.dtype for key, value in z.items()}
    assert dtypes["neutral"] == np.float32 and dtypes["expression_deltas"] == np.float32
    assert dtypes["identity_deltas"] == np.float16 and dtypes["vertex_group"] == np.int8
    for key in ("triangles", "landmarks_multipie68", "rigid_vertices", "fitting_vertices"):
        assert dtypes[key] == np.int32, key
    for key in ("group_names", "expression_names", "license", "source"):
        assert dtypes[key].kind == "U", key

    np.testing.assert_array_equal(z["neutral"], TINY_NEUTRAL.astype(np.float32))
    assert z["triangles"].tolist() == TINY_TRIANGLES
    assert z["expression_names"].tolist() == TINY_EXPRESSIONS
    assert z["expression_deltas"].shape == (3, 7, 3) and z["identity_deltas"].shape == (2, 7, 3)
    targets = _tiny_targets()
    neutral = _as_written(TINY_NEUTRAL)
    for index, name in enumerate(TINY_EXPRESSIONS):
        expected = (_as_written(targets[name]) - neutral).astype(np.float32)
        np.testing.assert_array_equal(z["expression_deltas"][index], expected)
    for index in range(2):
        expected = (_as_written(targets[f"identity{index:03d}"]) - neutral).astype(np.float16)
        np.testing.assert_array_equal(z["identity_deltas"][index], expected)
    assert np.abs(z["expression_deltas"]).max() > 0.1
    assert z["landmarks_multipie68"].tolist() == [i % 7 for i in range(68)]
    assert z["rigid_vertices"].tolist() == [4, 0, 2]  # ICT's order is kept
    assert z["fitting_vertices"].tolist() == [5, 1, 2, 3]
    assert z["vertex_group"].tolist() == [0] * 7  # not the ICT topology: no region information
    assert tuple(z["group_names"].tolist()) == GROUP_NAMES
    assert str(z["license"]) == TINY_LICENSE and str(z["source"]) == ICT_SOURCE


def test_convert_overwrites_atomically_and_rejects_mismatched_targets(tmp_path) -> None:
    top = _write_tiny_model(tmp_path / "tree")
    out = tmp_path / "ict_facekit.npz"
    out.write_bytes(b"old")
    convert_ict_facekit(top, out)
    assert zipfile.is_zipfile(out)

    (top / "FaceXModel" / "identity001.obj").write_text(_obj_text(TINY_NEUTRAL[:5], []))
    before = out.read_bytes()
    with pytest.raises(ValueError, match="identity001.obj has 5 vertices"):
        convert_ict_facekit(top, out)
    assert out.read_bytes() == before, "a failed conversion leaves the previous file untouched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ict_facekit.npz", "tree"]


def test_convert_reports_missing_files(tmp_path) -> None:
    top = _write_tiny_model(tmp_path / "tree")
    (top / "FaceXModel" / "browDown_L.obj").unlink()
    with pytest.raises(FileNotFoundError, match="browDown_L.obj"):
        build_ict_arrays(top)
    with pytest.raises(FileNotFoundError):
        build_ict_arrays(tmp_path / "nowhere")


def test_vertex_groups_follow_the_ict_ranges() -> None:
    groups = vertex_groups(ICT_VERTEX_COUNT)
    assert groups.dtype == np.int8 and groups.shape == (ICT_VERTEX_COUNT,)
    assert np.all(np.diff(groups) >= 0), "groups are contiguous and in GROUP_NAMES order"
    for name, first, last in ICT_GROUP_RANGES:
        assert np.all(groups[first : last + 1] == GROUP_NAMES.index(name)), name
    assert np.bincount(groups).tolist()[GROUP_NAMES.index("eyeball_left")] == 23020 - 21451 + 1
    assert vertex_groups(10).tolist() == [0] * 10


def test_array_digest_is_container_independent() -> None:
    names = np.array(["a", "bb"])
    assert array_sha256(names) == array_sha256(names.astype("<U20"))
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert array_sha256(values) == array_sha256(values.astype(">f4"))
    assert array_sha256(values) != array_sha256(values.reshape(3, 2))
    assert array_sha256(values) != array_sha256(values.astype(np.float64))


def test_float_fingerprint_records_groups_and_nonzero_samples() -> None:
    rng = np.random.default_rng(3)
    deltas = np.zeros((4, 50, 3), dtype=np.float32)
    deltas[:, :10] = rng.normal(size=(4, 10, 3))
    fingerprint = float_fingerprint(deltas, n_samples=8)
    assert (fingerprint.dtype, fingerprint.shape) == ("<f4", (4, 50, 3))
    assert len(fingerprint.group_stats) == 4 and len(fingerprint.group_stats[0]) == 5
    np.testing.assert_allclose(fingerprint.group_stats[2][:3], deltas[2].astype(np.float64).sum(axis=0))
    np.testing.assert_allclose(fingerprint.group_stats[2][3], np.abs(deltas[2].astype(np.float64)).sum())
    np.testing.assert_allclose(fingerprint.group_stats[2][4], np.square(deltas[2].astype(np.float64)).sum())
    assert len(fingerprint.sample_indices) == 8 and list(fingerprint.sample_indices) == sorted(
        fingerprint.sample_indices
    )
    assert all(deltas.reshape(-1)[i] != 0 for i in fingerprint.sample_indices), "zeros are not sampled"
    assert fingerprint.sample_values == tuple(
        float(deltas.reshape(-1)[i]) for i in fingerprint.sample_indices
    )
    assert float_fingerprint(deltas, n_samples=8) == fingerprint, "deterministic"
    assert len(float_fingerprint(np.ones(5, dtype=np.float16)).group_stats) == 1
    with pytest.raises(TypeError):
        float_fingerprint(np.arange(3))


def test_compare_fingerprint_tolerates_rounding_and_names_what_differs() -> None:
    rng = np.random.default_rng(5)
    reference = rng.normal(scale=0.5, size=(6, 40, 3))
    stored = reference.astype(np.float32)
    fingerprint = float_fingerprint(stored)
    assert compare_fingerprint("d", fingerprint, stored) is None
    # One float32 ulp off on every value, the way another rounding path would be: accepted.
    assert compare_fingerprint("d", fingerprint, np.nextafter(stored, np.float32(np.inf))) is None

    swapped = stored[[0, 1, 3, 2, 4, 5]]
    message = compare_fingerprint("d", fingerprint, swapped)
    assert message is not None and "\n" not in message
    assert message.startswith(("d[2] ", "d[3] ")) and " off by " in message and ", tolerance " in message
    assert message.endswith(" samples out of tolerance)") and "/30 statistics, " in message
    assert compare_fingerprint("d", fingerprint, stored * np.float32(1.01)) is not None
    assert compare_fingerprint("d", fingerprint, stored.astype(np.float16)) == "d dtype <f2 != <f4"
    assert compare_fingerprint("d", fingerprint, stored[:5]) == "d shape (5, 40, 3) != (6, 40, 3)"
    broken = stored.copy()
    broken[1, 2, 0] = np.nan
    assert compare_fingerprint("d", fingerprint, broken) is not None
    # A single value far off is caught by the statistics even when it is not sampled.
    moved = stored.copy()
    moved[4, 39, 2] += 1.0
    assert (message := compare_fingerprint("d", fingerprint, moved)) is not None and message.startswith(
        "d[4]"
    )


def test_float16_tolerance_accepts_one_step_of_rounding() -> None:
    rng = np.random.default_rng(6)
    values = rng.normal(scale=1.5, size=(3, 200, 3))  # up to ~5 cm
    rounded = values.astype(np.float16)
    fingerprint = float_fingerprint(rounded)
    assert TOLERANCES[2].value_atol == pytest.approx(1e-3)
    # Every value one float16 step away (the worst a different rounding path does): still accepted.
    stepped = np.nextafter(rounded, np.float16(np.inf) * np.sign(rounded).astype(np.float16))
    assert np.abs(stepped.astype(np.float64) - rounded).max() > 1e-3
    assert compare_fingerprint("identity", fingerprint, stepped) is None
    assert compare_fingerprint("identity", fingerprint, (values * 1.01).astype(np.float16)) is not None


def test_verify_arrays_lists_every_problem_on_one_line_each() -> None:
    arrays = {"ints": np.arange(4, dtype=np.int32), "names": np.array(["a", "b"]), "floats": np.ones((2, 3))}
    exact, fingerprints = array_references(arrays)
    assert set(exact) == {"ints", "names"} and set(fingerprints) == {"floats"}
    assert isinstance(fingerprints["floats"], FloatFingerprint)
    assert verify_arrays(arrays, exact, fingerprints) == []
    changed = {"ints": np.arange(4, dtype=np.int64), "floats": np.ones((2, 3)) * 2, "new": np.zeros(1)}
    problems = verify_arrays(changed, exact, fingerprints)
    assert problems[0].startswith("floats ") and " off by " in problems[0]
    assert problems[1:] == ["ints sha256 differs", "names missing", "new unexpected"]


# ------------------------------------------------------------------------------- the real shared npz


@pytest.fixture
def shared_assets() -> Path:
    if not SHARED_ASSETS or not (Path(SHARED_ASSETS) / "ict_facekit.npz").is_file():
        pytest.skip("STUDIO_ASSETS_DIR does not point at the real assets")
    return Path(SHARED_ASSETS)


@pytest.fixture(scope="module")
def shared_arrays() -> dict[str, np.ndarray]:
    """The arrays of the real reference npz (read once; tests must not modify them in place)."""
    if not SHARED_ASSETS or not (Path(SHARED_ASSETS) / "ict_facekit.npz").is_file():
        pytest.skip("STUDIO_ASSETS_DIR does not point at the real assets")
    with np.load(Path(SHARED_ASSETS) / "ict_facekit.npz", allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def _ict_problems(arrays: dict[str, np.ndarray]) -> list[str]:
    spec = catalog.ASSETS["ict_facekit"]
    return verify_arrays(arrays, spec.array_sha256, spec.array_fingerprints)


def _assert_same_references(
    exact: dict[str, str], fingerprints: dict[str, FloatFingerprint], spec: catalog.AssetSpec
) -> None:
    assert exact == dict(spec.array_sha256)
    assert sorted(exact) == [
        "expression_names", "fitting_vertices", "group_names", "landmarks_multipie68", "license",
        "rigid_vertices", "source", "triangles", "vertex_group",
    ]  # fmt: skip
    assert sorted(fingerprints) == ["expression_deltas", "identity_deltas", "neutral"]
    for name, recorded in fingerprints.items():
        catalogued = spec.array_fingerprints[name]
        assert (recorded.dtype, recorded.shape) == (catalogued.dtype, catalogued.shape), name
        assert recorded.sample_indices == catalogued.sample_indices, name
        assert recorded.sample_values == catalogued.sample_values, name
        np.testing.assert_allclose(recorded.group_stats, catalogued.group_stats, rtol=1e-9, atol=1e-12)


def test_catalog_digests_match_the_reference_files(shared_assets) -> None:
    ict = catalog.ASSETS["ict_facekit"]
    assert sha256_file(shared_assets / "face_landmarker.task") == catalog.ASSETS["face_landmarker"].sha256
    assert sha256_file(shared_assets / "ict_facekit.npz") == ict.sha256
    _assert_same_references(*record_fingerprints(shared_assets / "ict_facekit.npz"), ict)
    assert {(f.dtype, f.shape) for f in ict.array_fingerprints.values()} == {
        ("<f4", (26719, 3)),
        ("<f4", (53, 26719, 3)),
        ("<f2", (100, 26719, 3)),
    }


def test_write_reference_module_regenerates_the_catalog_constants(shared_assets, tmp_path) -> None:
    import importlib.util

    out = write_reference_module(shared_assets / "ict_facekit.npz", tmp_path / "ict_reference.py")
    assert out == tmp_path / "ict_reference.py" and [p.name for p in tmp_path.iterdir()] == [out.name]
    module_spec = importlib.util.spec_from_file_location("regenerated_ict_reference", out)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    _assert_same_references(
        dict(module.ICT_ARRAY_SHA256), dict(module.ICT_ARRAY_FINGERPRINTS), catalog.ASSETS["ict_facekit"]
    )
    assert ict_sha256_in(out.read_text()) == catalog.ASSETS["ict_facekit"].sha256
    checked_in = REPO_ROOT / "studio" / "core" / "assets" / "ict_reference.py"
    assert ict_sha256_in(checked_in.read_text()) == catalog.ASSETS["ict_facekit"].sha256


def ict_sha256_in(text: str) -> str:
    """The reference npz's file sha256 named in the header of a generated ``ict_reference.py``."""
    return text.split("file sha256 ``", 1)[1].split("``", 1)[0]


def test_the_reference_npz_passes_its_own_content_check(shared_arrays) -> None:
    assert _ict_problems(shared_arrays) == []


def test_other_float_rounding_of_the_real_rig_is_accepted(shared_arrays) -> None:
    other = _float32_subtraction(shared_arrays)
    assert not np.array_equal(other["expression_deltas"], shared_arrays["expression_deltas"])
    assert not np.array_equal(other["identity_deltas"], shared_arrays["identity_deltas"])
    assert _ict_problems(other) == []

    # identity rounded through float32 (double rounding) and from float64 values that differ by up to half
    # a float16 step (a different parse of the OBJs would differ far less): accepted.
    rng = np.random.default_rng(11)
    identity = shared_arrays["identity_deltas"]
    step = np.spacing(np.abs(identity)).astype(np.float64)
    underlying = identity.astype(np.float64) + rng.uniform(-0.5, 0.5, identity.shape) * step
    for rounded in (underlying.astype(np.float32).astype(np.float16), underlying.astype(np.float16)):
        assert not np.array_equal(rounded, identity)
        assert _ict_problems({**shared_arrays, "identity_deltas": rounded}) == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("swap browInnerUp_L/R", "expression_deltas["),
        ("swap two expressions", "expression_deltas["),
        ("scale expressions by 1.01", "expression_deltas["),
        ("shift neutral by 0.05 cm", "neutral sum_"),
        ("scale identities by 1.01", "identity_deltas["),
        ("swap two identity modes", "identity_deltas["),
        ("reorder triangles", "triangles sha256 differs"),
    ],
)
def test_a_different_rig_is_rejected(shared_arrays, change, named) -> None:
    arrays = dict(shared_arrays)
    names = shared_arrays["expression_names"].tolist()
    expressions = shared_arrays["expression_deltas"]
    identity = shared_arrays["identity_deltas"]
    if change == "swap browInnerUp_L/R":  # mirror images of each other: the closest pair
        left, right = names.index("browInnerUp_L"), names.index("browInnerUp_R")
        order = list(range(len(names)))
        order[left], order[right] = right, left
        arrays["expression_deltas"] = expressions[order]
    elif change == "swap two expressions":
        order = list(range(len(names)))
        order[names.index("jawOpen")], order[names.index("mouthClose")] = (
            names.index("mouthClose"),
            names.index("jawOpen"),
        )
        arrays["expression_deltas"] = expressions[order]
    elif change == "scale expressions by 1.01":
        arrays["expression_deltas"] = expressions * np.float32(1.01)
    elif change == "shift neutral by 0.05 cm":
        arrays["neutral"] = shared_arrays["neutral"] + np.float32(0.05)
    elif change == "scale identities by 1.01":
        arrays["identity_deltas"] = (identity.astype(np.float32) * 1.01).astype(np.float16)
    elif change == "swap two identity modes":
        arrays["identity_deltas"] = identity[[0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 9, *range(11, len(identity))]]
    else:
        arrays["triangles"] = shared_arrays["triangles"][:, [0, 2, 1]]
    problems = _ict_problems(arrays)
    assert len(problems) == 1 and problems[0].startswith(named), problems
    assert "\n" not in problems[0]


def test_status_accepts_the_reference_and_a_differently_rounded_copy(
    monkeypatch, shared_assets, shared_arrays, tmp_path
) -> None:
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    (env_dir / "ict_facekit.npz").symlink_to(shared_assets / "ict_facekit.npz")
    monkeypatch.setenv("STUDIO_ASSETS_DIR", str(env_dir))
    (status,) = [s for s in asset_status() if s.asset_id == "ict_facekit"]
    assert (status.matches, status.checked_by, status.sha256) == (
        True,
        "sha256",
        catalog.ASSETS["ict_facekit"].sha256,
    )

    (env_dir / "ict_facekit.npz").unlink()
    np.savez(env_dir / "ict_facekit.npz", **_float32_subtraction(shared_arrays))
    (status,) = [s for s in asset_status() if s.asset_id == "ict_facekit"]
    assert (status.matches, status.checked_by) == (True, "content")

    arrays = dict(shared_arrays)
    arrays["neutral"] = shared_arrays["neutral"] * np.float32(1.01)
    np.savez(env_dir / "ict_facekit.npz", **arrays)
    (status,) = [s for s in asset_status() if s.asset_id == "ict_facekit"]
    assert (status.matches, status.checked_by) == (False, "content")


def test_converter_conventions_match_the_reference_npz(shared_assets) -> None:
    with np.load(shared_assets / "ict_facekit.npz", allow_pickle=False) as npz:
        assert npz["vertex_group"].tolist() == vertex_groups(ICT_VERTEX_COUNT).tolist()
        assert tuple(npz["group_names"].tolist()) == GROUP_NAMES
        assert str(npz["source"]) == ICT_SOURCE
        assert npz["group_names"].dtype == np.asarray(GROUP_NAMES).dtype
        license_file = shared_assets / "ICT-FaceKit.LICENSE"
        if license_file.is_file():
            assert str(npz["license"]) == license_file.read_text()
