"""Atomic file writes: a temporary file beside the destination, synced, then renamed over it.

    with atomic_write("/runs/model.jaxpot") as f:   # writes /runs/.model.jaxpot.3f9a...tmp
        np.savez(f, **arrays)                        # then os.replace onto model.jaxpot

A reader sees the old file or the new one, never a half-written one; an error or interrupt
inside the block removes the temporary file and leaves the destination as it was.  Unlike
``tempfile.mkstemp`` (mode 0600 whatever the umask), the temporary file is created with mode
0666 filtered by the process umask, as ``open(path, "w")`` would create the destination: a
model file or checkpoint written this way is as readable by the group and others as any other
file the user writes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import IO

MODES = ("wb", "w")  # binary, or UTF-8 text


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """File object (binary for ``mode="wb"``, UTF-8 text for ``"w"``) whose content replaces
    ``path`` when the block ends without error (flushed and fsynced first); the parent
    directory must exist."""
    if mode not in MODES:
        raise ValueError(f"atomic_write mode must be one of {MODES}, got {mode!r}")
    path = os.path.abspath(os.fspath(path))
    fd, tmp = _new_temp_file(path)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _new_temp_file(path: str) -> tuple[int, str]:
    """(write-only descriptor, path) of a new, uniquely named hidden file in ``path``'s
    directory (``.<name>.<random>.tmp``), created exclusively with mode 0666 & ~umask."""
    directory, name = os.path.split(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")
