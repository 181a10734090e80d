"""Host-side inputs of an MD run, shared by :func:`~jaxpot.md.run`, replicas and batches:
species, masses and pbc read without touching the device, masses with overrides, and
starting momenta."""

from __future__ import annotations

import ase
import jax.numpy as jnp
import numpy as np

from jaxpot.md.state import Integrator, MDError, maxwell_boltzmann


def host_view(atoms):
    """(species, masses, pbc) as NumPy, without touching the device (checks compile nothing)."""
    if isinstance(atoms, ase.Atoms):
        return np.asarray(atoms.numbers), np.array(atoms.get_masses(), float), tuple(
            bool(p) for p in atoms.pbc)
    return (np.asarray(atoms.species), np.array(atoms.masses, float),
            tuple(bool(p) for p in atoms.pbc))


def integrator_masses(integrator: Integrator, species: np.ndarray,
                      masses: np.ndarray) -> np.ndarray:
    """Per-atom masses (amu) with the integrator's ``masses=`` overrides; refuses
    non-positive or non-finite ones, naming the atom."""
    for z, m in integrator.option.get("masses", ()):
        masses[species == z] = m
    bad = np.flatnonzero(~np.isfinite(masses) | (masses <= 0))
    if bad.size:
        raise MDError(f"md.run: atom {bad[0]} (Z={species[bad[0]]}) has mass {masses[bad[0]]!r};"
                      " masses must be positive (set them on the atoms or pass masses=)")
    return masses


def initial_momenta(atoms, masses, temperature, key, dtype):
    """Momenta (N,3) of ``atoms``, or Maxwell–Boltzmann ones at ``temperature`` (K) when
    they carry none (zero total momentum)."""
    momenta = (np.asarray(atoms.get_momenta(), float) if isinstance(atoms, ase.Atoms)
               else np.zeros((len(masses), 3)))
    if not np.all(np.isfinite(momenta)):
        raise MDError("md.run: the atoms' momenta contain NaN or infinity")
    if temperature is not None and not np.any(momenta):
        return maxwell_boltzmann(key, jnp.asarray(masses, dtype), temperature)
    return jnp.asarray(momenta, dtype)
