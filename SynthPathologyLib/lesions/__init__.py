"""Lesion label maps: the seed-and-size description (:mod:`.spec`), random specs at plausible sites
(:mod:`.sampling`, with the per-pathology site priors of :mod:`.sites`), placing a lesion on a brain's
grid (:mod:`.placement`), the glioma's shape (:mod:`.glioma_shape`), a case's own lesions (room beside
them, the union label: :mod:`.existing`), real segmentations as lesions (:mod:`.library`), mass effect
(:mod:`.mass_effect`) and shape statistics (:mod:`.shape_measures`). Label values are the
pathology's (:mod:`SynthPathologyLib.pathologies`).
"""
