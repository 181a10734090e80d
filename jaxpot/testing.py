"""Reusable physics checks for models: finite differences and invariance helpers.

These are what the test suite (and users validating their own models) run against every
energy model: central finite differences of the energy for forces and stress, and random
rotations for invariance tests.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def finite_difference_forces(energy: Callable[[np.ndarray], float], positions,
                             h: float = 1e-4) -> np.ndarray:
    """Forces (N, 3) eV/Å by central differences of ``energy(positions)`` (4th order)."""
    positions = np.array(positions, dtype=float)
    out = np.zeros_like(positions)
    for i in range(positions.shape[0]):
        for a in range(3):
            vals = []
            for step in (-2, -1, 1, 2):
                p = positions.copy()
                p[i, a] += step * h
                vals.append(energy(p))
            out[i, a] = -(vals[0] - 8 * vals[1] + 8 * vals[2] - vals[3]) / (12 * h)
    return out


def finite_difference_stress(energy: Callable[[np.ndarray, np.ndarray], float], positions, cell,
                             h: float = 1e-5) -> np.ndarray:
    """Stress (3, 3) eV/Å^3 = (1/V) dE/d(strain) by central differences (ASE sign)."""
    positions = np.array(positions, dtype=float)
    cell = np.array(cell, dtype=float)
    vol = abs(np.linalg.det(cell))
    out = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            vals = []
            for step in (-1, 1):
                eps = np.zeros((3, 3))
                eps[a, b] += 0.5 * step * h
                eps[b, a] += 0.5 * step * h
                deformation = np.eye(3) + eps
                vals.append(energy(positions @ deformation, cell @ deformation))
            out[a, b] = (vals[1] - vals[0]) / (2 * h) / vol
    return out


def random_rotation(seed: int = 0) -> np.ndarray:
    """A random proper rotation matrix (3, 3)."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def assert_derivatives_match_finite_differences(model, atoms, force_atol: float,
                                                stress_atol: float | None, skin: float = 1.0,
                                                h_position: float = 1e-4,
                                                h_strain: float = 1e-5) -> None:
    """Assert that autodiff forces and stress of ``model`` on ``atoms`` (ase.Atoms) equal
    central finite differences of its energy, with one neighbor list (``skin`` Å) held fixed
    (no stress check with ``stress_atol=None``, for a cell without volume)."""
    import jax.numpy as jnp

    from jaxpot.mechanics import energy_forces_stress
    from jaxpot.neighbors import allocate_for_model
    nbrs = allocate_for_model(model, atoms.positions, atoms.cell.array, atoms.pbc, skin=skin)
    species = jnp.asarray(atoms.numbers)
    with_stress = stress_atol is not None

    def results(p, c=atoms.cell.array):  # the finite differences reuse this one program
        return energy_forces_stress(model, jnp.asarray(p), jnp.asarray(c), species, nbrs,
                                    compute_stress=with_stress)

    def energy(p, c=atoms.cell.array):
        return float(results(p, c).energy)

    res = results(atoms.positions)
    np.testing.assert_allclose(res.forces, finite_difference_forces(
        energy, atoms.positions, h_position), atol=force_atol)
    if not with_stress:
        return
    np.testing.assert_allclose(res.stress, finite_difference_stress(
        energy, atoms.positions, atoms.cell.array, h_strain), atol=stress_atol)


SECOND_DERIVATIVES = ("hessian", "cell_hessian", "gradient")


def second_derivatives(energy: Callable, positions, cell, params,
                       which: tuple[str, ...] = SECOND_DERIVATIVES) -> dict:
    """``which`` of: force constants ``hessian`` (3N, 3N), cell second derivatives
    ``cell_hessian`` (3, 3, 3, 3) and the parameter ``gradient`` of ``energy(positions, cell,
    params)``, each from a freshly jitted transform (so module settings read at trace time,
    such as slot counts, apply to each call)."""
    import jax
    unknown = set(which) - set(SECOND_DERIVATIVES)
    if unknown:
        raise ValueError(f"unknown derivatives {sorted(unknown)}; known: {SECOND_DERIVATIVES}")
    n = 3 * positions.shape[0]
    transforms = {
        "hessian": lambda: np.asarray(jax.jit(jax.hessian(energy))(
            positions, cell, params)).reshape(n, n),
        "cell_hessian": lambda: np.asarray(jax.jit(jax.jacfwd(jax.grad(energy, argnums=1),
                                                              argnums=1))(positions, cell, params)),
        "gradient": lambda: jax.jit(jax.grad(energy, argnums=2))(positions, cell, params)}
    return {name: transforms[name]() for name in which}


