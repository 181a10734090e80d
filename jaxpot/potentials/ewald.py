"""Ewald and smooth-PME Coulomb energy models for periodic cells (eV, charges in e).

    model = ewald(charges={"Na": 1.0, "Cl": -1.0}, accuracy=1e-8)     # plain Ewald
    model = pme(charges={"Na": 1.0, "Cl": -1.0}, accuracy=1e-5)       # O(N log N) mesh
    total = model + gap_model      # short-range model fitted to the residual (Δ-learning)

Both are :class:`jaxpot.model.EnergyModel`s: forces, stress, phonons, the calculator and MD work
by autodiff as for every model.  Charges are a :class:`jaxpot.electrostatics.ChargeModel`
(fixed per element, trainable, or environment-dependent); the params are
``{"charges": charge_model.params}``.  The splitting ``alpha``, real-space cutoff and reciprocal
resolution follow from ``accuracy`` (:mod:`jaxpot.electrostatics.splitting`); the neighbor list
carries the static reciprocal grid (allocate it with
:func:`jaxpot.neighbors.allocate_for_model`; the calculator, driver and fits do).

A cell with a net charge raises :class:`jaxpot.electrostatics.NonNeutralCellError` unless
``neutralize=True``, which adds the energy of a uniform compensating background,
``-pi Q^2 / (2 V alpha^2)`` (as LAMMPS and pymatgen do).  Phonons of an ionic crystal come out
as the analytic (q -> 0 along no direction) force constants: the LO-TO non-analytic correction,
which needs Born charges and the dielectric tensor, is not included.
"""

from __future__ import annotations

import dataclasses
import json

import jax.numpy as jnp

from jaxpot.electrostatics.charge_models import (
    ChargeModel,
    as_charge_model,
    charge_model_from_config,
    environment_charges,
)
from jaxpot.electrostatics.ewald_sums import (
    background_atomic,
    real_space,
    real_space_atomic,
    reciprocal,
    self_energy_atomic,
)
from jaxpot.electrostatics.neutrality import check_neutral
from jaxpot.electrostatics.pme_mesh import pme_reciprocal
from jaxpot.electrostatics.splitting import (
    MAX_MESH_POINTS,
    check_dtype_accuracy,
    ewald_splitting,
    fft_size,
    part_grid,
    pme_mesh_spacing,
)
from jaxpot.model import EnergyModel, make_spec, register_model_kind
from jaxpot.units import coulomb


def _check_periodic(neighbors, name: str) -> None:
    pbc = tuple(getattr(neighbors, "pbc", (True, True, True)))
    if not all(pbc):
        raise ValueError(f"{name}: needs a cell periodic in all three directions, got pbc={pbc};"
                         " use jaxpot.potentials.coulomb for open boundaries (slab corrections "
                         "are not implemented)")


def _grid(neighbors, spacing: float, name: str) -> tuple[int, ...]:
    grid = getattr(neighbors, "reciprocal_grid", ())
    if not grid:
        raise ValueError(f"{name}: the neighbor list carries no reciprocal grid; allocate it "
                         "with jaxpot.neighbors.allocate_for_model(model, ...)")
    return part_grid(grid, neighbors.reciprocal_spacing, spacing)


def _long_range_model(kind: str, charges, accuracy: float, r_cut: float, neutralize: bool,
                      spacing: float, reciprocal_fn, config: dict, name: str) -> EnergyModel:
    """Shared assembly of ``ewald`` and ``pme``: charges, the four terms, checks, spec."""
    model_q: ChargeModel = as_charge_model(charges)
    split = ewald_splitting(accuracy, r_cut)
    if not neutralize and model_q.total_charge not in (None, 0.0):
        raise ValueError(f"{name}: the charge model fixes a total charge of "
                         f"{model_q.total_charge:g} e; pass neutralize=True to add the "
                         "neutralising background")
    alpha = split.alpha

    def charges_of(params, positions, cell, species, neighbors):
        _check_periodic(neighbors, name)
        check_dtype_accuracy(accuracy, positions.dtype, name)
        q = model_q.apply(params["charges"], positions, cell, species, neighbors)
        if not neutralize and model_q.total_charge is None:
            check_neutral(q, name)
        return q

    def atomic_energies(params, positions, cell, species, neighbors):
        q = charges_of(params, positions, cell, species, neighbors)
        grid = _grid(neighbors, spacing, name)
        e = (real_space_atomic(q, positions, cell, neighbors.within(r_cut), alpha, r_cut)
             + reciprocal_fn(q, positions, cell, alpha, grid, True)
             + self_energy_atomic(q, alpha) + background_atomic(q, cell, alpha))
        return coulomb * e

    def energy(params, positions, cell, species, neighbors):
        q = charges_of(params, positions, cell, species, neighbors)
        grid = _grid(neighbors, spacing, name)
        e = (real_space(q, positions, cell, neighbors.within(r_cut), alpha, r_cut)
             + reciprocal_fn(q, positions, cell, alpha, grid, False)
             + jnp.sum(self_energy_atomic(q, alpha) + background_atomic(q, cell, alpha)))
        return coulomb * e

    cutoffs = sorted({float(r_cut), float(model_q.cutoff)} - {0.0})
    spec = make_spec(kind, __name__, charges=model_q.config, accuracy=float(accuracy),
                     r_cut=float(r_cut), neutralize=bool(neutralize), **config)
    return EnergyModel(energy_fn=energy, params={"charges": model_q.params},
                       cutoff=max(cutoffs), species=model_q.species,
                       atomic_energies_fn=atomic_energies, spec=spec, name=name,
                       part_cutoffs=tuple(cutoffs) if len(cutoffs) > 1 else (),
                       reciprocal_spacing=spacing)


