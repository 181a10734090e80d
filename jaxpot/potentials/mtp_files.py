"""mlip-2 ``.mtp`` files of jaxpot MTPs (``mlp calc-efs``, LAMMPS ``pair_style mlip``, motep).

The basis is written as its alpha arrays (:func:`jaxpot.descriptors.mtp_basis.alpha_arrays`):
basic moments (mu, a, b, c), ``alpha_index_times`` and ``alpha_moment_mapping``; reading any
mlip-2 file is :func:`jaxpot.potentials.mlip_mtp.read_mtp`.
"""

from __future__ import annotations

import os

import numpy as np
from ase.data import chemical_symbols

from jaxpot.descriptors.mtp_basis import alpha_arrays
from jaxpot.io.atomic_file import atomic_write


def _braces(values, fmt) -> str:
    return "{" + ", ".join(fmt(v) for v in values) + "}"


def _settings(model):
    """(species Z, r_min, r_cut, radial basis size, scaling, AlphaArrays, name) of an MTP."""
    import json

    from jaxpot.descriptors.moment_tensors import alpha_program
    from jaxpot.descriptors.mtp_basis import AlphaArrays
    from jaxpot.potentials.mtp import descriptor_of
    if model.kind == "mtp":
        d = descriptor_of(model)
        return (d.species, d.r_min, d.r_cut, d.radial_basis_size, 1.0, alpha_arrays(d.basis),
                f"jaxpot_MTP_level{d.level}")
    if model.kind == "mlip_mtp":
        c = json.loads(model.spec)["config"]
        times = np.asarray(c["alpha_index_times"], int).reshape(-1, 4)
        program = alpha_program(c["alpha_index_basic"], times, c["alpha_moment_mapping"])
        arrays = AlphaArrays(program.basic, times, program.mapping, program.n_moments)
        return (tuple(c["species"]), c["min_dist"], c["max_dist"], c["radial_basis_size"],
                c["scaling"], arrays, "jaxpot_MTP")
    raise ValueError(f"write_mtp writes MTP models, not {model.kind!r}")


def write_mtp(model, path: str | os.PathLike) -> None:
    """Write an MTP model (jaxpot's, or one read by ``read_mtp``) as an mlip-2 ``.mtp`` file
    (species in the model's order; energy_scale is folded into the moment coefficients)."""
    species, r_min, r_cut, size, scaling, arrays, name = _settings(model)
    net, norm = model.params["net"], model.params["norm"]
    radial = np.asarray(net["radial"], float)
    xi = np.asarray(net["xi"], float) * float(norm["energy_scale"])
    e0 = np.asarray(norm["e0"], float)
    g = "{:.16e}".format
    s = len(species)
    lines = ["MTP", "version = 1.1.0",
             f"potential_name = {name}_" + "".join(chemical_symbols[z] for z in species),
             f"scaling = {g(scaling)}", f"species_count = {s}", "potential_tag = ",
             "radial_basis_type = RBChebyshev", f"\tmin_dist = {g(r_min)}",
             f"\tmax_dist = {g(r_cut)}", f"\tradial_basis_size = {size}",
             f"\tradial_funcs_count = {radial.shape[2]}", "\tradial_coeffs"]
    for a in range(s):
        for b in range(s):
            lines.append(f"\t\t{a}-{b}")
            lines += ["\t\t\t" + _braces(row, g) for row in radial[a, b]]
    lines += [f"alpha_moments_count = {arrays.n_moments}",
              f"alpha_index_basic_count = {len(arrays.basic)}",
              "alpha_index_basic = " + _braces(arrays.basic.tolist(),
                                               lambda r: _braces(r, str)),
              f"alpha_index_times_count = {len(arrays.times)}",
              "alpha_index_times = " + _braces(arrays.times.tolist(),
                                               lambda r: _braces(r, str)),
              f"alpha_scalar_moments = {len(arrays.mapping)}",
              "alpha_moment_mapping = " + _braces(arrays.mapping.tolist(), str),
              "species_coeffs = " + _braces(e0, g), "moment_coeffs = " + _braces(xi, g)]
    with atomic_write(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
