"""Reach a model's layers without rewriting its forward.

Two sources, as in torchdistill: the ``hidden_states`` a Hugging Face model
returns with ``output_hidden_states=True``, or forward hooks on any module named
by its path (``model.get_submodule`` syntax, e.g. ``"roberta.encoder.layer.3"``).

Layer numbering: ``hidden_states`` has N+1 entries, index 0 is the embedding
output and index i the output of block i. Everywhere a user sees layers they are
block numbers 1..N.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "block_layers",
    "capture_outputs",
    "check_block",
    "default_device",
    "eval_mode",
    "model_device",
    "num_blocks",
    "resolve_modules",
    "to_device",
]


def block_layers(hidden_states: Sequence[Tensor], include_embeddings: bool = False) -> list[Tensor]:
    """The block outputs of a ``hidden_states`` tuple: entries 1..N (0..N with embeddings)."""
    if len(hidden_states) < 2:
        raise ValueError("hidden_states must hold the embedding output and at least one block")
    return list(hidden_states if include_embeddings else hidden_states[1:])


def check_block(block: int, num_blocks: int, what: str = "block") -> int:
    """Reject a block number outside 1..num_blocks with an error naming the range."""
    if isinstance(block, bool) or not isinstance(block, int):
        raise TypeError(f"{what} must be an integer block number, got {block!r}")
    if not 1 <= block <= num_blocks:
        raise ValueError(f"{what} {block} is out of range: allowed blocks are 1..{num_blocks}")
    return block


def num_blocks(model: nn.Module) -> int:
    """Number of transformer blocks of a Hugging Face model (``config.num_hidden_layers``)."""
    config = getattr(model, "config", None)
    n = getattr(config, "num_hidden_layers", None)
    if n is None:
        raise ValueError("the model has no config.num_hidden_layers; name its layers by module path instead")
    if isinstance(n, (list, tuple)):  # hierarchical models list blocks per stage
        return len(n)
    return int(n)


def _first_tensor(output: object) -> Tensor:
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]
    hidden = getattr(output, "last_hidden_state", None)
    if isinstance(hidden, Tensor):
        return hidden
    raise TypeError(f"cannot take a tensor from a module output of type {type(output).__name__}")


def resolve_modules(model: nn.Module, paths: Sequence[str]) -> list[nn.Module]:
    """Look up modules by path; an unknown path gets an error with close matches."""
    if not paths:
        raise ValueError("no module paths given")
    modules = []
    names = [n for n, _ in model.named_modules() if n]
    for path in paths:
        try:
            modules.append(model.get_submodule(path))
        except AttributeError:
            parent = path.rsplit(".", 1)[0] if "." in path else ""
            depth = path.count(".")
            near = [n for n in names if n.startswith(parent) and n.count(".") == depth][:6]
            near = near or [n for n, _ in model.named_children()][:6]
            raise ValueError(
                f"the model has no module {path!r}; module paths look like: {', '.join(near)}"
            ) from None
    return modules


@contextmanager
def capture_outputs(model: nn.Module, paths: Sequence[str]) -> Iterator[dict[str, Tensor]]:
    """Forward hooks that store each named module's output (its first tensor).

    Usage::

        with capture_outputs(model, ["encoder.layer.0", "encoder.layer.5"]) as out:
            model(**batch)
        out["encoder.layer.5"]  # (B, L, C)

    The hooks are removed on exit, even after an error.
    """
    store: dict[str, Tensor] = {}
    handles = []

    def hook_for(path: str):
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            store[path] = _first_tensor(output)

        return hook

    try:
        for path, module in zip(paths, resolve_modules(model, paths), strict=True):
            handles.append(module.register_forward_hook(hook_for(path)))
        yield store
    finally:
        for h in handles:
            h.remove()


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode for the ``with`` block; its training flag is restored on exit, even after an error."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def model_device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def default_device() -> torch.device:
    """Where models live: the GPU when there is one, else the CPU. The one device rule of the package.

    ``get_teacher`` / ``load_teacher`` put the teacher there, ``make_student`` puts a student on its
    teacher's device, and every function that runs a model moves each batch to that model's device
    (:func:`to_device`), so a notebook cell that calls a model itself does the same.
    """
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_device(batch: Mapping[str, Any], where: nn.Module | str | torch.device) -> dict[str, Any]:
    """``batch`` with every tensor moved to ``where``: a model's device (its first parameter's) or a device.

    Non-tensor values are kept as they are. Use it before calling a model by hand:
    ``teacher(**skd.to_device(inputs, teacher))``.
    """
    device = model_device(where) if isinstance(where, nn.Module) else torch.device(where)
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}
