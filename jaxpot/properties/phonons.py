"""Harmonic phonons from the autodiff Hessian of a supercell energy.

Force constants are ``Phi = d2E/du du`` of the supercell (``jax.hessian``; no displacements).
The dynamical matrix uses phonopy's convention: for primitive atoms a, b

    D_ab(q) = sum_{j ~ b} sum_{L in S(a,j)} Phi_aj exp(2 pi i q . v_ajL) / (|S(a,j)| sqrt(m_a m_b))

where j runs over the supercell images of b and S(a, j) are the shortest vectors from a to the
periodic images of j in the supercell (all of equal length get weight 1/multiplicity), so small
supercells give phonopy's numbers.  q is in fractional coordinates of the primitive cell's
reciprocal lattice (without 2 pi); frequencies are in THz, ascending, imaginary ones negative.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.compiler import run_once_programs
from jaxpot.model import EnergyModel
from jaxpot.properties._common import (
    SECOND_DERIVATIVES_RUN_ONCE_MAX_ATOMS,
    prepare,
    require_periodic,
)
from jaxpot.units import sqrt_eV_per_A2_amu_to_THz as THZ

_SHIFTS = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=float)


class Phonons(NamedTuple):
    """Phonons of ``primitive`` from force constants of the ``supercell`` repetition.

    Attributes:
        primitive: ase.Atoms of the primitive (input) cell, Np atoms.
        supercell: repetitions (n1, n2, n3).
        force_constants: (Np, Ns, 3, 3) eV/Å^2 between home-cell atom a and supercell atom j.
        vectors: (Np, Ns, 27, 3) candidate a->j vectors in primitive fractional coordinates.
        weights: (Np, Ns, 27) 1/multiplicity for the shortest vectors, else 0.
        masses: (Np,) amu.
    """

    primitive: object
    supercell: tuple
    force_constants: np.ndarray
    vectors: np.ndarray
    weights: np.ndarray
    masses: np.ndarray

    @property
    def n_primitive(self) -> int:
        return len(self.masses)

    def dynamical_matrices(self, qpoints, force_constants=None) -> np.ndarray:
        """D(q) (nq, 3Np, 3Np) complex, eV/(Å^2 amu); optional alternative force constants."""
        fc = self.force_constants if force_constants is None else force_constants
        q = np.atleast_2d(np.asarray(qpoints, float))
        npr = self.n_primitive
        phase = np.exp(2j * np.pi * np.einsum("qx,ajlx->qajl", q, self.vectors))
        summed = np.einsum("qajl,ajl->qaj", phase, self.weights)  # (nq, Np, Ns)
        owner = np.arange(fc.shape[1]) % npr  # supercell atom j is an image of owner[j]
        d = np.zeros((len(q), npr, npr, 3, 3), complex)
        for b in range(npr):
            cols = owner == b
            d[:, :, b] = np.einsum("qaj,ajxy->qaxy", summed[:, :, cols], fc[:, cols])
        d /= np.sqrt(np.outer(self.masses, self.masses))[None, :, :, None, None]
        d = d.transpose(0, 1, 3, 2, 4).reshape(len(q), 3 * npr, 3 * npr)
        return 0.5 * (d + np.conj(np.swapaxes(d, 1, 2)))

    def frequencies(self, qpoints) -> np.ndarray:
        """Frequencies (nq, 3Np) in THz, ascending; imaginary modes as negative numbers."""
        w2 = np.linalg.eigvalsh(self.dynamical_matrices(qpoints))
        return np.sign(w2) * np.sqrt(np.abs(w2)) * THZ

    def modes(self, qpoints):
        """(frequencies (nq, 3Np) THz, eigenvectors (nq, 3Np, 3Np) columns) at ``qpoints``."""
        w2, vecs = np.linalg.eigh(self.dynamical_matrices(qpoints))
        return np.sign(w2) * np.sqrt(np.abs(w2)) * THZ, vecs

    def acoustic_sum_rule_violation(self) -> float:
        """max |sum_j Phi_aj| (eV/Å^2); zero up to round-off for an autodiff Hessian."""
        return float(np.abs(self.force_constants.sum(axis=1)).max())

    def band_structure(self, path: str | None = None, npoints: int = 100):
        """(ase BandPath, frequencies (npoints, 3Np) THz) along the standard path of the cell."""
        bandpath = self.primitive.cell.bandpath(path, npoints=npoints)
        return bandpath, self.frequencies(bandpath.kpts)

    def mesh_frequencies(self, mesh) -> np.ndarray:
        """Frequencies on a Gamma-centred uniform mesh (n1, n2, n3): (n1 n2 n3, 3Np) THz."""
        return self.frequencies(gamma_centred_mesh(mesh))

    def dos(self, mesh=(16, 16, 16), sigma: float = 0.1, frequencies=None):
        """Gaussian-smeared total DOS (states/THz per primitive cell, integrates to 3Np)."""
        f = self.mesh_frequencies(mesh)
        grid = np.linspace(min(0.0, f.min()) - 5 * sigma, f.max() + 5 * sigma, 501) \
            if frequencies is None else np.asarray(frequencies)
        g = np.exp(-0.5 * ((grid[:, None] - f.reshape(-1)[None]) / sigma) ** 2)
        return grid, g.sum(axis=1) / (sigma * np.sqrt(2 * np.pi)) / len(f)

    def thermal_properties(self, temperatures, mesh=(16, 16, 16), cutoff_frequency=1e-5,
                           imaginary_tolerance: float = 1e-3):
        """Harmonic F (kJ/mol), S (J/K/mol), C_v (J/K/mol) per primitive cell, as phonopy.

        Raises ValueError if the crystal has imaginary modes below ``-imaginary_tolerance``
        THz on the mesh (the acoustic modes at Gamma excepted)."""
        from jaxpot.properties.phonon_thermo import thermal_properties
        return thermal_properties(self.mesh_frequencies(mesh), temperatures, cutoff_frequency,
                                  imaginary_tolerance, gamma_index=0)  # row 0 is q = 0

    def plot_band_structure(self, filename: str, path: str | None = None, npoints: int = 200):
        """Save a band-structure plot (PNG) with the high-symmetry labels of the path
        (:func:`band_figure`)."""
        band_figure(*self.band_structure(path, npoints)).savefig(filename, dpi=120)

    def plot_dos(self, filename: str, mesh=(16, 16, 16), sigma: float = 0.1):
        """Save a DOS plot (PNG) (:func:`dos_figure`)."""
        dos_figure(*self.dos(mesh, sigma)).savefig(filename, dpi=120)


def band_figure(bandpath, frequencies):
    """Phonon bands (THz) along ``bandpath`` (ase BandPath) with its high-symmetry labels: a
    matplotlib Figure on an Agg canvas (no pyplot, the global backend left alone)."""
    x, xlabels, labels = bandpath.get_linear_kpoint_axis()
    fig = _figure((6, 4))
    ax = fig.add_subplot()
    ax.plot(x, frequencies, color="k", lw=1)
    for xl in xlabels:
        ax.axvline(xl, color="0.7", lw=0.5)
    ax.set_xticks(xlabels, [r"$\Gamma$" if s == "G" else s for s in labels])
    ax.set_xlim(x[0], x[-1])
    ax.set_ylabel("frequency (THz)")
    ax.axhline(0, color="0.7", lw=0.5)
    fig.tight_layout()
    return fig


def dos_figure(frequencies, dos):
    """The total phonon DOS (states/THz per cell) against frequency (THz): a Figure as
    :func:`band_figure`'s."""
    fig = _figure((5, 3.5))
    ax = fig.add_subplot()
    ax.plot(frequencies, dos, color="k", lw=1)
    ax.fill_between(frequencies, dos, color="0.85")
    ax.set(xlabel="frequency (THz)", ylabel="DOS (states/THz/cell)")
    ax.set_ylim(bottom=0)
    fig.tight_layout()
    return fig


