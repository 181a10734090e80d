"""Jitted FIRE relaxation of positions and (optionally) the cell under a target pressure.

Degrees of freedom are reference positions ``r0`` and a symmetric strain ``eps`` of the
starting cell: ``cell = cell0 (I + eps)``, ``positions = r0 (I + eps)`` (as ASE's
UnitCellFilter).  The objective is the enthalpy ``H = E + p V``; its gradients w.r.t. both sets
of variables come from one ``jax.grad``.  Forces and the strain gradient are symmetrised with the
space-group operations of the input (spglib), so a crystal keeps its symmetry.

FIRE follows Bitzek et al., PRL 97, 170201 (2006) with ASE's default parameters.  Steps run
inside ``lax.while_loop`` in chunks driven by :func:`jaxpot.driver.run_chunks`: a chunk whose
neighbor list overflowed is replayed with a larger list, so a growing or shrinking cell is
handled.  The chunk function is jitted once at module level and takes the model and the
structure's arrays as arguments: a second relaxation of the same shape (EOS and QHA relax one
structure per volume) compiles nothing.
"""

from __future__ import annotations

import functools
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import spglib

from jaxpot.driver import run_chunks
from jaxpot.model import EnergyModel
from jaxpot.neighbors import update_neighbor_list
from jaxpot.properties._common import prepare
from jaxpot.space import volume
from jaxpot.structure import Structure, StructureError
from jaxpot.units import GPa


class RelaxResult(NamedTuple):
    """Relaxed structure, energy eV, forces (N,3) eV/Å, stress (3,3) GPa, steps, converged."""

    structure: Structure
    energy: float
    forces: np.ndarray
    stress_GPa: np.ndarray
    n_steps: int
    converged: bool

    @property
    def atoms(self):
        return self.structure.to_ase()


class _FireState(NamedTuple):
    x: jax.Array  # (N+3, 3): reference positions and scaled strain rows
    v: jax.Array
    dt: jax.Array
    alpha: jax.Array
    n_pos: jax.Array
    step: jax.Array  # FIRE moves made
    converged: jax.Array
    finite: jax.Array  # False once the energy or forces became NaN/inf
    moved: jax.Array  # the last iteration moved x: the loop goes on to evaluate the new x
    energy: jax.Array  # eV at x (the last evaluation)
    forces: jax.Array  # (N, 3) eV/Å at x (symmetrised)
    stress: jax.Array  # (3, 3) eV/Å^3 at x (symmetrised)


class _Setup(NamedTuple):
    """Arrays of one relaxation (dynamic jit arguments: a new structure of the same shape
    reuses the compiled chunk)."""

    positions0: jax.Array  # (N, 3) Å
    cell0: jax.Array  # (3, 3) Å
    species: jax.Array  # (N,)
    rots: jax.Array  # (G, 3, 3)
    inverse_perms: jax.Array  # (G, N)
    pressure: jax.Array  # eV/Å^3
    fmax: jax.Array  # eV/Å
    smax: jax.Array  # eV/Å^3
    max_step_size: jax.Array  # Å
    limit: jax.Array  # last step of this chunk


def symmetry_operations(structure: Structure, symprec: float = 1e-4):
    """Cartesian rotations (G,3,3) and atom permutations (G,N) of the space group (spglib).

    ``perm[g, i]`` is the atom that operation g maps atom i onto.
    """
    cell = np.asarray(structure.cell, float)
    frac = np.linalg.solve(cell.T, np.asarray(structure.positions, float).T).T
    ds = spglib.get_symmetry((cell, frac, np.asarray(structure.species)), symprec=symprec)
    if ds is None:
        return np.eye(3)[None], np.arange(len(frac))[None]
    rots, perms = [], []
    for rot, trans in zip(ds["rotations"], ds["translations"]):
        image = frac @ rot.T + trans
        diff = image[:, None, :] - frac[None, :, :]
        diff -= np.round(diff)
        perms.append(np.argmin(np.linalg.norm(diff @ cell, axis=-1), axis=1))
        rots.append(cell.T @ rot @ np.linalg.inv(cell.T))
    return np.array(rots), np.array(perms)


