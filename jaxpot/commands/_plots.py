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
    """Phonon bands along ``bandpath`` (ase BandPath) with its high-symmetry labels."""
    x, xlabels, labels = bandpath.get_linear_kpoint_axis()
    fig = _figure((6, 4))
    ax = fig.add_subplot()
    ax.plot(x, frequencies, color="k", lw=1)
    for xl in xlabels:
        ax.axvline(xl, color="0.7", lw=0.5)
    ax.set_xticks(xlabels, [r"$\Gamma$" if s == "G" else s for s in labels])
    ax.set_xlim(x[0], x[-1])
    ax.axhline(0, color="0.7", lw=0.5)
    ax.set_ylabel("frequency (THz)")
    _save(fig, path)


def dos_plot(path: str, grid, dos) -> None:
    """Total phonon DOS (states/THz per cell)."""
    fig = _figure((5, 3.5))
    ax = fig.add_subplot()
    ax.plot(grid, dos, color="k", lw=1)
    ax.fill_between(grid, dos, color="0.85")
    ax.set(xlabel="frequency (THz)", ylabel="DOS (states/THz/cell)")
    ax.set_ylim(bottom=0)
    _save(fig, path)


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
