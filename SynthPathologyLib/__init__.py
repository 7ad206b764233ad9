"""SynthPathologyLib: the pure-Python core of the SynthPathology 3D Slicer extension.

Everything that is not Qt lives here and runs headless. Packages, by concern:

- ``core``: errors, cases, image I/O, label checks, voxel boxes, durable writes, resources
- ``io``: BraTS dataset layout, ``info`` summaries, montages
- ``pathologies``: the registry of pathologies (pure data), one module per pathology
- ``lesions``: lesion specs, sampling, placement and shapes
- ``phantom``: the simulated brain (template brain, tissue maps, MR signal model, cases)
- ``networks``: the Pix2Pix generator and discriminator, their conditioning and losses
- ``synthesis``: painting and removing lesions with a trained generator; a session keeps models loaded
- ``training``: training the generator
- ``models``: model folders (weights + model card) and checkpoints
- ``evaluation``: fidelity and downstream usefulness of synthetic data
- ``turing``: blinded real-vs-synthetic reading studies
- ``mrml``: the bridge to Slicer scenes, with jobs that keep long work off the GUI thread
- ``web``: the browser app; ``cli``: the command line
- ``transforms``: :class:`~SynthPathologyLib.transforms.RandLesionSynthesisd`, lesions on the fly in MONAI pipelines

Spatial truth is kept in SimpleITK images (physical LPS coordinates, mm).
"""

__version__ = "0.1.0"
