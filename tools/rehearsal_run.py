"""Run notebooks top to bottom as a Colab user would, and fail on what would go wrong there.

    python rehearsal_run.py --checkout REPO --out DIR NOTEBOOK...   (tools/rehearsal.sh runs it)

Run by the rehearsal's own virtual environment from a scratch folder. Before the notebooks it checks that
``spectralkd_lite`` is the installed wheel (not the checkout). Each notebook runs in that folder with a
hidden first cell that makes every module check, before it runs, that each tensor handed to it lies on
the device of its parameters. It fails on a cell error, on any fallback message in an output, and, after
notebook 04, on a saved mapping whose depth is not notebook 05's student's. Notebook 05 run before 04
must say that it found no mapping of notebook 04 (it ran on its own); run after 04, it must read it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

# What the notebooks print when they fall back to something other than what the user asked for, word
# for word (tests/test_colab.py checks that each is still in a notebook), and a traceback a cell caught.
FALLBACKS = (
    "no committed ",  # 04 and 05: "no committed CLINC150 (few-label) results at ...": shipped results out of reach
    "the committed results have no",  # 05: a section of them is missing
    "refused: ",  # 05: notebook 04's mapping does not fit the student
    "Traceback (most recent call last)",
)
# notebook 05 on its own (nothing shared) picks its mapping itself; after notebook 04 in the same
# folder it must read the mapping 04 saved
NO_SHARED_MAPPING = "no mapping saved by notebook 04 here"
DEVICE_GUARD = """
import torch as _torch


def _rehearsal_same_device(module, args, kwargs):
    params = list(module.parameters(recurse=False))
    if not params:
        return None
    where = params[0].device
    for value in [*args, *kwargs.values()]:
        if isinstance(value, _torch.Tensor) and value.device != where and value.dim() > 0:
            raise RuntimeError(f"{type(module).__name__} on {where} was handed a tensor on {value.device}")
    return None


_torch.nn.modules.module.register_module_forward_pre_hook(
    lambda m, a: _rehearsal_same_device(m, a, {})
)
"""


def outputs_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(str(out.get("data", {}).get("text/plain", "")))
            parts.append(str(out.get("data", {}).get("text/markdown", "")))
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkout", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args()

    import spectralkd_lite

    installed = Path(spectralkd_lite.__file__).resolve()
    if args.checkout.resolve() in installed.parents:
        print(f"FAIL: spectralkd_lite comes from the checkout ({installed}), not the installed wheel")
        return 1
    import ipywidgets
    import torch
    import transformers

    print(
        f"installed spectralkd_lite at {installed.parent}; transformers {transformers.__version__}, "
        f"ipywidgets {ipywidgets.__version__}, torch {torch.__version__}",
        flush=True,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    failed, ran_04 = [], False
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        nb.cells.insert(0, nbformat.v4.new_code_cell(DEVICE_GUARD))
        start = time.time()
        try:
            NotebookClient(
                nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": "."}}
            ).execute()
        except Exception as e:  # a cell error: nbclient names the cell and the exception
            failed.append(f"{path.name}: {str(e).strip().splitlines()[-1] if str(e).strip() else e}")
        nbformat.write(nb, args.out / path.name)
        text = outputs_text(nb)
        wrong = FALLBACKS + ((NO_SHARED_MAPPING,) if ran_04 else ())
        for line in text.splitlines():
            if any(message in line for message in wrong):
                failed.append(f"{path.name}: fallback message: {line.strip()[:200]}")
        if path.name.startswith("05") and not ran_04 and NO_SHARED_MAPPING not in text:
            failed.append(f"{path.name}: ran before notebook 04 but did not pick its own mapping")
        print(f"{path.name}: {time.time() - start:.0f} s", flush=True)
        if path.name.startswith("04"):
            ran_04 = True
            saved = Path("runs") / "mapping-full.json"
            mapping = json.loads(saved.read_text()) if saved.is_file() else {}
            from transformers import AutoConfig

            depth = AutoConfig.from_pretrained("roberta-base").num_hidden_layers
            made_for = mapping.get("params", {}).get("n_student")
            if (
                made_for != depth
                or max(link["student"] for link in mapping.get("links", [{"student": 0}])) > depth
            ):
                failed.append(
                    f"{path.name}: saved mapping made for {made_for} student blocks; roberta-base has {depth}"
                )
    for line in failed:
        print("FAIL:", line)
    print("rehearsal:", "FAILED" if failed else "passed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
