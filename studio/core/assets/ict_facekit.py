"""Convert ICT-FaceKit's ``FaceXModel`` (OBJ files + ``vertex_indices.json``) into ``ict_facekit.npz``.

The layout written (units: centimetres, as in the OBJs; +y up, +z out of the face, x to the face's left):

========================  ======================  ===================================================
key                       shape, dtype            meaning
========================  ======================  ===================================================
``neutral``               (V, 3) float32          ``generic_neutral_mesh.obj``
``triangles``             (T, 3) int32            the neutral's polygons fan-triangulated, 0-based
``vertex_group``          (V,) int8               index into ``group_names`` (see :func:`vertex_groups`)
``group_names``           (17,) str               :data:`GROUP_NAMES`
``expression_names``      (E,) str                ``vertex_indices.json["expressions"]``, in its order
``expression_deltas``     (E, V, 3) float32       each expression OBJ minus the neutral
``identity_deltas``       (I, V, 3) float16       ``identity000.obj``, ``identity001.obj``... minus the neutral
``landmarks_multipie68``  (68,) int32             ``vertex_indices.json["idx_to_landmark_verts"]``
``rigid_vertices``        (R,) int32              ``vertex_indices.json["idx_to_rigid_verts"]``
``fitting_vertices``      (F,) int32              ``vertex_indices.json["idx_to_fitting_verts"]``
``license``, ``source``   () str                  the repository's ``LICENSE`` text, attribution line
========================  ======================  ===================================================

For the real model V = 26,719, T = 52,220, E = 53, I = 100, R = 1,487, F = 7,801. Deltas are computed in
float64 from the OBJs' decimal text, then rounded once to the stored dtype, so the conversion is
deterministic: the same archive gives the same arrays bit for bit. A download is nevertheless verified
tolerantly (:mod:`studio.core.assets.fingerprint`): integer and string arrays by exact digests, float arrays by
fingerprints within a rounding tolerance, so a reference npz written by a slightly different float path
still accepts a good download. :func:`record_fingerprints` / :func:`write_reference_module` record
those references from a reference npz into :mod:`studio.core.assets.ict_reference`.
"""

from __future__ import annotations

import json
import textwrap
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from studio.core.assets.fingerprint import FloatFingerprint, array_references
from studio.core.assets.hashing import sha256_file
from studio.core.io.atomic_files import write_npz_atomic, write_text_atomic

__all__ = [
    "GROUP_NAMES",
    "ICT_SOURCE",
    "ICT_VERTEX_COUNT",
    "build_ict_arrays",
    "convert_ict_facekit",
    "fan_triangulate",
    "parse_obj",
    "record_fingerprints",
    "vertex_groups",
    "write_reference_module",
]

#: Vertex count of the ICT FaceXModel topology, for which :data:`ICT_GROUP_RANGES` hold.
ICT_VERTEX_COUNT = 26_719

#: Names of the vertex groups, in the order of the ``vertex_group`` indices.
GROUP_NAMES: tuple[str, ...] = (
    "face",
    "head_neck",
    "mouth_socket",
    "eye_socket_left",
    "eye_socket_right",
    "gums_tongue",
    "teeth",
    "eyeball_left",
    "eyeball_right",
    "lacrimal_left",
    "lacrimal_right",
    "eye_blend_left",
    "eye_blend_right",
    "eye_occlusion_left",
    "eye_occlusion_right",
    "eyelashes_left",
    "eyelashes_right",
)

#: Inclusive vertex-id ranges of each group in the ICT topology (from the ICT-FaceKit README). Where the
#: README gives one range for a left/right pair (eye sockets, lacrimal, eye blend, eye occlusion,
#: eyelashes), the first half is the left (+x) part and the second half the right part.
ICT_GROUP_RANGES: tuple[tuple[str, int, int], ...] = (
    ("face", 0, 9408),
    ("head_neck", 9409, 11247),
    ("mouth_socket", 11248, 13293),
    ("eye_socket_left", 13294, 13677),
    ("eye_socket_right", 13678, 14061),
    ("gums_tongue", 14062, 17038),
    ("teeth", 17039, 21450),
    ("eyeball_left", 21451, 23020),
    ("eyeball_right", 23021, 24590),
    ("lacrimal_left", 24591, 24794),
    ("lacrimal_right", 24795, 24998),
    ("eye_blend_left", 24999, 25022),
    ("eye_blend_right", 25023, 25046),
    ("eye_occlusion_left", 25047, 25198),
    ("eye_occlusion_right", 25199, 25350),
    ("eyelashes_left", 25351, 26034),
    ("eyelashes_right", 26035, 26718),
)

