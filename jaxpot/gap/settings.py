"""GAP fit settings under gap_fit's names, and their checks.

    settings = GapSettings(soap=SoapSettings(cutoff=5.4, n_max=8, l_max=8, atom_sigma=0.5,
                                             zeta=4, delta=1.0, n_sparse=1000),
                           e0=-0.79, default_sigma=(0.01, 0.05, 0.01, 1.0))

Lengths in Å, energies in eV.  ``e0`` is a number (every species), a ``{symbol or Z: eV}``
mapping, or ``"average"`` (least-squares energy per atom of each species over the training
set; jaxpot's default, where gap_fit's is the isolated-atom energy).

``GapSettings()`` are jaxpot's defaults, chosen on validation splits carved from the mlearn
Si, Ge and Li training splits (``benchmarks/select_gap_defaults.py``): SOAP (cutoff 5 Å,
n_max 12, l_max 10, atom_sigma 0.5, zeta 2, delta 1, 2000 CUR sparse points) plus a distance_2b
term (cutoff 5 Å, theta 1 Å, delta 1, 20 points), ``default_sigma = (0.001, 0.02, 0.02)``
per atom, e0 from a least-squares average, virials fitted.  Settings parsed from a gap_fit
command line or TOML file contain exactly the descriptors given there.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxpot.gap.labels import LabelNames
from jaxpot.gap.sparsify import METHODS


@dataclasses.dataclass(frozen=True)
class SoapSettings:
    """gap_fit's ``soap`` descriptor and its dot-product GP (``covariance_type=dot_product``)."""

    cutoff: float = 5.0
    n_max: int = 12
    l_max: int = 10
    atom_sigma: float = 0.5
    zeta: int = 2
    delta: float = 1.0
    n_sparse: int = 2000
    sparse_method: str = "cur_points"
    cutoff_transition_width: float = 0.5
    central_weight: float = 1.0
    f0: float = 0.0

    def __post_init__(self):
        _check_numbers(self, ("cutoff", "atom_sigma", "delta", "cutoff_transition_width",
                              "central_weight", "f0"), ("n_max", "l_max", "zeta", "n_sparse"),
                       "soap")
        _check_positive(self, ("cutoff", "n_max", "l_max", "atom_sigma", "zeta", "delta",
                               "n_sparse"), "soap", allow_zero=("l_max",))
        if not 0 <= self.cutoff_transition_width < self.cutoff:
            raise ValueError("soap cutoff_transition_width must be in [0, cutoff), got "
                             f"{self.cutoff_transition_width}")
        if self.sparse_method not in METHODS:
            raise ValueError(f"soap sparse_method={self.sparse_method!r} is not one of {METHODS}")
        if self.f0 != 0.0:
            raise ValueError("soap f0 other than 0 is not supported")


@dataclasses.dataclass(frozen=True)
class TwoBodySettings:
    """gap_fit's ``distance_2b`` descriptor with a squared-exponential kernel."""

    cutoff: float = 5.0
    theta_uniform: float = 1.0  # Å
    delta: float = 1.0
    n_sparse: int = 20
    sparse_method: str = "uniform"
    cutoff_transition_width: float = 0.5

    def __post_init__(self):
        _check_numbers(self, ("cutoff", "theta_uniform", "delta", "cutoff_transition_width"),
                       ("n_sparse",), "distance_2b")
        _check_positive(self, ("cutoff", "theta_uniform", "delta", "n_sparse"), "distance_2b")
        if not 0 <= self.cutoff_transition_width < self.cutoff:
            raise ValueError("distance_2b cutoff_transition_width must be in [0, cutoff)")
        if self.sparse_method not in ("uniform", "random", "cur_points", "fps"):
            raise ValueError(f"distance_2b sparse_method={self.sparse_method!r} is not "
                             "supported (uniform, random)")


