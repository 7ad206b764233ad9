"""Model folders: weights (safetensors) beside a schema-checked model card, for every model the
project ships or trains, and training checkpoints.
"""