def ewald(charges, accuracy: float = 1e-8, r_cut: float = 10.0, *,
          neutralize: bool = False) -> EnergyModel:
    """Plain Ewald sum (cost ``O(N^2)`` at fixed ``r_cut``; use :func:`pme` beyond ~2000 ions).

    Args:
        charges: ``{element: charge in e}`` (trainable per-element charges) or a
            :class:`jaxpot.electrostatics.ChargeModel`.
        accuracy: relative size of the neglected real- and reciprocal-space terms.
        r_cut: real-space cutoff in Å; ``alpha = sqrt(-ln accuracy) / r_cut``.
        neutralize: add the uniform background for charged cells instead of raising.
    """
    split = ewald_splitting(accuracy, r_cut)
    return _long_range_model("ewald", charges, accuracy, r_cut, neutralize, split.wavelength,
                             reciprocal, {}, "ewald")


def pme(charges, accuracy: float = 1e-5, r_cut: float = 10.0, *, order: int = 6,
        mesh_spacing: float | None = None, neutralize: bool = False) -> EnergyModel:
    """Smooth particle-mesh Ewald (Essmann et al., J. Chem. Phys. 103, 8577 (1995)).

    As :func:`ewald`, with the reciprocal sum on a mesh of spacing ``mesh_spacing`` Å (default
    from ``accuracy``, ``alpha`` and the B-spline ``order`` in {4, 6, 8}), sizes rounded up to
    ``2^a 3^b 5^c``.  Cost ``O(N order^3 + M log M)`` for ``M`` mesh points.
    """
    split = ewald_splitting(accuracy, r_cut)
    spacing = (pme_mesh_spacing(split.alpha, accuracy, order) if mesh_spacing is None
               else float(mesh_spacing))
    if not (spacing > 0 and spacing < float("inf")):
        raise ValueError(f"mesh_spacing must be a positive length in Å, got {mesh_spacing!r}")
    pme_mesh_spacing(split.alpha, accuracy, order)  # checks the order

    def reciprocal_fn(q, positions, cell, alpha, grid, atomic):
        mesh = tuple(fft_size(g, minimum=order) for g in grid)
        points = mesh[0] * mesh[1] * mesh[2]
        if points > MAX_MESH_POINTS:
            raise ValueError(f"pme: a {mesh} mesh ({points:.3g} points) is too large; ask for "
                             "a lower accuracy, a larger r_cut or a coarser mesh_spacing")
        return pme_reciprocal(q, positions, cell, alpha, mesh, order, atomic)

    return _long_range_model("pme", charges, accuracy, r_cut, neutralize, spacing,
                             reciprocal_fn, {"order": int(order),
                                             "mesh_spacing": mesh_spacing}, "pme")


def _from_spec(factory):
    def from_spec(config: dict) -> EnergyModel:
        config = dict(config)
        charges = charge_model_from_config(config.pop("charges"))
        return factory(charges, **config)
    return from_spec


def ewald_example() -> EnergyModel:
    """Small model for the contract test: Ewald sum of fixed charges Na+1 / Cl-1."""
    return ewald({"Na": 1.0, "Cl": -1.0}, accuracy=1e-8, r_cut=5.0)


def pme_example() -> EnergyModel:
    """Small model for the contract test: PME (order 4) of environment-dependent charges
    (:func:`jaxpot.electrostatics.environment_charges`, seeded weights, q0 = +-0.8 e), so the
    forces include the charges' own derivatives."""
    charges = environment_charges(["Na", "Cl"], r_cut=3.5, hidden=(4,), seed=1)
    charges = dataclasses.replace(charges, params=dict(charges.params,
                                                       q0=jnp.asarray([0.8, -0.8])))
    return pme(charges, accuracy=1e-4, r_cut=5.0, order=4)


register_model_kind("ewald", _from_spec(ewald), example=ewald_example)
register_model_kind("pme", _from_spec(pme), example=pme_example)


def charges_config(model: EnergyModel) -> dict:
    """The charge model's config of an ``ewald``/``pme``/``coulomb`` model."""
    return json.loads(model.spec)["config"]["charges"]
