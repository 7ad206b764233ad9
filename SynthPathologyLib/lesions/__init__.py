"""Lesion label maps: the seed-and-size description (:mod:`.spec`), random specs
(:mod:`.sampling`), placing a lesion on a brain's grid (:mod:`.placement`) and the glioma's shape
(:mod:`.glioma_shape`). Label values are the pathology's (:mod:`SynthPathologyLib.pathologies`).
"""
