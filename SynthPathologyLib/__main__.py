"""``python -m SynthPathologyLib``: the ``synthpathology`` command line."""

import sys

from .cli import main

sys.exit(main())
