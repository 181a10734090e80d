"""``uq.biased``: uncertainty-biased energies for exploration, as EnergyModels.

    udd = uq.biased(cal, kind="udd", strength=0.5, width=0.01)   # A eV, B eV/atom^(1/2)
    hal = uq.biased(cal, kind="hal", strength=1.0)                # tau (dimensionless)
    md.run(md.langevin(udd, 1.0, 300.0), atoms, 5000)

- UDD (uncertainty-driven dynamics; Kulichenko et al., Nat. Comput. Sci. 3, 230 (2023)):
  E_b = E + A [exp(-sigma^2 / (N B^2)) - 1], a bias that lowers the energy by up to A where
  the model is unsure (sigma^2 / N of order B^2 or more), with N atoms.
- HAL (hyperactive learning; van der Oord et al., npj Comput. Mater. 9, 168 (2023)):
  E_b = E - tau sigma.

sigma is the calibrated standard deviation of the total energy (eV) as a JAX function of
positions and cell (:func:`energy_std_function`), so forces and stress of the biased model
come by autodiff (NVT and NPT work; apax's bias has no stress term).  Methods: ``ensemble``
(the members' spread times its calibration factor), ``distance`` (c_E times the root sum
of squared atom scores) and ``gap_posterior`` (c_E times the DTC standard deviation of a
GAP's total energy, :mod:`jaxpot.gap.posterior_sigma`).
"""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np

from jaxpot.model import EnergyModel, make_spec, model_from_spec, register_model_kind
from jaxpot.model_registry import register_uncertainty
from jaxpot.uncertainty.carrier import carry
from jaxpot.uncertainty.sigma import energy_std_function, sigma_of_spec

KIND = "biased"
_MODULE = "jaxpot.uncertainty.bias"
KINDS = ("udd", "hal")


def _from_config(config: dict, child: EnergyModel | None = None) -> EnergyModel:
    child = child or model_from_spec(config["child"])
    kind, strength, width = config["bias"], float(config["strength"]), config.get("width")
    sigma = energy_std_function(child)
    fn = child.energy_fn

    def energy(params, positions, cell, species, neighbors):
        e = fn(params, positions, cell, species, neighbors)
        s = sigma(params, positions, cell, species, neighbors)
        if kind == "hal":
            return e - strength * s
        n = positions.shape[0]
        return e + strength * (jnp.exp(-s * s / (n * float(width) ** 2)) - 1.0)

    return EnergyModel(energy_fn=energy, params=child.params, cutoff=child.cutoff,
                       species=child.species, spec=make_spec(KIND, _MODULE, **config),
                       name=f"{kind}-biased {child.name}", part_cutoffs=child.part_cutoffs,
                       reciprocal_spacing=child.reciprocal_spacing, uses_rows=True,
                       cpu_fusions=child.cpu_fusions, precision=child.precision)


def biased(model: EnergyModel, kind: str = "udd", strength: float = 1.0,
           width: float | None = None) -> EnergyModel:
    """The ``kind`` ("udd" or "hal") bias of ``model`` (module docstring): ``strength`` A (eV)
    for UDD, tau for HAL; ``width`` B (eV, per sqrt(atom)) for UDD.  ``model``: an ensemble or
    a model carrying an uncertainty (:func:`jaxpot.uncertainty.calibrate`)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not np.isfinite(strength) or strength < 0:
        raise ValueError(f"strength must be a finite number >= 0, got {strength}")
    if kind == "udd" and (width is None or not np.isfinite(width) or width <= 0):
        raise ValueError(f"the UDD bias needs a width B > 0 (eV per sqrt(atom)), got {width}")
    energy_std_function(model)  # refuses a model without a JAX sigma, before building
    config = {"child": json.loads(model.spec), "bias": kind, "strength": float(strength),
              "width": None if width is None else float(width)}
    return _from_config(config, model).replace(params=model.params)


def _example() -> EnergyModel:
    """A UDD-biased Stillinger-Weber model with a small distance reference (contract table)."""
    from ase.build import bulk

    from jaxpot.potentials import stillinger_weber
    from jaxpot.uncertainty.distance import fit_reference
    sw = stillinger_weber()
    frames = []
    for k in range(2):
        atoms = bulk("Si", "diamond", a=5.43, cubic=True)
        atoms.rattle(0.05, seed=k)
        frames.append(atoms)
    arrays, settings = fit_reference(sw, frames, n_max=2, l_max=1, cutoff=3.0)
    return biased(carry(sw, "distance", arrays, scale=(0.05, 0.1), settings=settings),
                  "udd", strength=0.3, width=0.05)


register_model_kind(KIND, _from_config, example=_example)


register_uncertainty(KIND, lambda model: sigma_of_spec(model.spec))
