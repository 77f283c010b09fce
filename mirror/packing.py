"""The packed forward: a call's rows end to end as one (1, T) row of real tokens, no padding outside attention.

The length chunks (`mirror.chunking`) cut most of a batch's padding, but each chunk still pads every row to its
longest one (13 % of a sentence batch's tokens at the default cost), and every token-wise part of the encoder
(the linear layers, layer norms, GELU, dropout) pays for those padded tokens. Packed, the rows of a call are laid
end to end as one sequence of their T real tokens, with each row's own position ids (0, 1, ... again for every
row), so the token-wise layers see no padding at all; only self-attention needs rows apart, and
`packed_attention` gathers each attention chunk's rows into a padded (rows, heads, width, d) block, attends with
a key mask and scatters the result back. The embeddings are the padded forward's (to float summation order): a
token only ever attends to the tokens of its own row.

`forward_pooled(..., packed=True)` (the trainer's `--packed_forward`, default on) packs where `packing_reason(model)`
is None: an architecture whose position ids we know how to restart per row (`POSITION_OFFSET`, each one tested
against its padded forward) whose attention function, as registered with transformers' `AttentionInterface`,
takes the `mirror_packing` argument (mirror.fast_dropout's, which `load_encoder` sets for every sdpa model), and
without DropHead's hooks (they draw a head mask per row of a call). Anything else keeps the padded chunks.

The rows of one batch are packed in a few calls of at most `max_packed_tokens(config)` tokens, not in one: a
call's largest activation is (tokens x intermediate) fp32, and past glibc's 32 MiB mmap ceiling every such
tensor is a fresh mapping whose pages fault in again at each step (docs/performance.md, row i: one packed call
over a 5,900-token sentence batch was slower in fp32 than the padded chunks; with MiniLM's 4,096-token calls a
sentence step took 0.905x (fp32) and 0.92x (bf16) the padded chunks' time).
"""

from __future__ import annotations

import inspect

import torch

from .drophead import has_drophead
from .errors import ConfigError

# model_type -> what its embeddings add to a row's 0-based positions: 0 for BERT's absolute positions, "pad" for
# RoBERTa's (padding_idx + 1, the ids `create_position_ids_from_input_ids` gives a right-padded row).
POSITION_OFFSET: dict[str, int | str] = {"bert": 0, "electra": 0, "roberta": "pad", "xlm-roberta": "pad", "camembert": "pad"}
PACK_BYTES = 24 * 2**20  # a call's (tokens x intermediate) fp32 activation stays under glibc's 32 MiB mmap ceiling


def packing_reason(model: torch.nn.Module) -> str | None:
    """Why `model` cannot run packed (a sentence), or None when it can."""
    from transformers import AttentionInterface

    inner = getattr(model, "module", model)  # DDP / FSDP keep the model in .module
    if hasattr(inner, "_orig_mod"):
        return "torch.compile'd models keep the padded chunks (the packing is a Python object in the call)"
    config = getattr(inner, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type not in POSITION_OFFSET:
        return f"model_type {model_type!r} is not one whose packed forward is tested ({', '.join(POSITION_OFFSET)})"
    attention = getattr(config, "_attn_implementation", None)
    function = AttentionInterface._global_mapping.get(attention) if isinstance(attention, str) else None
    if function is None or "mirror_packing" not in inspect.signature(function).parameters:
        return (f"its attention {attention!r} does not read the packing (mirror.fast_dropout's does: load_encoder "
                "sets it for the default attention)")
    if has_drophead(inner):
        return "--drophead draws one head mask per row of a call, and a packed call is one row"
    if getattr(config, "position_embedding_type", "absolute") != "absolute":
        return f"position_embedding_type {config.position_embedding_type!r} (relative positions span the packed row)"
    return None


def max_packed_tokens(config) -> int:
    """Tokens per packed call: (tokens x intermediate_size) fp32 within `PACK_BYTES`, and at least 512."""
    intermediate = getattr(config, "intermediate_size", None) or 4 * config.hidden_size
    return max(512, PACK_BYTES // (4 * intermediate))


def group_chunks(chunks: list[tuple[int, int]], lengths: list[int], max_tokens: int) -> list[tuple[int, int]]:
    """Join consecutive (start, end) chunks of rows with these sorted `lengths` into groups of at most `max_tokens`
    real tokens each (a chunk over the budget is a group of its own): the rows of one packed call."""
    groups: list[tuple[int, int]] = []
    tokens = 0
    for start, end in chunks:
        size = sum(lengths[start:end])
        if groups and tokens + size <= max_tokens:
            groups[-1] = (groups[-1][0], end)
            tokens += size
        else:
            groups.append((start, end))
            tokens = size
    return groups


class Packing:
    """Where each row's tokens lie in the packed sequence, and the attention chunks over them.

    For right-padded (B, L) rows with lengths n_b: the packed sequence holds row b's tokens at
    [starts[b], starts[b] + n_b); `row_of_token` (T,) maps each token back to its row. Each attention chunk is
    (gather (c * w,) token indices of its c rows padded to width w, keys (c, 1, 1, w) True for a real key,
    real (n,) the positions of the real tokens in the flattened (c * w) block); `inverse` (T,) puts the
    chunks' real tokens back in packed order. `calls` counts the attention layers that read it. (A plain class,
    not a dataclass: DDP's input mover rebuilds dataclasses, and the count must stay on this object.)
    """

    def __init__(self, lengths, starts, row_of_token, positions, chunks, inverse):
        self.lengths, self.starts, self.row_of_token, self.positions = lengths, starts, row_of_token, positions
        self.chunks: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, int]] = chunks
        self.inverse = inverse
        self.calls = 0
        self._additive: list[torch.Tensor] = []

    @classmethod
    def of(cls, attention_mask: torch.Tensor, chunks: list[tuple[int, int]], position_offset: int = 0) -> "Packing":
        """The packing of right-padded (B, L) rows sorted longest first, attended in these (start, end) chunks."""
        device = attention_mask.device
        lengths = attention_mask.sum(dim=1)  # (B,)
        starts = torch.cumsum(lengths, 0) - lengths  # (B,)
        row_of_token = torch.repeat_interleave(torch.arange(lengths.numel(), device=device), lengths)  # (T,)
        positions = torch.arange(row_of_token.numel(), device=device) - starts[row_of_token] + position_offset  # (T,)
        blocks, placed = [], []
        for start, end in chunks:
            rows = torch.arange(start, end, device=device)  # (c,)
            width = int(lengths[start])  # the chunk's longest row
            offsets = torch.arange(width, device=device)  # (w,)
            keys = offsets[None, :] < lengths[rows][:, None]  # (c, w)
            gather = torch.where(keys, starts[rows][:, None] + offsets[None, :], starts[rows][:, None])  # (c, w)
            real = keys.reshape(-1).nonzero().squeeze(1)  # (n,)
            blocks.append((gather.reshape(-1), keys[:, None, None, :], real, end - start, width))
            placed.append(gather.reshape(-1)[real])
        placed_tokens = torch.cat(placed)  # (T,) packed index of each chunk token, in chunk order
        inverse = torch.empty_like(placed_tokens)
        inverse[placed_tokens] = torch.arange(placed_tokens.numel(), device=device)
        return cls(lengths, starts, row_of_token, positions, blocks, inverse)

    def additive_masks(self) -> list[torch.Tensor]:
        """Each chunk's (c, 1, 1, w) fp32 key mask, 0 for a real key and the fp32 minimum for padding (built once)."""
        if not self._additive:
            low = torch.finfo(torch.float32).min
            self._additive = [torch.zeros(keys.shape, device=keys.device).masked_fill_(~keys, low) for _, keys, *_ in self.chunks]
        return self._additive


