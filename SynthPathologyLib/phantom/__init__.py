"""The brain phantom: multi-contrast MR cases simulated on the MNI152 template, with or without a
lesion, for training and tests without patient data.

Modules: :mod:`.default_brain` (the template brain), :mod:`.tissue` (tissue maps, also estimated
from a real T1), :mod:`.atlas` (tissue maps of a real T1 with the registered template's priors),
:mod:`.mr_signal` (the MR signal model), :mod:`.generator` (one case) and :mod:`.dataset`
(datasets of cases).
"""
