"""Evaluation of synthetic data: fidelity (paired, distribution, diversity, label-consistency
metrics) and usefulness (segmentation trained on real + synthetic data, tested on real cases).

Commands: ``synthpathology evaluate fidelity|downstream|repaint|train-segmenter`` (see
:mod:`SynthPathologyLib.cli.evaluation`). The segmentation network both metrics rely on is trained by
``synthpathology evaluate train-segmenter`` (:mod:`.segmenter_training`) and shipped in
``Resources/Models/glioma_phantom_segresnet``.
"""
