"""glTF 2.0 morph animation (``.glb``): a mesh with its blendshapes, and a take as their weights over time.

The writer computes its whole output first and then writes it atomically through
:mod:`studio.core.io.atomic_files`, so a failure -- bad input included -- never leaves a half-written file
and leaves an existing file untouched. It raises ``ValueError`` for bad arguments (wrong shapes, NaN,
non-increasing times); the reader raises :class:`~studio.core.io.curves.TakeFileError` with one line.

:func:`write_morph_glb` writes a binary glTF with one buffer, one mesh named ``mesh_name`` with one
triangle primitive (``POSITION``: float32 VEC3 with min/max; indices: uint32 SCALAR) whose ``targets`` are
the ``K`` blendshapes as ``POSITION`` displacement accessors (float32 VEC3 with min/max), ``mesh.weights``
all zero and ``mesh.extras.targetNames`` the ``K`` names (the convention Blender, three.js and trimesh
read). One node (mesh 0, named ``mesh_name``) in one scene. One animation ``"take"`` with one LINEAR
sampler -- input: the ``T`` frame times in seconds (float32 SCALAR with min/max), output: the ``T × K``
weights, all ``K`` of frame 0, then all ``K`` of frame 1, ... -- and one channel targeting node 0, path
``"weights"``. Positions and displacements are converted from the rig's centimetres to glTF's metres
(× 0.01). No normals are written (viewers compute them).

With a head pose (a tracked take's, :data:`~studio.core.io.curves.HEAD_POSE_COLUMNS`) the mesh's node is
the child of a node named ``"head"`` (node 1, the scene's root), and the animation has two more LINEAR
channels on it, sharing the times: ``"rotation"`` (unit quaternions x, y, z, w, float32 VEC4) and
``"translation"`` (metres, float32 VEC3) — the head turning about the rig's origin and moving from its rest.

Shapes: ``T`` frames, ``K`` morph targets, ``V`` vertices, ``F`` triangles.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pygltflib

from studio.core.io.atomic_files import write_atomic
from studio.core.io.curves import TakeFileError, checked_finite, checked_times

__all__ = ["HEAD_NODE", "read_morph_glb_summary", "write_morph_glb"]

#: The name of the node a head pose animates (the mesh's node is its child).
HEAD_NODE = "head"


_CM_TO_M = 0.01
_GLTF_COMPONENTS = {
    pygltflib.FLOAT: np.float32,
    pygltflib.UNSIGNED_INT: np.uint32,
    pygltflib.UNSIGNED_SHORT: np.uint16,
    pygltflib.UNSIGNED_BYTE: np.uint8,
}
_GLTF_WIDTHS = {pygltflib.SCALAR: 1, pygltflib.VEC2: 2, pygltflib.VEC3: 3, pygltflib.VEC4: 4}


def write_morph_glb(
    path: str | os.PathLike,
    *,
    neutral: np.ndarray,
    triangles: np.ndarray,
    deltas: np.ndarray,
    target_names: Sequence[str],
    time_s: np.ndarray,
    weights: np.ndarray,
    mesh_name: str = "face",
    head_rotation: np.ndarray | None = None,
    head_translation_cm: np.ndarray | None = None,
    start_timecode: str | None = None,
) -> Path:
    """Write a mesh with morph targets and their animation as a binary glTF 2.0 (``.glb``), atomically.

    Layout in the module docstring; positions are converted from centimetres to metres.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.glb`` to write.
    neutral : np.ndarray
        Neutral vertex positions, shape ``(V, 3)``, centimetres.
    triangles : np.ndarray
        Vertex ids, shape ``(F, 3)``, integers in ``[0, V)``, ``F >= 1``.
    deltas : np.ndarray
        Morph-target displacements, shape ``(K, V, 3)``, centimetres, ``K >= 1``.
    target_names : sequence of str
        The ``K`` target names (``mesh.extras.targetNames``).
    time_s : np.ndarray
        Keyframe times, shape ``(T,)``, seconds, finite, ``time_s[0] >= 0``, strictly increasing, ``T >= 1``.
    weights : np.ndarray
        Target weights per keyframe, shape ``(T, K)``, finite.
    mesh_name : str
        Name of the mesh and of its node.
    head_rotation, head_translation_cm : np.ndarray, optional
        Together: the head's rotation per keyframe as unit quaternions ``(x, y, z, w)``, shape ``(T, 4)``, and
        its translation, shape ``(T, 3)``, centimetres, finite: they animate a ``"head"`` node above the mesh
        (module docstring).
    start_timecode : str, optional
        SMPTE timecode of the first keyframe, kept as the asset's ``extras.startTimecode``.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        Wrong shapes, NaN or infinite values, vertex ids out of range, times negative or not increasing.
    """
    morph = _MorphAnimation.checked(neutral, triangles, deltas, target_names, time_s, weights)
    if (head_rotation is None) != (head_translation_cm is None):
        raise ValueError("morph glb: head_rotation and head_translation_cm come together")
    num_frames = morph.times.shape[0]
    if head_rotation is not None:
        quaternions = checked_finite("head_rotation", head_rotation, (num_frames, 4))
        if not np.allclose(np.linalg.norm(quaternions, axis=1), 1.0, atol=1e-4):
            raise ValueError("morph glb: head_rotation must hold unit quaternions")
        translation = checked_finite("head_translation_cm", head_translation_cm, (num_frames, 3))
    buffers = _GlbBuffers()
    position_accessor = buffers.add(
        morph.positions * np.float32(_CM_TO_M), pygltflib.VEC3, pygltflib.FLOAT, pygltflib.ARRAY_BUFFER
    )
    index_accessor = buffers.add(
        morph.faces.astype(np.uint32).reshape(-1),
        pygltflib.SCALAR,
        pygltflib.UNSIGNED_INT,
        pygltflib.ELEMENT_ARRAY_BUFFER,
        with_bounds=False,
    )
    target_accessors = [
        buffers.add(delta * np.float32(_CM_TO_M), pygltflib.VEC3, pygltflib.FLOAT, pygltflib.ARRAY_BUFFER)
        for delta in morph.displacements
    ]
    time_accessor = buffers.add(morph.times, pygltflib.SCALAR, pygltflib.FLOAT, None)
    weight_accessor = buffers.add(
        morph.weights.reshape(-1), pygltflib.SCALAR, pygltflib.FLOAT, None, with_bounds=False
    )
    primitive = pygltflib.Primitive(
        attributes=pygltflib.Attributes(POSITION=position_accessor),
        indices=index_accessor,
        mode=pygltflib.TRIANGLES,
        targets=[{"POSITION": accessor} for accessor in target_accessors],
    )
    head_accessors = None
    if head_rotation is not None:
        head_accessors = (
            buffers.add(quaternions.astype(np.float32), pygltflib.VEC4, pygltflib.FLOAT, None, with_bounds=False),
            buffers.add((translation * _CM_TO_M).astype(np.float32), pygltflib.VEC3, pygltflib.FLOAT, None,
                        with_bounds=False),
        )  # fmt: skip
    gltf = _animated_mesh_document(mesh_name, primitive, morph.names, time_accessor, weight_accessor, buffers,
                                   head_accessors)  # fmt: skip
    if start_timecode:
        gltf.asset.extras = {"startTimecode": str(start_timecode)}
    data = b"".join(gltf.save_to_bytes())
    return write_atomic(Path(path), lambda handle: handle.write(data))


@dataclass(frozen=True)
class _MorphAnimation:
    """What :func:`write_morph_glb` writes, checked: positions ``(V, 3)``, faces ``(F, 3)``, displacements
    ``(K, V, 3)`` (float32, cm), target names, times ``(T,)`` and weights ``(T, K)`` (float32)."""

    positions: np.ndarray
    faces: np.ndarray
    displacements: np.ndarray
    names: list[str]
    times: np.ndarray
    weights: np.ndarray

    @classmethod
    def checked(cls, neutral, triangles, deltas, target_names, time_s, weights) -> _MorphAnimation:
        """Check the arguments of :func:`write_morph_glb` (its ``ValueError`` s) and convert them."""
        positions = checked_finite("neutral", neutral, (None, 3)).astype(np.float32)
        num_vertices = positions.shape[0]
        if num_vertices == 0:
            raise ValueError("morph glb: neutral has no vertices")
        faces = np.asarray(triangles)
        if (
            faces.ndim != 2
            or faces.shape[1] != 3
            or faces.shape[0] == 0
            or not np.issubdtype(faces.dtype, np.integer)
        ):
            raise ValueError(
                f"morph glb: triangles must be (F, 3) integers with F >= 1, got {faces.shape} {faces.dtype}"
            )
        if faces.min() < 0 or faces.max() >= num_vertices:
            raise ValueError(f"morph glb: triangles must hold vertex ids in [0, {num_vertices})")
        names = [str(name) for name in target_names]
        num_targets = len(names)
        if num_targets == 0:
            raise ValueError("morph glb: at least one morph target is needed")
        displacements = checked_finite("deltas", deltas, (num_targets, num_vertices, 3)).astype(np.float32)
        times = checked_times("time_s", time_s)
        if times.shape[0] == 0:
            raise ValueError("morph glb: time_s needs at least one keyframe")
        if times[0] < 0:
            raise ValueError(f"morph glb: time_s must be >= 0 (glTF), got {times[0]}")
        times32 = times.astype(np.float32)
        if not (np.diff(times32) > 0).all():
            raise ValueError("morph glb: time_s is not strictly increasing once rounded to float32")
        frame_weights = checked_finite("weights", weights, (times.shape[0], num_targets)).astype(np.float32)
        return cls(positions, faces, displacements, names, times32, frame_weights)


class _GlbBuffers:
    """The one binary buffer of a ``.glb``, its buffer views and accessors, built array by array."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.buffer_views: list[pygltflib.BufferView] = []
        self.accessors: list[pygltflib.Accessor] = []

    def add(self, data: np.ndarray, kind: str, component: int, target: int | None, with_bounds: bool = True) -> int:
        """Append ``data`` (4-byte aligned) with a buffer view and an accessor; the accessor's index."""
        data = np.ascontiguousarray(data)
        self.buffer_views.append(
            pygltflib.BufferView(buffer=0, byteOffset=len(self.blob), byteLength=data.nbytes, target=target)
        )
        self.blob.extend(data.tobytes())
        self.blob.extend(b"\0" * (-len(self.blob) % 4))
        rows = data.reshape(data.shape[0], -1)
        self.accessors.append(
            pygltflib.Accessor(
                bufferView=len(self.buffer_views) - 1,
                componentType=component,
                count=int(data.shape[0]),
                type=kind,
                min=rows.min(axis=0).tolist() if with_bounds else None,
                max=rows.max(axis=0).tolist() if with_bounds else None,
            )
        )
        return len(self.accessors) - 1


