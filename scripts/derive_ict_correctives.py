"""Derive the ICT-FaceKit rig's corrective constraints from its geometry; rewrite them in its definition.

Two kinds of constraint (paper 001 Sec. 8, "jaw open" + "lips together" must seal the lips):

- ``lip_seal``: for ``jawOpen = mouthClose = 1`` pairs of (upper-lip, lower-lip) vertices that must meet;
- ``eyelid_closure_L`` / ``_R``: for ``eyeBlink_L`` (``_R``) ``= 1`` pairs of (upper-lid, lower-lid) vertices.

How the pairs are found (all from the rig's geometry, nothing picked by hand):

1. The ``face`` group's triangles form an open surface whose boundary edges (edges of exactly one face
   triangle) make four loops: the outer border of the face and the three openings -- the mouth (the loop
   with its centroid nearest ``x = 0``) and the eyes (``x > 0`` is the face's left, ICT's ``_L``).
2. Each opening's loop is split at its two corners (smallest and largest ``x``) into an upper and a lower
   chain (by mean ``y``); the corners themselves are left out.
3. Face vertices within ``MAX_RINGS`` edge hops of the loop are assigned to the upper or lower side of
   the opening by their nearest loop vertex (hop count ``r`` = their ring). Ring 0 is the loop itself: the
   inner lip (eyelid) contour where the skin turns into the mouth (eye) socket.
4. The inner contour is *not* where the lips and lids touch in ICT: its x-paired gap stays 5 mm under
   both correctives (printed as a baseline). The contact line is a few rings out, on the vermilion (lid
   margin). For each upper ring ``r`` every vertex is paired with its nearest lower-side vertex in the
   constrained pose; the ring with the smallest mean gap is the contact line and its pairs are the
   constraint. Pairing in the constrained pose follows the rig's own sealed shape, so the pairs are the
   correspondences ICT's artists built into ``mouthClose`` and ``eyeBlink``.
5. Gaps (pair distances, mm) are measured in the rig as it ships for the constrained pose (the residual a
   calibrated rig should not exceed by much), for the reference pose the corrective corrects
   (``jawOpen`` alone for the lip seal, the open-eyed neutral for the blink) and for the neutral.

The controls part of ``studio/resources/rigs/ict_facekit.json`` is authored by hand; this script replaces only its
``constraints`` list, then loads the result with :class:`~studio.core.rig.definition.RigDefinition` and
checks it against the rig.

Usage (from the repository root, with the studio importable, e.g. the project's venv)::

    STUDIO_ASSETS_DIR=../shared/assets python scripts/derive_ict_correctives.py [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from studio.core.io.resources import RIGS_DIR
from studio.core.rig.definition import RigDefinition

MAX_RINGS = 12
"""How many edge rings around an opening are searched for the contact line."""

MIRROR_TOLERANCE_CM = 0.01
"""Two vertices are mirror images when ``(-x, y, z)`` of one is this close to the other (ICT: < 0.006 cm)."""

JSON_WIDTH = 160
"""Line width of the written JSON (lists and objects that fit stay on one line)."""

SCRIPT = "scripts/derive_ict_correctives.py"


@dataclass(frozen=True)
class ConstraintSpec:
    """What to derive: a constraint's name, the opening it closes, its pose and its reference pose."""

    name: str
    opening: str
    controls: dict[str, float]
    reference_controls: dict[str, float]
    description: str


SPECS: tuple[ConstraintSpec, ...] = (
    ConstraintSpec(
        name="lip_seal",
        opening="mouth",
        controls={"jawOpen": 1.0, "mouthClose": 1.0},
        reference_controls={"jawOpen": 1.0},
        description=(
            "Lips sealed with the jaw open (M/B/P): under jawOpen + mouthClose each upper-lip vertex on the "
            "lip contact line meets its lower-lip partner."
        ),
    ),
    ConstraintSpec(
        name="eyelid_closure_L",
        opening="eye_left",
        controls={"eyeBlink_L": 1.0},
        reference_controls={},
        description=(
            "Left eye closed: under eyeBlink_L each upper-lid margin vertex meets its lower-lid partner."
        ),
    ),
    ConstraintSpec(
        name="eyelid_closure_R",
        opening="eye_right",
        controls={"eyeBlink_R": 1.0},
        reference_controls={},
        description=(
            "Right eye closed: under eyeBlink_R each upper-lid margin vertex meets its lower-lid partner."
        ),
    ),
)


