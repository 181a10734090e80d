"""``jaxpot serve``: a jaxpot model as the force engine of an MD code over i-PI's socket protocol.

References: the same MD steps with :class:`jaxpot.calculator.JaxpotCalculator` in this process
(ASE's SocketIOCalculator as the server: the socket carries float64, so the trajectories agree
to rounding), a central finite difference of the energy in the strain for the sign of the
virial (i-PI's: -dE/d(strain), positive under compression), and i-PI itself (``ipi`` on PyPI)
driving ``jaxpot serve`` for a few NVE steps, checked against the calculator at the positions
it wrote (8 printed decimals)."""

import os
import shutil
import socket
import subprocess
import sys
import threading
import uuid

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.socketio import SocketIOCalculator
from ase.io import read, write
from ase.md.verlet import VelocityVerlet
from ase.units import fs, kB

import jaxpot
from jaxpot.calculator import JaxpotCalculator
from jaxpot.cli import main

CLI = [sys.executable, "-c", "from jaxpot.cli import main; raise SystemExit(main())", "serve"]
STRAIN = np.array([[-0.03, 0.02, -0.01], [0.015, -0.02, 0.0], [0.0, -0.02, -0.025]])


def _name() -> str:
    """A unix socket name of its own (/tmp/ipi_NAME) for one test."""
    return f"jaxpot_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def _silicon():
    """8-atom diamond Si, compressed and sheared into a triclinic cell, rattled, 600 K."""
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + STRAIN), scale_atoms=True)
    atoms.rattle(0.05, seed=1)
    masses = atoms.get_masses()[:, None]
    atoms.set_momenta(np.sqrt(masses * kB * 600) * np.random.default_rng(0).normal(size=(8, 3)))
    return atoms


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    model = str(folder / "sw.jaxpot")
    jaxpot.save(jaxpot.potentials.stillinger_weber(), model)
    structure = str(folder / "si.extxyz")
    write(structure, _silicon())
    return model, structure


def _md(calc, n_steps=10):
    """Positions, energies, forces and stresses of ``n_steps`` velocity-Verlet steps."""
    atoms = _silicon()
    atoms.calc = calc
    rows = []

    def record():
        rows.append((atoms.positions.copy(), atoms.get_potential_energy(),
                     atoms.get_forces().copy(), atoms.get_stress().copy()))

    dyn = VelocityVerlet(atoms, timestep=1.0 * fs)
    dyn.attach(record, interval=1)
    dyn.run(n_steps)
    return atoms, rows


def _one_line(err: str, *phrases) -> None:
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for phrase in phrases:
        assert phrase in err, (phrase, err)


