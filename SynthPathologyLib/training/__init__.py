"""Training the lesion generator: settings (:mod:`.config`), patches (:mod:`.data`), validation
(:mod:`.validation`) and the loop (:mod:`.loop`). Run it with ``synthpathology train``.
"""
