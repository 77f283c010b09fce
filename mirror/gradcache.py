"""The cached contrastive step (GradCache; Gao et al. 2021, arXiv 2101.06983): a batch larger than memory, exactly.

The InfoNCE loss needs all B = 2N embeddings at once, but the encoder's activations are what fill memory, and only
the (B, H) embeddings are needed to compute the loss. `cached_backward` therefore

1. encodes the rows in mini-batches of `mini_batch_size` rows without gradients, saving the random state (CPU
   and accelerator RNG) before each one, so dropout and any other torch-RNG augmentation can be replayed;
2. computes the loss over all B embeddings and its gradient with respect to the embeddings (a (B, H) tensor:
   the "cache");
3. re-encodes each mini-batch with gradients under its saved random state, so the embeddings are bit for bit the
   ones of step 1, and backpropagates the cached gradient through it (the surrogate sum(e * g) has gradient g
   with respect to e, so each parameter receives exactly its share of d loss / d parameter).

Only one mini-batch of activations is alive at a time. The loss and parameter gradients equal those of one forward
over all B rows whose dropout masks are the mini-batches' (tests/test_gradcache.py checks it, on one process and
under DDP with global negatives). Mini-batches are formed over the rows sorted by length (longest first), so each
is padded only to its own longest row; the caller's `encode` may cut it further (mirror's length chunks).

The maths is here, as functions of callables; `MirrorTrainer.training_step` supplies the encoder forward, the
loss, the backward pass (`accelerator.backward`) and DDP's `no_sync`.
"""

from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterator

import torch
from torch.utils.checkpoint import get_device_states, set_device_states


class RandomState:
    """The CPU RNG state and that of every accelerator `tensors` live on, at construction; `replay()` runs a block
    from that state and leaves the RNG outside the block as it found it (as activation checkpointing does)."""

    def __init__(self, *tensors: torch.Tensor):
        self.cpu = torch.get_rng_state()
        self.devices, self.device_states = get_device_states(*tensors)
        kinds = {t.device.type for t in tensors if isinstance(t, torch.Tensor) and t.device.type not in ("cpu", "meta")}
        self.device_type = kinds.pop() if kinds else None

    @contextlib.contextmanager
    def replay(self) -> Iterator[None]:
        with torch.random.fork_rng(devices=self.devices, device_type=self.device_type or "cuda"):
            torch.set_rng_state(self.cpu)
            if self.devices:
                set_device_states(self.devices, self.device_states, device_type=self.device_type)
            yield


def mini_batches(attention_mask: torch.Tensor, mini_batch_size: int) -> list[torch.Tensor]:
    """Row indices of each mini-batch: the (B, L) mask's rows sorted longest first (stable), `mini_batch_size` at a
    time; ceil(B / mini_batch_size) groups, the same number on every process when B is."""
    lengths = attention_mask.sum(dim=1)  # (B,)
    order = torch.argsort(lengths, descending=True, stable=True)  # (B,)
    return list(order.split(mini_batch_size))


def take_rows(inputs: dict[str, torch.Tensor], idx: torch.Tensor) -> dict[str, torch.Tensor]:
    """The rows `idx` of every (B, L) input, cut to the longest of them when the batch is right-padded."""
    mask = inputs["attention_mask"]
    sub = {key: value[idx] for key, value in inputs.items()}  # each (b, L)
    right_padded = bool((mask[:, 1:] <= mask[:, :-1]).all()) if mask.shape[1] > 1 else True
    if right_padded:
        width = max(int(sub["attention_mask"].sum(dim=1).max()), 1)
        sub = {key: value[:, :width] if value.dim() > 1 and value.shape[1] == mask.shape[1] else value
               for key, value in sub.items()}  # fmt: skip
    return sub


def cached_backward(
    encode: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    loss_of: Callable[[torch.Tensor], torch.Tensor],
    inputs: dict[str, torch.Tensor],
    mini_batch_size: int,
    backward: Callable[[torch.Tensor], None],
    defer_sync: Callable[[], ContextManager] = contextlib.nullcontext,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One cached step: returns (the loss, detached; the (B, H) embeddings, detached); parameter gradients are
    accumulated by `backward`, once per mini-batch.

    encode: (b, L) rows -> (b, H) fp32 embeddings (with gradients when grad mode is on). Every call is one
        forward of the model; under DDP all processes make the same calls in the same order (the number of
        mini-batches depends only on B).
    loss_of: (B, H) embeddings in input order -> scalar loss (may gather across processes: its backward runs once).
    backward: what to call on each mini-batch's surrogate (`accelerator.backward`, which applies a loss scaler).
    defer_sync: a context under which gradients are not synchronised across processes (DDP's `no_sync`); every
        mini-batch's forward and backward but the last run under it, so DDP reduces once, after the last.
    """
    mask = inputs["attention_mask"]
    groups = mini_batches(mask, mini_batch_size)
    states, parts = [], []
    with torch.no_grad():
        for idx in groups:
            states.append(RandomState(mask))
            parts.append(encode(take_rows(inputs, idx)))  # (b, H)
    order = torch.cat(groups)  # (B,)
    emb = torch.cat(parts)[torch.argsort(order)].detach().requires_grad_()  # (B, H) in input order
    with torch.enable_grad():
        loss = loss_of(emb)  # scalar
        (cache,) = torch.autograd.grad(loss, emb)  # (B, H) d loss / d embeddings
    for i, (idx, state) in enumerate(zip(groups, states)):
        sync = contextlib.nullcontext() if i == len(groups) - 1 else defer_sync()
        with sync, state.replay(), torch.enable_grad():
            part = encode(take_rows(inputs, idx))  # (b, H), the same values as in the first pass
            backward(torch.sum(part * cache[idx]))  # gradient cache[idx] into the mini-batch's graph
    return loss.detach(), emb.detach()
