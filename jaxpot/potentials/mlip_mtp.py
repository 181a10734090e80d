"""MTPs from mlip-2 ``.mtp`` files (trained by ``mlp train`` or written by :func:`write_mtp`).

    model = read_mtp("pot.mtp", species=["Si", "Ge"])   # type 0 = Si, type 1 = Ge (as LAMMPS)

The file's basis is evaluated as mlip-2 defines it: basic moments (mu, a, b, c) =
sum_j f_mu(r_ij) x^a y^b z^c (unit vectors; f_mu = scaling * sum_beta c Q_beta, Q_beta the
Chebyshev polynomials on [min_dist, max_dist] times (max_dist - r)^2), then each
``alpha_index_times`` entry (i, j, m, k) adds m * moment_i * moment_j to moment k (run in waves,
:func:`jaxpot.descriptors.moment_tensors.alpha_features`, as jaxpot's own MTPs), and

    E_i = species_coeffs[type_i] + sum_alpha moment_coeffs[alpha] * moment[mapping[alpha]].

Params use the MTP layout (``{"net": {"radial", "xi"}, "norm": {"e0", "energy_scale"}}``), so a
file's potential can be refitted with :func:`jaxpot.nn.lbfgs.train_lbfgs`.
"""

from __future__ import annotations

import json
import os
import re

import jax.numpy as jnp
import numpy as np

from jaxpot.descriptors.moment_tensors import AlphaOrderError, alpha_program
from jaxpot.model import EnergyModel, make_spec, register_model_kind, species_numbers
from jaxpot.potentials.mtp import site_energies


class MtpFileError(ValueError):
    """An .mtp file jaxpot cannot read (the message names the file and the key)."""


def _value(text: str):
    text = text.strip()
    if text.startswith("{"):
        return json.loads(text.replace("{", "[").replace("}", "]"))
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def parse_mtp_file(path: str | os.PathLike) -> dict:
    """The keys of an mlip-2 ``.mtp`` file (legacy ``min_dist``/``max_dist`` or ``min``/``max``
    radial sections) with ``radial_coeffs`` as an array (S, S, n_mu, size)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as err:
        raise MtpFileError(f"{path}: cannot read ({err.strerror})") from None
    if not lines or lines[0].strip() != "MTP":
        raise MtpFileError(f"{path}: not an mlip-2 .mtp file (first line must be 'MTP')")
    data, radial, k = {}, {}, 1
    while k < len(lines):
        line = lines[k].strip()
        k += 1
        if not line:
            continue
        if line == "radial_coeffs":
            while k < len(lines) and re.fullmatch(r"\d+-\d+", lines[k].strip()):
                a, b = (int(x) for x in lines[k].strip().split("-"))
                k += 1
                rows = []
                while k < len(lines) and lines[k].strip().startswith("{"):
                    rows.append(_value(lines[k]))
                    k += 1
                radial[(a, b)] = rows
            continue
        if "=" not in line:
            raise MtpFileError(f"{path}: line {k}: expected 'key = value', got {line!r}")
        key, value = (x.strip() for x in line.split("=", 1))
        data[key] = _value(value)
    aliases = {"min": "min_dist", "max": "max_dist", "size": "radial_basis_size"}
    for short, long in aliases.items():
        if short in data and long not in data:
            data[long] = data.pop(short)
    needed = ["species_count", "min_dist", "max_dist", "radial_basis_size",
              "alpha_index_basic", "alpha_index_times", "alpha_moment_mapping",
              "species_coeffs", "moment_coeffs"]
    missing = [key for key in needed if key not in data]
    if missing:
        raise MtpFileError(f"{path}: missing keys {missing} (an untrained template? train it "
                           "first, or fit with jaxpot fit model = 'mtp')")
    if data.get("radial_basis_type", "RBChebyshev") != "RBChebyshev":
        raise MtpFileError(f"{path}: radial_basis_type {data['radial_basis_type']!r} is not "
                           "supported (RBChebyshev is)")
    s = int(data["species_count"])
    if sorted(radial) != [(a, b) for a in range(s) for b in range(s)]:
        raise MtpFileError(f"{path}: radial_coeffs must list every pair of the {s} species")
    data["radial_coeffs"] = np.array([[radial[(a, b)] for b in range(s)] for a in range(s)],
                                     float)
    return data


def read_mtp(path: str | os.PathLike, species) -> EnergyModel:
    """An MTP from an mlip-2 ``.mtp`` file; ``species``: the element of each type (in order)."""
    data = parse_mtp_file(path)
    zs = [int(z) for z in species_numbers(species)]
    if len(zs) != data["species_count"]:
        raise MtpFileError(f"{os.fspath(path)}: the file has species_count = "
                           f"{data['species_count']}, species names {len(zs)}: {species}")
    if len(set(zs)) != len(zs):
        raise MtpFileError(f"species {species} repeat an element")
    config = {k: data[k] for k in ("min_dist", "max_dist", "radial_basis_size",
                                   "alpha_index_basic", "alpha_index_times",
                                   "alpha_moment_mapping")}
    config["scaling"] = float(data.get("scaling", 1.0))
    config["species"] = zs
    try:
        alpha_program(config["alpha_index_basic"], config["alpha_index_times"],
                      config["alpha_moment_mapping"])
    except AlphaOrderError as err:
        raise MtpFileError(f"{os.fspath(path)}: {err}") from None
    radial = np.asarray(data["radial_coeffs"], float)
    xi = np.asarray(data["moment_coeffs"], float)
    if len(xi) != len(config["alpha_moment_mapping"]):
        raise MtpFileError(f"{os.fspath(path)}: {len(xi)} moment_coeffs for "
                           f"{len(config['alpha_moment_mapping'])} alpha_moment_mapping entries")
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


register_model_kind("mlip_mtp", mlip_mtp_from_config)
