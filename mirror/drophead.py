"""DropHead (Zhou et al., 2020, "Scheduled DropHead"): whole attention heads dropped in training.

Mirror-BERT's best variant turns dropout off and drops heads instead (p 0.2 for BERT, 0.05 for RoBERTa). Each
self-attention layer of the BERT family (BERT, RoBERTa, XLM-R, MiniLM, ELECTRA and their copies in transformers)
is `attention.self` (computes the per-head contexts, with any attention kernel: sdpa, eager, ...) followed by
`attention.output.dense`, a linear layer whose input is the heads' contexts side by side, (B, L, heads * d) with
head h in columns [h*d, (h+1)*d). `apply_drophead` registers a forward pre-hook (documented torch API,
`Module.register_forward_pre_hook`) on each of those `dense` layers that, in training mode only:

    keep  = rand(B, heads) >= p          # per (row, head), from torch's RNG: seeded runs and resumes replay it
    keep[row] = all True                 # where every head of a row would drop, the row keeps them all
    scale = heads / keep.sum(-1)         # per row: the kept heads are multiplied by heads / (number kept)
    context[b, :, h, :] *= keep[b, h] * scale[b]

Each layer draws its own mask. Eval mode changes nothing, and nothing is written into the model or its config:
a saved encoder is a plain checkpoint, and loading it back gives a model without hooks.
"""

from __future__ import annotations

import weakref

import torch
from torch import nn

from .errors import ConfigError

_HANDLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> its hooks' removable handles


def head_mask(rows: int, heads: int, p: float, device=None, dtype=torch.float32) -> torch.Tensor:
    """(rows, heads) multipliers: 0 for a dropped head, heads / (kept in the row) for a kept one."""
    keep = torch.rand(rows, heads, device=device) >= p  # (rows, heads) bool, torch's RNG
    keep |= ~keep.any(dim=-1, keepdim=True)  # a row that would lose every head keeps them all
    return keep.to(dtype) * (heads / keep.sum(dim=-1, keepdim=True).to(dtype))  # (rows, heads)


class DropHeadHook:
    """A forward pre-hook for a layer whose input is (B, L, heads * head_size) per-head contexts."""

    def __init__(self, p: float, heads: int, head_size: int):
        self.p, self.heads, self.head_size = p, heads, head_size

    def __call__(self, module: nn.Module, args: tuple):
        if not module.training or self.p == 0.0:
            return None
        context, *rest = args  # (B, L, heads * d)
        mask = head_mask(context.shape[0], self.heads, self.p, context.device, context.dtype)  # (B, heads)
        per_head = context.unflatten(-1, (self.heads, self.head_size))  # (B, L, heads, d)
        dropped = (per_head * mask[:, None, :, None]).flatten(-2)  # (B, L, heads * d)
        return (dropped, *rest)


def attention_outputs(model: nn.Module) -> list[tuple[nn.Linear, int, int]]:
    """(output projection, heads, head size) of every BERT-style self-attention block in `model`."""
    found = []
    for module in model.modules():
        attn, out = getattr(module, "self", None), getattr(module, "output", None)
        if not isinstance(attn, nn.Module) or not isinstance(out, nn.Module) or getattr(module, "is_cross_attention", False):
            continue
        heads, size = getattr(attn, "num_attention_heads", None), getattr(attn, "attention_head_size", None)
        dense = getattr(out, "dense", None)
        if isinstance(heads, int) and isinstance(size, int) and isinstance(dense, nn.Linear) and dense.in_features == heads * size:
            found.append((dense, heads, size))
    return found


def apply_drophead(model: nn.Module, p: float) -> int:
    """Drop whole heads with probability `p` in every self-attention layer of `model` in training mode.

    Returns the number of layers hooked. A model without the BERT-style attention blocks (one per hidden layer)
    is a ConfigError naming its model_type; applying it twice replaces the first hooks."""
    if not 0.0 <= p < 1.0:
        raise ConfigError(f"--drophead must be in [0, 1), got {p}")
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", type(model).__name__)
    targets = attention_outputs(model)
    layers = getattr(config, "num_hidden_layers", None)
    if not targets or (isinstance(layers, int) and len(targets) != layers):
        raise ConfigError(
            f"--drophead: model_type {model_type!r} ({type(model).__name__}) has no BERT-style self-attention blocks "
            "(attention.self + attention.output.dense) to drop heads from; drophead covers the BERT family "
            "(BERT, RoBERTa, XLM-R, MiniLM, ELECTRA)"
        )
    remove_drophead(model)
    _HANDLES[model] = [dense.register_forward_pre_hook(DropHeadHook(p, heads, size)) for dense, heads, size in targets]
    return len(targets)


def has_drophead(model: nn.Module) -> bool:
    """Whether `apply_drophead` hooked `model` (its hooks draw one head mask per row of each forward call)."""
    return bool(_HANDLES.get(model))


def remove_drophead(model: nn.Module) -> None:
    """Remove the hooks `apply_drophead` put on `model` (nothing if it has none)."""
    for handle in _HANDLES.pop(model, []):
        handle.remove()
