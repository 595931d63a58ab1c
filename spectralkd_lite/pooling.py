"""How a text classifier turns its token states into one sentence vector.

BERT's head reads the first token's final state through its pooler (dense + tanh);
RoBERTa's classification head reads the same token. Over a *random* encoder that
state barely depends on the input (the first token is always the same word at the
same position, and fresh attention averages the rest almost uniformly), so
cross-entropy, and logit KD, which reach the encoder only through it, do not start:
the model predicts one class. The mean of the real tokens' states does depend on the
input (sentence-transformers pools so)::

    s = sum_t m_t h_t / sum_t m_t,    h: (batch, tokens, width), m: the attention mask

``use_mean_pooling(model)`` makes the model's own head read ``s`` in place of the
first token: a forward pre-hook on the head hands it ``s`` as a one-token sequence,
so the head keeps its weights and the model its forward. The choice is recorded in
``model.config.sentence_pooling``, and ``apply_pooling`` re-applies it to a model
loaded from a saved folder.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

__all__ = ["POOLINGS", "apply_pooling", "masked_mean", "use_mean_pooling"]

# the ways a student's head may read its sentence: the model's own (the first token) or the mean of its tokens
POOLINGS = ("first", "mean")


def masked_mean(hidden: Tensor, mask: Tensor | None) -> Tensor:
    """The mean over real tokens: hidden (batch, tokens, width), mask (batch, tokens) of 0/1 or None -> (batch, width)."""
    if mask is None:
        return hidden.mean(dim=1)
    weights = mask.to(hidden.dtype).unsqueeze(-1)  # (batch, tokens, 1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


class _MeanPool(nn.Module):
    """Holds the attention mask of the current forward and hands the head the masked mean."""

    def __init__(self) -> None:
        super().__init__()
        self.mask: Tensor | None = None

    def remember_mask(self, _model: nn.Module, args: tuple, kwargs: dict) -> None:
        mask = kwargs.get("attention_mask")
        self.mask = mask if mask is not None or len(args) < 2 else args[1]

    def pool(self, _head: nn.Module, args: tuple) -> tuple:
        hidden = args[0]  # (batch, tokens, width)
        return (masked_mean(hidden, self.mask).unsqueeze(1), *args[1:])  # one token: the head reads token 0


def _head(model: nn.Module) -> nn.Module:
    """The module that reads the first token: BERT's pooler, else RoBERTa's classification head."""
    pooler = getattr(model.base_model, "pooler", None)
    if pooler is not None:
        return pooler
    head = getattr(model, "classifier", None)
    if head is None or not hasattr(head, "dense"):
        raise ValueError(
            f"mean pooling needs a BERT-style pooler or a RoBERTa-style classification head; "
            f"{type(model).__name__} has neither"
        )
    return head


def use_mean_pooling(model: Any) -> Any:
    """Make ``model`` (a Hugging Face sequence classifier) classify the mean of its real tokens' states.

    Records ``model.config.sentence_pooling = "mean"`` (saved with the model); returns the model.
    Applying it twice changes nothing.
    """
    if getattr(model, "sentence_pool", None) is not None:
        return model
    pool = _MeanPool()
    model.sentence_pool = pool  # a submodule without weights: the state dict is unchanged
    model.register_forward_pre_hook(pool.remember_mask, with_kwargs=True)
    _head(model).register_forward_pre_hook(pool.pool)
    model.config.sentence_pooling = "mean"
    return model


def apply_pooling(model: Any) -> Any:
    """Re-apply the pooling recorded in ``model.config`` (by ``use_mean_pooling``) to a loaded model."""
    pooling = getattr(model.config, "sentence_pooling", "first")
    if pooling not in POOLINGS:
        raise ValueError(
            f"the model's config names sentence_pooling {pooling!r}; allowed: {', '.join(POOLINGS)}"
        )
    return use_mean_pooling(model) if pooling == "mean" else model
