"""The MD state pytree, the integrator type, and the kinetic quantities every ensemble shares.

Units are ASE's: positions Å, masses amu, energies eV, time in ASE's unit
(Å sqrt(amu/eV) = 10.18 fs; ``jaxpot.units.fs`` converts), momenta amu Å per ASE time unit,
so that ``atoms.set_momenta(state.momenta)`` is right.  Integrator constructors take fs, K,
1/fs and GPa (what users type) and store the converted values as pytree leaves, so replicas
at different temperatures or time steps are one ``vmap`` away and share compiled code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.model import EnergyModel
from jaxpot.pytree import pytree_dataclass, static_field
from jaxpot.types import Array
from jaxpot.units import fs, kB


class MDError(RuntimeError):
    """An MD run stopped: unstable dynamics or bad input, naming the step.

    Attributes:
        step: the MD step at which the fault was detected (None for input errors).
        last_good: ase.Atoms of the last state that passed the checks (None if none).
    """

    def __init__(self, message: str, step: int | None = None, last_good=None):
        super().__init__(message)
        self.step = step
        self.last_good = last_good


@pytree_dataclass
class ChainState:
    """Nosé–Hoover chain: positions ``eta`` (M,) and momenta ``p_eta`` (M,) (eV * ASE time)."""

    eta: Array
    p_eta: Array


@pytree_dataclass
class CellState:
    """MTK barostat: cell momentum ``p_cell`` (3, 3) and the chain on it."""

    p_cell: Array
    chain: ChainState


@pytree_dataclass
class MDState:
    """Everything a step needs: atoms, cached forces, extended-system variables, RNG key.

    positions (N,3) Å (unwrapped), momenta (N,3) amu Å/t_ASE, masses (N,) amu, cell (3,3) Å rows,
    species (N,) Z, energy () eV (potential), forces (N,3) eV/Å, stress (3,3) eV/Å^3 (potential
    part, ASE sign; kept current only by barostats), thermostat / barostat (None when unused),
    key (PRNG key), step () int32, atom_mask (N,) bool or None: False marks the padding atoms
    of a system padded to a batch's shape (species 0, mass 1, at rest, no forces; they count
    in no sum and no degree of freedom).  bias: the state of a biasing method (the hills of
    :mod:`jaxpot.md.metadynamics`) or None; it has ``did_overflow`` (a fixed-size buffer was
    full: the run driver grows it with ``grow`` and replays the chunk), ``log_row()`` (extra
    log columns) and may have ``matching(neighbors)`` (its own lists fitted to the run's).
    """

    positions: Array
    momenta: Array
    masses: Array
    cell: Array
    species: Array
    energy: Array
    forces: Array
    stress: Array
    thermostat: ChainState | None
    barostat: CellState | None
    key: Array
    step: Array
    atom_mask: Array | None = None
    bias: Any = None
    pbc: tuple[bool, bool, bool] = static_field(default=(True, True, True))

    @property
    def velocities(self) -> Array:
        """(N, 3) Å per ASE time unit."""
        return self.momenta / self.masses[:, None]

    @property
    def n_atoms(self):
        """Number of real atoms: N, or the count of ``atom_mask`` (traced) when padded."""
        if self.atom_mask is None:
            return self.positions.shape[0]
        return jnp.sum(self.atom_mask).astype(self.positions.dtype)


def bias_overflowed(state: MDState) -> Array | None:
    """The ``did_overflow`` flag of the state's bias (a traced bool), None without a bias."""
    return None if state.bias is None else state.bias.did_overflow


def match_bias(state: MDState, neighbors) -> MDState:
    """``state`` with its bias's own neighbor lists (metadynamics walkers) in the shapes of
    the run's list ``neighbors`` (after the driver regrew it); unchanged without any."""
    matching = getattr(state.bias, "matching", None)
    return state if matching is None else state.replace(bias=matching(neighbors))


def grow_bias(start: MDState, overflowed: MDState) -> MDState:
    """``start`` (a chunk's first state) with its bias buffers grown past where
    ``overflowed`` (the chunk's end) ran out of room: the chunk is then replayed."""
    return start.replace(bias=start.bias.grow(overflowed.bias))


def kinetic_energy(momenta: Array, masses: Array) -> Array:
    """Sum p^2 / 2m, eV."""
    return 0.5 * jnp.sum(momenta * momenta / masses[:, None])


def temperature(momenta: Array, masses: Array, n_atoms=None) -> Array:
    """Instantaneous temperature in K with 3N degrees of freedom (ASE's convention); ``n_atoms``
    (default: all rows) counts the real atoms of a padded system."""
    n = momenta.shape[0] if n_atoms is None else n_atoms
    return 2.0 * kinetic_energy(momenta, masses) / (3 * n * kB)


def kinetic_tensor(momenta: Array, masses: Array) -> Array:
    """Sum p p^T / m (3, 3), eV: twice the kinetic-energy tensor."""
    return jnp.einsum("na,nb->ab", momenta / masses[:, None], momenta)


def maxwell_boltzmann(key: Array, masses: Array, temperature_K: float, dtype=None) -> Array:
    """Momenta (N,3) drawn at ``temperature_K`` with zero total momentum (ASE units)."""
    masses = jnp.asarray(masses, dtype)
    p = jax.random.normal(key, (masses.shape[0], 3), masses.dtype)
    p = p * jnp.sqrt(masses * kB * temperature_K)[:, None]
    if masses.shape[0] > 1:
        p = p - masses[:, None] * jnp.sum(p, axis=0) / jnp.sum(masses)
    return p


def exprel(x: Array) -> Array:
    """(exp(x) - 1) / x, exact at and near 0 (NaN-free in value and gradient)."""
    small = jnp.abs(x) < 1e-6
    safe = jnp.where(small, 1.0, x)
    return jnp.where(small, 1.0 + x / 2 + x * x / 6, jnp.expm1(safe) / safe)


@pytree_dataclass
class Integrator:
    """An MD integrator: a pair of pure functions over :class:`MDState`, bound to a model.

    ``init(positions, momenta, cell, species, masses, neighbors, key) -> MDState`` and
    ``step(state, neighbors) -> (state, neighbors)`` (the step updates the neighbor list with
    its skin inside jit).  ``init, step = integrator`` unpacks them for a hand-written
    ``lax.scan``.  ``params`` (time step, kT, friction, damping times, pressure; ASE units)
    are pytree leaves; ``kind`` and ``options`` (chain lengths, cell mode, masses) are static.
    """

    model: EnergyModel
    params: dict
    kind: str = static_field()
    options: tuple = static_field(default=())

    @property
    def option(self) -> dict:
        return dict(self.options)

    @property
    def init(self) -> Callable[..., MDState]:
        return lambda *args, **kwargs: _KINDS[self.kind][0](self, *args, **kwargs)

    @property
    def step(self) -> Callable[[MDState, Any], tuple[MDState, Any]]:
        return lambda state, neighbors: _KINDS[self.kind][1](self, state, neighbors)

    def conserved(self, state: MDState) -> Array:
        """The quantity the exact dynamics conserves (eV): total energy for NVE, the extended
        Hamiltonian for Nosé–Hoover and MTK; total energy minus heat given to the bath is not
        tracked for Langevin (its total energy is returned)."""
        return _KINDS[self.kind][2](self, state)

    @property
    def timestep_fs(self) -> float:
        return float(self.params["dt"]) / fs

    @property
    def needs_stress(self) -> bool:
        return self.kind == "npt"

    def __iter__(self):
        return iter((self.init, self.step))


_KINDS: dict[str, tuple[Callable, Callable, Callable]] = {}


def register_integrator(kind: str, init: Callable, step: Callable, conserved: Callable) -> None:
    """Make ``kind`` known to :class:`Integrator` (done by each integrator module at import)."""
    _KINDS[kind] = (init, step, conserved)


def check_model(model, integrator: str) -> None:
    """Refuse anything but a jaxpot EnergyModel as an integrator's model (TypeError)."""
    if not isinstance(model, EnergyModel):
        raise TypeError(f"md.{integrator} needs a jaxpot EnergyModel, got {type(model).__name__} "
                        f"{model!r:.60}")


def check_positive(**values: float) -> None:
    """Refuse non-positive or non-finite settings before anything compiles."""
    for name, v in values.items():
        number = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
            v, (bool, np.bool_))
        if not number or not np.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be a positive finite number, got {v!r}"
                             + (" (a string: write numbers without quotes)"
                                if isinstance(v, str) else ""))


