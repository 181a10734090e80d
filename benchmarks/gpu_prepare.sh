#!/usr/bin/env bash
# Prepare .gpu/ for a lent GPU machine (no network there; its image has jax 0.11.2 with CUDA,
# flax, optax, numpy, scipy, matplotlib under Python 3.12): wheels of what jaxpot needs beyond
# that image, and the three mlearn files, in a folder git ignores (.git/info/exclude).
#
#   bash benchmarks/gpu_prepare.sh          # here, once per session
#
# Then one device call with carry [".gpu"] and a command like the 2026-11-28 runs':
#   python3 -m pip install -q --no-deps --no-index .gpu/wheels/*.whl;
#   export PYTHONPATH=$PWD JAX_DEFAULT_MATMUL_PRECISION=highest XLA_PYTHON_CLIENT_PREALLOCATE=false;
#   DEADLINE_S=555 MACE_BUDGET_S=435 LONG_TAG=_x \
#     MACE_LONG_SET="--set model.channels=64 --set train.batch_size=4 --no-test --data .gpu/data" \
#     bash benchmarks/gpu_figures.sh mace_long 2>&1 | tee $OUT/log.txt;
#   cd benchmarks/results && tar czf $OUT/runs.tgz --exclude='*.ckpt.npz' nn_mace_*_gpu_long_x*
# and the saved models' test errors on the CPU afterwards (nn_accuracy.py --evaluate).
# `DATA=.gpu/data bash benchmarks/gpu_figures.sh mace_step` (about 2-3 minutes) times the step.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu/wheels .gpu/data
grep -qx "/.gpu/" .git/info/exclude 2>/dev/null || echo "/.gpu/" >> .git/info/exclude
pip download -q --no-deps -d .gpu/wheels --python-version 3.12 --only-binary=:all: \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_17_x86_64 e3nn-jax==0.21.0 ase==3.29.0 spglib vesin
cp ../shared/data/mlearn_{Si,Ge,Li}_PBE.extxyz .gpu/data/
ls .gpu/wheels .gpu/data
du -sh .gpu