def _animated_mesh_document(
    mesh_name: str,
    primitive: pygltflib.Primitive,
    names: list[str],
    time_accessor: int,
    weight_accessor: int,
    buffers: _GlbBuffers,
    head_accessors: tuple[int, int] | None = None,
) -> pygltflib.GLTF2:
    """One scene with one node holding the mesh (under an animated ``head`` node when ``head_accessors`` gives
    the rotation and translation outputs), and one LINEAR animation of its morph weights (and head)."""
    nodes = [pygltflib.Node(mesh=0, name=mesh_name)]
    samplers = [pygltflib.AnimationSampler(input=time_accessor, output=weight_accessor, interpolation="LINEAR")]
    channels = [pygltflib.AnimationChannel(sampler=0, target=pygltflib.AnimationChannelTarget(node=0, path="weights"))]
    if head_accessors is not None:
        nodes.append(pygltflib.Node(name=HEAD_NODE, children=[0]))
        for path, output in zip(("rotation", "translation"), head_accessors, strict=True):
            samplers.append(pygltflib.AnimationSampler(input=time_accessor, output=output, interpolation="LINEAR"))
            channels.append(pygltflib.AnimationChannel(
                sampler=len(samplers) - 1, target=pygltflib.AnimationChannelTarget(node=1, path=path)))
    gltf = pygltflib.GLTF2(
        asset=pygltflib.Asset(version="2.0", generator="Simon Says Studio"),
        scene=0,
        scenes=[pygltflib.Scene(nodes=[len(nodes) - 1])],
        nodes=nodes,
        meshes=[
            pygltflib.Mesh(
                name=mesh_name,
                primitives=[primitive],
                weights=[0.0] * len(names),
                extras={"targetNames": names},
            )
        ],
        animations=[
            pygltflib.Animation(name="take", samplers=samplers, channels=channels)
        ],
        accessors=buffers.accessors,
        bufferViews=buffers.buffer_views,
        buffers=[pygltflib.Buffer(byteLength=len(buffers.blob))],
    )
    gltf.set_binary_blob(bytes(buffers.blob))
    return gltf


