"""``jaxpot serve MODEL STRUCTURE [--unix NAME | --host HOST --port PORT] [--log FILE]``: a
force engine for MD codes speaking i-PI's socket protocol (i-PI, ASE's SocketIOCalculator,
and any other i-PI server).

The MD engine is the server: it holds the positions and opens the socket; ``jaxpot serve``
connects to it as a client, receives positions and cell each step, and sends back the energy,
forces and virial (-stress x volume, i-PI's sign: positive under compression) computed by
MODEL ('sw' or a jaxpot model file) in float64, until the server says EXIT or closes the
connection (exit status 0).  STRUCTURE (any file ASE reads; its last frame) gives the species
in the server's atom order, and whether the system is periodic: the virial is computed only
for a periodic one.  Start the server first: a connection refused (or a unix socket that does
not exist) is an error, unless --wait gives the server time to open it.  The protocol itself
is ASE's (ase.calculators.socketio.SocketClient); units on the wire are atomic (Hartree,
Bohr), converted with ASE's constants.

    i-pi input.xml &                      # <ffsocket mode="unix"><address>si</address> ...
    jaxpot serve model.jaxpot init.xyz --unix si --wait 30
"""

from __future__ import annotations

import logging
import os
import time

from jaxpot.commands._common import load_model

_log = logging.getLogger("jaxpot.cli")

NAME = "serve"
HELP = "serve a model's forces to an MD engine over i-PI's socket protocol (i-PI, ASE, ...)"
ORDER = 40

DEFAULT_PORT = 31415  # i-PI's and ASE's


def arguments(p) -> None:
    p.add_argument("model", help="'sw' (Stillinger-Weber Si) or a jaxpot model file")
    p.add_argument("structure", help="structure file readable by ASE with the species in "
                   "the server's atom order (its last frame; its pbc says whether to send "
                   "the virial)")
    p.add_argument("--unix", metavar="NAME", help="connect to the unix socket /tmp/ipi_NAME "
                   "(i-PI's <address> in mode 'unix'; ASE's unixsocket=NAME)")
    p.add_argument("--host", help="server host for an inet socket (default localhost)")
    p.add_argument("--port", type=int, help=f"server port (default {DEFAULT_PORT})")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="keep trying to connect for this long while the server starts "
                   "(default 0: fail at once)")
    p.add_argument("--log", metavar="FILE", help="write the socket traffic (every message) "
                   "to this file")


def _client_class():
    """ASE's SocketClient computing each step once and checking the atom count."""
    import numpy as np
    from ase.calculators.socketio import IPIProtocol, SocketClient

    class Protocol(IPIProtocol):
        n_atoms = 0

        def recvposdata(self):
            cell, icell, positions = super().recvposdata()
            if len(positions) != self.n_atoms:
                raise ValueError(f"the server sent {len(positions)} atoms, the structure "
                                 f"file has {self.n_atoms}: give the structure the server "
                                 "simulates, in its atom order")
            return cell, icell, positions

    class Client(SocketClient):
        def __init__(self, n_atoms, **kwargs):
            super().__init__(**kwargs)
            self.protocol = Protocol(self.protocol.socket)
            self.protocol.log = self.log
            self.protocol.n_atoms = n_atoms

        def calculate(self, atoms, use_stress):
            # stress first: JaxpotCalculator computes energy and forces with it, in one call
            stress = atoms.get_stress(voigt=False) if use_stress else None
            energy = atoms.get_potential_energy()
            forces = atoms.get_forces()
            virial = (-atoms.get_volume() * stress if use_stress else np.zeros((3, 3)))
            self.energy = energy
            return energy, forces, virial

    return Client


def _where(args) -> str:
    if args.unix is not None:
        from ase.calculators.socketio import actualunixsocketname
        return f"the unix socket {actualunixsocketname(args.unix)}"
    return f"{args.host or 'localhost'}:{args.port or DEFAULT_PORT}"


def _connect(args, n_atoms, log):
    from ase.parallel import DummyMPI
    client_class = _client_class()
    where = _where(args)
    deadline = time.monotonic() + max(args.wait, 0.0)
    while True:
        try:
            if args.unix is not None:
                return client_class(n_atoms, unixsocket=args.unix, log=log, comm=DummyMPI())
            return client_class(n_atoms, host=args.host or "localhost",
                                port=args.port or DEFAULT_PORT, log=log, comm=DummyMPI())
        except (ConnectionRefusedError, FileNotFoundError) as err:
            if time.monotonic() >= deadline:
                reason = ("no such socket" if isinstance(err, FileNotFoundError)
                          else "connection refused")
                raise OSError(f"cannot connect to the i-PI server at {where} ({reason}): "
                              "start the MD engine (i-PI, ASE's SocketIOCalculator, ...) "
                              "first, then jaxpot serve, or give --wait SECONDS") from None
            time.sleep(0.2)
        except OSError as err:
            raise OSError(f"cannot connect to the i-PI server at {where}: "
                          f"{err.strerror or err}") from None


def run(args) -> int:
    from jaxpot.calculator import JaxpotCalculator
    from jaxpot.io.paths import check_outputs
    from jaxpot.structure import check_species_known
    from jaxpot.training.frames import read_frames

    if args.unix is not None and (args.host is not None or args.port is not None):
        raise ValueError("give either --unix NAME or --host/--port, not both")
    if args.port is not None and not 0 < args.port < 65536:
        raise ValueError(f"--port {args.port} is not a port number (1-65535)")
    check_outputs({"socket log": args.log},
                  {"structure file": args.structure,
                   "model file": args.model if os.path.exists(args.model) else None})
    atoms = read_frames(args.structure)[-1]
    model = load_model(args.model)
    check_species_known(atoms.numbers, model.species, model.name)
    periodic = bool(any(atoms.pbc))
    if periodic and atoms.cell.rank != 3:
        raise ValueError(f"{args.structure} is periodic but its cell is not 3D: the virial "
                         "needs a volume (give a full cell, or pbc=False)")
    atoms.calc = JaxpotCalculator(model)
    _log.info(f"jaxpot serve: {model.name} (cutoff {model.cutoff:.4f} Å) for {len(atoms)} "
              f"atoms ({atoms.get_chemical_formula()}) from {args.structure}; "
              + ("periodic: sending the virial" if periodic else "not periodic: no virial"))
    _log.info(f"connecting to {_where(args)}")
    log = open(args.log, "w") if args.log else None  # noqa: SIM115  (closed below)
    try:
        client = _connect(args, len(atoms), log)
        _log.info("connected; serving forces until the server says exit (the first step "
                  "compiles)")
        n_steps, start = 0, time.perf_counter()
        for _ in client.irun(atoms, use_stress=periodic):
            n_steps += 1
            _log.debug(f"step {n_steps}: energy {client.energy:.10f} eV")
    finally:
        if log is not None:
            log.close()
    elapsed = time.perf_counter() - start
    rate = f" ({1e3 * elapsed / n_steps:.1f} ms each, the server's own time included)" \
        if n_steps else ""
    _log.info(f"the server ended the run: {n_steps} force evaluation"
              f"{'' if n_steps == 1 else 's'} in {elapsed:.1f} s{rate}")
    return 0
