"""The result as a download: a BraTS-layout case folder with provenance, zipped.

The folder is written by :func:`~SynthPathologyLib.mrml.save_brats_case_from_scene` (the same
writer as the desktop module) into a fresh folder of the app's data folder, zipped in memory and
removed.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping

from ..mrml import save_brats_case_from_scene
from .uploads import DataFolder


def download_case_id(case_id: str, operation: str, random_seed: int) -> str:
    """Name of a downloaded case: "<case>-synth-seed<N>" or "<case>-healthy-seed<N>", reduced to
    characters safe in file names."""
    kind = "healthy" if operation == "remove" else "synth"
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{case_id}-{kind}-seed{random_seed}")


def brats_case_zip(
    data: DataFolder,
    case_id: str,
    volume_nodes: Mapping[str, object],
    segmentation_node,
    provenance: Mapping,
    pathology: str = "glioma",
) -> bytes:
    """Zip bytes of the BraTS 2023-named case ``case_id``: one NIfTI per contrast of
    ``volume_nodes``, the ``seg`` file of ``segmentation_node`` (if any; its segments named after
    ``pathology``'s labels) and ``provenance.json``, all under the folder ``<case_id>/``."""
    parent = data.new_folder("downloads")
    try:
        folder = save_brats_case_from_scene(
            parent / case_id, volume_nodes, segmentation_node, provenance=provenance, case_id=case_id,
            pathology=pathology,
        )
        buffer = io.BytesIO()
        # NIfTI files are gzipped already: store them, do not compress twice.
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
            for path in sorted(folder.iterdir()):
                archive.write(path, f"{case_id}/{path.name}")
        return buffer.getvalue()
    finally:
        data.remove(parent)
