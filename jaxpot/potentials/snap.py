"""SNAP and qSNAP: energies linear (or quadratic) in the bispectrum, as LAMMPS ``pair_style snap``.

    E_i = beta_0^{s_i} + sum_k beta_k^{s_i} B_k^i  (+ the quadratic terms of qSNAP)

with B^i the bispectrum of :mod:`jaxpot.descriptors.bispectrum` (LAMMPS's convention) and one
coefficient vector per species.  Parameters (learnable pytree): ``{"coefficients": (S, 1+F)}``
in the ``.snapcoeff`` layout.  On a CPU backend the energy and its gradient run in one numba
kernel per call, LAMMPS's per-atom algorithm (:mod:`jaxpot.descriptors.bispectrum_host`);
elsewhere through LAMMPS's adjoint in XLA (:mod:`jaxpot.descriptors.bispectrum_adjoint`).
Both are ``custom_jvp`` rules: forces and stress come from JAX, equal to LAMMPS's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from ase.data import chemical_symbols

from jaxpot.descriptors._common import check_features_input
from jaxpot.descriptors.bispectrum import (
    Bispectrum,
    atom_u,
    bispectrum,
    bzero,
    slot_cayley_klein,
    with_quadratic,
)
from jaxpot.descriptors.bispectrum_adjoint import bispectrum_energies
from jaxpot.descriptors.bispectrum_host import snap_site_energies
from jaxpot.elements import element_symbols
from jaxpot.model import (
    EnergyModel,
    make_spec,
    register_model_kind,
    species_indices,
    species_lookup,
)
from jaxpot.neighbors import neighbor_vectors
from jaxpot.potentials.snap_files import (
    check_files_match,
    read_snapcoeff,
    read_snapparam,
    write_snap_files,
)


def snap(coeff_file: str | None = None, param_file: str | None = None, *, species=None,
         descriptor: Bispectrum | None = None, coefficients=None) -> EnergyModel:
    """A SNAP model from LAMMPS files, or from a descriptor and coefficients.

    Args:
        coeff_file, param_file: ``.snapcoeff`` / ``.snapparam`` (as ``pair_coeff * * C P``).
        species: elements to use, a subset of the file's (default: all, in file order);
            as LAMMPS's element list after the file names.
        descriptor: a :func:`~jaxpot.descriptors.bispectrum` (instead of files).
        coefficients: (S, 1 + F) with S = len(descriptor.species) (instead of files).
    """
    if coeff_file is not None or param_file is not None:
        if coeff_file is None or param_file is None:
            raise ValueError("snap needs both a .snapcoeff and a .snapparam file")
        if descriptor is not None or coefficients is not None:
            raise ValueError("give SNAP files or descriptor + coefficients, not both")
        descriptor, coefficients = _from_files(coeff_file, param_file, species)
    elif descriptor is None or coefficients is None:
        raise ValueError("snap needs (coeff_file, param_file) or (descriptor=, coefficients=)")
    coefficients = np.asarray(coefficients, float)
    shape = (len(descriptor.species), 1 + descriptor.n_features)
    if coefficients.shape != shape:
        raise ValueError(f"snap: coefficients of shape {coefficients.shape}, the descriptor "
                         f"needs {shape} (species x (1 + features))")
    if not np.all(np.isfinite(coefficients)):
        raise ValueError("snap: coefficients must be finite")
    kind = "qsnap" if descriptor.quadraticflag else "snap"
    spec = make_spec("snap", __name__, descriptor=list(descriptor._asdict().items()))
    offset = bzero(descriptor.twojmax) if descriptor.bzeroflag else None
    feature_energy = _feature_energy(descriptor.quadraticflag)
    energies_of_u = bispectrum_energies(descriptor.twojmax, offset, feature_energy)
    on_host = snap_site_energies(descriptor.twojmax, offset, feature_energy,
                                 len(descriptor.species), descriptor.quadraticflag)

    def atomic_energies(params, positions, cell, species, neighbors):
        check_features_input(descriptor, species, neighbors, descriptor.cutoff, "snap")
        vectors, mask = neighbor_vectors(positions, cell, neighbors)
        centre, nb_index = species_indices(species_lookup(descriptor.species), species,
                                           neighbors)
        if jax.default_backend() == "cpu":
            a, b, s = slot_cayley_klein(descriptor, vectors, mask, centre, nb_index)
            return on_host(params, a, b, s, centre)
        u = atom_u(descriptor, vectors, mask, centre, nb_index)
        atoms_last = tuple((jnp.moveaxis(jnp.real(x), 0, -1), jnp.moveaxis(jnp.imag(x), 0, -1))
                           for x in u)
        return energies_of_u(params, atoms_last, centre)

    def energy(params, positions, cell, species, neighbors):
        return jnp.sum(atomic_energies(params, positions, cell, species, neighbors))

    return EnergyModel(energy_fn=energy, params={"coefficients": jnp.asarray(coefficients)},
                       cutoff=descriptor.cutoff, species=descriptor.species,
                       atomic_energies_fn=atomic_energies, spec=spec, name=kind,
                       precision="float64")


def _feature_energy(quadratic: bool):
    """E_i = beta_0 + beta . B_i (+ qSNAP's products) with the centre's coefficient row."""
    def feature_energy(params, bis, centre):
        features = with_quadratic(bis) if quadratic else bis
        beta = params["coefficients"][centre]  # (N, 1 + F)
        return beta[:, 0] + jnp.sum(beta[:, 1:] * features, axis=-1)
    return feature_energy


def _from_files(coeff_file: str, param_file: str, species) -> tuple[Bispectrum, np.ndarray]:
    param = read_snapparam(param_file)
    elements, radius, weight, coeffs = read_snapcoeff(coeff_file)
    check_files_match(param, coeffs.shape[1], coeff_file, param_file)
    if species is not None:
        species = element_symbols(species, "species")
        missing = [s for s in species if s not in elements]
        if missing:
            raise ValueError(f"{coeff_file}: no coefficients for species {missing} (the file "
                             f"has {elements})")
        keep = [elements.index(s) for s in species]
        elements = list(species)
        radius, weight = [radius[k] for k in keep], [weight[k] for k in keep]
        coeffs = coeffs[keep]
    try:
        desc = bispectrum(elements, param["twojmax"], param["rcutfac"], param["rfac0"],
                          param["rmin0"], radius=radius, weight=weight,
                          switchflag=param["switchflag"], bzeroflag=param["bzeroflag"],
                          quadraticflag=param["quadraticflag"])
    except ValueError as err:  # a setting out of range: name the files it came from
        raise ValueError(f"{param_file} with {coeff_file}: {err}") from None
    return desc, coeffs


def _descriptor_from_config(config: dict) -> Bispectrum:
    """The descriptor stored in a SNAP spec config (JSON lists back to tuples)."""
    fields = dict(config["descriptor"])
    for key in ("species", "radius", "weight"):
        fields[key] = tuple(fields[key])
    return Bispectrum(**fields)


def descriptor_of(model: EnergyModel) -> Bispectrum:
    """The bispectrum descriptor of a SNAP model (from its spec)."""
    import json
    return _descriptor_from_config(json.loads(model.spec)["config"])


def write_snap(model: EnergyModel, coeff_path: str, param_path: str) -> None:
    """Write a SNAP model as LAMMPS ``.snapcoeff`` / ``.snapparam`` files."""
    desc = descriptor_of(model)
    param = dict(rcutfac=desc.rcutfac, twojmax=desc.twojmax, rfac0=desc.rfac0,
                 rmin0=desc.rmin0, switchflag=int(desc.switchflag),
                 bzeroflag=int(desc.bzeroflag), quadraticflag=int(desc.quadraticflag))
    write_snap_files(coeff_path, param_path, param, [chemical_symbols[z] for z in desc.species],
                     desc.radius, desc.weight, np.asarray(model.params["coefficients"]))


def from_spec(config: dict) -> EnergyModel:
    desc = _descriptor_from_config(config)
    return snap(descriptor=desc, coefficients=np.zeros((len(desc.species), 1 + desc.n_features)))


def example() -> EnergyModel:
    """Small model for the contract test: a silicon qSNAP (2J = 3, cutoff 3.6 Å, linear and
    quadratic terms) with seeded random coefficients."""
    desc = bispectrum(["Si"], 3, 3.6, quadraticflag=1)
    rng = np.random.default_rng(5)
    return snap(descriptor=desc, coefficients=np.concatenate(
        [[-4.0], 1e-3 * rng.normal(size=desc.n_features)])[None])


register_model_kind("snap", from_spec, example=example)
