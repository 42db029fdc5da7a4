"""USD export of a take: a UsdSkel blend-shape animation that Omniverse, Houdini (Solaris) and Unreal read.

Layout of the file (``.usd`` crate, or ``.usda`` text when the name says so)::

    /Root                 SkelRoot (upAxis Y, metersPerUnit 0.01: the rig's centimetres)
        Skel              Skeleton with one joint, ``head``, at rest; skel:animationSource → Anim
            Anim          SkelAnimation: blendShapes (names) and time-sampled blendShapeWeights
        Face              Mesh (points, faces) bound to Skel (SkelBindingAPI: skel:blendShapes and
                          skel:blendShapeTargets, every point on ``head`` with weight 1)
            <shape>       BlendShape per control: the offsets of the points it moves (pointIndices)

Time codes are the frame times in frames (``time_s · fps``; ``timeCodesPerSecond = fps``), so a take with a
variable frame rate keeps its true times. Weights are the take's controls (a target's own controls when
retargeted). With a head pose the ``head`` joint's ``rotations`` (quaternions) and ``translations`` (cm) are
time-sampled on the same codes (the head turning about the rig's origin and moving from its rest); without
one the joint stays at rest.

The file is written next to its destination under a temporary name and renamed when complete, so a failed
export leaves nothing and an existing file is untouched. :class:`UsdExportError` says in one line what went
wrong (a folder that cannot be written, a name USD cannot take).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from studio.core.errors import StudioError
from studio.core.io.curves import checked_finite, checked_times

__all__ = ["UsdExportError", "read_blendshape_usd_summary", "write_blendshape_usd"]

#: Offsets below this (cm) are left out of a blend shape (its pointIndices list the points it moves).
_MOVES_CM = 1e-6


class UsdExportError(StudioError):
    """A USD file could not be written (one line naming the file and the reason)."""


def write_blendshape_usd(
    path: str | os.PathLike,
    neutral: np.ndarray,
    triangles: np.ndarray,
    deltas: np.ndarray,
    shape_names: Sequence[str],
    time_s: np.ndarray,
    weights: np.ndarray,
    mesh_name: str = "face",
    head_rotation: np.ndarray | None = None,
    head_translation_cm: np.ndarray | None = None,
    start_timecode: str | None = None,
) -> Path:
    """Write a blend-shape animation as UsdSkel (module docstring).

    Parameters
    ----------
    path : path
        The ``.usd``/``.usda``/``.usdc`` file.
    neutral : np.ndarray
        The mesh at rest, ``(V, 3)``, cm.
    triangles : np.ndarray
        ``(F, 3)`` vertex indices.
    deltas : np.ndarray
        Per shape the offsets, ``(K, V, 3)``, cm.
    shape_names : sequence of str
        ``K`` names (made valid USD identifiers; two names that become the same are refused).
    time_s : np.ndarray
        Frame times, ``(T,)``, seconds, increasing.
    weights : np.ndarray
        ``(T, K)``, finite.
    mesh_name : str
        Kept as the mesh's documentation.
    head_rotation, head_translation_cm : np.ndarray, optional
        Together: the head joint's rotation per frame as unit quaternions ``(x, y, z, w)``, ``(T, 4)``, and its
        translation, ``(T, 3)``, cm.
    start_timecode : str, optional
        SMPTE timecode of the first frame, kept in the layer's ``customLayerData`` as ``startTimecode``.

    Raises
    ------
    ValueError
        Wrong shapes, NaN, times that do not increase.
    UsdExportError
        The file cannot be written.
    """
    from pxr import Gf, Tf, Usd, UsdGeom, UsdSkel, Vt

    path = Path(path)
    neutral = np.asarray(neutral, np.float64)
    triangles = np.asarray(triangles, np.int64)
    deltas = np.asarray(deltas, np.float64)
    time_s = checked_times("time_s", np.asarray(time_s, np.float64))
    k = len(shape_names)
    weights = checked_finite("weights", np.asarray(weights, np.float64), (len(time_s), k))
    if neutral.ndim != 2 or neutral.shape[1] != 3 or deltas.shape != (k, *neutral.shape):
        raise ValueError(f"neutral (V, 3) and deltas (K, V, 3) do not fit: {neutral.shape}, {deltas.shape}, K = {k}")
    if triangles.ndim != 2 or triangles.shape[1] != 3 or triangles.min() < 0 or triangles.max() >= len(neutral):
        raise ValueError(f"triangles must be (F, 3) indices of the {len(neutral)} points")
    if (head_rotation is None) != (head_translation_cm is None):
        raise ValueError("head_rotation and head_translation_cm come together")
    if head_rotation is not None:
        head_rotation = checked_finite("head_rotation", head_rotation, (len(time_s), 4))
        head_translation_cm = checked_finite("head_translation_cm", head_translation_cm, (len(time_s), 3))
    identifiers = [Tf.MakeValidIdentifier(str(name)) for name in shape_names]
    if len(set(identifiers)) != k:
        raise ValueError("two shape names become the same USD identifier")
    fps = (len(time_s) - 1) / (time_s[-1] - time_s[0]) if len(time_s) > 1 else 30.0
    codes = (time_s - time_s[0]) * fps

    if not path.parent.is_dir():
        raise UsdExportError(f"{path}: cannot write here: the folder {path.parent} does not exist")
    partial = path.with_name(f".{path.stem}.tmp{path.suffix or '.usd'}")
    try:
        stage = Usd.Stage.CreateNew(str(partial))
    except Exception as error:  # pxr raises Tf errors of its own kinds
        raise UsdExportError(f"{path}: cannot write a USD file here ({str(error).splitlines()[0][:80]})") from None
    try:
        UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
        UsdGeom.SetStageMetersPerUnit(stage, 0.01)
        stage.SetTimeCodesPerSecond(float(fps))
        stage.SetFramesPerSecond(float(fps))
        stage.SetStartTimeCode(0.0)
        stage.SetEndTimeCode(float(codes[-1]))
        if start_timecode:
            stage.GetRootLayer().customLayerData = {"startTimecode": str(start_timecode)}
        root = UsdSkel.Root.Define(stage, "/Root")
        stage.SetDefaultPrim(root.GetPrim())
        skeleton = UsdSkel.Skeleton.Define(stage, "/Root/Skel")
        identity = Gf.Matrix4d(1.0)
        skeleton.CreateJointsAttr(Vt.TokenArray(["head"]))
        skeleton.CreateBindTransformsAttr(Vt.Matrix4dArray([identity]))
        skeleton.CreateRestTransformsAttr(Vt.Matrix4dArray([identity]))
        animation = UsdSkel.Animation.Define(stage, "/Root/Skel/Anim")
        animation.CreateJointsAttr(Vt.TokenArray(["head"]))
        translations_attr = animation.CreateTranslationsAttr(Vt.Vec3fArray([Gf.Vec3f(0.0)]))
        rotations_attr = animation.CreateRotationsAttr(Vt.QuatfArray([Gf.Quatf(1.0)]))
        if head_rotation is not None:
            for code, (x, y, z, w), move in zip(codes, head_rotation, head_translation_cm, strict=True):
                time_code = Usd.TimeCode(float(code))
                rotations_attr.Set(Vt.QuatfArray([Gf.Quatf(float(w), float(x), float(y), float(z))]), time_code)
                translations_attr.Set(Vt.Vec3fArray([Gf.Vec3f(*map(float, move))]), time_code)
        animation.CreateScalesAttr(Vt.Vec3hArray([Gf.Vec3h(1.0)]))
        animation.CreateBlendShapesAttr(Vt.TokenArray(identifiers))
        weights_attr = animation.CreateBlendShapeWeightsAttr()
        for code, row in zip(codes, weights, strict=True):
            weights_attr.Set(Vt.FloatArray(row.astype(np.float32).tolist()), Usd.TimeCode(float(code)))
        UsdSkel.BindingAPI.Apply(skeleton.GetPrim()).CreateAnimationSourceRel().SetTargets([animation.GetPath()])

        mesh = UsdGeom.Mesh.Define(stage, "/Root/Face")
        mesh.GetPrim().SetDocumentation(str(mesh_name))
        mesh.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(neutral.astype(np.float32)))
        mesh.CreateFaceVertexCountsAttr(Vt.IntArray([3] * len(triangles)))
        mesh.CreateFaceVertexIndicesAttr(Vt.IntArray(triangles.reshape(-1).tolist()))
        mesh.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
        binding = UsdSkel.BindingAPI.Apply(mesh.GetPrim())
        binding.CreateSkeletonRel().SetTargets([skeleton.GetPath()])
        binding.CreateJointIndicesPrimvar(constant=True, elementSize=1).Set(Vt.IntArray([0]))
        binding.CreateJointWeightsPrimvar(constant=True, elementSize=1).Set(Vt.FloatArray([1.0]))
        binding.CreateGeomBindTransformAttr(identity)
        targets = []
        for identifier, offsets in zip(identifiers, deltas, strict=True):
            shape = UsdSkel.BlendShape.Define(stage, mesh.GetPath().AppendChild(identifier))
            moved = np.flatnonzero(np.abs(offsets).max(axis=1) > _MOVES_CM)
            shape.CreateOffsetsAttr(Vt.Vec3fArray.FromNumpy(offsets[moved].astype(np.float32)))
            shape.CreatePointIndicesAttr(Vt.IntArray(moved.tolist()))
            targets.append(shape.GetPath())
        binding.CreateBlendShapesAttr(Vt.TokenArray(identifiers))
        binding.CreateBlendShapeTargetsRel().SetTargets(targets)
        stage.GetRootLayer().Save()
        del stage
        os.replace(partial, path)
    except OSError as error:
        raise UsdExportError(f"{path}: cannot write ({error.strerror or error})") from None
    finally:
        if partial.exists():
            partial.unlink()
    return path


def read_blendshape_usd_summary(path: str | os.PathLike, frames: Sequence[int] = ()) -> dict:
    """What a blend-shape USD holds: ``shape_names``, ``num_points``, ``time_codes`` (all samples),
    ``fps`` and ``weights`` at the sample indices ``frames`` (``(len(frames), K)``); for tests and checks."""
    from pxr import Usd, UsdGeom, UsdSkel

    stage = Usd.Stage.Open(str(path))
    if stage is None:
        raise UsdExportError(f"{path}: not a USD file")
    mesh = UsdGeom.Mesh(stage.GetPrimAtPath("/Root/Face"))
    binding = UsdSkel.BindingAPI(mesh.GetPrim())
    animation = UsdSkel.Animation(stage.GetPrimAtPath("/Root/Skel/Anim"))
    weights_attr = animation.GetBlendShapeWeightsAttr()
    codes = weights_attr.GetTimeSamples()
    return {
        "shape_names": tuple(str(n) for n in binding.GetBlendShapesAttr().Get()),
        "animated_shapes": tuple(str(n) for n in animation.GetBlendShapesAttr().Get()),
        "shape_targets": len(binding.GetBlendShapeTargetsRel().GetTargets()),
        "num_points": len(mesh.GetPointsAttr().Get()),
        "time_codes": list(codes),
        "fps": stage.GetTimeCodesPerSecond(),
        "weights": np.array([np.asarray(weights_attr.Get(codes[i])) for i in frames]),
        "skeleton": str(binding.GetSkeletonRel().GetTargets()[0]),
        "head_samples": len(animation.GetRotationsAttr().GetTimeSamples()),
        "start_timecode": stage.GetRootLayer().customLayerData.get("startTimecode"),
        "head_rotation": np.array([_quaternion_xyzw(animation.GetRotationsAttr().Get(codes[i])[0]) for i in frames]),
        "head_translation_cm": np.array([np.asarray(animation.GetTranslationsAttr().Get(codes[i])[0])
                                         for i in frames]),  # fmt: skip
    }


def _quaternion_xyzw(quaternion) -> list[float]:
    imaginary = quaternion.GetImaginary()
    return [float(imaginary[0]), float(imaginary[1]), float(imaginary[2]), float(quaternion.GetReal())]
