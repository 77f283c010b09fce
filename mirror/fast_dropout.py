"""Dropout on CPU at the cost of its random numbers, not of torch's per-element bernoulli.

Dropout is Mirror-BERT's feature augmentation, and on a CPU its mask generation is the largest operator of a bf16
training step after the matrix products (docs/performance.md, "Where a step goes"): torch draws every mask
element on its own from the Mersenne twister (`aten::bernoulli_`, 5-8 ns per element on the 2-core AMD EPYC;
torch's `bernoulli_scalar_cpu_` takes its vectorised MKL path on Intel CPUs only), and on a CPU the dropout inside
`scaled_dot_product_attention` also sends bf16 attention through its math path, which computes in fp32 (its
output matches an fp32 computation cast to bf16 to 2e-3, a bf16 one to only 2e-2). `apply_fast_dropout(model)`
changes two things in this process's model (the second, the attention function, also serves eval and encoding):

  * every `nn.Dropout` becomes a `FastDropout` (a subclass: same `p`, same `train()`/`eval()`), whose mask is
    drawn 4 elements per 64-bit random word: `keep = int16 < t - 32768`, t = round((1 - p) * 65536), the kept
    elements scaled by 65536 / t (in bf16 rounded per element, as torch's dropout rounds). The keep probability
    is t / 65536 (within 1/131072 of 1 - p) and the expectation of every element is unchanged, as with torch's
    dropout; the random stream is torch's (seeded runs repeat, and `mirror.gradcache` replays it), only the draw
    differs from `nn.Dropout`'s. `inplace=True` is not honoured (the output is a new tensor); p = 1 is torch's;
  * the self-attention of models that take transformers' attention interface (BERT, RoBERTa, XLM-R, MiniLM,
    ELECTRA, ... with the default 'sdpa') runs `attention_forward` (`use_mirror_attention`, which `load_encoder`
    applies to every sdpa model, with or without fast dropout): in training with attention dropout on a CPU, where
    the module's dropout is a `FastDropout`, scores = Q K^T * scale + mask, softmax in fp32, the same fast dropout
    on the probabilities, then P V, with the products in the autocast dtype. Without dropout on a CPU in bf16
    (eval, `encode(precision="bf16")`), keys at most `MATH_MAX_WIDTH` tokens wide take the same products (no
    dropout): there torch's CPU flash kernel cost 1.3-2.6x as much (docs/performance.md, row e3; in fp32 neither
    was faster); where no gradient is taken, the softmax then stays in bf16 (row e5). Everything else (fp32
    without dropout, torch's dropout, wider keys, GPU tensors) is transformers' own sdpa call, bit for bit. The
    same function serves the packed forward (`mirror.packing`): given a `mirror_packing`, it gathers each length
    chunk's rows out of the packed sequence and attends per chunk.

On a GPU both fall back to torch's fused dropout kernels. Nothing is written into the weights or the saved
config (transformers does not save `_attn_implementation`): a saved encoder is a plain checkpoint.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.profiler import record_function
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from .packing import packed_attention

ATTENTION = "mirror"  # the name registered with transformers' attention and mask interfaces
MATH_MAX_WIDTH = 48  # bf16/fp16 keys at most this wide: attention without dropout as two products on a CPU, not sdpa


def keep_threshold(p: float) -> int:
    """t of the keep test `uniform 16-bit integer < t` (out of 65536) for dropout probability p."""
    return min(65536, max(1, round((1.0 - p) * 65536)))


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device=None) -> torch.Tensor:
    """Boolean mask of shape `shape`, True (kept) with probability keep_threshold(p) / 65536, from ceil(n / 4)
    64-bit words of torch's random generator (each word's four int16 lanes are four elements)."""
    n = 1
    for size in shape:
        n *= int(size)
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None)  # full 64-bit range
    return words.view(torch.int16)[:n].view(shape) < (keep_threshold(p) - 32768)  # int16 uniform on [-32768, 32767]


def dropout_mask(shape: torch.Size | tuple[int, ...], p: float, dtype: torch.dtype, device=None) -> torch.Tensor:
    """Multipliers of shape `shape`: 0 for a dropped element, 65536 / t for a kept one (t = keep_threshold(p))."""
    return keep_mask(shape, p, device).to(dtype).mul_(65536.0 / keep_threshold(p))


def fast_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """`nn.functional.dropout(x, p, training)` with the mask of `keep_mask` on CPU tensors. In fp32/fp64 the kept
    elements are multiplied by the scale in one product with `dropout_mask`; in bf16/fp16, as torch's dropout
    does, by x * keep, then * scale rounded per element (a bf16 mask could not hold the scale exactly)."""
    if not training or p == 0.0 or p >= 1.0 or x.device.type != "cpu":
        return nn.functional.dropout(x, p, training)
    with record_function("mirror::dropout"):  # the profiler's label (benchmarks/profile_step.py); ~1 us otherwise
        if x.dtype in (torch.float32, torch.float64):
            return x * dropout_mask(x.shape, p, x.dtype, x.device)
        return (x * keep_mask(x.shape, p, x.device)).mul_(65536.0 / keep_threshold(p))


class FastDropout(nn.Dropout):
    """`nn.Dropout` whose CPU masks come from `dropout_mask`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fast_dropout(x, self.p, self.training)


