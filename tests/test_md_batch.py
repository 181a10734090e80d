"""md.run_batch: systems of different sizes in one vmapped jit equal their separate runs.

References: each system run alone by ``md.run`` (itself checked against ASE's integrators and
jax-md in test_md.py) and ASE's ``Atoms.get_temperature`` for the temperature of a padded
system.  A batch must give every system the trajectory it has alone: padding atoms count in
no energy, force, neighbor list, temperature or degree of freedom.  The compressing NPT
batch (shared lists regrown, padding outside NPT's degrees of freedom) is checked in
test_md.py beside md.run's own compressing run.
"""

import jax
import numpy as np
import pytest
from ase.build import bulk

from jaxpot import md
from jaxpot.model import EnergyModel
from jaxpot.potentials import lennard_jones

jax.config.update("jax_enable_x64", True)

LJ = lennard_jones(sigma=3.4, epsilon=0.0104, cutoff=7.0, smooth=True)  # argon


def argon(repeat, temperature=40.0, seed=1, expand=1.0):
    atoms = bulk("Ar", "fcc", a=5.3, cubic=True).repeat(repeat)
    atoms.set_cell(atoms.cell * expand, scale_atoms=True)
    atoms.rattle(0.03, seed=seed)
    atoms.set_momenta(np.asarray(md.maxwell_boltzmann(jax.random.PRNGKey(seed),
                                                      atoms.get_masses(), temperature)))
    return atoms


SYSTEMS = [argon(2, seed=1), argon((2, 2, 1), seed=2)]  # 32 and 16 atoms


def _assert_same_run(batch_atoms, batch_log, single, atol=1e-9):
    np.testing.assert_allclose(batch_atoms.positions, single.atoms.positions, rtol=0, atol=atol)
    np.testing.assert_allclose(batch_atoms.get_momenta(), single.atoms.get_momenta(), rtol=0,
                               atol=atol)
    np.testing.assert_allclose(batch_atoms.cell.array, single.atoms.cell.array, rtol=0, atol=atol)
    for name in ("step", "potential_energy", "kinetic_energy", "temperature", "pressure",
                 "volume", "conserved_energy"):
        np.testing.assert_allclose(getattr(batch_log, name), getattr(single.log, name),
                                   rtol=1e-9, atol=1e-9, err_msg=name)


def test_nve_batch_of_different_sizes_equals_separate_runs():
    integrator = md.nve(LJ, 5.0)
    res = md.run_batch(integrator, SYSTEMS, 60, log_interval=20)
    assert [len(a) for a in res.atoms] == [32, 16]
    # the padded system (the unpadded one is compared in the Langevin test below)
    _assert_same_run(res.atoms[1], res.logs[1], md.run(integrator, SYSTEMS[1], 60,
                                                       log_interval=20))
    # padding atoms of the small system stay at rest, with zero force
    padding = np.asarray(res.state.atom_mask[1]) == 0
    assert padding.sum() == 16
    assert not np.any(np.asarray(res.state.momenta[1])[padding])
    assert not np.any(np.asarray(res.state.forces[1])[padding])


def test_langevin_batch_masks_padding_noise():
    """The largest system is unpadded, so its noise stream and trajectory equal md.run's; the
    padded one keeps its padding at rest and logs ASE's temperature of its real atoms."""
    integrator = md.langevin(LJ, 5.0, 60.0, 0.02)
    res = md.run_batch(integrator, SYSTEMS, 40, log_interval=20, seeds=[7, 8])
    single = md.run(integrator, SYSTEMS[0], 40, log_interval=20, seed=7)
    _assert_same_run(res.atoms[0], res.logs[0], single)
    padding = np.asarray(res.state.atom_mask[1]) == 0
    assert not np.any(np.asarray(res.state.momenta[1])[padding])
    assert np.any(np.asarray(res.state.momenta[1])[~padding])
    assert res.logs[1].temperature[-1] == pytest.approx(res.atoms[1].get_temperature(),
                                                        rel=1e-12)


def test_bad_batches_are_refused_before_compiling():
    nve = md.nve(LJ, 5.0)
    with pytest.raises(ValueError, match="same pbc"):
        open_one = SYSTEMS[1].copy()
        open_one.pbc = False
        md.run_batch(nve, [SYSTEMS[0], open_one], 10)
    with pytest.raises(ValueError, match="share kind"):
        md.run_batch([nve, md.langevin(LJ, 5.0, 60.0, 0.02)], SYSTEMS, 10)
    with pytest.raises(ValueError, match="2 integrators for 1 systems"):
        md.run_batch([nve, nve], SYSTEMS[:1], 10)
    with pytest.raises(ValueError, match=r"systems\[1\]"):
        wrong = SYSTEMS[1].copy()
        wrong.numbers[:] = 14
        md.run_batch(md.nve(lennard_jones(sigma=3.4, epsilon=0.0104, cutoff=7.0,
                                          species=(18,)), 5.0), [SYSTEMS[0], wrong], 10)
    total_only = EnergyModel(energy_fn=LJ.energy_fn, params=LJ.params, cutoff=LJ.cutoff,
                             name="total only")
    with pytest.raises(ValueError, match="no per-atom energies"):
        md.run_batch(md.nve(total_only, 5.0), SYSTEMS, 10)


def test_a_model_with_its_own_xla_options_runs_in_batches_and_replicas():
    """Stillinger–Weber compiles its MD chunk with XLA options (cpu_fusions=False): batches
    and replicas jit the vmapped chunk themselves and must pass the options there (they
    failed with "compiler_options can only be passed to top-level jax.jit").  Each system
    equals its run alone."""
    from jaxpot.potentials import stillinger_weber
    si = bulk("Si", "diamond", a=5.43, cubic=True)
    si.rattle(0.02, seed=3)
    si.set_momenta(np.asarray(md.maxwell_boltzmann(jax.random.PRNGKey(3), si.get_masses(),
                                                   300.0)))
    integrator = md.nve(stillinger_weber(), 1.0)
    alone = md.run(integrator, si, 20, log_interval=10)
    batch = md.run_batch(integrator, [si, si], 20, log_interval=10)
    replicas = md.run_replicas([integrator, integrator], si, 20, log_interval=10)
    for atoms, log in ((batch.atoms[0], batch.logs[0]), (replicas.atoms[1], replicas.logs[1])):
        _assert_same_run(atoms, log, alone)