@dataclasses.dataclass(frozen=True)
class GapSettings:
    """Everything a fit needs besides the data (gap_fit's names)."""

    soap: SoapSettings | None = dataclasses.field(default_factory=SoapSettings)
    # a 2-body term by default (chosen on validation splits); None for SOAP alone
    distance_2b: TwoBodySettings | None = dataclasses.field(default_factory=TwoBodySettings)
    e0: Any = "average"
    # chosen on validation splits of mlearn Si, Ge, Li (benchmarks/select_gap_defaults.py)
    default_sigma: tuple[float, float, float, float] = (0.001, 0.02, 0.02, 0.0)
    config_type_sigma: dict | None = None
    sigma_per_atom: bool = True
    sparse_jitter: float = 1e-8
    names: LabelNames = dataclasses.field(default_factory=LabelNames)
    fit_virials: bool = True
    seed: int = 0
    cur_iterations: int = 1
    sparse_indices: dict | None = None  # {Z: [environment indices]} for sparse_method=index_file

    def __post_init__(self):
        if self.soap is None and self.distance_2b is None:
            raise ValueError("a GAP needs a soap or a distance_2b descriptor (or both)")
        _check_sigmas(self.default_sigma, "default_sigma")
        if self.config_type_sigma is not None and not isinstance(self.config_type_sigma, dict):
            raise ValueError("config_type_sigma must map config_type -> four sigmas, got "
                             f"{self.config_type_sigma!r:.80}")
        for ct, sig in (self.config_type_sigma or {}).items():
            _check_sigmas(sig, f"config_type_sigma for {ct!r}")
        _check_numbers(self, ("sparse_jitter",), ("seed", "cur_iterations"), "GapSettings")
        if not (np.isfinite(self.sparse_jitter) and self.sparse_jitter >= 0):
            raise ValueError(f"sparse_jitter must be >= 0, got {self.sparse_jitter}")
        for name in ("sigma_per_atom", "fit_virials"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be true or false, got "
                                 f"{getattr(self, name)!r:.80}")
        check_e0(self.e0)

    @property
    def cutoff(self) -> float:
        return max(d.cutoff for d in (self.soap, self.distance_2b) if d is not None)

    def replace(self, **changes) -> GapSettings:
        return dataclasses.replace(self, **changes)


def check_e0(e0) -> None:
    """Refuse an e0 that is not a number, ``"average"`` or a ``{symbol or Z: eV}`` mapping of
    known elements (ValueError naming the entry)."""
    from ase.data import atomic_numbers, chemical_symbols
    if isinstance(e0, str):
        if e0 != "average":
            raise ValueError(f"e0 must be a number, a mapping or 'average', got {e0!r}")
        return
    if isinstance(e0, dict):
        for key, value in e0.items():
            known = (key in atomic_numbers if isinstance(key, str) else
                     _is_number(key, integer=True) and 0 < int(key) < len(chemical_symbols))
            if not known:
                raise ValueError(f"e0 names {key!r}, which is not an element symbol or atomic "
                                 "number (symbols are case-sensitive: Si, not si)")
            if not _is_number(value) or not np.isfinite(value):
                raise ValueError(f"e0 for {key} must be a number (eV), got {value!r:.80}")
        return
    if not _is_number(e0) or not np.isfinite(e0):
        raise ValueError(f"e0 must be a number (eV), a {{symbol: eV}} mapping or 'average', "
                         f"got {e0!r:.80}")


def _is_number(value, integer: bool = False) -> bool:
    """A real number (not a bool or string); with ``integer``, a whole one."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return False
    return not integer or (np.isfinite(value) and float(value).is_integer())


def _check_numbers(obj, reals, integers, what) -> None:
    """Refuse a field that is not a number (``reals``) or not a whole number (``integers``),
    naming it: a string where a number belongs (``cutoff=abc``) is a typo, not a value."""
    for name in reals:
        if not _is_number(getattr(obj, name)):
            raise ValueError(f"{what} {name} must be a number, got {getattr(obj, name)!r:.80}")
    for name in integers:
        if not _is_number(getattr(obj, name), integer=True):
            raise ValueError(f"{what} {name} must be a whole number, got "
                             f"{getattr(obj, name)!r:.80}")


def _check_sigmas(sigma, what: str) -> None:
    """Four finite numbers {energy force virial hessian}, the first three positive."""
    values = list(sigma) if isinstance(sigma, (list, tuple, np.ndarray)) else None
    if values is None or len(values) != 4 or not all(_is_number(v) for v in values):
        raise ValueError(f"{what} needs four numbers {{energy force virial hessian}}, got "
                         f"{sigma!r:.80}")
    s = np.asarray(values, float)
    if not np.all(np.isfinite(s)) or np.any(s[:3] <= 0):
        raise ValueError(f"{what} needs four numbers {{energy force virial hessian}} with the "
                         f"first three positive (a zero sigma is an infinite weight), got "
                         f"{tuple(values)}")


def _check_positive(obj, names, what, allow_zero=()):
    for name in names:
        value = getattr(obj, name)
        ok = np.isfinite(value) and (value >= 0 if name in allow_zero else value > 0)
        if not ok:
            raise ValueError(f"{what} {name} must be positive and finite, got {value!r}")
