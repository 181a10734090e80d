"""The precision policy (jaxpot.precision): a model fitted in float64 is never computed in
float32 behind the user's back, and float32 is announced once per process.

References: each model's own float64 predictions (float64 is the reference of float32, and
the fitted models' own test errors set the tolerance, as issue 67 asks: a float32 number may
not be off by more than a tenth of the model's test error); the GAP is gap_fit's model
(= quippy, tests/test_gap.py).  The x64-off checks run in a fresh interpreter, as a notebook
that loads a model without ``jax_enable_x64`` would.
"""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from ase.io import read

import jaxpot
from jaxpot import gap
from jaxpot.nn import bpnn
from jaxpot.nn.train import TrainSettings, train_model
from jaxpot.potentials import lennard_jones
from jaxpot.precision import FLOAT64, PrecisionError, check_precision
from jaxpot.prediction import float32_deviation

jax.config.update("jax_enable_x64", True)

DATA = os.path.join(os.path.dirname(jaxpot.__file__), "data")


@pytest.fixture(scope="module")
def si_frames():
    frames = read(os.path.join(DATA, "si_mlearn_train_subset.extxyz"), ":")
    return frames[:12], frames[12:16]


@pytest.fixture(scope="module")
def fitted(si_frames, tmp_path_factory):
    """A small GAP and a small BPNN fitted on mlearn Si, saved; their test errors."""
    train, test = si_frames
    folder = tmp_path_factory.mktemp("precision")
    settings = gap.GapSettings(soap=gap.SoapSettings(cutoff=4.0, n_max=3, l_max=3,
                                                     n_sparse=40))
    gp = gap.fit(train, settings, progress=False).model
    net = train_model(bpnn(["Si"], 4.0, hidden=(8,)), train, progress=False,
                      settings=TrainSettings(epochs=4, batch_size=4, validation_fraction=0.2,
                                             warmup_epochs=1)).model
    paths = {}
    for name, model in (("gap", gp), ("net", net)):
        paths[name] = str(folder / f"{name}.jaxpot")
        jaxpot.save(model, paths[name])
    return {"gap": gp, "net": net}, paths, test


def _test_error(model, frames):
    """Largest energy (eV/atom) and force (eV/Å) errors of ``model`` on labelled frames."""
    p = jaxpot.predict(model, frames, progress=False)
    e = max(abs(p.energy[i] - a.get_potential_energy()) / len(a) for i, a in enumerate(frames))
    f = max(float(np.abs(p.forces[i] - a.get_forces()).max()) for i, a in enumerate(frames))
    return e, f


def _fresh_python(code: str) -> dict:
    """Run ``code`` in a new interpreter with JAX float64 off; its last stdout line is JSON."""
    env = {**os.environ, "JAX_ENABLE_X64": "0"}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_fitted_families_declare_float64_and_sums_inherit_it(fitted):
    models, _, _ = fitted
    assert models["gap"].precision == FLOAT64
    assert models["net"].precision == "float32"
    lj = lennard_jones(sigma=2.0, epsilon=0.01, cutoff=4.0)
    assert (lj + models["gap"]).precision == FLOAT64 and (0.5 * models["gap"]).precision == FLOAT64
    assert jaxpot.load(fitted[1]["gap"]).precision == FLOAT64


def test_float32_deviation_of_the_network_is_below_a_tenth_of_its_error(fitted):
    """The network may run in float32: its float32 predictions differ from float64 by far
    less than a tenth of its own test error (measured here, not assumed)."""
    models, _, test = fitted
    e_err, f_err = _test_error(models["net"], test)
    dev = float32_deviation(models["net"], test)
    assert dev["energy_per_atom"] < 0.1 * e_err and dev["forces"] < 0.1 * f_err, (dev, e_err)