def masses_option(masses) -> tuple:
    """Normalise a ``masses`` override (``{Z or symbol: amu}`` or None) to a static tuple;
    an unknown symbol or atomic number, or a mass that is not a number, is refused naming it."""
    if masses is None:
        return ()
    from ase.data import atomic_numbers, chemical_symbols
    items = []
    for key, m in dict(masses).items():
        if isinstance(key, str):
            if key not in atomic_numbers or key == "X":
                raise ValueError(f"masses: unknown element symbol {key!r}; use a chemical symbol "
                                 "such as 'Si' (case matters) or an atomic number")
            z = atomic_numbers[key]
        elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            z = int(key)
            if not 1 <= z < len(chemical_symbols):
                raise ValueError(f"masses: {key!r} is not an atomic number (1 to "
                                 f"{len(chemical_symbols) - 1})")
        else:
            raise TypeError(f"masses: key {key!r} is neither an element symbol nor an atomic "
                            "number")
        try:
            mass = float(m)
        except (TypeError, ValueError):
            raise ValueError(f"masses: the mass of {key} must be a number (amu), got "
                             f"{m!r}") from None
        check_positive(**{f"mass of {key}": mass})
        if any(z == seen for seen, _ in items):
            raise ValueError(f"masses: element {chemical_symbols[z]} is given twice (by symbol "
                             "and by atomic number); give it once")
        items.append((z, mass))
    return tuple(sorted(items))
