"""Replicas watched by the model's uncertainty (md.run_batch / md.run_replicas with
stop_when_uncertain): each stops inside the jitted chunk at the step md.run alone stops at,
with the same structure, and a replica that blows up halts alone, flagged.

Reference: md.run(..., stop_when_uncertain=) run one replica at a time (itself checked against
host-side uq.predict in test_uncertainty.py); the same seed draws the same momenta and
Langevin noise in both.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

import jaxpot
from jaxpot import md
from jaxpot import uncertainty as uq
from jaxpot.potentials import stillinger_weber

jax.config.update("jax_enable_x64", True)


def _labelled(n: int, amplitude: float, seed: int) -> list:
    sw = stillinger_weber()
    out = []
    for k in range(n):
        atoms = bulk("Si", "diamond", a=5.43, cubic=True)
        atoms.rattle(amplitude, seed=seed + k)
        p = jaxpot.predict(sw, [atoms])
        atoms.calc = SinglePointCalculator(atoms, energy=float(p.energy[0]),
                                           forces=p.forces[0])
        out.append(atoms)
    return out


@pytest.fixture(scope="module")
def watched_model():
    return uq.calibrate(1.05 * stillinger_weber(), _labelled(6, 0.1, 100),
                        training=_labelled(6, 0.05, 0), n_max=3, l_max=2)


@pytest.fixture(scope="module")
def starts():
    frames = _labelled(3, 0.05, 40)
    for a in frames:
        a.calc = None
    return frames


def test_each_replica_stops_where_md_run_alone_stops(watched_model, starts):
    """Three replicas from three structures at three temperatures in one run_batch: each
    halts at md.run's stop step for its seed, with md.run's structure and sigma (1e-8)."""
    temps, seeds = [1500.0, 2500.0, 3500.0], [3, 4, 5]
    base = uq.predict(watched_model, starts).energy_std
    threshold = 6.0 * float(np.max(base))
    integrators = [md.langevin(watched_model, 2.0, t, friction=0.05) for t in temps]
    batch = md.run_batch(integrators, starts, 3000, temperatures=temps, seeds=seeds,
                         log_interval=10, stop_when_uncertain=threshold)
    assert len(batch.stopped) == 3 and not any(batch.unstable)
    for r, (atoms, t, seed) in enumerate(zip(starts, temps, seeds)):
        alone = md.run(integrators[r], atoms, 3000, temperature=t, seed=seed,
                       log_interval=10, stop_when_uncertain=threshold)
        assert alone.stopped is not None, "the threshold must stop every replica"
        assert batch.stopped[r] == alone.stopped
        np.testing.assert_allclose(batch.uncertainty[r], alone.extra_log["uncertainty"],
                                   rtol=1e-8)
        assert batch.logs[r].step[-1] == alone.log.step[-1]
        np.testing.assert_allclose(batch.atoms[r].positions, alone.atoms.positions,
                                   atol=1e-8)
        assert batch.uncertainty[r][-1] > threshold >= batch.uncertainty[r][:-1].max()


def test_a_replica_that_blows_up_halts_alone(watched_model, starts):
    """One replica at 50 fs time steps explodes: it halts flagged unstable; the other runs
    its steps (a threshold no structure reaches), and nothing raises."""
    integrators = [md.langevin(watched_model, 2.0, 300.0, friction=0.05),
                   md.langevin(watched_model, 50.0, 300.0, friction=0.05)]
    result = md.run_batch(integrators, starts[:2], 200, temperatures=[300.0, 300.0],
                          log_interval=10, stop_when_uncertain=1e6)
    assert result.stopped[0] is None and not result.unstable[0]
    assert result.logs[0].step[-1] == 200
    assert result.unstable[1] and result.stopped[1].startswith("unstable at step")
    assert result.logs[1].step[-1] < 200
    with pytest.raises(md.MDError, match="stop_when_uncertain"):
        md.run_replicas([md.langevin(stillinger_weber(), 2.0, 300.0, 0.01)], starts[0], 10,
                        stop_when_uncertain=0.1)


def test_no_uncertainty_stop_before_stop_when_uncertain_from(watched_model, starts):
    """stop_when_uncertain_from=s: a threshold every row exceeds stops each replica at its
    first log row at or after step s (earlier rows are logged, not stopping)."""
    integrators = [md.langevin(watched_model, 2.0, 600.0, friction=0.05) for _ in range(2)]
    result = md.run_batch(integrators, starts[:2], 100, temperatures=[600.0, 600.0],
                          log_interval=10, stop_when_uncertain=1e-9,
                          stop_when_uncertain_from=35)
    for r in range(2):
        assert result.logs[r].step[-1] == 40 and "stopped at step 40" in result.stopped[r]
        assert np.all(result.uncertainty[r] > 1e-9)
    early = md.run_batch(integrators, starts[:2], 100, temperatures=[600.0, 600.0],
                         log_interval=10, stop_when_uncertain=1e-9)
    assert all(log.step[-1] == 10 for log in early.logs)
