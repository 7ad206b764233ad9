"""SynthPathologyLib: the pure-Python core of the SynthPathology 3D Slicer extension.

Everything that is not Qt lives here and runs headless: image I/O and cases, pathology
definitions, seed-to-lesion geometry, the brain phantom and the command line.
Spatial truth is kept in SimpleITK images (physical LPS coordinates, mm).
"""

__version__ = "0.1.0"
