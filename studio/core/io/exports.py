"""The exchange formats a take exports to: one list for the core, the command line and the review page."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EXPORT_FORMATS", "ExportFormat"]


@dataclass(frozen=True)
class ExportFormat:
    """One exchange format.

    Attributes
    ----------
    name : str
        What commands call it (``export --format NAME``).
    description : str
        What a person calls it.
    suffix : str
        The file name's ending.
    """

    name: str
    description: str
    suffix: str

    @property
    def file_filter(self) -> str:
        """A file dialog's filter for it: ``"Live Link Face CSV (*.csv)"``."""
        return f"{self.description} (*{self.suffix})"


#: The formats a take exports to, by name (:func:`studio.core.retarget.curves.export_take` writes them).
EXPORT_FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("livelink", "Live Link Face CSV", ".csv"),
        ExportFormat("csv", "Control curves CSV", ".csv"),
        ExportFormat("json", "Control curves JSON", ".json"),
        ExportFormat("glb", "glTF binary with morph animation", ".glb"),
        ExportFormat("usd", "USD with UsdSkel blend-shape animation", ".usd"),
    )
}