def _figure(size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def gamma_centred_mesh(mesh) -> np.ndarray:
    """Fractional q-points of a Gamma-centred (n1, n2, n3) mesh."""
    axes = [np.arange(n) / n for n in mesh]
    return np.array(list(itertools.product(*axes)))


def _hessian(model, positions, cell, species, neighbors, strain_derivative):
    def hessian(e):  # w.r.t. the actual (strained) positions, evaluated at positions * (1 + e)
        f = 1.0 + e
        return jax.hessian(lambda r: model.energy(r, cell * f, species, neighbors))(positions * f)

    zero = jnp.zeros((), positions.dtype)
    if not strain_derivative:
        return hessian(zero)
    return jax.jvp(hessian, (zero,), (jnp.ones_like(zero),))


_hessian_programs = run_once_programs(_hessian, static_argnames=("strain_derivative",))


def supercell_hessian(model: EnergyModel, supercell_atoms, strain_derivative: bool = False):
    """Hessian (Ns, 3, Ns, 3) eV/Å^2 of the supercell energy; with ``strain_derivative`` also
    its derivative w.r.t. an isotropic linear strain (cell and positions scaled by 1 + e).
    Compiled once per model kind and supercell size."""
    prep = prepare(model, supercell_atoms)
    program = _hessian_programs.for_atoms(prep.positions.shape[0],
                                          SECOND_DERIVATIVES_RUN_ONCE_MAX_ATOMS)
    out = program(model, prep.positions, prep.cell, prep.species, prep.neighbors,
                  strain_derivative=strain_derivative)
    if not strain_derivative:
        return np.asarray(out)
    return np.asarray(out[0]), np.asarray(out[1])


def _shortest_vectors(primitive, supercell_atoms, npr, tol=1e-5):
    sc_cell = supercell_atoms.cell.array
    frac = supercell_atoms.get_scaled_positions(wrap=False)
    d = frac[None, :, :] - frac[:npr, None, :]
    d -= np.round(d)
    cand = d[:, :, None, :] + _SHIFTS[None, None]  # (Np, Ns, 27, 3) supercell fractional
    cart = cand @ sc_cell
    length = np.linalg.norm(cart, axis=-1)
    shortest = length <= length.min(axis=-1, keepdims=True) + tol
    weights = shortest / shortest.sum(axis=-1, keepdims=True)
    prim_frac = cart @ np.linalg.inv(primitive.cell.array)
    return prim_frac, weights


def check_supercell(supercell) -> tuple[int, int, int]:
    """``supercell`` as three positive ints, or ValueError naming what is wrong."""
    reps = np.asarray(supercell)
    if reps.shape != (3,) or not np.all(np.isfinite(reps.astype(float))) \
            or not np.all(reps == np.round(reps)) or np.any(reps < 1):
        raise ValueError(f"supercell must be three positive integers (n1, n2, n3), "
                         f"got {supercell!r}")
    return tuple(int(n) for n in reps)


def phonons(model: EnergyModel, atoms, supercell=(3, 3, 3)) -> Phonons:
    """Phonons of ``atoms`` (the primitive/unit cell) from the Hessian of its supercell.

    Raises:
        StructureError: ``atoms`` is not periodic along all three lattice vectors.
        ValueError: ``supercell`` is not three positive integers.
    """
    require_periodic(atoms, "phonons")
    supercell = check_supercell(supercell)
    primitive = atoms.copy()
    sc = primitive.repeat(supercell)
    npr = len(primitive)
    ns = len(sc)
    hess = supercell_hessian(model, sc)
    fc = hess[:npr].transpose(0, 2, 1, 3)  # (Np, Ns, 3, 3): atoms 0..Np-1 are the home cell
    vectors, weights = _shortest_vectors(primitive, sc, npr)
    assert fc.shape == (npr, ns, 3, 3)
    return Phonons(primitive, tuple(supercell), fc, vectors, weights,
                   primitive.get_masses().astype(float))