#: The ``source`` string stored in the npz.
ICT_SOURCE = "ICT-FaceKit (USC Institute for Creative Technologies), FaceXModel, MIT license"

_MODEL_DIR = "FaceXModel"
_INDICES_FILE = "vertex_indices.json"
_NEUTRAL_FILE = "generic_neutral_mesh.obj"
_LANDMARK_COUNT = 68


def vertex_groups(n_vertices: int) -> np.ndarray:
    """Return the group index of every vertex (into :data:`GROUP_NAMES`).

    The ranges of :data:`ICT_GROUP_RANGES` are a property of the ICT topology and are only applied to a
    mesh of exactly :data:`ICT_VERTEX_COUNT` vertices. For any other vertex count nothing in the OBJs
    says which part of the head a vertex belongs to, so every vertex is put in group 0 (``"face"``)
    rather than guessing.

    Parameters
    ----------
    n_vertices : int
        Number of vertices of the mesh.

    Returns
    -------
    numpy.ndarray
        ``(n_vertices,)`` int8.
    """
    groups = np.zeros(n_vertices, dtype=np.int8)
    if n_vertices != ICT_VERTEX_COUNT:
        return groups
    for name, first, last in ICT_GROUP_RANGES:
        groups[first : last + 1] = GROUP_NAMES.index(name)
    return groups


def parse_obj(data: bytes, *, with_faces: bool = True) -> tuple[np.ndarray, list[list[int]]]:
    """Read the vertices and (optionally) the polygons of a Wavefront OBJ.

    Only ``v`` and ``f`` records are used; ``vt``, ``vn``, ``g``, ``usemtl``, comments... are skipped.
    Face corners may be written ``v``, ``v/vt``, ``v//vn`` or ``v/vt/vn``; negative (relative) indices
    are resolved. Coordinates are parsed with Python's correctly rounded ``float``.

    Parameters
    ----------
    data : bytes
        The file's content.
    with_faces : bool
        Also parse ``f`` records (morph targets only need the vertices).

    Returns
    -------
    vertices : numpy.ndarray
        ``(V, 3)`` float64; a ``v`` record's optional 4th..6th values (w or colour) are ignored.
    polygons : list of list of int
        0-based vertex ids of each polygon, in file order; empty when ``with_faces`` is false.

    Raises
    ------
    ValueError
        On a malformed ``v`` or ``f`` record or a face index out of range.
    """
    coords: list[float] = []
    polygons: list[list[int]] = []
    n_vertices = 0
    for number, line in enumerate(data.splitlines(), start=1):
        if line.startswith((b"v ", b"v\t")):
            fields = line.split()
            if len(fields) < 4:
                raise ValueError(f"line {number}: a 'v' record needs 3 coordinates: {line[:80]!r}")
            coords.extend(float(value) for value in fields[1:4])
            n_vertices += 1
        elif with_faces and line.startswith((b"f ", b"f\t")):
            corners = line.split()[1:]
            if len(corners) < 3:
                raise ValueError(f"line {number}: a face needs at least 3 corners: {line[:80]!r}")
            polygon = []
            for corner in corners:
                index = int(corner.split(b"/", 1)[0])
                index = index - 1 if index > 0 else n_vertices + index
                if not 0 <= index < n_vertices:
                    raise ValueError(f"line {number}: face index {corner.decode()} is out of range")
                polygon.append(index)
            polygons.append(polygon)
    vertices = np.asarray(coords, dtype=np.float64).reshape(n_vertices, 3)
    return vertices, polygons


