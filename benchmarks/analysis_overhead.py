"""Overhead of analyze() over the forward pass it needs anyway.

Ratio = time per batch of ``analyze`` collecting every block's spectrum over the time
per batch of the same forward pass with ``output_hidden_states=True`` alone, on a
12-block, 384-wide encoder, batch 64, 16 tokens. Goal: at most 1.05. For reference
it also times a straightforward implementation that gathers the real tokens of each
layer with a boolean index (a host sync and a copy per layer).

    python benchmarks/analysis_overhead.py [--device cuda] [--repeats 7] [--batches 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _models import batch, encoder

from spectralkd_lite import analyze


def naive_analyze(model, batches):
    """Per layer: gather real tokens with a boolean mask, full FFT, mean (for comparison)."""
    sums, count = None, 0
    with torch.inference_mode():
        for b in batches:
            hs = model(**b, output_hidden_states=True).hidden_states[1:]
            m = b["attention_mask"].bool()
            per_layer = []
            for h in hs:
                tokens = h[m]  # boolean gather: host sync + copy
                per_layer.append(torch.fft.fft(tokens.float(), dim=-1).abs().div(h.shape[-1]).sum(0))
            layer_sums = torch.stack(per_layer)
            sums = layer_sums if sums is None else sums + layer_sums
            count += int(m.sum())
    return sums / count


def forward_only(model, batches):
    with torch.inference_mode():
        for b in batches:
            model(**b, output_hidden_states=True)


def timed(fn, device) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds; the median is reported")
    parser.add_argument("--batches", type=int, default=20, help="batches per round")
    args = parser.parse_args()
    model = encoder(device=args.device)
    batches = [batch(seed=i, device=args.device) for i in range(args.batches)]
    runs = {
        "forward (output_hidden_states)": lambda: forward_only(model, batches),
        "analyze (every block)": lambda: analyze(model, batches, progress=False),
        "naive (boolean gather per layer)": lambda: naive_analyze(model, batches),
    }
    for fn in runs.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):  # interleaved rounds, so drifts in machine load hit all alike
        for name, fn in runs.items():
            times[name].append(timed(fn, args.device) / args.batches)
    base = statistics.median(times["forward (output_hidden_states)"])
    print(
        f"device {args.device}, torch threads {torch.get_num_threads()}, 12 blocks x 384, batch 64 x 16 tokens"
    )
    for name, t in times.items():
        med = statistics.median(t)
        print(f"{name:36s} {1000 * med:8.2f} ms/batch   ratio {med / base:.3f}")
    ratio = statistics.median(times["analyze (every block)"]) / base
    print(f"analysis overhead ratio: {ratio:.3f} (goal <= 1.05): {'met' if ratio <= 1.05 else 'NOT met'}")


if __name__ == "__main__":
    main()
