"""jaxpot's messages go through :mod:`logging` (logger ``jaxpot.<module>``): INFO for stages and
results, DEBUG for detail.  The library installs no handler; a program shows the messages with
its own logging setup, or with :func:`to_stdout`, as the ``jaxpot`` command does:

    with to_stdout(logging.INFO), log_file("si_report/fit.log"):
        jaxpot.gap.fit(...)      # stage lines on stdout as they happen, all records in fit.log

``to_stdout`` writes the plain message (no level prefix) to the current ``sys.stdout`` and
flushes after every record, so output redirected to a file (a batch job) appears as it happens.
``log_file`` writes every record with a timestamp; records logged before the file's folder
exists (the report folder of a fit is made after the fit) are kept and written once it does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

#: the logger every jaxpot module's logger descends from
ROOT = "jaxpot"


class _Stdout(logging.StreamHandler):
    """A StreamHandler on whatever ``sys.stdout`` is when a record is emitted (pytest's
    capture, a redirect), flushed after every record."""

    def __init__(self):
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ sets it; always sys.stdout
        pass


class _LateFile(logging.Handler):
    """Every record, timestamped, to ``path``; held in memory until ``path``'s folder exists."""

    def __init__(self, path: str):
        super().__init__(logging.DEBUG)
        self.path = path
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._held: list[str] = []
        self._fh = None

    def _open(self) -> bool:
        if self._fh is None and os.path.isdir(os.path.dirname(self.path) or "."):
            self._fh = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 (closed in close)
            self._fh.writelines(self._held)
            self._held = []
        return self._fh is not None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            if self._open():
                self._fh.write(line)
                self._fh.flush()
            else:
                self._held.append(line)
        except Exception:  # noqa: BLE001  (logging must not stop a fit)
            self.handleError(record)

    def close(self, make_folder: bool = False) -> None:
        if make_folder and self._held:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        if self._held:
            self._open()
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        super().close()


@contextlib.contextmanager
def to_stdout(level: int = logging.INFO):
    """Show jaxpot's records at ``level`` and above on stdout (plain message, flushed), for
    the ``with`` block; jaxpot's logger does not propagate meanwhile (no double output)."""
    logger = logging.getLogger(ROOT)
    handler = _Stdout()
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(message)s"))
    old = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old[0])
        logger.propagate = old[1]


@contextlib.contextmanager
def log_file(path: str | None):
    """Write every jaxpot record (DEBUG and above, timestamped) to ``path`` during the block;
    the file is written once its folder exists, and at the end of a block that completed
    (its folder made then if need be).  ``None``: no file."""
    if path is None:
        yield None
        return
    logger = logging.getLogger(ROOT)
    handler = _LateFile(path)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    ok = False
    try:
        yield handler
        ok = True
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
        handler.close(make_folder=ok)
