"""``python -m SynthPathologyLib.evaluation.train_segmenter ARGS``: the same as
``synthpathology evaluate train-segmenter ARGS`` (:mod:`SynthPathologyLib.cli.evaluation`)."""

import sys

from ..cli.main import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", "train-segmenter", *sys.argv[1:]]))