def fan_triangulate(polygons: Sequence[Sequence[int]]) -> np.ndarray:
    """Split polygons into triangles ``(p0, pi, pi+1)``, keeping the polygons' order and winding.

    Parameters
    ----------
    polygons : Sequence of Sequence of int
        Vertex ids of each polygon (3 or more corners).

    Returns
    -------
    numpy.ndarray
        ``(sum(len(p) - 2), 3)`` int32.
    """
    triangles = [
        (polygon[0], polygon[i], polygon[i + 1]) for polygon in polygons for i in range(1, len(polygon) - 1)
    ]
    return np.asarray(triangles, dtype=np.int32).reshape(-1, 3)


class _Source:
    """Read access to the files of a FaceXModel folder inside a directory tree or a zip archive."""

    def __init__(self, source: Path) -> None:
        self._zip: zipfile.ZipFile | None = None
        source = Path(source)
        if source.is_file():
            if not zipfile.is_zipfile(source):
                raise ValueError(f"{source} is neither a folder nor a zip archive")
            self._zip = zipfile.ZipFile(source)
            self._model = self._find_in_zip(source)
            self.description = str(source)
        elif source.is_dir():
            self._model = self._find_in_dir(source)
            self.description = str(source)
        else:
            raise FileNotFoundError(f"ICT-FaceKit source {source} does not exist")

    def _find_in_zip(self, source: Path) -> PurePosixPath:
        assert self._zip is not None
        hits = [
            PurePosixPath(name).parent
            for name in self._zip.namelist()
            if PurePosixPath(name).name == _INDICES_FILE and PurePosixPath(name).parent.name == _MODEL_DIR
        ]
        if len(hits) != 1:
            raise ValueError(
                f"{source}: expected one {_MODEL_DIR}/{_INDICES_FILE} in the archive, found {len(hits)}"
            )
        return hits[0]

    @staticmethod
    def _find_in_dir(source: Path) -> PurePosixPath:
        candidates = [source, source / _MODEL_DIR, *sorted(source.glob(f"*/{_MODEL_DIR}"))]
        for candidate in candidates:
            if (candidate / _INDICES_FILE).is_file():
                return PurePosixPath(candidate.as_posix())
        raise FileNotFoundError(f"no {_MODEL_DIR}/{_INDICES_FILE} under {source}")

    def model_file(self, name: str) -> bytes:
        """Return the bytes of a file of the FaceXModel folder."""
        return self._read(self._model / name)

    def has_model_file(self, name: str) -> bool:
        """Whether the FaceXModel folder holds ``name``."""
        path = self._model / name
        if self._zip is not None:
            try:
                self._zip.getinfo(str(path))
            except KeyError:
                return False
            return True
        return Path(path).is_file()

    def license_text(self) -> str:
        """Return the repository's ``LICENSE`` (next to the FaceXModel folder), verbatim."""
        return self._read(self._model.parent / "LICENSE").decode("utf-8")

    def _read(self, path: PurePosixPath) -> bytes:
        if self._zip is not None:
            try:
                return self._zip.read(str(path))
            except KeyError:
                raise FileNotFoundError(f"{self.description}: {path} is missing from the archive") from None
        file = Path(path)
        if not file.is_file():
            raise FileNotFoundError(f"{file} is missing")
        return file.read_bytes()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _index_array(config: dict, key: str, n_vertices: int) -> np.ndarray:
    if key not in config:
        raise ValueError(f"{_INDICES_FILE} has no {key!r} entry")
    values = np.asarray(config[key], dtype=np.int64).reshape(-1)
    if values.size and (values.min() < 0 or values.max() >= n_vertices):
        raise ValueError(f"{_INDICES_FILE}[{key!r}] has vertex ids outside 0..{n_vertices - 1}")
    return values.astype(np.int32)


