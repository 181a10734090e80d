"""MTPs from mlip-2 ``.mtp`` files (trained by ``mlp train`` or written by :func:`write_mtp`).

    model = read_mtp("pot.mtp", species=["Si", "Ge"])   # type 0 = Si, type 1 = Ge (as LAMMPS)

The file's basis is evaluated as mlip-2 defines it: basic moments (mu, a, b, c) =
sum_j f_mu(r_ij) x^a y^b z^c (unit vectors; f_mu = scaling * sum_beta c Q_beta, Q_beta the
Chebyshev polynomials on [min_dist, max_dist] times (max_dist - r)^2), then each
``alpha_index_times`` entry (i, j, m, k) adds m * moment_i * moment_j to moment k (run in waves,
:func:`jaxpot.descriptors.moment_tensors.alpha_features`, as jaxpot's own MTPs), and

    E_i = species_coeffs[type_i] + sum_alpha moment_coeffs[alpha] * moment[mapping[alpha]].

Params use the MTP layout (``{"net": {"radial", "xi"}, "norm": {"e0", "energy_scale"}}``), so a
file's potential can be refitted with :func:`jaxpot.nn.train_lbfgs`.
"""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np

from jaxpot.descriptors.moment_tensors import AlphaOrderError, alpha_program
from jaxpot.elements import element_numbers
from jaxpot.model import EnergyModel, make_spec, register_model_kind
from jaxpot.potentials.mtp import site_energies
from jaxpot.potentials.mtp_parse import MtpFileError, parse_mtp_file

__all__ = ["MtpFileError", "mlip_mtp_from_config", "parse_mtp_file", "read_mtp"]


def read_mtp(path: str | os.PathLike, species) -> EnergyModel:
    """An MTP from an mlip-2 ``.mtp`` file; ``species``: the element of each type (in order)."""
    data = parse_mtp_file(path)
    zs = list(element_numbers(species, "species"))
    if len(zs) != data["species_count"]:
        raise MtpFileError(f"{os.fspath(path)}: the file has species_count = "
                           f"{data['species_count']}, species names {len(zs)}: {species}")
    config = {k: data[k] for k in ("min_dist", "max_dist", "radial_basis_size",
                                   "alpha_index_basic", "alpha_index_times",
                                   "alpha_moment_mapping")}
    config["scaling"] = float(data.get("scaling", 1.0))
    config["species"] = zs
    try:
        alpha_program(config["alpha_index_basic"], config["alpha_index_times"],
                      config["alpha_moment_mapping"], data.get("alpha_moments_count"))
    except AlphaOrderError as err:
        raise MtpFileError(f"{os.fspath(path)}: {err}") from None
    radial = np.asarray(data["radial_coeffs"], float)
    xi = np.asarray(data["moment_coeffs"], float)
    params = {"net": {"radial": jnp.asarray(radial), "xi": jnp.asarray(xi)},
              "norm": {"e0": jnp.asarray(np.asarray(data["species_coeffs"], float)),
                       "energy_scale": jnp.ones(())}}
    return mlip_mtp_from_config(config, params)


def mlip_mtp_from_config(config: dict, params=None) -> EnergyModel:
    """The model of a parsed file's config (the registry's rebuild when params is None)."""
    zs = tuple(config["species"])
    program = alpha_program(config["alpha_index_basic"], config["alpha_index_times"],
                            config["alpha_moment_mapping"])
    n_mu = int(program.basic[:, 0].max()) + 1
    size = int(config["radial_basis_size"])
    r_min, r_cut = float(config["min_dist"]), float(config["max_dist"])
    scaling = float(config["scaling"])
    if params is None:
        s = len(zs)
        params = {"net": {"radial": jnp.zeros((s, s, n_mu, size)),
                          "xi": jnp.zeros(len(program.mapping))},
                  "norm": {"e0": jnp.zeros(s), "energy_scale": jnp.ones(())}}
    atomic_energies, energy = site_energies(program, zs, r_min, r_cut, size, scaling)

    spec = make_spec("mlip_mtp", __name__, **{k: v.tolist() if isinstance(v, np.ndarray) else v
                                              for k, v in config.items()})
    return EnergyModel(energy_fn=energy, params=params, cutoff=r_cut, species=zs,
                       atomic_energies_fn=atomic_energies, spec=spec, name="MTP (mlip-2 file)",
                       precision="float64")


def example() -> EnergyModel:
    """Small model for the contract test: what :func:`read_mtp` reads from an mlip-2 file of
    a two-species (Si, Ge) level-8 MTP, built in memory (jaxpot's basis in mlip-2's alpha
    form, :func:`jaxpot.descriptors.mtp_basis.alpha_arrays`), with seeded random radial,
    moment and species coefficients and scaling 0.9."""
    from jaxpot.descriptors.mtp_basis import alpha_arrays
    from jaxpot.potentials.mtp import descriptor_of, mtp
    own = mtp(["Si", "Ge"], 8, r_cut=4.0, r_min=1.6, radial_basis_size=6, seed=7)
    desc = descriptor_of(own)
    arrays = alpha_arrays(desc.basis)
    config = {"min_dist": desc.r_min, "max_dist": desc.r_cut,
              "radial_basis_size": desc.radial_basis_size,
              "alpha_index_basic": arrays.basic.tolist(),
              "alpha_index_times": arrays.times.tolist(),
              "alpha_moment_mapping": arrays.mapping.tolist(), "scaling": 0.9,
              "species": list(desc.species)}
    rng = np.random.default_rng(8)
    params = {"net": {"radial": own.params["net"]["radial"],
                      "xi": jnp.asarray(0.1 * rng.normal(size=len(arrays.mapping)))},
              "norm": {"e0": jnp.asarray([-3.0, -2.5]), "energy_scale": jnp.ones(())}}
    return mlip_mtp_from_config(config, params)


register_model_kind("mlip_mtp", mlip_mtp_from_config, example=example)
