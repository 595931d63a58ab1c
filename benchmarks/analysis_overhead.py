"""Overhead of analyze() over the forward pass it needs anyway.

Ratio = time per batch of ``analyze`` collecting every block's spectrum over the time
per batch of the same forward pass with ``output_hidden_states=True`` alone, on a
12-block, 384-wide encoder, batch 64, 16 tokens. Goal: at most 1.05. For reference
it also times a straightforward implementation that gathers the real tokens of each
layer with a boolean index (a host sync and a copy per layer).

    python benchmarks/analysis_overhead.py [--device cuda] [--repeats 9] [--batches 20] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from _models import batch, encoder
from _results import RESULTS, print_result, provenance, time_rounds, write_ratio_result

from spectralkd_lite import analyze
from spectralkd_lite.analysis import _Accumulator


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


def spectra_only(hidden):
    """The analysis step alone, on hidden states computed beforehand: what analyze adds to the forward."""
    with torch.inference_mode():
        acc = _Accumulator()
        for layers, mask in hidden:
            acc.add(layers, mask)


def forward_only(model, batches):
    with torch.inference_mode():
        for b in batches:
            model(**b, output_hidden_states=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=9, help="interleaved timed rounds")
    parser.add_argument("--batches", type=int, default=20, help="batches per round")
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="folder for analysis_overhead.json/.md/.png"
    )
    args = parser.parse_args()
    meta = provenance() | {"device": args.device}
    model = encoder(device=args.device)
    batches = [batch(seed=i, device=args.device) for i in range(args.batches)]
    with torch.inference_mode():
        hidden = [
            (list(model(**b, output_hidden_states=True).hidden_states[1:]), b["attention_mask"].bool())
            for b in batches
        ]
    runs = {
        "forward (output_hidden_states)": lambda: forward_only(model, batches),
        "analyze (every block)": lambda: analyze(model, batches, progress=False),
        "naive (boolean gather per layer)": lambda: naive_analyze(model, batches),
        "spectra only (hidden states precomputed)": lambda: spectra_only(hidden),
    }
    times = time_rounds(runs, args.repeats, args.device, per=args.batches)
    setup = (
        f"Device {args.device}, {torch.get_num_threads()} torch threads; a 12-block x 384 RoBERTa encoder "
        f"(random weights), {args.batches} batches of 64 x 16 tokens (lengths 8-16, padding masked) per round, "
        f"{args.repeats} rounds."
    )
    verdict = write_ratio_result(
        "analysis_overhead",
        meta,
        "analyze() over the forward pass it needs",
        setup,
        times,
        "ms / batch",
        "analyze (every block)",
        1.05,
        [
            "The spectra-only row runs analyze's per-batch step on hidden states computed beforehand: its ratio "
            "is what analyze adds to the forward pass, measured without the forward's own run-to-run noise."
        ],
        out=args.out,
    )
    print_result(setup, times, "ms/batch", verdict)


if __name__ == "__main__":
    main()