def chunks_within(chunks: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The parts of (start, end) chunks that fall in rows [start, end), counted from `start`."""
    return [(max(s, start) - start, min(e, end) - start) for s, e in chunks if s < end and e > start]


def pack_inputs(inputs: dict[str, torch.Tensor], model: torch.nn.Module, chunks: list[tuple[int, int]]) -> dict:
    """(B, L) right-padded rows, sorted longest first, -> the keyword arguments of one packed call: (1, T)
    input_ids, position_ids and token_type_ids (where given), no attention mask, and `mirror_packing` (a
    `Packing`, attending in these (start, end) chunks of the rows) for the attention."""
    config = getattr(model, "module", model).config
    offset = POSITION_OFFSET[config.model_type]
    offset = (config.pad_token_id + 1) if offset == "pad" else offset
    mask = inputs["attention_mask"]
    real = mask.bool()
    packing = Packing.of(mask, chunks, offset)
    packed = {k: v[real][None] for k, v in inputs.items() if k in ("input_ids", "token_type_ids")}  # each (1, T)
    return {**packed, "position_ids": packing.positions[None], "mirror_packing": packing}


def packed_attention(query, key, value, packing: Packing, attend) -> torch.Tensor:
    """(1, heads, T, d) packed query, key, value -> (1, T, heads, d): each attention chunk's rows gathered into a
    (c, heads, w, d) block, `attend(q, k, v, bool_keys, additive_mask)` -> (c, w, heads, d), real tokens put back."""
    packing.calls += 1
    q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))  # each (T, heads, d), views
    outs = []
    for (gather, keys, real, c, w), additive in zip(packing.chunks, packing.additive_masks()):
        qc, kc, vc = (t.index_select(0, gather).view(c, w, *t.shape[1:]).transpose(1, 2) for t in (q, k, v))
        ctx = attend(qc, kc, vc, keys, additive)  # (c, w, heads, d)
        outs.append(ctx.reshape(c * w, *ctx.shape[2:]).index_select(0, real))  # (n, heads, d)
    return torch.cat(outs).index_select(0, packing.inverse).unsqueeze(0)  # (1, T, heads, d)


def pool_packed(hidden: torch.Tensor, packing: Packing, pooling: str) -> torch.Tensor:
    """(1, T, H) packed hidden states -> (B, H) fp32: each row's first token, or the mean over its tokens."""
    tokens = hidden[0]
    if pooling == "cls":
        return tokens[packing.starts].float()
    if pooling == "mean":
        summed = torch.zeros(packing.lengths.numel(), tokens.shape[-1], dtype=torch.float32, device=tokens.device)
        summed = summed.index_add(0, packing.row_of_token, tokens.float())  # (B, H)
        return summed / packing.lengths.clamp(min=1)[:, None].to(torch.float32)
    raise ConfigError(f"unknown pooling {pooling!r}")
