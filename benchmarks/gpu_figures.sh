#!/usr/bin/env bash
# GPU figures of the NN, SNAP/MTP, GAP and LJ benchmarks in one run, on JAX's default device
# (and CUDA for TorchANI).  Each part runs under a time limit; a failing part is reported and
# the others still run.  Results: benchmarks/results/*_gpu.json (plus the printed tables).
#
#   bash benchmarks/gpu_figures.sh [part ...]      parts: nn snap gap lj painn (default: all)
#                                                   painn_long, mace_long, mace_step (not in
#                                                   the default)
#
# gap times a saved GAP model (GAP_MODEL, default si_default.jaxpot from
# `gap_si_properties.py --save si_default.jaxpot`): one 64-atom cell through the calculator and
# the 25-frame mlearn Si test set through jaxpot.predict.  painn trains the default PaiNN on
# mlearn Si (nn_accuracy.py) and reports its test error and wall time.  painn_long trains a
# wider PaiNN (PAINN_LONG_SET: nn_accuracy.py --set items) on Si, Ge and Li side by side on the
# one GPU, each for PAINN_BUDGET_S seconds (epochs fitted to the budget), logs in $results;
# mace_long the same for the MACE-like model (MACE_LONG_SET, MACE_BUDGET_S; 64 channels).
# LONG_ELEMENTS picks the elements of a long run and LONG_TAG suffixes its result names. A long
# run saves its model and report in $results (nn_MODEL_EL_gpu_long*.jaxpot, *_report/) and skips
# XLA's GPU autotuning (GPU_AUTOTUNE=1 keeps it): the 2026-11-27 MACE runs spent 189-366 s of a
# 445 s budget compiling.
# DEADLINE_S (seconds from the start) caps every part's limit, so a run inside a lease ends in
# time. MACE_LONG_SET may add `--ensemble K` (members in one vmap); the long runs side by side
# divide the card (a step costs its work: 2026-11-28, three 4-member ensembles ran 1.7-2.0 s
# per epoch against 0.15 s of steps for one single model alone). mace_step times the
# trainer's MACE step alone on the card (bench_mace_gpu_step.py; DATA: the folder of the
# mlearn files when ../shared/data is not beside the repo).
# The MACE runs up to 2026-11-28's sixth session trained on LossWeights() throughout; MACE now
# defaults to forces first and a stage two (jaxpot.nn.kinds), which on 2 CPU cores beat those
# H200 runs on Si (benchmarks/RESULTS.md, "Loss weights of the MACE default").
set -u
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 TORCHANI_NO_WARN_EXTENSIONS=1
py=${PYTHON:-python3}
gap_model=$(realpath "${GAP_MODEL:-si_default.jaxpot}" 2>/dev/null)
results=benchmarks/results

step() {  # step LIMIT_S COMMAND...: run under a time limit, report exit status and wall time
  local limit=$1 t0=$SECONDS left=$((${DEADLINE_S:-100000} - SECONDS))
  shift
  if [ "$left" -lt "$limit" ]; then limit=$left; fi
  if [ "$limit" -lt 20 ]; then echo "== skipped (deadline): $*"; return; fi
  echo "== $* (limit ${limit} s)"
  timeout "$limit" "$@"
  echo "== exit $? after $((SECONDS - t0)) s"
}

gap_worker() {  # gap_worker MODE: bench_gap.py's speed worker; its JSON line on stdout
  local spec='{"kind": "speed", "element": "Si", "repeats": 5, "model_file": "'$gap_model'"'
  local out
  out=$(step 60 $py benchmarks/bench_gap.py --_worker "$spec, \"mode\": \"$1\"}")
  echo "$out" | grep '^==' >&2
  echo "$out" | grep '^{'
}

