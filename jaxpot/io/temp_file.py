"""A temporary file beside a destination, for writes that end in an atomic ``os.replace``.

    fd, tmp = temp_file_beside("/runs/model.jaxpot")   # /runs/.model.jaxpot.3f9a...tmp
    with os.fdopen(fd, "wb") as f: ...
    os.replace(tmp, "/runs/model.jaxpot")

Unlike ``tempfile.mkstemp`` (mode 0600 whatever the umask), the file is created with mode
0666 filtered by the process umask, as ``open(path, "w")`` would create the destination: a
model file or checkpoint written this way is as readable by the group and others as any other
file the user writes.
"""

from __future__ import annotations

import os
import secrets


def temp_file_beside(path: str | os.PathLike) -> tuple[int, str]:
    """(open write-only descriptor, path) of a new, uniquely named hidden file in ``path``'s
    directory (``.<name>.<random>.tmp``), created exclusively with mode 0666 & ~umask."""
    path = os.path.abspath(os.fspath(path))
    directory, name = os.path.split(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")
