"""Vision transformers: loading, layouts, patch-grid features and spectra (ViT, DeiT, Swin, CaiT).

One loader, :func:`load_vision_model`, serves every profile: ``full`` passes hub
names (``facebook/deit-tiny-patch16-224``, ``microsoft/swin-tiny-patch4-window7-224``),
``tiny`` passes the folder a small model was saved to with ``save_pretrained``
(the digits models of :mod:`spectralkd_lite.digits`). :func:`vision_layout` says
how a model's layers map onto patch grids:

- ViT / DeiT ("uniform"): block i is ``hidden_states[i]`` (B, prefix + P, C);
  the prefix tokens (ViT: class; HF DeiT: class + distillation) are dropped and
  the P patch tokens reshaped to the (H, W) patch grid.
- Swin ("hierarchical"): "block" i is stage i's output *before* its patch
  merging, (B, H_i * W_i, C_i) with C_i = embed_dim * 2^(i - 1), the feature the
  stage computed (timm's stage output). Hugging Face's ``hidden_states`` hold the
  merged, downsampled states instead, so each stage's last block is hooked
  (the same tensors as ``reshaped_hidden_states`` with
  ``output_hidden_states_before_downsampling=True``). The channel-axis spectrum is a mean over positions, so the
  (B, L, C) and (B, C, H, W) layouts give the same numbers.
- timm CaiT (and timm ViT-likes), wrapped in :class:`TimmClassifier`: ``blocks.i`` is hooked.

Blocks (and Swin stages) are numbered 1..N, as everywhere in spectralkd_lite.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
import transformers
from torch import Tensor, nn
from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification
from transformers.modeling_outputs import ImageClassifierOutput

from .analysis import LayerSource, analyze
from .capture import capture_outputs, check_block
from .report import SpectralReport
from .spectrum import patch_tokens, tokens_to_grid

__all__ = [
    "CAIT_MODEL",
    "HUB_MODELS",
    "TimmClassifier",
    "VisionLayout",
    "analyze_vision",
    "block_feature_maps",
    "hub_image_batches",
    "load_vision_model",
    "vision_layout",
]

# Hub checkpoints of the ``full`` profile: a uniform and a hierarchical transformer.
HUB_MODELS = {
    "uniform": "facebook/deit-tiny-patch16-224",
    "hierarchical": "microsoft/swin-tiny-patch4-window7-224",
}
# CaiT, the paper's U-shaped teacher: optional, needs timm (``load_vision_model`` wraps it).
CAIT_MODEL = "timm/cait_s24_224.fb_dist_in1k"
# Tokens before the patch tokens in each block output, by Hugging Face model_type.
PREFIX_TOKENS = {"vit": 1, "deit": 2}
HIERARCHICAL_TYPES = ("swin",)


# ---------------------------------------------------------------- models and layouts


@dataclass(frozen=True)
class VisionLayout:
    """How a vision transformer's layers map onto patch grids.

    Attributes:
        model_type: Hugging Face ``config.model_type`` ("vit", "deit", "swin") or "timm".
        kind: "uniform" (every block on one grid) or "hierarchical" (stages).
        num_blocks: N; layers are numbered 1..N (Swin: stages).
        num_prefix_tokens: class/distillation tokens dropped from block outputs.
        channels: C of each layer.
        grids: (H, W) patch grid of each layer.
        modules: module paths to hook per layer, or None to use ``hidden_states``.
    """

    model_type: str
    kind: str
    num_blocks: int
    num_prefix_tokens: int
    channels: tuple[int, ...]
    grids: tuple[tuple[int, int], ...]
    modules: tuple[str, ...] | None = None


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def vision_layout(model: nn.Module) -> VisionLayout:
    """The :class:`VisionLayout` of a Hugging Face ViT / DeiT / Swin (or a timm ViT-like model)."""
    if isinstance(model, TimmClassifier):
        return _timm_layout(model.model, prefix="model.")
    config = getattr(model, "config", None)
    if config is None:
        raise ValueError(
            f"{type(model).__name__} has no Hugging Face config; load timm models with "
            "load_vision_model('timm/...') (or wrap them in TimmClassifier)"
        )
    model_type = getattr(config, "model_type", "")
    image, patch = _pair(config.image_size), _pair(config.patch_size)
    grid = (image[0] // patch[0], image[1] // patch[1])
    if model_type in PREFIX_TOKENS:
        n = int(config.num_hidden_layers)
        return VisionLayout(
            model_type, "uniform", n, PREFIX_TOKENS[model_type], (int(config.hidden_size),) * n, (grid,) * n
        )
    if model_type in HIERARCHICAL_TYPES:
        depths = list(config.depths)
        base = model.base_model_prefix
        prefix = f"{base}." if isinstance(getattr(model, base, None), nn.Module) else ""
        grids, (h, w) = [], grid
        for i in range(len(depths)):
            grids.append((h, w))
            if i < len(depths) - 1:  # Swin's patch merging halves the grid, rounding up
                h, w = (h + 1) // 2, (w + 1) // 2
        return VisionLayout(
            model_type,
            "hierarchical",
            len(depths),
            0,
            tuple(int(config.embed_dim * 2**i) for i in range(len(depths))),
            tuple(grids),
            tuple(f"{prefix}encoder.layers.{i}.blocks.{d - 1}" for i, d in enumerate(depths)),
        )
    allowed = ", ".join([*PREFIX_TOKENS, *HIERARCHICAL_TYPES])
    raise ValueError(f"unsupported vision model type {model_type!r}; supported: {allowed} (and timm CaiT)")


class TimmClassifier(nn.Module):
    """A timm image classifier with the Hugging Face calling convention.

    ``TimmClassifier(m)(pixel_values=x).logits == m(x)``, so ``analyze`` and the
    helpers here treat it like a transformers model; its blocks are hooked at
    ``model.blocks.i``.
    """

    def __init__(self, model: nn.Module, name_or_path: str = "") -> None:
        super().__init__()
        self.model = model
        self.name_or_path = name_or_path

    def forward(self, pixel_values: Tensor, **_: Any) -> Any:
        return ImageClassifierOutput(logits=self.model(pixel_values))


def _timm_layout(model: nn.Module, prefix: str = "") -> VisionLayout:
    """Layout of a timm ViT-like model (CaiT, ViT, DeiT): hooks on ``blocks.i``.

    CaiT's ``blocks`` see patch tokens only (the class token joins later, in the
    class-attention blocks ``blocks_token_only``, which are not counted); timm
    ViT/DeiT carry ``num_prefix_tokens`` tokens in front.
    """
    blocks = getattr(model, "blocks", None)
    patch_embed = getattr(model, "patch_embed", None)
    if blocks is None or patch_embed is None or not hasattr(patch_embed, "grid_size"):
        raise ValueError(
            f"{type(model).__name__} is not a timm ViT-like model (no blocks / patch_embed.grid_size)"
        )
    n = len(blocks)
    grid = _pair(patch_embed.grid_size)
    width = int(model.embed_dim)
    # CaiT reports num_prefix_tokens = 1 (its class token), but that token only joins in
    # blocks_token_only: the hooked blocks hold exactly the patch tokens.
    prefix_tokens = 0 if hasattr(model, "blocks_token_only") else int(getattr(model, "num_prefix_tokens", 0))
    return VisionLayout(
        "timm",
        "uniform",
        n,
        prefix_tokens,
        (width,) * n,
        (grid,) * n,
        tuple(f"{prefix}blocks.{i}" for i in range(n)),
    )


def load_vision_model(
    name_or_path: str | os.PathLike,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    local_files_only: bool | None = None,
) -> nn.Module:
    """Load a ViT / DeiT / Swin image classifier, in eval mode, by hub name or local folder.

    The class is the checkpoint's own (``config.architectures[0]``, e.g.
    ``DeiTForImageClassificationWithTeacher``), so no head is dropped or re-initialised.
    A name starting with ``timm/`` (e.g. ``timm/cait_s24_224.fb_dist_in1k``) is
    loaded with timm when timm is installed.

    Args:
        name_or_path: a hub id (``full`` profile) or a ``save_pretrained`` folder (``tiny``).
        device: where to put the model (default: CPU).
        dtype: parameter dtype (default: the checkpoint's float32).
        local_files_only: never touch the network (default: transformers' own rule).

    Returns:
        The model; ``vision_layout(model)`` describes its layers.
    """
    name = os.fspath(name_or_path)
    if name.startswith(("timm/", "hf-hub:timm/")):
        return _load_timm(name, device)
    kwargs: dict[str, Any] = {}
    if local_files_only is not None:
        kwargs["local_files_only"] = local_files_only
    config = AutoConfig.from_pretrained(name, **kwargs)
    supported = (*PREFIX_TOKENS, *HIERARCHICAL_TYPES)
    if config.model_type not in supported:
        raise ValueError(
            f"{name} is a {config.model_type!r} model; load_vision_model supports {', '.join(supported)}"
        )
    arch = (getattr(config, "architectures", None) or [None])[0]
    cls = getattr(transformers, arch, None) if arch else None
    if cls is None:
        cls = AutoModelForImageClassification
    if dtype is not None:
        kwargs["dtype"] = dtype
    model = cls.from_pretrained(name, config=config, **kwargs)
    return model.to(device or "cpu").eval()


def _load_timm(name: str, device: str | torch.device | None) -> nn.Module:
    try:
        import timm  # optional and heavy: only CaiT (and other timm/ checkpoints) need it
    except ImportError:
        raise ImportError(
            f"{name} needs timm (pip install timm); the transformers models need nothing else"
        ) from None
    model_name = name if name.startswith("hf-hub:") else f"hf-hub:{name}"
    model = timm.create_model(model_name, pretrained=True)
    return TimmClassifier(model, name).to(device or "cpu").eval()


def analyze_vision(
    model: nn.Module,
    batches: Sequence[Mapping[str, Any]],
    *,
    model_name: str | None = None,
    max_batches: int | None = None,
    progress: bool = False,
    meta: Mapping[str, Any] | None = None,
) -> SpectralReport:
    """SpectralKD spectra of every block (ViT/DeiT) or stage (Swin), patch tokens only.

    ``model``: from :func:`load_vision_model` or a builder of ``digits``; ``batches``: dicts with
    ``pixel_values`` (B, 3 or 1, H, W) (``labels`` are ignored); the rest as for ``analyze``.
    Returns a SpectralReport with blocks 1..N (Swin: stages, named "stage i").
    """
    layout = vision_layout(model)
    info = {
        "kind": layout.kind,
        "model_type": layout.model_type,
        "num_prefix_tokens": layout.num_prefix_tokens,
    }
    report = analyze(
        model,
        batches,
        LayerSource(modules=layout.modules, num_prefix_tokens=layout.num_prefix_tokens),
        max_batches=max_batches,
        model_name=model_name,
        progress=progress,
        meta={**info, **dict(meta or {})},
    )
    if layout.kind == "hierarchical":
        report = replace(report, layer_names=[f"stage {b}" for b in report.blocks])
    elif layout.modules is not None:
        report = replace(report, layer_names=[f"block {b}" for b in report.blocks])
    return report


def block_feature_maps(
    model: nn.Module,
    pixel_values: Tensor,
    blocks: Sequence[int],
    layout: VisionLayout | None = None,
) -> tuple[Tensor, list[Tensor]]:
    """Logits and the (B, C, H, W) patch-grid maps of the given blocks, with gradients.

    Args:
        model: a Hugging Face ViT / DeiT / Swin classifier.
        pixel_values: (B, channels, image_h, image_w).
        blocks: block (Swin: stage) numbers 1..N.
        layout: the model's layout (computed when None).

    Returns:
        (logits (B, K), [map (B, C_b, H_b, W_b) for b in blocks]).
    """
    layout = layout or vision_layout(model)
    for b in blocks:
        check_block(b, layout.num_blocks)
    if layout.modules is not None:  # Swin stages and timm blocks: hook the layers (any transformers version)
        paths = [layout.modules[b - 1] for b in blocks]
        with capture_outputs(model, paths) as store:
            out = model(pixel_values=pixel_values)
        tokens = [patch_tokens(store[p], layout.num_prefix_tokens) for p in paths]
        return out.logits, [
            tokens_to_grid(t, *layout.grids[b - 1]) for t, b in zip(tokens, blocks, strict=True)
        ]
    out = model(pixel_values=pixel_values, output_hidden_states=True)
    maps = []
    for b in blocks:
        h, w = layout.grids[b - 1]
        maps.append(tokens_to_grid(patch_tokens(out.hidden_states[b], layout.num_prefix_tokens), h, w))
    return out.logits, maps


def hub_image_batches(
    model_name: str,
    *,
    n_images: int = 64,
    batch_size: int = 32,
    dataset: str = "uoft-cs/cifar10",
    split: str = "test",
    image_column: str = "img",
) -> list[dict[str, Tensor]]:
    """A small image set for the ``full`` profile: the first n images of a hub data set.

    Needs the ``datasets`` package and the network (Colab). Images go through the
    model's own image processor (resize, crop, normalise).

    Returns:
        A list of {"pixel_values": (b, 3, H, W)} batches.
    """
    from datasets import load_dataset  # optional, not a dependency: only the full profile (Colab) needs it

    rows = load_dataset(dataset, split=f"{split}[:{n_images}]")
    images = [row[image_column] for row in rows]
    processor = AutoImageProcessor.from_pretrained(model_name)
    batches = []
    for i in range(0, len(images), batch_size):
        chunk = [im.convert("RGB") for im in images[i : i + batch_size]]
        batches.append({"pixel_values": processor(images=chunk, return_tensors="pt")["pixel_values"]})
    return batches
