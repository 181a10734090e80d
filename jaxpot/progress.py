"""Progress bars of long jobs: tqdm's notebook widget where Jupyter can show it, text elsewhere.

``tqdm.auto`` picks the widget in a notebook but, without ipywidgets installed, prints a
``TqdmWarning: IProgress not found`` there on every bar; :func:`progress_bar` asks for the
widget only when ipywidgets is importable, and for the text bar otherwise (a terminal, a batch
job's log, a notebook without widgets).

Where the bar's stream is not a terminal (a batch job's log, ``2> file``), tqdm's ``\\r``
redraws would pile up on one endless line: there the bar writes complete ASCII lines instead,
one when it starts, then at most one every :data:`LOG_INTERVAL_S` seconds, and one when it
ends, each flushed at once.

:func:`work_bar` counts work instead of items: a fitting stage whose configurations cost
unequally (12 to 96 atoms in the main job, padded into batches) advances by each
configuration's cost, so its fraction and ETA follow the work done
(benchmarks/progress_eta.py).
"""

from __future__ import annotations

import functools
import sys

#: where the stream is not a terminal: seconds between two progress lines
LOG_INTERVAL_S = 30.0


@functools.cache
def _bar_class():
    try:
        import ipywidgets  # noqa: F401  (the notebook bar needs it)
    except ImportError:
        from tqdm import tqdm
        return tqdm
    from tqdm.auto import tqdm
    return tqdm


class _Lines:
    """A stream for tqdm that turns its ``\\r`` redraws into complete, flushed lines."""

    def __init__(self, stream):
        self.stream = stream
        self.encoding = getattr(stream, "encoding", None) or "utf-8"

    def write(self, s):
        line = str(s).replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")
            self.stream.flush()

    def flush(self):
        self.stream.flush()

    def isatty(self):
        return False


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _in_jupyter() -> bool:
    """Whether this process is a Jupyter kernel (its IPython shell is the ZMQ one); a process
    that merely imported ipykernel (a notebook runner) is not."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def progress_bar(**kwargs):
    """A tqdm bar (``total``, ``desc``, ``unit``, ``disable``, ... as tqdm takes them).

    On a stream that is not a terminal (and outside Jupyter), the bar writes sparse, complete
    lines (every :data:`LOG_INTERVAL_S` s) instead of ``\\r`` redraws."""
    stream = kwargs.get("file") or sys.stderr
    if not kwargs.get("disable") and not _is_terminal(stream) and not _in_jupyter():
        from tqdm import tqdm
        kwargs["file"] = _Lines(stream)
        kwargs.setdefault("mininterval", LOG_INTERVAL_S)
        kwargs.setdefault("ascii", True)
        kwargs.setdefault("ncols", 100)
        return tqdm(**kwargs)
    return _bar_class()(**kwargs)


class WorkBar:
    """A bar over items of unequal cost: its total is the sum of ``costs`` (one per item, in
    ``unit`` s, e.g. atoms) and :meth:`advance` adds the costs of the items just done.  Other
    attributes are the tqdm bar's (``n``, ``total``, ``format_dict``, ``close``, ...)."""

    def __init__(self, costs, **kwargs):
        self.costs = [int(c) for c in costs]
        self.bar = progress_bar(total=sum(self.costs), **kwargs)

    def advance(self, items) -> None:
        """Count the items (indices into ``costs``) just finished."""
        self.bar.update(sum(self.costs[i] for i in items))

    def restart_clock(self) -> None:
        """Start timing afresh, keeping the count: call it when a stage's one-off start
        (compilation) is over, so the rate and ETA measure the work alone."""
        n = self.bar.n
        self.bar.reset()
        self.bar.n = self.bar.initial = self.bar.last_print_n = n
        self.bar.refresh()

    @property
    def fraction(self) -> float:
        """The work done, as a fraction of the total."""
        return self.bar.n / self.bar.total if self.bar.total else 1.0

    def __getattr__(self, name):
        if name == "bar":
            raise AttributeError(name)
        return getattr(self.bar, name)


def work_bar(costs, **kwargs) -> WorkBar:
    """A :class:`WorkBar`: ``costs`` per item, the rest as :func:`progress_bar` takes it."""
    return WorkBar(costs, **kwargs)
