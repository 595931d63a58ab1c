#!/usr/bin/env bash
# The phases of `make test`, in two lanes that run side by side when the machine has 2 cores or more:
#
#   lane "notebooks": each notebook under nbval-lax but 03, in order (04 fills the teacher cache that 05
#                     and 06 use), then the browser tests (they open the notebooks with the caches filled);
#   lane "checks":    ruff, the unit tests, notebook 03 (it shares no cache with the others; here it
#                     evens out the lanes), then the Colab rehearsal (tools/rehearsal.sh: its own
#                     wheel, venv and scratch folder; skipped when PYTEST_ARGS select tests).
#
# The two lanes share no files, and much of each is not computing (installing the rehearsal's venv,
# starting kernels, JupyterLab and Chromium), so side by side they end sooner than one after the other.
# Every output line is prefixed with its lane. Each phase prints its wall time as it ends; the table of
# them all is written to $PHASE_TIMES and printed at the close. A failing phase does not stop the later
# ones; the exit status is 1 if any failed. With one core (or TEST_LANES=1) the lanes run in turn.
#
# Environment (the Makefile sets it): BIN (the venv's bin), PYTEST_ARGS, PHASE_TIMES, START_TIME.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
PYTEST_ARGS=${PYTEST_ARGS:-}
PHASE_TIMES=${PHASE_TIMES:-test-artifacts/phase-times.txt}
START_TIME=${START_TIME:-$(date +%s)}
LANES=${TEST_LANES:-$(( $(nproc) >= 2 ? 2 : 1 ))}
export HF_HUB_OFFLINE=1
PYTEST=("$BIN/python" -m pytest -p no:cacheprovider)
# shellcheck disable=SC2206  # PYTEST_ARGS is a list of words, as make passes it
EXTRA=($PYTEST_ARGS)
FAILED=$(mktemp -d)
CHECKS_DONE="$(mktemp -u)"  # exists once the checks lane is over (two lanes only)
trap 'rm -rf "$FAILED" "$CHECKS_DONE"' EXIT

mkdir -p "$(dirname "$PHASE_TIMES")"
printf '%-60s %6s s\n' "setup (venv, system packages, Chromium)" $(( $(date +%s) - START_TIME )) >"$PHASE_TIMES"

# phase LANE NAME COMMAND...: run it, time it, note a failure (exit 5, no test selected, passes when
# PYTEST_ARGS select tests)
phase() {
  local lane=$1 name=$2 t0 rc=0 note=
  shift 2
  t0=$(date +%s)
  echo "==> $name: $*"
  "$@" || rc=$?
  if [ $rc -eq 5 ] && [ -n "$PYTEST_ARGS" ]; then rc=0; note="  (no test selected)"; fi
  if [ $rc -ne 0 ]; then touch "$FAILED/$lane"; note="  FAILED (exit $rc)"; fi
  local line
  line=$(printf '%-60s %6s s%s' "[$lane] $name" $(( $(date +%s) - t0 )) "$note")
  echo "$line" >>"$PHASE_TIMES"
  echo "${line#"[$lane] "}"
}

# notebooks that use no other notebook's cache, run in the checks lane to even out the two lanes' times
CHECKS_NOTEBOOKS=(notebooks/03_vision_transformer_spectra.ipynb)

nbval() { "${PYTEST[@]}" --nbval-lax --nbval-current-env "$@" "${EXTRA[@]}"; }

lane_checks() {
  phase checks "ruff check" "$BIN/ruff" check spectralkd_lite tests benchmarks animations tools
  phase checks "ruff format --check" "$BIN/ruff" format --check spectralkd_lite tests benchmarks animations tools
  phase checks "unit tests" "${PYTEST[@]}" tests --ignore=tests/browser "${EXTRA[@]}"
  local nb
  for nb in "${CHECKS_NOTEBOOKS[@]}"; do
    phase checks "notebook $(basename "$nb")" nbval "$nb"
  done
  if [ -z "$PYTEST_ARGS" ]; then
    phase checks "Colab rehearsal (wheel, lowest versions, full)" bash tools/rehearsal.sh
  fi
}

# a phase of the notebooks lane: while the checks lane runs beside it, one torch thread as there (an OpenMP
# team of 2 beside a busy core spins: notebook 04 took 653 s so, against 144 s alone); after it, every core
notebooks_phase() {
  if [ "$LANES" -ge 2 ] && [ ! -e "$CHECKS_DONE" ]; then
    OMP_NUM_THREADS=1 phase notebooks "$@"
  else
    phase notebooks "$@"
  fi
}

lane_notebooks() {
  local nb
  for nb in notebooks/*.ipynb; do
    [[ " ${CHECKS_NOTEBOOKS[*]} " == *" $nb "* ]] && continue
    notebooks_phase "notebook $(basename "$nb")" nbval "$nb"
  done
  notebooks_phase "browser tests" "${PYTEST[@]}" tests/browser "${EXTRA[@]}"
}

# each lane's lines, prefixed with its name, as they come
prefixed() { sed -u "s/^/[$1] /"; }

if [ "$LANES" -ge 2 ]; then
  echo "==> two lanes side by side: notebooks then browser tests; lint, unit tests then the Colab rehearsal"
  lane_notebooks 2>&1 | prefixed notebooks &
  notebooks=$!
  # one torch thread per lane while both run, so that they do not fight over 2 cores (oversubscribed
  # OpenMP threads spin and slow both); the notebooks lane's later phases get every core
  OMP_NUM_THREADS=1 lane_checks 2>&1 | prefixed checks
  touch "$CHECKS_DONE"
  wait "$notebooks"
else
  lane_checks
  lane_notebooks
fi
echo "==> phase times (wall clock; the lanes ran side by side: $LANES)"
cat "$PHASE_TIMES"
printf '%-60s %6s s\n' "total" $(( $(date +%s) - START_TIME ))
if [ -n "$(ls -A "$FAILED")" ]; then
  echo "FAILED in lane(s): $(ls "$FAILED" | tr '\n' ' ')"
  exit 1
fi
