"""Interoperation with jax-md, both ways.

* :func:`to_jax_md` turns a jaxpot model into a jax-md style ``energy_fn(R, neighbor=...)`` that
  ``jax_md.simulate.nve/nvt_*`` accept (pass the jaxpot neighbor list as ``neighbor``).  Use
  ``jax_md.space.free()``'s shift function: jaxpot handles periodicity through the neighbor
  list's integer image shifts, which refer to unwrapped positions.
* :func:`from_jax_md` wraps a jax-md energy (built from a displacement function) as a jaxpot
  :class:`~jaxpot.model.EnergyModel`, so forces, stress (with ASE's sign), phonons and the ASE
  calculator work on it.

Measured faults of jax-md 0.2.29 that jaxpot does not inherit (see REFERENCE-NOTES): it stores
lattice vectors as *columns* (``periodic_general(cell.T)`` here); its ``jax_md.quantity.stress``
has the opposite sign to ASE's (jaxpot's stress is always ``+(1/V) dE/d(strain)``); and
differentiating its periodic displacement w.r.t. the box gives a wrong stress (measured 14% off
on rattled fcc; fractional input gives forces scaled by the box because of its custom
derivatives), so the wrapper keeps jax-md's box fixed and brings the cell in through jax-md's
own ``perturbation`` argument.  Checked against finite differences and jax_md.quantity.  The
wrapped energy uses jax-md's minimum-image all-pairs sum, so it is only right while the cutoff
is below half the smallest cell width; :func:`check_minimum_image` raises otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax_md import space

from jaxpot.model import EnergyModel, species_lookup
from jaxpot.space import perpendicular_widths


def to_jax_md(model: EnergyModel, cell, species) -> Callable:
    """jax-md style energy ``energy_fn(R, neighbor, **kwargs) -> eV`` with fixed cell and species.

    Args:
        model: any jaxpot model. cell: (3, 3) Å, rows = lattice vectors. species: (N,) Z.
    """
    cell = jnp.asarray(cell)
    species = jnp.asarray(species, jnp.int32)

    def energy_fn(R, neighbor, **unused_kwargs):
        return model.energy(R, cell, species, neighbor)

    return energy_fn


def from_jax_md(make_energy: Callable, cutoff: float, species=None,
                name: str = "jax_md") -> EnergyModel:
    """Wrap a jax-md energy as a jaxpot model.

    Args:
        make_energy: ``make_energy(displacement_fn) -> energy_fn(R, **kwargs)``, e.g.
            ``lambda d: jax_md.energy.morse_pair(d, sigma=2.5, epsilon=0.4, alpha=1.5)``.
            When ``species`` is given, it is called as ``energy_fn(R, species=idx)`` with
            jax-md's 0..S-1 species indices.
        cutoff: the energy's range in Å (for neighbor lists and the minimum-image check).
        species: atomic numbers in jax-md's species-index order, or None.
    """
    table = None if species is None else species_lookup(tuple(int(z) for z in species))

    def energy_fn(params, positions, cell, species_z, neighbors):
        if any(neighbors.pbc):
            # jax-md stores lattice vectors as columns.  Its periodic displacement has custom
            # derivatives (forces in real space even for fractional input) and differentiating
            # it w.r.t. the box gives a wrong stress, so the cell enters only through jax-md's
            # own ``perturbation`` hook: minimum image in the fixed box c0, deformation F.
            c0 = jax.lax.stop_gradient(cell)
            deformation = jnp.linalg.solve(c0, cell)  # identity in value, carries d/dcell
            displacement, _ = space.periodic_general(c0.T, fractional_coordinates=False)
            energy = make_energy(displacement)
            undeformed = jnp.linalg.solve(deformation.T, positions.T).T
            kwargs = {"perturbation": deformation.T}
            if table is not None:
                kwargs["species"] = jnp.asarray(table)[species_z]
            return energy(undeformed, **kwargs)
        displacement, _ = space.free()
        energy = make_energy(displacement)
        if table is None:
            return energy(positions)
        return energy(positions, species=jnp.asarray(table)[species_z])

    return EnergyModel(energy_fn=energy_fn, params=(), cutoff=float(cutoff),
                       species=None if species is None else tuple(int(z) for z in species),
                       atomic_energies_fn=None, spec="{}", name=name)


def check_minimum_image(model: EnergyModel, cell, pbc=(True, True, True)) -> None:
    """Raise ValueError if a minimum-image energy (jax-md's) would miss periodic images."""
    widths = perpendicular_widths(np.asarray(cell))
    for d in range(3):
        if pbc[d] and 2.0 * model.cutoff > widths[d]:
            raise ValueError(f"cutoff {model.cutoff} Å exceeds half the cell width "
                             f"{widths[d]:.3f} Å along lattice vector {d}: the jax-md energy "
                             "uses the minimum image only; use a supercell")