def build_ict_arrays(source_dir_or_zip: Path) -> dict[str, np.ndarray]:
    """Read an ICT-FaceKit checkout or archive and return the npz arrays (see the module docstring).

    Parameters
    ----------
    source_dir_or_zip : Path
        GitHub's zip of the repository (top folder ``ICT-FaceKit-<commit>/``), an extracted copy of it,
        the repository root, or its ``FaceXModel`` folder itself (the ``LICENSE`` is read from the
        folder above ``FaceXModel``).

    Returns
    -------
    dict[str, numpy.ndarray]
        The arrays, keyed as in ``ict_facekit.npz``, in the file's key order.

    Raises
    ------
    FileNotFoundError
        When a needed file is missing.
    ValueError
        When the files disagree (vertex counts, index ranges, landmark count) or are malformed.
    """
    source = _Source(Path(source_dir_or_zip))
    try:
        config = json.loads(source.model_file(_INDICES_FILE).decode("utf-8"))
        neutral64, polygons = parse_obj(source.model_file(_NEUTRAL_FILE))
        n_vertices = neutral64.shape[0]
        if n_vertices == 0 or not polygons:
            raise ValueError(f"{_NEUTRAL_FILE} has no vertices or no faces")

        def deltas(name: str) -> np.ndarray:
            vertices, _ = parse_obj(source.model_file(name), with_faces=False)
            if vertices.shape != neutral64.shape:
                raise ValueError(f"{name} has {vertices.shape[0]} vertices, {_NEUTRAL_FILE} has {n_vertices}")
            return vertices - neutral64

        expression_names = [str(name) for name in config.get("expressions", [])]
        if not expression_names:
            raise ValueError(f"{_INDICES_FILE} lists no 'expressions'")
        expression_deltas = np.empty((len(expression_names), n_vertices, 3), dtype=np.float32)
        for index, name in enumerate(expression_names):
            expression_deltas[index] = deltas(f"{name}.obj")

        identity_files = []
        while source.has_model_file(f"identity{len(identity_files):03d}.obj"):
            identity_files.append(f"identity{len(identity_files):03d}.obj")
        identity_deltas = np.empty((len(identity_files), n_vertices, 3), dtype=np.float16)
        for index, name in enumerate(identity_files):
            identity_deltas[index] = deltas(name)

        landmarks = _index_array(config, "idx_to_landmark_verts", n_vertices)
        if landmarks.size != _LANDMARK_COUNT:
            raise ValueError(f"{_INDICES_FILE} has {landmarks.size} landmarks, expected {_LANDMARK_COUNT}")
        return {
            "neutral": neutral64.astype(np.float32),
            "triangles": fan_triangulate(polygons),
            "vertex_group": vertex_groups(n_vertices),
            "group_names": np.asarray(GROUP_NAMES),
            "expression_names": np.asarray(expression_names),
            "expression_deltas": expression_deltas,
            "identity_deltas": identity_deltas,
            "landmarks_multipie68": landmarks,
            "rigid_vertices": _index_array(config, "idx_to_rigid_verts", n_vertices),
            "fitting_vertices": _index_array(config, "idx_to_fitting_verts", n_vertices),
            "license": np.asarray(source.license_text()),
            "source": np.asarray(ICT_SOURCE),
        }
    finally:
        source.close()


def convert_ict_facekit(source_dir_or_zip: Path, out_path: Path) -> Path:
    """Convert an ICT-FaceKit archive or checkout into ``ict_facekit.npz``.

    The npz is written to a temporary file next to ``out_path`` and moved into place with
    :func:`os.replace`, so ``out_path`` is either the old file or the complete new one, never a partial
    write.

    Parameters
    ----------
    source_dir_or_zip : Path
        See :func:`build_ict_arrays`.
    out_path : Path
        Where to write the npz (parent folders are created).

    Returns
    -------
    Path
        ``out_path``.
    """
    return write_npz_atomic(Path(out_path), build_ict_arrays(Path(source_dir_or_zip)))


def record_fingerprints(npz_path: Path) -> tuple[dict[str, str], dict[str, FloatFingerprint]]:
    """Record the references a converted ``ict_facekit.npz`` is verified against.

    Parameters
    ----------
    npz_path : Path
        The reference ``ict_facekit.npz``.

    Returns
    -------
    exact : dict[str, str]
        :func:`studio.core.assets.hashing.array_sha256` of every integer and string array, by key.
    fingerprints : dict[str, FloatFingerprint]
        :func:`studio.core.assets.fingerprint.float_fingerprint` of every float array (32 samples, seed 0).

    See :func:`studio.core.assets.fingerprint.array_references`; :func:`write_reference_module` turns the result
    into :mod:`studio.core.assets.ict_reference`.
    """
    with np.load(npz_path, allow_pickle=False) as archive:
        return array_references({name: archive[name] for name in archive.files})


