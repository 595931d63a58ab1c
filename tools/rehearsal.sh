#!/usr/bin/env bash
# The Colab rehearsal: what a Colab user with a GPU does, as closely as a CPU machine without the
# internet can (`make test` runs it as a phase; `make rehearsal` alone).
#
# 1. builds the wheel and installs it into a fresh virtual environment outside the checkout, with the
#    lowest transformers and ipywidgets that pyproject.toml declares (torch: the CPU build, $TORCH_SPEC,
#    never a CUDA one);
# 2. writes the hub's stand-ins under the real names (tools/colab_standins.py): roberta-large and
#    roberta-base in an HF_HOME cache, clinc_oos beside the notebooks, all offline;
# 3. runs notebooks 05, 04 and 06 from a scratch folder, top to bottom, in the full profile
#    (tools/rehearsal_run.py), failing on a cell error, a fallback message, a mapping whose depth is not
#    the student's, or a model handed a tensor on another device. 05 runs first, on its own as on a
#    fresh Colab machine (it fine-tunes its own teacher and picks its own mapping); 04 and 06 then find
#    that teacher in runs/, as notebooks sharing a Drive folder do, and 04's saved mapping is checked
#    against roberta-base's depth.
# The executed notebooks are kept in test-artifacts/rehearsal/. It takes about 3.5 min on 2 busy cores:
# 65 s for the venv, 20 s for the stand-ins, about 35 s per notebook (mostly kernel start and imports).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
DEV_PY=${DEV_PY:-$ROOT/.venv/bin/python}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
# Scratch space: the venv is about 1 GB in 19,000 files, and on a disk mounted with online discard (as
# this project's machines are) deleting them takes about 2 minutes; a RAM-backed /dev/shm with 4 GB free
# where programs may run is used when there is one ($REHEARSAL_TMPDIR chooses).
scratch() {
  local probe
  if [ -n "${REHEARSAL_TMPDIR:-}" ]; then echo "$REHEARSAL_TMPDIR"; return; fi
  if [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(df -Pk /dev/shm | awk 'NR == 2 {print $4}')" -gt 4194304 ] &&
    probe=$(mktemp /dev/shm/spectralkd-exec.XXXXXX); then
    printf '#!/bin/sh\n' >"$probe" && chmod +x "$probe"
    if "$probe" 2>/dev/null; then rm -f "$probe"; echo /dev/shm; return; fi
    rm -f "$probe"
  fi
  echo "${TMPDIR:-/tmp}"
}
WORK=$(mktemp -d "$(scratch)/spectralkd-rehearsal.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
step() { echo "rehearsal: $* (at $SECONDS s)"; }
# pip, quiet, without this machine's notes on index folders that lack a package
pip_install() { "$V" -m pip install -q --no-compile "$@" 2> >(grep -v "is ignored: it is neither a file" >&2); }

# the lowest versions the package declares
read -r TRANSFORMERS IPYWIDGETS < <("$DEV_PY" - "$ROOT/pyproject.toml" <<'PY'
import re, sys, tomllib
deps = tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]
def lowest(name):
    (req,) = [d for d in deps if re.match(rf"{name}\s*[<>=]", d)]
    return re.search(r">=\s*([0-9][^,\s]*)", req).group(1)
print(lowest("transformers"), lowest("ipywidgets"))
PY
)
echo "rehearsal: transformers==$TRANSFORMERS, ipywidgets==$IPYWIDGETS, $TORCH_SPEC (CPU), in $WORK"

"$DEV_PY" -m pip wheel --no-deps -q -w "$WORK/dist" "$ROOT" 2> >(grep -v "is ignored: it is neither a file" >&2)
WHEEL=$(ls "$WORK"/dist/spectralkd_lite-*.whl)
step "wheel built"
"$PYTHON" -m venv "$WORK/venv"
V="$WORK/venv/bin/python"
# the CPU torch first (a wheel on disk on the project's machines), so nothing below pulls a CUDA build;
# --no-compile: Python compiles what the notebooks import as they import it, not all of torch up front
pip_install "$TORCH_SPEC"
pip_install "${WHEEL}[hub]" "transformers==$TRANSFORMERS" "ipywidgets==$IPYWIDGETS" \
  "$TORCH_SPEC" nbclient nbformat ipykernel
"$V" -c "import torch; assert not torch.version.cuda, 'a CUDA torch was installed'"
step "venv installed"

mkdir -p "$WORK/colab" "$WORK/hf"
cp "$ROOT"/notebooks/0[456]_*.ipynb "$ROOT/tools/rehearsal_run.py" "$ROOT/tools/colab_standins.py" "$WORK/colab/"
cd "$WORK/colab"
unset PYTHONPATH SPECTRALKD_CACHE SPECTRALKD_CLINC150
export HF_HOME="$WORK/hf" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# SPECTRALKD_QUICK: notebook 05 compares its variants on one seed for a fifth of an epoch (as the
# browser tests run it); every cell and path still runs, the seeds only repeat them
export SPECTRALKD_PROFILE=full SPECTRALKD_QUICK=1 TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg
"$V" colab_standins.py "$HF_HOME" .
rm colab_standins.py
step "stand-ins written"
status=0
"$V" rehearsal_run.py --checkout "$ROOT" --out "$ROOT/test-artifacts/rehearsal" 05_*.ipynb 04_*.ipynb 06_*.ipynb ||
  status=$?
step "done"
exit $status
