"""Train the lesion generator: ``python -m SynthPathologyLib.train ARGS`` or, in 3D Slicer,
``Slicer --no-main-window --python-script <extension>/SynthPathologyLib/train.py ARGS``.

The same as ``synthpathology train ARGS`` (:mod:`SynthPathologyLib.cli.training`). Run as a
file, this module imports the installed package by its absolute name: in Slicer the extension's
folder is on ``sys.path``; elsewhere install the library (``pip install -e .``).
"""

import sys

from SynthPathologyLib.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
