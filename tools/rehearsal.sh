#!/usr/bin/env bash
# The Colab rehearsal: what a Colab user with a GPU does, as closely as a CPU machine without the
# internet can (`make test` runs it as a phase; `make rehearsal` alone).
#
# 1. builds the wheel and installs it into a fresh virtual environment outside the checkout, with the
#    lowest transformers and ipywidgets that pyproject.toml declares (torch: the CPU build, $TORCH_SPEC,
#    never a CUDA one);
# 2. writes the hub's stand-ins under the real names (tools/colab_standins.py): roberta-large and
#    roberta-base in an HF_HOME cache, clinc_oos beside the notebooks, all offline;
# 3. runs notebooks 04, 05 and 06 from a scratch folder, top to bottom, in the full profile
#    (tools/rehearsal_run.py), failing on a cell error, a fallback message, a mapping whose depth is not
#    the student's, or a model handed a tensor on another device.
# The executed notebooks are kept in test-artifacts/rehearsal/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
DEV_PY=${DEV_PY:-$ROOT/.venv/bin/python}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/spectralkd-rehearsal.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

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

"$DEV_PY" -m pip wheel --no-deps -q -w "$WORK/dist" "$ROOT"
WHEEL=$(ls "$WORK"/dist/spectralkd_lite-*.whl)
"$PYTHON" -m venv "$WORK/venv"
V="$WORK/venv/bin/python"
"$V" -m pip install -q --upgrade pip
# the CPU torch first (a wheel on disk on the project's machines), so nothing below pulls a CUDA build
"$V" -m pip install -q "$TORCH_SPEC"
"$V" -m pip install -q "${WHEEL}[hub]" "transformers==$TRANSFORMERS" "ipywidgets==$IPYWIDGETS" \
  "$TORCH_SPEC" nbclient nbformat ipykernel
"$V" -c "import torch; assert not torch.version.cuda, 'a CUDA torch was installed'"

mkdir -p "$WORK/colab" "$WORK/hf"
cp "$ROOT"/notebooks/0[456]_*.ipynb "$ROOT/tools/rehearsal_run.py" "$ROOT/tools/colab_standins.py" "$WORK/colab/"
cd "$WORK/colab"
unset PYTHONPATH SPECTRALKD_CACHE SPECTRALKD_CLINC150
export HF_HOME="$WORK/hf" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export SPECTRALKD_PROFILE=full TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg
"$V" colab_standins.py "$HF_HOME" .
rm colab_standins.py
status=0
"$V" rehearsal_run.py --checkout "$ROOT" --out "$ROOT/test-artifacts/rehearsal" 0[456]_*.ipynb || status=$?
exit $status
