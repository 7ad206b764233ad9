"""The browser front end: a trame-slicer application on the library's MRML bridge.

``synthpathology app`` serves 3D Slicer's own scene and views to a web page: the lesion workflow
(place and scale a seed, generate, compare, download a BraTS case) or, with ``--reading``, a
blinded Turing-test reading session. Needs the ``web`` extra (``pip install ".[web]"``); trame is
imported only inside this package, so the rest of the library works without it.

Modules (the ``app`` command is :mod:`SynthPathologyLib.cli.app`): :mod:`.app` (server, scene and views),
:mod:`.access` (the access token, ``Host`` and ``Origin`` checks), :mod:`.client_state` (what a page
may set and call), :mod:`.layout` (the page), :mod:`.tasks` (busy/progress/error reporting),
:mod:`.case_nodes` (cases in the scene), :mod:`.seed` (click-to-place ROI seeds),
:mod:`.lesion_state`, :mod:`.lesion_workflow`, :mod:`.pathology_choice`, :mod:`.lesion_files` and
:mod:`.lesion_panel` (lesion mode),
:mod:`.reading_panel` (reading mode), :mod:`.uploads` and :mod:`.downloads` (files in and out,
confined to the app's data folder).
"""
