"""Moment tensor potential (MTP), Shapeev's systematically improvable polynomial potential.

    E_i = e0[z_i] + s * sum_alpha xi_alpha B_alpha(i)

with B_alpha the moment-tensor basis functions of :mod:`jaxpot.descriptors.moment_tensors`
(level, Chebyshev radial basis, learnable radial coefficients c[z_i, z_j, mu, beta]) and xi
shared by all species, as mlip-2 (its ``moment_coeffs``; e0 are its ``species_coeffs``).
Params: ``{"net": {"radial": c, "xi": xi}, "norm": {"e0": (S,), "energy_scale": s}}``, the
layout of jaxpot's network potentials, so their trainers fit every coefficient
(:func:`jaxpot.nn.train_lbfgs`, the non-linear fit of :mod:`jaxpot.linear.mtp_fit`).
Shapeev, Multiscale Model. Simul. 14, 1153 (2016); Novikov et al., MLST 2, 025002 (2021).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxpot.descriptors.moment_host import moment_site_sums
from jaxpot.descriptors.moment_tensors import (
    AlphaProgram,
    MomentTensors,
    check_settings,
    initial_radial_coeffs,
    program_of,
    radial_functions,
)
from jaxpot.elements import element_numbers
from jaxpot.model import (
    EnergyModel,
    make_spec,
    register_model_kind,
    species_indices,
    species_lookup,
)
from jaxpot.neighbors import neighbor_components


def mtp(species, level: int = 16, r_cut: float = 5.0, r_min: float = 1.5, *,
        radial_basis_size: int = 8, seed: int = 0, params=None, dtype=None) -> EnergyModel:
    """An MTP with radial functions f_mu = Q_mu (plus seeded noise) and zero xi.

    Args:
        species: element symbols or Z. level: the MTP level (mlip-2's, e.g. 10-20).
        r_cut, r_min: radial range of the Chebyshev basis (Å). radial_basis_size: number of
            Chebyshev polynomials. seed: noise of the initial radial coefficients.
        params: a full params pytree instead of the initial one. dtype: parameter dtype.
    """
    zs = tuple(sorted(element_numbers(species, "species")))
    desc = MomentTensors(zs, int(level), float(r_min), float(r_cut), int(radial_basis_size))
    check_settings(desc)
    dtype = jnp.dtype(dtype or jnp.result_type(float))
    if params is None:
        s = len(zs)
        params = {"net": {"radial": jnp.asarray(initial_radial_coeffs(desc, seed), dtype),
                          "xi": jnp.zeros((desc.n_features,), dtype)},
                  "norm": {"e0": jnp.zeros((s,), dtype), "energy_scale": jnp.ones((), dtype)}}
    _check_params(desc, params)
    return _model(desc, params, dtype)


def _check_params(desc: MomentTensors, params) -> None:
    s = len(desc.species)
    expected = {"radial": desc.radial_shape, "xi": (desc.n_features,)}
    for key, shape in expected.items():
        got = tuple(np.shape(params["net"][key]))
        if got != shape:
            raise ValueError(f"MTP params['net'][{key!r}] has shape {got}, level {desc.level} "
                             f"with {s} species and radial_basis_size "
                             f"{desc.radial_basis_size} needs {shape}")


def site_energies(program: AlphaProgram, species: tuple[int, ...], r_min: float, r_cut: float,
                  radial_basis_size: int, scaling: float = 1.0):
    """``(atomic_energies, energy)`` functions of an MTP whose basis is ``program`` (jaxpot's
    own level basis or an mlip-2 file's): E_i = e0[z_i] + s * xi . B(i), xi . B(i) by
    :func:`~jaxpot.descriptors.moment_host.moment_site_sums` (the host kernel on a CPU)."""
    table = species_lookup(species)
    site_sums = moment_site_sums(program)

    def atomic_energies(params, positions, cell, species, neighbors):
        vectors, vmask = neighbor_components(positions, cell, neighbors)
        centre, nb_index = species_indices(table, species, neighbors)
        f, unit = radial_functions(params["net"]["radial"], r_min, r_cut, radial_basis_size,
                                   vectors, vmask, centre, nb_index, scaling)
        sums = site_sums(f, unit, params["net"]["xi"])
        norm = params["norm"]
        return norm["e0"][centre] + norm["energy_scale"] * sums

    def energy(params, positions, cell, species, neighbors):
        return jnp.sum(atomic_energies(params, positions, cell, species, neighbors))

    return atomic_energies, energy


def _model(desc: MomentTensors, params, dtype) -> EnergyModel:
    atomic_energies, energy = site_energies(program_of(desc.level), desc.species, desc.r_min,
                                            desc.r_cut, desc.radial_basis_size)

    spec = make_spec("mtp", __name__, **config_of(desc), dtype=jnp.dtype(dtype).name)
    return EnergyModel(energy_fn=energy, params=params, cutoff=desc.r_cut, species=desc.species,
                       atomic_energies_fn=atomic_energies, spec=spec, name=f"MTP-{desc.level}",
                       precision="float64")


def config_of(desc: MomentTensors) -> dict:
    return {"species": list(desc.species), "level": desc.level, "r_min": desc.r_min,
            "r_cut": desc.r_cut, "radial_basis_size": desc.radial_basis_size}


def descriptor_of(model: EnergyModel) -> MomentTensors:
    """The moment-tensor settings of an MTP model (from its spec)."""
    import json
    c = json.loads(model.spec)["config"]
    return MomentTensors(tuple(c["species"]), c["level"], c["r_min"], c["r_cut"],
                         c["radial_basis_size"])


def from_spec(config: dict) -> EnergyModel:
    """Rebuild an MTP from its spec config (placeholder params; the registry's rebuild)."""
    return mtp(config["species"], config["level"], config["r_cut"], config["r_min"],
               radial_basis_size=config["radial_basis_size"], dtype=config.get("dtype"))


def example() -> EnergyModel:
    """Small model for the contract test: a silicon MTP of level 10 (cutoff 4 Å) with seeded
    random moment coefficients (a fresh MTP's are zero)."""
    model = mtp(["Si"], 10, r_cut=4.0, r_min=1.5, seed=4)
    xi = 0.1 * np.random.default_rng(6).normal(size=model.params["net"]["xi"].shape)
    net = dict(model.params["net"], xi=jnp.asarray(xi))
    return model.replace(params={**model.params, "net": net})


register_model_kind("mtp", from_spec, example=example)
