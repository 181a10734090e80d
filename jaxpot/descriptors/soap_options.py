"""Validation of SOAP options and dscribe's radial weighting functions."""

from __future__ import annotations

import operator
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from jaxpot.checks import positive_finite

_WEIGHT_PARAMETERS = {"poly": ("r0", "c", "m"), "pow": ("r0", "c", "d", "m"),
                      "exp": ("r0", "c", "d")}


def weighting_function(options: dict) -> Callable | None:
    """dscribe's weighting w(r) (r in Å, works on NumPy and JAX arrays), or None.

    poly: c (1 + 2 (r/r0)^3 - 3 (r/r0)^2)^m for r <= r0, else 0 (Caro, PRB 100, 024112);
    pow: c / (d + (r/r0)^m) (Willatt et al., PCCP 20, 29661); exp: c / (d + exp(-r/r0)).
    """
    name = options.get("function")
    if name is None:
        return None
    r0, c = float(options["r0"]), float(options["c"])
    if name == "poly":
        m = float(options["m"])

        def poly(r):
            x = jnp.minimum(r / r0, 1.0)
            return jnp.where(r <= r0, c * (1 + 2 * x ** 3 - 3 * x ** 2) ** m, 0.0)
        return poly
    d = float(options["d"])
    if name == "pow":
        m = float(options["m"])
        return lambda r: c / (d + (r / r0) ** m)
    return lambda r: c / (d + jnp.exp(-r / r0))


def infer_r_cut(weighting: dict) -> float:
    """dscribe's cutoff when only a weighting function is given: r0 for poly, else where the
    function falls to ``threshold`` (default 1e-2)."""
    name = weighting.get("function")
    if name is None:
        raise ValueError("give r_cut, or a weighting function to infer it from")
    _check_weighting(weighting)
    t = float(weighting.get("threshold", 1e-2))
    r0, c = float(weighting["r0"]), float(weighting["c"])
    if name == "poly":
        return r0
    if name == "pow":
        return r0 * (c / t - float(weighting["d"])) ** (1 / float(weighting["m"]))
    return r0 * np.log(c / t - float(weighting["d"]))


def _check_weighting(weighting: dict) -> None:
    unknown = set(weighting) - {"function", "w0", "r0", "c", "d", "m", "threshold"}
    if unknown:
        raise ValueError(f"unknown weighting keys {sorted(unknown)}")
    for key in ("w0", "r0", "c", "d", "m", "threshold"):
        if key in weighting:
            try:
                x = float(weighting[key])
            except (TypeError, ValueError):
                x = None
            if x is None or not np.isfinite(x):
                raise ValueError(f"weighting {key} must be a finite number, "
                                 f"got {weighting[key]!r}")
    if "threshold" in weighting and not float(weighting["threshold"]) > 0:
        raise ValueError(f"weighting threshold must be positive, got {weighting['threshold']!r}")
    if "w0" in weighting and not float(weighting["w0"]) >= 0:
        raise ValueError("weighting w0 must be >= 0")
    name = weighting.get("function")
    if name is None:
        return
    if name not in _WEIGHT_PARAMETERS:
        raise ValueError(f"weighting function must be one of {sorted(_WEIGHT_PARAMETERS)}, "
                         f"got {name!r}")
    missing = [k for k in _WEIGHT_PARAMETERS[name] if k not in weighting]
    if missing:
        raise ValueError(f"weighting function {name!r} needs {missing}")
    if float(weighting["r0"]) <= 0 or any(float(weighting[k]) < 0 for k in
                                          _WEIGHT_PARAMETERS[name][1:]):
        raise ValueError("weighting needs r0 > 0 and c, d, m >= 0")


def check_options(convention, rbf, cutoff, cutoff_width, r_cut, n_max, l_max, sigma,
                  weighting, average, mode) -> None:
    """Raise ValueError/NotImplementedError naming the first bad SOAP option."""
    if convention not in ("dscribe", "featomic", "quip"):
        raise ValueError(f"convention must be 'dscribe', 'featomic' or 'quip', got {convention!r}")
    rbfs = ("equispaced_gauss",) if convention == "quip" else ("gto", "polynomial")
    if rbf not in rbfs:
        raise ValueError(f"rbf must be one of {rbfs} for the {convention} convention, got {rbf!r}")
    allowed = {"dscribe": ("dscribe", "smooth"), "featomic": ("smooth", "step"),
               "quip": ("smooth",)}[convention]
    if cutoff not in allowed:
        raise ValueError(f"cutoff must be one of {allowed} for the {convention} convention, "
                         f"got {cutoff!r}")
    r_cut = positive_finite(r_cut, "r_cut")
    positive_finite(sigma, "sigma (QUIP's atom_sigma)")
    _check_integer(n_max, "n_max", 1)
    _check_integer(l_max, "l_max", 0)
    if cutoff == "smooth" and not 0 < cutoff_width <= r_cut:
        raise ValueError(f"cutoff_width must be in (0, r_cut] = (0, {r_cut:g}] Å, "
                         f"got {cutoff_width!r}")
    if rbf == "gto" and convention == "dscribe" and r_cut <= 1.0:
        raise ValueError("the dscribe GTO basis needs r_cut > 1 Å")
    if average not in ("off", "inner", "outer"):
        raise ValueError(f"average must be 'off', 'inner' or 'outer', got {average!r}")
    if mode not in ("off", "crossover", "mu2", "mu1nu1"):
        raise ValueError(f"compression mode must be 'off', 'crossover', 'mu2' or 'mu1nu1', "
                         f"got {mode!r}")
    _check_weighting(weighting)
    if convention == "quip":
        if mode != "off":
            raise NotImplementedError("jaxpot's quip convention has no species compression")
        _check_rate_scaling(weighting, "QUIP's cutoff_rate/cutoff_scale/cutoff_dexp decay")
    if convention == "featomic":
        if rbf != "gto":
            raise NotImplementedError("the featomic convention has only the GTO basis")
        if mode != "off":
            raise NotImplementedError("featomic's SoapPowerSpectrum has no species compression")
        _check_rate_scaling(weighting, "featomic's density scaling Willatt2018")


def _check_integer(value, name: str, minimum: int) -> None:
    try:
        n = operator.index(value)
    except TypeError:
        n = None
    if n is None or isinstance(value, bool) or n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_rate_scaling(weighting: dict, what: str) -> None:
    name = weighting.get("function")
    if name not in (None, "pow") or (name == "pow" and (weighting["c"] != weighting["d"]
                                                        or float(weighting["c"]) == 0)):
        raise NotImplementedError(f"{what} is weighting 'pow' with c == d (= rate) > 0")
