"""Third-party assets: resolve, download, verify and convert them (pure core: no Qt, vispy or pyqtgraph).

The studio needs two files that are never committed (see ``docs/assets.md``):

- ``face_landmarker.task`` -- the MediaPipe Face Landmarker bundle (Apache-2.0), id ``"face_landmarker"``;
- ``ict_facekit.npz`` -- ICT-FaceKit's FaceXModel converted by :func:`convert_ict_facekit` (MIT), id
  ``"ict_facekit"``.

:func:`asset_path` finds a file in ``$STUDIO_ASSETS_DIR``, then in the per-user cache, and otherwise
downloads it from its official source into the cache (verified; ICT-FaceKit is converted on the way).
"""

from studio.core.assets.catalog import ASSETS, ICT_COMMIT, AssetSpec, get_spec
from studio.core.assets.ict_facekit import GROUP_NAMES, build_ict_arrays, convert_ict_facekit, vertex_groups
from studio.core.assets.resolver import (
    ASSETS_DIR_ENV,
    CACHE_DIR_ENV,
    AssetStatus,
    AssetUnavailableError,
    AssetVerificationError,
    asset_path,
    asset_status,
    cache_dir,
    fetch_assets,
    verify_file,
)

__all__ = [
    "ASSETS",
    "ASSETS_DIR_ENV",
    "CACHE_DIR_ENV",
    "GROUP_NAMES",
    "ICT_COMMIT",
    "AssetSpec",
    "AssetStatus",
    "AssetUnavailableError",
    "AssetVerificationError",
    "asset_path",
    "asset_status",
    "build_ict_arrays",
    "cache_dir",
    "convert_ict_facekit",
    "fetch_assets",
    "get_spec",
    "verify_file",
    "vertex_groups",
]
