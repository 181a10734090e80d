"""Compile time of the GAP fit's SOAP kernel rows (``soap_rows``) with the default SOAP
(n_max 12, l_max 10): ``gap.fit`` of three bundled 64-atom mlearn Si frames with 50 sparse
points, every XLA compilation timed (``jax.monitoring``).  Run on two commits to compare
(``PYTHONPATH=<worktree>``; run it from outside the repository so PYTHONPATH decides).

    python benchmarks/bench_soap_rows_compile.py
"""

import os
import time

import jax

jax.config.update("jax_enable_x64", True)
compiles = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: compiles.append(duration)
    if event == "/jax/core/compile/backend_compile_duration" else None)

from ase.io import read  # noqa: E402

import jaxpot  # noqa: E402
from jaxpot import gap  # noqa: E402

path = os.path.join(os.path.dirname(jaxpot.__file__), "data", "si_mlearn_train_subset.extxyz")
frames = [a for a in read(path, ":") if len(a) == 64][:3]
jax.config.update("jax_log_compiles", True)  # names each program with its compile time
t0 = time.time()
gap.fit(frames, gap.GapSettings(soap=gap.SoapSettings(n_sparse=50)), progress=False)
print(f"fit {time.time() - t0:.1f} s; compile {sum(compiles):.1f} s in {len(compiles)} "
      f"programs; largest {sorted(compiles)[-3:]}")