def _symmetrize(forces, strain_grad, rots, inverse_perms):
    f = jnp.einsum("gab,gnb->na", rots, forces[inverse_perms]) / rots.shape[0]
    s = jnp.einsum("gab,bc,gdc->ad", rots, strain_grad, rots) / rots.shape[0]
    return f, s


def _unpack(x, setup: _Setup, relax_cell: bool):
    """(reference positions (N, 3), deformation I + eps (3, 3)) of the FIRE variables x."""
    n = setup.positions0.shape[0]
    eps = x[n:] / n if relax_cell else jnp.zeros((3, 3), x.dtype)  # ASE's cell_factor = N
    return x[:n], jnp.eye(3, dtype=x.dtype) + 0.5 * (eps + eps.T)


def _structure_of(x, setup: _Setup, relax_cell: bool):
    """Positions (N, 3) and cell (3, 3) Å of the FIRE variables x."""
    r, deformation = _unpack(x, setup, relax_cell)
    return r @ deformation, setup.cell0 @ deformation


def _evaluate(model, x, nbrs, setup: _Setup, relax_cell: bool, symmetrize: bool):
    """One reverse pass at x: energy eV, Cartesian forces (N, 3) eV/Å and stress (3, 3) eV/Å^3
    (symmetrised), and FIRE's generalized force -dH/dx of the enthalpy H = E + p V.

    With positions r D and cell cell0 D (D = I + eps): dE/dpositions = dE/dr D^-T, and the
    strain gradient at the current cell is D^T dE/dD, so sym(D^T dH/dD) / V = stress + p I."""
    n = setup.positions0.shape[0]
    r, deformation = _unpack(x, setup, relax_cell)

    def enthalpy(r, d):
        cell = setup.cell0 @ d
        e = model.energy(r @ d, cell, setup.species, nbrs)
        return e + setup.pressure * volume(cell), e

    (_, e), (g_r, g_d) = jax.value_and_grad(enthalpy, argnums=(0, 1), has_aux=True)(
        r, deformation)
    cell_gradient = deformation.T @ g_d
    stress = (0.5 * (cell_gradient + cell_gradient.T) / volume(setup.cell0 @ deformation)
              - setup.pressure * jnp.eye(3, dtype=x.dtype))
    forces = -g_r @ jnp.linalg.inv(deformation).T
    f, s = -g_r, -0.5 * (g_d + g_d.T) / n
    if symmetrize:
        forces, stress = _symmetrize(forces, stress, setup.rots, setup.inverse_perms)
        f, s = _symmetrize(f, s, setup.rots, setup.inverse_perms)
    if not relax_cell:
        s = jnp.zeros_like(s)
    return e, forces, stress, jnp.concatenate([f, s])


