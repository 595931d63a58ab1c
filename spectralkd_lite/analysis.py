"""analyze(): stream batches through a model and measure every layer's spectrum.

Memory is O(layers x channels) whatever the number of batches: each batch adds
its per-layer sums of |rfft| (see ``spectrum.stacked_sums``) and of
x^2 (for the RMS) into running float64 buffers on the model's device; nothing is
copied to the host until the end.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .capture import block_layers, capture_outputs, eval_mode, model_device
from .report import SpectralReport
from .spectrum import full_spectrum, stacked_sums

__all__ = [
    "LayerSource",
    "analyze",
]

# Batch keys that are targets, not model inputs.
_NON_INPUTS = ("labels", "label", "label_ids")


@dataclass(frozen=True)
class LayerSource:
    """Where ``analyze`` reads a model's layers, and how.

    modules: module paths to hook (``model.get_submodule`` syntax) instead of using
    ``hidden_states``; the layers are then numbered 1..len(modules) in this order.
    channel_dim: channel axis of hooked outputs (1 for (B, C, H, W) maps).
    num_prefix_tokens: tokens dropped from the front of each (B, T, C) output: 1 for
    a ViT's class token, 2 for DeiT's class + distillation tokens.
    include_embeddings: also report the embedding output (``hidden_states[0]``) as block 0.
    """

    modules: tuple[str, ...] | None = None
    channel_dim: int = -1
    num_prefix_tokens: int = 0
    include_embeddings: bool = False

    def __post_init__(self) -> None:
        if self.modules is not None:
            object.__setattr__(self, "modules", tuple(self.modules))
            if not self.modules:
                raise ValueError("modules is empty: name at least one module path, or pass None")
        if isinstance(self.num_prefix_tokens, bool) or not isinstance(self.num_prefix_tokens, int):
            raise ValueError(f"num_prefix_tokens must be an integer >= 0, got {self.num_prefix_tokens!r}")
        if self.num_prefix_tokens < 0:
            raise ValueError(f"num_prefix_tokens must be >= 0, got {self.num_prefix_tokens}")


class _Accumulator:
    """Running per-layer sums of |rfft|, x^2 and counted positions (float64, on the model's device).

    One layer at a time: a (B, L, C) layer's transient buffers stay small enough for
    the CPU caches, which measured twice as fast as one rfft over all layers stacked
    (benchmarks/results/analysis_overhead.md).
    """

    def __init__(self) -> None:
        self.sums: list[Tensor] = []
        self.squares: list[Tensor] = []
        self.counts: list[Tensor] = []
        self.channels: list[int] = []

    def add(self, layers: Sequence[Tensor], mask: Tensor | None) -> None:
        if self.channels and len(layers) != len(self.channels):
            raise ValueError(f"a batch gave {len(layers)} layers, earlier batches {len(self.channels)}")
        batch = []
        for x in layers:
            if mask is not None and tuple(mask.shape) != tuple(x.shape[:-1]):
                raise ValueError(
                    f"the attention mask has shape {tuple(mask.shape)} but layer outputs of shape "
                    f"{tuple(x.shape)} have other positions; drop the mask for this model"
                )
            batch.append(stacked_sums(x.unsqueeze(0), mask))
        if not self.channels:
            self.channels = [x.shape[-1] for x in layers]
            self.sums = [b.magnitude[0] for b in batch]
            self.squares = [b.squares[0] for b in batch]
            self.counts = [b.count for b in batch]
            return
        for i, b in enumerate(batch):
            self.sums[i] = self.sums[i] + b.magnitude[0]
            self.squares[i] = self.squares[i] + b.squares[0]
            self.counts[i] = self.counts[i] + b.count


def _to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    if not isinstance(batch, Mapping):
        raise TypeError(f"each batch must be a dict of model inputs, got {type(batch).__name__}")
    return {
        k: (v.to(device, non_blocking=True) if isinstance(v, Tensor) else v)
        for k, v in batch.items()
        if k not in _NON_INPUTS
    }


def _check_no_padding(input_ids: Any, pad_id: Any, batch: int) -> None:
    """A batch of token ids without an attention mask must hold no padding token: it would be counted."""
    if isinstance(pad_id, int) and isinstance(input_ids, Tensor) and bool((input_ids == pad_id).any()):
        raise ValueError(
            f"batch {batch} holds padding (token id {pad_id}, the model's pad_token_id) but no attention_mask, "
            "so the padding would count in the spectrum; give each batch the attention_mask the tokenizer "
            "returns (e.g. with DataCollatorWithPadding)"
        )


def analyze(
    model: nn.Module,
    batches: Iterable[Mapping[str, Any]],
    layers: LayerSource | None = None,
    *,
    max_batches: int | None = None,
    model_name: str | None = None,
    progress: bool = True,
    meta: Mapping[str, Any] | None = None,
) -> SpectralReport:
    """Measure the SpectralKD spectrum and intensity of every layer of ``model``.

    Args:
        model: a Hugging Face model (hidden states are used) or any nn.Module
            (then name its layers by module path in ``layers``).
        batches: an iterable of dicts of model inputs (a DataLoader, say). When a
            batch has ``attention_mask`` (B, L), only its 1-positions count, so
            padding never does; a batch of ``input_ids`` holding the model's
            ``pad_token_id`` without one is refused. ``labels`` are dropped.
        layers: which layers and how to read them (default: every block's
            ``hidden_states`` output, blocks 1..N).
        max_batches: stop after this many batches.
        model_name: name stored in the report (default: ``config.name_or_path``).
        progress: show a tqdm progress bar.
        meta: extra context stored in the report.

    Returns:
        A SpectralReport with one entry per layer. Layers whose outputs hold NaN or
        inf get a non-finite intensity and a RuntimeWarning naming them.
    """
    source = layers or LayerSource()
    modules, prefix = list(source.modules or []), source.num_prefix_tokens
    device = model_device(model)
    if device.type == "meta":
        raise ValueError(
            "the model is on the meta device: it has shapes but no weights (built under init_empty_weights or "
            "device='meta'); load its weights (from_pretrained) or move it with to_empty() and load them first"
        )
    pad_id = getattr(getattr(model, "config", None), "pad_token_id", None)
    acc = _Accumulator()
    n_batches = 0
    total = (
        max_batches if max_batches is not None else (len(batches) if hasattr(batches, "__len__") else None)
    )
    with eval_mode(model), torch.inference_mode():
        for batch in tqdm(batches, total=total, disable=not progress, desc="analyze", leave=False):
            if max_batches is not None and n_batches >= max_batches:
                break
            inputs = _to_device(batch, device)
            mask = inputs.get("attention_mask")
            if mask is None:
                _check_no_padding(inputs.get("input_ids"), pad_id, n_batches + 1)
            if modules:
                with capture_outputs(model, modules) as store:
                    model(**inputs)
                outputs = [store[p].movedim(source.channel_dim, -1) for p in modules]
            else:
                out = model(**inputs, output_hidden_states=True)
                hidden = getattr(out, "hidden_states", None)
                if hidden is None:
                    raise ValueError(
                        f"{type(model).__name__} returned no hidden_states; pass modules=[...] to hook layers"
                    )
                outputs = block_layers(hidden, source.include_embeddings)
            if prefix:
                outputs = [x[:, prefix:] for x in outputs]
                mask = mask[:, prefix:] if mask is not None else None
            acc.add(outputs, mask.bool() if mask is not None else None)
            n_batches += 1
    if n_batches == 0:
        raise ValueError("no batches to analyze: the data is empty")

    counts = [float(c) for c in acc.counts]
    if min(counts) == 0:
        raise ValueError("no position counted: every attention mask was all zeros")
    spectra = [
        full_spectrum((s / c).float(), ch).cpu()
        for s, c, ch in zip(acc.sums, acc.counts, acc.channels, strict=True)
    ]
    if modules:
        blocks = list(range(1, len(modules) + 1))
        names = list(modules)
    else:
        start = 0 if source.include_embeddings else 1
        blocks = list(range(start, start + len(spectra)))
        names = ["embeddings" if b == 0 else f"block {b}" for b in blocks]
    bad = [b for b, s in zip(blocks, spectra, strict=True) if not bool(torch.isfinite(s).all())]
    if bad:
        warnings.warn(
            f"block(s) {', '.join(map(str, bad))}: NaN or inf in the spectrum, so the model's outputs there hold "
            "NaN or inf; their intensities are not finite",
            RuntimeWarning,
            stacklevel=2,
        )
    name = model_name or getattr(getattr(model, "config", None), "name_or_path", "") or type(model).__name__
    return SpectralReport(
        model_name=str(name),
        layer_names=names,
        blocks=blocks,
        channels=list(acc.channels),
        intensity=[float(s.mean()) for s in spectra],
        spectra=[s.tolist() for s in spectra],
        positions=[int(c) for c in counts],
        batches=n_batches,
        meta=dict(meta or {}),
        rms=[
            math.sqrt(float(q) / (c * ch)) for q, c, ch in zip(acc.squares, counts, acc.channels, strict=True)
        ],
    )
