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
    step: jax.Array
    converged: jax.Array
    finite: jax.Array  # False once the energy or forces became NaN/inf


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
    n = setup.positions0.shape[0]
    eps = x[n:] / n if relax_cell else jnp.zeros((3, 3), x.dtype)  # ASE's cell_factor = N
    eps = 0.5 * (eps + eps.T)
    deformation = jnp.eye(3, dtype=x.dtype) + eps
    return x[:n] @ deformation, setup.cell0 @ deformation


def _generalized_forces(model, x, nbrs, setup: _Setup, relax_cell: bool, symmetrize: bool):
    n = setup.positions0.shape[0]

    def enthalpy(x):
        pos, cell = _unpack(x, setup, relax_cell)
        return model.energy(pos, cell, setup.species, nbrs) + setup.pressure * volume(cell)

    g = -jax.grad(enthalpy)(x)
    f, s = (_symmetrize(g[:n], g[n:], setup.rots, setup.inverse_perms) if symmetrize
            else (g[:n], g[n:]))
    if not relax_cell:
        s = jnp.zeros_like(s)
    return jnp.concatenate([f, s])


def _residuals(model, x, nbrs, setup: _Setup, relax_cell: bool, symmetrize: bool):
    """Energy eV, forces (N,3) eV/Å and stress (3,3) eV/Å^3 at ``x`` (symmetrised)."""
    pos, cell = _unpack(x, setup, relax_cell)
    eye = jnp.eye(3, dtype=pos.dtype)
    e, (de_dpos, de_deps) = jax.value_and_grad(
        lambda r, eps: model.energy(r @ (eye + eps), cell @ (eye + eps), setup.species, nbrs),
        argnums=(0, 1))(pos, jnp.zeros((3, 3), pos.dtype))
    forces = -de_dpos
    stress = 0.5 * (de_deps + de_deps.T) / volume(cell)
    if symmetrize:
        forces, stress = _symmetrize(forces, stress, setup.rots, setup.inverse_perms)
    return e, forces, stress


def _status(model, x, nbrs, setup, relax_cell, symmetrize):
    e, forces, stress = _residuals(model, x, nbrs, setup, relax_cell, symmetrize)
    fmax_now = jnp.max(jnp.linalg.norm(forces, axis=1))
    residual = jnp.max(jnp.abs(stress + setup.pressure * jnp.eye(3))) if relax_cell else 0.0
    finite = jnp.isfinite(e) & jnp.all(jnp.isfinite(forces)) & jnp.all(jnp.isfinite(stress))
    return (fmax_now < setup.fmax) & (residual < setup.smax), finite


@functools.partial(jax.jit, static_argnames=("relax_cell", "symmetrize"))
def _fire_chunk(model, setup: _Setup, state: _FireState, nbrs, relax_cell: bool,
                symmetrize: bool):
    """FIRE steps until ``setup.limit``, convergence, a non-finite energy or an overflow."""

    def cond(carry):
        st, nb = carry
        return (st.step < setup.limit) & ~st.converged & st.finite & ~nb.did_overflow

    def body(carry):
        st, nb = carry
        force = _generalized_forces(model, st.x, nb, setup, relax_cell, symmetrize)
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
        x = st.x + dx
        pos, cell = _unpack(x, setup, relax_cell)
        nb = update_neighbor_list(pos, cell, nb)
        done, finite = _status(model, x, nb, setup, relax_cell, symmetrize)
        return _FireState(x, v, dt, alpha, n_pos, st.step + 1, done, finite), nb

    first_done, first_finite = _status(model, state.x, nbrs, setup, relax_cell, symmetrize)
    state = state._replace(converged=first_done, finite=first_finite)
    return jax.lax.while_loop(cond, body, (state, nbrs))


_final_residuals = jax.jit(_residuals, static_argnames=("relax_cell", "symmetrize"))


def relax(model: EnergyModel, atoms, *, fmax: float = 1e-3, smax: float = 1e-4,
          pressure: float = 0.0, relax_cell: bool = True, symmetrize: bool = True,
          max_steps: int = 3000, chunk: int = 250, skin: float = 0.5,
          max_step_size: float = 0.2) -> RelaxResult:
    """Relax positions (and cell) with FIRE until max|F| < fmax (eV/Å) and max|σ + p| < smax (GPa).

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
                       jnp.asarray(0), jnp.asarray(0), jnp.asarray(False), jnp.asarray(True))

    def advance(st, nbrs):
        limit = jnp.asarray(min(int(st.step) + chunk, max_steps))
        new, nb = _fire_chunk(model, setup._replace(limit=limit), st, nbrs, **statics)
        return new, nb, None

    def finished(st, _):
        return bool(st.converged) or not bool(st.finite) or int(st.step) >= max_steps

    run = run_chunks(advance, state, prep.neighbors, finished=finished)
    state, nbrs = run.carry, run.neighbors
    if not bool(state.finite):
        raise StructureError(f"relax: energy, forces or stress became NaN or infinite at FIRE "
                             f"step {int(state.step)}; check the structure and the model")
    pos, cell = _unpack(state.x, setup, relax_cell)
    energy, forces, stress = _final_residuals(model, state.x, nbrs, setup, **statics)
    done = bool(state.converged)
    if not done:
        fnow = float(np.linalg.norm(np.asarray(forces), axis=1).max())
        snow = float(np.abs(np.asarray(stress) / GPa + pressure * np.eye(3)).max()) if relax_cell else 0.0
        warnings.warn(f"relax did not converge in {max_steps} FIRE steps: max force {fnow:.2e} eV/Å "
                      f"(fmax {fmax:g}), max stress residual {snow:.2e} GPa (smax {smax:g})",
                      RuntimeWarning, stacklevel=2)
    return RelaxResult(structure=s0.replace(positions=pos, cell=cell), energy=float(energy),
                       forces=np.asarray(forces), stress_GPa=np.asarray(stress) / GPa,
                       n_steps=int(state.step), converged=done)