def assert_host_kernel_matches(host: Callable, reference: Callable, params, positions,
                               hessian: bool = False) -> None:
    """``host(params, x)`` (an energy run by a host kernel through a callback) equals
    ``reference(params, x)`` (float64) in energy, forces, a force-matching loss gradient in
    every parameter, under vmap and in float32 (and with ``hessian`` the Hessian's product
    with a seeded random direction: forward over reverse through the kernel's rules, which a
    wrong second derivative changes for almost every direction; the full (3N, 3N) Hessian
    compiled 3N tangents at twice the time)."""
    import jax
    import jax.numpy as jnp
    jit = jax.jit  # one program per transform: op-by-op evaluation compiles every primitive
    host_gradient, reference_gradient = jit(jax.grad(host, 1)), jit(jax.grad(reference, 1))
    assert "callback" in host_gradient.lower(params, positions).as_text()

    def close(a, b, tol=1e-12):
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            np.testing.assert_allclose(x, y, rtol=0, atol=tol * np.abs(y).max())
    close(jit(host)(params, positions), jit(reference)(params, positions))
    expected = reference_gradient(params, positions)
    close(host_gradient(params, positions), expected)
    if hessian:
        direction = jnp.asarray(np.random.default_rng(0).normal(size=positions.shape),
                                positions.dtype)

        def hessian_product(energy):
            return jit(lambda q, x: jax.jvp(lambda y: jax.grad(energy, 1)(q, y), (x,),
                                            (direction,))[1])
        close(hessian_product(host)(params, positions),
              hessian_product(reference)(params, positions))

    def loss(energy):
        return lambda q: (energy(q, positions) ** 2
                          + jnp.sum(jax.grad(energy, 1)(q, positions) ** 2))
    close(jit(jax.grad(loss(host)))(params), jit(jax.grad(loss(reference)))(params), 1e-11)
    moved = jnp.stack([positions, positions + 0.02])
    close(jit(jax.vmap(jax.grad(host, 1), (None, 0)))(params, moved)[1],
          reference_gradient(params, moved[1]))
    p32 = jax.tree.map(lambda a: a.astype(jnp.float32), params)
    f32 = host_gradient(p32, positions.astype(jnp.float32))
    assert f32.dtype == jnp.float32
    close(f32, expected, 1e-5)


def labelled_by(atoms, calculator, stress: bool = True):
    """A copy of ``atoms`` carrying ``calculator``'s energy (eV), forces (eV/Å) and, with
    ``stress``, stress (eV/Å^3, Voigt), frozen in a SinglePointCalculator: reference labels."""
    from ase.calculators.singlepoint import SinglePointCalculator
    atoms = atoms.copy()
    atoms.calc = calculator
    results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
    if stress:
        results["stress"] = atoms.get_stress()
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def run_cli_in(directory, argv: list[str]) -> int:
    """``jaxpot.cli.main(argv)`` run with ``directory`` as the working directory (restored)."""
    import os

    from jaxpot.cli import main
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        return main(argv)
    finally:
        os.chdir(cwd)


def cli_fit(directory, train, test, config: str) -> int:
    """Write ``train``/``test`` frames as train.extxyz/test.extxyz in ``directory``, a fit.toml
    with those files, output "si.jaxpot" and the extra ``config`` lines, and run ``jaxpot fit``
    there."""
    from ase.io import write
    write(f"{directory}/train.extxyz", train)
    write(f"{directory}/test.extxyz", test)
    with open(f"{directory}/fit.toml", "w", encoding="utf-8") as fh:
        fh.write('train = ["train.extxyz"]\noutput = "si.jaxpot"\ntest = ["test.extxyz"]\n'
                 + config)
    return run_cli_in(directory, ["fit", "fit.toml", "--quiet"])


class CompilationCounter:
    """Counts XLA compilations (``jax.monitoring`` backend-compile events) while active.

        with CompilationCounter() as compiled:
            ...
        assert compiled.count == 0
    """

    def __init__(self):
        self.count = 0
        self.seconds = 0.0

    def __enter__(self) -> CompilationCounter:
        _ensure_listener()
        _ACTIVE_COUNTERS.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _ACTIVE_COUNTERS.remove(self)


_ACTIVE_COUNTERS: list = []  # counters inside a ``with`` block (test helper only)
_LISTENING: list = []


def _on_event(event: str, duration: float, **kwargs) -> None:
    if event.endswith("backend_compile_duration"):
        for counter in _ACTIVE_COUNTERS:
            counter.count += 1
            counter.seconds += duration


def _ensure_listener() -> None:
    if not _LISTENING:
        import jax
        jax.monitoring.register_event_duration_secs_listener(_on_event)
        _LISTENING.append(True)
