"""The MRML bridge: Slicer scenes <-> the library, in desktop Slicer and under ``slicer-core``.

Every function takes the scene (or its nodes) as an argument; nothing here uses ``slicer.app``,
``slicer.mrmlScene`` or Qt. Modules:

- :mod:`.scene`: headless scene wiring, output-node roles, slice-view overlay, ``.mrb`` bundles;
- :mod:`.volumes`: scalar volume nodes <-> SimpleITK images (exact IJK-to-RAS geometry);
- :mod:`.segmentation`: label maps <-> segmentation nodes with the pathology's segments;
- :mod:`.lesion`: Markups seed -> LesionSpec, volume nodes -> Case, saving a BraTS case;
- :mod:`.synthesis`: :func:`synthesize_in_scene` (a parametric or library lesion, with or without
  mass effect) and :func:`remove_lesion_in_scene`, and the same work as steps for a job;
- :mod:`.jobs`: :class:`SceneJob`, long work computed in a worker thread and applied to the scene
  on the main thread, with progress and cancel.
"""

from .jobs import JobState, SceneJob, Step
from .lesion import (
    SceneResult,
    case_to_volume_nodes,
    describe_provenance,
    lesion_in_scene,
    lesion_spec_from_seed_node,
    lesion_specs_from_seed_nodes,
    save_brats_case_from_scene,
)
from .scene import create_headless_scene, load_scene_bundle, save_scene_bundle, show_overlay
from .synthesis import (
    LibraryLesion,
    case_preparation,
    removal_step,
    remove_lesion_in_scene,
    save_variants_from_scene,
    synthesis_steps,
    synthesize_in_scene,
    variant_steps,
)
from .volumes import contrast_volume_nodes, load_volume_node, sitk_to_volume_node, volume_node_to_sitk

__all__ = [
    "JobState",
    "LibraryLesion",
    "SceneJob",
    "SceneResult",
    "Step",
    "case_preparation",
    "case_to_volume_nodes",
    "contrast_volume_nodes",
    "create_headless_scene",
    "describe_provenance",
    "lesion_in_scene",
    "lesion_spec_from_seed_node",
    "lesion_specs_from_seed_nodes",
    "load_scene_bundle",
    "load_volume_node",
    "removal_step",
    "remove_lesion_in_scene",
    "save_brats_case_from_scene",
    "save_scene_bundle",
    "save_variants_from_scene",
    "show_overlay",
    "sitk_to_volume_node",
    "synthesis_steps",
    "synthesize_in_scene",
    "variant_steps",
    "volume_node_to_sitk",
]