@dataclass(frozen=True)
class Opening:
    """A hole of the face surface (mouth or eye), split into its upper and lower contour."""

    name: str
    loop: np.ndarray
    upper: np.ndarray
    lower: np.ndarray


@dataclass(frozen=True)
class ContactPairs:
    """The pairs found for one constraint and where they lie."""

    pairs: np.ndarray
    upper_ring: int
    lower_rings: tuple[int, int]


# ----------------------------------------------------------------------------------------------------------
# Geometry
# ----------------------------------------------------------------------------------------------------------


def load_ict(assets_dir: Path) -> dict[str, np.ndarray]:
    """Read the arrays the derivation needs from ``ict_facekit.npz``.

    Parameters
    ----------
    assets_dir : Path
        The folder holding ``ict_facekit.npz``.

    Returns
    -------
    dict of str to np.ndarray
        ``neutral`` (V, 3) float64 cm, ``deltas`` (K, V, 3) float64 cm, ``triangles`` (F, 3),
        ``vertex_group`` (V,), ``group_names``, ``expression_names``.
    """
    with np.load(assets_dir / "ict_facekit.npz", allow_pickle=False) as data:
        return {
            "neutral": data["neutral"].astype(np.float64),
            "deltas": data["expression_deltas"].astype(np.float64),
            "triangles": data["triangles"].astype(np.int64),
            "vertex_group": data["vertex_group"].astype(np.int64),
            "group_names": np.array([str(g) for g in data["group_names"]]),
            "expression_names": np.array([str(n) for n in data["expression_names"]]),
        }


def pose(rig: dict[str, np.ndarray], controls: dict[str, float]) -> np.ndarray:
    """Evaluate ``neutral + Σ c_k Δ_k`` for the named controls (others 0); shape ``(V, 3)``, cm.

    Parameters
    ----------
    rig : dict of str to np.ndarray
        As returned by :func:`load_ict`.
    controls : dict of str to float
        Control name to value.

    Returns
    -------
    np.ndarray
        Posed positions, shape ``(V, 3)``, float64, centimetres.
    """
    names = list(rig["expression_names"])
    vertices = rig["neutral"].copy()
    for name, value in controls.items():
        vertices += value * rig["deltas"][names.index(name)]
    return vertices


def face_triangles(rig: dict[str, np.ndarray]) -> np.ndarray:
    """Triangles whose three corners are in the ``face`` group, shape ``(F_face, 3)``."""
    face = int(np.flatnonzero(rig["group_names"] == "face")[0])
    triangles = rig["triangles"]
    return triangles[(rig["vertex_group"][triangles] == face).all(axis=1)]


def boundary_loops(triangles: np.ndarray) -> list[np.ndarray]:
    """The ordered boundary loops of a triangle surface (edges used by exactly one triangle).

    Parameters
    ----------
    triangles : np.ndarray
        Shape ``(F, 3)``; the surface must be manifold along its boundary (two boundary edges per
        boundary vertex).

    Returns
    -------
    list of np.ndarray
        One array of vertex ids per loop, in walking order, longest loop first.
    """
    edges = np.sort(
        np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), axis=1
    )
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    neighbours: dict[int, list[int]] = defaultdict(list)
    for a, b in unique[counts == 1]:
        neighbours[int(a)].append(int(b))
        neighbours[int(b)].append(int(a))
    if any(len(n) != 2 for n in neighbours.values()):
        raise SystemExit("the face surface's boundary is not a set of simple loops")
    loops, visited = [], set()
    for start in sorted(neighbours):
        if start in visited:
            continue
        loop, previous, current = [start], None, start
        while True:
            nxt = neighbours[current][0] if neighbours[current][0] != previous else neighbours[current][1]
            if nxt == start:
                break
            loop.append(nxt)
            previous, current = current, nxt
        visited.update(loop)
        loops.append(np.array(loop, dtype=np.int64))
    return sorted(loops, key=len, reverse=True)


