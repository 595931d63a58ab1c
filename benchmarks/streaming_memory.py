"""analyze() streams: its peak memory does not grow with the number of batches.

Runs analyze over N and 20N batches (generated lazily, so the data set itself is
never held), each in a fresh process, and takes the ratio of peak memory: peak
resident set size on the CPU (default allocator, as a user gets it),
torch.cuda.max_memory_allocated on a GPU. Goal: at most 1.05. The same forward
passes without analyze are measured beside it, for reference. Peak RSS moves by
tens of MiB from one fresh process to the next, so each measurement is repeated
in interleaved rounds and the ratios are taken round by round.

    python benchmarks/streaming_memory.py [--device cuda] [--batches 5] [--repeats 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from _models import batch, encoder
from _results import RESULTS, provenance, write_ratio_result

from spectralkd_lite import analyze


def measure(device: str, n_batches: int, what: str) -> dict[str, float]:
    """Peak memory (MiB) of analyze (or the forward passes alone) over n_batches lazy batches."""
    model = encoder(device=device)
    lazy = (batch(seed=i, device=device) for i in range(n_batches))
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    if what == "analyze":
        analyze(model, lazy, progress=False)
    else:
        with torch.inference_mode():
            for b in lazy:
                model(**b, output_hidden_states=True)
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if device.startswith("cuda")
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {"peak_mib": peak}


def child(device: str, n: int, what: str) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--device", device, "--child", str(n), "--what", what],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds of fresh processes")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for streaming_memory.json/.md/.png")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--what", default="analyze", choices=["analyze", "forward"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.device, args.child, args.what)))
        return
    meta = provenance() | {"device": args.device}
    n, big = args.batches, 20 * args.batches
    rows = {
        (what, k): f"{what}, {k} batches" + (" (reference)" if what == "forward" else "")
        for what in ("analyze", "forward")
        for k in (n, big)
    }
    samples: dict[str, list[float]] = {label: [] for label in rows.values()}
    for _ in range(args.repeats):
        for (what, k), label in rows.items():
            samples[label].append(child(args.device, k, what))
    unit = "MiB, CUDA max allocated" if args.device.startswith("cuda") else "MiB, peak RSS"
    forward = [b / s for s, b in zip(samples[rows["forward", n]], samples[rows["forward", big]], strict=True)]
    notes = [
        f"The forward passes alone, {big} batches over {n}: median ratio {statistics.median(forward):.3f} "
        f"(min {min(forward):.3f}, max {max(forward):.3f}); the ratios of the forward rows in the table are "
        f"to analyze over {n} batches."
    ]
    setup = (
        f"Device {args.device}; a 12-block x 384 RoBERTa encoder (random weights), lazy batches of 64 x 16 "
        f"tokens, {n} against {big} batches, each in a fresh process; {args.repeats} rounds."
    )
    verdict = write_ratio_result(
        "streaming_memory",
        meta,
        f"analyze() peak memory, {big} batches against {n}",
        setup,
        samples,
        unit,
        rows["analyze", big],
        1.05,
        notes,
        out=args.out,
    )
    print(setup)
    for label, values in samples.items():
        print(f"{label:34s} " + "  ".join(f"{v:7.1f}" for v in values) + f"  ({unit})")
    print(notes[0])
    print(verdict)


if __name__ == "__main__":
    main()
