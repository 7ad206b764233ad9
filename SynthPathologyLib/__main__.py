"""``python -m SynthPathologyLib``: the ``synthpathology`` command line."""

import sys

from .cli.main import main

sys.exit(main())
