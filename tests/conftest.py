"""Shared test set-up: float64 everywhere (physics checks), small shared structures.

The tests check numbers, not speed, and most of their time is XLA compilation: unless
JAX_DISABLE_MOST_OPTIMIZATIONS is already set, XLA's backend optimisation is turned down
(level 0, JAX's ``jax_disable_most_optimizations``), which cuts the suite's time by about a
quarter and leaves every result within its tolerance; the few tests whose time is spent
running long MD, not compiling, ask for the optimised programs (fixture ``optimized_xla``:
a 32-atom LJ run of 20,000 steps 6.7 -> 1.9 s, its compilation 2 -> 4 s).  Unless XLA_FLAGS
is already set, the two xdist workers share the two cores, so XLA's Eigen thread pool and
the BLAS/OpenMP threads are turned off too (one thread per worker: 1,951 s -> 1,673 s of
test time with the changes of the same commit), and XLA's older loop emitters replace its
MLIR fusion emitters (two compile-heavy test groups 209 -> 195 s, two run-heavy MD ones
105 -> 85-90 s, run side by side on the 2-core AMD VM;
``--xla_cpu_parallel_codegen_split_count=1`` and the thunk-free runtime were slower).  Set
before JAX starts its backend; the notebook kernels the tests launch inherit it.
"""

import os

os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
os.environ.setdefault("XLA_FLAGS",
                      "--xla_cpu_multi_thread_eigen=false --xla_cpu_use_fusion_emitters=false")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import gc  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)

_approx = pytest.approx


def _approx_of_plain_numbers(expected, *args, **kwargs):
    """``pytest.approx`` that refuses a JAX array as the expected value: pytest 9.2 reads
    ``.flat`` of a 0-d one, which JAX arrays refuse, while older pytest accepted it, so such a
    test passes or fails by the installed pytest.  Convert with float() or np.asarray first."""
    if isinstance(expected, jax.Array) or (isinstance(expected, (tuple, list)) and any(
            isinstance(x, jax.Array) for x in expected)):
        raise TypeError("pytest.approx of a JAX array: convert it with float() or np.asarray "
                        "first (pytest >= 9.2 cannot read a 0-d JAX array)")
    return _approx(expected, *args, **kwargs)


pytest.approx = _approx_of_plain_numbers


def _worker_is_large() -> bool:
    """Whether this process holds over 20,000 memory mappings or 3 GB resident (Linux's
    /proc; elsewhere always)."""
    try:
        with open("/proc/self/maps") as maps:
            mappings = sum(1 for _ in maps)
        with open("/proc/self/statm") as statm:
            resident = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return True
    return mappings > 20_000 or resident > 3e9


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    """Drop JAX's caches after a test file once the worker is large.

    Every XLA:CPU executable holds a few memory mappings; a worker that keeps all of the
    suite's executables reaches the kernel's ``vm.max_map_count`` (65,530) and LLVM's JIT
    then segfaults while compiling.  Dropping them after every file cost 53 s of the suite's
    test time (``jax.clear_caches`` and ``gc.collect``).
    """
    yield
    if _worker_is_large():
        gc.unfreeze()
        jax.clear_caches()
        gc.collect()


@pytest.fixture(autouse=True)
def _frozen_heap():
    """Move every object alive before a test out of the collector's reach (``gc.freeze``).

    Tracing and compiling allocate many objects, so Python's full collections, each a scan of
    the whole heap with JAX's caches in it, took 5 of 68-70 s of ``test_eam.py`` and
    ``test_snap.py``; frozen, 2.  What a test leaves behind stays frozen until the worker is
    large (above), when it is unfrozen and collected with JAX's caches."""
    gc.freeze()
    yield


@pytest.fixture
def optimized_xla():
    """XLA's full optimisation for the programs this test compiles (for tests that run long
    MD: their run time, not their compilation, is what they cost)."""
    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", False)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


#: the longest test files (seconds on 2 CPU cores), started first so that the two xdist
#: workers (``-n 2 --dist loadfile``) finish together: longest-processing-time-first order
#: (pyproject's ``--no-loadscope-reorder`` keeps xdist from re-sorting by test count)
LONGEST_FIRST = ("test_contract.py", "test_nn.py", "test_notebooks_fits.py", "test_md.py",
                 "test_mtp.py", "test_electrostatics.py", "test_gap.py", "test_tersoff.py",
                 "test_notebooks.py", "test_snap.py", "test_eam.py", "test_soap.py",
                 "test_md_run.py", "test_stillinger_weber.py")


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)  # stable: the order within each file is kept
