"""Active learning: grow a training set with an oracle where the model is unsure.

    from jaxpot import active
    from ase.calculators.emt import EMT
    run = active.learn(frames, EMT(), model="gap",
                       explore=active.md(temperatures=[300, 900, 1500], steps=2000,
                                         timestep=2.0, pressure=None, replicas=4),
                       budget=60, target=None, workdir="al_run", seed=0)
    run.model      # the final EnergyModel (a GAP carries its calibrated posterior)
    run.frames     # the initial frames, then each oracle call's, in order
    run.history    # one dict per update

Each update fits the model on the labelled frames and calibrates the uncertainty that watches
MD (:mod:`.monitor`); MD replicas (in one vmapped MD, continuing the last round's
trajectories) stop at the first log row whose calibrated rms force sigma exceeds the
threshold (:mod:`.explore`); the stop structures are chosen by greedy max-min distance (or
D-optimality) of their SOAP environments (:mod:`.select`), labelled by the
oracle (:mod:`.oracle`), written to the workdir as they arrive (:mod:`.store`), and the model
is refitted (:mod:`.loop`).  A killed run resumes from its workdir.

History rows: update, oracle_calls and frames (at the fit), wall_time_s, threshold (eV/Å),
threshold_factor and threshold_rule (:mod:`.plan`), calibration (where the factors came
from), energy_factor / force_factor (eV, eV/Å per unit distance), calibration_sigma (eV/Å),
fit ("fresh"; after the first update an ensemble's is "warm", a GAP's "incremental", or
"replayed" on resume, :mod:`.monitor`) and fit_time_s, validation_force_rmse (eV/Å) and
validation_energy_mae (eV/atom) when ``validation=`` is
given; after exploring: md_steps, passes, stops, unstable, continued, max_sigma / mean_sigma (eV/Å,
over the round's MD log rows), stop_fraction (stops per MD step), candidates, duplicates,
novelty, first_call, batch, selected_sigma, labelled, failed, selected_error; status
("labelling", or why the run ended: budget spent, target met, converged).
"""

from jaxpot.active.loop import ActiveRun, learn
from jaxpot.active.settings import Exploration, exploration
from jaxpot.active.store import ActiveRunError

#: the exploration settings constructor: ``active.md(temperatures=..., steps=..., ...)``
md = exploration

__all__ = ["ActiveRun", "ActiveRunError", "Exploration", "exploration", "learn", "md"]
