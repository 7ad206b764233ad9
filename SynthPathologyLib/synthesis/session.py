"""A synthesis session: what one front end keeps between clicks so that regenerating is fast.

Each front end (the Slicer module's Logic, the browser app's lesion workflow, a script) owns one
:class:`SynthesisSession`; nothing is cached in module globals, so two front ends in one process
neither share nor evict each other's state, and a session's caches go when it does.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path

from .synthesizer import PreparedCase, Synthesizer, default_model_path


@dataclass
class _Prepared:
    # The synthesizer itself, not its id(): a freed synthesizer's id may be reused by the next one.
    synthesizer: Synthesizer
    key: Hashable
    prepared: PreparedCase


@dataclass
class SynthesisSession:
    """Loaded synthesizers and the last prepared case of one front end. Thread-safe: cases may be
    prepared, and models loaded, in worker threads.

    Args:
        max_models: how many loaded synthesizers (model folder, device) are kept; the least
            recently used one goes first.
    """

    max_models: int = 2
    _models: OrderedDict[tuple[str, str], Synthesizer] = field(default_factory=OrderedDict, init=False, repr=False)
    _last_prepared: _Prepared | None = field(default=None, init=False, repr=False)
    # Models load under it (seconds), so two threads never load one model twice.
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def synthesizer(self, model: Synthesizer | str | os.PathLike | None = None, pathology: str = "glioma",
                    device: str = "auto") -> Synthesizer:
        """The synthesizer of a model folder (None: the pathology's default), loaded on first use
        and reused for the same (folder, device); a :class:`Synthesizer` is returned as it is. A model
        of another pathology is refused (:meth:`Synthesizer.check_pathology`)."""
        if isinstance(model, Synthesizer):
            return model.check_pathology(pathology)
        key = (str((Path(model) if model is not None else default_model_path(pathology)).resolve()), device)
        with self._lock:
            if key not in self._models:
                self._models[key] = Synthesizer(key[0], device=device)
                while len(self._models) > self.max_models:
                    self._models.popitem(last=False)
            self._models.move_to_end(key)
            return self._models[key].check_pathology(pathology)

    def kept_case(self, synthesizer: Synthesizer, key: Hashable) -> PreparedCase | None:
        """The last case prepared, if it was prepared for ``synthesizer`` under an equal ``key``.

        ``key`` must change whenever the case's voxels or geometry do (the MRML bridge uses the
        nodes' IDs, voxel modification times and IJK-to-RAS matrices).
        """
        with self._lock:
            last = self._last_prepared
        return last.prepared if last is not None and last.synthesizer is synthesizer and last.key == key else None

    def prepared_case(self, synthesizer: Synthesizer, key: Hashable,
                      prepare: Callable[[], PreparedCase]) -> PreparedCase:
        """:meth:`kept_case`, else ``prepare()``, which is kept as the last case prepared."""
        kept = self.kept_case(synthesizer, key)
        if kept is not None:
            return kept
        prepared = prepare()  # outside the lock: seconds of work that must not hold up model loading
        with self._lock:
            self._last_prepared = _Prepared(synthesizer, key, prepared)
        return prepared
