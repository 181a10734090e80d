"""What the host rebuild keeps between calls: numba-compiled kernels, worker threads and
int32 buffers (:class:`Scratch`), shared by :mod:`jaxpot.neighbors.binned` and
:mod:`jaxpot.neighbors.rows_kernel`."""

from __future__ import annotations

import concurrent.futures
import functools
import os
import threading

import numpy as np


def _numba():
    import numba
    return numba


def compile_kernel(fn, fastmath=False, inline: str = "never"):
    """``fn`` compiled by numba (no Python objects, cached on disk), on first use;
    ``fastmath``: numba's flags (a set of LLVM fast-math flags, or True for all);
    ``inline="always"`` for a helper other kernels call (inlined into them by numba)."""
    return _numba().njit(cache=True, nogil=True, fastmath=fastmath, inline=inline)(fn)


def workers() -> int:
    """Threads of the search: the cores this process may use, at most 8."""
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1, 8))


@functools.cache
def pool(threads: int) -> concurrent.futures.ThreadPoolExecutor:
    """``threads`` worker threads, started on first use and kept for the process: a rebuild
    that started and joined threads of its own paid ~0.8 ms for it inside ``md.run``
    (4,000 LJ atoms: 5.5 -> 4.8 ms per rebuild)."""
    return concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="jaxpot-bins")


def in_threads(threads, fn, jobs: list[tuple]) -> list:
    """``fn(*job)`` for each job: the first on this thread, the others on the executor
    ``threads``' (the kernels release the GIL; one job needs no executor)."""
    later = [threads.submit(fn, *job) for job in jobs[1:]]
    return [fn(*jobs[0])] + [f.result() for f in later]


def run_in_blocks(kernel, n: int, block: int, head: tuple, tail: tuple) -> None:
    """``kernel(*head, lo, hi, *tail)`` over n atoms in contiguous ranges [lo, hi), one per
    worker thread, each a multiple of ``block`` atoms long but the last."""
    threads = max(1, min(workers(), -(-n // block)))
    per = max(1, -(-n // (threads * block))) * block
    jobs = [head + (lo, min(lo + per, n)) + tail for lo in range(0, n, per)]
    if jobs:
        in_threads(pool(workers()), kernel, jobs)


class Scratch:
    """int32 buffers kept from one rebuild to the next, a set per calling thread.

    A rebuild writes a few bytes per pair into fresh buffers twice (the search, then the
    packed list); at 256,000 LJ atoms these are ~500 MB of new pages per rebuild, whose page
    faults cost as much as the search (rebuild in ``md.run`` 391 -> 244 ms, MD step 222 ->
    204 ms with the buffers kept).  The arrays handed out stay valid until the next call on
    the same thread: the caller copies them (``jax.pure_callback`` copies its results into
    XLA's buffers, tests/test_neighbors_host.py checks it).  Sets are keyed by thread id,
    not thread-local: XLA runs callbacks on its own threads, and Python's state for such a
    thread (its ``threading.local``) is dropped after every call while the id recurs.  At
    most THREADS sets are kept (the least recently used dropped), each about twice the list
    (~0.5 GB at 256,000 LJ atoms), for as long as the compiled rebuild lives: host memory
    traded for the page faults."""

    THREADS = 4

    def __init__(self):
        self._sets: dict[int, dict[str, np.ndarray]] = {}
        self._lock = threading.Lock()

    def array(self, name: str, rows: int, columns: int = 0) -> np.ndarray:
        """An uninitialised (rows,) or (rows, columns) int32 view of this thread's buffer
        ``name``, grown (never shrunk) as asked."""
        me = threading.get_ident()
        with self._lock:
            held = self._sets.pop(me, {})
            self._sets[me] = held  # most recently used last
            while len(self._sets) > self.THREADS:
                del self._sets[next(iter(self._sets))]
        shape = (rows, columns) if columns else (rows,)
        buffer = held.get(name)
        if buffer is None or buffer.shape[0] < rows or buffer.shape[1:] != shape[1:]:
            buffer = held[name] = np.empty(shape, np.int32)
        return buffer[:rows]


def buffer(scratch: Scratch | None, name: str, rows: int, columns: int = 0) -> np.ndarray:
    """``scratch.array(...)``, or a new array without scratch."""
    if scratch is None:
        return np.empty((rows, columns) if columns else (rows,), np.int32)
    return scratch.array(name, rows, columns)
