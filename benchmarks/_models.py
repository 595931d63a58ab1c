"""Shared set-up of the benchmarks: a 12-block, 384-wide encoder and random padded batches."""

from __future__ import annotations

import torch
from transformers import RobertaConfig, RobertaModel


def encoder(layers: int = 12, hidden: int = 384, device: str = "cpu") -> RobertaModel:
    config = RobertaConfig(
        vocab_size=8000,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 64,
        intermediate_size=4 * hidden,
        max_position_embeddings=130,
        pad_token_id=1,
    )
    torch.manual_seed(0)
    return RobertaModel(config, add_pooling_layer=False).eval().to(device)


def batch(
    batch_size: int = 64, tokens: int = 16, seed: int = 0, device: str = "cpu"
) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 8000, (batch_size, tokens), generator=g)
    lengths = torch.randint(tokens // 2, tokens + 1, (batch_size,), generator=g)
    mask = (torch.arange(tokens)[None] < lengths[:, None]).long()
    ids[mask == 0] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
