"""Jitted FIRE relaxation of positions and (optionally) the cell under a target pressure.

Degrees of freedom are reference positions ``r0`` and a symmetric strain ``eps`` of the
starting cell: ``cell = cell0 (I + eps)``, ``positions = r0 (I + eps)`` (as ASE's
UnitCellFilter).  The objective is the enthalpy ``H = E + p V``; its gradients w.r.t. both sets
of variables come from one ``jax.grad``.  Forces and the strain gradient are symmetrised with the
space-group operations of the input (spglib), so a crystal keeps its symmetry.

FIRE follows Bitzek et al., PRL 97, 170201 (2006) with ASE's default parameters.  Steps run
inside ``lax.while_loop`` in chunks; between chunks the host checks the neighbor list for
overflow and reallocates, so a growing or shrinking cell is handled.
"""

from __future__ import annotations

import functools
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import spglib

from jaxpot.model import EnergyModel
from jaxpot.neighbors import reallocate_if_needed, update_neighbor_list
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
    nbrs: object


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
    cell0 = s0.cell
    p = pressure * GPa
    factor = float(n)  # ASE's cell_factor: makes strain steps comparable to position steps
    if symmetrize:
        rots, perms = symmetry_operations(s0)
    else:
        rots, perms = np.eye(3)[None], np.arange(n)[None]
    rots = jnp.asarray(rots, cell0.dtype)
    inverse_perms = jnp.asarray(np.argsort(perms, axis=1))

    def unpack(x):
        eps = x[n:] / factor if relax_cell else jnp.zeros((3, 3), x.dtype)
        eps = 0.5 * (eps + eps.T)
        deformation = jnp.eye(3, dtype=x.dtype) + eps
        return x[:n] @ deformation, cell0 @ deformation, deformation

    def enthalpy(x, nbrs):
        pos, cell, _ = unpack(x)
        return model.energy(pos, cell, s0.species, nbrs) + p * volume(cell)

    def generalized_forces(x, nbrs):
        g = -jax.grad(enthalpy)(x, nbrs)
        f, s = _symmetrize(g[:n], g[n:], rots, inverse_perms) if symmetrize else (g[:n], g[n:])
        if not relax_cell:
            s = jnp.zeros_like(s)
        return jnp.concatenate([f, s]), f

    def residuals(x, nbrs):
        pos, cell, _ = unpack(x)
        e, (de_dpos, de_deps) = jax.value_and_grad(
            lambda r, eps: model.energy(r @ (jnp.eye(3) + eps), cell @ (jnp.eye(3) + eps),
                                        s0.species, nbrs), argnums=(0, 1))(
            pos, jnp.zeros((3, 3), pos.dtype))
        forces = -de_dpos
        stress = 0.5 * (de_deps + de_deps.T) / volume(cell)
        if symmetrize:
            forces, stress = _symmetrize(forces, stress, rots, inverse_perms)
        return e, forces, stress

    def converged(x, nbrs):
        _, forces, stress = residuals(x, nbrs)
        fmax_now = jnp.max(jnp.linalg.norm(forces, axis=1))
        smax_now = jnp.max(jnp.abs(stress + p * jnp.eye(3))) / GPa if relax_cell else 0.0
        return (fmax_now < fmax) & (smax_now < smax)

    @functools.partial(jax.jit, static_argnums=())
    def run_chunk(state: _FireState, limit):
        def cond(st):
            return (st.step < limit) & ~converged(st.x, st.nbrs) & ~st.nbrs.did_overflow

        def body(st):
            force, _ = generalized_forces(st.x, st.nbrs)
            power = jnp.vdot(force, st.v)
            fnorm = jnp.linalg.norm(force)
            vnorm = jnp.linalg.norm(st.v)
            v = (1 - st.alpha) * st.v + st.alpha * force / jnp.maximum(fnorm, 1e-30) * vnorm
            uphill = power <= 0
            v = jnp.where(uphill, 0.0, v)
            n_pos = jnp.where(uphill, 0, st.n_pos + 1)
            speed_up = (~uphill) & (n_pos > 5)
            dt = jnp.where(uphill, st.dt * 0.5, jnp.where(speed_up, jnp.minimum(st.dt * 1.1, 1.0), st.dt))
            alpha = jnp.where(uphill, 0.1, jnp.where(speed_up, st.alpha * 0.99, st.alpha))
            v = v + dt * force
            dx = dt * v
            norm = jnp.linalg.norm(dx)
            dx = jnp.where(norm > max_step_size, dx * max_step_size / norm, dx)
            x = st.x + dx
            pos, cell, _ = unpack(x)
            nbrs = update_neighbor_list(pos, cell, st.nbrs)
            return _FireState(x, v, dt, alpha, n_pos, st.step + 1, nbrs)

        return jax.lax.while_loop(cond, body, state)

    x = jnp.concatenate([s0.positions, jnp.zeros((3, 3), s0.positions.dtype)])
    state = _FireState(x, jnp.zeros_like(x), jnp.asarray(0.1), jnp.asarray(0.1),
                       jnp.asarray(0), jnp.asarray(0), prep.neighbors)
    while True:
        state = run_chunk(state, jnp.minimum(state.step + chunk, max_steps))
        pos, cell, _ = unpack(state.x)
        nbrs, grown = reallocate_if_needed(np.asarray(pos), np.asarray(cell), state.nbrs)
        state = state._replace(nbrs=nbrs)
        if grown:
            continue
        if bool(converged(state.x, state.nbrs)) or int(state.step) >= max_steps:
            break
    pos, cell, _ = unpack(state.x)
    energy, forces, stress = jax.jit(residuals)(state.x, state.nbrs)
    done = bool(converged(state.x, state.nbrs))
    if not done:
        fnow = float(np.linalg.norm(np.asarray(forces), axis=1).max())
        snow = float(np.abs(np.asarray(stress) / GPa + pressure * np.eye(3)).max()) if relax_cell else 0.0
        warnings.warn(f"relax did not converge in {max_steps} FIRE steps: max force {fnow:.2e} eV/Å "
                      f"(fmax {fmax:g}), max stress residual {snow:.2e} GPa (smax {smax:g})",
                      RuntimeWarning, stacklevel=2)
    return RelaxResult(structure=s0.replace(positions=pos, cell=cell), energy=float(energy),
                       forces=np.asarray(forces), stress_GPa=np.asarray(stress) / GPa,
                       n_steps=int(state.step), converged=done)