def attention_forward(module, query, key, value, attention_mask, scaling=None, dropout: float = 0.0, mirror_packing=None,
                      **kwargs):
    """transformers' attention interface: (B, heads, L, d) query, key, value -> ((B, L, heads, d), None).

    On a CPU: with dropout, in training, where `module.dropout` is a `FastDropout`, the two products with fast
    dropout on the probabilities; without dropout, bf16/fp16 keys at most `MATH_MAX_WIDTH` wide, the two
    products; anything else (fp32 without dropout, torch's dropout, grouped key/value heads, wider keys, GPU
    tensors), torch's sdpa as transformers calls it. With `mirror_packing` (a `mirror.packing.Packing`: the call is
    the packed forward's (1, T) row of several rows' tokens) each row attends over its own tokens only: the rows
    are gathered into their attention chunks, each attended as above under a key mask."""
    cpu = query.device.type == "cpu"
    scale = query.size(-1) ** -0.5 if scaling is None else scaling
    p = dropout if module.training else 0.0
    ours = cpu and key.size(1) == query.size(1)  # grouped key/value heads (GQA) are left to sdpa
    fast = ours and p > 0.0 and isinstance(getattr(module, "dropout", None), FastDropout)
    short = ours and p == 0.0 and query.dtype in (torch.bfloat16, torch.float16)  # and keys <= MATH_MAX_WIDTH
    if mirror_packing is not None:

        def attend(q, k, v, keys, additive):  # (c, heads, w, d) each -> (c, w, heads, d)
            if fast or (short and q.size(2) <= MATH_MAX_WIDTH):
                return _attention(q, k, v, additive, scale, p)[0]
            out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keys, dropout_p=p, scale=scale)
            return out.transpose(1, 2)

        with record_function("mirror::attention"):
            return packed_attention(query, key, value, mirror_packing, attend), None
    if fast or (short and key.size(2) <= MATH_MAX_WIDTH):
        with record_function("mirror::attention"):
            return _attention(query, key, value, attention_mask, scale, p)
    return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)


def _attention(query, key, value, attention_mask, scaling: float, dropout: float):
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling  # (B, heads, L, L), the autocast dtype
    # Softmax in fp32. Without gradients (eval, encode) bf16/fp16 scores keep their dtype: torch's CPU softmax
    # computes in fp32 inside and rounds its output once (softmax(fp32).to(bf16) to within that rounding), without
    # writing fp32 scores and probabilities (docs/performance.md, row e5). With gradients fp32, whose backward
    # reads the unrounded probabilities.
    low_precision = scores.dtype in (torch.bfloat16, torch.float16) and not scores.requires_grad
    dtype = scores.dtype if low_precision else torch.float32
    if attention_mask is not None:  # sdpa_mask's boolean mask (True = attend) or an additive float mask
        low = torch.finfo(dtype).min
        if attention_mask.dtype == torch.bool:
            attention_mask = torch.zeros(attention_mask.shape, dtype=dtype, device=query.device).masked_fill_(
                ~attention_mask, low
            )
        elif attention_mask.dtype != dtype:  # fp32's minimum would round to -inf in bf16/fp16: keep it finite
            attention_mask = attention_mask.to(dtype).clamp_(min=low)
        scores = scores + attention_mask
    probs = torch.softmax(scores, dim=-1) if low_precision else torch.softmax(scores, dim=-1, dtype=torch.float32)
    probs = probs.to(value.dtype)
    if dropout > 0.0:
        probs = fast_dropout(probs, dropout)
    context = torch.matmul(probs, value)  # (B, heads, L, d)
    return context.transpose(1, 2).contiguous(), None


AttentionInterface.register(ATTENTION, attention_forward)
AttentionMaskInterface.register(ATTENTION, sdpa_mask)


def use_mirror_attention(model: nn.Module) -> str | None:
    """Where `model`'s attention is transformers' 'sdpa', switch it to `attention_forward` (`ATTENTION`); return
    the attention now in use. Any other kernel (eager, flash, a custom one) is kept, as is a model that does not
    take the attention interface. Nothing of it is saved with the weights."""
    attention = getattr(getattr(model, "config", None), "_attn_implementation", None)
    if attention == "sdpa" and callable(getattr(model, "set_attn_implementation", None)):
        try:
            model.set_attn_implementation(ATTENTION)
            attention = ATTENTION
        except (ValueError, ImportError):  # a model that does not take the attention interface keeps sdpa
            pass
    return attention


def apply_fast_dropout(model: nn.Module) -> dict[str, object]:
    """Swap `model`'s `nn.Dropout` modules for `FastDropout` and, where its attention is transformers' 'sdpa',
    switch it to `attention_forward` (`use_mirror_attention`). Returns {"modules": number swapped, "attention":
    name now in use}. Idempotent; a model with any other attention kernel (eager, flash, a custom one) keeps it."""
    swapped = 0
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                fast = FastDropout(child.p, child.inplace)
                fast.train(child.training)
                setattr(parent, name, fast)
                swapped += 1
    return {"modules": swapped, "attention": use_mirror_attention(model)}