def test_md_through_the_socket_is_md_with_the_calculator(files, tmp_path):
    """An ASE SocketIOCalculator server, ``jaxpot serve`` a fresh process as its client: 10
    velocity-Verlet steps give the same positions, energies, forces and stresses as the
    calculator in this process; the virial sent is -dE/d(strain) (positive trace under this
    compression); EXIT from the server ends the client with status 0."""
    model, structure = files
    name, log = _name(), tmp_path / "socket.log"
    with SocketIOCalculator(unixsocket=name, timeout=120) as calc:  # listening from here
        proc = subprocess.Popen([*CLI, model, structure, "--unix", name, "--log", str(log)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            atoms, served = _md(calc)
            raw = calc.server.calculate(atoms)  # the virial as sent, before ASE's conversion
            calc.server.protocol.end()  # EXIT
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    assert "the server ended the run: 12 force evaluations" in out, out
    assert "sendforce" in log.read_text()

    _, direct = _md(JaxpotCalculator(jaxpot.load(model)))
    assert len(served) == len(direct) == 11
    for (r1, e1, f1, s1), (r2, e2, f2, s2) in zip(served, direct):
        np.testing.assert_allclose(r1, r2, rtol=0, atol=1e-10)
        assert abs(e1 - e2) < 1e-10
        np.testing.assert_allclose(f1, f2, rtol=0, atol=1e-10)
        np.testing.assert_allclose(s1, s2, rtol=0, atol=1e-12)  # eV/Å^3
    assert np.abs(direct[-1][3]).max() > 1e-3  # the stress is not a trivial zero

    # i-PI's virial: W_ij = -dE/d(eps_ij) for a symmetric strain eps of the cell and atoms
    probe = atoms.copy()
    probe.calc = JaxpotCalculator(jaxpot.load(model))
    h = 1e-5
    expected = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            energies = []
            for sign in (1, -1):
                eps = np.zeros((3, 3))
                eps[i, j] += sign * h / 2
                eps[j, i] += sign * h / 2
                strained = probe.copy()
                strained.calc = probe.calc
                strained.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
                energies.append(strained.get_potential_energy())
            expected[i, j] = -(energies[0] - energies[1]) / (2 * h)
    np.testing.assert_allclose(raw["virial"], expected, rtol=0, atol=1e-6)
    assert np.trace(raw["virial"]) > 0.1  # compressed: positive pressure, i-PI's sign


def test_connection_to_nothing_is_one_line_and_status_2(files, capsys):
    """No server on the unix socket (a fresh process) or the port (in this process): one line
    naming where it tried and what to start first, exit status 2, no traceback."""
    model, structure = files
    name = _name()
    proc = subprocess.run([*CLI, model, structure, "--unix", name], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    _one_line(proc.stderr, f"/tmp/ipi_{name}", "no such socket", "start the MD engine")

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    assert main(["serve", "sw", structure, "--port", str(port)]) == 2
    _one_line(capsys.readouterr().err, f"localhost:{port}", "connection refused",
              "start the MD engine")
    assert main(["serve", "sw", structure, "--unix", name, "--port", str(port)]) == 2
    _one_line(capsys.readouterr().err, "either --unix NAME or --host/--port")


def test_a_server_with_other_atoms_is_refused_in_one_line(files, capsys):
    """The server sends 16 atoms, the structure file has 8: one line naming both, status 2
    (client in this process, server in a thread)."""
    _, structure = files
    name = _name()
    failures = []
    with SocketIOCalculator(unixsocket=name, timeout=60) as calc:
        big = _silicon().repeat((2, 1, 1))

        def serve_positions():
            try:
                calc.get_potential_energy(big)
            except Exception as err:  # noqa: BLE001  (the client hung up: expected)
                failures.append(err)

        thread = threading.Thread(target=serve_positions, daemon=True)
        thread.start()
        assert main(["serve", "sw", structure, "--unix", name]) == 2
        thread.join(timeout=60)
    _one_line(capsys.readouterr().err, "the server sent 16 atoms, the structure file has 8")
    assert failures and not thread.is_alive()


IPI_INPUT = """<simulation verbosity='low' safe_stride='1000'>
  <output prefix='sim'>
    <properties stride='1' filename='out'> [ step, potential{ase}, virial_md{ase} ] </properties>
    <trajectory filename='pos' format='ase' cell_units='ase'> positions{ase} </trajectory>
    <trajectory filename='for' format='ase' cell_units='ase'> forces{ase} </trajectory>
  </output>
  <total_steps>5</total_steps>
  <prng><seed>12345</seed></prng>
  <ffsocket name='jaxpot' mode='unix' pbc='false'><address>NAME</address></ffsocket>
  <system>
    <initialize nbeads='1'>
      <file mode='ase'> STRUCTURE </file>
      <velocities mode='thermal' units='kelvin'> 600 </velocities>
    </initialize>
    <forces><force forcefield='jaxpot'/></forces>
    <motion mode='dynamics'>
      <dynamics mode='nve'><timestep units='femtosecond'> 1.0 </timestep></dynamics>
    </motion>
    <ensemble><temperature units='kelvin'> 600 </temperature></ensemble>
  </system>
</simulation>
"""


def test_ipi_drives_jaxpot_serve(files, tmp_path):
    """i-PI (the MD engine, its own process) runs 5 NVE steps with ``jaxpot serve`` as its
    force field; the energies, forces and virials it wrote are the calculator's at the positions
    it wrote (in i-PI's rotated frame; 'ase' units, ASE's constants: agreement to the printed
    digits), and both processes exit with status 0."""
    import ipi  # noqa: F401  (a test dependency: missing i-PI is a failure, never a skip)
    model, structure = files
    name = _name()
    (tmp_path / "input.xml").write_text(IPI_INPUT.replace("NAME", name)
                                        .replace("STRUCTURE", structure))
    ipi_script = shutil.which("i-pi", path=os.path.dirname(sys.executable)) or "i-pi"
    server = subprocess.Popen([sys.executable, ipi_script, "input.xml"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = subprocess.run([*CLI, model, structure, "--unix", name, "--wait", "60"],
                                capture_output=True, text=True, timeout=120)
        server_out, _ = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert client.returncode == 0, client.stderr
    assert server.returncode == 0, server_out
    assert "the server ended the run: 6 force evaluations" in client.stdout, client.stdout

    positions = read(tmp_path / "sim.pos_0.extxyz", ":")
    forces = read(tmp_path / "sim.for_0.extxyz", ":")
    table = np.loadtxt(tmp_path / "sim.out")
    assert len(positions) == len(forces) == len(table) == 6
    calc = JaxpotCalculator(jaxpot.load(model))
    for atoms, written, row in zip(positions, forces, table):
        atoms.pbc = True
        atoms.calc = calc
        assert abs(atoms.get_potential_energy() - row[1]) < 1e-6
        np.testing.assert_allclose(written.get_forces(), atoms.get_forces(), rtol=0,
                                   atol=1e-6)
        xx, yy, zz, yz, xz, xy = -atoms.get_stress()  # i-PI's virial / V: xx yy zz xy xz yz
        np.testing.assert_allclose(row[2:], [xx, yy, zz, xy, xz, yz], rtol=0, atol=1e-8)
    assert row[2:5].sum() > 0.01  # compressed: i-PI sees a positive pressure
