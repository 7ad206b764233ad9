"""The ``synthpathology`` command line: :mod:`.main` builds the parser and runs a command; each
other module adds one family of commands (:mod:`.synthesis`, :mod:`.training`, :mod:`.evaluation`,
:mod:`.turing`, :mod:`.app`, :mod:`.pathologies`) and :mod:`.options` holds the option types they share.
"""