def _wrapped(items: Sequence[str], indent: int) -> str:
    """``items`` joined by ", " with a trailing comma, filled to 110 columns at ``indent`` spaces."""
    return textwrap.fill(
        ", ".join(items) + ",",
        width=110,
        initial_indent=" " * indent,
        subsequent_indent=" " * indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _fingerprint_source(fingerprint: FloatFingerprint) -> str:
    rows = "".join(
        "                (" + ", ".join(repr(float(value)) for value in row) + "),\n"
        for row in fingerprint.group_stats
    )
    indices = _wrapped([str(index) for index in fingerprint.sample_indices], 16)
    values = _wrapped([repr(float(value)) for value in fingerprint.sample_values], 16)
    return (
        "FloatFingerprint(\n"
        f"            dtype={json.dumps(fingerprint.dtype)},\n"
        f"            shape={fingerprint.shape!r},\n"
        f"            group_stats=(\n{rows}            ),\n"
        f"            sample_indices=(\n{indices}\n            ),\n"
        f"            sample_values=(\n{values}\n            ),\n"
        "        )"
    )


def _reference_module_source(npz_path: Path) -> str:
    """The text of :mod:`studio.core.assets.ict_reference` recorded from ``npz_path`` (see
    :func:`write_reference_module`)."""
    npz_path = Path(npz_path)
    exact, fingerprints = record_fingerprints(npz_path)
    digest_lines = "".join(
        f"        {json.dumps(name)}: {json.dumps(value)},\n" for name, value in exact.items()
    )
    fingerprint_lines = "".join(
        f"        {json.dumps(name)}: {_fingerprint_source(value)},\n" for name, value in fingerprints.items()
    )
    return (
        '"""References of ``ict_facekit.npz``: exact digests and float fingerprints (generated file).\n\n'
        "Written by :func:`studio.core.assets.ict_facekit.write_reference_module` from the reference npz\n"
        f"(file sha256 ``{sha256_file(npz_path)}``); do not edit by hand.\n"
        '"""\n\n'
        "from types import MappingProxyType\n\n"
        "from studio.core.assets.fingerprint import FloatFingerprint\n\n"
        '__all__ = ["ICT_ARRAY_FINGERPRINTS", "ICT_ARRAY_SHA256"]\n\n'
        "# fmt: off\n"
        "#: :func:`studio.core.assets.hashing.array_sha256` of the integer and string arrays (checked exactly).\n"
        "ICT_ARRAY_SHA256: MappingProxyType[str, str] = MappingProxyType(\n"
        f"    {{\n{digest_lines}    }}\n"
        ")\n\n"
        "#: :func:`studio.core.assets.fingerprint.float_fingerprint` of the float arrays (checked within tolerance).\n"
        "ICT_ARRAY_FINGERPRINTS: MappingProxyType[str, FloatFingerprint] = MappingProxyType(\n"
        f"    {{\n{fingerprint_lines}    }}\n"
        ")\n"
        "# fmt: on\n"
    )


def write_reference_module(npz_path: Path, out_path: Path | None = None) -> Path:
    """Record the references of a reference npz into :mod:`studio.core.assets.ict_reference`.

    Run it after the reference ``ict_facekit.npz`` (or the fingerprint format) changes::

        python -c "from studio.core.assets.ict_facekit import write_reference_module as w; w('../shared/assets/ict_facekit.npz')"

    The module is computed first and then replaces the old one atomically, so a failure never leaves a
    half-written module behind (the package imports it through :mod:`studio.core.assets.catalog`).

    Parameters
    ----------
    npz_path : Path
        The reference ``ict_facekit.npz``.
    out_path : Path or None
        Where to write; default: ``ict_reference.py`` next to this module.

    Returns
    -------
    Path
        The file written.
    """
    text = _reference_module_source(Path(npz_path))
    out_path = Path(out_path) if out_path is not None else Path(__file__).with_name("ict_reference.py")
    return write_text_atomic(out_path, text)