def test_float64_models_are_refused_in_float32_everywhere(fitted):
    """Loaded with x64 off (a notebook that forgot it): predict, the calculator, properties,
    MD and the model's own energy refuse the GAP naming the fix; the network computes, and its
    numbers are within a tenth of its test error of the float64 ones; one warning in all."""
    models, paths, test = fitted
    test_file = os.path.join(os.path.dirname(paths["gap"]), "test.extxyz")
    from ase.io import write
    write(test_file, test)
    result = _fresh_python(f"""
        import json, warnings
        warnings.simplefilter("always")
        import jax, numpy as np
        from ase.io import read
        import jaxpot
        from jaxpot import md
        from jaxpot.calculator import JaxpotCalculator
        from jaxpot.properties.relax import relax
        assert not jax.config.jax_enable_x64
        frames = read({test_file!r}, ":")
        gp, net = jaxpot.load({paths['gap']!r}), jaxpot.load({paths['net']!r})
        refusals = {{}}
        def attempt(name, fn):
            try:
                fn()
                refusals[name] = None
            except jaxpot.PrecisionError as err:
                refusals[name] = str(err)
        def calc():
            atoms = frames[0].copy(); atoms.calc = JaxpotCalculator(gp)
            atoms.get_potential_energy()
        def energy():
            nb = jaxpot.allocate_for_model(gp, frames[0].positions, frames[0].cell.array, True)
            gp.energy(frames[0].positions, frames[0].cell.array, frames[0].numbers, nb)
        attempt("predict", lambda: jaxpot.predict(gp, frames, progress=False))
        attempt("calculator", calc)
        attempt("relax", lambda: relax(gp, frames[0]))
        attempt("md", lambda: md.run(md.nve(gp, 1.0), frames[0], 2, progress=False))
        attempt("energy", energy)
        attempt("sum", lambda: jaxpot.predict(net + gp, frames, progress=False))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            p = [jaxpot.predict(net, frames, progress=False) for _ in range(3)]
            for _ in range(3):
                atoms = frames[1].copy(); atoms.calc = JaxpotCalculator(net)
                atoms.get_forces()
        n_warn = sum(issubclass(w.category, jaxpot.PrecisionWarning) for w in caught)
        print(json.dumps({{"refusals": refusals, "n_warnings": n_warn,
                           "energy": [float(x) for x in p[0].energy],
                           "forces": [np.asarray(f).tolist() for f in p[0].forces]}}))
        """)
    for name, message in result["refusals"].items():
        assert message is not None, f"{name} computed a float64 model in float32"
        assert "jax_enable_x64" in message and "float64" in message, message
    assert result["n_warnings"] <= 1  # earlier calls in the script may have said it already
    reference = jaxpot.predict(models["net"], test, progress=False)
    e_err, f_err = _test_error(models["net"], test)
    sizes = np.array([len(a) for a in test])
    assert np.max(np.abs(np.array(result["energy"]) - reference.energy) / sizes) < 0.1 * e_err
    assert max(np.abs(np.array(f) - g).max() for f, g in
               zip(result["forces"], reference.forces)) < 0.1 * f_err


def test_a_float64_model_with_float32_parameters_is_refused(fitted):
    """Loaded while x64 was off, then x64 switched on: the parameters are float32 still."""
    models, _, _ = fitted
    gp = models["gap"]
    single = gp.replace(params=jax.tree_util.tree_map(
        lambda x: np.asarray(x, np.float32) if np.issubdtype(np.asarray(x).dtype, np.floating)
        else x, gp.params))
    with pytest.raises(PrecisionError, match="load or build the model again"):
        check_precision(single, "test")


def test_float32_is_announced_once_per_process():
    """Six calls through four entry points of a float32-capable model: one warning."""
    result = _fresh_python("""
        import json, warnings
        import numpy as np
        from ase.build import bulk
        import jaxpot
        from jaxpot.calculator import JaxpotCalculator
        from jaxpot.potentials import lennard_jones
        from jaxpot.properties.relax import relax
        lj = lennard_jones(sigma=2.0, epsilon=0.01, cutoff=4.0)
        atoms = bulk("Ar", "fcc", a=3.0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(3):
                jaxpot.predict(lj, [atoms], progress=False)
            a = atoms.copy(); a.calc = JaxpotCalculator(lj); a.get_potential_energy()
            a.rattle(0.01); a.get_forces()
            relax(lj, atoms, max_steps=2)
        print(json.dumps([str(w.message) for w in caught
                          if issubclass(w.category, jaxpot.PrecisionWarning)]))
        """)
    assert len(result) == 1 and "float64 is off" in result[0] and "once" in result[0]