gap_speed() {  # the calculator and batch prediction workers of bench_gap.py, one JSON
  local calc pred
  calc=$(gap_worker jaxpot_calculator) && pred=$(gap_worker jaxpot_predict) \
    || { echo "== gap: a worker failed, nothing written"; return; }
  echo "{\"model_file\": \"$gap_model\", \"jaxpot_calculator\": $calc," \
    "\"jaxpot_predict\": $pred}" > $results/gap_speed_gpu.json
  cat $results/gap_speed_gpu.json
}

fast_compile() {  # export XLA_FLAGS that skip the GPU autotuners, if this XLA knows them
  [ "${GPU_AUTOTUNE:-0}" = 1 ] && return
  local flags probe="import jax, jax.numpy as jnp; jax.jit(lambda x: x @ x)(jnp.ones((64, 64)))"
  for flags in "--xla_gpu_autotune_level=0 --xla_gpu_experimental_enable_fusion_autotuner=false" \
      "--xla_gpu_autotune_level=0"; do
    if XLA_FLAGS="${XLA_FLAGS:-} $flags" $py -c "$probe" > /dev/null 2>&1; then
      export XLA_FLAGS="${XLA_FLAGS:-} $flags"
      echo "== XLA_FLAGS=$XLA_FLAGS"
      return
    fi
  done
  echo "== this XLA knows none of the autotuning flags: autotuning kept"
}

long_runs() {  # long_runs MODEL BUDGET_S SET...: LONG_ELEMENTS (Si Ge Li) side by side on the GPU
  local model=$1 budget=$2 el tag
  shift 2
  fast_compile
  for el in ${LONG_ELEMENTS:-Si Ge Li}; do
    tag=nn_${model}_${el}_gpu_long${LONG_TAG:-}
    step $((budget + 120)) $py benchmarks/nn_accuracy.py --model $model --element $el \
      --time-budget $budget --out $tag --output $results/$tag.jaxpot "$@" \
      > $results/$tag.log 2>&1 &
  done
  wait
  grep -h "wrote\|test MAE\|== exit" $results/nn_${model}_*_gpu_long${LONG_TAG:-}.log
}

nvidia-smi -L 2>/dev/null
$py -c "import jax; print('jax', jax.__version__, jax.devices())"
for part in ${@:-nn snap gap lj painn}; do
  case $part in
    nn)
      step 90 $py benchmarks/bench_nn_training.py --torch-device cuda --out nn_training_gpu
      step 150 $py benchmarks/bench_nn_md.py --repeats 4 12 --torch-device cuda \
        --torch-neighborlist cell_list --out nn_md_gpu ;;
    snap)
      step 150 $py benchmarks/bench_snap.py --codes jaxpot --models si_snap si_mtp \
        --sizes 4 8 --out snap_gpu ;;
    gap)
      [ -f "$gap_model" ] && gap_speed || echo "== gap: no model file $gap_model" ;;
    lj)
      step 240 $py benchmarks/bench_md.py --sizes 256000 --model lj --codes jaxpot jax_md \
        --steps 100 --out md_lj_256k_gpu ;;
    # the long runs keep 4 structures per step (the CPU default is 1): on a GPU a step's
    # time hardly grows with the batch, so a larger batch costs no wall time
    painn_long)
      long_runs painn ${PAINN_BUDGET_S:-420} ${PAINN_LONG_SET:---set model.features=128 \
        --set model.n_rbf=20 --set train.learning_rate=1e-3 \
        --set train.final_learning_rate=1e-5 --set train.batch_size=4} ;;
    mace_long)
      long_runs mace ${MACE_BUDGET_S:-420} ${MACE_LONG_SET:---set model.channels=64 \
        --set train.batch_size=4} ;;
    mace_step)
      step 240 $py benchmarks/bench_mace_gpu_step.py ${DATA:+--data $DATA} --out mace_gpu_step ;;
    painn)
      step 400 $py benchmarks/nn_accuracy.py --model painn --element Si \
        --out nn_painn_Si_gpu ;;
    *) echo "unknown part $part" ;;
  esac
done
