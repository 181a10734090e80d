"""Progress bars of long jobs: tqdm's notebook widget where Jupyter can show it, text elsewhere.

``tqdm.auto`` picks the widget in a notebook but, without ipywidgets installed, prints a
``TqdmWarning: IProgress not found`` there on every bar; :func:`progress_bar` asks for the
widget only when ipywidgets is importable, and for the text bar otherwise (a terminal, a batch
job's log, a notebook without widgets).
"""

from __future__ import annotations

import functools


@functools.cache
def _bar_class():
    try:
        import ipywidgets  # noqa: F401  (the notebook bar needs it)
    except ImportError:
        from tqdm import tqdm
        return tqdm
    from tqdm.auto import tqdm
    return tqdm


def progress_bar(**kwargs):
    """A tqdm bar (``total``, ``desc``, ``unit``, ``disable``, ... as tqdm takes them)."""
    return _bar_class()(**kwargs)