def split_at_corners(loop: np.ndarray, neutral: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a closed loop at its extreme-x corners into (upper, lower) chains, corners excluded."""
    x = neutral[loop, 0]
    loop = np.roll(loop, -int(np.argmin(x)))
    right = int(np.argmax(neutral[loop, 0]))
    first, second = loop[1:right], loop[right + 1 :]
    if neutral[first, 1].mean() < neutral[second, 1].mean():
        first, second = second, first
    return first, second


def find_openings(loops: Sequence[np.ndarray], neutral: np.ndarray) -> dict[str, Opening]:
    """Name the face's holes: ``mouth``, ``eye_left`` (``x > 0``) and ``eye_right``.

    Parameters
    ----------
    loops : sequence of np.ndarray
        Boundary loops of the face surface, longest (the outer border) first.
    neutral : np.ndarray
        Neutral positions, shape ``(V, 3)``.

    Returns
    -------
    dict of str to Opening
        The three openings.
    """
    if len(loops) != 4:
        raise SystemExit(
            f"expected the face surface to have 4 boundary loops (border, mouth, 2 eyes), got {len(loops)}"
        )
    holes = sorted(loops[1:], key=lambda loop: abs(neutral[loop, 0].mean()))
    mouth, eyes = holes[0], holes[1:]
    left = next(loop for loop in eyes if neutral[loop, 0].mean() > 0)
    right = next(loop for loop in eyes if neutral[loop, 0].mean() < 0)
    return {name: Opening(name, loop, *split_at_corners(loop, neutral)) for name, loop in
            (("mouth", mouth), ("eye_left", left), ("eye_right", right))}  # fmt: skip


def rings_around(triangles: np.ndarray, loop: np.ndarray, num_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """Edge-hop distance of every vertex from a loop over a surface, and its nearest loop vertex.

    Parameters
    ----------
    triangles : np.ndarray
        The surface, shape ``(F, 3)``.
    loop : np.ndarray
        Vertex ids of the loop.
    num_vertices : int
        ``V``.

    Returns
    -------
    rings : np.ndarray
        Shape ``(V,)``, float: hops to the loop (0 on it), ``inf`` when not connected.
    nearest : np.ndarray
        Shape ``(V,)``, int: the loop vertex reached, ``-9999`` when not connected.
    """
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    graph = coo_matrix(
        (np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(num_vertices, num_vertices)
    ).tocsr()
    graph = graph + graph.T
    rings, _, nearest = dijkstra(
        graph, unweighted=True, indices=loop, min_only=True, return_predecessors=True
    )
    return rings, nearest


def contact_pairs(
    opening: Opening, rings: np.ndarray, nearest: np.ndarray, posed: np.ndarray, neutral: np.ndarray
) -> ContactPairs:
    """Find the contact line of an opening in a closed pose and pair it across the opening.

    Parameters
    ----------
    opening : Opening
        The mouth or an eye.
    rings, nearest : np.ndarray
        As returned by :func:`rings_around` for ``opening.loop``.
    posed : np.ndarray
        The closed pose, shape ``(V, 3)``, cm.
    neutral : np.ndarray
        Neutral positions (orders the pairs by ``x``), shape ``(V, 3)``.

    Returns
    -------
    ContactPairs
        ``(upper, lower)`` vertex pairs of the upper ring with the smallest mean gap in ``posed``.
    """
    near = rings <= MAX_RINGS
    upper_side = np.flatnonzero(near & np.isin(nearest, opening.upper))
    lower_side = np.flatnonzero(near & np.isin(nearest, opening.lower))
    tree = cKDTree(posed[lower_side])
    best: tuple[float, int, np.ndarray] | None = None
    for ring in range(MAX_RINGS + 1):
        upper = upper_side[rings[upper_side] == ring]
        if len(upper) == 0:
            continue
        upper = upper[np.argsort(neutral[upper, 0], kind="stable")]
        gaps, match = tree.query(posed[upper])
        if best is None or gaps.mean() < best[0]:
            best = (float(gaps.mean()), ring, np.stack([upper, lower_side[match]], axis=1))
    assert best is not None
    pairs = best[2]
    lower_rings = rings[pairs[:, 1]]
    return ContactPairs(
        pairs=pairs, upper_ring=best[1], lower_rings=(int(lower_rings.min()), int(lower_rings.max()))
    )


def x_paired_contour(opening: Opening, neutral: np.ndarray) -> np.ndarray:
    """Baseline pairing: each upper inner-contour vertex with the lower one nearest in ``x``, ``(P, 2)``."""
    match = np.argmin(np.abs(neutral[opening.upper, 0][:, None] - neutral[opening.lower, 0][None, :]), axis=1)
    return np.stack([opening.upper, opening.lower[match]], axis=1)


def gap_stats(vertices: np.ndarray, pairs: np.ndarray) -> dict[str, float]:
    """Mean and largest pair distance in millimetres (``vertices`` in cm), rounded to µm."""
    gaps = np.linalg.norm(vertices[pairs[:, 0]] - vertices[pairs[:, 1]], axis=1) * 10.0
    return {"mean": round(float(gaps.mean()), 3), "max": round(float(gaps.max()), 3)}


def mirror_vertices(neutral: np.ndarray, ids: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The mirror image (``x → -x``) of each vertex in ``ids`` among ``candidates``; ``-1`` if none is close.

    ``candidates`` should be one group's vertices: other groups (eye occlusion, lacrimal) have vertices that
    coincide with face vertices.
    """
    distance, match = cKDTree(neutral[candidates]).query(neutral[ids] * np.array([-1.0, 1.0, 1.0]))
    return np.where(distance < MIRROR_TOLERANCE_CM, candidates[match], -1)


def mirror_pairs(neutral: np.ndarray, pairs: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The mirror images of vertex pairs, shape ``(P, 2)`` (see :func:`mirror_vertices`)."""
    return np.stack([mirror_vertices(neutral, pairs[:, i], candidates) for i in (0, 1)], axis=1)


def pair_set(pairs: np.ndarray) -> set[tuple[int, int]]:
    """Pairs as a set of tuples, for order-free comparison."""
    return {(int(a), int(b)) for a, b in pairs}


# ----------------------------------------------------------------------------------------------------------
# JSON output
# ----------------------------------------------------------------------------------------------------------


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def format_json(value: Any, indent: int = 0, width: int = JSON_WIDTH) -> str:
    """JSON text in which objects and lists that fit in ``width`` stay on one line.

    Lists of scalars or of short scalar lists (vertex pairs) are packed several per line.

    Parameters
    ----------
    value : Any
        JSON-serialisable data.
    indent : int
        Column of the line the value starts on.
    width : int
        Maximum line length aimed at.

    Returns
    -------
    str
        The text, without a trailing newline.
    """
    flat = json.dumps(value, ensure_ascii=False)
    if _is_scalar(value) or not value or indent + len(flat) <= width:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            head = f"{pad}{json.dumps(key)}: "
            text = json.dumps(item, ensure_ascii=False)
            items.append(
                head + (text if len(head) + len(text) <= width else format_json(item, indent + 2, width))
            )
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if all(_is_scalar(v) or (isinstance(v, list) and all(_is_scalar(w) for w in v)) for v in value):
        lines, line = [], ""
        for item in (json.dumps(v) for v in value):
            if line and len(pad) + len(line) + len(item) + 2 > width:
                lines.append(pad + line.rstrip(", "))
                line = ""
            line += item + ", "
        lines.append(pad + line.rstrip(", "))
        return "[\n" + ",\n".join(lines) + "\n" + " " * indent + "]"
    return (
        "[\n" + ",\n".join(pad + format_json(v, indent + 2, width) for v in value) + "\n" + " " * indent + "]"
    )


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` with :func:`format_json` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(format_json(data) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------


def derive(rig: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Derive every constraint of :data:`SPECS`, printing the measurements.

    Parameters
    ----------
    rig : dict of str to np.ndarray
        As returned by :func:`load_ict`.

    Returns
    -------
    list of dict
        The ``constraints`` entries of the definition file.
    """
    neutral = rig["neutral"]
    surface = face_triangles(rig)
    openings = find_openings(boundary_loops(surface), neutral)
    out: list[dict[str, Any]] = []
    found: dict[str, np.ndarray] = {}
    for spec in SPECS:
        opening = openings[spec.opening]
        rings, nearest = rings_around(surface, opening.loop, len(neutral))
        posed = pose(rig, spec.controls)
        contact = contact_pairs(opening, rings, nearest, posed, neutral)
        found[spec.name] = contact.pairs
        baseline = x_paired_contour(opening, neutral)
        residual = gap_stats(posed, contact.pairs)
        reference = gap_stats(pose(rig, spec.reference_controls), contact.pairs)
        at_neutral = gap_stats(neutral, contact.pairs)
        inner = gap_stats(posed, baseline)
        parts = "lips" if spec.opening == "mouth" else "lids"
        reference_pose = spec.reference_controls or "neutral"
        print(
            f"{spec.name}: {spec.opening} loop of {len(opening.loop)} vertices "
            f"({len(opening.upper)} upper, {len(opening.lower)} lower, 2 corners)\n"
            f"  inner contour, x-paired ({len(baseline)} pairs): under {spec.controls} "
            f"mean {inner['mean']:.2f} mm, max {inner['max']:.2f} mm -- not where the {parts} meet\n"
            f"  contact line: upper ring {contact.upper_ring}, lower rings {contact.lower_rings[0]}-"
            f"{contact.lower_rings[1]}, {len(contact.pairs)} pairs "
            f"({len(np.unique(contact.pairs[:, 1]))} distinct lower vertices)\n"
            f"  gap mean/max mm: constrained {residual['mean']:.2f}/{residual['max']:.2f}, "
            f"reference {reference_pose} {reference['mean']:.2f}/{reference['max']:.2f}, "
            f"neutral {at_neutral['mean']:.2f}/{at_neutral['max']:.2f}"
        )
        out.append(
            {
                "name": spec.name,
                "description": spec.description,
                "controls": spec.controls,
                "reference_controls": spec.reference_controls,
                "residual_gap_mm": residual,
                "reference_gap_mm": reference,
                "neutral_gap_mm": at_neutral,
                "derivation": {
                    "script": SCRIPT,
                    "opening": spec.opening,
                    "boundary_loop_vertices": len(opening.loop),
                    "upper_ring": contact.upper_ring,
                    "lower_rings": list(contact.lower_rings),
                    "max_rings": MAX_RINGS,
                    "inner_contour_x_paired_gap_mm": inner,
                },
                "vertex_pairs": contact.pairs.tolist(),
            }
        )
    face_vertices = np.unique(surface)
    lips = found["lip_seal"]
    same = len(pair_set(mirror_pairs(neutral, lips, face_vertices)) & pair_set(lips))
    print(f"lip_seal: {same} of {len(lips)} pairs have their mirror image among the pairs")
    left, right = found["eyelid_closure_L"], found["eyelid_closure_R"]
    same = len(pair_set(mirror_pairs(neutral, left, face_vertices)) & pair_set(right))
    print(f"eyelid_closure_R: {same} of {len(right)} pairs are mirror images of eyelid_closure_L pairs")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Derive the constraints and rewrite the ``constraints`` list of the ICT rig definition.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Process exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--definition", type=Path, default=RIGS_DIR / "ict_facekit.json", help="definition file to update"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the measurements, write nothing")
    args = parser.parse_args(argv)
    folder = os.environ.get("STUDIO_ASSETS_DIR")
    if not folder or not Path(folder, "ict_facekit.npz").exists():
        print("STUDIO_ASSETS_DIR must point at a folder holding ict_facekit.npz", file=sys.stderr)
        return 2
    rig = load_ict(Path(folder))
    constraints = derive(rig)
    if args.dry_run:
        return 0
    try:
        data = json.loads(args.definition.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        print(f"{args.definition}: cannot read the definition to update ({error})", file=sys.stderr)
        return 2
    data["constraints"] = constraints
    write_json_atomic(args.definition, data)
    definition = RigDefinition.load(args.definition)
    definition.validate_against(list(rig["expression_names"]), len(rig["neutral"]))
    print(f"wrote {len(constraints)} constraints to {args.definition}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
