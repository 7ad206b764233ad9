"""Training the lesion generator: settings (:mod:`.config`), where cases come from (:mod:`.sources`) and
their on-disk cache (:mod:`.case_cache`), patches and the loader that draws them ahead (:mod:`.data`)
and their random appearance (:mod:`.appearance`), processes and DDP (:mod:`.distributed`), the models
and one step (:mod:`.step`), validation (:mod:`.validation`) and the loop (:mod:`.loop`). Run it with
``synthpathology train`` (:mod:`SynthPathologyLib.cli.training`).
"""
