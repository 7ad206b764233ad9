"""Model folders: weights (safetensors) beside a schema-checked model card, for every model the
project ships or trains (:mod:`.card`: the one card base, save and load; :mod:`.generator`,
:mod:`.segmenter`: their cards), and training checkpoints (:mod:`.checkpoints`).
"""
