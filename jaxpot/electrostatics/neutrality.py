"""The neutrality check of periodic Coulomb sums, usable inside jit (a host callback)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.types import Array

#: largest |net charge| (e) accepted as neutral
NEUTRAL_TOLERANCE = 1e-6


class NonNeutralCellError(ValueError):
    """A periodic cell with a net charge was given to a sum that needs a neutral one."""


def _raise_if_charged(total, name: str) -> None:
    totals = np.atleast_1d(np.asarray(total))
    bad = np.flatnonzero(np.abs(totals) > NEUTRAL_TOLERANCE)
    if bad.size:
        where = f" (structure {int(bad[0])} of the batch)" if totals.size > 1 else ""
        raise NonNeutralCellError(
            f"{name}: the cell is not neutral{where}: net charge {float(totals[bad[0]]):+.6g} e. "
            "A periodic Coulomb sum diverges for a charged cell; fix the charges or ask for the "
            "uniform neutralising background with neutralize=True")


def check_neutral(charges: Array, name: str) -> None:
    """Raise :class:`NonNeutralCellError` (on the host, also from inside jit) if
    ``|sum(charges)| > NEUTRAL_TOLERANCE``."""
    jax.debug.callback(lambda t: _raise_if_charged(t, name), jnp.sum(charges))
