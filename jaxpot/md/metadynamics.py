"""Well-tempered metadynamics: a history-dependent bias of Gaussian hills on collective variables.

    meta = md.metadynamics(md.langevin(model, 1.0, 300.0, 0.01), cvs=[cv.distance(0, 1)],
                           height=0.01, width=0.1, pace=100, bias_factor=10.0)
    res = md.run(meta, atoms, 200_000)
    F, F_std = res.free_energy(np.linspace(1.0, 4.0, 200))     # eV, minimum 0

``V(s) = sum_k h_k exp(-|s - s_k|^2_w / 2)``; every ``pace`` steps a hill of height
``h exp(-V(s) / (kT (gamma - 1)))`` is added (Barducci, Bussi & Parrinello, PRL 100, 020603
(2008); ``gamma = inf``: Laio & Parrinello, PNAS 99, 12562 (2002)) and
``F(s) = -gamma / (gamma - 1) V(s)``.  The wrapped integrator runs on its model plus the bias,
so forces and (NPT) stress include the bias's, by autodiff through the CVs in positions and
cell.  The hills fill a fixed-capacity buffer (:class:`Hills`); a deposit that does not fit
sets ``did_overflow`` and :func:`jaxpot.md.run` grows the buffer and replays the chunk, so no
hill is dropped; sums run in blocks of :data:`BLOCK` hills up to the count, bit-identical
whatever the capacity.  ``walkers=W``: W replicas (one vmap) share the buffer.
``pause_above``: no hill while ``uncertainty(positions, cell, species, neighbors)`` (eV)
exceeds it; those steps are recorded (``MDResult.candidate_steps``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.md.collective_variables import collective_variable, cv_values, function_name
from jaxpot.md.hills import (  # noqa: F401  (re-exported: the names lived here)
    BLOCK,
    DEFAULT_CAPACITY,
    Hills,
    _row,
    empty_hills,
    free_energy,
    hill_sum,
)
from jaxpot.md.state import Integrator, MDState, maxwell_boltzmann, register_integrator
from jaxpot.model import EnergyModel
from jaxpot.units import kB


def _bias_of(cvs, hills, positions, cell):
    centers, heights, width, count = hills
    return hill_sum(cv_values(cvs, positions, cell), centers, heights, width, count)


@functools.cache
def _energy_fn(inner_fn: Callable | None, cvs: tuple) -> Callable:
    """Energy of a model plus the bias (or the bias alone): one function per (model, CVs),
    so equal biased models share compiled code."""
    def energy_fn(params, positions, cell, species, neighbors):
        inner_params, hills = params
        bias = _bias_of(cvs, hills, positions, cell)
        if inner_fn is None:
            return bias
        return inner_fn(inner_params, positions, cell, species, neighbors) + bias
    return energy_fn


def _hill_params(hills: Hills) -> tuple:
    return hills.centers, hills.heights, hills.width, hills.count


def biased_model(model: EnergyModel, cvs: tuple, hills: Hills) -> EnergyModel:
    """``model`` plus the bias of ``hills`` on ``cvs`` (what the wrapped integrator runs)."""
    return model.replace(energy_fn=_energy_fn(model.energy_fn, cvs),
                         params=(model.params, _hill_params(hills)), atomic_energies_fn=None,
                         spec="{}", name=f"{model.name} + metadynamics bias")


def bias_model(meta: Integrator, hills: Hills) -> EnergyModel:
    """The bias alone as an EnergyModel (energy eV; forces and stress by
    :func:`jaxpot.mechanics.energy_forces_stress`, exactly as the run adds them)."""
    return EnergyModel(energy_fn=_energy_fn(None, meta.option["cvs"]),
                       params=(None, _hill_params(hills)), cutoff=meta.model.cutoff,
                       name="metadynamics bias", uses_rows=False)


# --- the integrator ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Named:
    """A function in static options: equal by identity, its repr its name (stable)."""

    fn: Callable

    def __repr__(self) -> str:
        return function_name(self.fn)


def metadynamics(integrator: Integrator, cvs: Sequence, height: float, width, pace: int,
                 bias_factor: float | None = None, pause_above: float | None = None,
                 uncertainty: Callable | None = None, walkers: int = 1,
                 capacity: int | None = None, temperature: float | None = None) -> Integrator:
    """Metadynamics on ``cvs`` around ``integrator`` (a new Integrator, kind "metadynamics").

    Args:
        integrator: any :mod:`jaxpot.md` integrator (its thermostat sets the temperature).
        cvs: :mod:`.collective_variables` or functions ``(positions, cell) -> scalar``.
        height: initial hill height, eV. width: Gaussian width per CV (CV units; one value
            for all). pace: steps between hills.
        bias_factor: well-tempered gamma > 1; None or inf: plain metadynamics.
        pause_above: eV; no hill while ``uncertainty`` exceeds it (or is NaN), the attempt is
            recorded (needs ``uncertainty``).
        uncertainty: JAX function ``(positions, cell, species, neighbors) -> sigma`` (eV)
            (default with ``pause_above``: the model's own, for an ensemble or a model from
            :func:`jaxpot.uncertainty.calibrate`),
            evaluated at each deposition step.
        walkers: replicas sharing the bias (one vmap; walker 0 is logged and written).
        capacity: initial hill slots (rounded up to a multiple of :data:`BLOCK`, at least
            two blocks); grown as needed.
        temperature: K, for an integrator without a thermostat (NVE).

    The state's energy is the model's (the bias is logged as ``bias_energy``); its forces and
    (NPT) stress include the bias's; the logged pressure and stress are the model's.
    """
    if not isinstance(integrator, Integrator) or integrator.kind == "metadynamics":
        raise TypeError(f"md.metadynamics wraps an integrator of jaxpot.md (nve, langevin, "
                        f"nose_hoover, npt), got {integrator!r:.80}")
    cvs = tuple(collective_variable(c) for c in (cvs if isinstance(cvs, (list, tuple))
                                                 else [cvs]))
    if not cvs:
        raise ValueError("md.metadynamics needs at least one collective variable")
    widths = np.broadcast_to(np.asarray(width, float), (len(cvs),)).copy()
    gamma = math.inf if bias_factor is None else float(bias_factor)
    kT = kB * temperature if temperature is not None else integrator.params.get("kT")
    for name, value, ok in (
            ("height", height, height > 0), ("width", width, np.all(widths > 0)),
            ("pace", pace, int(pace) == pace and pace >= 1),
            ("bias_factor", bias_factor, gamma > 1),
            ("walkers", walkers, int(walkers) == walkers and walkers >= 1),
            ("capacity", capacity, capacity is None or (int(capacity) == capacity
                                                        and capacity >= 1)),
            ("pause_above", pause_above, pause_above is None or pause_above >= 0)):
        if not ok or (name in ("height", "width") and not np.all(np.isfinite(value))):
            raise ValueError(f"md.metadynamics: bad {name} {value!r}")
    if kT is None or not kT > 0:
        raise ValueError("md.metadynamics needs a temperature: a thermostatted integrator "
                         "or temperature= (K)")
    own = None
    if pause_above is not None and uncertainty is None:  # the model's own, if it has one
        from jaxpot.model_registry import uncertainty_function
        own = uncertainty_function(integrator.model)
        if own is None:
            raise ValueError("md.metadynamics: pause_above needs an uncertainty function, or "
                             "a model with its own (an ensemble, uq.calibrate(model, ...))")
    if uncertainty is not None and not callable(uncertainty):
        raise TypeError("uncertainty must be a function (positions, cell, species, neighbors)")
    slots = -(-max(int(capacity or DEFAULT_CAPACITY), int(walkers)) // BLOCK) * BLOCK
    slots = max(slots, 2 * BLOCK)  # XLA specialises a one-block buffer: sums could differ
    params = {"inner": integrator.params, "dt": integrator.params["dt"], "kT": float(kT),
              "height": float(height), "width": widths, "gamma": gamma,
              "pause_above": math.inf if pause_above is None else float(pause_above)}
    options = (("masses", integrator.option.get("masses", ())), ("wrapped", integrator.kind),
               ("wrapped_options", integrator.options), ("cvs", cvs), ("pace", int(pace)),
               ("walkers", int(walkers)), ("capacity", slots),
               ("uncertainty", None if uncertainty is None else _Named(uncertainty)),
               ("model_uncertainty", None if own is None else _Named(own)),
               ("pause", pause_above is not None))
    return Integrator(model=integrator.model, params=params, kind="metadynamics",
                      options=options)


def _inner(meta: Integrator, hills: Hills) -> Integrator:
    """The wrapped integrator on the model plus the bias of ``hills``."""
    opt = meta.option
    return Integrator(model=biased_model(meta.model, opt["cvs"], hills),
                      params=meta.params["inner"], kind=opt["wrapped"],
                      options=opt["wrapped_options"])


def _init(meta, positions, momenta, cell, species, masses, neighbors, key,
          pbc=(True, True, True), atom_mask=None) -> MDState:
    if atom_mask is not None:
        raise ValueError("md.metadynamics runs one system (md.run), not padded batches")
    opt, p = meta.option, meta.params
    hills = empty_hills(opt["capacity"], len(opt["cvs"]), positions.dtype, p["width"],
                        p["gamma"], p["kT"])
    inner = _inner(meta, hills)
    state = inner.init(positions, momenta, cell, species, masses, neighbors, key, pbc=pbc)
    n_walkers = opt["walkers"]
    if n_walkers > 1:  # fresh Maxwell-Boltzmann momenta and noise for walkers 1..W-1
        def walker(k):
            mb, noise = jax.random.split(k)
            p_w = maxwell_boltzmann(mb, state.masses, p["kT"] / kB)
            return inner.init(positions, p_w, cell, species, masses, neighbors, noise, pbc=pbc)
        keys = jax.vmap(lambda w: jax.random.fold_in(key, w))(jnp.arange(1, n_walkers))
        hills = hills.replace(walkers=jax.vmap(walker)(keys),
                              walker_neighbors=jax.tree_util.tree_map(
                                  lambda x: jnp.broadcast_to(x, (n_walkers - 1,) + jnp.shape(x)),
                                  neighbors))
    return state.replace(bias=hills)


def _stacked(first, rest):
    if rest is None:
        return jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], first)
    return jax.tree_util.tree_map(lambda a, b: jnp.concatenate([jnp.asarray(a)[None], b]),
                                  first, rest)


def _step(meta, state: MDState, neighbors):
    opt, hills = meta.option, state.bias
    inner, plain = _inner(meta, hills), state.replace(bias=None)
    if hills.walkers is None:  # one walker: not vmapped (list rebuilds stay conditional)
        sts, nbs = _stacked(inner.step(plain, neighbors), None)
    else:
        sts, nbs = jax.vmap(inner.step)(_stacked(plain, hills.walkers),
                                        _stacked(neighbors, hills.walker_neighbors))
    s = jax.vmap(lambda r, c: cv_values(opt["cvs"], r, c))(sts.positions, sts.cell)
    v = jax.vmap(lambda x: hill_sum(x, *_hill_params(hills)))(s)
    sts = sts.replace(energy=sts.energy - v)  # the physical energy; the bias is logged apart
    buffer = hills.replace(walkers=None, walker_neighbors=None, energy=v[0])
    buffer = jax.lax.cond(sts.step[0] % opt["pace"] == 0,
                          lambda b: _deposit(meta, b, sts, nbs, s, v), lambda b: b, buffer)
    first = _row(nbs, 0)
    if hills.walkers is not None:  # an overflowing walker's list: the driver regrows the
        first = _row(nbs, jnp.argmax(nbs.did_overflow))  # shape all share at its geometry
        buffer = buffer.replace(walkers=jax.tree_util.tree_map(lambda x: x[1:], sts),
                                walker_neighbors=jax.tree_util.tree_map(lambda x: x[1:], nbs))
    return _row(sts, 0).replace(bias=buffer), first


def _deposit(meta, hills: Hills, sts: MDState, nbs, s, v) -> Hills:
    """One attempt per walker at CVs ``s`` (W, d) where the bias is ``v`` (W,)."""
    opt, p = meta.option, meta.params
    n = s.shape[0]
    sigma = jnp.full((n,), jnp.nan, v.dtype)
    if opt.get("model_uncertainty") is not None:  # sigma(params, ...) of the model itself
        own, params = opt["model_uncertainty"].fn, meta.model.params
        sigma = jax.vmap(lambda r, c, z, nb: jnp.asarray(own(params, r, c, z, nb), v.dtype))(
            sts.positions, sts.cell, sts.species, nbs)
    elif opt["uncertainty"] is not None:
        fn = opt["uncertainty"].fn
        sigma = jax.vmap(lambda r, c, z, nb: jnp.asarray(fn(r, c, z, nb), v.dtype))(
            sts.positions, sts.cell, sts.species, nbs)
    paused = ~(sigma <= p["pause_above"]) if opt["pause"] else jnp.zeros((n,), bool)
    heights = jnp.where(paused, 0.0, p["height"] * jnp.exp(-v / (p["kT"] * (p["gamma"] - 1.0))))

    def write(h: Hills) -> Hills:
        def put(a, x):
            return jax.lax.dynamic_update_slice(a, x.astype(a.dtype),
                                                (h.count,) + (jnp.int32(0),) * (a.ndim - 1))
        return h.replace(centers=put(h.centers, s), heights=put(h.heights, heights),
                         biases=put(h.biases, v), sigmas=put(h.sigmas, sigma),
                         steps=put(h.steps, jnp.broadcast_to(sts.step[0], (n,))),
                         paused=put(h.paused, paused), count=h.count + n,
                         pausing=jnp.any(paused))

    return jax.lax.cond(hills.count + n > hills.capacity, lambda h: h.replace(full=True),
                        write, hills)


def _conserved(meta, state: MDState):
    """The wrapped integrator's conserved quantity plus the bias (not conserved: hills)."""
    return _inner(meta, state.bias).conserved(state.replace(bias=None)) + state.bias.energy


register_integrator("metadynamics", _init, _step, _conserved)
