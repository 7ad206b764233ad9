"""Evaluation of synthetic data: fidelity (paired, artifact, distribution, radiomics, diversity,
label-consistency metrics), a real-vs-synthetic classifier, the BraTS 2023 inpainting metrics, and
usefulness (segmentation trained on real + synthetic data, tested on real cases, voxel-wise and
lesion-wise).

Commands: ``synthpathology evaluate fidelity|downstream|repaint|inpainting|inpainting-task|classifier|
train-segmenter`` (see :mod:`SynthPathologyLib.cli.evaluation`). Modules: :mod:`.fidelity`,
:mod:`.paired`, :mod:`.artifacts`, :mod:`.distribution`, :mod:`.frd` and :mod:`.radiomic_features`
(Fréchet Radiomics Distance), :mod:`.diversity`, :mod:`.classifier`, :mod:`.inpainting` and
:mod:`.inpainting_task`, :mod:`.downstream`, :mod:`.overlap`, :mod:`.lesionwise`, :mod:`.splits`,
:mod:`.statistics`, :mod:`.datasets`, :mod:`.repaint`, :mod:`.reports`, :mod:`.errors`, and the
segmenter: :mod:`.segmenter`, :mod:`.segmenter_training`, :mod:`.train_segmenter`. The segmenter
is trained by ``synthpathology evaluate train-segmenter`` and shipped in
``Resources/Models/glioma_phantom_segresnet``.
"""
