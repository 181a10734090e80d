"""PNG plots of ``jaxpot properties``: matplotlib Figures on an Agg canvas (no pyplot, the
global backend left alone), written atomically."""

from __future__ import annotations

import numpy as np


def _figure(size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str, dpi: int = 120) -> None:
    from jaxpot.io.atomic_file import atomic_write
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=dpi)


def eos_plot(path: str, eos, n_atoms: int) -> None:
    """E(V) per atom: the scanned points and the Birch-Murnaghan fit."""
    from jaxpot.properties.eos import birch_murnaghan
    from jaxpot.units import GPa
    fig = _figure((5, 3.8))
    ax = fig.add_subplot()
    v = np.linspace(eos.volumes.min(), eos.volumes.max(), 200)
    e = birch_murnaghan(v, eos.e0, eos.v0, eos.b0 * GPa, eos.b0_prime)
    ax.plot(v / n_atoms, e / n_atoms, "k-", lw=1,
            label=f"Birch-Murnaghan: B0 {eos.b0:.1f} GPa, B0' {eos.b0_prime:.2f}")
    ax.plot(eos.volumes / n_atoms, eos.energies / n_atoms, "o", color="C0", label="scan")
    ax.axvline(eos.v0 / n_atoms, color="0.7", lw=0.5)
    ax.set(xlabel="volume (Å³/atom)", ylabel="energy (eV/atom)")
    ax.legend(fontsize="small")
    _save(fig, path)


def band_plot(path: str, bandpath, frequencies) -> None:
    """Phonon bands along ``bandpath`` (:func:`jaxpot.properties.phonons.band_figure`)."""
    from jaxpot.properties.phonons import band_figure
    _save(band_figure(bandpath, frequencies), path)


def dos_plot(path: str, grid, dos) -> None:
    """Total phonon DOS (:func:`jaxpot.properties.phonons.dos_figure`)."""
    from jaxpot.properties.phonons import dos_figure
    _save(dos_figure(grid, dos), path)


def qha_plot(path: str, qha, n_atoms: int) -> None:
    """V(T), B(T) and the linear thermal expansion alpha(T), one panel each."""
    fig = _figure((5, 7))
    t = qha.temperatures
    for k, (y, label) in enumerate(((qha.volumes / n_atoms, "volume (Å³/atom)"),
                                    (qha.bulk_modulus, "bulk modulus (GPa)"),
                                    (qha.thermal_expansion * 1e6, "linear expansion (10⁻⁶/K)"))):
        ax = fig.add_subplot(3, 1, k + 1)
        ax.plot(t, y, "k-", lw=1)
        ax.set_ylabel(label)
        if k == 2:
            ax.set_xlabel("temperature (K)")
    _save(fig, path)
