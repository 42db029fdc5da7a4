"""The third-party assets the studio needs: where they come from, under which licence, and their digests.

Nothing here touches the network or the disk; :mod:`studio.core.assets.resolver` uses these descriptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from studio.core.assets.fingerprint import FloatFingerprint
from studio.core.assets.ict_reference import ICT_ARRAY_FINGERPRINTS, ICT_ARRAY_SHA256

__all__ = [
    "ASSETS",
    "ICT_ARCHIVE_URL",
    "ICT_ARRAY_FINGERPRINTS",
    "ICT_ARRAY_SHA256",
    "ICT_COMMIT",
    "AssetSpec",
    "get_spec",
]

#: The ICT-FaceKit commit the studio is pinned to (``ICT-VGL/ICT-FaceKit`` on GitHub).
ICT_COMMIT = "da5f95a607f5e6b37755b38d3385d7f2853732e5"

#: GitHub's zip of the repository at :data:`ICT_COMMIT`; its top folder is ``ICT-FaceKit-<commit>/``.
ICT_ARCHIVE_URL = f"https://github.com/ICT-VGL/ICT-FaceKit/archive/{ICT_COMMIT}.zip"

# The references a locally converted ``ict_facekit.npz`` is checked against (recorded from the reference
# npz, the conversion of the archive at ICT_COMMIT, by studio.core.assets.ict_facekit.write_reference_module).
# GitHub does not promise byte-stable archives and a zip's bytes depend on the zlib that wrote it, so the
# *content* of the arrays is what is pinned, not the bytes of any file: integer and string arrays by exact
# digests (ICT_ARRAY_SHA256), float arrays by fingerprints compared within a rounding tolerance
# (ICT_ARRAY_FINGERPRINTS, see studio.core.assets.fingerprint).


@dataclass(frozen=True)
class AssetSpec:
    """Description of one third-party asset.

    Attributes
    ----------
    asset_id : str
        Short id used in code and on the command line (``"face_landmarker"``, ``"ict_facekit"``).
    file_name : str
        Name of the file in ``STUDIO_ASSETS_DIR`` and in the cache.
    url : str
        Official download location. For ``ict_facekit`` this is the source archive that our converter
        turns into ``file_name``.
    sha256 : str
        sha256 of the reference file's bytes. For the MediaPipe bundle the download must match it. For
        ``ict_facekit`` it is the digest of the reference npz; a locally converted npz is checked by
        ``array_sha256`` and ``array_fingerprints`` instead.
    license : str
        SPDX id and owner of the licence.
    size : int
        Size of the reference file in bytes.
    description : str
        One line: what the file is.
    converted : bool
        True when the download is a source archive that must be converted into ``file_name``.
    array_sha256 : Mapping[str, str]
        For npz assets: :func:`studio.core.assets.hashing.array_sha256` of the reference's integer and string
        arrays, which a converted npz must reproduce exactly.
    array_fingerprints : Mapping[str, FloatFingerprint]
        For npz assets: :func:`studio.core.assets.fingerprint.float_fingerprint` of the reference's float
        arrays, which a converted npz must match within the dtype's tolerance. An asset with neither
        mapping is checked by its file sha256 only.
    """

    asset_id: str
    file_name: str
    url: str
    sha256: str
    license: str
    size: int
    description: str
    converted: bool = False
    array_sha256: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    array_fingerprints: Mapping[str, FloatFingerprint] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def checks_content(self) -> bool:
        """Whether a file that is not byte-identical may still match by its arrays' content."""
        return bool(self.array_sha256 or self.array_fingerprints)


#: Every asset the studio knows, by id. Tests may swap entries (e.g. to an unreachable URL).
ASSETS: dict[str, AssetSpec] = {
    "face_landmarker": AssetSpec(
        asset_id="face_landmarker",
        file_name="face_landmarker.task",
        url=(
            "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/"
            "float16/1/face_landmarker.task"
        ),
        sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
        license="Apache-2.0 (Google MediaPipe)",
        size=3_758_596,
        description="MediaPipe Face Landmarker bundle (float16, v1): 478 landmarks, 52 blendshapes",
    ),
    "ict_facekit": AssetSpec(
        asset_id="ict_facekit",
        file_name="ict_facekit.npz",
        url=ICT_ARCHIVE_URL,
        sha256="9d4c389bb0a432b2385c3da4beea7a4177965f82b5da3dbfef290710044f900d",
        license="MIT (USC Institute for Creative Technologies)",
        size=17_614_740,
        description="ICT-FaceKit FaceXModel converted to one npz (neutral, 53 expressions, 100 identities)",
        converted=True,
        array_sha256=ICT_ARRAY_SHA256,
        array_fingerprints=ICT_ARRAY_FINGERPRINTS,
    ),
}


def get_spec(asset_id: str) -> AssetSpec:
    """Return the catalog entry of an asset.

    Parameters
    ----------
    asset_id : str
        ``"face_landmarker"`` or ``"ict_facekit"``.

    Returns
    -------
    AssetSpec
        The description of that asset.

    Raises
    ------
    KeyError
        For an unknown id; the message lists the known ones.
    """
    try:
        return ASSETS[asset_id]
    except KeyError:
        known = ", ".join(sorted(ASSETS))
        raise KeyError(f"unknown asset {asset_id!r}; known assets: {known}") from None