@functools.partial(jax.jit, static_argnames=("relax_cell", "symmetrize"))
def _fire_chunk(model, setup: _Setup, state: _FireState, nbrs, relax_cell: bool,
                symmetrize: bool):
    """FIRE until ``setup.limit`` moves, convergence, a non-finite energy or an overflow.

    Each iteration evaluates x once (:func:`_evaluate`: the convergence test and the force of
    the move share one gradient) and moves x unless x is converged, non-finite or the chunk's
    moves are done: the loop ends on an iteration that did not move, so the state holds the
    energy, forces and stress of its final x (or on an overflowed list, to be replayed)."""

    def cond(carry):
        st, nb = carry
        return st.moved & ~nb.did_overflow

    def body(carry):
        st, nb = carry
        e, forces, stress, force = _evaluate(model, st.x, nb, setup, relax_cell, symmetrize)
        fmax_now = jnp.max(jnp.linalg.norm(forces, axis=1))
        residual = jnp.max(jnp.abs(stress + setup.pressure * jnp.eye(3))) if relax_cell else 0.0
        finite = jnp.isfinite(e) & jnp.all(jnp.isfinite(forces)) & jnp.all(jnp.isfinite(stress))
        converged = (fmax_now < setup.fmax) & (residual < setup.smax)
        move = ~converged & finite & (st.step < setup.limit)
        power = jnp.vdot(force, st.v)
        fnorm = jnp.linalg.norm(force)
        vnorm = jnp.linalg.norm(st.v)
        v = (1 - st.alpha) * st.v + st.alpha * force / jnp.maximum(fnorm, 1e-30) * vnorm
        uphill = power <= 0
        v = jnp.where(uphill, 0.0, v)
        n_pos = jnp.where(uphill, 0, st.n_pos + 1)
        speed_up = (~uphill) & (n_pos > 5)
        dt = jnp.where(uphill, st.dt * 0.5,
                       jnp.where(speed_up, jnp.minimum(st.dt * 1.1, 1.0), st.dt))
        alpha = jnp.where(uphill, 0.1, jnp.where(speed_up, st.alpha * 0.99, st.alpha))
        v = v + dt * force
        dx = dt * v
        norm = jnp.linalg.norm(dx)
        dx = jnp.where(norm > setup.max_step_size, dx * setup.max_step_size / norm, dx)
        moved = _FireState(st.x + dx, v, dt, alpha, n_pos, st.step + 1, converged, finite,
                           move, e, forces, stress)
        stayed = st._replace(converged=converged, finite=finite, moved=move, energy=e,
                             forces=forces, stress=stress)
        new = jax.tree_util.tree_map(lambda a, b: jnp.where(move, a, b), moved, stayed)
        nb = update_neighbor_list(*_structure_of(new.x, setup, relax_cell), nb)
        return new, nb

    return jax.lax.while_loop(cond, body, (state._replace(moved=jnp.asarray(True)), nbrs))


