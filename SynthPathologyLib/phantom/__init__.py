"""The brain phantom: multi-contrast MR cases simulated on the MNI152 template, with or without a
lesion, for training and tests without patient data.

Modules: :mod:`.default_brain` (the template brain), :mod:`.tissue` (tissue maps, also estimated
from a real T1), :mod:`.mr_signal` (the MR signal model), :mod:`.generator` (cases and datasets).
"""
