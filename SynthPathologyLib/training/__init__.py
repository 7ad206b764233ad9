"""Training the lesion generator: settings (:mod:`.config`), patches (:mod:`.data`), processes and
DDP (:mod:`.distributed`), the models and one step (:mod:`.step`), validation (:mod:`.validation`)
and the loop (:mod:`.loop`). Run it with ``synthpathology train`` (:mod:`SynthPathologyLib.cli.training`).
"""