def relax(model: EnergyModel, atoms, *, fmax: float = 1e-3, smax: float = 1e-4,
          pressure: float = 0.0, relax_cell: bool = True, symmetrize: bool = True,
          max_steps: int = 3000, chunk: int = 250, skin: float = 0.5,
          max_step_size: float = 0.2) -> RelaxResult:
    """Relax positions (and cell) with FIRE until max|F| < fmax (eV/Å) and max|σ + p| < smax
    (GPa).

    Args:
        model: any jaxpot model. atoms: ase.Atoms or Structure (periodic for cell relaxation).
        pressure: target hydrostatic pressure in GPa (positive compresses).
        relax_cell: also relax the cell (symmetric strain, no rotation).
        symmetrize: keep the input's space-group symmetry.

    Returns:
        :class:`RelaxResult`; a ``RuntimeWarning`` is issued when the criteria are not met
        within ``max_steps`` (``result.converged`` is then False).

    Raises:
        StructureError: when the energy, forces or stress become NaN or infinite (naming the
            FIRE step), or for cell relaxation of a non-periodic structure.
    """
    for name, value in (("pressure", pressure), ("fmax", fmax), ("smax", smax),
                        ("max_step_size", max_step_size), ("skin", skin)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not np.isfinite(value):
            raise ValueError(f"relax: {name} must be a finite number, got {value!r}")
    if fmax <= 0 or smax <= 0 or max_steps < 1 or chunk < 1:
        raise ValueError(f"need fmax > 0, smax > 0, max_steps >= 1, chunk >= 1; got fmax={fmax}, "
                         f"smax={smax}, max_steps={max_steps}, chunk={chunk}")
    prep = prepare(model, atoms, skin=skin)
    s0 = prep.structure
    if relax_cell and not all(s0.pbc):
        raise StructureError(f"cell relaxation needs a periodic structure, got pbc={s0.pbc}; "
                             "pass relax_cell=False to relax positions only")
    n = s0.positions.shape[0]
    dtype = s0.positions.dtype
    if symmetrize:
        rots, perms = symmetry_operations(s0)
    else:
        rots, perms = np.eye(3)[None], np.arange(n)[None]
    setup = _Setup(positions0=s0.positions, cell0=s0.cell, species=s0.species,
                   rots=jnp.asarray(rots, dtype),
                   inverse_perms=jnp.asarray(np.argsort(perms, axis=1)),
                   pressure=jnp.asarray(pressure * GPa, dtype), fmax=jnp.asarray(fmax, dtype),
                   smax=jnp.asarray(smax * GPa, dtype),
                   max_step_size=jnp.asarray(max_step_size, dtype), limit=jnp.asarray(0))
    statics = dict(relax_cell=relax_cell, symmetrize=symmetrize)
    x = jnp.concatenate([s0.positions, jnp.zeros((3, 3), dtype)])
    state = _FireState(x, jnp.zeros_like(x), jnp.asarray(0.1, dtype), jnp.asarray(0.1, dtype),
                       jnp.asarray(0), jnp.asarray(0), jnp.asarray(False), jnp.asarray(True),
                       jnp.asarray(True), jnp.zeros((), dtype), jnp.zeros((n, 3), dtype),
                       jnp.zeros((3, 3), dtype))

    def advance(st, nbrs):
        limit = jnp.asarray(min(int(st.step) + chunk, max_steps))
        new, nb = _fire_chunk(model, setup._replace(limit=limit), st, nbrs, **statics)
        return new, nb, None

    def finished(st, _):
        return bool(st.converged) or not bool(st.finite) or int(st.step) >= max_steps

    run = run_chunks(advance, state, prep.neighbors, finished=finished)
    state = run.carry
    if not bool(state.finite):
        raise StructureError(_nonfinite_message(model, s0, int(state.step)))
    pos, cell = _structure_of(state.x, setup, relax_cell)
    energy, forces, stress = state.energy, state.forces, state.stress
    done = bool(state.converged)
    if not done:
        fnow = float(np.linalg.norm(np.asarray(forces), axis=1).max())
        snow = (float(np.abs(np.asarray(stress) / GPa + pressure * np.eye(3)).max())
                if relax_cell else 0.0)
        warnings.warn(f"relax did not converge in {max_steps} FIRE steps: max force {fnow:.2e} "
                      f"eV/Å (fmax {fmax:g}), max stress residual {snow:.2e} GPa (smax {smax:g})",
                      RuntimeWarning, stacklevel=2)
    return RelaxResult(structure=s0.replace(positions=pos, cell=cell), energy=float(energy),
                       forces=np.asarray(forces), stress_GPa=np.asarray(stress) / GPa,
                       n_steps=int(state.step), converged=done)


def _nonfinite_message(model: EnergyModel, start, step: int) -> str:
    """Why a relaxation went NaN, as far as the host can tell: the start already non-finite
    (the model at that structure) or the path (a collapse: atoms pushed together)."""
    from jaxpot.mechanics import energy_forces_stress
    from jaxpot.neighbors import allocate_for_model
    nbrs = allocate_for_model(model, np.asarray(start.positions), np.asarray(start.cell),
                              start.pbc)
    first = energy_forces_stress(model, start.positions, start.cell, start.species, nbrs,
                                 compute_stress=all(start.pbc))
    bad = [name for name, value in (("energy", first.energy), ("forces", first.forces),
                                    ("stress", first.stress)) if value is not None
           and not np.all(np.isfinite(np.asarray(value)))]
    if bad:
        return (f"relax: {model.name} gives a non-finite {' and '.join(bad)} at the start "
                "structure itself (before any FIRE step): the model cannot evaluate it (atoms "
                "closer than its inner cutoff, or species outside its training)")
    return (f"relax: the energy, forces or stress became NaN or infinite at FIRE step {step}, "
            f"though finite at the start: the relaxation drove atoms or the cell into a region "
            f"where {model.name} is not defined (a collapse); try a smaller max_step_size, "
            "relax positions first (relax_cell=False), or check the target pressure")