def read_morph_glb_summary(path: str | os.PathLike) -> dict[str, Any]:
    """Summarise a morph-animation ``.glb`` (first mesh, first primitive, first animation).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.glb`` to read.

    Returns
    -------
    dict
        ``mesh_name`` (str), ``num_vertices`` (``V``), ``num_triangles`` (``F``), ``num_targets`` (``K``),
        ``target_names`` (tuple of ``K`` str, from ``mesh.extras.targetNames``; empty when absent),
        ``times`` (keyframe times, shape ``(T,)``, float64, seconds), ``weights`` (shape ``(T, K)``,
        float32) and ``duration_s`` (last keyframe time, 0 without animation). A file without a
        ``weights`` animation gives ``T = 0``. ``head_rotation`` (quaternions x, y, z, w, ``(T, 4)``) and
        ``head_translation_m`` (``(T, 3)``, metres) of the ``"head"`` node's animation, or None;
        ``start_timecode`` (the asset's ``extras.startTimecode``) or None.

    Raises
    ------
    TakeFileError
        One line naming the file: not a glb, no mesh, an accessor that does not fit its buffer.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise TakeFileError(f"{path}: cannot read ({error})") from None
    if data[:4] != b"glTF":
        raise TakeFileError(f"{path}: not a binary glTF (.glb) file")
    try:
        gltf = pygltflib.GLTF2.load_from_bytes(data)
    except (ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError) as error:
        raise TakeFileError(f"{path}: cannot parse the glb ({error})") from None
    if gltf is None or not gltf.meshes or not gltf.meshes[0].primitives:
        raise TakeFileError(f"{path}: the glb holds no mesh")
    try:
        return _summarise_glb(path, gltf)
    except (IndexError, KeyError, TypeError, AttributeError) as error:
        raise TakeFileError(f"{path}: inconsistent glb ({type(error).__name__}: {error})") from None


def _summarise_glb(path: Path, gltf: pygltflib.GLTF2) -> dict[str, Any]:
    mesh = gltf.meshes[0]
    primitive = mesh.primitives[0]
    blob = gltf.binary_blob() or b""
    num_vertices = (
        gltf.accessors[primitive.attributes.POSITION].count
        if primitive.attributes.POSITION is not None
        else 0
    )
    num_triangles = (
        gltf.accessors[primitive.indices].count // 3 if primitive.indices is not None else num_vertices // 3
    )
    num_targets = len(primitive.targets or [])
    extras = mesh.extras if isinstance(mesh.extras, dict) else {}
    target_names = tuple(str(name) for name in extras.get("targetNames", ()))
    times = np.zeros(0, np.float64)
    weights = np.zeros((0, num_targets), np.float32)
    head: dict[str, np.ndarray] = {}
    head_node = next((i for i, node in enumerate(gltf.nodes or []) if node.name == HEAD_NODE), None)
    for animation in gltf.animations or []:
        for channel in animation.channels:
            if head_node is not None and channel.target.node == head_node and channel.target.path in (
                "rotation", "translation"
            ):
                output = animation.samplers[channel.sampler].output
                head[channel.target.path] = _read_accessor(path, gltf, blob, output).astype(np.float64)
    for animation in gltf.animations or []:
        for channel in animation.channels:
            if channel.target.path != "weights":
                continue
            sampler = animation.samplers[channel.sampler]
            times = _read_accessor(path, gltf, blob, sampler.input).reshape(-1).astype(np.float64)
            flat = _read_accessor(path, gltf, blob, sampler.output).reshape(-1).astype(np.float32)
            if num_targets == 0 or flat.size != times.size * num_targets:
                raise TakeFileError(
                    f"{path}: animation output has {flat.size} values, expected {times.size} times × {num_targets}"
                )
            weights = flat.reshape(times.size, num_targets)
            break
        if times.size:
            break
    return {
        "mesh_name": mesh.name or "",
        "num_vertices": int(num_vertices),
        "num_triangles": int(num_triangles),
        "num_targets": num_targets,
        "target_names": target_names,
        "times": times,
        "weights": weights,
        "duration_s": float(times[-1]) if times.size else 0.0,
        "head_rotation": head.get("rotation"),
        "head_translation_m": head.get("translation"),
        "start_timecode": gltf.asset.extras.get("startTimecode") if isinstance(gltf.asset.extras, dict) else None,
    }


def _read_accessor(path: Path, gltf: pygltflib.GLTF2, blob: bytes, index: int) -> np.ndarray:
    """An accessor's data from the glb's binary chunk, shape ``(count, width)``."""
    accessor = gltf.accessors[index]
    dtype = _GLTF_COMPONENTS.get(accessor.componentType)
    width = _GLTF_WIDTHS.get(accessor.type)
    if dtype is None or width is None or accessor.bufferView is None:
        raise TakeFileError(
            f"{path}: accessor {index}: unsupported layout ({accessor.componentType}, {accessor.type})"
        )
    view = gltf.bufferViews[accessor.bufferView]
    item = np.dtype(dtype).itemsize * width
    stride = view.byteStride or item
    start = (view.byteOffset or 0) + (accessor.byteOffset or 0)
    end = start + stride * (accessor.count - 1) + item if accessor.count else start
    if end > len(blob) or end > (view.byteOffset or 0) + view.byteLength:
        raise TakeFileError(f"{path}: accessor {index} runs past its buffer")
    rows = np.lib.stride_tricks.as_strided(
        np.frombuffer(blob, np.uint8, count=end - start, offset=start)
        if accessor.count
        else np.zeros(0, np.uint8),
        shape=(accessor.count, item),
        strides=(stride, 1),
    )
    return np.ascontiguousarray(rows).view(dtype).reshape(accessor.count, width)


# ----------------------------------------------------------------------------------------------------------
# Gaps
