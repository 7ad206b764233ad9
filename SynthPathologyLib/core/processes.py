"""Computing one case per process, on one thread: what makes a dataset command's output independent of
how many processes (or machines) share the work.

ITK's multi-threaded reductions (the registration metric, for one) sum in an order that depends on the
number of threads, so the same case registered on 1 and on 2 threads differs in the last bits; torch's
CPU operators may too. Each case is therefore computed on one thread, in a pool's worker processes as in
a run without them, and the parallelism comes from the processes.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

import SimpleITK as sitk
import torch

# How often a worker checks that the process that started it is still alive.
PARENT_POLL_S = 1.0


def use_one_thread() -> None:
    """Run ITK filters and torch's CPU operators of this process on one thread."""
    _set_threads(1, 1)


@contextmanager
def one_thread() -> Iterator[None]:
    """:func:`use_one_thread` inside the block; the previous thread counts are restored after it."""
    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(), torch.get_num_threads()
    use_one_thread()
    try:
        yield
    finally:
        _set_threads(*before)


def _set_threads(itk_threads: int, torch_threads: int) -> None:
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(itk_threads)
    torch.set_num_threads(torch_threads)


@contextmanager
def process_pool(workers: int, initializer: Callable[..., None], initargs: tuple = ()) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` processes, each on one thread (:func:`use_one_thread`) and showing ITK's
    warnings when this process does, running ``initializer(*initargs)`` first (e.g. loading a model
    once per process).

    The processes are started fresh ("spawn"), not forked: a forked child inherits a CUDA context it
    cannot use and the locks of threads it does not have. A worker ends when this process does, even
    when killed (it would otherwise wait for tasks forever). Leaving the block cancels the tasks not
    started yet: an error or Ctrl-C waits only for those running.
    """
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                               initargs=(os.getpid(), sitk.ProcessObject.GetGlobalWarningDisplay(), initializer,
                                         initargs))
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


def _start_worker(parent: int, itk_warnings: bool, initializer: Callable[..., None], initargs: tuple) -> None:
    use_one_thread()
    sitk.ProcessObject.SetGlobalWarningDisplay(itk_warnings)
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    initializer(*initargs)


def _exit_when_orphaned(parent: int) -> None:
    """End this process once ``parent`` is gone (this process is then adopted by another)."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)
