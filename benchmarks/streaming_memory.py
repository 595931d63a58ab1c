"""analyze() streams: its peak memory does not grow with the number of batches.

Runs analyze over N and 20N batches (generated lazily, so the data set itself is
never held) each in a fresh process, and prints the ratio of peak memory: peak
resident set size on the CPU, torch.cuda.max_memory_allocated on a GPU. Goal: at
most 1.05.

On the CPU, glibc's malloc raises its mmap threshold as large blocks are freed, so
the transient FFT buffers of later batches come from a heap that fragments and the
resident set creeps up although no tensor outlives its batch. The ratio is therefore
measured with a fixed threshold (MALLOC_MMAP_THRESHOLD_, which also disables the
dynamic adjustment); the figures with the default allocator are printed beside it.

    python benchmarks/streaming_memory.py [--device cuda] [--batches 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

import torch
from _models import batch, encoder

from spectralkd_lite import analyze


def measure(device: str, n_batches: int) -> dict[str, float]:
    model = encoder(device=device)
    lazy = (batch(seed=i, device=device) for i in range(n_batches))
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    report = analyze(model, lazy, progress=False)
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if device.startswith("cuda")
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {"peak_mib": peak, "positions": report.positions[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.device, args.child)))
        return
    what = "CUDA max allocated" if args.device.startswith("cuda") else "peak RSS"
    allocators = {"fixed mmap threshold": {"MALLOC_MMAP_THRESHOLD_": "65536"}, "default allocator": {}}
    if args.device.startswith("cuda"):
        allocators = {"caching allocator": {}}
    ratios = {}
    for label, extra_env in allocators.items():
        results = {}
        for n in (args.batches, 20 * args.batches):
            out = subprocess.run(
                [sys.executable, __file__, "--device", args.device, "--child", str(n)],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, **extra_env},
            )
            results[n] = json.loads(out.stdout.strip().splitlines()[-1])
        small, large = results[args.batches], results[20 * args.batches]
        ratios[label] = large["peak_mib"] / small["peak_mib"]
        print(f"{label}:")
        print(
            f"  {args.batches:4d} batches: {what} {small['peak_mib']:.1f} MiB ({small['positions']} tokens)"
        )
        print(
            f"  {20 * args.batches:4d} batches: {what} {large['peak_mib']:.1f} MiB ({large['positions']} tokens)"
        )
        print(f"  ratio {ratios[label]:.3f}")
    label, ratio = next(iter(ratios.items()))
    verdict = "met" if ratio <= 1.05 else "NOT met"
    print(f"streaming memory ratio (20x batches / 1x, {label}): {ratio:.3f} (goal <= 1.05): {verdict}")


if __name__ == "__main__":
    main()
