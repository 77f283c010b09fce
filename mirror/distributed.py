"""Collectives for global-batch negatives: an all-gather whose gradient flows back to the local shard, and a plain
one for the batch's string ids.

`world_info()` is the process group's own (rank, size), which these collectives need; the rest of mirror reads
the rank and world size from the config (`args.process_index`, `args.world_size`), the same numbers once the
Trainer's accelerator has joined the group."""

from __future__ import annotations

import torch
import torch.distributed as dist


def world_info() -> tuple[int, int]:
    """(rank, world size) of the default process group, (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _GatherWithGrad(torch.autograd.Function):
    """all_gather in forward; in backward, sum every rank's gradient for the whole gathered tensor (all_reduce)
    and keep this rank's slice. Works on every backend that has all_reduce (gloo, nccl, ...)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        rank, world = world_info()
        ctx.rank, ctx.rows = rank, tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(world)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=0)  # (world * rows, ...)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)  # each rank's loss depends on every shard
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` (rows, ...) from every process in rank order -> (world * rows, ...).

    Gradients reach the local rows from every rank's loss. Every process must pass the same shape (the Trainer's
    `dataloader_drop_last=True` guarantees equal batches). One process: returns `tensor` itself.
    """
    _, world = world_info()
    if world == 1:
        return tensor
    return _GatherWithGrad.apply(tensor)


def gather(tensor: torch.Tensor) -> torch.Tensor:
    """`gather_with_grad` without a gradient, for tensors that carry none (the batch's string ids)."""
    _, world = world_info()
    if world == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)  # (world * rows, ...)
